"""Invariants of the weighting and the estimates, on random samples (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import Answers, Design, Params, compute_indices, compute_weights
from analysis.segments import Segments

PROPERTY = settings(max_examples=60, deadline=None)


@st.composite
def samples(draw: st.DrawFn, max_respondents: int = 40) -> tuple[Answers, int, int]:
    """Answers of up to ``max_respondents`` respondents, each rating some of up to 4 units on every question."""
    n_units = draw(st.integers(1, 4))
    n_questions = draw(st.integers(1, 4))
    n_respondents = draw(st.integers(1, max_respondents))
    rated_units = st.lists(st.integers(0, n_units - 1), min_size=1, max_size=n_units, unique=True)
    rates = [draw(rated_units) for _ in range(n_respondents)]
    respondent = np.repeat(np.arange(n_respondents), [len(r) for r in rates])
    unit = np.concatenate([np.asarray(r) for r in rates])
    group = np.asarray(draw(st.lists(st.integers(0, 2), min_size=n_respondents, max_size=n_respondents)))[respondent]
    channel = np.asarray(draw(st.lists(st.integers(0, 1), min_size=n_respondents, max_size=n_respondents)))[respondent]
    rows = respondent.size
    level = np.asarray(draw(st.lists(st.integers(0, 5), min_size=rows * n_questions, max_size=rows * n_questions)))
    answers = Answers(
        respondent=np.repeat(respondent * 7 + 3, n_questions).astype(np.int64),
        unit=np.repeat(unit, n_questions),
        question=np.tile(np.arange(n_questions), rows),
        level=level,
        margins={"group": np.repeat(group, n_questions), "channel": np.repeat(channel, n_questions)},
    )
    return answers, n_units, n_questions


shares = st.tuples(*[st.floats(0.05, 1.0)] * 3)
channel_shares = st.tuples(*[st.floats(0.05, 1.0)] * 2)
methods = st.sampled_from(["poststratify", "rake", "none"])


def params(method: str, group: tuple, channel: tuple, **extra: object) -> Params:
    return Params(method=method, targets={"group": group, "channel": channel}, **extra)


@PROPERTY
@given(samples(), methods, shares, channel_shares, st.sampled_from([None, 1.5, 3.0]))
def test_weights_sum_to_n_in_every_unit(sample, method, group, channel, trim_k) -> None:
    answers = sample[0]
    weights = compute_weights(answers, params(method, group, channel, trim_k=trim_k))
    units = Segments(weights.unit, weights.units.size)
    ok = weights.rake_converged & weights.trim_feasible
    np.testing.assert_allclose(units.sum(weights.weight)[ok], units.counts[ok], rtol=1e-9)
    assert np.all(weights.weight[ok[weights.unit]] > 0)


@PROPERTY
@given(samples(), shares, channel_shares)
def test_raked_margins_hit_their_renormalised_targets(sample, group, channel) -> None:
    answers = sample[0]
    # Every level its own cell (min_cell_n = 1): the collapsed cells' targets are tested in test_thin_cells.py.
    p = params("rake", group, channel, rake_tol=1e-10, min_cell_n=1)
    weights = compute_weights(answers, p)
    n_units = weights.units.size
    units = Segments(weights.unit, n_units)
    ok = weights.rake_converged
    assert np.all(weights.rake_max_error[ok] <= 1e-10)
    for name, n_levels in (("group", 3), ("channel", 2)):
        codes = _row_codes(answers, weights, name)
        cells = Segments(weights.unit * n_levels + codes, n_units * n_levels)
        achieved = cells.sum(weights.weight).reshape(n_units, n_levels) / np.maximum(units.counts, 1)[:, None]
        target = np.nan_to_num(weights.target_shares[name])
        np.testing.assert_allclose(achieved[ok], target[ok], atol=1e-8)


def _row_codes(answers: Answers, weights, name: str) -> np.ndarray:
    """The margin code of each weight row, looked up from the records."""
    key = answers.unit.astype(np.int64) * 10**6 + answers.respondent
    lookup = dict(zip(key.tolist(), np.asarray(answers.margins[name]).tolist()))
    row_key = weights.units[weights.unit].astype(np.int64) * 10**6 + weights.respondent
    return np.array([lookup[k] for k in row_key.tolist()], dtype=np.intp)


@PROPERTY
@given(
    samples(),
    methods,
    shares,
    channel_shares,
    st.lists(st.floats(-50, 150), min_size=5, max_size=5),
    st.lists(st.floats(0, 3), min_size=4, max_size=4).filter(lambda a: max(a) > 0),
)
def test_index_lies_within_the_score_range(sample, method, group, channel, scores, weights) -> None:
    answers, _, n_questions = sample
    question_weights = tuple(weights[:n_questions]) if max(weights[:n_questions]) > 0 else None
    p = params(method, group, channel, scores=tuple(scores), question_weights=question_weights)
    results = compute_indices(answers, p)
    index = results.index[~np.isnan(results.index)]
    span = max(abs(s) for s in scores) * 1e-12
    assert np.all(index >= min(scores) - span) and np.all(index <= max(scores) + span)
    rate = results.satisfied_rate[~np.isnan(results.satisfied_rate)]
    assert np.all((rate >= 0) & (rate <= 1))
    means = results.questions.mean[~np.isnan(results.questions.mean)]
    assert np.all(means >= min(scores) - span) and np.all(means <= max(scores) + span)


NUMERIC_FIELDS = (
    "n", "n_eff", "index", "index_se", "satisfied_rate", "satisfied_rate_se", "dont_know_rate",
    "index_ci_low", "satisfied_rate_ci_high",
)


@PROPERTY
@given(samples(), methods, shares, channel_shares, st.integers(0, 2**32 - 1))
def test_permuting_respondents_changes_nothing(sample, method, group, channel, seed) -> None:
    answers = sample[0]
    p = params(method, group, channel)
    rng = np.random.default_rng(seed)
    order = rng.permutation(answers.respondent.size)
    ids = np.unique(answers.respondent)
    renamed = dict(zip(ids.tolist(), (rng.permutation(ids.size) * 11 + 5).tolist()))
    shuffled = Answers(
        respondent=np.array([renamed[r] for r in answers.respondent[order].tolist()], dtype=np.int64),
        unit=answers.unit[order],
        question=answers.question[order],
        level=answers.level[order],
        margins={k: v[order] for k, v in answers.margins.items()},
    )
    a, b = compute_indices(answers, p), compute_indices(shuffled, p)
    np.testing.assert_array_equal(a.units, b.units)
    np.testing.assert_array_equal(a.flags, b.flags)
    for name in NUMERIC_FIELDS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(a.questions.satisfied_share_se, b.questions.satisfied_share_se, rtol=1e-12, atol=1e-12)


@PROPERTY
@given(samples(), methods, shares, channel_shares, st.floats(0.01, 1000))
def test_scaling_base_weights_changes_no_mean(sample, method, group, channel, scale) -> None:
    answers = sample[0]
    p = params(method, group, channel)
    scaled = Answers(
        answers.respondent, answers.unit, answers.question, answers.level, answers.margins,
        design_weight=np.full(answers.respondent.size, scale),
    )
    a, b = compute_indices(answers, p), compute_indices(scaled, p)
    for name in ("index", "index_se", "satisfied_rate", "satisfied_rate_se", "n_eff"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(a.questions.mean, b.questions.mean, rtol=1e-9, atol=1e-12)


@PROPERTY
@given(
    st.lists(st.floats(0.5, 50), min_size=4, max_size=60),
    st.floats(0.01, 1000),
    st.integers(0, 2**32 - 1),
)
def test_design_means_ignore_the_scale_of_weights(weights, scale, seed) -> None:
    rng = np.random.default_rng(seed)
    w = np.asarray(weights)
    y = rng.normal(size=w.size)
    strata = np.arange(w.size) % 2
    stype = rng.integers(0, 2, w.size)
    stype[:2] = [0, 1]
    for design_of in (lambda v: Design(v, strata=strata), lambda v: Design(v).poststratify(stype, {0: 10.0, 1: 30.0})):
        a, b = design_of(w).mean(y), design_of(w * scale).mean(y)
        assert b.estimate == np.float64(a.estimate) or abs(b.estimate - a.estimate) <= 1e-9 * max(1.0, abs(a.estimate))
        assert abs(b.se - a.se) <= 1e-9 * max(1.0, a.se)


@PROPERTY
@given(st.lists(st.floats(0.5, 50), min_size=6, max_size=60), st.integers(0, 2**32 - 1))
def test_design_poststratification_hits_population_counts(weights, seed) -> None:
    rng = np.random.default_rng(seed)
    w = np.asarray(weights)
    cell = rng.integers(0, 3, w.size)
    cell[:3] = [0, 1, 2]
    design = Design(w).poststratify(cell, {0: 100.0, 1: 250.0, 2: 50.0})
    np.testing.assert_allclose(np.bincount(cell, weights=design.weights), [100.0, 250.0, 50.0], rtol=1e-12)
