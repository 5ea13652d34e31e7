"""The flagged queue an analyst can judge: answers shown, a burst grouped with its timing and channel in
words, nothing preselected, whole groups selectable, and every 待核查 count linking to it."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from survey.models import Channel, Response, ResponseStatus
from survey.services.responses import review
from tests.factories import csrf_from
from tests.public.helpers import filled


@pytest.fixture
def app_overrides():
    return {"UA_ROTATION_MAX_AGENTS": 2}


@pytest.fixture
def poster(make):
    window = make.unit(name="社保医保窗口", window_no="5")
    campaign = make.campaign(units=[window], title="政务服务满意度评议", channels=[Channel.POSTER.value])
    make.commit()
    return campaign, window


def _script(app, campaign, address: str, n: int) -> None:
    code = campaign.campaign_units[0].short_code
    for i in range(n):
        phone = app.test_client()
        phone.environ_base.update({"HTTP_USER_AGENT": f"Bot/{address}/{i}", "REMOTE_ADDR": address})
        assert phone.post(f"/s/{code}", data=filled(campaign.questionnaire, phone.get(f"/s/{code}"),
                                                    level="5")).status_code == 303


def test_bursts_are_grouped_with_answers_and_nothing_is_selected(app, client, auth, session, poster):
    campaign, window = poster
    _script(app, campaign, "10.1.1.1", 5)  # 2 valid, 3 flagged
    _script(app, campaign, "10.2.2.2", 4)  # 2 valid, 2 flagged
    session.expire_all()
    flagged = list(session.scalars(select(Response).where(Response.status == ResponseStatus.FLAGGED)))
    assert len(flagged) == 5
    groups = review.review_groups(session, campaign.id)
    assert [len(g.items) for g in groups] == [3, 2] and {g.kind for g in groups} == {"address"}
    assert groups[0].items[1].since_previous is not None and groups[0].items[0].answers
    assert all(g.unit.id == window.id and g.channel == Channel.POSTER for g in groups)

    auth.login_as("analyst")
    page = client.get(f"/admin/review/?campaign={campaign.id}")
    html = page.get_data(as_text=True)
    assert "5 份待核查，2 组" in html
    assert html.count("海报二维码 · 同一网络地址") == 2 and "poster" not in html.split("<h1>")[1]
    assert "同一网络地址轮换浏览器标识" in html and "非常满意" in html  # reasons and answers in words
    form = html.split('class="review">')[1]
    assert " checked" not in form
    assert "选择本组全部 3 份" in form

    # A whole group, with a reason: excluded, audited.
    ids = groups[0].ids
    done = client.post(f"/admin/review/{campaign.id}", data={
        "csrf_token": csrf_from(page), "group": ids, "decision": "exclude", "reason": "脚本轮换 UA"})
    assert done.status_code == 302
    session.expire_all()
    statuses = {r.id: r.status for r in session.scalars(select(Response))}
    assert [statuses[int(i)] for i in ids.split(",")] == [ResponseStatus.EXCLUDED] * 3
    assert sum(s == ResponseStatus.FLAGGED for s in statuses.values()) == 2


def test_every_flagged_count_links_to_the_review(app, client, auth, session, poster):
    campaign, window = poster
    _script(app, campaign, "10.1.1.1", 4)
    auth.login_as("analyst")
    overview = client.get("/admin/").get_data(as_text=True)
    assert f'href="/admin/review/?unit={window.id}"' in overview
    detail = client.get(f"/admin/campaigns/{campaign.id}").get_data(as_text=True)
    assert f'href="/admin/review/?campaign={campaign.id}&amp;unit={window.id}"' in detail
    # The unit filter alone finds the campaign with flagged responses about that unit.
    by_unit = client.get(f"/admin/review/?unit={window.id}").get_data(as_text=True)
    assert "2 份待核查，1 组" in by_unit and "只看与 社保医保窗口 有关的答卷" in by_unit
