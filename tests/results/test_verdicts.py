"""Issue 13: thin cells in the app, reliability before verdict, the component's source blocks."""
from __future__ import annotations

import pytest

from survey.core.errors import DomainError
from survey.services.results import component, snapshots, weighting
from tests.results.helpers import add_response, fill


@pytest.fixture
def thin(session, make, built_once):
    """A category of three departments with 45 ratings each, and a window with 3 ratings, one per group.
    Built once per worker and database, then restored for each test."""
    return built_once("thin cells", lambda: _thin(session, make))


def _thin(session, make):
    category = make.category(code="CK", name="窗口")
    units = [make.unit(code=f"U{i}", name=f"第{i}单位", category=category) for i in range(1, 4)]
    window = make.unit(code="W1", name="三人窗口", category=category)
    campaign = make.campaign(units=[*units, window], period="2026Q4", public_results=True)
    groups = make.groups()
    for i, unit in enumerate(units):
        fill(session, campaign, unit, groups, 45, 4 - (i == 2), seed=20 + i)
    for code, level in (("QY", 2), ("SM", 3), ("FW", 4)):
        add_response(session, campaign, {window: [level] * 5}, groups[code])
    component.save(session, campaign, None, {"weights": {"survey": "1"}, "points": "20", "grading": "thresholds",
                                             "thresholds": {"excellent": "85", "good": "75", "pass": "60"}})
    session.commit()
    return campaign, units, window, groups


def _row(snapshot, unit):
    return next(r for r in snapshot.rows if r.unit_id == unit.id)


def test_thin_cell_rule_is_set_per_campaign_stored_with_the_snapshot_and_in_the_unit_detail(session, thin):
    campaign, units, _window, groups = thin
    # 企业 (QY) joins 行业协会 (ZZ) when thin; 市民 pools with the others
    weighting.save(session, campaign, None, {"method": "poststratify", "min_cell_n": "10",
                                              "collapse_into": {"QY": "ZZ", "SM": ""}})
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    params = snapshot.params["survey"]["params"]
    layout = snapshot.params["survey"]["layout"]
    assert params["min_cell_n"] == 10
    position = {gid: k for k, gid in enumerate(layout["group_ids"])}
    assert params["collapse_into"] == {"group": {str(position[groups["QY"].id]): position[groups["ZZ"].id]}}
    # 45 ratings over 5 groups = 9 each: every group is thin at 10; QY (first: fewest, lowest code) went into
    # ZZ as designated, 市民 without a designation into the smallest other cell
    detail = _row(snapshot, units[0]).detail
    assert detail["cells"]["group"][0] == [groups["QY"].id, groups["ZZ"].id]
    assert [groups["SM"].id, groups["FW"].id] in detail["cells"]["group"]
    assert "cells_collapsed" in _row(snapshot, units[0]).flags
    assert snapshots.verify(session, snapshot, None).identical


def test_settings_refuse_a_bad_cell_rule_with_a_message_per_field(session, thin):
    campaign, *_ = thin
    with pytest.raises(DomainError) as caught:
        weighting.validate(session, campaign, {"method": "poststratify", "min_cell_n": "0",
                                               "collapse_into": {"RD": "RD", "QY": "XX"}})
    fields = caught.value.fields
    assert "min_cell_n" in fields and "collapse_RD" in fields and "collapse_QY" in fields
    with pytest.raises(DomainError) as caught:
        weighting.validate(session, campaign, {"method": "poststratify", "min_cell_n": "2.5"})
    assert "整数" in caught.value.fields["min_cell_n"][0]
    clean = weighting.validate(session, campaign, {"method": "poststratify", "min_cell_n": ""})
    assert clean["min_cell_n"] == 5 and clean["collapse_into"] is None


def test_the_three_ratings_window_is_unweighted_with_a_real_standard_error(session, thin):
    campaign, _units, window, _groups = thin
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    row = _row(snapshot, window)
    assert row.n == 3
    assert row.index == pytest.approx(50.0)  # levels 2, 3, 4 → 25, 50, 75, unweighted
    assert row.index_se == pytest.approx(25.0 / 3 ** 0.5)  # SD 25 over √3: the SE of a simple mean
    assert row.index_se > 0
    assert "unweighted" in row.flags and row.detail["unweighted"] is True


def test_the_three_ratings_window_gets_no_grade_no_rank_and_a_clear_pending_note(session, thin, client, auth):
    campaign, units, window, _groups = thin
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    row = _row(snapshot, window)
    assert row.grade is None and row.rank is None and row.rank_lo is None
    assert row.detail["withheld"] is True and row.detail["grade_note"] == "insufficient"
    assert row.detail["shortfall"]["more"] == 27  # min_n 30 − 3 (n_eff = 3: equal weights)
    assert {"small_n", "small_n_eff", "unweighted"} <= set(row.detail["shortfall"]["reasons"])
    assert row.detail["p_bottom"] is None
    # the others are ranked among themselves, 1–3, and only they count towards P(bottom k)
    ranked = sorted(_row(snapshot, u).rank for u in units)
    assert ranked == [1, 2, 3] and all(_row(snapshot, u).detail["n_ranked"] == 3 for u in units)
    assert all(_row(snapshot, u).grade is not None for u in units)
    assert snapshots.verify(session, snapshot, None).identical
    auth.login_as("analyst")
    page = client.get(f"/admin/results/snapshots/{snapshot.id}/units/{window.id}").get_data(as_text=True)
    assert "还需约 27 份有效评价" in page and "待定" in page and "0.00–" not in page
    assert "标准误 14.43" in page  # 25 / √3
    league = client.get(f"/admin/results/snapshots/{snapshot.id}").get_data(as_text=True)
    assert "样本不足 / 待定" in league and "explain-verdict" in league
    exported = client.get(f"/admin/results/snapshots/{snapshot.id}/export.csv").data.decode("utf-8-sig")
    line = next(r for r in exported.splitlines() if "三人窗口" in r)
    assert "诫勉" not in line and "达标" not in line and "样本不足" in line
    from survey.services.results import api_payloads

    served = next(u for u in api_payloads.snapshot_payload(session, snapshot)["units"] if u["unit_code"] == "W1")
    assert served["grade"] is None and served["grade_code"] is None and served["rank"] is None
    assert served["withheld"] is True and served["grade_note"] == "insufficient" and served["index_se"] > 0
    snapshots.publish(session, snapshot, None)
    snapshots.set_public(session, snapshot, None, True)
    session.commit()
    public = client.get(f"/results/{snapshot.id}").get_data(as_text=True)
    at = public.rindex("三人窗口")  # the table row (the chart comes first)
    line = public[public.rindex("<tr", 0, at):public.index("</tr>", at)]
    assert "待定" in line and "还需约 27 份有效评价" in line and "不排名、不评等次" in public


def test_an_analyst_override_with_a_reason_is_audited_stored_and_shown_but_never_gives_a_sanction(
        session, thin, client, auth):
    from sqlalchemy import select

    from survey.models import AuditLog
    from tests.factories import csrf_from

    campaign, _units, window, _groups = thin
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    auth.login_as("analyst")
    unit_url = f"/admin/results/snapshots/{snapshot.id}/units/{window.id}"
    token = csrf_from(client.get(unit_url))
    url = f"/admin/results/campaigns/{campaign.id}/override/{window.id}"
    blank = client.post(url, data={"csrf_token": token, "action": "set", "reason": "  ", "next": unit_url})
    assert blank.status_code == 303 and "请写明" in client.get(unit_url).get_data(as_text=True)
    done = client.post(url, data={"csrf_token": token, "action": "set", "reason": "窗口本季度仅试运行一周",
                                  "next": "https://evil.example/"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/admin/results/")
    session.expire_all()
    log = session.scalars(select(AuditLog).where(AuditLog.action == "results.override")).one()
    assert log.detail["reason"] == "窗口本季度仅试运行一周" and log.detail["unit_id"] == window.id
    again = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    assert again.params["survey"]["settings"]["overrides"] == {str(window.id): "窗口本季度仅试运行一周"}
    row = _row(again, window)
    # index 50 < the pass line 60, but an unreliable unit is never 诫勉: 达标, pending
    assert row.rank is not None and row.grade == "达标" and row.detail["grade_note"] == "pending"
    assert row.detail["withheld"] is False and row.detail["override"] == "窗口本季度仅试运行一周"
    page = client.get(f"/admin/results/snapshots/{again.id}/units/{window.id}").get_data(as_text=True)
    assert "例外评定" in page and "窗口本季度仅试运行一周" in page
    assert snapshots.verify(session, again, None).identical
    lifted = client.post(url, data={"csrf_token": token, "action": "lift"})
    assert lifted.status_code == 303
    session.expire_all()
    assert weighting.current(session.get(type(campaign), campaign.id))["overrides"] == {}
    missing = client.post(f"/admin/results/campaigns/{campaign.id}/override/999999",
                          data={"csrf_token": token, "action": "set", "reason": "x"})
    assert missing.status_code == 303  # a unit outside the campaign: a message, not a 500


def test_scheme_page_takes_blocks_and_the_unit_page_writes_out_the_units_formula(session, thin, client, auth):
    from survey.services.results import leader_ratings
    from tests.factories import csrf_from

    campaign, units, _window, _groups = thin
    auth.login_as("analyst")
    url = f"/admin/results/campaigns/{campaign.id}/scheme"
    page = client.get(url)
    assert 'name="block_public"' in page.get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "block_public": "70", "block_leader": "30", "weight_survey": "1",
            "weight_service": "0", "points": "20", "normalisation": "none", "missing": "renormalise",
            "grading": "thresholds", "threshold_excellent": "85", "threshold_good": "75", "threshold_pass": "60",
            "quota_excellent": "0.2", "quota_good": "0.3", "quota_warning": "0.1", "rank_level": "0.9",
            "bottom_k": "1"}
    bad = client.post(url, data={**data, "block_public": "0"})
    assert bad.status_code == 422 and "民意调查部分的权重应大于 0" in bad.get_data(as_text=True)
    assert client.post(url, data=data).status_code == 303
    saved = component.current(session, campaign)
    assert saved["blocks"] == {"public": 0.7, "leader": 0.3} and saved["weights"]["leader"] == 0.3
    leader_ratings.save_scores(session, None, campaign.period, {units[0].id: "90", units[1].id: "80"})
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    first, third = _row(snapshot, units[0]), _row(snapshot, units[2])
    assert first.detail["weights_used"] == {"survey": 0.7, "leader": 0.3}
    assert first.detail["composite"] == pytest.approx(0.7 * first.index + 0.3 * 90)
    assert "block_missing" in third.flags and third.grade is None and third.rank is None
    assert third.detail["composite"] == pytest.approx(third.index)
    html = client.get(f"/admin/results/snapshots/{snapshot.id}/units/{units[0].id}").get_data(as_text=True)
    assert "70.0% × 本活动满意度调查" in html and "30.0% × 领导评价 90.00" in html
    html = client.get(f"/admin/results/snapshots/{snapshot.id}/units/{units[2].id}").get_data(as_text=True)
    assert "缺少整个“领导评价”部分" in html and "缺少领导评价" in html


def test_settings_page_sets_the_thin_cell_rule(session, thin, client, auth):
    from tests.factories import csrf_from

    campaign, *_ = thin
    auth.login_as("analyst")
    url = f"/admin/results/campaigns/{campaign.id}/settings"
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert 'name="min_cell_n"' in html and 'name="collapse_RD"' in html
    form = {"csrf_token": csrf_from(page), "method": "poststratify", "confidence": "0.95", "min_n": "30",
            "min_n_eff": "30", "max_rse": "0.3", "max_dont_know": "0.5", "min_cell_n": "8", "collapse_RD": "QY"}
    bad = client.post(url, data={**form, "min_cell_n": "abc"})
    assert bad.status_code == 422 and "每个加权单元的最少人数应为数字" in bad.get_data(as_text=True)
    assert client.post(url, data=form).status_code == 303
    session.expire_all()
    stored = weighting.current(session.get(type(campaign), campaign.id))
    assert stored["min_cell_n"] == 8 and stored["collapse_into"] == {"RD": "QY"}
    assert 'value="QY" selected' in client.get(url).get_data(as_text=True)


def test_a_snapshot_specified_before_these_rules_replays_them_off(session, thin):
    import copy

    from survey.services.results.evaluation import evaluate

    campaign, _units, window, _groups = thin
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    old = copy.deepcopy(snapshot.params)
    for key in ("min_cell_n", "collapse_into"):
        old["survey"]["params"].pop(key)
    for key in ("withhold_unreliable", "overrides", "min_cell_n", "collapse_into"):
        old["survey"]["settings"].pop(key)
    old["scheme"].pop("blocks")
    row = next(r for r in evaluate(session, old).rows if r.unit_id == window.id)
    # uncollapsed: three one-respondent cells, the SE that issue 13 found; ranked and graded as then
    assert row.index_se == 0.0 and "singleton_cell" in row.flags
    assert row.rank is not None and row.grade is not None
    assert "withheld" not in row.detail and "cells" not in row.detail and "shortfall" not in row.detail


def test_ratings_needed_come_from_the_n_threshold_and_for_n_eff_the_design_effect():
    from analysis import Params
    from survey.services.results.evaluation import more_ratings_needed

    p = Params(targets={"group": (1.0,)}, min_n=30, min_n_eff=30.0, max_rse=0.3)
    assert more_ratings_needed(3, 3.0, 50.0, 14.4, p) == 27  # n short: 30 − 3
    assert more_ratings_needed(40, 20.0, 80.0, 2.0, p) == 20  # deff 2: n_eff 30 needs n 60
    assert more_ratings_needed(35, 35.0, 10.0, 6.0, p) == 105  # RSE 0.6 → 0.3 needs n·(0.6/0.3)² = 140
    assert more_ratings_needed(60, 55.0, 80.0, 2.0, p) is None
    assert more_ratings_needed(0, float("nan"), float("nan"), float("nan"), p) == 30
