"""Display conditions in headless Chromium at a phone's size, with and without JavaScript: a
dissatisfied citizen is asked the 差评's reason, a satisfied one is not."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from survey.models import Answer, Question, Response

pytestmark = pytest.mark.browser


@pytest.fixture
def window(make):
    unit = make.unit(name="社保窗口", window_no="3")
    campaign = make.campaign(units=[unit])
    make.commit()
    return campaign, campaign.campaign_units[0].short_code


def _stored(session, campaign, code: str) -> list[Answer]:
    session.expire_all()
    question = session.scalar(select(Question).where(Question.questionnaire_id == campaign.questionnaire_id,
                                                     Question.code == code))
    return list(session.scalars(select(Answer).where(Answer.question_id == question.id)))


def _rate(page, levels: tuple[str, ...]) -> None:
    questions = page.locator("fieldset.q")
    for i, label in enumerate(levels):
        questions.nth(i).get_by_role("radio", name=label, exact=True).check()
    questions.nth(5).get_by_role("radio", name="两次").check()
    questions.nth(6).get_by_role("radio", name="企业代表").check()


def test_with_javascript_the_reason_appears_in_place_and_goes_again(live_server, phone, window, session):
    campaign, code = window
    phone.goto(f"{live_server}/s/{code}")
    reasons = phone.get_by_role("group", name="您不满意的主要问题是什么？")
    other = phone.get_by_role("group", name="请说明其他问题")
    expect(reasons).to_be_hidden()
    _rate(phone, ("满意", "满意", "不满意", "满意", "满意"))
    expect(reasons).to_be_visible()  # in place, after the satisfaction questions
    expect(phone.locator(".progress")).to_have_text("已答 7 / 9 题")  # one more question, not yet answered
    reasons.get_by_role("checkbox", name="其他（请说明）").check()
    expect(other).to_be_visible()
    other.locator("textarea").fill("停车位太少")
    phone.locator("fieldset.q").nth(2).get_by_role("radio", name="满意", exact=True).check()  # changed their mind
    expect(reasons).to_be_hidden()
    expect(other).to_be_hidden()
    phone.locator("fieldset.q").nth(2).get_by_role("radio", name="非常不满意").check()
    expect(reasons).to_be_visible()
    phone.get_by_role("button", name="提交评价").click()
    phone.wait_for_url(f"**/thanks/{code}")
    assert [a.text for a in _stored(session, campaign, "Q10")] == ["停车位太少"]
    [reason] = _stored(session, campaign, "Q9")
    assert not reason.not_shown and reason.option_id is not None


def test_with_javascript_a_satisfied_citizen_is_not_asked(live_server, phone, window, session):
    campaign, code = window
    phone.goto(f"{live_server}/s/{code}")
    _rate(phone, ("非常满意", "满意", "基本满意", "满意", "满意"))
    expect(phone.get_by_role("group", name="您不满意的主要问题是什么？")).to_be_hidden()
    expect(phone.locator(".progress")).to_have_text("已答 7 / 8 题")  # the comment box left empty
    phone.get_by_role("button", name="提交评价").click()
    phone.wait_for_url(f"**/thanks/{code}")
    assert [(a.not_shown, a.option_id) for a in _stored(session, campaign, "Q9")] == [(True, None)]
    assert [a.not_shown for a in _stored(session, campaign, "Q10")] == [True]


def test_with_javascript_a_shown_reason_is_required(live_server, phone, window, session):
    _campaign, code = window
    phone.goto(f"{live_server}/s/{code}")
    _rate(phone, ("非常不满意", "满意", "满意", "满意", "满意"))
    phone.get_by_role("button", name="提交评价").click()
    summary = phone.locator("#error-summary")
    expect(summary).to_contain_text("第 8 题：请回答此题")
    session.expire_all()
    assert session.scalars(select(Response)).all() == []


def test_without_javascript_the_reason_comes_as_a_short_second_step(live_server, phone_nojs, window, session, make):
    make_groups = make.groups()
    campaign, code = window
    page = phone_nojs
    page.goto(f"{live_server}/s/{code}")
    assert not page.get_by_role("group", name="您不满意的主要问题是什么？").is_visible()
    _rate(page, ("满意", "不满意", "满意", "满意", "满意"))
    page.get_by_role("button", name="提交评价").click()
    expect(page.locator("#step-notice")).to_contain_text("根据您的回答，还有 1 道题")
    assert page.locator("fieldset.q:visible").count() == 1  # only the new question
    session.expire_all()
    assert session.scalars(select(Response)).all() == []  # nothing stored before the step
    page.get_by_role("checkbox", name="等候时间").check()
    page.get_by_role("checkbox", name="其他（请说明）").check()
    page.get_by_role("button", name="提交评价").click()
    expect(page.get_by_role("group", name="请说明其他问题")).to_be_visible()  # 其他 calls for one more
    page.get_by_role("textbox").fill("网上预约和现场要求不一致")
    page.get_by_role("button", name="提交评价").click()
    page.wait_for_url(f"**/thanks/{code}")
    assert sorted(a.option_id for a in _stored(session, campaign, "Q9")) == sorted(
        o.id for q in campaign.questionnaire.questions if q.code == "Q9" for o in q.options
        if o.code in ("waiting", "other"))
    assert [a.text for a in _stored(session, campaign, "Q10")] == ["网上预约和现场要求不一致"]
    session.expire_all()
    (response,) = session.scalars(select(Response)).all()
    assert response.respondent_group_id == make_groups["QY"].id  # the first page's answers came through the steps


def test_without_javascript_a_satisfied_citizen_is_not_asked(live_server, phone_nojs, window, session):
    campaign, code = window
    phone_nojs.goto(f"{live_server}/s/{code}")
    _rate(phone_nojs, ("非常满意", "满意", "基本满意", "满意", "满意"))
    phone_nojs.get_by_role("button", name="提交评价").click()
    phone_nojs.wait_for_url(f"**/thanks/{code}")
    assert [a.not_shown for a in _stored(session, campaign, "Q9")] == [True]
