"""From a snapshot's specification to its numbers: the one code path of computing and of verifying.

The specification (stored as ``Snapshot.params``) names everything a result depends on
besides the stored answers: the data cut-off and exclusions of each source campaign, the
engine parameters (``analysis.Params.to_dict()``), how database ids map to engine codes,
the units and their categories, the leader ratings used, the component scheme, the
ranking settings and the previous period's snapshot. :func:`evaluate` turns it into one
row per unit (a :class:`UnitResult`) and a summary. Computing a snapshot and verifying it both call it; the
verification compares the result with what is stored, bit for bit.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session, scoped_session

from analysis import Answers, IndexResults, Params, compare_estimates, overall_rate
from analysis.answers import Sample
from analysis.breakdowns import Prepared
from analysis.items import record_rows
from analysis.ranking import DEFAULT_SEED
from analysis.satisfaction import indices_of
from analysis.weighting import index_sample, weigh
from survey.models import SnapshotRow
from survey.services.results import breakdowns, component, question_results
from survey.services.results.loading import DONT_KNOW_CODE, Cutoff, PairTable, _code_lookup, _helpers, load_pairs
from survey.services.results.weighting import CHANNEL_ORDER, Layout

SPEC_FORMAT = 1
#: The rank simulation of a new snapshot (``spec["ranking"]``): seed of the generator and number of joint draws.
RANKING = {"seed": DEFAULT_SEED, "draws": 10_000}
#: Steps of computing a campaign, for progress bars: cut-off, answers, responses, indices, snapshot stored.
STEPS = 5
Progress = Callable[[str, int, int], None]


@dataclass
class Evaluation:
    rows: list[UnitResult]
    summary: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


def clean(value: Any) -> Any:
    """A JSON-safe plain value: NumPy scalars to Python, NaN/inf to None (floats keep every bit)."""
    kind = type(value)  # the plain leaves first: most of a snapshot's values
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int or kind is str or kind is bool or value is None:
        return value
    if kind is np.float64:  # then NumPy's own scalars, as indexing an array gives them
        value = float(value)
        return value if math.isfinite(value) else None
    if kind is np.int64:
        return int(value)
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [clean(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _integer(value: Any) -> int | None:
    value = clean(value)
    return None if value is None else int(value)


def _timed(timings: dict[str, float], name: str, started: float) -> float:
    now = time.perf_counter()
    timings[name] = timings.get(name, 0.0) + now - started
    return now


def evaluate(session: Session, spec: dict[str, Any], survey_pairs: PairTable | None = None,
             progress: Progress | None = None) -> Evaluation:
    """Every unit's figures for ``spec``; ``survey_pairs`` saves reloading what the caller just loaded."""
    timings: dict[str, float] = {}
    step = progress or (lambda name, done, total: None)
    started = time.perf_counter()
    survey = spec["survey"]
    layout = Layout.from_dict(survey["layout"])
    params = stored_params(survey["params"])
    if survey_pairs is None:
        survey_pairs = load_pairs(session, Cutoff.from_dict(survey["cutoff"]), layout.question_ids,
                                  survey["comment_question_ids"], packed=False)  # verification: the answers
    started = _timed(timings, "load", started)
    # The item answers (read once: the items and the choice cross-tabs) are read while the indices and the
    # breakdowns that do not need them are computed (on SQLite, whose reader leaves the session free, the
    # rows and the summary too); the time spent waiting for them counts as load.
    step("compute", 3, STEPS)
    reading = _ItemRead(session, spec)  # PostgreSQL: until its result is taken, only the reader uses the session
    units = np.asarray(spec["units"], dtype=np.int64)
    assembled: list[Any] = []

    def assemble(started: float) -> float:
        """The rows and the summary from the indices (and the service source's, loaded here)."""
        service = spec.get("service")
        service_results = None
        if service:
            started = _timed(timings, "compute", started)
            pooled = _service_pairs(session, service)
            started = _timed(timings, "load", started)
            service_results, _, _, _ = _indices(pooled, Layout.from_dict(service["layout"]),
                                                stored_params(service["params"]), units, service["no_group_code"])
        assembled.extend(_assemble(session, spec, results, service_results, survey_pairs, used, layout, params))
        return started

    try:
        with_breakdowns = bool(spec.get("breakdowns"))  # stored since breakdowns exist; older specs replay without
        results, used, answers, sample = _indices(survey_pairs, layout, params, units, survey["no_group_code"],
                                                  with_breakdowns)
        if not reading.holds_session:  # SQLite: the rows while the item answers are still being read
            started = assemble(started)
        # The breakdowns weigh the indices' table whole; the per-question results take the same weights.
        prepared = Prepared(answers, params, units, len(layout.question_ids), sample) if with_breakdowns else None
        rows_of: dict[str, np.ndarray | None] = {}

        def choices() -> tuple[Any, np.ndarray | None]:
            """The choice questions' records and their rows in the table (read and found once)."""
            records = reading.result()
            weights = prepared.weights if prepared is not None else weigh(sample, params)
            if "items" not in rows_of:  # each item record's row, for the items and the choice cross-tabs
                rows_of["items"] = None if records is None else record_rows(weights, records)
            chosen = breakdowns.choice_records(spec, records)
            item_rows = rows_of["items"]
            return chosen, None if chosen is None or item_rows is None else breakdowns.choice_rows(spec, records,
                                                                                                    item_rows)

        stored_breakdowns = None
        if prepared is not None:
            stored_breakdowns = breakdowns.compute(prepared, layout, params, units, survey["no_group_code"],
                                                   spec["categories"], choices=choices)
        records = reading.result()
        weights = prepared.weights if prepared is not None else weigh(sample, params) if records is not None else None
        if records is not None and "items" not in rows_of:
            rows_of["items"] = record_rows(weights, records)
        items = question_results.compute(spec, answers, params, units, records, weights=weights,
                                         rows=rows_of.get("items"))
    finally:
        reading.close()
    timings["load"] += reading.waited
    started += reading.waited
    if not assembled:
        started = assemble(started)
    rows, summary = assembled
    question_results.attach(rows, summary, items, spec.get("items"), clean)
    if stored_breakdowns is not None:
        summary["breakdowns"] = stored_breakdowns
    _timed(timings, "compute", started)
    return Evaluation(rows, summary, timings)


class _ItemRead:
    """:func:`question_results.spec_records` of a spec, read on another thread while the caller computes;
    :meth:`result` waits for it (``waited``: for how long).

    PostgreSQL: with the same session, used by one thread at a time (the caller uses it again only after
    :meth:`result` or :meth:`close`, which waits, whatever happened); the server does the work. SQLite,
    whose queries run in this process: on a helper connection of the loader's
    (:func:`loading._helpers`, when the session's view is the committed data), so that SQLite scans the
    answers and writes out their text without the GIL, on the other core, while this one computes; the
    session is not used by the reader. Without a helper (uncommitted writes, a database in memory) the
    answers are read at once instead."""

    def __init__(self, session: Session, spec: dict[str, Any]) -> None:
        self.waited = 0.0
        self.holds_session = False  # whether the caller must leave the session to the reader until the result
        self._future: Future | None = None
        self._value: Any = None
        if not spec.get("items"):
            return
        real = session() if isinstance(session, scoped_session) else session
        if real.get_bind().dialect.name == "sqlite":
            helpers = _helpers(real, real.connection(), 1)
            if not helpers:
                started = time.perf_counter()
                self._value = question_results.spec_records(real, spec)
                self.waited = time.perf_counter() - started
                return
            helper = helpers[0]

            def read() -> Any:
                try:
                    return question_results.spec_records(real, spec, helper)
                finally:
                    helper.close()
        else:
            self.holds_session = True
            app = current_app._get_current_object() if has_app_context() else None

            def read() -> Any:
                if app is None:
                    return question_results.spec_records(real, spec)
                with app.app_context():
                    return question_results.spec_records(real, spec)

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="item-read")
        self._future = self._pool.submit(read)

    def result(self) -> Any:
        if self._future is not None:
            started = time.perf_counter()
            try:
                self._value = self._future.result()
            finally:
                self.waited += time.perf_counter() - started
                self._future = None
                self._pool.shutdown()
        return self._value

    def close(self) -> None:
        if self._future is not None:
            wait([self._future])
            self._future = None
            self._pool.shutdown()


def overall_rates(summary: dict[str, Any] | None) -> tuple[float | None, float | None]:
    """(weighted, unweighted) 总体满意率 of a snapshot's summary; weighted is None for a snapshot stored
    before it was computed (``overall_satisfied_rate`` has always been the unweighted share of answers)."""
    summary = summary or {}
    return summary.get("overall_satisfied_rate_weighted"), summary.get("overall_satisfied_rate")


def ranking_settings(spec: dict[str, Any]) -> dict[str, int]:
    """The rank simulation's seed and number of draws a snapshot stored; one stored before they were
    stored used the engine's defaults, which are the values returned for it."""
    stored = spec.get("ranking") or {}
    return {"seed": int(stored.get("seed", DEFAULT_SEED)), "draws": int(stored.get("draws", 10_000))}


#: What a setting meant before the snapshot stored it: a stored snapshot replays as it was computed.
LEGACY_PARAMS = {
    "min_cell_n": 1,  # before thin cells were collapsed: the raw cells
    "index_ci": "normal",  # before the logit interval: index ± z SE
    "share_n_at_bounds": "answers",  # before: 满意率 of 0 or 1 took the number of answers as its n
}


def stored_params(data: dict[str, Any]) -> Params:
    """The engine parameters a snapshot stored. A snapshot stored before a setting existed replays with the
    behaviour it was computed with (:data:`LEGACY_PARAMS`): e.g. one without ``min_cell_n`` was computed on the
    raw cells, so it replays with collapsing off."""
    return Params.from_dict({**LEGACY_PARAMS, **data})


def _indices(pairs: PairTable, layout: Layout, params: Params, units: np.ndarray, no_group_code: int | None,
             channels: bool = False) -> tuple[IndexResults, np.ndarray, Answers | None, Sample]:
    """The indices, the mask of the pairs used, the records (None when the table was built from the pairs
    directly) and their table; ``channels`` adds each row's channel for the breakdowns (which then reuse
    the table)."""
    channel_codes = list(layout.channels) if "channel" in params.targets else None
    direct = _pair_sample(pairs, layout, params, units, no_group_code, channel_codes, channels)
    if direct is not None:
        sample, used = direct
        return indices_of(sample, params), used, None, sample
    answers, used = pairs.answers(layout.group_ids, channel_codes, no_group_code)
    known = np.isin(answers.unit, units)
    if not known.all():  # answers about units outside the list (the caller lists every unit it reports)
        answers = type(answers)(answers.respondent[known], answers.unit[known], answers.question[known],
                                answers.level[known], {k: v[known] for k, v in answers.margins.items()})
    if channels:
        answers = breakdowns.with_channels(pairs, answers, used, units)
    sample = index_sample(answers, params, units, len(layout.question_ids))
    return indices_of(sample, params), used, answers, sample


def _pair_sample(pairs: PairTable, layout: Layout, params: Params, units: np.ndarray, no_group_code: int | None,
                 channel_codes: list[str] | None, channels: bool) -> tuple[Sample, np.ndarray] | None:
    """The respondent–unit table of the pairs, built from them directly (one row per pair with an answer),
    identical to :func:`analysis.weighting.index_sample` of ``pairs.answers(…)``'s records (restricted to
    ``units``), with the mask of the pairs used; None when that way must decide (no answers, a level out of
    range, a pair repeated), whose records then say what is wrong."""
    group_code = _code_lookup(pairs.group, list(layout.group_ids), no_group_code)
    use = group_code >= 0
    margins = {"group": group_code}
    if channel_codes is not None:
        channel_code = _code_lookup(pairs.channel.astype(np.int64), [CHANNEL_ORDER.index(c) for c in channel_codes],
                                    None)
        use &= channel_code >= 0
        margins["channel"] = channel_code
    levels = pairs.levels()
    n_q = levels.shape[1]
    if n_q != len(layout.question_ids) or not units.size:
        return None
    units_sorted = bool(np.all(units[1:] > units[:-1]))
    if not units_sorted:
        return None
    lo, hi = int(units[0]), int(units[-1])
    if hi - lo <= 4 * max(units.size, pairs.size):  # unit ids of a moderate range: a lookup table
        table = np.full(hi - lo + 1, -1, dtype=np.intp)
        table[units - lo] = np.arange(units.size)
        inside = (pairs.unit >= lo) & (pairs.unit <= hi)
        position = np.where(inside, table[np.clip(pairs.unit - lo, 0, hi - lo)], -1)
        known = position >= 0
        position = np.maximum(position, 0)
    else:
        position = np.minimum(np.searchsorted(units, pairs.unit), units.size - 1)
        known = units[position] == pairs.unit
    rows = np.flatnonzero(use & known & (levels != 0).any(axis=1))
    if not rows.size:
        return None
    level = levels[rows]
    if np.any((level > len(params.scores)) & (level != DONT_KNOW_CODE)):
        return None
    unit = position[rows].astype(np.intp)
    respondent = pairs.response[rows]
    row_margins = {name: codes[rows].astype(np.intp) for name, codes in margins.items()}
    if channels:
        row_margins[breakdowns.ALL_CHANNELS] = pairs.channel[rows].astype(np.intp)
        if row_margins[breakdowns.ALL_CHANNELS].min() < 0:
            return None
    sizes = {name: int(codes.max()) + 1 for name, codes in row_margins.items()}
    by = params.poststratify_by if params.poststratify_by in row_margins else None
    # (unit, respondent) order, then stable by (unit, margin): as the records' pivot, then Sample.ordered_by
    if np.all(respondent[1:] >= respondent[:-1]):  # pairs in response order (as loaded): a stable sort by unit
        order = np.argsort(_small(unit, units.size), kind="stable")
    else:
        order = np.lexsort((respondent, unit))
    same_unit = unit[order][1:] == unit[order][:-1]
    if np.any(same_unit & (respondent[order][1:] == respondent[order][:-1])):  # a (response, unit) pair twice
        return None
    if by is None:  # questions × rows, C-ordered, as the pivot lays it out
        level = np.ascontiguousarray(level[order].T)
        asked = level != 0
        level[level == DONT_KNOW_CODE] = 0
    else:  # reordered by margin: questions × rows in Fortran order, as Sample.ordered_by's column gather leaves it
        order = order[np.argsort(_small(unit[order].astype(np.int64) * max(sizes[by], 1) + row_margins[by][order],
                                        units.size * max(sizes[by], 1)), kind="stable")]
        by_row = level[order]
        asked = (by_row != 0).T
        level = np.where(by_row == DONT_KNOW_CODE, 0, by_row).astype(np.int8, copy=False).T
    sample = Sample(units=units, unit=unit[order], respondent=respondent[order],
                    margins={name: codes[order] for name, codes in row_margins.items()}, margin_sizes=sizes,
                    design_weight=np.ones(rows.size), level=level, asked=asked)
    return sample, use


def _small(codes: np.ndarray, bound: int) -> np.ndarray:
    """Codes in ``0 … bound − 1`` as 16-bit integers when they fit, which NumPy's stable sort orders by radix
    (the same order as any stable sort)."""
    return codes.astype(np.int16) if bound <= np.iinfo(np.int16).max else codes


def _service_pairs(session: Session, service: dict[str, Any]) -> PairTable:
    """The window-service source: the chosen campaigns' ratings, re-labelled to the units they belong to."""
    tables = []
    links = [tuple(link) for link in service["links"]]
    window_ids = sorted({source for source, _target in links})
    for source in service["sources"]:
        table = load_pairs(session, Cutoff.from_dict(source["cutoff"]), source["question_ids"], (), window_ids)
        tables.append(table.relabel_units(links))
    if len(tables) == 1:
        return tables[0]
    merged = tables[0]
    fields_ = ("response", "unit", "packed", "group", "channel", "comments")
    values = {name: np.concatenate([getattr(t, name) for t in tables]) for name in fields_}
    values["response"] = np.arange(1, values["response"].size + 1, dtype=np.int64)
    return PairTable(**values, n_questions=merged.n_questions, responses=sum(t.responses for t in tables),
                     excluded=sum(t.excluded for t in tables), flagged=sum(t.flagged for t in tables),
                     flagged_included=merged.flagged_included)


@dataclass
class UnitResult:
    """One unit's figures: the columns of its ``SnapshotRow``, JSON-safe (NaN and ±inf are None).

    Computing stores exactly these fields; verifying compares them field by field.
    ``detail`` keeps the breakdowns (questions, groups, channels, sources, trend …).
    """

    unit_id: int
    category_id: int | None
    n: int
    n_eff: float | None
    index: float | None
    index_se: float | None
    index_lo: float | None
    index_hi: float | None
    satisfied_rate: float | None
    satisfied_rate_se: float | None
    component_points: float | None
    grade: str | None
    rank: int | None
    rank_lo: int | None
    rank_hi: int | None
    flags: list[str]
    detail: dict[str, Any]

    def columns(self) -> dict[str, Any]:
        """The ``snapshot_row`` columns of this unit (all but ``id`` and ``snapshot_id``)."""
        return {name: getattr(self, name) for name in ROW_FIELDS}


#: The stored columns of a unit's row, in the order verification reports differences.
ROW_FIELDS = tuple(f.name for f in fields(UnitResult))


@dataclass
class _Tallies:
    """What is counted from the answer pairs rather than estimated: per unit and for the summary."""

    levels: np.ndarray  # pairs × questions, 0 = not answered, 6 = 不了解
    counted: np.ndarray  # levels of the pairs the engine used (0 for the others)
    bad: np.ndarray  # per unit: responses with a 差评 (a level from 1 to bad_level_max)
    comments: np.ndarray  # per unit: comments written
    channels: np.ndarray  # unit × CHANNEL_ORDER: rated pairs by channel


@dataclass
class _Figures:
    """Everything a unit's row is read from, besides the tallies."""

    results: IndexResults
    service: IndexResults | None
    layout: Layout
    scheme: dict[str, Any] | None
    categories: dict[int, int]  # unit id → category id, -1 for none
    leader: np.ndarray
    flags: list[list[str]]
    unreliable: np.ndarray
    comp: component.ComponentResult
    trend: dict[int, Any]
    params: Params | None = None
    overrides: dict[int, str] = field(default_factory=dict)
    #: which later rules the snapshot was specified under (its detail then carries their breakdowns;
    #: a snapshot from before them replays its detail unchanged)
    cells_rule: bool = False
    verdict_rule: bool = False


def _assemble(session: Session, spec: dict[str, Any], results: IndexResults, service: IndexResults | None,
              pairs: PairTable, used: np.ndarray, layout: Layout, params: Params
              ) -> tuple[list[UnitResult], dict[str, Any]]:
    figures = _figures(session, spec, results, service, layout, params)
    tallies = _tally(pairs, used, results.units, int(spec["bad_level_max"]))
    rows = [_unit_result(figures, tallies, i, unit_id) for i, unit_id in enumerate(results.units.tolist())]
    summary = _summary(pairs, used, tallies, params, figures.comp, results.units.size)
    if spec.get("overall_rate") == "weighted":  # stored since the weighted rate exists; older specs replay without
        summary["overall_satisfied_rate_weighted"] = clean(overall_rate(results))
    return rows, summary


def _figures(session: Session, spec: dict[str, Any], results: IndexResults, service: IndexResults | None,
           layout: Layout, params: Params) -> _Figures:
    """The component (公众评议 points, rank, grade) of every unit, and what goes into it."""
    units = results.units
    n_units = units.size
    categories = {int(u): (int(c) if c is not None else -1) for u, c in spec["categories"]}
    category = np.array([categories.get(int(u), -1) for u in units], dtype=np.int64)
    leader_values = {int(u): float(s) for u, s in spec.get("leader") or []}
    leader = np.array([leader_values.get(int(u), np.nan) for u in units])
    flags = [results.flag_names(i) for i in range(n_units)]
    estimable = np.isfinite(results.index) & np.isfinite(results.index_se)
    unreliable = np.array([any(f in component.UNRELIABLE for f in fl) for fl in flags], dtype=bool)
    # Reliability before verdict; a snapshot specified before the rule (no such setting) replays without it.
    settings = spec["survey"].get("settings") or {}
    overrides = {int(k): str(v) for k, v in (settings.get("overrides") or {}).items()}
    inputs = component.UnitInputs(
        category=category, survey=results.index, survey_se=results.index_se, leader=leader,
        service=service.index if service is not None else np.full(n_units, np.nan),
        service_se=service.index_se if service is not None else np.full(n_units, np.nan),
        estimable=estimable, unreliable=unreliable,
        withhold=bool(settings.get("withhold_unreliable", False)),
        overridden=np.array([int(u) in overrides for u in units], dtype=bool),
    )
    scheme = spec.get("scheme")
    comp = component.compute(inputs, scheme, params.confidence, ranking_settings(spec))
    trend = _trend(session, spec.get("previous_snapshot_id"), units, results)
    return _Figures(results=results, service=service, layout=layout, scheme=scheme, categories=categories,
                  leader=leader, flags=flags, unreliable=unreliable, comp=comp, trend=trend, params=params,
                  overrides=overrides, cells_rule="min_cell_n" in spec["survey"]["params"],
                  verdict_rule="withhold_unreliable" in settings)


def _tally(pairs: PairTable, used: np.ndarray, units: np.ndarray, bad_max: int) -> _Tallies:
    n_units = units.size
    levels = pairs.levels()
    counted = levels * used[:, None]
    unit_row = np.searchsorted(units, pairs.unit)
    in_list = (unit_row < n_units) & (units[np.minimum(unit_row, n_units - 1)] == pairs.unit)
    is_bad = ((counted >= 1) & (counted <= bad_max)).any(axis=1) & in_list
    bad = np.bincount(unit_row[is_bad], minlength=n_units)
    comments = np.bincount(unit_row[in_list], weights=pairs.comments[in_list], minlength=n_units).astype(np.int64)
    channel_counts = np.zeros((n_units, len(CHANNEL_ORDER)), dtype=np.int64)
    rated = used & (levels > 0).any(axis=1) & in_list
    np.add.at(channel_counts, (unit_row[rated], pairs.channel[rated].astype(np.int64)), 1)
    return _Tallies(levels=levels, counted=counted, bad=bad, comments=comments, channels=channel_counts)


def _unit_result(figures: _Figures, tallies: _Tallies, i: int, unit_id: int) -> UnitResult:
    results, comp = figures.results, figures.comp
    row_flags = list(figures.flags[i])
    if figures.scheme:
        row_flags += [f"{s}_missing" for s in ("leader", "service")
                      if figures.scheme["weights"].get(s, 0) > 0 and s not in comp.sources_used[i]]
        if comp.missing_blocks and comp.missing_blocks[i]:
            row_flags.append("block_missing")
    category_id = figures.categories.get(unit_id)
    return UnitResult(
        unit_id=unit_id,
        category_id=None if category_id == -1 else category_id,
        n=int(results.n[i]),
        n_eff=clean(results.n_eff[i]),
        index=clean(results.index[i]),
        index_se=clean(results.index_se[i]),
        index_lo=clean(results.index_ci_low[i]),
        index_hi=clean(results.index_ci_high[i]),
        satisfied_rate=clean(results.satisfied_rate[i]),
        satisfied_rate_se=clean(results.satisfied_rate_se[i]),
        component_points=clean(comp.points[i]),
        grade=clean(comp.grade[i]),
        rank=_integer(comp.rank[i]),
        rank_lo=_integer(comp.rank_lo[i]),
        rank_hi=_integer(comp.rank_hi[i]),
        flags=clean(row_flags),
        detail=clean(_detail(figures, tallies, i, unit_id)),
    )


def _detail(figures: _Figures, tallies: _Tallies, i: int, unit_id: int) -> dict[str, Any]:
    """A unit's breakdowns, stored as ``SnapshotRow.detail`` (not yet cleaned)."""
    results, service, comp, layout = figures.results, figures.service, figures.comp, figures.layout
    q = results.questions
    return {
        "category_id": figures.categories.get(unit_id, -1),
        "index_ci": [results.index_ci_low[i], results.index_ci_high[i]],
        "satisfied_rate_ci": [results.satisfied_rate_ci_low[i], results.satisfied_rate_ci_high[i]],
        "dont_know_rate": results.dont_know_rate[i],
        "deff": results.deff[i],
        "trimmed": results.trimmed[i],
        "rake_converged": bool(results.rake_converged[i]),
        "rake_iterations": results.rake_iterations[i],
        "missing_groups": [layout.group_ids[g] for g in results.missing_groups(i) if g < len(layout.group_ids)],
        **({"cells": _collapsed_cells(results, i, layout), "unweighted": bool(results.unweighted[i])}
           if figures.cells_rule else {}),
        "questions": [
            {"id": layout.question_ids[k], "code": layout.question_codes[k], "n": q.n_answered[i, k],
             "mean": q.mean[i, k], "se": q.mean_se[i, k], "ci": [q.mean_ci_low[i, k], q.mean_ci_high[i, k]],
             "satisfied": q.satisfied_share[i, k], "satisfied_ci": [q.kg_low[i, k], q.kg_high[i, k]],
             "dont_know": q.dont_know_rate[i, k]}
            for k in range(len(layout.question_ids))
        ],
        "groups": _groups(results, i, layout),
        "channels": {CHANNEL_ORDER[c]: int(tallies.channels[i, c]) for c in range(len(CHANNEL_ORDER))
                     if tallies.channels[i, c]},
        "comments": int(tallies.comments[i]),
        "bad_ratings": int(tallies.bad[i]),
        "leader": figures.leader[i],
        "service": None if service is None else {
            "index": service.index[i], "se": service.index_se[i], "n": service.n[i],
            "ci": [service.index_ci_low[i], service.index_ci_high[i]], "flags": service.flag_names(i)},
        "composite": comp.composite[i], "composite_se": comp.composite_se[i],
        "score": comp.score[i], "score_se": comp.score_se[i], "score_ci": [comp.score_lo[i], comp.score_hi[i]],
        "sources": comp.sources_used[i],
        "weights_used": (comp.weights_used[i] if comp.weights_used is not None
                         else _weights_used(figures.scheme, comp.sources_used[i])),
        "expected_rank": comp.expected_rank[i], "p_bottom": comp.p_bottom[i], "n_ranked": comp.n_ranked[i],
        "grade_note": comp.grade_note[i], "unreliable": bool(figures.unreliable[i]),
        **_verdict(figures, i, unit_id),
        "trend": figures.trend.get(i),
    }


def _summary(pairs: PairTable, used: np.ndarray, tallies: _Tallies, params: Params,
             comp: component.ComponentResult, n_units: int) -> dict[str, Any]:
    levels, counted = tallies.levels, tallies.counted
    valid_answers = counted[(counted >= 1) & (counted <= 5)]
    satisfied = int((valid_answers >= params.satisfied_min_level).sum())
    return clean({
        "responses": pairs.responses,
        "rated_pairs": int((used & (levels > 0).any(axis=1)).sum()),
        "excluded": pairs.excluded,
        "flagged": pairs.flagged,
        "flagged_included": pairs.flagged_included,
        "left_out_no_group": int(((levels > 0).any(axis=1) & ~used).sum()),
        "answers": int(valid_answers.size),
        "dont_know_answers": int((counted == 6).sum()),
        "satisfied_answers": satisfied,
        # unweighted: the share of all counted answers (the headline is overall_satisfied_rate_weighted)
        "overall_satisfied_rate": satisfied / valid_answers.size if valid_answers.size else None,
        "comments": int(tallies.comments.sum()),
        "bad_ratings": int(tallies.bad.sum()),
        "units": n_units,
        "ranked": int(np.isfinite(comp.rank).sum()),
        "digest": {"survey": pairs.digest()},
    })


def _groups(results: IndexResults, i: int, layout: Layout) -> list[dict[str, Any]]:
    g = results.groups
    if g is None:
        return []
    out = []
    for k in range(g.n.shape[1]):
        out.append({"id": layout.group_ids[k] if k < len(layout.group_ids) else None, "n": g.n[i, k],
                    "index": g.index[i, k], "satisfied_rate": g.satisfied_rate[i, k],
                    "target_share": g.target_share[i, k]})
    return out


def _verdict(figures: _Figures, i: int, unit_id: int) -> dict[str, Any]:
    """Reliability before verdict (only for snapshots under that rule): whether the unit's grade and rank
    are withheld, the analyst's override, and what the unit lacks — the reasons (flag codes and missing
    blocks) and about how many more valid ratings would meet the sample thresholds."""
    comp = figures.comp
    if not figures.verdict_rule or comp.withheld is None or figures.params is None:
        return {}
    results, params = figures.results, figures.params
    reasons = [f for f in figures.flags[i] if f in component.UNRELIABLE or f in component.NO_ESTIMATE]
    return {
        "withheld": bool(comp.withheld[i]),
        "override": figures.overrides.get(unit_id),
        "shortfall": {
            "reasons": reasons,
            "missing_blocks": list(comp.missing_blocks[i]) if comp.missing_blocks else [],
            "more": more_ratings_needed(int(results.n[i]), results.n_eff[i], results.index[i], results.index_se[i],
                                        params),
        },
    }


def more_ratings_needed(n: int, n_eff: float, index: float, se: float, params: Params) -> int | None:
    """About how many more valid ratings the unit needs to meet the n, effective-n and relative-SE thresholds,
    assuming the new ratings spread like the present ones: n_eff grows as n / deff, the SE as 1/√n.
    ``None`` when the thresholds are met (or nothing can be said: no ratings at all gives ``min_n``)."""
    if n <= 0:
        return max(int(params.min_n), 2)
    need = max(int(params.min_n), 2)
    if n_eff is not None and np.isfinite(n_eff) and n_eff > 0:
        deff = n / n_eff
        need = max(need, math.ceil(params.min_n_eff * deff - 1e-9))
    if se is not None and index is not None and np.isfinite(se) and np.isfinite(index) and index != 0 and se > 0:
        rse = se / abs(index)
        if rse > params.max_rse > 0:
            need = max(need, math.ceil(n * (rse / params.max_rse) ** 2 - 1e-9))
    more = need - n
    return more if more > 0 else None


def _collapsed_cells(results: IndexResults, i: int, layout: Layout) -> dict[str, list[list[Any]]]:
    """The unit's thin cells merged before weighting, per margin: [[level, level it joined], …] as group ids
    (margin ``group``) or channel codes (``channel``); ``{}`` when nothing was merged."""
    names = {"group": layout.group_ids, "channel": layout.channels}
    out: dict[str, list[list[Any]]] = {}
    for margin, merged in results.collapse(i).items():
        level = names.get(margin, ())
        out[margin] = [[level[a] if a < len(level) else a, level[b] if b < len(level) else b]
                       for a, b in sorted(merged.items())]
    return out


def _weights_used(scheme: dict[str, Any] | None, sources: list[str]) -> dict[str, float]:
    if not scheme or not sources:
        return {}
    total = sum(scheme["weights"][s] for s in sources)
    return {s: scheme["weights"][s] / total for s in sources} if total > 0 else {}


def _trend(session: Session, previous_id: int | None, units: np.ndarray, results: IndexResults) -> dict[int, Any]:
    """Each unit's index against the previous period's snapshot: difference, its 95% CI and p-value."""
    if not previous_id:
        return {}
    previous = {r.unit_id: r for r in session.scalars(select(SnapshotRow).where(SnapshotRow.snapshot_id == previous_id))}
    out: dict[int, Any] = {}
    for i, unit_id in enumerate(units.tolist()):
        row = previous.get(unit_id)
        if row is None or row.index is None or row.index_se is None or not np.isfinite(results.index_se[i]):
            continue
        d = compare_estimates(np.array([results.index[i]]), np.array([results.index_se[i]]),
                              np.array([row.index]), np.array([row.index_se]))
        out[i] = {"previous_snapshot_id": previous_id, "previous_index": row.index, "previous_se": row.index_se,
                  "difference": d.difference[0], "se": d.se[0], "p_value": d.p_value[0],
                  "ci": [d.ci_low[0], d.ci_high[0]]}
    return out
