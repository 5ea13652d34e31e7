"""Honest intervals: index intervals within the score scale, the 满意率 interval at 0 or 1 on respondents."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import Answers, Params, bounded_ci, compute_indices, overall_rate

# R 4.x, survey 4.1.1, to 17 digits:
#   d <- data.frame(y = c(0,25,50,75,100,100,100,75,100,100)/100, g = c(1,1,1,1,2,2,2,2,2,2), w = 1)
#   des <- postStratify(svydesign(ids = ~1, weights = ~w, data = d), ~g, data.frame(g = 1:2, Freq = c(5, 5)))
#   r <- svyciprop(~y, des, method = "logit", df = Inf); c(coef(r), SE(r), attr(r, "ci"))
R_LOGIT = (0.66666666666666652, 0.07633626133259791, 0.50496826832458375, 0.79680123749977694)
#   qbeta(0.025, 30, 1): Korn–Graubard lower bound for 30 of 30 (svyciprop(method = "beta") gives NaN there)
R_KG_30_OF_30 = 0.88429669177797221


def one_question(levels: list[int], groups: list[int], unit: int = 1) -> Answers:
    n = len(levels)
    return Answers(respondent=np.arange(n), unit=np.full(n, unit), question=np.zeros(n, dtype=np.int64),
                   level=np.asarray(levels, dtype=float), margins={"group": np.asarray(groups)})


def test_index_interval_is_rs_logit_interval_on_the_rescaled_index() -> None:
    answers = one_question([1, 2, 3, 4, 5, 5, 5, 4, 5, 5], [0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    r = compute_indices(answers, Params(targets={"group": (0.5, 0.5)}, min_cell_n=1))
    assert r.index[0] == pytest.approx(100 * R_LOGIT[0], rel=1e-12)
    assert r.index_se[0] == pytest.approx(100 * R_LOGIT[1], rel=1e-12)
    assert r.index_ci_low[0] == pytest.approx(100 * R_LOGIT[2], rel=1e-12)
    assert r.index_ci_high[0] == pytest.approx(100 * R_LOGIT[3], rel=1e-12)
    # the question mean of a one-question unit is the index, with the same interval
    assert r.questions.mean_ci_low[0, 0] == r.index_ci_low[0]
    assert r.questions.mean_ci_high[0, 0] == r.index_ci_high[0]


def test_index_interval_never_leaves_the_scale() -> None:
    # n = 5, nearly all 非常满意: the normal interval would run past 100 (the 20.69–100.97).
    answers = one_question([5, 5, 5, 5, 1], [0, 0, 1, 1, 1])
    r = compute_indices(answers, Params(targets={"group": (0.5, 0.5)}, min_cell_n=1))
    z = 1.959963984540054
    assert r.index[0] + z * r.index_se[0] > 100  # what the plain normal interval would say
    assert 0 < r.index_ci_low[0] < r.index[0] < r.index_ci_high[0] < 100
    # on another scale (20 … 100, reversed order of levels allowed) the bounds are that scale's
    params = Params(targets={"group": (0.5, 0.5)}, min_cell_n=1, scores=(100, 80, 60, 40, 20))
    r = compute_indices(one_question([1, 1, 1, 1, 5], [0, 0, 1, 1, 1]), params)
    assert 20 < r.index_ci_low[0] < r.index[0] < r.index_ci_high[0] < 100


def test_bounded_ci_at_the_ends_of_the_scale_truncates() -> None:
    low, high = bounded_ci(np.array([100.0, 0.0, 50.0, np.nan]), np.array([0.0, 3.0, np.nan, 1.0]), 0.95, 0.0, 100.0)
    assert low[0] == high[0] == 100.0
    assert low[1] == 0.0 and high[1] == pytest.approx(1.959963984540054 * 3.0)
    assert np.isnan(low[2:]).all() and np.isnan(high[2:]).all()
    low, high = bounded_ci(np.array([5.0]), np.array([0.0]), 0.95, 5.0, 5.0)  # every level scores 5
    assert low[0] == high[0] == 5.0


def test_rate_at_one_uses_respondents_not_answers_as_effective_n() -> None:
    # 30 respondents, three questions each, all satisfied: 90 answers, 30 respondents.
    n = 30
    answers = Answers(respondent=np.repeat(np.arange(n), 3), unit=np.ones(3 * n, dtype=np.int64),
                      question=np.tile([0, 1, 2], n), level=np.full(3 * n, 5.0),
                      margins={"group": np.repeat(np.arange(n) % 2, 3)})
    r = compute_indices(answers, Params(targets={"group": (0.5, 0.5)}))
    assert r.satisfied_rate[0] == 1.0 and r.satisfied_rate_se[0] == 0.0
    assert r.satisfied_rate_ci_low[0] == pytest.approx(R_KG_30_OF_30, rel=1e-12)  # not 0.976 (90 answers)
    assert r.satisfied_rate_ci_high[0] == 1.0
    # the per-question shares: 30 answers each, from 30 respondents
    np.testing.assert_allclose(r.questions.kg_low[0], R_KG_30_OF_30, rtol=1e-12)


def test_rate_at_zero_counts_only_respondents_who_answered() -> None:
    # 10 respondents all 非常不满意, 5 more answered only 不了解: n* = 10, upper = 1 - 0.025^(1/10).
    levels = [1.0] * 10 + [np.nan] * 5
    answers = one_question(levels, [0, 1] * 7 + [0])
    r = compute_indices(answers, Params(targets={"group": (0.5, 0.5)}))
    assert r.satisfied_rate[0] == 0.0 and r.satisfied_rate_ci_low[0] == 0.0
    assert r.satisfied_rate_ci_high[0] == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-12)


def test_overall_rate_pools_the_units_weighted_answers() -> None:
    # unit 1: group 0 (2 respondents) all satisfied, group 1 (2) none; targets 0.25 / 0.75 -> rate 0.25.
    # unit 2: 2 respondents of group 0, satisfied, one of them answered two questions.
    answers = Answers(respondent=np.array([1, 2, 3, 4, 5, 6, 6]), unit=np.array([1, 1, 1, 1, 2, 2, 2]),
                      question=np.array([0, 0, 0, 0, 0, 0, 1]), level=np.array([5, 4, 1, 2, 5, 5, 4.0]),
                      margins={"group": np.array([0, 0, 1, 1, 0, 0, 0])})
    r = compute_indices(answers, Params(targets={"group": (0.25, 0.75)}, min_cell_n=1))
    np.testing.assert_allclose(r.satisfied_rate, [0.25, 1.0])
    np.testing.assert_allclose(r.answers_weight, [4.0, 3.0])  # weights sum to n; unit 2 has 3 answers
    assert overall_rate(r) == pytest.approx((0.25 * 4 + 1.0 * 3) / 7)  # the unweighted share would be 5/7
    assert overall_rate(r, np.array([0])) == pytest.approx(0.25)
    assert np.isnan(overall_rate(r, np.array([], dtype=np.intp)))


def test_legacy_settings_give_the_old_intervals() -> None:
    n = 30
    answers = Answers(respondent=np.repeat(np.arange(n), 3), unit=np.ones(3 * n, dtype=np.int64),
                      question=np.tile([0, 1, 2], n), level=np.full(3 * n, 5.0),
                      margins={"group": np.repeat(np.arange(n) % 2, 3)})
    old = Params(targets={"group": (0.5, 0.5)}, index_ci="normal", share_n_at_bounds="answers")
    r = compute_indices(answers, old)
    assert r.satisfied_rate_ci_low[0] == pytest.approx(0.025 ** (1 / 90), rel=1e-12)  # 0.976: 90 answers
    five = one_question([5, 5, 5, 5, 1], [0, 0, 1, 1, 1])
    r = compute_indices(five, Params(targets={"group": (0.5, 0.5)}, min_cell_n=1, index_ci="normal"))
    assert r.index_ci_high[0] == pytest.approx(r.index[0] + 1.959963984540054 * r.index_se[0]) and r.index_ci_high[0] > 100
    with pytest.raises(ValueError, match="index_ci must be one of"):
        Params(targets={"group": (1.0,)}, index_ci="probit")
    with pytest.raises(ValueError, match="share_n_at_bounds must be one of"):
        Params(targets={"group": (1.0,)}, share_n_at_bounds="rows")
