"""The guided season: the campaign page shows set up → distribute → collect → close → compute → review →
publish with the state of each and a link to each, points to the next step after 结束评议, and the public
pages link to the published results."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from survey.models import (
    Appeal,
    Campaign,
    CampaignStatus,
    Case,
    Response,
    ResponseStatus,
    Snapshot,
    SnapshotStatus,
    utcnow,
)
from survey.services.campaigns.season import CURRENT, DONE, STEPS, TODO, season
from tests.cases.helpers import respond
from tests.factories import csrf_from
from tests.results.helpers import add_response, fill


def _states(session, campaign: Campaign) -> dict[str, str]:
    session.expire_all()
    return {s.key: s.state for s in season(session, session.get(Campaign, campaign.id), utcnow()).steps}


def _steps_on_page(html: str) -> dict[str, str]:
    return {key: state for state, key in re.findall(r'class="step step-(\w+)" data-step="(\w+)"', html)}


@pytest.fixture
def draft(make, session):
    groups = make.groups()
    units = [make.unit(code=f"U{i}", name=f"单位{i}") for i in range(2)]
    campaign = make.campaign(units=units, status=CampaignStatus.DRAFT, public_results=True)
    make.commit()
    return {"campaign": campaign, "units": units, "groups": groups}


def test_a_draft_with_units_is_set_up_and_points_to_distribution(session, draft):
    states = _states(session, draft["campaign"])
    assert list(states) == list(STEPS)
    assert states == {"setup": DONE, "distribute": CURRENT, "collect": TODO, "close": TODO, "compute": TODO,
                      "review": TODO, "publish": TODO}


def test_a_campaign_without_units_starts_at_set_up(make, session):
    campaign = make.campaign(units=[], status=CampaignStatus.DRAFT)
    assert _states(session, campaign)["setup"] == CURRENT


def test_the_page_walks_the_season_to_publication(client, auth, session, draft):
    """Every step is reached from the campaign page's own links and buttons, without typing a URL."""
    auth.login_as("analyst")
    campaign, units, groups = draft["campaign"], draft["units"], draft["groups"]
    url = f"/admin/campaigns/{campaign.id}"
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert _steps_on_page(html) == {"setup": "done", "distribute": "current", "collect": "todo", "close": "todo",
                                    "compute": "todo", "review": "todo", "publish": "todo"}
    for link in (f"/admin/distribution/{campaign.id}/", f"/admin/results/campaigns/{campaign.id}/settings",
                 f"/admin/results/campaigns/{campaign.id}/scheme", f"/admin/results/campaigns/{campaign.id}/compute",
                 f"/admin/campaigns/{campaign.id}/edit"):
        assert link in html, link
    assert "下一步：分发二维码与海报" in html
    assert "公开网址未设置" in html  # the codes would carry this site's address
    assert html.count(">开始评议</button>") == 1  # the season points at the header's button, never a second one

    token = csrf_from(page)
    assert client.post(f"{url}/status", data={"csrf_token": token, "value": "open"}).status_code == 302
    assert "下一步：收集答卷" in client.get(url).get_data(as_text=True)
    for i, unit in enumerate(units):
        fill(session, session.get(Campaign, campaign.id), unit, groups, 40, 4 - i)
    flagged = add_response(session, session.get(Campaign, campaign.id), {units[0]: [1, 1, 1, 1, 1, 1]},
                           groups["SM"], status=ResponseStatus.FLAGGED)
    session.commit()
    html = client.get(url).get_data(as_text=True)
    assert f"/admin/review/?campaign={campaign.id}" in html and "1 份待核查" in html

    closed = client.post(f"{url}/status", data={"csrf_token": token, "value": "close"}, follow_redirects=True)
    html = closed.get_data(as_text=True)
    assert "评议已结束" in html and "下一步：加权计算" in html
    steps = _steps_on_page(html)
    assert steps["collect"] == steps["close"] == "done" and steps["compute"] == "current"

    computed = client.post(f"/admin/results/campaigns/{campaign.id}/compute", data={"csrf_token": token})
    assert computed.status_code == 303
    snapshot = session.query(Snapshot).filter_by(campaign_id=campaign.id).one()
    html = client.get(url).get_data(as_text=True)
    assert _steps_on_page(html)["review"] == "current" and "核查存疑答卷（1 份）" in html
    assert f"/admin/results/snapshots/{snapshot.id}#verification" in html

    # Clearing the flagged response and re-computing the draft identically completes the review.
    session.get(Response, flagged.id).status = ResponseStatus.EXCLUDED
    session.commit()
    assert client.post(f"/admin/results/snapshots/{snapshot.id}/verify", data={"csrf_token": token}).status_code == 303
    html = client.get(url).get_data(as_text=True)
    assert _steps_on_page(html)["review"] == "done" and "下一步：发布结果" in html
    assert f"/admin/results/snapshots/{snapshot.id}/publish" in html

    assert client.post(f"/admin/results/snapshots/{snapshot.id}/publish",
                       data={"csrf_token": token, "public": "1", "confirm": "1"}).status_code == 303
    session.expire_all()
    assert session.get(Snapshot, snapshot.id).status == SnapshotStatus.OFFICIAL
    html = client.get(url).get_data(as_text=True)
    assert set(_steps_on_page(html).values()) == {"done"} and "结果已发布" in html
    assert f'href="/results/{snapshot.id}"' in html

    # The public side: the home page links to the published results, the closed campaign to its own.
    auth.logout()
    assert 'href="/results/"' in client.get("/").get_data(as_text=True)
    closed_page = client.get(f"/s/{campaign.short_code}").get_data(as_text=True)
    assert "已经结束" in closed_page and f'href="/results/{snapshot.id}"' in closed_page


def test_a_closed_campaign_without_public_results_links_to_the_results_list(client, make, session):
    campaign = make.campaign(status=CampaignStatus.CLOSED)
    make.commit()
    html = client.get(f"/s/{campaign.short_code}").get_data(as_text=True)
    assert "已经结束" in html and 'href="/results/"' in html


def test_the_season_names_its_steps_in_english(client, auth, draft):
    auth.login_as("analyst")
    html = client.get(f"/admin/campaigns/{draft['campaign'].id}?lang=en").get_data(as_text=True)
    assert "Next step" in html and "QR codes and posters" in html


def test_every_count_on_the_overview_that_needs_action_links_to_where_it_is_handled(client, auth, make, session):
    groups = make.groups()
    unit = make.unit(code="CK", name="窗口单位")
    past = utcnow() - dt.timedelta(days=1)
    overdue_campaign = make.campaign(units=[unit], title="已过截止的评议", opens_at=past - dt.timedelta(days=40),
                                     closes_at=past)
    make.campaign(units=[unit], status=CampaignStatus.CLOSED, title="待计算的评议")
    drafted = make.campaign(units=[unit], status=CampaignStatus.CLOSED, title="待发布的评议")
    draft = Snapshot(campaign_id=drafted.id, period=drafted.period, status=SnapshotStatus.DRAFT, params={},
                     data_cutoff=utcnow(), code_version="test", summary={})
    session.add(draft)
    response = respond(session, overdue_campaign, unit, levels={"Q1": 1}, comment="态度差",
                       submitted_on=dt.date.today() - dt.timedelta(days=60))
    add_response(session, overdue_campaign, {unit: [5, 5, 5, 5, 5, 5]}, groups["SM"], status=ResponseStatus.FLAGGED)
    case = session.scalars(select(Case).where(Case.response_id == response.id)).first()
    session.add(Appeal(response_id=response.id, case_id=case.id, unit_id=unit.id, reason="恶意差评，与事实不符"))
    session.commit()
    assert case.due_on < dt.date.today()

    auth.login_as("analyst")
    html = client.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/review/">1 份答卷待核查' in html
    assert "/admin/cases/?timing=overdue" in html and "个处理件已超期未办结" in html
    assert 'href="/admin/appeals/">1 个申诉待复核' in html
    assert f'/admin/campaigns/{overdue_campaign.id}#season-h">“已过截止的评议”已过截止时间' in html
    assert "“待计算的评议”已结束，尚未计算结果" in html
    assert f'/admin/results/snapshots/{draft.id}/publish">“待发布的评议”的草稿结果 #{draft.id} 待核对发布' in html
    # the per-unit 待核查 count links to the review queue too, filtered to that unit
    assert re.search(r'<a href="/admin/review/\?unit=\d+" title="待核查答卷">1</a>', html)
    overdue_list = client.get("/admin/cases/?timing=overdue").get_data(as_text=True)
    assert "态度差" in overdue_list


def test_a_unit_contact_sees_no_analyst_actions(client, auth, make):
    unit = make.unit()
    make.campaign(units=[unit], status=CampaignStatus.CLOSED)
    make.commit()
    auth.login_as("unit", unit=unit)
    assert "需要处理" not in client.get("/admin/").get_data(as_text=True)
