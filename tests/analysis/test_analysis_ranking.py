"""Rank intervals, period comparisons, interval overlap and 功效系数法."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis import (
    clearly_ordered,
    compare_estimates,
    efficacy_scores,
    intervals_overlap,
    overlap_matrix,
    pairwise_probabilities,
    rank_intervals,
)

EST = np.array([70.0, 65.0, 66.0, 80.0, np.nan, 50.0])
SE = np.array([1.0, 2.0, 2.0, 0.5, 1.0, 0.0])


def test_known_scores_have_exact_ranks() -> None:
    r = rank_intervals(np.array([3.0, 1.0, 2.0]), np.zeros(3), bottom_k=1)
    np.testing.assert_array_equal(r.rank, [1, 3, 2])
    np.testing.assert_array_equal(r.rank_low, [1, 3, 2])
    np.testing.assert_array_equal(r.rank_high, [1, 3, 2])
    np.testing.assert_array_equal(r.expected_rank, [1, 3, 2])
    np.testing.assert_array_equal(r.p_bottom, [0, 1, 0])


def test_rank_intervals_are_reproducible_and_sensible() -> None:
    a = rank_intervals(EST, SE, level=0.9, bottom_k=2)
    b = rank_intervals(EST, SE, level=0.9, bottom_k=2)
    for name in ("rank", "rank_low", "rank_high", "expected_rank", "p_bottom"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert np.isnan(a.rank[4]) and np.isnan(a.rank_low[4]) and np.isnan(a.p_bottom[4])
    ranked = ~np.isnan(a.rank)
    assert np.all(a.rank_low[ranked] <= a.rank[ranked]) and np.all(a.rank[ranked] <= a.rank_high[ranked])
    assert a.rank[3] == 1 and a.rank_high[3] == 1
    assert a.p_bottom[5] == 1.0
    assert np.nansum(a.p_bottom) == pytest.approx(2.0)
    other = rank_intervals(EST, SE, level=0.9, bottom_k=2, seed=7)
    np.testing.assert_allclose(other.p_bottom[ranked], a.p_bottom[ranked], atol=0.03)


def test_expected_rank_is_exact_and_matches_simulation() -> None:
    rng = np.random.default_rng(3)
    est, se = rng.normal(70, 3, 25), rng.uniform(0.5, 2, 25)
    r = rank_intervals(est, se, n_sim=20_000)
    p = pairwise_probabilities(est, se)
    np.testing.assert_allclose(p + p.T, 1.0)
    np.testing.assert_allclose(r.expected_rank, 1 + p.sum(axis=0) - 0.5)
    draws = est + se * np.random.default_rng(9).standard_normal((20_000, 25))
    ranks = 1 + (draws[:, None, :] > draws[:, :, None]).sum(axis=2)
    standard_error = ranks.std(axis=0) / np.sqrt(ranks.shape[0])
    assert np.all(np.abs(r.expected_rank - ranks.mean(axis=0)) <= 4.5 * standard_error + 1e-9)


def test_rank_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="same length"):
        rank_intervals(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="non-negative"):
        rank_intervals(np.zeros(2), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="confidence level"):
        rank_intervals(np.zeros(2), np.ones(2), level=90)


def test_difference_of_two_periods() -> None:
    se = np.array([1.0, 0.0, 0.0])
    d = compare_estimates(np.array([72.0, 70.0, 70.0]), se, np.array([70.0, 70.0, 69.0]), se)
    assert d.difference.tolist() == [2.0, 0.0, 1.0]
    assert d.se[0] == pytest.approx(np.sqrt(2))
    assert d.z[0] == pytest.approx(2 / np.sqrt(2))
    assert d.p_value[0] == pytest.approx(2 * stats.norm.sf(2 / np.sqrt(2)))
    half = 1.959963984540054 * np.sqrt(2)
    assert (d.ci_low[0], d.ci_high[0]) == pytest.approx((2 - half, 2 + half))
    assert (d.z[1], d.p_value[1]) == (0.0, 1.0)
    assert (d.z[2], d.p_value[2]) == (np.inf, 0.0)
    assert np.isnan(compare_estimates(np.nan, 1.0, 1.0, 1.0).p_value)


def test_overlap_and_clear_order() -> None:
    low, high = np.array([1.0, 2.5, 5.0, np.nan]), np.array([3.0, 4.0, 6.0, 1.0])
    assert intervals_overlap(low[0], high[0], low[1], high[1])
    assert clearly_ordered(low[0], high[0], low[2], high[2])
    assert not clearly_ordered(low[0], high[0], low[3], high[3])
    m = overlap_matrix(low, high)
    assert m.shape == (4, 4) and np.all(np.diag(m)) and np.array_equal(m, m.T)
    assert not m[0, 2] and m[0, 1]


def test_efficacy_coefficient_scores() -> None:
    np.testing.assert_allclose(efficacy_scores(np.array([50.0, 75.0, np.nan, 100.0])), [60.0, 80.0, np.nan, 100.0])
    np.testing.assert_allclose(efficacy_scores(np.array([70.0, 70.0, np.nan])), [100.0, 100.0, np.nan])
    assert np.isnan(efficacy_scores(np.array([np.nan, np.nan]))).all()
    np.testing.assert_allclose(efficacy_scores(np.array([1.0, 3.0]), floor=0, span=100), [0.0, 100.0])
