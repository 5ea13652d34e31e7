"""Weight calibration (post-stratification, raking, trimming) and its linearisation.

All kernels work on *segments*: independent samples that are weighted
separately (one segment per unit in the satisfaction layer, a single segment
for a :class:`~analysis.design.Design`).  They are vectorised across segments
and records; raking iterates, but each iteration is a few ``np.bincount`` calls
over all still-unconverged segments at once.

Linearisation follows R's ``survey`` package (``svyrecvar``): a calibration
step leaves behind an object that turns the weighted linearised variable
``u_i = w_i z_i`` into the residual the variance formula needs.

* post-stratification (R ``postStratify``): ``u_i - w_i * mean_{j in cell}(u_j / w_j)``,
  the mean over the cell's records being unweighted, exactly as R computes it
  (identical to the design-weighted mean whenever the design weights are
  constant within a cell, as they are for the satisfaction surveys);
* raking (R ``calibrate(calfun = "raking")``): ``w_i * (r_i - X_i beta)``
  with ``r = u / w`` and ``beta`` the least-squares fit of ``r`` on the margin
  indicators, weighted by the weights *before* calibration.

Steps are applied in the order the calibrations were made, each with the
weights it produced, so trimming after calibration keeps the calibration's
variance reduction (R keeps ``postStrata`` through ``trimWeights`` likewise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis.segments import Segments, safe_divide

#: Eigenvalues of a segment's Gram matrix below this fraction of its largest one
#: are treated as exact collinearity (each margin's indicators sum to the intercept).
_GRAM_RTOL = 1e-10


@dataclass(frozen=True)
class PostStratification:
    """Linearisation record of a post-stratification: the cells and the weights it produced."""

    cells: Segments
    weights: np.ndarray

    def residualise(self, u: np.ndarray) -> np.ndarray:
        """Remove the (unweighted) cell means of ``u / w``, scaled back by ``w`` (R's ``svyrecvar``).

        ``u`` is ``(n,)`` or variables × records ``(k, n)``.
        """
        return u - self.cells.expand(self.cells.mean(safe_divide(u, self.weights, 0.0))) * self.weights


@dataclass(frozen=True)
class Raking:
    """Linearisation record of a raking (GREG residuals on all margins, per segment)."""

    segments: Segments
    codes: tuple[np.ndarray, ...]
    sizes: tuple[int, ...]
    base_weights: np.ndarray
    weights: np.ndarray

    def residualise(self, u: np.ndarray) -> np.ndarray:
        """Residuals of ``u / w`` from its base-weighted least-squares fit on the margin indicators, times ``w``."""
        r = safe_divide(u, self.weights, 0.0)
        return self.weights * (r - margin_fit(r, self.base_weights, self.segments, self.codes, self.sizes))


CalibrationStep = PostStratification | Raking


def residualise(u: np.ndarray, steps: Sequence[CalibrationStep]) -> np.ndarray:
    """Apply the calibration steps' linearisation to ``u`` in the order the steps were made."""
    for step in steps:
        u = step.residualise(u)
    return u


def margin_fit(
    r: np.ndarray,
    d: np.ndarray,
    segments: Segments,
    codes: Sequence[np.ndarray],
    sizes: Sequence[int],
) -> np.ndarray:
    """Fitted values of the ``d``-weighted least-squares regression of ``r`` on margin indicators, per segment.

    ``r`` is ``(n,)`` or variables × records ``(k, n)``.  The design matrix of
    a segment holds one indicator column per level of every margin; its span
    contains the intercept.  Collinear and empty columns are handled by a
    pseudo-inverse, so the projection is the same as R's pivoting
    ``qr.resid`` on the intercept-plus-contrasts matrix.
    """
    r2 = r[None, :] if r.ndim == 1 else r
    k = r2.shape[0]
    segment, n_segments = segments.codes, segments.n_segments
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    p = int(offsets[-1])
    gram = np.zeros((n_segments, p, p))
    rhs = np.zeros((n_segments, p, k))
    for m, (cm, lm) in enumerate(zip(codes, sizes)):
        cell = segment * lm + cm
        block = Segments(cell, n_segments * lm).sum(d * r2).reshape(k, n_segments, lm)
        rhs[:, offsets[m]:offsets[m + 1], :] = block.transpose(1, 2, 0)
        for j, (cj, lj) in enumerate(zip(codes, sizes)):
            pairs = np.bincount(cell * lj + cj, weights=d, minlength=n_segments * lm * lj)
            gram[:, offsets[m]:offsets[m + 1], offsets[j]:offsets[j + 1]] = pairs.reshape(n_segments, lm, lj)
    beta = np.linalg.pinv(gram, rtol=_GRAM_RTOL, hermitian=True) @ rhs
    fitted = np.zeros_like(r2)
    for m, cm in enumerate(codes):
        fitted += beta[segment, offsets[m] + cm, :].T
    return fitted[0] if r.ndim == 1 else fitted


def poststratify(d: np.ndarray, cells: Segments, cell_totals: np.ndarray) -> tuple[np.ndarray, PostStratification]:
    """Post-stratify: ``w_i = d_i * T_c / sum_{j in c} d_j`` for the cell ``c`` of record ``i``.

    ``cell_totals`` holds the target total ``T_c`` of every cell; a cell with
    records must have a positive target.  Returns the weights and the step
    needed for the variance.
    """
    w = d * cells.expand(safe_divide(cell_totals, cells.sum(d), 0.0))
    return w, PostStratification(cells=cells, weights=w)


@dataclass(frozen=True)
class RakeReport:
    """Convergence of raking, per segment.

    ``max_error`` is the largest absolute difference between a margin level's
    achieved and target share of the segment's total after the last iteration;
    a segment converged when it fell to ``tol`` or below within ``max_iter``
    full cycles over the margins.
    """

    converged: np.ndarray
    iterations: np.ndarray
    max_error: np.ndarray


def rake(
    d: np.ndarray,
    segments: Segments,
    codes: Sequence[np.ndarray],
    totals: Sequence[np.ndarray],
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, RakeReport, Raking]:
    """Rake ``d`` to the margin totals by iterative proportional fitting, all segments at once.

    ``totals[m]`` has shape ``(n_segments, L_m)``: the target total of every
    level of margin ``m`` in every segment (0 for a level the segment does not
    contain).  Each margin's totals must add up to the same segment total.
    Converged segments are frozen and dropped from later iterations.  A
    segment that has not converged after ``max_iter`` cycles is reported as
    such and gets its base weights back: the last iterate is no calibration
    (its weights may be driven towards 0) and must not be used as one.
    """
    segment, n_segments = segments.codes, segments.n_segments
    sizes = tuple(int(t.shape[1]) for t in totals)
    flat_totals = [t.reshape(-1) for t in totals]
    inverse_total = safe_divide(1.0, totals[0].sum(axis=1), 0.0)
    w = d.astype(np.float64, copy=True)
    converged = np.zeros(n_segments, dtype=bool)
    iterations = np.zeros(n_segments, dtype=np.int64)
    max_error = np.zeros(n_segments)
    active = segments.counts > 0
    # The still-iterating rows, kept compact and written back when their segment stops.
    rows = np.flatnonzero(active[segment])
    w_rows = w[rows]
    cells = [segment[rows] * lm + cm[rows] for cm, lm in zip(codes, sizes)]
    factors = [np.ones(n_segments * lm) for lm in sizes]
    for it in range(1, max_iter + 1):
        for cell, target, factor in zip(cells, flat_totals, factors):
            achieved = np.bincount(cell, weights=w_rows, minlength=target.size)
            np.divide(target, achieved, out=factor, where=achieved > 0)
            w_rows *= factor[cell]
        error = np.zeros(n_segments)
        for cell, target, lm in zip(cells[:-1], flat_totals[:-1], sizes[:-1]):
            gap = np.abs(np.bincount(cell, weights=w_rows, minlength=target.size) - target)
            np.maximum(error, gap.reshape(n_segments, lm).max(axis=1) * inverse_total, out=error)
        max_error[active] = error[active]
        iterations[active] = it
        done = active & (error <= tol)
        if done.any() or it == max_iter:
            w[rows] = w_rows
            converged |= done
            active &= ~done
            if not active.any():
                break
            keep = active[segment[rows]]
            rows, w_rows, cells = rows[keep], w_rows[keep], [cell[keep] for cell in cells]
    converged |= segments.counts == 0
    w = np.where(segments.expand(converged), w, d)
    report = RakeReport(converged=converged, iterations=iterations, max_error=max_error)
    step = Raking(segments=segments, codes=tuple(codes), sizes=sizes, base_weights=d, weights=w)
    return w, report, step


def trim(
    w: np.ndarray,
    segments: Segments,
    upper: np.ndarray,
    lower: np.ndarray,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cap weights to ``[lower, upper]`` of their segment and redistribute, until stable.

    Weights outside the bounds are set to the bound; the difference is spread
    over the weights never capped, in proportion to them, so each segment's
    total is kept.  Repeated until no weight lies outside (at most ``max_iter``
    rounds; each round fixes at least one more weight).  A segment whose bounds
    cannot hold its total (``upper * n < total`` or ``lower * n > total``) is
    left untrimmed.  Returns ``(weights, trimmed_count, feasible)`` per segment.
    """
    total = segments.sum(w)
    feasible = (upper * segments.counts >= total) & (lower * segments.counts <= total)
    hi = segments.expand(np.where(feasible, upper, np.inf))
    lo = segments.expand(np.where(feasible, lower, -np.inf))
    w = w.astype(np.float64, copy=True)
    fixed = np.zeros(w.shape[0], dtype=bool)
    for _ in range(max_iter):
        over, under = w > hi, w < lo
        newly = (over | under) & ~fixed
        if not newly.any():
            break
        w = np.where(over, hi, np.where(under, lo, w))
        fixed |= newly
        fixed_sum = segments.sum(np.where(fixed, w, 0.0))
        free_sum = segments.sum(np.where(fixed, 0.0, w))
        scale = safe_divide(total - fixed_sum, free_sum, 1.0)
        w = np.where(fixed, w, w * segments.expand(scale))
    trimmed = segments.sum(fixed).astype(np.int64)
    return w, trimmed, feasible
