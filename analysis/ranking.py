"""Rankings that carry their uncertainty (排名), period comparisons and 功效系数法.

The bottom of a ranking is publicly criticised (通报批评), so a rank is
reported with an interval, and two units whose confidence intervals overlap
are not presented as clearly different.

Model: each unit's estimate is normal with its standard error, units
independent (they are separate samples).  Rank 1 is the best (highest score).

* ``expected_rank`` and :func:`pairwise_probabilities` are exact (normal CDF
  of differences);
* rank intervals and the probability of being in the bottom k are Monte
  Carlo: ``n_sim`` joint draws from a generator seeded with ``seed``, so the
  same inputs give the same numbers (for a given NumPy version).  The exact
  distribution of a rank is a Poisson-binomial mixture that costs O(N³) per
  unit, too much for hundreds of units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.ci import check_level, z_value
from analysis.segments import safe_divide

#: Seed of the rank simulation unless the caller gives one.
DEFAULT_SEED = 20_240_601
_BATCH = 2_000


@dataclass(frozen=True)
class RankIntervals:
    """Per unit (input order): rank interval, exact expected rank, probability of being in the bottom k.

    Units with a missing estimate or SE are not ranked (NaN everywhere); the
    others are ranked among themselves, 1 … ``n_ranked``.
    """

    rank: np.ndarray
    rank_low: np.ndarray
    rank_high: np.ndarray
    expected_rank: np.ndarray
    p_bottom: np.ndarray
    level: float
    bottom_k: int
    n_sim: int
    seed: int


def rank_intervals(
    estimate: np.ndarray,
    se: np.ndarray,
    level: float = 0.90,
    bottom_k: int = 1,
    n_sim: int = 10_000,
    seed: int = DEFAULT_SEED,
) -> RankIntervals:
    """Rank of every unit with a ``level`` interval of its rank and P(rank among the bottom ``bottom_k``).

    ``rank`` is the rank of the point estimate (ties share the best rank).
    The interval runs from the ``(1 - level)/2`` to the ``(1 + level)/2``
    quantile of the simulated ranks.  Simulation proceeds in batches, so
    memory stays bounded for any ``n_sim``.
    """
    check_level(level)
    estimate = np.asarray(estimate, dtype=np.float64)
    se = np.asarray(se, dtype=np.float64)
    if estimate.shape != se.shape or estimate.ndim != 1:
        raise ValueError("estimate and se must be 1-D arrays of the same length")
    if np.any(se < 0):
        raise ValueError("standard errors must be non-negative")
    if n_sim < 1 or bottom_k < 0:
        raise ValueError("n_sim must be positive and bottom_k non-negative")
    ok = np.isfinite(estimate) & np.isfinite(se)
    mu, sigma = estimate[ok], se[ok]
    m = mu.size
    counts = np.zeros((m, m), dtype=np.int64)
    rng = np.random.default_rng(seed)
    positions = np.arange(1, m + 1)
    for start in range(0, n_sim, _BATCH):
        draws = mu + sigma * rng.standard_normal((min(_BATCH, n_sim - start), m))
        order = np.argsort(-draws, axis=1, kind="stable")
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, positions, axis=1)
        counts += np.bincount((np.arange(m) * m + ranks - 1).reshape(-1), minlength=m * m).reshape(m, m)
    cumulative = np.cumsum(counts, axis=1)
    alpha = 1.0 - level
    names = ("rank", "rank_low", "rank_high", "expected_rank", "p_bottom")
    out = {name: np.full(estimate.size, np.nan) for name in names}
    if m:
        out["rank"][ok] = 1 + (mu[None, :] > mu[:, None]).sum(axis=1)
        out["rank_low"][ok] = 1 + np.argmax(cumulative >= alpha / 2 * n_sim, axis=1)
        out["rank_high"][ok] = 1 + np.argmax(cumulative >= (1 - alpha / 2) * n_sim, axis=1)
        out["expected_rank"][ok] = 1 + pairwise_probabilities(mu, sigma).sum(axis=0) - 0.5
        out["p_bottom"][ok] = counts[:, max(m - bottom_k, 0) :].sum(axis=1) / n_sim
    return RankIntervals(**out, level=level, bottom_k=bottom_k, n_sim=n_sim, seed=seed)


def pairwise_probabilities(estimate: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Matrix ``P[i, j]`` = probability that unit i's true score exceeds unit j's (exact, normal model).

    ``Phi((mu_i - mu_j) / sqrt(se_i^2 + se_j^2))``; with both SEs 0 it is 1, 0
    or 0.5 for a tie, which is also the diagonal.
    """
    from scipy import special

    mu = np.asarray(estimate, dtype=np.float64)
    sigma = np.asarray(se, dtype=np.float64)
    difference = mu[:, None] - mu[None, :]
    scale = np.sqrt(sigma[:, None] ** 2 + sigma[None, :] ** 2)
    return special.ndtr(_standardise(difference, scale))


@dataclass(frozen=True)
class Difference:
    """Test of ``current - previous`` for two independent estimates (e.g. one unit, two periods)."""

    difference: np.ndarray
    se: np.ndarray
    z: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def compare_estimates(
    current: np.ndarray,
    current_se: np.ndarray,
    previous: np.ndarray,
    previous_se: np.ndarray,
    level: float = 0.95,
) -> Difference:
    """Difference of two independent estimates: SE ``sqrt(se1^2 + se2^2)``, z, two-sided p, normal CI.

    Vectorised over units.  With SE 0, z is ±inf (p = 0) for a non-zero
    difference and 0 (p = 1) for none.
    """
    from scipy import special

    current, previous = np.asarray(current, dtype=np.float64), np.asarray(previous, dtype=np.float64)
    difference = current - previous
    se = np.sqrt(np.asarray(current_se, dtype=np.float64) ** 2 + np.asarray(previous_se, dtype=np.float64) ** 2)
    z = _standardise(difference, se)
    p_value = 2.0 * special.ndtr(-np.abs(z))
    half = z_value(level) * se
    return Difference(difference, se, z, p_value, difference - half, difference + half)


def _standardise(difference: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``difference / scale``; for scale 0: +inf, -inf or 0 by the sign of the difference; NaN stays NaN."""
    degenerate = np.where(difference > 0, np.inf, np.where(difference < 0, -np.inf, 0.0))
    z = np.where(scale > 0, safe_divide(difference, scale, 0.0), degenerate)
    return np.where(np.isnan(difference) | np.isnan(scale), np.nan, z)


def intervals_overlap(low_a: np.ndarray, high_a: np.ndarray, low_b: np.ndarray, high_b: np.ndarray) -> np.ndarray:
    """Whether interval a and interval b share a point; a missing bound counts as overlapping."""
    low_a, high_a, low_b, high_b = (np.asarray(v, dtype=np.float64) for v in (low_a, high_a, low_b, high_b))
    separate = (high_a < low_b) | (high_b < low_a)
    return ~separate


def clearly_ordered(low_a: np.ndarray, high_a: np.ndarray, low_b: np.ndarray, high_b: np.ndarray) -> np.ndarray:
    """Whether two units may be presented as different: their confidence intervals do not overlap."""
    return ~intervals_overlap(low_a, high_a, low_b, high_b)


def overlap_matrix(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``M[i, j]``: the intervals of units i and j overlap (the diagonal is True)."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    return intervals_overlap(low[:, None], high[:, None], low[None, :], high[None, :])


def efficacy_scores(values: np.ndarray, floor: float = 60.0, span: float = 40.0) -> np.ndarray:
    """功效系数法: ``floor + span * (x - min) / (max - min)`` over the non-missing values.

    Missing values stay NaN.  When every value is equal (max == min) the
    formula is 0/0; all units then get ``floor + span`` (100): no unit falls
    short of the best, and the method's top score is what the best unit
    always receives.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    out = np.full(values.shape, np.nan)
    if not finite.any():
        return out
    low, high = values[finite].min(), values[finite].max()
    if high == low:
        out[finite] = floor + span
    else:
        out[finite] = floor + span * (values[finite] - low) / (high - low)
    return out
