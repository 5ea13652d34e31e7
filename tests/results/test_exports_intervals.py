"""Issue 13 item 3 in the app: the rank simulation's seed and draws belong to the snapshot; the overall rate."""
from __future__ import annotations

import copy

from analysis.ranking import DEFAULT_SEED
from survey.services.results import component, exports, snapshots
from survey.services.results.evaluation import evaluate


def test_rank_simulation_seed_and_draws_are_stored_and_used(session, computed, monkeypatch):
    snapshot = computed.snapshot
    assert snapshot.params["ranking"] == {"seed": DEFAULT_SEED, "draws": 10_000}
    stored = {r.unit_id: r.detail["p_bottom"] for r in snapshot.rows}
    spec = copy.deepcopy(snapshot.params)
    assert {r.unit_id: r.detail["p_bottom"] for r in evaluate(session, spec).rows} == stored
    legacy = {k: v for k, v in spec.items() if k != "ranking"}  # stored before the seed was: the defaults
    assert {r.unit_id: r.detail["p_bottom"] for r in evaluate(session, legacy).rows} == stored
    calls = []
    real = component.rank_intervals
    monkeypatch.setattr(component, "rank_intervals", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    spec["ranking"] = {"seed": 3, "draws": 40}
    fewer = {r.unit_id: r.detail["p_bottom"] for r in evaluate(session, spec).rows}
    assert calls and all(kw["seed"] == 3 and kw["n_sim"] == 40 for kw in calls)
    assert all(p is None or float(p * 40).is_integer() for p in fewer.values())
    params = {r[0]: r[1] for r in exports.parameter_rows(session, snapshot)}
    assert params["排名模拟次数"] == 10_000 and params["排名模拟随机种子"] == DEFAULT_SEED


def test_page_shows_the_snapshots_draws_not_a_constant(session, computed, client, auth, monkeypatch):
    auth.login_as("analyst")
    snapshot = computed.snapshot
    url = f"/admin/results/snapshots/{snapshot.id}"
    assert f"模拟 10000 次得出（随机种子 {DEFAULT_SEED}" in client.get(url).get_data(as_text=True)
    monkeypatch.setattr(snapshots, "RANKING", {"seed": 11, "draws": 2500})
    other = snapshots.compute_snapshot(session, computed.campaign, None)
    session.commit()
    assert other.params["ranking"] == {"seed": 11, "draws": 2500}
    assert "模拟 2500 次得出（随机种子 11" in client.get(f"/admin/results/snapshots/{other.id}").get_data(as_text=True)
    assert f"模拟 10000 次得出（随机种子 {DEFAULT_SEED}" in client.get(url).get_data(as_text=True)


def test_headline_overall_rate_is_weighted_and_the_unweighted_one_is_labelled(session, computed, client, auth):
    from analysis import overall_rate
    from survey.services.results import api_payloads

    snapshot = computed.snapshot
    summary = snapshot.summary
    rows = [r for r in snapshot.rows if r.satisfied_rate is not None]
    # the engine's pooled rate: each unit's rate by its weighted answers (the post-stratified weights sum to n)
    assert summary["overall_satisfied_rate_weighted"] is not None
    assert summary["overall_satisfied_rate"] == summary["satisfied_answers"] / summary["answers"]
    assert min(r.satisfied_rate for r in rows) <= summary["overall_satisfied_rate_weighted"] <= max(
        r.satisfied_rate for r in rows)
    assert callable(overall_rate)
    meta = api_payloads.snapshot_meta(snapshot, computed.campaign)
    assert meta["overall_satisfied_rate"] == summary["overall_satisfied_rate_weighted"]
    assert meta["overall_satisfied_rate_unweighted"] == summary["overall_satisfied_rate"]
    auth.login_as("analyst")
    html = client.get(f"/admin/results/snapshots/{snapshot.id}").get_data(as_text=True)
    assert "总体满意率（加权）" in html and "未加权 " in html
    # a snapshot stored before the weighted rate existed: the API says null, the page labels it unweighted
    legacy = {k: v for k, v in summary.items() if k != "overall_satisfied_rate_weighted"}
    assert api_payloads.overall_rates(legacy) == (None, summary["overall_satisfied_rate"])


def test_a_snapshot_stored_before_honest_intervals_replays_as_computed(session, computed):
    from analysis import normal_ci
    from survey.services.results.evaluation import stored_params

    spec = copy.deepcopy(computed.snapshot.params)
    current = spec["survey"]["params"]
    assert current["index_ci"] == "logit" and current["share_n_at_bounds"] == "respondents"
    assert stored_params(current).index_ci == "logit"
    for key in ("index_ci", "share_n_at_bounds"):
        del current[key]
    legacy = stored_params(current)
    assert legacy.index_ci == "normal" and legacy.share_n_at_bounds == "answers"
    rows = [r for r in evaluate(session, spec).rows if r.index_se]
    assert rows
    for row in rows:  # the old symmetric interval, as such a snapshot stored it
        low, high = normal_ci(row.index, row.index_se, legacy.confidence)
        assert (row.index_lo, row.index_hi) == (float(low), float(high))


def test_public_page_shows_the_weighted_overall_rate_and_labels_the_other(session, computed, client):
    snapshots.publish(session, computed.snapshot, None, public=True)
    session.commit()
    summary = computed.snapshot.summary
    html = client.get(f"/results/{computed.snapshot.id}").get_data(as_text=True)
    assert "总体满意率（加权）" in html
    assert f"{summary['overall_satisfied_rate_weighted'] * 100:.1f}%" in html
    assert f"未加权 {summary['overall_satisfied_rate'] * 100:.1f}%" in html
