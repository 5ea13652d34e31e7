"""The 公众评议 component: weights, 功效系数法, points, grades that respect uncertainty, scheme validation."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from survey.core.errors import DomainError
from survey.models import AuditLog
from survey.services.results import component

NAN = np.nan


def inputs(survey, se, leader=None, service=None, service_se=None, category=None):
    n = len(survey)
    return component.UnitInputs(
        category=np.array(category or [1] * n), survey=np.array(survey, float), survey_se=np.array(se, float),
        leader=np.array(leader if leader is not None else [NAN] * n, float),
        service=np.array(service if service is not None else [NAN] * n, float),
        service_se=np.array(service_se if service_se is not None else [NAN] * n, float),
        estimable=np.isfinite(np.array(survey, float)) & np.isfinite(np.array(se, float)),
        unreliable=np.zeros(n, bool),
    )


def scheme(**changes):
    base = {key: (dict(value) if isinstance(value, dict) else value) for key, value in component.DEFAULTS.items()}
    base.update(changes)
    return base


def test_weighted_composite_points_and_standard_error():
    s = scheme(weights={"survey": 0.7, "leader": 0.3, "service": 0.0}, points=20.0, grading="none")
    out = component.compute(inputs([80.0, 90.0], [2.0, 1.0], leader=[70.0, 100.0]), s, 0.95)
    assert out.composite.tolist() == pytest.approx([0.7 * 80 + 0.3 * 70, 0.7 * 90 + 0.3 * 100])
    assert out.composite_se.tolist() == pytest.approx([0.7 * 2.0, 0.7 * 1.0])  # leader ratings are fixed scores
    assert out.points.tolist() == pytest.approx([(0.7 * 80 + 0.3 * 70) / 100 * 20, (0.7 * 90 + 0.3 * 100) / 100 * 20])
    assert out.rank.tolist() == [2, 1] and out.grade == [None, None]


def test_a_missing_source_is_renormalised_or_leaves_the_unit_without_a_score():
    s = scheme(weights={"survey": 0.6, "leader": 0.0, "service": 0.4}, grading="none")
    data = inputs([80.0, 70.0], [1.0, 1.0], service=[90.0, NAN], service_se=[2.0, NAN])
    out = component.compute(data, s, 0.95)
    assert out.composite[0] == pytest.approx(0.6 * 80 + 0.4 * 90)
    assert out.composite[1] == pytest.approx(70.0) and out.sources_used[1] == ["survey"]
    assert out.composite_se[0] == pytest.approx(np.hypot(0.6 * 1.0, 0.4 * 2.0))
    strict = component.compute(data, dict(s, missing="none"), 0.95)
    assert np.isnan(strict.composite[1]) and np.isnan(strict.rank[1]) and strict.rank[0] == 1


def test_efficacy_coefficient_within_each_category():
    s = scheme(normalisation="efficacy", grading="none", points=10.0)
    out = component.compute(inputs([70.0, 80.0, 90.0, 50.0, 60.0], [1.0] * 5, category=[1, 1, 1, 2, 2]), s, 0.95)
    assert out.score.tolist() == pytest.approx([60.0, 80.0, 100.0, 60.0, 100.0])
    assert out.score_se[0] == pytest.approx(1.0 * 40 / 20)
    assert out.points.tolist() == pytest.approx([6.0, 8.0, 10.0, 6.0, 10.0])
    assert out.rank.tolist() == [3, 2, 1, 2, 1]


def test_warning_grade_needs_the_whole_interval_below_the_pass_line():
    s = scheme(grading="thresholds", thresholds={"excellent": 90.0, "good": 80.0, "pass": 60.0})
    # clearly below (55 ± 1.96), below on the point but the interval reaches 60, and clearly passing
    out = component.compute(inputs([55.0, 58.0, 95.0, 85.0], [1.0, 3.0, 1.0, 4.0]), s, 0.95)
    assert out.grade[0] == "诫勉" and out.grade_note[0] is None
    assert out.grade[1] == "达标" and out.grade_note[1] == "pending"
    assert out.grade[2] == "优秀" and out.grade_note[2] is None
    assert out.grade[3] == "良好" and out.grade_note[3] == "borderline"  # 85 ± 7.8 crosses 80 and 90


def test_quotas_give_warning_only_when_the_rank_interval_is_in_the_bottom_quota():
    s = scheme(grading="quotas", quotas={"excellent": 0.2, "good": 0.3, "warning": 0.2})
    precise = inputs([95.0, 90.0, 85.0, 80.0, 75.0, 70.0, 65.0, 60.0, 55.0, 30.0], [0.2] * 10)
    out = component.compute(precise, s, 0.95)
    assert out.grade[:2] == ["优秀", "优秀"] and out.grade[2:5] == ["良好"] * 3
    assert out.grade[8:] == ["诫勉", "诫勉"] and out.grade[5:8] == ["达标"] * 3
    vague = inputs([95.0, 90.0, 85.0, 80.0, 75.0, 70.0, 65.0, 60.0, 55.0, 50.0], [20.0] * 10)
    out = component.compute(vague, s, 0.95)
    assert "诫勉" not in out.grade and out.grade[9] == "达标" and out.grade_note[9] == "pending"


def test_units_without_an_estimate_are_not_ranked_or_graded():
    out = component.compute(inputs([80.0, NAN, 70.0], [1.0, NAN, 1.0]), scheme(), 0.95)
    assert np.isnan(out.rank[1]) and out.grade[1] is None and np.isnan(out.points[1])
    assert out.n_ranked.tolist() == [2, 2, 2]
    assert out.p_bottom[2] > 0.99 and out.rank_lo[0] == 1


@pytest.mark.parametrize("raw, field", [
    ({"weights": {"survey": "-1"}}, "weight_survey"),
    ({"weights": {"survey": "0", "leader": "1"}}, "weight_survey"),
    ({"weights": {"survey": "1", "service": "1"}}, "service_campaign_ids"),
    ({"thresholds": {"excellent": "70", "good": "80", "pass": "60"}}, "thresholds"),
    ({"grading": "quotas", "quotas": {"excellent": "0.6", "good": "0.3", "warning": "0.2"}}, "quotas"),
    ({"points": "abc"}, "points"),
    ({"rank_level": "2"}, "rank_level"),
    ({"bottom_k": "1.5"}, "bottom_k"),
    ({"service_campaign_ids": ["x"]}, "service_campaign_ids"),
    ({"normalisation": "magic"}, "normalisation"),
])
def test_scheme_validation_names_the_field(session, make, raw, field):
    campaign = make.campaign()
    data = {"weights": {"survey": "1"}, "points": "20", **raw}
    with pytest.raises(DomainError) as caught:
        component.save(session, campaign, None, data)
    assert field in caught.value.errors
    assert component.scheme_for(session, campaign) is None


def test_saved_scheme_normalises_weights_and_is_audited(session, make):
    campaign = make.campaign()
    other = make.campaign()
    saved = component.save(session, campaign, None, {"weights": {"survey": "7", "leader": "3", "service": "0"},
                                                     "points": "20", "service_campaign_ids": [str(other.id)]})
    session.commit()
    assert saved["weights"] == {"survey": 0.7, "leader": 0.3, "service": 0.0}
    assert component.current(session, campaign)["service_campaign_ids"] == [other.id]
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "results.scheme"))
    assert entry.detail["after"]["weights"]["survey"] == 0.7 and entry.detail["before"] is None


def test_window_ratings_of_another_campaign_become_each_departments_service_source(session, make):
    from survey.models import UnitKind
    from survey.services.results import snapshots
    from tests.results.helpers import add_response, fill

    category = make.category(code="BM", name="部门")
    d1, d2, d3 = (make.unit(code=f"BM{i}", name=f"部门{i}", category=category) for i in (1, 2, 3))
    w1 = make.unit(code="W11", parent=d1, kind=UnitKind.WINDOW)
    w2 = make.unit(code="W12", parent=d1, kind=UnitKind.WINDOW)
    w3 = make.unit(code="W21", parent=d2, kind=UnitKind.WINDOW)
    groups = make.groups()
    appraisal = make.campaign(units=[d1, d2, d3], kind="appraisal", period="2026")
    for i, unit in enumerate((d1, d2, d3)):
        fill(session, appraisal, unit, groups, 40, 4 - (i == 2), seed=30 + i)
    windows = make.campaign(units=[w1, w2, w3], period="2026Q4",
                            analysis_settings={"method": "none", "min_n": 1, "min_n_eff": 1})
    for unit, level, count in ((w1, 5, 4), (w2, 3, 2), (w3, 4, 3)):
        for _k in range(count):
            add_response(session, windows, {unit: [level] * 5}, groups["FW"])
    component.save(session, appraisal, None, {"weights": {"survey": "0.7", "service": "0.3"}, "points": "20",
                                              "service_campaign_ids": [str(windows.id)], "grading": "none"})
    session.commit()
    snapshot = snapshots.compute_snapshot(session, appraisal, None)
    session.commit()
    rows = {r.unit_id: r for r in snapshot.rows}
    service = rows[d1.id].detail["service"]
    assert service["n"] == 6  # both windows of 部门1, every rating its own respondent
    assert service["index"] == pytest.approx((4 * 100 + 2 * 50) / 6)
    assert rows[d2.id].detail["service"]["index"] == pytest.approx(75.0)
    assert rows[d1.id].detail["composite"] == pytest.approx(0.7 * rows[d1.id].index + 0.3 * service["index"])
    assert rows[d1.id].detail["composite_se"] == pytest.approx(
        np.hypot(0.7 * rows[d1.id].index_se, 0.3 * service["se"]))
    # 部门3 has no window: its weights are renormalised to the survey alone, and it is marked
    assert rows[d3.id].detail["composite"] == pytest.approx(rows[d3.id].index)
    assert "service_missing" in rows[d3.id].flags and rows[d3.id].detail["weights_used"] == {"survey": 1.0}
    # a window rating arriving later changes nothing in the stored snapshot
    add_response(session, windows, {w1: [1] * 5}, groups["FW"])
    session.commit()
    assert snapshots.verify(session, snapshot, None).identical


def blocks_scheme(**changes):
    """The seed's rule: 民意调查 70 % (survey 6 : service 1 inside it) + 领导评价 30 %, as the form saves it."""
    clean, _ = component._weights({"weights": {"survey": "6", "service": "1"},
                                   "blocks": {"public": "70", "leader": "30"}}, component.Collector())
    return scheme(weights=clean, blocks={"public": 0.7, "leader": 0.3}, **changes)


def test_taizhou_2013_leader_30_survey_70_of_a_20_point_component():
    # DOMAIN.md: 工作考核 80 % + 公众评议 20 %; 公众评议 = 领导评价 30 % + 民意调查 70 %
    s = scheme(weights={"survey": 0.7, "leader": 0.3, "service": 0.0}, blocks={"public": 0.7, "leader": 0.3},
               points=20.0, grading="none")
    out = component.compute(inputs([85.0], [1.5], leader=[90.0]), s, 0.95)
    assert out.composite[0] == pytest.approx(0.7 * 85 + 0.3 * 90)  # 86.5
    assert out.points[0] == pytest.approx(86.5 / 100 * 20)  # 17.3 of the 20 points
    assert out.composite_se[0] == pytest.approx(0.7 * 1.5)
    assert out.weights_used[0] == {"survey": 0.7, "leader": 0.3}


def test_a_unit_missing_its_service_source_keeps_leader_ratings_at_exactly_30_percent():
    s = blocks_scheme(grading="none")
    assert s["weights"]["survey"] == pytest.approx(0.6) and s["weights"]["service"] == pytest.approx(0.1)
    data = inputs([80.0, 80.0], [2.0, 2.0], leader=[90.0, 90.0], service=[70.0, NAN], service_se=[3.0, NAN])
    out = component.compute(data, s, 0.95)
    assert out.weights_used[1]["leader"] == 0.3 and out.weights_used[1]["survey"] == 0.7  # exactly
    assert out.composite[1] == 0.7 * 80.0 + 0.3 * 90.0  # not (6·80 + 3·90) / 9, as renormalising over all would
    assert out.composite[0] == pytest.approx(0.7 * (6 * 80 + 70) / 7 + 0.3 * 90)
    assert out.composite_se[0] == pytest.approx(0.7 * ((6 / 7 * 2) ** 2 + (1 / 7 * 3) ** 2) ** 0.5)
    assert out.missing_blocks == [[], []]


def test_a_unit_missing_a_whole_block_is_flagged_and_by_default_neither_graded_nor_ranked():
    s = blocks_scheme()
    data = inputs([80.0, 85.0, 70.0], [1.0, 1.0, 1.0], leader=[90.0, NAN, 80.0])
    data.withhold = True
    out = component.compute(data, s, 0.95)
    assert out.missing_blocks[1] == ["leader"] and out.withheld.tolist() == [False, True, False]
    assert out.grade[1] is None and np.isnan(out.rank[1]) and out.grade_note[1] == "insufficient"
    assert out.composite[1] == pytest.approx(85.0)  # scored on what it has, for information
    assert out.n_ranked[0] == 2 and out.rank[0] == 1 and out.rank[2] == 2
    data.overridden = np.array([False, True, False])
    out = component.compute(data, s, 0.95)
    assert out.grade[1] is not None and np.isfinite(out.rank[1]) and out.n_ranked[0] == 3
    strict = component.compute(data, dict(s, missing="none"), 0.95)
    assert np.isnan(strict.composite[1]) and strict.grade[1] is None


def test_a_sanction_needs_a_reliable_unit_whose_whole_interval_lies_below_the_line():
    s = scheme(weights={"survey": 1.0, "leader": 0.0, "service": 0.0}, blocks={"public": 1.0, "leader": 0.0},
               grading="thresholds")
    data = inputs([40.0, 40.0, 40.0, 90.0], [1.0, 15.0, 1.0, 1.0])
    data.withhold = True
    data.unreliable = np.array([False, False, True, False])
    data.overridden = np.array([False, False, True, False])
    out = component.compute(data, s, 0.95)
    assert out.grade[0] == "诫勉"  # reliable, 40 ± 2 below 60
    assert out.grade[1] == "达标" and out.grade_note[1] == "pending"  # interval reaches the line
    assert out.grade[2] == "达标" and out.grade_note[2] == "pending"  # below, but graded only by override
    q = scheme(weights={"survey": 1.0, "leader": 0.0, "service": 0.0}, blocks={"public": 1.0, "leader": 0.0},
               grading="quotas", quotas={"excellent": 0.0, "good": 0.0, "warning": 0.5})
    data = inputs([90.0, 88.0, 20.0, 21.0], [0.1] * 4)
    data.withhold = True
    data.unreliable = np.array([False, False, True, False])
    data.overridden = np.array([False, False, True, False])
    out = component.compute(data, q, 0.95)
    assert out.grade[2] == "达标" and out.grade[3] == "诫勉"


def test_a_scheme_saved_before_blocks_replays_its_old_rule():
    legacy = {k: v for k, v in scheme(weights={"survey": 0.6, "leader": 0.3, "service": 0.1}).items() if k != "blocks"}
    data = inputs([80.0], [2.0], leader=[90.0])
    out = component.compute(data, legacy, 0.95)
    assert out.composite[0] == (0.6 * 80.0 + 0.3 * 90.0) / (0.6 + 0.3)  # renormalised over all sources
    assert out.weights_used is None and out.missing_blocks is None
