"""Computing a campaign: the loaded arrays, the engine's numbers, exclusions, snapshots, verification, trend."""
from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy import func, select

from analysis import Answers, Params, compute_indices
from survey.core.errors import DomainError
from survey.models import (
    Answer,
    AuditLog,
    Channel,
    ResponseStatus,
    Snapshot,
    SnapshotRow,
    SnapshotStatus,
)
from survey.services.results import component, loading, snapshots, weighting
from tests.results.helpers import add_response, fill, satisfaction_questions


@pytest.fixture
def period(make, session, built_once):
    """Two windows in one category, 40 + 35 responses, one excluded and one flagged response.
    Built once per worker and database, then restored for each test."""
    return built_once("two windows", lambda: _period(make, session))


def _period(make, session):
    category = make.category(name="窗口")
    a = make.unit(code="WA", name="甲窗口", category=category)
    b = make.unit(code="WB", name="乙窗口", category=category)
    campaign = make.campaign(units=[a, b], period="2026Q4")
    groups = make.groups()
    fill(session, campaign, a, groups, 40, 4, seed=1)
    fill(session, campaign, b, groups, 35, 3, seed=2)
    excluded = add_response(session, campaign, {a: [1, 1, 1, 1, 1]}, groups["QY"], status=ResponseStatus.EXCLUDED)
    flagged = add_response(session, campaign, {b: [5, 5, 5, 5, 5]}, groups["SM"], status=ResponseStatus.FLAGGED)
    session.commit()
    return campaign, a, b, groups, excluded, flagged


def engine_reference(session, campaign, spec, include_flagged=False):
    """The engine run on arrays built straight from the ORM rows (the slow, obvious way)."""
    layout = spec["survey"]["layout"]
    qpos = {qid: k for k, qid in enumerate(layout["question_ids"])}
    gpos = {gid: k for k, gid in enumerate(layout["group_ids"])}
    statuses = {ResponseStatus.VALID} | ({ResponseStatus.FLAGGED} if include_flagged else set())
    rows = []
    for answer in session.scalars(select(Answer).where(Answer.campaign_id == campaign.id,
                                                       Answer.question_id.in_(qpos))):
        if answer.response.status not in statuses:
            continue
        rows.append((answer.response_id, answer.unit_id, qpos[answer.question_id],
                     0 if answer.dont_know else answer.level, gpos[answer.response.respondent_group_id]))
    arr = np.array(rows)
    answers = Answers(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], {"group": arr[:, 4]})
    return compute_indices(answers, Params.from_dict(spec["survey"]["params"]),
                           units=np.array(spec["units"]), n_questions=len(qpos))


def test_snapshot_equals_the_engine_on_orm_arrays_bit_for_bit(session, period):
    campaign, a, b, _groups, excluded, flagged = period
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    reference = engine_reference(session, campaign, snapshot.params)
    rows = {r.unit_id: r for r in snapshot.rows}
    for i, unit_id in enumerate(reference.units.tolist()):
        row = rows[unit_id]
        assert row.n == reference.n[i]
        assert row.index == reference.index[i] and row.index_se == reference.index_se[i]
        assert row.index_lo == reference.index_ci_low[i] and row.index_hi == reference.index_ci_high[i]
        assert row.satisfied_rate == reference.satisfied_rate[i]
        assert row.n_eff == reference.n_eff[i]
    assert rows[a.id].n == 40 and rows[b.id].n == 35  # the excluded and the flagged response left out
    assert rows[a.id].index > rows[b.id].index
    assert snapshot.summary["excluded"] == 1 and snapshot.summary["flagged"] == 1
    assert snapshot.params["survey"]["cutoff"]["excluded_ids"] == [excluded.id]
    assert snapshot.params["survey"]["cutoff"]["flagged_ids"] == [flagged.id]
    assert Params.from_dict(snapshot.params["survey"]["params"]).to_dict() == snapshot.params["survey"]["params"]
    assert snapshot.status == SnapshotStatus.DRAFT and snapshot.max_response_id == flagged.id
    assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "results.compute")) == 1


def test_flagged_responses_count_only_when_asked(session, period):
    campaign, a, b, *_ = period
    snapshot = snapshots.compute_snapshot(session, campaign, None, include_flagged=True)
    rows = {r.unit_id: r for r in snapshot.rows}
    assert rows[b.id].n == 36 and rows[a.id].n == 40
    reference = engine_reference(session, campaign, snapshot.params, include_flagged=True)
    assert rows[b.id].index == reference.index[list(reference.units).index(b.id)]


def test_index_matches_a_hand_calculation_without_weighting(session, make):
    unit = make.unit(code="H1")
    campaign = make.campaign(units=[unit])
    groups = make.groups()
    campaign.analysis_settings = {"method": "none", "min_n": 1, "min_n_eff": 1}
    # Q1 has weight 2 in the window template, Q2–Q5 weight 1; scores 0/25/50/75/100.
    add_response(session, campaign, {unit: [5, 4, 3, "dk", 5]}, groups["QY"])
    add_response(session, campaign, {unit: [3, 4, 5, 2, None]}, groups["SM"])
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    row = snapshot.rows[0]
    q_means = [(100 + 50) / 2, (75 + 75) / 2, (50 + 100) / 2, 25 / 1, 100 / 1]
    expected = (2 * q_means[0] + sum(q_means[1:])) / 6
    assert row.index == pytest.approx(expected, abs=1e-12)
    # 满意率: answers at 基本满意 or above among the 8 valid answers (不了解 and unasked left out)
    assert row.satisfied_rate == pytest.approx(7 / 8, abs=1e-12)
    assert row.detail["questions"][3]["dont_know"] == pytest.approx(0.5)
    assert snapshot.summary["overall_satisfied_rate"] == pytest.approx(7 / 8)


def test_appraisal_answers_belong_to_each_rated_unit(session, make):
    units = [make.unit(code=f"D{i}") for i in range(3)]
    campaign = make.campaign(units=units, kind="appraisal", period="2026")
    groups = make.groups()
    for i in range(12):
        add_response(session, campaign, {units[0]: [5, 4, 4, 5], units[1]: [2, 3, "dk", 3]}, groups["SM"])
    add_response(session, campaign, {units[2]: [4, 4, 4, 4]}, groups["QY"])
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    rows = {r.unit_id: r for r in snapshot.rows}
    assert rows[units[0].id].n == 12 and rows[units[1].id].n == 12 and rows[units[2].id].n == 1
    assert "n_lt_2" in rows[units[2].id].flags and rows[units[2].id].rank is None
    reference = engine_reference(session, campaign, snapshot.params)
    for i, unit_id in enumerate(reference.units.tolist()):
        same = rows[unit_id].index == reference.index[i] or (rows[unit_id].index is None and math.isnan(reference.index[i]))
        assert same


def test_duplicate_answer_is_refused_with_a_clear_message(session, period):
    campaign, a, *_ = period
    answer = session.scalar(select(Answer).where(Answer.campaign_id == campaign.id, Answer.unit_id == a.id,
                                                 Answer.level.is_not(None)).limit(1))
    session.add(Answer(response_id=answer.response_id, campaign_id=campaign.id, unit_id=a.id,
                       question_id=answer.question_id, level=3))
    session.commit()
    with pytest.raises(snapshots.ResultsError, match="answered twice"):
        snapshots.compute_snapshot(session, campaign, None)


def test_verification_reproduces_exactly_and_detects_a_changed_answer(session, period):
    campaign, a, _b, groups, _excluded, flagged = period
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    # later events must not change the frozen result: a new response, a newly excluded response
    add_response(session, campaign, {a: [1, 1, 1, 1, 1]}, groups["SM"])
    first_valid = session.scalar(select(Answer).where(Answer.campaign_id == campaign.id)).response
    first_valid.status = ResponseStatus.EXCLUDED
    session.commit()
    outcome = snapshots.verify(session, snapshot, None)
    assert outcome.identical and outcome.digest_matches, outcome.differences
    answer = session.scalar(select(Answer).where(Answer.response_id == flagged.id - 3, Answer.level.is_not(None))
                            .limit(1))
    answer.level = 1 if answer.level != 1 else 5
    session.commit()
    outcome = snapshots.verify(session, snapshot, None)
    assert not outcome.identical and not outcome.digest_matches
    assert any("index" in d for d in outcome.differences)
    session.commit()
    last = snapshots.last_verification(session, snapshot)
    assert last.detail["identical"] is False and last.detail["n_differences"] == len(outcome.differences)


def test_stored_floats_round_trip_exactly(session, period):
    campaign, *_ = period
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    session.expire_all()
    again = session.get(Snapshot, snapshot.id)
    evaluation = snapshots.evaluate(session, again.params)
    stored = {r.unit_id: r for r in session.scalars(select(SnapshotRow).where(SnapshotRow.snapshot_id == again.id))}
    for fresh in evaluation.rows:
        row = stored[fresh.unit_id]
        assert row.index.hex() == float(fresh.index).hex()
        assert row.detail == fresh.detail


def test_publishing_supersedes_and_public_needs_the_campaign_opt_in(session, period):
    campaign, *_ = period
    first = snapshots.compute_snapshot(session, campaign, None)
    snapshots.publish(session, first, None)
    second = snapshots.compute_snapshot(session, campaign, None)
    # a second official result is a correction: without a reason nothing changes
    with pytest.raises(snapshots.ResultsError, match="更正原因"):
        snapshots.publish(session, second, None, reason="  ")
    assert first.status == SnapshotStatus.OFFICIAL and second.status == SnapshotStatus.DRAFT
    assert snapshots.review(session, second).replaces == first
    snapshots.publish(session, second, None, reason="第2局的答卷漏计")
    session.commit()
    assert first.status == SnapshotStatus.SUPERSEDED and second.status == SnapshotStatus.OFFICIAL
    assert second.corrects_id == first.id and second.correction_reason == "第2局的答卷漏计"
    assert snapshots.corrected_by(session, first) == second and snapshots.corrected_by(session, second) is None
    with pytest.raises(snapshots.ResultsError, match="向公众公布"):
        snapshots.set_public(session, second, None, True)
    campaign.public_results = True
    snapshots.set_public(session, second, None, True)
    with pytest.raises(snapshots.ResultsError):
        snapshots.publish(session, first, None)
    session.commit()
    entries = list(session.scalars(select(AuditLog).where(AuditLog.action.like("results.%")).order_by(AuditLog.id)))
    actions = [e.action for e in entries]
    assert actions.count("results.publish") == 1 and actions.count("results.correct") == 1
    assert "results.public" in actions
    correct = next(e for e in entries if e.action == "results.correct")
    assert correct.detail["reason"] == "第2局的答卷漏计" and correct.detail["superseded"] == [first.id]
    assert "第2局的答卷漏计" in correct.summary


def test_the_review_lists_what_becomes_official_and_every_warning(session, make):
    """Ungraded units, sanctions, overrides (when the snapshot stores any) and flags are all listed."""
    category = make.category(code="ZF", name="政府口机关")
    units = [make.unit(code=f"R{i}", name=f"第{i}局", category=category) for i in range(1, 4)]
    campaign = make.campaign(units=units, period="2026Q4")
    groups = make.groups()
    fill(session, campaign, units[0], groups, 60, 5, seed=1)
    fill(session, campaign, units[1], groups, 60, 1, seed=2)
    fill(session, campaign, units[2], groups, 2, 3, seed=3)  # too few to rank
    component.save(session, campaign, None, {"weights": {"survey": "1"}, "points": "20", "grading": "thresholds",
                                             "thresholds": {"excellent": "85", "good": "75", "pass": "60"}})
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    review = snapshots.review(session, snapshot)
    assert review.units == 3 and review.campaign == campaign and not review.public_allowed
    assert review.replaces is None and not review.is_correction
    kinds = {w.kind: w for w in review.warnings}
    assert [u.split("：")[0] for u in kinds["ungraded"].units] == ["第3局（R3）"]
    assert kinds["sanction"].units == ["第2局（R2）"] and "诫勉" in kinds["sanction"].text
    assert "override" not in kinds
    flagged = {w.text: w.units for w in review.warnings if w.kind == "flag"}
    assert any("样本量不足" in text and units == ["第3局（R3）"] for text, units in flagged.items())
    # an override stored by the analyst (detail key) is listed with its reason
    row = next(r for r in snapshot.rows if r.unit_id == units[0].id)
    session.execute(SnapshotRow.__table__.update().where(SnapshotRow.id == row.id)
                    .values(detail=dict(row.detail, override={"reason": "窗口整改已验收"})))
    session.expire_all()
    kinds = {w.kind: w for w in snapshots.review(session, session.get(Snapshot, snapshot.id)).warnings}
    assert kinds["override"].units == ["第1局（R1）：窗口整改已验收"]


def test_trend_against_the_previous_period_of_the_series(session, make):
    unit = make.unit(code="T1")
    questionnaire = make.questionnaire()
    groups = make.groups()
    before = make.campaign(units=[unit], questionnaire=questionnaire, period="2026Q3")
    now = make.campaign(units=[unit], questionnaire=questionnaire, period="2026Q4")
    fill(session, before, unit, groups, 60, 3, seed=5)
    fill(session, now, unit, groups, 60, 4, seed=6)
    session.commit()
    previous = snapshots.compute_snapshot(session, before, None)
    snapshots.publish(session, previous, None)
    current = snapshots.compute_snapshot(session, now, None)
    session.commit()
    trend = current.rows[0].detail["trend"]
    assert current.params["previous_snapshot_id"] == previous.id
    assert trend["difference"] == pytest.approx(current.rows[0].index - previous.rows[0].index)
    expected_se = math.hypot(current.rows[0].index_se, previous.rows[0].index_se)
    assert trend["se"] == pytest.approx(expected_se) and trend["p_value"] < 0.05
    assert snapshots.previous_period("2026Q1") == "2025Q4" and snapshots.previous_period("2026-01") == "2025-12"
    assert snapshots.previous_period("2026") == "2025" and snapshots.previous_period("秋季") is None


def test_weighting_settings_are_validated_field_by_field(session, period):
    campaign, *_ = period
    with pytest.raises(DomainError) as caught:
        weighting.save(session, campaign, None, {
            "method": "rake", "rake_margins": ["channel"], "channel_shares": {"poster": "0.5"},
            "level_scores": [0, 50, 25, 75, 100], "confidence": "1.5", "trim_k": "0.5",
            "group_shares": {"QY": "-1"},
        })
    errors = caught.value.errors
    assert {"confidence", "trim_k", "level_scores", "group_QY"} <= set(errors)
    assert any(k.startswith("channel_") for k in errors)
    assert campaign.analysis_settings in ({}, None)
    saved = weighting.save(session, campaign, None, {"method": "rake", "rake_margins": ["group", "channel"],
                                                             "channel_shares": {c: "1" for c in campaign.channels}})
    session.commit()
    assert saved["method"] == "rake" and campaign.analysis_settings["channel_shares"]["poster"] == 1.0
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "results.settings"))
    assert entry.detail["after"]["method"] == "rake" and entry.detail["before"]["method"] == "poststratify"
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    assert snapshot.params["survey"]["params"]["method"] == "rake"
    assert len(snapshot.params["survey"]["params"]["targets"]["channel"]) == len(snapshot.params["survey"]["layout"]["channels"])


def test_a_group_with_answers_but_no_share_is_an_error_not_a_silent_drop(session, period):
    campaign, _a, _b, groups, *_ = period
    groups["QY"].active = False
    groups["QY"].target_share = 0.0
    session.commit()
    with pytest.raises(snapshots.ResultsError, match="企业代表"):
        snapshots.compute_snapshot(session, campaign, None)


def test_loading_packs_answers_and_counts_comments(session, make):
    unit = make.unit(code="P1")
    campaign = make.campaign(units=[unit])
    groups = make.groups()
    response = add_response(session, campaign, {unit: [5, "dk", None, 1, 3]}, groups["FW"], channel=Channel.DESK,
                            comments={unit: "很好"})
    session.commit()
    questions = [q.id for q in satisfaction_questions(campaign)]
    cutoff = loading.current_cutoff(session, campaign.id, False)
    pairs = loading.load_pairs(session, cutoff, questions, [q.id for q in campaign.questionnaire.questions
                                                                 if q.is_comment])
    assert pairs.size == 1 and pairs.response[0] == response.id and pairs.unit[0] == unit.id
    assert pairs.levels()[0].tolist() == [5, 6, 0, 1, 3]
    assert pairs.comments[0] == 1 and pairs.group[0] == groups["FW"].id
    assert weighting.CHANNEL_ORDER[pairs.channel[0]] == "desk"


def test_a_campaign_without_responses_gives_flagged_rows_not_an_error(session, make):
    units = [make.unit(code="E1"), make.unit(code="E2")]
    campaign = make.campaign(units=units)
    make.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    assert [r.n for r in snapshot.rows] == [0, 0]
    assert all("no_responses" in r.flags and r.rank is None and r.index is None for r in snapshot.rows)
    assert snapshot.summary["responses"] == 0 and snapshot.summary["overall_satisfied_rate"] is None
    assert snapshots.verify(session, snapshot, None).identical


def test_a_stored_snapshot_cannot_be_changed_only_published(session, period):
    campaign, *_ = period
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    snapshot.summary = dict(snapshot.summary, responses=1)
    with pytest.raises(snapshots.FrozenSnapshotError, match="summary"):
        session.flush()
    session.rollback()
    row = session.scalars(select(SnapshotRow).where(SnapshotRow.snapshot_id == snapshot.id)).first()
    row.index = 99.0
    with pytest.raises(snapshots.FrozenSnapshotError):
        session.flush()
    session.rollback()
    snapshots.publish(session, session.get(Snapshot, snapshot.id), None)
    session.commit()  # publication is the one change a snapshot accepts
    assert session.get(Snapshot, snapshot.id).status == SnapshotStatus.OFFICIAL
    assert snapshots.verify(session, session.get(Snapshot, snapshot.id), None).identical


def test_periods_of_every_shape_have_a_previous_one():
    assert snapshots.previous_period("2026H1") == "2025H2" and snapshots.previous_period("2026H2") == "2026H1"
    assert snapshots.previous_period("2026Q3") == "2026Q2" and snapshots.previous_period("2026-07") == "2026-06"
    assert snapshots.is_period("2026H1") and not snapshots.is_period("2026 Q1") and not snapshots.is_period("x" * 17)
    assert not snapshots.is_period("\x00") and not snapshots.is_period("")


def test_snapshots_from_before_thin_cells_replay_uncollapsed_and_new_ones_store_the_rule():
    from analysis import Params
    from survey.services.results.evaluation import stored_params

    current = Params(targets={"group": (0.5, 0.5)}).to_dict()
    assert current["min_cell_n"] == 5 and stored_params(current).min_cell_n == 5
    legacy = {k: v for k, v in current.items() if k not in ("min_cell_n", "collapse_into")}
    assert stored_params(legacy).min_cell_n == 1
    assert stored_params({**legacy, "min_cell_n": 3}).min_cell_n == 3


@pytest.mark.parametrize("channels", [True, False])
@pytest.mark.parametrize("ordered", [True, False])
def test_the_table_built_from_the_pairs_is_the_records_table(channels, ordered) -> None:
    """The respondent–unit table is built from the pair table directly: the same arrays, in the same order
    and layout, as pivoting the pairs' records (a response rating two units, 不了解, a pair without a
    group or without answers, a unit not listed); the records' way decides what it must refuse."""
    from analysis.weighting import index_sample
    from survey.services.results import breakdowns as stored_breakdowns
    from survey.services.results.evaluation import _pair_sample

    rng = np.random.default_rng(7)
    n = 60
    response = np.repeat(np.arange(100, 100 + n // 2), 2)
    unit = rng.choice([10, 20, 30, 40], n)
    unit[1::2] = np.where(unit[1::2] == unit[0::2], 50, unit[1::2])  # a response rates two different units
    levels = rng.choice([0, 1, 2, 3, 4, 5, 6], (n, 3), p=[0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.1])
    levels[5] = 0  # a pair without answers
    packed = (levels << (np.arange(3) * loading.BITS)).sum(axis=1).astype(np.int64)
    group = rng.choice([1, 2, 3, loading.NO_GROUP], n, p=[0.4, 0.3, 0.2, 0.1])
    channel = rng.integers(0, 3, n).astype(np.int8)
    if not ordered:
        shuffle = rng.permutation(n)
        response, unit, packed, group, channel = (a[shuffle] for a in (response, unit, packed, group, channel))
    pairs = loading.PairTable(response=response, unit=unit, packed=packed, group=group, channel=channel,
                              comments=np.zeros(n, dtype=np.int64), n_questions=3)
    layout = weighting.Layout((1, 2, 3), ("Q1", "Q2", "Q3"), (1, 2, 3), ("poster", "desk", "web"))
    params = Params(targets={"group": (0.5, 0.3, 0.2)}, min_cell_n=1)
    units = np.array([10, 20, 40, 50])  # 30 is not listed
    sample, used = _pair_sample(pairs, layout, params, units, None, None, channels)
    answers, used_before = pairs.answers(layout.group_ids, None, None)
    known = np.isin(answers.unit, units)
    answers = Answers(answers.respondent[known], answers.unit[known], answers.question[known], answers.level[known],
                      {k: v[known] for k, v in answers.margins.items()})
    if channels:
        answers = stored_breakdowns.with_channels(pairs, answers, used_before, units)
    before = index_sample(answers, params, units, 3)
    np.testing.assert_array_equal(used, used_before)
    for name in ("units", "unit", "respondent", "design_weight", "level", "asked"):
        a, b = getattr(sample, name), getattr(before, name)
        assert a.dtype == b.dtype and a.flags.c_contiguous == b.flags.c_contiguous, name
        np.testing.assert_array_equal(a, b)
    assert sample.margin_sizes == before.margin_sizes and list(sample.margins) == list(before.margins)
    for name, codes in before.margins.items():
        assert sample.margins[name].dtype == codes.dtype
        np.testing.assert_array_equal(sample.margins[name], codes)
    # a pair twice, or a level out of range: the records' way (which refuses them)
    twice = pairs.subset(np.r_[np.arange(n), 0])
    assert _pair_sample(twice, layout, params, units, None, None, channels) is None
    bad = pairs.subset(np.arange(n))
    bad.packed = bad.packed.copy()
    bad.packed[0] = 7
    assert _pair_sample(bad, layout, params, units, None, None, channels) is None
