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
from analysis.answers import Answers, Sample
from analysis.design import stratified_variance
from analysis.params import Params
from analysis.segments import Segments, safe_divide
from analysis.weighting import UnitWeights, index_sample, weigh

#: Largest number of answer patterns (combinations of every question's level) looked up in one table.
_MAX_PATTERNS = 1 << 16
#: Largest number of (fine cell, level) sums the domain breakdowns add up from.
_MAX_FINE_BINS = 1 << 22


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

    def __init__(self, answers: Answers | None, params: Params, units: np.ndarray | None = None,
                 n_questions: int | None = None, sample: Sample | None = None) -> None:
        """``sample``: the table :func:`analysis.weighting.index_sample` already built of these arguments
        (e.g. for the indices), not built again (``answers`` may then be None)."""
        if sample is None and answers is None:
            raise ValueError("Prepared needs the answers or their table")
        if n_questions is None and params.question_weights is not None:
            n_questions = len(params.question_weights)
        self.params = params
        self.sample: Sample = sample if sample is not None else index_sample(answers, params, units, n_questions)
        self.weights: UnitWeights = weigh(self.sample, params)
        self.units = Segments(self.sample.unit, self.sample.n_units)
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._weighted_cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._patterns: tuple[np.ndarray | None, np.ndarray] | None = None
        self._frame: tuple | None = None
        self._all_usable: bool | None = None
        self._fine_cache: tuple | None = None
        self._row_products: tuple[np.ndarray, np.ndarray, np.ndarray] = ()
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

    def _domain_variances(self, z: np.ndarray, codes: np.ndarray, n_levels: int) -> np.ndarray:
        """Variances of ``z`` restricted to each domain: ``z`` is ``(k, n)`` (each row belongs to at most one
        domain, so one variable serves every domain); returns ``(k, n_levels)``.

        The domain variables ``z · 1_d`` are formed a few at a time, to bound the memory (about 128 MB).
        """
        fast = self._poststratified_variances(z, codes, n_levels)
        if fast is not None:
            return fast
        return self._general_variances(z, codes, n_levels)

    def _general_variances(self, z: np.ndarray, codes: np.ndarray, n_levels: int) -> np.ndarray:
        """Every domain variable formed and residualised through the calibration steps (any design)."""
        k, n = z.shape
        out = np.zeros((k, n_levels))
        pairs = [(v, d) for d in range(n_levels) for v in range(k)]
        step = max(1, (1 << 24) // max(n, 1))
        for start in range(0, len(pairs), step):
            chunk = pairs[start : start + step]
            block = np.zeros((len(chunk), n))
            for j, (v, d) in enumerate(chunk):
                inside = codes == d
                block[j, inside] = z[v, inside]
            variances = self._variance(block)
            for j, (v, d) in enumerate(chunk):
                out[v, d] = variances[j]
        return out

    def _poststratified_variances(self, z: np.ndarray, codes: np.ndarray, n_levels: int) -> np.ndarray | None:
        """:meth:`_domain_variances` in one pass over the rows when the units were post-stratified (or not
        calibrated at all): None otherwise (raking), and the general way is taken.

        With ``u = w z 1_d``, ``r = u / w_s`` (``w_s`` the post-stratified weights) and the cell means
        ``m_c = mean_{i in c} r_i``, the residuals are ``e_i = u_i − w_s,i m_c(i)``, so each unit's
        ``Σ e`` and ``Σ e²`` follow from sums over (cell, domain) and (unit, domain):
        ``Σ_h e = Σ u − Σ_c m_c Σ_c w_s`` and ``Σ_h e² = Σ u² − 2 Σ_c m_c Σ_c w_s u + Σ_c m_c² Σ_c w_s²``;
        then ``V = Σ_h n_h/(n_h − 1) (Σ e² − (Σ e)²/n_h)`` as :func:`~analysis.design.stratified_variance`.
        """
        steps = self.weights.steps
        if len(steps) == 1 and isinstance(steps[0], calibration.Raking):
            return self._raked_variances(z, codes, n_levels, steps[0])
        if len(steps) > 1 or (steps and not isinstance(steps[0], calibration.PostStratification)):
            return None
        w, unit, n_units = self.weights.weight, self.sample.unit, self.sample.n_units
        # Rows outside every domain (code n_levels) are summed into bins of their own, left out below:
        # each domain's bins add the same rows in the same order as summing the domain's rows alone.
        n_d = n_levels + 1
        unit_domain = unit * n_d + codes
        n_h = self.units.counts.astype(np.float64)
        factor = np.where(n_h >= 2, safe_divide(n_h, n_h - 1.0, 0.0), 0.0)[:, None]
        if steps:
            cells, ws, n_cells, cell_unit, cell_n, ws_cell, ws2_cell = self._cell_frame()
            cell_domain = cells.codes * n_d + codes
        out = np.empty((z.shape[0], n_levels))
        for v in range(z.shape[0]):
            u = w * z[v]
            sum_e = _domain_bins(unit_domain, u, n_units, n_d)
            sum_e2 = _domain_bins(unit_domain, u * u, n_units, n_d)
            if steps:
                m = safe_divide(_domain_bins(cell_domain, u / ws, n_cells, n_d), cell_n[:, None], 0.0)
                swu = _domain_bins(cell_domain, ws * u, n_cells, n_d)
                for level in range(n_levels):
                    mc = m[:, level]
                    sum_e[:, level] -= _bincount(cell_unit, mc * ws_cell, n_units)
                    sum_e2[:, level] += _bincount(cell_unit, mc * mc * ws2_cell - 2.0 * mc * swu[:, level], n_units)
            squares = np.maximum(sum_e2 - sum_e * sum_e / np.maximum(n_h, 1.0)[:, None], 0.0)
            out[v] = (factor * squares).sum(axis=0)
        return out

    def _cell_frame(self) -> tuple:
        """:func:`_cell_frame` of the post-stratification, and w², w / w_s and w_s w of every row, made once."""
        if self._frame is None:
            step = self.weights.steps[0]
            w, ws = self.weights.weight, step.weights
            self._frame = _cell_frame(step, self.sample.unit)
            self._row_products = (w * w, w / ws, ws * w)
        return self._frame

    def _poststratified_shares(self, category: np.ndarray, codes: np.ndarray, n_levels: int,
                               n_categories: int) -> tuple[np.ndarray, np.ndarray] | None:
        """:meth:`shares`' estimates and variances ``(k, n_levels)`` from sums per (unit, domain, category)
        and (cell, domain, category) when the units were post-stratified (or not calibrated): None otherwise.

        Inside domain d every row is answered and ``u_c = w (1(category = c) − p_cd) / T_d`` (``T_d = Σ_d w``),
        so with ``A_c = Σ w 1(category = c)``, ``A = Σ_c A_c`` and the same for ``w²``, ``w / w_s`` and
        ``w_s w``, the sums of :meth:`_poststratified_variances` are ``Σ u_c = (A_c − p A) / T``,
        ``Σ u_c² = (A²_c (1 − 2p) + p² A²) / T²`` and so on: four weighted counts for all categories
        instead of four per category.
        """
        steps = self.weights.steps
        if len(steps) > 1 or (steps and not isinstance(steps[0], calibration.PostStratification)):
            return None
        if category.size and int(category.max()) > n_categories:  # rows in no column: the general way
            return None
        w, unit, n_units = self.weights.weight, self.sample.unit, self.sample.n_units
        k, n_l = n_categories, n_levels
        # Bins of their own for rows outside every domain (code n_l) and unanswered rows (category 0), left
        # out below: each (domain, category) adds the same rows in the same order as summing them alone.
        n_d, n_c = n_l + 1, k + 1
        key = (unit * n_d + codes) * n_c + category
        size = n_units * n_l * k
        a_c = _domain_bins(key, w, n_units, n_d, n_c)
        if steps:
            cells, _ws, n_cells, cell_unit, cell_n, ws_cell, ws2_cell = self._cell_frame()
            w2, w_ws, ws_w = self._row_products
        else:
            w2 = w * w
        a2_c = _domain_bins(key, w2, n_units, n_d, n_c)
        total = a_c.sum(axis=(0, 2))  # (levels,)
        share = safe_divide(a_c.sum(axis=0), total[:, None])  # (levels, k)
        p = np.nan_to_num(share)
        inverse = safe_divide(1.0, total, 0.0)[:, None]  # (levels, 1)
        sum_e = (a_c - p * a_c.sum(axis=2, keepdims=True)) * inverse
        sum_e2 = (a2_c * (1.0 - 2.0 * p) + p * p * a2_c.sum(axis=2, keepdims=True)) * (inverse * inverse)
        if steps:
            cell_key = (cells.codes * n_d + codes) * n_c + category
            b_c = _domain_bins(cell_key, w_ws, n_cells, n_d, n_c)
            s_c = _domain_bins(cell_key, ws_w, n_cells, n_d, n_c)
            m = safe_divide((b_c - p * b_c.sum(axis=2, keepdims=True)) * inverse, cell_n[:, None, None], 0.0)
            swu = (s_c - p * s_c.sum(axis=2, keepdims=True)) * inverse
            spread = (cell_unit[:, None] * (n_l * k) + np.arange(n_l * k)).ravel()
            sum_e -= _bincount(spread, (m * ws_cell[:, None, None]).ravel(), size).reshape(n_units, n_l, k)
            sum_e2 += _bincount(spread, (m * m * ws2_cell[:, None, None] - 2.0 * m * swu).ravel(),
                                size).reshape(n_units, n_l, k)
        n_h = self.units.counts.astype(np.float64)
        factor = np.where(n_h >= 2, safe_divide(n_h, n_h - 1.0, 0.0), 0.0)[:, None, None]
        squares = np.maximum(sum_e2 - sum_e * sum_e / np.maximum(n_h, 1.0)[:, None, None], 0.0)
        return share.T, (factor * squares).sum(axis=0).T

    def _raked_variances(self, z: np.ndarray, codes: np.ndarray, n_levels: int,
                         step: calibration.Raking) -> np.ndarray:
        """:meth:`_domain_variances` for raked units without forming the domain variables.

        The GREG residual is ``e = w_s (r − X β_h)``, ``r = u / w_s``, ``β_h`` the base-weighted
        least-squares fit of r on the unit's margin indicators X (``G_h β_h = X'D r``, pseudo-inverse as in
        :func:`analysis.calibration.margin_fit`). With ``u`` zero outside the domain, ``X'D r``,
        ``Σ w_s X``, ``Σ w_s² r X`` and ``X'W_s²X`` are sums per (unit, margin level[, domain]), so each
        unit's ``Σ e = Σ u − a_h'β_h`` and ``Σ e² = Σ w_s² r² − 2 β_h'b_h + β_h'H_h β_h`` follow in one pass.
        """
        w, unit, n_units = self.weights.weight, self.sample.unit, self.sample.n_units
        if not np.array_equal(step.segments.codes, unit):
            return self._general_variances(z, codes, n_levels)
        ws, base = step.weights, step.base_weights
        offsets = np.concatenate(([0], np.cumsum(step.sizes))).astype(np.intp)
        p_cols = int(offsets[-1])
        gram = np.zeros((n_units, p_cols, p_cols))
        h2 = np.zeros((n_units, p_cols, p_cols))
        a = np.zeros((n_units, p_cols))
        for m, (cm, lm) in enumerate(zip(step.codes, step.sizes)):
            cell = unit * lm + cm
            a[:, offsets[m]:offsets[m + 1]] = _bincount(cell, ws, n_units * lm).reshape(n_units, lm)
            for j, (cj, lj) in enumerate(zip(step.codes, step.sizes)):
                key, size = cell * lj + cj, n_units * lm * lj
                block = (slice(None), slice(offsets[m], offsets[m + 1]), slice(offsets[j], offsets[j + 1]))
                gram[block] = _bincount(key, base, size).reshape(n_units, lm, lj)
                h2[block] = _bincount(key, ws * ws, size).reshape(n_units, lm, lj)
        inverse = np.linalg.pinv(gram, rtol=calibration._GRAM_RTOL, hermitian=True)
        inside = codes < n_levels
        d = codes[inside]
        unit_in = unit[inside]
        unit_domain = unit_in * n_levels + d
        n_h = self.units.counts.astype(np.float64)
        factor = np.where(n_h >= 2, safe_divide(n_h, n_h - 1.0, 0.0), 0.0)[:, None]
        ws_in, base_in = ws[inside], base[inside]
        out = np.empty((z.shape[0], n_levels))
        for v in range(z.shape[0]):
            u = (w * z[v])[inside]
            r = u / ws_in
            rhs = np.zeros((n_units, p_cols, n_levels))
            b = np.zeros((n_units, p_cols, n_levels))
            for m, (cm, lm) in enumerate(zip(step.codes, step.sizes)):
                key = (unit_in * lm + cm[inside]) * n_levels + d
                size = n_units * lm * n_levels
                rhs[:, offsets[m]:offsets[m + 1], :] = _bincount(key, base_in * r, size).reshape(n_units, lm, n_levels)
                b[:, offsets[m]:offsets[m + 1], :] = _bincount(key, ws_in * u, size).reshape(n_units, lm, n_levels)
            beta = inverse @ rhs  # (units, p, levels)
            sum_e = _bincount(unit_domain, u, n_units * n_levels).reshape(n_units, n_levels)
            sum_e -= np.einsum("hp,hpd->hd", a, beta)
            sum_e2 = _bincount(unit_domain, u * u, n_units * n_levels).reshape(n_units, n_levels)
            sum_e2 += -2.0 * np.einsum("hpd,hpd->hd", beta, b) + np.einsum("hpd,hpq,hqd->hd", beta, h2, beta)
            squares = np.maximum(sum_e2 - sum_e * sum_e / np.maximum(n_h, 1.0)[:, None], 0.0)
            out[v] = (factor * squares).sum(axis=0)
        return out

    def _segments(self, codes: np.ndarray, n_levels: int) -> tuple[np.ndarray, Segments]:
        """Row codes with rows outside every domain (and of withheld units) moved to an extra segment."""
        codes = self._domain_codes(codes, n_levels)
        return codes, Segments(codes, n_levels + 1)

    def _domain_codes(self, codes: np.ndarray, n_levels: int) -> np.ndarray:
        """:meth:`_segments`' codes alone."""
        if self._all_usable is None:
            self._all_usable = bool(self.usable.all())
        inside = (codes >= 0) & (codes < n_levels)
        return np.where(inside if self._all_usable else self.usable & inside, codes, n_levels)

    def _variables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """x (answered), y (score), t (answers) and s (satisfied answers) of every row, made once."""
        if self._cache is None:
            level, params = self.sample.level, self.params
            x = level > 0
            y = np.asarray(params.scores)[np.maximum(level, 1) - 1] * x
            s = level >= params.satisfied_min_level
            self._cache = (x, y, x.sum(axis=0, dtype=np.float64), s.sum(axis=0, dtype=np.float64))
        return self._cache

    def _weighted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """x w and y w of every row (``(Q, n)``), and w t and w s, made once for every breakdown."""
        if self._weighted_cache is None:
            x, y, t_i, s_i = self._variables()
            w = self.weights.weight
            self._weighted_cache = (x * w, y * w, w * t_i, w * s_i)
        return self._weighted_cache

    def _answer_patterns(self) -> tuple[np.ndarray | None, np.ndarray]:
        """Each row's answers as one code (the levels of all questions, base L + 1; None when there are too
        many combinations for a table) and its (satisfied, answered) counts as one code, made once."""
        if self._patterns is None:
            level = self.sample.level
            n_q, base = level.shape[0], len(self.params.scores) + 1
            pattern = None
            if base**n_q <= _MAX_PATTERNS:
                pattern = np.zeros(level.shape[1], dtype=np.intp)
                for q in range(n_q):
                    pattern *= base
                    pattern += level[q]
            answered = (level > 0).sum(axis=0, dtype=np.intp)
            satisfied = (level >= self.params.satisfied_min_level).sum(axis=0, dtype=np.intp)
            counts = satisfied * (n_q + 1) + answered
            self._patterns = (pattern, counts)
        return self._patterns

    def _fine_domain_sums(self, codes: np.ndarray, n_levels: int) -> tuple[np.ndarray, ...] | None:
        """:meth:`domains`' weighted sums (Σ x w and Σ y w per question, Σ w t and Σ w s) per level of ``codes``
        added up from the sums per fine cell — unit × every margin's level, made once — when ``codes`` is
        the same for every row of a fine cell (a margin's level, a unit's category): a few hundred cells
        to add instead of every row per breakdown. None otherwise (each row is then summed)."""
        fine = self._fine()
        if fine is None:
            return None
        cell, n_cells, per_level, per_count = fine
        cell_code = np.full(n_cells, n_levels, dtype=np.intp)
        cell_code[cell] = codes
        if not np.array_equal(cell_code[cell], codes):
            return None
        size = n_levels + 1
        scores = np.asarray(self.params.scores)
        x_l = np.arange(scores.size + 1) > 0
        y_l = scores[np.maximum(np.arange(scores.size + 1), 1) - 1] * x_l
        by_level = np.zeros((per_level.shape[0], size, per_level.shape[2]))
        np.add.at(by_level, (slice(None), cell_code), per_level)  # (Q, domains, levels)
        by_count = np.zeros((size, per_count.shape[1], per_count.shape[2]))
        np.add.at(by_count, cell_code, per_count)  # (domains, s, t)
        values = np.arange(per_count.shape[1], dtype=np.float64)
        return (by_level @ x_l.astype(np.float64), by_level @ y_l,
                by_count.sum(axis=1) @ values, by_count.sum(axis=2) @ values)

    def _fine(self) -> tuple[np.ndarray, int, np.ndarray, np.ndarray] | None:
        """Each row's fine cell (unit × every margin's level), the number of cells, and per cell Σ w by
        each question's level ``(Q, cells, L + 1)`` and by (satisfied, answered) counts ``(cells, Q + 1, Q + 1)``;
        None when there would be too many cells."""
        if self._fine_cache is None:
            sample, w = self.sample, self.weights.weight
            n_cells = sample.n_units
            for name in sample.margins:
                n_cells *= max(sample.margin_sizes[name], 1)
            n_q, base = sample.level.shape[0], len(self.params.scores) + 1
            if n_cells * max(base, (n_q + 1) ** 2) > _MAX_FINE_BINS:
                self._fine_cache = (None,)
                return None
            cell = sample.unit.astype(np.intp)
            for name, codes in sample.margins.items():
                cell = cell * max(sample.margin_sizes[name], 1) + codes
            per_level = np.empty((n_q, n_cells, base))
            for q in range(n_q):
                per_level[q] = np.bincount(cell * base + sample.level[q], w, n_cells * base).reshape(n_cells, base)
            _, counts = self._answer_patterns()
            per_count = np.bincount(cell * (n_q + 1) ** 2 + counts, w, n_cells * (n_q + 1) ** 2)
            self._fine_cache = (cell, n_cells, per_level, per_count.reshape(n_cells, n_q + 1, n_q + 1))
        return None if self._fine_cache[0] is None else self._fine_cache

    def _index_variable(self, out: np.ndarray, codes: np.ndarray, coef: np.ndarray, r_0: np.ndarray) -> None:
        """``out = Σ_q coef[q, d] (y_q − r_0[q, d] x_q)`` for each row in its domain d, added question by question.

        Each term only depends on the row's domain and its level of q, so it is computed once per
        (domain, level) with the same operations and looked up; the sum over the questions is taken in the
        same order for each (domain, pattern of levels) of the table — the same bits as row by row."""
        n_q, n_d = coef.shape
        scores = np.asarray(self.params.scores)
        levels = np.arange(len(scores) + 1)
        x_l = levels > 0
        y_l = scores[np.maximum(levels, 1) - 1] * x_l
        terms = [coef[q][:, None] * (y_l[None, :] - r_0[q][:, None] * x_l[None, :]) for q in range(n_q)]  # (D, L+1)
        pattern, _ = self._answer_patterns()
        if pattern is not None:
            table = np.zeros((n_d, 1))
            for term in terms:  # (D, patterns so far) → (D, patterns × (L + 1)), question q varying fastest
                table = (table[:, :, None] + term[:, None, :]).reshape(n_d, -1)
            out[:] = table.reshape(-1)[codes * table.shape[1] + pattern]
            return
        out[:] = 0.0
        level = self.sample.level
        for q in range(n_q):
            out += terms[q].reshape(-1)[codes * levels.size + level[q]]

    def _rate_variable(self, out: np.ndarray, codes: np.ndarray, rate: np.ndarray, inverse: np.ndarray) -> None:
        """``out = (s − rate[d] t) · inverse[d]`` for each row in its domain d, looked up per (domain, s, t)."""
        n_q = self.sample.level.shape[0]
        values = np.arange(n_q + 1, dtype=np.float64)
        table = (values[None, :, None] - rate[:, None, None] * values[None, None, :]) * inverse[:, None, None]
        _, counts = self._answer_patterns()
        out[:] = table.reshape(-1)[codes * (n_q + 1) ** 2 + counts]

    def domains(self, by: str, codes: np.ndarray, n_levels: int) -> DomainResults:
        """Index and 满意率 of each level of ``codes`` (row codes, −1 = in no domain)."""
        params, w, a = self.params, self.weights.weight, self.a
        codes = self._domain_codes(codes, n_levels)
        n = np.bincount(codes, minlength=n_levels + 1)[:n_levels]
        sums = self._fine_domain_sums(codes, n_levels)
        if sums is None:
            xw, yw, wt_i, ws_i = self._weighted()
            seg = Segments(codes, n_levels + 1)
            sums = seg.sum(xw), seg.sum(yw), seg.sum(wt_i), seg.sum(ws_i)
        wx, wy, wt, wsat = sums  # (Q, levels + 1) twice, (levels + 1,) twice
        r_q = safe_divide(wy, wx)
        answered = wx > 0
        a_sum = (a[:, None] * answered).sum(axis=0)
        index = safe_divide((a[:, None] * np.where(answered, r_q, 0.0)).sum(axis=0), a_sum)
        rate = safe_divide(wsat, wt)
        # Each row's linearised variables for its own domain.
        coef = safe_divide(np.where(answered, a[:, None], 0.0), a_sum[None, :] * wx, 0.0)  # (Q, levels + 1)
        z = np.empty((2, w.size))
        self._index_variable(z[0], codes, coef, np.nan_to_num(r_q))
        self._rate_variable(z[1], codes, np.nan_to_num(rate), safe_divide(1.0, wt, 0.0))
        variance = self._domain_variances(z, codes, n_levels)
        se = np.where(n >= 2, np.sqrt(variance), np.nan)
        index, rate = index[:n_levels], rate[:n_levels]
        return DomainResults(by=by, n=n.astype(np.int64), index=index,
                             index_se=np.where(np.isnan(index), np.nan, se[0]),
                             satisfied_rate=rate, satisfied_rate_se=np.where(np.isnan(rate), np.nan, se[1]),
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
        codes = self._domain_codes(np.where(x, codes, -1), n_levels)
        n = np.bincount(codes, minlength=n_levels + 1)[:n_levels].astype(np.int64)
        fast = self._poststratified_shares(category, codes, n_levels, n_categories)
        if fast is not None:
            share, variance = fast
            se = np.where((n >= 2) & ~np.isnan(share), np.sqrt(variance), np.nan)
            return CrossTab(question=question, by=by, n=n, share=share, se=se)
        seg = Segments(codes, n_levels + 1)
        indicators = (category[None, :] == np.arange(1, n_categories + 1)[:, None]).astype(np.float64)
        total = seg.sum(w * x)  # (levels + 1,)
        share = safe_divide(seg.sum(indicators * w), total)  # (k, levels + 1)
        z = (indicators - seg.expand(np.nan_to_num(share)) * x) * seg.expand(safe_divide(1.0, total, 0.0))
        variance = self._domain_variances(z, codes, n_levels)
        share = share[:, :n_levels]
        se = np.where((n >= 2) & ~np.isnan(share), np.sqrt(variance), np.nan)
        return CrossTab(question=question, by=by, n=n, share=share, se=se)


def _cell_frame(step: calibration.PostStratification, unit: np.ndarray) -> tuple:
    """The post-stratification cells as the one-pass variances use them: (cells, the calibration
    factors ws, the number of cells, each cell's unit, each cell's row count as float, Σ ws and Σ ws²
    per cell)."""
    cells, ws = step.cells, step.weights
    n_cells = cells.n_segments
    cell_unit = np.zeros(n_cells, dtype=np.intp)
    cell_unit[cells.codes] = unit
    return (cells, ws, n_cells, cell_unit, cells.counts.astype(np.float64), cells.sum(ws), cells.sum(ws * ws))


def _domain_bins(key: np.ndarray, weights: np.ndarray, n_groups: int, n_d: int, n_c: int = 0) -> np.ndarray:
    """Sums of ``weights`` per (group, domain[, category]) bin of ``key``, without the last domain (rows in
    none) and the first category (not answered): ``(n_groups, n_d − 1[, n_c − 1])``, contiguous."""
    if not n_c:
        return np.ascontiguousarray(_bincount(key, weights, n_groups * n_d).reshape(n_groups, n_d)[:, :-1])
    bins = _bincount(key, weights, n_groups * n_d * n_c).reshape(n_groups, n_d, n_c)
    return np.ascontiguousarray(bins[:, :-1, 1:])


def _bincount(codes: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """Weighted counts as floats, also without any record (``np.bincount`` then returns integers)."""
    return np.bincount(codes, weights, size).astype(np.float64, copy=False)


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
