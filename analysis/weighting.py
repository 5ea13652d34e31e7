"""Weights within each unit: the domain rules of 公众评议 weighting.

Each unit's respondents are weighted as a separate sample whose weights add
up to its number of respondents n:

* base weight d (1 unless a design weight is supplied), scaled to sum n;
* post-stratification by group: ``w_i = d_i P_g n / sum_{j in g} d_j`` with the
  target shares P (投票权) renormalised over the groups present in the unit
  (a missing group is reported and its share redistributed);
* raking on several margins (group, channel, …) to their renormalised shares;
* before either, thin cells (fewer than ``min_cell_n`` respondents of a margin
  level in the unit) are collapsed by the rule of :mod:`analysis.cells`, and a
  unit left with fewer than two cells in every margin keeps its design weights
  (flagged ``unweighted``);
* optional trimming afterwards.

All units are weighted at once: post-stratification in one pass, raking by
iterations over all still-unconverged units together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis import calibration
from analysis.answers import Answers, Sample, build_sample
from analysis.cells import CellCollapse, collapse_cells, merge_targets
from analysis.params import Params
from analysis.segments import Segments, safe_divide


@dataclass(frozen=True)
class UnitWeights:
    """Weights of every (unit, respondent) row and what the weighting reported, per unit.

    unit, respondent, weight: one element per row (rows sorted by unit, then
        group, then respondent); ``unit`` codes index ``units``.
    target_shares: margin -> (n_units, L) target shares after renormalisation
        over the levels present in the unit (NaN where a level is absent).
    missing_level: (n_units,) a level with a target share is absent from a weighting margin.
    rake_converged, rake_iterations, rake_max_error: (n_units,) raking report
        (converged, 0 and 0 under other methods).
    trimmed: (n_units,) number of weights set to a trimming bound.
    trim_feasible: (n_units,) False when the trimming bounds could not hold the unit's total.
    steps: the calibration steps, for the variance (see :mod:`analysis.calibration`).
    cells: margin -> :class:`~analysis.cells.CellCollapse`, the cells each
        weighting margin was calibrated to in every unit.
    unweighted: (n_units,) no weighting margin kept two cells: design weights only.
    """

    units: np.ndarray
    unit: np.ndarray
    respondent: np.ndarray
    weight: np.ndarray
    target_shares: dict[str, np.ndarray]
    missing_level: np.ndarray
    rake_converged: np.ndarray
    rake_iterations: np.ndarray
    rake_max_error: np.ndarray
    trimmed: np.ndarray
    trim_feasible: np.ndarray
    steps: tuple[calibration.CalibrationStep, ...]
    cells: dict[str, CellCollapse]
    unweighted: np.ndarray


def compute_weights(
    answers: Answers, params: Params, units: np.ndarray | None = None, n_questions: int | None = None
) -> UnitWeights:
    """Weights of every respondent within every unit, per ``params`` (see module doc)."""
    return weigh(index_sample(answers, params, units, n_questions), params)


def index_sample(
    answers: Answers, params: Params, units: np.ndarray | None = None, n_questions: int | None = None
) -> Sample:
    """The respondent–unit table the indices, weights, per-question results and breakdowns are computed on
    (``units`` and ``n_questions`` as for :func:`build_sample`)."""
    return build_sample(answers, len(params.scores), n_questions, units, order_by(answers, params))


def order_by(answers: Answers, params: Params) -> str | None:
    """The margin to order rows by within a unit: the post-stratification margin, if the answers have it."""
    return params.poststratify_by if params.poststratify_by in answers.margins else None


def weigh(sample: Sample, params: Params) -> UnitWeights:
    """Weight an already built respondent–unit table."""
    units = Segments(sample.unit, sample.n_units)
    n = units.counts.astype(np.float64)
    d = sample.design_weight * units.expand(safe_divide(n, units.sum(sample.design_weight), 0.0))
    margins = params.weighting_margins()
    codes = {name: _codes(sample, name, len(params.targets[name])) for name in margins}
    shares = {name: renormalised_shares(params.targets[name], units, codes[name]) for name in margins}
    target_shares = dict(shares)
    missing = np.zeros(sample.n_units, dtype=bool)
    for s in shares.values():
        missing |= np.isnan(s).any(axis=1) & (n > 0)
    cells = {name: _collapse(sample, units, codes[name], name, shares[name].shape[1], params) for name in margins}
    # Rows' cell codes (the code of the level naming their cell) and the cells' merged target shares.
    codes = {name: cells[name].cell[sample.unit, codes[name]] for name in margins}
    shares = {name: merge_targets(shares[name], cells[name].cell) for name in margins}
    unweighted = (n > 0) & bool(margins)
    for c in cells.values():
        unweighted &= c.n_cells < 2
    converged = np.ones(sample.n_units, dtype=bool)
    iterations = np.zeros(sample.n_units, dtype=np.int64)
    max_error = np.zeros(sample.n_units)
    steps: tuple[calibration.CalibrationStep, ...] = ()
    if params.method == "poststratify":
        name = params.poststratify_by
        totals = np.nan_to_num(shares[name]) * n[:, None]
        # Collapsed cells are not contiguous rows; gather them so every unit sums alike in any block.
        segments = Segments(sample.unit * totals.shape[1] + codes[name], totals.size, gather=True)
        w, step = calibration.poststratify(d, segments, totals.reshape(-1))
        steps = (step,)
    elif params.method == "rake":
        totals = [np.nan_to_num(shares[m]) * n[:, None] for m in margins]
        w, report, step = calibration.rake(
            d, units, [codes[m] for m in margins], totals, params.rake_tol, params.rake_max_iter
        )
        converged, iterations, max_error = report.converged, report.iterations, report.max_error
        steps = (step,)
    else:
        w = d
    trimmed = np.zeros(sample.n_units, dtype=np.int64)
    feasible = np.ones(sample.n_units, dtype=bool)
    if params.trims:
        upper = np.full(sample.n_units, np.inf if params.trim_upper is None else params.trim_upper)
        if params.trim_k is not None:
            upper = np.minimum(upper, params.trim_k * units.median(w))
        lower = np.full(sample.n_units, -np.inf if params.trim_lower is None else params.trim_lower)
        w, trimmed, feasible = calibration.trim(w, units, upper, lower, params.trim_max_iter)
    return UnitWeights(
        units=sample.units,
        unit=sample.unit,
        respondent=sample.respondent,
        weight=w,
        target_shares=target_shares,
        missing_level=missing,
        rake_converged=converged,
        rake_iterations=iterations,
        rake_max_error=max_error,
        trimmed=trimmed,
        trim_feasible=feasible | (n == 0),
        steps=steps,
        cells=cells,
        unweighted=unweighted,
    )


def _collapse(
    sample: Sample, units: Segments, codes: np.ndarray, name: str, n_levels: int, params: Params
) -> CellCollapse:
    """Collapse the thin cells of margin ``name`` in every unit (see :mod:`analysis.cells`)."""
    counts = np.bincount(sample.unit * n_levels + codes, minlength=units.n_segments * n_levels)
    counts = counts.reshape(units.n_segments, n_levels)
    cell = collapse_cells(counts, params.min_cell_n, params.collapse_into.get(name))
    return CellCollapse(margin=name, min_cell_n=params.min_cell_n, n=counts, cell=cell)


def _codes(sample: Sample, name: str, n_levels: int) -> np.ndarray:
    if name not in sample.margins:
        raise ValueError(f"weighting needs margin {name!r} in the answers")
    codes = sample.margins[name]
    if codes.size and codes.max() >= n_levels:
        raise ValueError(f"margin {name!r}: code {int(codes.max())} has no target share (0..{n_levels - 1})")
    return codes


def renormalised_shares(targets: tuple[float, ...], units: Segments, codes: np.ndarray) -> np.ndarray:
    """Target shares per unit renormalised over the levels present there; NaN for absent levels."""
    n_levels = len(targets)
    cells = Segments(units.codes * n_levels + codes, units.n_segments * n_levels)
    present = cells.counts.reshape(units.n_segments, n_levels) > 0
    raw = np.where(present, np.asarray(targets), 0.0)
    return safe_divide(raw, raw.sum(axis=1, keepdims=True)) * np.where(present, 1.0, np.nan)
