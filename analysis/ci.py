"""Confidence intervals and effective sample sizes.

* means and indices on a bounded score scale: the logit interval on the
  estimate rescaled to 0–1 (:func:`bounded_ci`), as R's ``svyciprop(method =
  "logit", df = Inf)`` does for a proportion, so the interval never leaves the
  scale; plain normal intervals ``estimate ± z * SE`` (:func:`normal_ci`, R
  ``confint`` on ``svymean``/``svyratio`` with ``df = Inf``) for unbounded
  quantities;
* shares: Korn–Graubard (R ``svyciprop(method = "beta")``) and Wilson, both
  with the design-based effective sample size ``n* = p (1 - p) / Var(p)``.
  When that is undefined (``p`` is 0 or 1, or the variance is 0) the number of
  observations is used instead, as the NCHS guideline for Korn–Graubard does.

All functions are vectorised: inputs broadcast, NaN in gives NaN out.
"""

from __future__ import annotations

import numpy as np

from analysis.segments import Segments, safe_divide


def check_level(level: float) -> float:
    """Return ``level`` if it is a valid confidence level (strictly between 0 and 1), else raise ValueError."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must lie strictly between 0 and 1, got {level!r}")
    return level


def z_value(level: float) -> float:
    """Two-sided standard normal quantile for a confidence ``level``."""
    from scipy import special

    return float(special.ndtri(0.5 + check_level(level) / 2.0))


def normal_ci(estimate: np.ndarray, se: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """``estimate ± z * se``."""
    z = z_value(level)
    estimate, se = np.asarray(estimate, dtype=np.float64), np.asarray(se, dtype=np.float64)
    return estimate - z * se, estimate + z * se


def bounded_ci(
    estimate: np.ndarray, se: np.ndarray, level: float, low: float, high: float
) -> tuple[np.ndarray, np.ndarray]:
    """An interval for an estimate bounded by ``low`` and ``high`` (a mean of scores) that stays within them.

    The estimate is rescaled to p = (estimate - low) / (high - low), its SE to
    se_p = SE / (high - low); the interval is the normal one on the logit scale,
    logit(p) ± z * se_p / (p (1 - p)) (the delta method), mapped back:
    low + (high - low) * expit(·).  This is R's ``svyciprop(method = "logit",
    df = Inf)`` applied to the rescaled estimate; the interval is asymmetric
    near the ends of the scale and never crosses them.  At an end of the scale
    (p = 0 or 1, where the logit is infinite) the normal interval is truncated
    to [low, high] instead (it is the point itself when, as there, SE = 0);
    so is every interval of a scale whose scores are all equal.
    """
    from scipy import special

    z = z_value(level)
    estimate, se = np.broadcast_arrays(np.asarray(estimate, dtype=np.float64), np.asarray(se, dtype=np.float64))
    width = high - low
    if not width > 0:  # every level scores the same: nothing varies, truncation only
        return np.clip(estimate - z * se, low, high), np.clip(estimate + z * se, low, high)
    p = (estimate - low) / width
    inside = (p > 0) & (p < 1) & np.isfinite(se)
    q = np.where(inside, p, 0.5)
    centre = np.log(q / (1 - q))
    half = z * np.where(inside, se, 0.0) / width / (q * (1 - q))
    logit_low = low + width * special.expit(centre - half)
    logit_high = low + width * special.expit(centre + half)
    clipped_low = np.clip(estimate - z * se, low, high)
    clipped_high = np.clip(estimate + z * se, low, high)
    return np.where(inside, logit_low, clipped_low), np.where(inside, logit_high, clipped_high)


def kish_n_eff(w: np.ndarray, segments: Segments) -> np.ndarray:
    """Kish effective sample size ``(sum w)^2 / sum w^2`` of every segment (NaN when empty)."""
    s1 = segments.sum(w)
    s2 = segments.sum(w * w)
    return safe_divide(s1 * s1, s2)


def share_n_eff(p: np.ndarray, variance: np.ndarray, n_obs: np.ndarray) -> np.ndarray:
    """Effective sample size of a share: ``p (1 - p) / Var(p)``; ``n_obs`` where that is undefined."""
    p, variance, n_obs = np.broadcast_arrays(
        np.asarray(p, dtype=np.float64), np.asarray(variance, dtype=np.float64), np.asarray(n_obs, dtype=np.float64)
    )
    defined = (p > 0) & (p < 1) & (variance > 0)
    out = np.where(np.isnan(p) | np.isnan(variance), np.nan, n_obs)
    np.divide(p * (1 - p), variance, out=out, where=defined)
    return out


def korn_graubard_ci(p: np.ndarray, n_eff: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Korn–Graubard (Clopper–Pearson with effective n) interval, as R's ``svyciprop(method = "beta")``.

    lower = qbeta(alpha/2, n* p, n* (1 - p) + 1), upper = qbeta(1 - alpha/2, n* p + 1, n* (1 - p));
    the lower bound is 0 when p = 0 and the upper bound 1 when p = 1.
    """
    from scipy import special

    alpha = 1.0 - check_level(level)
    p, n_eff = np.broadcast_arrays(np.asarray(p, dtype=np.float64), np.asarray(n_eff, dtype=np.float64))
    ok = ~(np.isnan(p) | np.isnan(n_eff)) & (n_eff > 0)
    x = np.where(ok, n_eff * p, 1.0)
    y = np.where(ok, n_eff * (1 - p), 1.0)
    low = np.where(x > 0, special.betaincinv(np.where(x > 0, x, 1.0), y + 1, alpha / 2), 0.0)
    high = np.where(y > 0, special.betaincinv(x + 1, np.where(y > 0, y, 1.0), 1 - alpha / 2), 1.0)
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)


def wilson_ci(p: np.ndarray, n_eff: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval with the effective sample size in place of n."""
    z = z_value(level)
    p, n_eff = np.broadcast_arrays(np.asarray(p, dtype=np.float64), np.asarray(n_eff, dtype=np.float64))
    ok = ~(np.isnan(p) | np.isnan(n_eff)) & (n_eff > 0)
    n = np.where(ok, n_eff, 1.0)
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * np.sqrt(np.maximum(p * (1 - p) / n + z2n / (4 * n), 0.0))
    return np.where(ok, np.maximum(centre - half, 0.0), np.nan), np.where(ok, np.minimum(centre + half, 1.0), np.nan)
