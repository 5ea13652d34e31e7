"""Breakdowns over all units: the index and 满意率 by domain, and cross-tabs of one question's answers.

A *domain* is a set of (respondent, unit) rows: a level of a respondent margin
(group, channel) or a unit category.  Every unit is weighted exactly as for its
own index (:func:`analysis.weighting.weigh`: the same targets, thin-cell
collapse and calibration), and the pooled design is the union of the units'
samples, each unit a stratum of its own, as R's

    des <- svydesign(ids = ~1, strata = ~unit, weights = ~d, data = rows)
    des <- postStratify(des, ~unit:group, population)   # or the unit's raking
    svyby(~s, ~channel, des, svyratio, denominator = ~t)

Domain estimates (``1_d`` = 1 for the domain's rows, 0 elsewhere):

* question mean ``R_qd = Σ 1_d w y_q / Σ 1_d w x_q``; index
  ``I_d = Σ_q a_q R_qd / Σ_q a_q`` over the questions answered in the domain,
  linearised ``z_i = 1_d Σ_q (a_q / Σa) (y_iq − R_qd x_iq) / Σ 1_d w x_q``
  (R: ``svycontrast`` of the domain totals ``svytotal(~I(y_q * 1_d) + I(x_q * 1_d))``);
* 满意率 ``SR_d = Σ 1_d w s / Σ 1_d w t``, ``z_i = 1_d (s_i − SR_d t_i) / Σ 1_d w t``
  (R: ``svyby(~s, ~by, des, svyratio, denominator = ~t)``);
* cross-tab column share of answer level ℓ of question q in domain d:
  ``p_ℓd = Σ 1_d w 1(level = ℓ) / Σ 1_d w x_q``, ``z_i = 1_d (1(level = ℓ) − p_ℓd x_q) / Σ 1_d w x_q``
  (R: ``svyby(~factor(level), ~by, subset(des, answered), svymean)``).

The linearised variables go through each unit's calibration residuals and the
variance is summed over the units (strata): ``V = Σ_u n_u/(n_u − 1) Σ_i (e_i − ē_u)²``.
A unit with one respondent adds nothing (a certainty stratum: its residual is 0).
A domain with fewer than two respondents gets no SE; with fewer than
``params.min_n`` it is flagged ``small_n``.  Units whose raking did not converge
have no calibrated weights and are left out of every domain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from analysis import calibration
from analysis.answers import Answers, Sample, build_sample
from analysis.design import stratified_variance
from analysis.params import Params
from analysis.segments import Segments, safe_divide
from analysis.weighting import UnitWeights, order_by, weigh


@dataclass(frozen=True)
class DomainResults:
    """One breakdown: arrays of shape ``(n_levels,)``, level codes ``0 … n_levels − 1`` of ``by``.

    ``n`` counts the domain's (respondent, unit) rows; a level without rows has
    NaN estimates.  ``small_n`` marks levels with fewer than ``min_n`` rows.
    """

    by: str
    n: np.ndarray
    index: np.ndarray
    index_se: np.ndarray
    satisfied_rate: np.ndarray
    satisfied_rate_se: np.ndarray
    small_n: np.ndarray


@dataclass(frozen=True)
class CrossTab:
    """Weighted column shares of one question's answer levels by a margin: ``(n_answer_levels, n_levels)``.

    ``share[ℓ − 1, d]`` is the share of answers at level ℓ among domain d's
    answers to the question (columns sum to 1), ``se`` its linearised SE; ``n``
    counts the rows of each domain that answered the question.
    """

    question: int
    by: str
    n: np.ndarray
    share: np.ndarray
    se: np.ndarray


class Prepared:
    """The weighted respondent–unit table, ready for any number of breakdowns and cross-tabs."""

    def __init__(self, answers: Answers, params: Params, units: np.ndarray | None = None,
                 n_questions: int | None = None) -> None:
        if n_questions is None and params.question_weights is not None:
            n_questions = len(params.question_weights)
        self.params = params
        self.sample: Sample = build_sample(answers, len(params.scores), n_questions, units,
                                           order_by(answers, params))
        self.weights: UnitWeights = weigh(self.sample, params)
        self.units = Segments(self.sample.unit, self.sample.n_units)
        self.usable = self.weights.rake_converged[self.sample.unit]
        n_q = self.sample.level.shape[0]
        self.a = np.ones(n_q) if params.question_weights is None else np.asarray(params.question_weights, float)
        if self.a.size != n_q:
            raise ValueError(f"question_weights has {self.a.size} weights for {n_q} questions")

    def margin_codes(self, margin: str) -> tuple[np.ndarray, int]:
        """Each row's code of ``margin`` and the number of levels (from the targets or the data)."""
        if margin not in self.sample.margins:
            raise ValueError(f"the answers have no margin {margin!r}")
        size = max(len(self.params.targets.get(margin, ())), self.sample.margin_sizes[margin])
        return self.sample.margins[margin], size

    def unit_codes(self, per_unit: np.ndarray) -> tuple[np.ndarray, int]:
        """Each row's code of a unit-level variable (e.g. the category; −1 = in no domain)."""
        per_unit = np.asarray(per_unit, dtype=np.int64)
        if per_unit.shape != (self.sample.n_units,):
            raise ValueError(f"one code per unit expected ({self.sample.n_units})")
        return per_unit[self.sample.unit], int(per_unit.max(initial=-1)) + 1

    def _variance(self, z: np.ndarray) -> np.ndarray:
        """Variance of estimates with linearised variables ``z`` (``(k, n)``, before weighting), summed over units."""
        u = z * self.weights.weight
        parts = stratified_variance(calibration.residualise(u, self.weights.steps), self.units)
        parts[..., self.units.counts < 2] = 0.0  # one respondent: a certainty stratum
        return parts.sum(axis=-1)

    def domains(self, by: str, codes: np.ndarray, n_levels: int) -> DomainResults:
        """Index and 满意率 of each level of ``codes`` (row codes, −1 = in no domain)."""
        level, params, w, a = self.sample.level, self.params, self.weights.weight, self.a
        x = level > 0
        y = np.asarray(params.scores)[np.maximum(level, 1) - 1] * x
        s = level >= params.satisfied_min_level
        t_i, s_i = x.sum(axis=0, dtype=np.float64), s.sum(axis=0, dtype=np.float64)
        codes = np.where(self.usable, codes, -1)
        shape = (n_levels,)
        n = np.bincount(codes[codes >= 0], minlength=n_levels)[:n_levels].astype(np.int64)
        out = {k: np.full(shape, np.nan) for k in ("index", "index_se", "rate", "rate_se")}
        for d in range(n_levels):
            inside = codes == d
            if not inside.any():
                continue
            wd = w * inside
            wx = (x * wd).sum(axis=1)
            r_q = safe_divide((y * wd).sum(axis=1), wx)
            answered = wx > 0
            a_sum = a[answered].sum()
            wt = (t_i * wd).sum()
            z = np.zeros((2, w.size))
            if a_sum > 0:
                out["index"][d] = (a[answered] * r_q[answered]).sum() / a_sum
                coef = np.where(answered, a / a_sum, 0.0) * safe_divide(1.0, wx, 0.0)
                z[0] = (coef[:, None] * (y - np.nan_to_num(r_q)[:, None] * x)).sum(axis=0) * inside
            if wt > 0:
                out["rate"][d] = (s_i * wd).sum() / wt
                z[1] = (s_i - out["rate"][d] * t_i) / wt * inside
            if n[d] >= 2:
                se = np.sqrt(self._variance(z))
                out["index_se"][d] = se[0] if a_sum > 0 else np.nan
                out["rate_se"][d] = se[1] if wt > 0 else np.nan
        return DomainResults(by=by, n=n, index=out["index"], index_se=out["index_se"],
                             satisfied_rate=out["rate"], satisfied_rate_se=out["rate_se"],
                             small_n=n < params.min_n)

    def crosstab(self, question: int, by: str, codes: np.ndarray, n_levels: int) -> CrossTab:
        """Column shares of the answer levels of ``question`` in each level of ``codes``."""
        n_q = self.sample.level.shape[0]
        if not 0 <= question < n_q:
            raise ValueError(f"no question {question} (0 … {n_q - 1})")
        level = self.sample.level[question].astype(np.int64)
        return self.shares(question, by, codes, n_levels, level, len(self.params.scores))

    def shares(self, question: int, by: str, codes: np.ndarray, n_levels: int, category: np.ndarray,
               n_categories: int) -> CrossTab:
        """Column shares of any categorical answer (``category`` 1 … k per row, 0 = not answered)."""
        w = self.weights.weight
        x = category > 0
        codes = np.where(self.usable & x, codes, -1)
        n = np.bincount(codes[codes >= 0], minlength=n_levels)[:n_levels].astype(np.int64)
        share = np.full((n_categories, n_levels), np.nan)
        se = np.full((n_categories, n_levels), np.nan)
        indicators = category[None, :] == np.arange(1, n_categories + 1)[:, None]
        for d in range(n_levels):
            inside = codes == d
            total = (w * inside).sum()
            if total <= 0:
                continue
            p = (indicators * (w * inside)).sum(axis=1) / total
            share[:, d] = p
            if n[d] >= 2:
                z = (indicators - p[:, None] * x) / total * inside
                se[:, d] = np.sqrt(self._variance(z))
        return CrossTab(question=question, by=by, n=n, share=share, se=se)


def compute_breakdowns(
    answers: Answers,
    params: Params,
    margins: Sequence[str] = ("group", "channel"),
    unit_domains: Mapping[str, np.ndarray] | None = None,
    units: np.ndarray | None = None,
    n_questions: int | None = None,
) -> dict[str, DomainResults]:
    """The index and 满意率 by each margin in ``margins`` present in the answers, and by each unit-level
    variable in ``unit_domains`` (name → one code per unit of ``units``, −1 = none; e.g. the category)."""
    prepared = Prepared(answers, params, units, n_questions)
    out: dict[str, DomainResults] = {}
    for margin in margins:
        if margin in prepared.sample.margins:
            out[margin] = prepared.domains(margin, *prepared.margin_codes(margin))
    for name, per_unit in (unit_domains or {}).items():
        out[name] = prepared.domains(name, *prepared.unit_codes(per_unit))
    return out
