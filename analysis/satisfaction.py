"""Satisfaction indices of every unit at once (满意度指数, 满意率, per-question results).

Domain rules (the ANALYSIS.md specification):

* a level's score is ``Params.scores[level - 1]`` (default 0/25/50/75/100);
  不了解 is item nonresponse: it counts in the 不了解 rate and nowhere else;
* question mean ``R_q = sum w y_q / sum w x_q`` over the respondents who
  answered q; satisfied share of q = weighted share of its answers at level
  ``satisfied_min_level`` or above;
* composite index ``I = sum a_q R_q / sum a_q`` over the questions answered at
  least once in the unit (question weights a_q);
* satisfaction rate 满意率 pooled over questions ``SR = sum w s / sum w t``
  (s = satisfied answers, t = answers of a respondent) — a share, kept apart
  from the index, which is a mean of scores;
* standard errors by Taylor linearisation with the calibration-aware
  residuals of :mod:`analysis.calibration`, each unit an unstratified sample
  without finite population correction; n < 2 gives no SE.

Everything is computed with grouped sums over the respondent–unit table.
Python loops run only over blocks of whole units (about 32,000 rows each,
to keep temporaries small) and over a handful of question columns, never
over respondents.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from analysis import calibration
from analysis.answers import Answers, Sample
from analysis.cells import CellCollapse
from analysis.ci import bounded_ci, kish_n_eff, korn_graubard_ci, normal_ci, share_n_eff, wilson_ci
from analysis.design import stratified_variance
from analysis.params import Params
from analysis.segments import Segments, safe_divide
from analysis.weighting import UnitWeights, index_sample, weigh

#: Rows of the respondent–unit table estimated together.  Units are independent
#: samples, so estimating whole units block by block gives the same bits as one
#: pass while keeping temporaries small (they are allocated once and reused).
BLOCK_ROWS = 1 << 15

#: Reliability flags and what they mean; bit i of ``IndexResults.flags`` is the i-th.
FLAG_MEANINGS = {
    "no_responses": "no respondent rated the unit: nothing to estimate",
    "no_answers": "respondents, but no answer to a weighted question (all 不了解)",
    "n_lt_2": "fewer than 2 respondents: point estimates only, no SE",
    "small_n": "fewer respondents than min_n (30)",
    "small_n_eff": "Kish effective sample size below min_n_eff (30)",
    "high_rse": "index SE above max_rse (30%) of the index",
    "group_missing": "a group (or other margin level) with a target share has no respondent",
    "rake_not_converged": "raking did not reach its targets: estimates withheld",
    "trim_infeasible": "trimming bounds cannot hold the total weight: weights left untrimmed",
    "dont_know_high": "不了解 rate above max_dont_know (50%)",
    "cells_collapsed": "a weighting cell had fewer than min_cell_n (5) respondents and was merged into another",
    "unweighted": "fewer than two weighting cells left after collapsing: design weights only (equal weights)",
    "singleton_cell": "a weighting cell of one respondent was kept (min_cell_n = 1): the SE leaves it out",
}
FLAGS = tuple(FLAG_MEANINGS)
_BIT = {name: np.uint32(1 << i) for i, name in enumerate(FLAGS)}


@dataclass(frozen=True)
class QuestionResults:
    """Per unit and question: arrays of shape ``(n_units, n_questions)``.

    Shares are of answers at ``satisfied_min_level`` or above among the
    question's answers; ``kg_*`` is the Korn–Graubard and ``wilson_*`` the
    Wilson interval, both with effective n ``p(1-p)/Var``.  ``dont_know_rate``
    is ``1 - sum w x_q / sum w``.  A question nobody answered has NaN estimates.
    """

    n_answered: np.ndarray
    mean: np.ndarray
    mean_se: np.ndarray
    mean_ci_low: np.ndarray
    mean_ci_high: np.ndarray
    satisfied_share: np.ndarray
    satisfied_share_se: np.ndarray
    kg_low: np.ndarray
    kg_high: np.ndarray
    wilson_low: np.ndarray
    wilson_high: np.ndarray
    dont_know_rate: np.ndarray


@dataclass(frozen=True)
class GroupResults:
    """Per unit and level of the post-stratification margin (usually ``group``): ``(n_units, n_groups)``.

    ``n`` respondents, and the index and satisfaction rate of the group's
    respondents with design weights only (no calibration: within a group the
    calibrated weights are proportional to them).  ``target_share`` is the
    group's renormalised target (NaN for a group absent from the unit, and
    everywhere when the margin was not a weighting margin); a thin group merged
    into another's cell was weighted at the cell's summed share
    (``IndexResults.cells``).
    """

    margin: str
    n: np.ndarray
    index: np.ndarray
    satisfied_rate: np.ndarray
    target_share: np.ndarray


@dataclass(frozen=True)
class IndexResults:
    """Results for all units; unit-level fields are arrays of shape ``(n_units,)`` in ``units`` order.

    ``n`` counts the unit's respondents (including those who answered only
    不了解); ``n_eff`` is Kish's and ``deff`` = n / n_eff.  Estimates are NaN
    where they cannot be computed, and for every field but ``n`` when raking
    did not converge.  ``flags`` is a bit mask over :data:`FLAGS`.
    ``answers_weight`` is Σ w t, the weighted number of answers (the
    denominator of 满意率), which pools unit rates into an overall one
    (:func:`overall_rate`).
    ``cells`` says, per weighting margin, how each unit's thin cells were
    collapsed (:class:`~analysis.cells.CellCollapse`); ``unweighted`` marks
    the units left with design weights only because no margin kept two cells.
    """

    params: Params
    units: np.ndarray
    n: np.ndarray
    n_eff: np.ndarray
    deff: np.ndarray
    index: np.ndarray
    index_se: np.ndarray
    index_ci_low: np.ndarray
    index_ci_high: np.ndarray
    satisfied_rate: np.ndarray
    satisfied_rate_se: np.ndarray
    satisfied_rate_ci_low: np.ndarray
    satisfied_rate_ci_high: np.ndarray
    dont_know_rate: np.ndarray
    answers_weight: np.ndarray
    rake_converged: np.ndarray
    rake_iterations: np.ndarray
    rake_max_error: np.ndarray
    trimmed: np.ndarray
    flags: np.ndarray
    questions: QuestionResults
    groups: GroupResults | None
    cells: dict[str, CellCollapse]
    unweighted: np.ndarray

    def flag_names(self, i: int) -> list[str]:
        """Names of the flags raised for the unit in row ``i``."""
        return [name for name in FLAGS if self.flags[i] & _BIT[name]]

    def has_flag(self, name: str) -> np.ndarray:
        """Boolean array: which units carry flag ``name``."""
        return (self.flags & _BIT[name]) != 0

    def missing_groups(self, i: int) -> np.ndarray:
        """Codes of the groups with a target share but no respondent in unit ``i``."""
        if self.groups is None:
            return np.zeros(0, dtype=np.intp)
        n_targets = len(self.params.targets.get(self.groups.margin, ()))
        return np.flatnonzero(self.groups.n[i, :n_targets] == 0)

    def row(self, i: int) -> dict[str, Any]:
        """Unit-level results of row ``i`` as plain Python values (NaN for missing)."""
        out: dict[str, Any] = {"unit": self.units[i].item()}
        for name in UNIT_FIELDS:
            out[name] = getattr(self, name)[i].item()
        out["flags"] = self.flag_names(i)
        return out

    def collapse(self, i: int) -> dict[str, dict[int, int]]:
        """Unit ``i``'s merged cells, per weighting margin: level code -> code of the level whose cell it joined.

        Margins without a merge are left out, so ``{}`` means no cell was
        collapsed.  For storage: ``{"group": {4: 3}}`` = level 4 (e.g.
        政协委员) was weighted together with level 3 (人大代表) at their summed share.
        """
        return {name: merged for name, c in self.cells.items() if (merged := c.merges(i))}


#: Unit-level numeric fields, in the order :meth:`IndexResults.row` and the CLI report them.
UNIT_FIELDS = (
    "n",
    "n_eff",
    "index",
    "index_se",
    "satisfied_rate",
    "satisfied_rate_se",
    "index_ci_low",
    "index_ci_high",
    "satisfied_rate_ci_low",
    "satisfied_rate_ci_high",
    "dont_know_rate",
    "deff",
    "rake_converged",
    "rake_iterations",
    "rake_max_error",
    "trimmed",
)


def compute_indices(
    answers: Answers, params: Params, units: np.ndarray | None = None, n_questions: int | None = None
) -> IndexResults:
    """Weight every unit's respondents and estimate its satisfaction results.

    ``units`` fixes the rows of the result (a listed unit without records gets
    a row flagged ``no_responses``); by default the units found in the records,
    sorted.  ``n_questions`` defaults to the length of
    ``params.question_weights`` or else the highest question code + 1.
    """
    if n_questions is None and params.question_weights is not None:
        n_questions = len(params.question_weights)
    return indices_of(index_sample(answers, params, units, n_questions), params)


def indices_of(sample: Sample, params: Params) -> IndexResults:
    """:func:`compute_indices` of an already built respondent–unit table (:func:`analysis.weighting.index_sample`)."""
    parts = [estimate(block, weigh(block, params), params) for block in sample.blocks(BLOCK_ROWS)]
    return _concatenate(parts) if parts else estimate(sample, weigh(sample, params), params)


def estimate(sample: Sample, weights: UnitWeights, params: Params) -> IndexResults:
    """Estimates for an already weighted respondent–unit table.

    Per-question arrays are computed questions × units and transposed at the end.
    """
    units, w = Segments(sample.unit, sample.n_units), weights.weight
    n_q, n_rows = sample.level.shape
    a = np.ones(n_q) if params.question_weights is None else np.asarray(params.question_weights)
    if a.size != n_q:
        raise ValueError(f"question_weights has {a.size} weights for {n_q} questions")
    x = sample.level > 0
    y = np.asarray(params.scores)[np.maximum(sample.level, 1) - 1] * x
    s = sample.level >= params.satisfied_min_level
    t_i, s_i = x.sum(axis=0, dtype=np.float64), s.sum(axis=0, dtype=np.float64)

    n = units.counts
    w_sum = units.sum(w)
    wx = units.sum(x * w)
    q_mean = safe_divide(units.sum(y * w), wx)
    q_share = safe_divide(units.sum(s * w), wx)
    index, a_sum = _composite(q_mean, a)
    answers_w = units.sum(w * t_i)
    rate = safe_divide(units.sum(w * s_i), answers_w)

    # Linearised variables, variables × rows: index, rate, question means, question shares.
    z = np.empty((2 + 2 * n_q, n_rows))
    inv_wx = units.expand(safe_divide(1.0, wx, 0.0))
    z_q, z_s = z[2 : 2 + n_q], z[2 + n_q :]
    np.multiply(y - units.expand(np.nan_to_num(q_mean)) * x, inv_wx, out=z_q)
    np.multiply(s - units.expand(np.nan_to_num(q_share)) * x, inv_wx, out=z_s)
    z[0] = safe_divide(_weighted_rows(a, z_q), units.expand(a_sum), 0.0)
    z[1] = (s_i - units.expand(np.nan_to_num(rate)) * t_i) * units.expand(safe_divide(1.0, answers_w, 0.0))
    z *= w
    variance = stratified_variance(calibration.residualise(z, weights.steps), units)
    variance[:, n < 2] = np.nan
    se = np.sqrt(variance)
    index_se = np.where(np.isnan(index), np.nan, se[0])
    rate_se = np.where(np.isnan(rate), np.nan, se[1])
    q_mean_se = np.where(np.isnan(q_mean), np.nan, se[2 : 2 + n_q])
    q_share_se = np.where(np.isnan(q_share), np.nan, se[2 + n_q :])

    level = params.confidence
    score_range = (min(params.scores), max(params.scores))

    def mean_ci(estimate: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if params.index_ci == "normal":
            return normal_ci(estimate, se, level)
        return bounded_ci(estimate, se, level, *score_range)
    n_answered = units.sum(x).astype(np.int64)
    q_n_eff = share_n_eff(q_share, q_share_se**2, n_answered)
    # Where p(1-p)/Var is undefined (a rate of 0 or 1) the effective n is the number of
    # respondents, not of answers: one respondent's answers are not independent draws.
    bound_n = units.sum(t_i > 0) if params.share_n_at_bounds == "respondents" else units.sum(t_i)
    rate_n_eff = share_n_eff(rate, rate_se**2, bound_n)
    rate_ci = (korn_graubard_ci if params.share_ci == "korn-graubard" else wilson_ci)(rate, rate_n_eff, level)
    asked_w = units.sum(w * sample.asked.sum(axis=0))
    n_eff = kish_n_eff(w, units)

    per_question = [
        n_answered,
        q_mean,
        q_mean_se,
        *mean_ci(q_mean, q_mean_se),
        q_share,
        q_share_se,
        *korn_graubard_ci(q_share, q_n_eff, level),
        *wilson_ci(q_share, q_n_eff, level),
        1.0 - safe_divide(wx, w_sum),
    ]
    unit_values = {
        "n_eff": n_eff,
        "deff": safe_divide(n.astype(np.float64), n_eff),
        "index": index,
        "index_se": index_se,
        "satisfied_rate": rate,
        "satisfied_rate_se": rate_se,
        "dont_know_rate": 1.0 - safe_divide(answers_w, asked_w),
        "answers_weight": np.where(answers_w > 0, answers_w, np.nan),
    }
    unit_values["index_ci_low"], unit_values["index_ci_high"] = mean_ci(index, index_se)
    unit_values["satisfied_rate_ci_low"], unit_values["satisfied_rate_ci_high"] = rate_ci
    flags = _flags(n, a_sum, unit_values, weights, params)
    # Raking that did not converge gives no calibrated weights: withhold every estimate.
    withheld = ~weights.rake_converged
    for values in unit_values.values():
        values[withheld] = np.nan
    for values in per_question[1:]:
        values[:, withheld] = np.nan
    return IndexResults(
        params=params,
        units=sample.units,
        n=n,
        **unit_values,
        rake_converged=weights.rake_converged,
        rake_iterations=weights.rake_iterations,
        rake_max_error=weights.rake_max_error,
        trimmed=weights.trimmed,
        flags=flags,
        questions=QuestionResults(*(np.ascontiguousarray(v.T) for v in per_question)),
        groups=_groups(sample, x, y, s, a, params, weights),
        cells=weights.cells,
        unweighted=weights.unweighted,
    )


def overall_rate(results: IndexResults, rows: np.ndarray | None = None) -> float:
    """满意率 over all units (or the ``rows`` given), each unit's answers weighted as in its own rate.

    SR = Σ_u Σ_i w_ui s_i / Σ_u Σ_i w_ui t_i = Σ_u SR_u A_u / Σ_u A_u, with
    A_u = Σ_i w_ui t_i (``answers_weight``): within a unit the respondents carry
    their calibrated weights (the group targets), and since a unit's weights
    sum to its number of respondents, units count in proportion to their
    respondents.  Units without an estimate are left out; NaN when none has one.
    """
    rate, weight = results.satisfied_rate, results.answers_weight
    if rows is not None:
        rate, weight = rate[rows], weight[rows]
    ok = np.isfinite(rate) & np.isfinite(weight)
    total = weight[ok].sum()
    return float((rate[ok] * weight[ok]).sum() / total) if total > 0 else float("nan")


def _composite(q_mean: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum a_q R_q / sum a_q`` over the questions with a mean (``q_mean`` is questions × units).

    Also returns the sum of the weights of those questions.
    """
    a_sum = _weighted_rows(a, ~np.isnan(q_mean))
    return safe_divide(_weighted_rows(a, np.nan_to_num(q_mean)), a_sum), a_sum


def _weighted_rows(a: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``sum_q a_q rows[q]``, added row by row in a fixed order.

    Not ``a @ rows``: BLAS may sum in an order that depends on the array's
    width, and results must not depend on how units are blocked.
    """
    return (a[:, None] * rows).sum(axis=0)


def _flags(
    n: np.ndarray, a_sum: np.ndarray, values: dict[str, np.ndarray], weights: UnitWeights, params: Params
) -> np.ndarray:
    """Bit mask of :data:`FLAGS` per unit, from the unit-level estimates and the weighting report."""
    index, index_se = values["index"], values["index_se"]
    rse = np.where(index_se == 0, 0.0, safe_divide(index_se, np.abs(index), np.inf))
    conditions = {
        "no_responses": n == 0,
        "no_answers": (n > 0) & (a_sum == 0),
        "n_lt_2": n < 2,
        "small_n": n < params.min_n,
        "small_n_eff": np.nan_to_num(values["n_eff"]) < params.min_n_eff,
        "high_rse": ~np.isnan(index_se) & (rse > params.max_rse),
        "group_missing": weights.missing_level,
        "rake_not_converged": ~weights.rake_converged,
        "trim_infeasible": ~weights.trim_feasible,
        "dont_know_high": np.nan_to_num(values["dont_know_rate"]) > params.max_dont_know,
        "cells_collapsed": _any_cell(weights, lambda c: c.collapsed),
        "unweighted": weights.unweighted,
        "singleton_cell": (n >= 2) & _any_cell(weights, lambda c: ((c.cell_n == 1) & (c.n > 0)).any(axis=1)),
    }
    flags = np.zeros(n.size, dtype=np.uint32)
    for name, condition in conditions.items():
        flags |= np.where(condition, _BIT[name], np.uint32(0))
    return flags


def _any_cell(weights: UnitWeights, test: Any) -> np.ndarray:
    out = np.zeros(weights.units.size, dtype=bool)
    for c in weights.cells.values():
        out |= test(c)
    return out


def _groups(
    sample: Sample, x: np.ndarray, y: np.ndarray, s: np.ndarray, a: np.ndarray, params: Params, weights: UnitWeights
) -> GroupResults | None:
    """Per-group breakdown of the post-stratification margin; None when the answers lack that margin."""
    margin = params.poststratify_by
    if margin not in sample.margins:
        return None
    codes = sample.margins[margin]
    n_groups = max(len(params.targets.get(margin, ())), sample.margin_sizes[margin])
    cells = Segments(sample.unit * n_groups + codes, sample.n_units * n_groups)
    d = sample.design_weight
    index = _composite(safe_divide(cells.sum(y * d), cells.sum(x * d)), a)[0]
    rate = safe_divide(cells.sum(d * s.sum(axis=0)), cells.sum(d * x.sum(axis=0)))
    target = np.full((sample.n_units, n_groups), np.nan)
    if margin in weights.target_shares:
        shares = weights.target_shares[margin]
        target[:, : shares.shape[1]] = shares
    return GroupResults(
        margin=margin,
        n=cells.counts.reshape(sample.n_units, n_groups),
        index=index.reshape(sample.n_units, n_groups),
        satisfied_rate=rate.reshape(sample.n_units, n_groups),
        target_share=target,
    )


def _concatenate(parts: list[IndexResults]) -> IndexResults:
    """Join the results of consecutive unit blocks."""

    def join(items: list[Any]) -> Any:
        first = items[0]
        if isinstance(first, np.ndarray):
            return np.concatenate(items)
        if isinstance(first, (QuestionResults, GroupResults, CellCollapse)):
            return type(first)(**{f.name: join([getattr(i, f.name) for i in items]) for f in fields(first)})
        if isinstance(first, dict):
            return {k: join([i[k] for i in items]) for k in first}
        return first

    return IndexResults(**{f.name: join([getattr(p, f.name) for p in parts]) for f in fields(IndexResults)})
