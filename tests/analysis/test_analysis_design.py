"""General designs and confidence intervals: formulas checked by hand and against SciPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis import Design, korn_graubard_ci, normal_ci, share_n_eff, wilson_ci

RNG = np.random.default_rng(11)
Y = RNG.normal(50, 10, 40)
W = RNG.uniform(1, 5, 40)


def test_unstratified_mean_by_hand() -> None:
    est = Design(W).mean(Y)
    mean = np.sum(W * Y) / W.sum()
    u = W * (Y - mean) / W.sum()
    assert est.estimate == pytest.approx(mean)
    assert est.se == pytest.approx(math.sqrt(40 / 39 * np.sum((u - u.mean()) ** 2)))
    assert Design(W).n_eff == pytest.approx(W.sum() ** 2 / np.sum(W**2))
    assert Design(W).deff_kish == pytest.approx(40 * np.sum(W**2) / W.sum() ** 2)
    low, high = est.ci(0.9)
    assert (low, high) == pytest.approx((mean - 1.6448536269514722 * est.se, mean + 1.6448536269514722 * est.se))


def test_fpc_as_fraction_or_population_size_agree() -> None:
    strata = np.repeat([0, 1], 20)
    by_size = Design(W, strata=strata, fpc=np.repeat([100.0, 400.0], 20)).mean(Y)
    by_fraction = Design(W, strata=strata, fpc=np.repeat([0.2, 0.05], 20)).mean(Y)
    without = Design(W, strata=strata).mean(Y)
    assert by_size.se == pytest.approx(by_fraction.se, rel=1e-12)
    assert by_size.se < without.se


def test_clusters_sum_to_psu_totals() -> None:
    clusters = np.repeat(np.arange(8), 5)
    design = Design(W, clusters=clusters)
    u = W * Y
    totals = np.bincount(clusters, weights=u)
    assert design.total(Y).se == pytest.approx(math.sqrt(8 / 7 * np.sum((totals - totals.mean()) ** 2)))
    assert design.degf == 7


def test_certainty_stratum_contributes_nothing() -> None:
    strata = np.array([0] * 39 + [1])
    fpc = np.array([200.0] * 39 + [1.0])
    with_certain = Design(W, strata=strata, fpc=fpc)
    assert math.isfinite(with_certain.mean(Y).se)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strata": np.array([0] * 39 + [1])}, "only one PSU"),
        ({"fpc": np.r_[np.full(39, 100.0), 99.0]}, "not constant"),
        ({"fpc": np.full(40, 10.0)}, "smaller than"),
        ({"strata": np.zeros(3)}, "one value per record"),
    ],
)
def test_bad_designs_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Design(W, **kwargs)


def test_bad_weights_are_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        Design(np.array([1.0, 0.0]))


def test_poststratify_needs_matching_levels() -> None:
    design = Design(W)
    levels = np.repeat(["a", "b"], 20)
    with pytest.raises(ValueError, match="no population count"):
        design.poststratify(levels, {"a": 10.0})
    with pytest.raises(ValueError, match="no sample"):
        design.poststratify(levels, {"a": 10.0, "b": 5.0, "c": 1.0})
    with pytest.raises(ValueError, match="positive"):
        design.poststratify(levels, {"a": 10.0, "b": 0.0})


def test_rake_needs_consistent_totals() -> None:
    a, b = np.repeat([0, 1], 20), np.tile([0, 1], 20)
    with pytest.raises(ValueError, match="different population totals"):
        Design(W).rake({"a": (a, {0: 10.0, 1: 10.0}), "b": (b, {0: 5.0, 1: 5.0})})
    raked = Design(W).rake({"a": (a, {0: 10.0, 1: 30.0}), "b": (b, {0: 25.0, 1: 15.0})})
    assert np.bincount(a, weights=raked.weights) == pytest.approx([10.0, 30.0])
    assert np.bincount(b, weights=raked.weights) == pytest.approx([25.0, 15.0])
    assert raked.rake_report.converged[0]


def test_trim_caps_and_keeps_the_total() -> None:
    trimmed = Design(W).trim(upper=3.0)
    assert trimmed.weights.max() <= 3.0 + 1e-12
    assert trimmed.weights.sum() == pytest.approx(W.sum())
    assert trimmed.trimmed == int(np.sum(np.isclose(trimmed.weights, 3.0)))
    assert Design(W).trim(k=1.2).trimmed > 0
    with pytest.raises(ValueError, match="cannot hold"):
        Design(W).trim(upper=1.0)


def test_ratio_rejects_a_zero_denominator() -> None:
    with pytest.raises(ValueError, match="denominator"):
        Design(W).ratio(Y, np.zeros(40))


def test_weights_are_read_only() -> None:
    with pytest.raises(ValueError):
        Design(W).weights[0] = 2.0


def test_share_korn_graubard_follows_r_svyciprop() -> None:
    y = (Y > 50).astype(float)
    design = Design(W)
    share = design.share(y, level=0.95)
    est = design.mean(y)
    n_eff = est.estimate * (1 - est.estimate) / est.se**2
    assert share.n_eff == pytest.approx(n_eff)
    assert share.ci_low == pytest.approx(stats.beta.ppf(0.025, n_eff * est.estimate, n_eff * (1 - est.estimate) + 1))
    assert share.ci_high == pytest.approx(stats.beta.ppf(0.975, n_eff * est.estimate + 1, n_eff * (1 - est.estimate)))
    clustered = Design(W, clusters=np.repeat(np.arange(10), 4)).share(y)
    adjust = (stats.t.ppf(0.025, 39) / stats.t.ppf(0.025, 9)) ** 2
    plain = clustered.estimate * (1 - clustered.estimate) / clustered.se**2
    assert clustered.n_eff == pytest.approx(plain * adjust)
    wilson = design.share(y, method="wilson")
    assert 0 <= wilson.ci_low < wilson.estimate < wilson.ci_high <= 1
    with pytest.raises(ValueError, match="0/1"):
        design.share(Y)


@pytest.mark.parametrize(("k", "n"), [(0, 20), (3, 20), (10, 20), (20, 20), (57, 130)])
def test_intervals_with_n_eff_equal_to_n_are_the_classical_ones(k: int, n: int) -> None:
    exact = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    assert korn_graubard_ci(np.float64(k / n), np.float64(n), 0.95) == pytest.approx((exact.low, exact.high), abs=1e-12)
    wilson = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    assert wilson_ci(np.float64(k / n), np.float64(n), 0.95) == pytest.approx((wilson.low, wilson.high), abs=1e-12)


def test_share_n_eff_falls_back_to_the_count_when_undefined() -> None:
    p = np.array([0.0, 1.0, 0.4, 0.4, np.nan])
    variance = np.array([0.0, 0.0, 0.0, 0.01, 0.01])
    np.testing.assert_allclose(share_n_eff(p, variance, np.array([7, 8, 9, 10, 11])), [7, 8, 9, 24, np.nan])


def test_missing_values_give_missing_intervals() -> None:
    low, high = korn_graubard_ci(np.array([np.nan, 0.5]), np.array([10.0, np.nan]), 0.95)
    assert np.isnan(low).all() and np.isnan(high).all()
    low, high = normal_ci(np.array([1.0]), np.array([np.nan]), 0.95)
    assert np.isnan(low[0])
    with pytest.raises(ValueError, match="confidence level"):
        normal_ci(np.array([1.0]), np.array([1.0]), 95)
