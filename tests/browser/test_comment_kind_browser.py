"""The 投诉 / 建议 / 表扬 choice beside the comment box on a 360 px phone without JavaScript."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from survey.models import Case, CommentKind

pytestmark = pytest.mark.browser


@pytest.fixture
def window(make):
    unit = make.unit(name="不动产登记窗口", window_no="12")
    campaign = make.campaign(units=[unit])
    make.commit()
    return campaign, campaign.campaign_units[0].short_code


def test_praise_chosen_on_a_360px_phone_without_javascript(live_server, new_page, window, session):
    _campaign, code = window
    phone = new_page(javascript=False, width=360, height=740)
    phone.goto(f"{live_server}/s/{code}")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    choice = phone.get_by_role("group", name="这条意见是")
    for name in ("投诉", "建议", "表扬"):
        option = choice.get_by_role("radio", name=name, exact=True)
        assert not option.is_checked()
        box = choice.locator("label", has_text=name).bounding_box()
        assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 360, (name, box)
    questions = phone.locator("fieldset.q")
    for i in range(5):
        questions.nth(i).get_by_role("radio", name="满意", exact=True).check()
    questions.nth(5).get_by_role("radio", name="一次办成").check()
    questions.nth(6).get_by_role("radio", name="市民").check()
    phone.locator("textarea").last.fill("网上办理很方便")  # the comment box (the 其他问题 box is hidden)
    choice.get_by_role("radio", name="表扬", exact=True).check()
    phone.get_by_role("button", name="提交评价").click()
    phone.wait_for_url(f"**/thanks/{code}")
    session.expire_all()
    (case,) = session.scalars(select(Case)).all()
    assert case.comment_kind == CommentKind.PRAISE and case.due_on is None
