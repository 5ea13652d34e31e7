"""Issue 14 item 5: drafts (unpublished results) are for analysts only.

The previous period has only a draft; the current period is official and was computed against
that draft. A unit contact's trend table and chart, the comparison wording and the API show none
of the draft's figures; an analyst still sees them.
"""
from __future__ import annotations

import pytest

from survey.models import Campaign, Snapshot, SnapshotStatus, Unit
from survey.services.accounts import api_tokens
from survey.services.results import component, snapshots
from tests.results.helpers import fill


@pytest.fixture
def two_periods(session, make, built_once):
    return built_once("security: draft previous period", lambda: _build(session, make))


def _build(session, make):
    category = make.category(code="AQ", name="安全测试口")
    units = [make.unit(code=f"AQ{i}", name=f"安全测试{i}局", category=category) for i in range(1, 3)]
    questionnaire = make.questionnaire()
    groups = make.groups()
    ids = []
    for period, quality in (("2026Q3", 2), ("2026Q4", 4)):
        campaign = make.campaign(units=units, questionnaire=questionnaire, period=period)
        for i, unit in enumerate(units):
            fill(session, campaign, unit, groups, 30, quality, seed=40 + i)
        component.save(session, campaign, None, {"weights": {"survey": "1"}, "points": "20", "grading": "thresholds",
                                                 "thresholds": {"excellent": "85", "good": "75", "pass": "60"}})
        session.commit()
        snapshot = snapshots.compute_snapshot(session, campaign, None)
        session.commit()
        ids.append(snapshot.id)
    draft, current = (session.get(Snapshot, i) for i in ids)
    snapshots.publish(session, current, None)
    session.commit()
    return {"draft": draft.id, "current": current.id, "units": [u.id for u in units]}


def test_the_current_period_was_compared_with_the_draft(session, two_periods):
    current = session.get(Snapshot, two_periods["current"])
    assert session.get(Snapshot, two_periods["draft"]).status == SnapshotStatus.DRAFT
    assert current.params["previous_snapshot_id"] == two_periods["draft"]
    assert not snapshots.compared_with_published(session, current)


def test_a_unit_contact_never_sees_the_draft_period(client, auth, session, two_periods):
    unit_id = two_periods["units"][0]
    auth.login_as("unit", unit=session.get(Unit, unit_id))
    page = client.get(f"/admin/results/snapshots/{two_periods['current']}/units/{unit_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "2026Q4" in html
    assert "2026Q3" not in html and f"<td>#{two_periods['draft']} " not in html  # no row, no chart point
    assert "没有上一期的可比结果" in html and "上一期没有正式结果，无法比较。" in html
    for honest in ("没有上一期的可比结果", "与上期正式结果比", "上一期没有正式结果，无法比较。"):
        html = html.replace(honest, "")
    assert "上期" not in html
    assert client.get(f"/admin/results/snapshots/{two_periods['draft']}/units/{unit_id}").status_code == 404


def test_an_analyst_still_sees_the_draft_in_the_trend(client, auth, two_periods):
    auth.login_as("analyst")
    unit_id = two_periods["units"][0]
    html = client.get(f"/admin/results/snapshots/{two_periods['current']}/units/{unit_id}").get_data(as_text=True)
    assert "2026Q3" in html and f"<td>#{two_periods['draft']} " in html


def test_series_holds_drafts_only_when_asked(session, two_periods):
    campaign = session.get(Campaign, session.get(Snapshot, two_periods["current"]).campaign_id)
    assert [s.period for s in snapshots.series(session, campaign)] == ["2026Q4"]
    assert [s.period for s in snapshots.series(session, campaign, drafts=True)] == ["2026Q3", "2026Q4"]


def test_the_api_gives_no_comparison_with_a_draft(client, session, two_periods):
    _token, plaintext = api_tokens.create(session, None, "绩效管理系统")
    session.commit()
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get(f"/api/v1/snapshots/{two_periods['draft']}", headers=headers).status_code == 404
    body = client.get(f"/api/v1/snapshots/{two_periods['current']}", headers=headers).get_json()
    assert body["units"] and all(u["trend"] is None for u in body["units"])
    listed = client.get("/api/v1/snapshots", headers=headers).get_json()
    assert two_periods["draft"] not in [s["id"] for s in (listed.get("snapshots") or listed.get("items") or [])]
