"""Every other question type per unit: single choice, multiple choice, 0–10 ratings and free text.

The satisfaction questions give the index (:mod:`analysis.satisfaction`); the other
questions of a questionnaire are estimated here, on the **same sample and weights**: a
unit's respondents are those who rated it (its index sample), weighted exactly as for the
index (post-stratification, raking, trimming, thin cells collapsed), and every SE is a
Taylor linearisation with the same calibration residuals. An item answer of a respondent
outside the unit's index sample (no satisfaction record for the unit) has no weight and is
left out.

Every estimate is a ratio of weighted totals over the respondents who answered the item
(x_i = 1 when i answered it):

* single choice, option k: p_k = Σ w 1[i chose k] / Σ w x (R: ``svymean(~I(opt == k),
  subset(des, answered))``, which equals ``svyratio(~I(opt == k), ~x, des)``);
* single choice with option scores: the mean score Σ w score / Σ w x and the share of the
  best-scored option (the window survey's 一次办成率: "办理这件事，您一共跑了几次？"
  scored 100/50/0 → the share of 一次办成);
* multiple choice, option k: the share of those who chose at least one option that chose k;
* 0–10 rating: the mean Σ w v / Σ w x and the distribution p_v, v = 0 … 10;
* free text: the number of (non-empty) answers, unweighted.

A *conditional* question (one with a display condition) may not have been shown to a
respondent: a not-shown record (``ItemRecords.not_shown``) is structurally missing, neither
不了解 nor skipped. Its shares, mean and scored indicator are first estimated among those it was
shown to who answered (the figures above: the not-shown are outside the domain, R:
``svymean(~y, subset(des, answered))`` — a domain of the whole unit's design, not the rows dropped
first), and its shares (each option, the scored indicator, the 0–10 distribution) again **among
all respondents**: the domain is those who answered or were not shown, a not-shown respondent
counting as choosing nothing (R: ``svymean(~y, subset(des, answered | not_shown))`` with y = 0 for
the not-shown; skipped stays outside both). Means have no second figure (a not-shown respondent
has no value). A *counted* item also reports the unweighted number choosing each
category and n shown (the 差评 reasons table).

SE: z_i = (y_i − R x_i) / Σ w x, u = w z, residualised by the calibration steps, then
V = n/(n−1) Σ (e_i − ē)² per unit (no SE for n < 2). Shares carry Korn–Graubard intervals
with n* = p(1−p)/V (the number of respondents who answered where that is undefined), means
the interval of ``Params.index_ci`` on their scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis import calibration
from analysis.answers import Answers
from analysis.ci import bounded_ci, korn_graubard_ci, normal_ci, share_n_eff
from analysis.design import stratified_variance
from analysis.params import Params
from analysis.segments import Segments, safe_divide
from analysis.weighting import UnitWeights, compute_weights

KINDS = ("single", "multiple", "rating", "text")
RATING_VALUES = tuple(range(11))  # 0 … 10


@dataclass(frozen=True)
class Item:
    """One non-satisfaction question: ``kind`` in :data:`KINDS`; ``options`` the option codes (choice
    questions), ``scores`` their scores (None for an option without one) — a single-choice item is
    *scored* when every option has a score."""

    code: str
    kind: str
    options: tuple[str, ...] = ()
    scores: tuple[float | None, ...] = ()
    #: the question has a display condition: its shares are also given among all respondents
    conditional: bool = False
    #: also report the unweighted number choosing each category and n shown (a table of counts, such
    #: as the 差评 reasons per unit)
    counted: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"item {self.code}: unknown kind {self.kind!r} (one of {', '.join(KINDS)})")
        if self.kind in ("single", "multiple") and not self.options:
            raise ValueError(f"item {self.code}: a choice question needs options")
        if self.scores and len(self.scores) != len(self.options):
            raise ValueError(f"item {self.code}: {len(self.scores)} scores for {len(self.options)} options")

    @property
    def scored(self) -> bool:
        return self.kind == "single" and bool(self.scores) and all(s is not None for s in self.scores)

    @property
    def top_option(self) -> int | None:
        """Index of the best-scored option (the first of equals), for a scored item."""
        if not self.scored:
            return None
        return int(np.argmax(np.asarray(self.scores, dtype=np.float64)))

    @property
    def categories(self) -> tuple[str, ...]:
        """What the share columns are: option codes, or the rating values 0 … 10."""
        if self.kind == "rating":
            return tuple(str(v) for v in RATING_VALUES)
        return self.options if self.kind in ("single", "multiple") else ()


@dataclass(frozen=True)
class ItemRecords:
    """Flat item answers, one element per record: ``item`` indexes the items list; ``value`` is the
    option index (choice questions; a multiple-choice answer is one record per option chosen), the
    rating 0 … 10, or anything (text: an empty text should not be a record). ``not_shown`` (optional,
    boolean) marks a record of a respondent the question was not shown to: its value is ignored, and a
    respondent may not have both a not-shown record and an answer for one item and unit."""

    respondent: np.ndarray
    unit: np.ndarray
    item: np.ndarray
    value: np.ndarray
    not_shown: np.ndarray | None = None


@dataclass
class ItemResult:
    """One item for every unit (arrays with a first axis of ``n_units``).

    ``n``: respondents of the unit's index sample who answered; ``shares`` / ``shares_se`` /
    ``shares_ci_low`` / ``shares_ci_high``: ``(n_units, categories)``; ``mean`` … for scored single
    choice (the mean option score) and ratings (the mean rating); ``top_share`` … the share of the
    best-scored option (scored items). Missing values are NaN.

    A conditional item also has ``n_not_shown`` (respondents of the index sample it was not shown to),
    ``n_shown`` (the rest, answered or skipped) and the ``all_*`` shares among all respondents (those who
    answered or were not shown, the not-shown choosing nothing; ``all_n`` of them), per unit and pooled.
    """

    item: Item
    n: np.ndarray
    shares: np.ndarray | None = None
    shares_se: np.ndarray | None = None
    shares_ci_low: np.ndarray | None = None
    shares_ci_high: np.ndarray | None = None
    mean: np.ndarray | None = None
    mean_se: np.ndarray | None = None
    mean_ci_low: np.ndarray | None = None
    mean_ci_high: np.ndarray | None = None
    #: all units pooled (each unit its own stratum, with its own weights): shares and mean with SEs
    overall_n: int = 0
    overall_shares: np.ndarray | None = None
    overall_shares_se: np.ndarray | None = None
    overall_mean: float = float("nan")
    overall_mean_se: float = float("nan")
    n_not_shown: np.ndarray | None = None
    all_shares: np.ndarray | None = None
    all_shares_se: np.ndarray | None = None
    all_shares_ci_low: np.ndarray | None = None
    all_shares_ci_high: np.ndarray | None = None
    overall_n_not_shown: int = 0
    overall_all_shares: np.ndarray | None = None
    overall_all_shares_se: np.ndarray | None = None
    #: the unit's index sample size (n shown = this − n_not_shown)
    sample_n: np.ndarray | None = None
    overall_sample_n: int = 0
    #: unweighted respondents choosing each category, ``(n_units, categories)`` (counted items)
    counts: np.ndarray | None = None
    overall_counts: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_shown(self) -> np.ndarray | None:
        if self.n_not_shown is None or self.sample_n is None:
            return None
        return self.sample_n - self.n_not_shown

    @property
    def all_n(self) -> np.ndarray | None:
        return None if self.n_not_shown is None else self.n + self.n_not_shown

    @property
    def top_share(self) -> np.ndarray | None:
        k = self.item.top_option
        return None if k is None or self.shares is None else self.shares[:, k]

    @property
    def top_share_se(self) -> np.ndarray | None:
        k = self.item.top_option
        return None if k is None or self.shares_se is None else self.shares_se[:, k]

    def overall(self) -> dict[str, Any]:
        """The pooled figures as plain values: n, shares and their SEs, the mean and, for a scored item,
        the best option's share (e.g. the 一次办成率 of all units)."""
        out: dict[str, Any] = {"code": self.item.code, "kind": self.item.kind, "n": int(self.overall_n)}
        if self.overall_shares is not None and self.overall_shares_se is not None:
            out.update(shares=[float(v) for v in self.overall_shares],
                       shares_se=[float(v) for v in self.overall_shares_se])
        if self.mean is not None:
            out.update(mean=float(self.overall_mean), mean_se=float(self.overall_mean_se))
        k = self.item.top_option
        if k is not None and self.overall_shares is not None and self.overall_shares_se is not None:
            out.update(top_option=self.item.options[k], top_share=float(self.overall_shares[k]),
                       top_share_se=float(self.overall_shares_se[k]))
        if self.item.counted and self.overall_counts is not None:
            out.update(categories=list(self.item.categories), counts=[int(v) for v in self.overall_counts],
                       n_shown=int(self.overall_sample_n - self.overall_n_not_shown))
        if self.item.conditional:
            shown = {"n_shown": int(self.overall_sample_n - self.overall_n_not_shown),
                     "n_not_shown": int(self.overall_n_not_shown)}
            out.update(shown)
            if self.overall_all_shares is not None and self.overall_all_shares_se is not None:
                every = {"n": int(self.overall_n + self.overall_n_not_shown),
                         "shares": [float(v) for v in self.overall_all_shares],
                         "shares_se": [float(v) for v in self.overall_all_shares_se]}
                if k is not None:
                    every.update(top_share=float(self.overall_all_shares[k]),
                                 top_share_se=float(self.overall_all_shares_se[k]))
                out["all"] = every
        return out

    def row(self, i: int) -> dict[str, Any]:
        """Unit ``i``'s figures as plain Python values (NaN for missing), for storage and exports."""
        def values(a: np.ndarray | None) -> list[float] | None:
            return None if a is None else [float(v) for v in a[i]]

        def value(a: np.ndarray | None) -> float | None:
            return None if a is None else float(a[i])

        item = self.item
        out: dict[str, Any] = {"code": item.code, "kind": item.kind, "n": int(self.n[i])}
        if item.kind != "text":
            out.update(categories=list(item.categories), shares=values(self.shares), shares_se=values(self.shares_se),
                       shares_ci=[[float(lo), float(hi)] for lo, hi in
                                  zip(self.shares_ci_low[i], self.shares_ci_high[i], strict=True)])
        if self.mean is not None:
            out.update(mean=value(self.mean), mean_se=value(self.mean_se),
                       mean_ci=[value(self.mean_ci_low), value(self.mean_ci_high)])
        if item.top_option is not None:
            k = item.top_option
            out.update(top_option=item.options[k], top_share=value(self.top_share),
                       top_share_se=value(self.top_share_se),
                       top_share_ci=[float(self.shares_ci_low[i, k]), float(self.shares_ci_high[i, k])])
        if item.counted and self.counts is not None and self.sample_n is not None and self.n_not_shown is not None:
            out.update(counts=[int(v) for v in self.counts[i]], n_shown=int(self.sample_n[i] - self.n_not_shown[i]))
        if item.conditional and self.n_not_shown is not None and self.sample_n is not None:
            out.update(n_shown=int(self.sample_n[i] - self.n_not_shown[i]), n_not_shown=int(self.n_not_shown[i]))
            if self.all_shares is not None and self.all_shares_se is not None:
                every: dict[str, Any] = {
                    "n": int(self.n[i] + self.n_not_shown[i]), "shares": values(self.all_shares),
                    "shares_se": values(self.all_shares_se),
                    "shares_ci": [[float(lo), float(hi)] for lo, hi in
                                  zip(self.all_shares_ci_low[i], self.all_shares_ci_high[i], strict=True)]}
                if item.top_option is not None:
                    k = item.top_option
                    every.update(top_share=float(self.all_shares[i, k]), top_share_se=float(self.all_shares_se[i, k]),
                                 top_share_ci=[float(self.all_shares_ci_low[i, k]),
                                               float(self.all_shares_ci_high[i, k])])
                out["all"] = every
        return out


def compute_items(
    answers: Answers | None,
    params: Params,
    items: Sequence[Item],
    records: ItemRecords,
    units: np.ndarray | None = None,
    n_questions: int | None = None,
    weights: UnitWeights | None = None,
    rows: np.ndarray | None = None,
) -> list[ItemResult]:
    """Estimate every item for every unit, on the index sample of ``answers`` weighted per ``params``.

    ``units`` and ``n_questions`` as for :func:`analysis.compute_indices` (results come in the same
    unit order); ``weights`` saves weighting again when the caller already has them, and ``rows``
    (:func:`record_rows` of those weights and ``records``) finding the records' rows again.
    """
    if n_questions is None and params.question_weights is not None:
        n_questions = len(params.question_weights)
    if weights is None:
        if answers is None:
            raise ValueError("compute_items needs the answers or their weights")
        weights = compute_weights(answers, params, units, n_questions)
    row = record_rows(weights, records) if rows is None else rows
    segments = Segments(weights.unit, weights.units.size)
    item_code = np.asarray(records.item, dtype=np.int64)
    value = np.asarray(records.value)
    hidden = (np.zeros(item_code.size, dtype=bool) if records.not_shown is None
              else np.asarray(records.not_shown, dtype=bool))
    out = []
    for k, item in enumerate(items):
        mine = (item_code == k) & (row >= 0)
        answered, not_shown = mine & ~hidden, mine & hidden
        if not_shown.any() and not item.conditional:
            raise ValueError(f"item {item.code}: not-shown records for a question without a display condition")
        out.append(_estimate_item(item, row[answered], value[answered], weights, segments, params,
                                  row[not_shown] if item.conditional else None))
    return out


def record_rows(weights: UnitWeights, records: ItemRecords) -> np.ndarray:
    """Each record's row in the weighted respondent–unit table (-1: not in the unit's index sample)."""
    n_rec = np.asarray(records.respondent).size
    if n_rec == 0 or weights.unit.size == 0:
        return np.full(n_rec, -1, dtype=np.int64)
    unit_labels = np.asarray(weights.units)
    order = np.argsort(unit_labels, kind="stable")
    rec_unit = np.ascontiguousarray(records.unit)
    pos = np.minimum(np.searchsorted(unit_labels[order], rec_unit), unit_labels.size - 1)
    known_unit = unit_labels[order][pos] == rec_unit
    rec_unit_code = np.where(known_unit, order[pos], -1)
    row_people, rec_people = np.asarray(weights.respondent), np.asarray(records.respondent)
    n_units = max(int(unit_labels.size), 1)
    integers = row_people.dtype.kind in "iu" and rec_people.dtype.kind in "iu"
    lo = min(int(row_people.min()), int(rec_people.min())) if integers else 0
    span = max(int(row_people.max()), int(rec_people.max())) - lo + 1 if integers else 0
    if integers and span * n_units < 2**62:  # integer ids as they are, offset by the smallest
        row_code, rec_code = row_people.astype(np.int64) - lo, rec_people.astype(np.int64) - lo
    else:
        people, codes = np.unique(np.concatenate([row_people, rec_people]), return_inverse=True)
        codes = codes.reshape(-1)
        span = max(int(people.size), 1)
        row_code, rec_code = codes[: row_people.size], codes[row_people.size :]
    if span <= 4 * max(row_code.size, rec_code.size, 1):
        # One row per respondent (each rated one unit): a table from respondent to row, the unit checked.
        row_of = np.full(span, -1, dtype=np.int64)
        row_of[row_code] = np.arange(row_code.size)
        if np.count_nonzero(row_of >= 0) == row_code.size:
            at = row_of[np.clip(rec_code, 0, span - 1)]
            found = known_unit & (rec_code >= 0) & (rec_code < span) & (at >= 0)
            found &= np.asarray(weights.unit)[np.maximum(at, 0)] == rec_unit_code
            return np.where(found, at, -1)
    row_key = weights.unit.astype(np.int64) * span + row_code
    rec_key = rec_unit_code.astype(np.int64) * span + rec_code
    key_order = np.argsort(row_key, kind="stable")
    sorted_keys = row_key[key_order]
    rec_order = np.argsort(rec_key, kind="stable")  # sorted needles: a cache-friendly search
    at = np.empty(rec_key.size, dtype=np.intp)
    at[rec_order] = np.minimum(np.searchsorted(sorted_keys, rec_key[rec_order]), row_key.size - 1)
    found = known_unit & (sorted_keys[at] == rec_key)
    return np.where(found, key_order[at], -1)


def _estimate_item(item: Item, row: np.ndarray, value: np.ndarray, weights: UnitWeights, segments: Segments,
                   params: Params, hidden_row: np.ndarray | None = None) -> ItemResult:
    n_rows = weights.unit.size
    w = weights.weight
    x = np.zeros(n_rows)
    x[row] = 1.0
    n = segments.sum(x).astype(np.int64)
    hidden = None
    if hidden_row is not None:
        hidden = np.zeros(n_rows)
        hidden[hidden_row] = 1.0
        if np.any(hidden * x > 0):
            raise ValueError(f"item {item.code}: a respondent both answered and was not shown the question")
    if item.kind == "text":
        result = ItemResult(item=item, n=n, overall_n=int(n.sum()))
        if hidden is not None:
            _add_shown_counts(result, hidden, weights, segments)
        return result
    n_cat = len(item.categories)
    codes = np.asarray(value, dtype=np.float64)
    if codes.size and (np.any(codes != np.round(codes)) or codes.min() < 0 or codes.max() >= n_cat):
        raise ValueError(f"item {item.code}: values must be integers 0 … {n_cat - 1}")
    codes = codes.astype(np.int64)
    y = np.zeros((n_cat, n_rows))
    y[codes, row] = 1.0  # a multiple-choice respondent has a 1 for every option chosen
    if item.kind == "single":
        chosen = y.sum(axis=0)
        if np.any(chosen > 1):
            raise ValueError(f"item {item.code}: a respondent chose more than one option of a single-choice question")
    means = None
    scale: tuple[float, float] | None = None
    if item.scored:
        scores = np.asarray(item.scores, dtype=np.float64)
        means = scores @ y
        scale = (float(scores.min()), float(scores.max()))
    elif item.kind == "rating":
        means = np.asarray(RATING_VALUES, dtype=np.float64) @ y
        scale = (0.0, 10.0)
    variables = y if means is None else np.vstack([y, means[None, :]])
    # Each (row, category) once: the cells' sums are taken over the records.
    once = (row, codes) if np.count_nonzero(y) == codes.size else None
    score_row = None if means is None else (scores if item.scored else np.asarray(RATING_VALUES, dtype=np.float64))
    sums = cell_sums(variables, x, w, weights, segments,
                     None if once is None else (*once, score_row)) if x.any() else None
    estimate, se = ratio_estimates(variables, x, w, weights, segments, sums)
    shares, shares_se = estimate[:n_cat], se[:n_cat]
    level = params.confidence
    n_star = share_n_eff(shares, shares_se**2, n[None, :])
    low, high = korn_graubard_ci(shares, n_star, level)
    pooled, pooled_se = pooled_estimates(variables, x, w, weights, segments, sums)
    result = ItemResult(item=item, n=n, shares=shares.T.copy(), shares_se=shares_se.T.copy(),
                        shares_ci_low=low.T.copy(), shares_ci_high=high.T.copy(),
                        overall_n=int(n[weights.rake_converged].sum()),
                        overall_shares=pooled[:n_cat], overall_shares_se=pooled_se[:n_cat])
    if means is not None:
        result.overall_mean, result.overall_mean_se = float(pooled[n_cat]), float(pooled_se[n_cat])
    if means is not None and scale is not None:
        mean, mean_se = estimate[n_cat], se[n_cat]
        if params.index_ci == "normal" or scale[0] == scale[1]:
            lo, hi = normal_ci(mean, mean_se, level)
        else:
            lo, hi = bounded_ci(mean, mean_se, level, *scale)
        result.mean, result.mean_se, result.mean_ci_low, result.mean_ci_high = mean, mean_se, lo, hi
    if hidden is not None or item.counted:
        _add_shown_counts(result, np.zeros(n_rows) if hidden is None else hidden, weights, segments)
    if item.counted:
        counts = segments.sum(y).astype(np.int64)  # (categories, units)
        result.counts = counts.T.copy()
        result.overall_counts = counts[:, weights.rake_converged].sum(axis=1)
    if hidden is not None:
        every = x + hidden  # answered or not shown; a not-shown respondent chose nothing (y = 0)
        every_sums = cell_sums(y, every, w, weights, segments,
                               None if once is None else (*once, None)) if every.any() else None
        all_shares, all_se = ratio_estimates(y, every, w, weights, segments, every_sums)
        all_n = segments.sum(every)
        n_star = share_n_eff(all_shares, all_se**2, all_n[None, :])
        low, high = korn_graubard_ci(all_shares, n_star, level)
        result.all_shares, result.all_shares_se = all_shares.T.copy(), all_se.T.copy()
        result.all_shares_ci_low, result.all_shares_ci_high = low.T.copy(), high.T.copy()
        result.overall_all_shares, result.overall_all_shares_se = pooled_estimates(y, every, w, weights, segments,
                                                                                    every_sums)
    return result


def _add_shown_counts(result: ItemResult, hidden: np.ndarray, weights: UnitWeights, segments: Segments) -> None:
    """Per unit (and pooled over the units whose raking converged): the index sample and the not-shown."""
    result.n_not_shown = segments.sum(hidden).astype(np.int64)
    result.sample_n = np.asarray(segments.counts, dtype=np.int64)
    kept = weights.rake_converged
    result.overall_n_not_shown = int(result.n_not_shown[kept].sum())
    result.overall_sample_n = int(result.sample_n[kept].sum())


def ratio_estimates(y: np.ndarray, x: np.ndarray, w: np.ndarray, weights: UnitWeights,
                    segments: Segments, sums: CellSums | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, ``R = Σ w y / Σ w x`` for every row of ``y`` (variables × rows) and its linearised SE.

    As ``svyratio(~y, ~x, des)`` on each unit's calibrated design: z = (y − R x) / Σ w x, residualised
    by the calibration steps; NaN where nobody answered, no SE with fewer than 2 respondents, and
    nothing where raking did not converge (as the index). ``sums``: :func:`cell_sums` of the same
    arguments (post-stratified or uncalibrated units), which gives the variances without forming z.
    """
    wx = segments.sum(x * w)
    ratio = safe_divide(segments.sum(y * w), wx[None, :])
    if not wx.any():  # nobody answered (e.g. a question shown to nobody): nothing to estimate
        return ratio, np.full(ratio.shape, np.nan)
    inverse = safe_divide(1.0, wx, 0.0)

    def linearised(rows: np.ndarray | slice) -> np.ndarray:
        codes = segments.codes[rows]
        return (y[:, rows] - np.nan_to_num(ratio)[:, codes] * x[rows]) * inverse[codes] * w[rows]

    if sums is not None:
        squares, loose = sums.unit_squares(np.nan_to_num(ratio), inverse)
        n_h = segments.counts.astype(np.float64)
        variance = squares * safe_divide(n_h, n_h - 1.0, np.nan)
        _exact_units(variance, loose, linearised, weights, segments)
    else:
        variance = stratified_variance(calibration.residualise(linearised(slice(None)), weights.steps), segments)
    variance[:, segments.counts < 2] = np.nan
    se = np.where(np.isnan(ratio), np.nan, np.sqrt(variance))
    withheld = ~weights.rake_converged
    ratio[:, withheld] = np.nan
    se[:, withheld] = np.nan
    return ratio, se


def pooled_estimates(y: np.ndarray, x: np.ndarray, w: np.ndarray, weights: UnitWeights,
                     segments: Segments, sums: CellSums | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All units pooled: ``R = Σ_u Σ_i w y / Σ_u Σ_i w x`` for every row of ``y`` and its linearised SE.

    Each unit is a stratum with its own calibration (as ``svydesign(ids = ~1, strata = ~unit)``
    post-stratified on unit × group): z = (y − R x) / Σ w x over all units, residualised by the
    calibration steps, V = the sum over units of each unit's n/(n−1) Σ (e − ē)². Units whose raking
    did not converge are left out; a unit of one respondent adds nothing to the variance (R's
    ``survey.lonely.psu = "remove"``). Since a unit's weights sum to its n, units count in proportion
    to their respondents, as in the overall 满意率. ``sums`` as for :func:`ratio_estimates` (every unit's
    raking converged then: nothing is left out).
    """
    keep = segments.expand(weights.rake_converged).astype(np.float64)
    x = x * keep
    wx = float((x * w).sum())
    if wx <= 0:
        nan = np.full(y.shape[0], np.nan)
        return nan, nan.copy()
    y = y * keep
    ratio = (y * w).sum(axis=1) / wx

    def linearised(rows: np.ndarray | slice) -> np.ndarray:
        return (y[:, rows] - ratio[:, None] * x[rows]) / wx * w[rows]

    if sums is not None:
        squares, loose = sums.unit_squares(np.broadcast_to(ratio[:, None], (ratio.size, segments.n_segments)),
                                           np.full(segments.n_segments, 1.0 / wx))
        n_h = segments.counts.astype(np.float64)
        variance = squares * safe_divide(n_h, n_h - 1.0, 0.0)
        _exact_units(variance, loose, linearised, weights, segments)
    else:
        variance = stratified_variance(calibration.residualise(linearised(slice(None)), weights.steps), segments)
    variance[:, segments.counts < 2] = 0.0
    return ratio, np.sqrt(variance.sum(axis=1))


@dataclass(frozen=True)
class CellSums:
    """Weighted sums per post-stratification cell (per unit when the units were not calibrated) of
    variables ``y`` (``(k, n)``) and a denominator ``x``, from which every unit's sum of squared
    residuals of a ratio follows without forming the linearised variables row by row.

    With ``u = w (y − R x) / T`` (``R`` and ``T`` = Σ w x per unit), the post-stratification residual
    ``e = u − w_s m_c`` (``w_s`` the calibrated weights, ``m_c`` the plain mean of ``u / w_s`` over the
    cell, as :class:`analysis.calibration.PostStratification`) gives per cell
    ``Σ e = Σ u − m_c Σ w_s`` and ``Σ e² = Σ u² − 2 m_c Σ w_s u + m_c² Σ w_s²``, where ``Σ u``,
    ``Σ u / w_s``, ``Σ w_s u`` and ``Σ u²`` are linear (quadratic) in R over sums of ``w y``,
    ``w y / w_s``, ``w_s w y``, ``w² y²`` and ``w² x y`` and the same of x. Per unit, the sum of squares
    about the mean is then ``Σ e² − (Σ e)² / n``, as :func:`~analysis.design.stratified_variance`.
    """

    cell_unit: np.ndarray
    n_units: int
    wy: np.ndarray
    wx: np.ndarray
    w2yy: np.ndarray
    w2xy: np.ndarray
    w2xx: np.ndarray
    unit_n: np.ndarray
    calibrated: bool
    ry: np.ndarray | None = None
    rx: np.ndarray | None = None
    sy: np.ndarray | None = None
    sx: np.ndarray | None = None
    ws: np.ndarray | None = None
    ws2: np.ndarray | None = None
    cell_n: np.ndarray | None = None

    def unit_squares(self, ratio: np.ndarray, inverse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(k, n_units)``: each unit's ``Σ (e − ē)²`` for the ratios ``ratio`` (``(k, n_units)``) with
        ``u = w (y − R x) · inverse`` (``inverse`` per unit), and where it may have lost more than about
        ten of its sixteen digits: the sums it is the difference of are over 10⁴ times as large (a unit
        whose residuals are all about 0, e.g. everybody chose the same option), to be computed row by row."""
        r = ratio[:, self.cell_unit]
        t = inverse[self.cell_unit]
        sum_u = t * (self.wy - r * self.wx)
        t2 = t * t
        sum_u2 = t2 * (self.w2yy - 2.0 * r * self.w2xy + r * r * self.w2xx)
        size = t2 * (self.w2yy + 2.0 * np.abs(r * self.w2xy) + r * r * self.w2xx)
        if self.calibrated:
            m = safe_divide(t * (self.ry - r * self.rx), self.cell_n, 0.0)
            sum_wu = t * (self.sy - r * self.sx)
            sum_e = sum_u - m * self.ws
            sum_e2 = sum_u2 - 2.0 * m * sum_wu + m * m * self.ws2
            size += 2.0 * np.abs(m * sum_wu) + m * m * self.ws2
        else:
            sum_e, sum_e2 = sum_u, sum_u2
        k = ratio.shape[0]
        per_unit = np.empty((3, k, self.n_units))
        for v in range(k):
            per_unit[0, v] = np.bincount(self.cell_unit, sum_e[v], self.n_units)
            per_unit[1, v] = np.bincount(self.cell_unit, sum_e2[v], self.n_units)
            per_unit[2, v] = np.bincount(self.cell_unit, size[v], self.n_units)
        sum_e, sum_e2, size = per_unit
        mean_term = sum_e * sum_e / np.maximum(self.unit_n, 1.0)
        squares = np.maximum(sum_e2 - mean_term, 0.0)
        return squares, squares < 1e-4 * (size + mean_term)


def _exact_units(variance: np.ndarray, loose: np.ndarray, linearised: Any, weights: UnitWeights,
                 segments: Segments) -> None:
    """Replace ``variance`` (``(k, n_units)``) of the units ``loose`` marks by the row-by-row computation on
    their rows alone (``linearised(rows)``: the variables u of those rows), exactly as for all rows."""
    units = loose.any(axis=0)
    if not units.any():
        return
    rows = np.flatnonzero(units[segments.codes])
    steps = [calibration.PostStratification(Segments(step.cells.codes[rows], step.cells.n_segments, gather=True),
                                            step.weights[rows]) for step in weights.steps]
    exact = stratified_variance(calibration.residualise(linearised(rows), steps),
                                Segments(segments.codes[rows], segments.n_segments))
    variance[:, units] = exact[:, units]


def cell_sums(y: np.ndarray, x: np.ndarray, w: np.ndarray, weights: UnitWeights, segments: Segments,
              chosen: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None) -> CellSums | None:
    """The :class:`CellSums` of ``y`` and ``x`` when the units were post-stratified or not calibrated
    (None after raking, whose residuals need the general way).

    ``chosen``: ``(row, category, scores)`` when ``y`` holds one indicator row per category, 1 where a
    record ``(row, category)`` is (each at most once, ``x`` 1 there), followed, when ``scores`` is given,
    by their scored sum ``scores @ indicators`` (one category per row): the sums of the indicators are
    then taken over the records, all categories at once, and the scored row's from them."""
    steps = weights.steps
    if len(steps) > 1 or (steps and not isinstance(steps[0], calibration.PostStratification)):
        return None
    if steps:
        cells = steps[0].cells
        cell, n_cells = cells.codes, cells.n_segments
        cell_unit = np.zeros(n_cells, dtype=np.intp)
        cell_unit[cell] = segments.codes
    else:
        cell, n_cells = segments.codes, segments.n_segments
        cell_unit = np.arange(n_cells, dtype=np.intp)

    def count(values: np.ndarray) -> np.ndarray:
        return np.bincount(cell, values, n_cells).astype(np.float64, copy=False)

    def counts(values: np.ndarray) -> np.ndarray:
        return np.array([count(v) for v in values]).reshape(values.shape[0], n_cells)

    ws = steps[0].weights if steps else None
    w_x = w * x
    out: dict[str, Any] = {
        "cell_unit": cell_unit, "n_units": segments.n_segments, "wx": count(w_x), "w2xx": count(w_x * w_x),
        "unit_n": segments.counts.astype(np.float64), "calibrated": bool(steps),
    }
    if chosen is not None:
        row, category, scores = chosen
        n_cat = y.shape[0] - (scores is not None)
        key = cell[row] * n_cat + category

        def per_category(values: np.ndarray) -> np.ndarray:
            sums = np.bincount(key, values, n_cells * n_cat).astype(np.float64, copy=False)
            return np.ascontiguousarray(sums.reshape(n_cells, n_cat).T)

        w_r = w[row]
        sums = {"wy": per_category(w_r), "w2yy": per_category(w_r * w_r)}
        if steps:
            sums.update(ry=per_category(safe_divide(w, ws, 0.0)[row]), sy=per_category((w * ws)[row]))
        sums["w2xy"] = sums["w2yy"]  # x y = y and y² = y for indicators
        if scores is not None:  # the scored row (one category per row): Σ_k s_k …, and Σ_k s_k² … for y²
            sums = {name: np.vstack([value, (scores * scores if name == "w2yy" else scores) @ value])
                    for name, value in sums.items()}
        out.update(sums)
    else:
        wy = y * w
        out.update(wy=counts(wy), w2yy=counts(wy * wy), w2xy=counts(wy * w_x))
        if steps:
            out.update(ry=counts(y * safe_divide(w, ws, 0.0)), sy=counts(wy * ws))
    if steps:
        ratio = safe_divide(w, ws, 0.0)
        out.update(rx=count(x * ratio), sx=count(w_x * ws), ws=count(ws), ws2=count(ws * ws),
                   cell_n=cells.counts.astype(np.float64))
    return CellSums(**out)
