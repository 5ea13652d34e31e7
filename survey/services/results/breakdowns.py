"""Breakdowns of a snapshot: the index and 满意率 by respondent group, channel and unit category, cross-tabs of
every satisfaction question and (since format 2) every single- and multiple-choice question by group and
channel, and each unit's change from the previous period.

The breakdowns and cross-tabs are computed with the snapshot (``analysis.breakdowns``, the same weights as the
units' indices) and stored in ``Snapshot.summary["breakdowns"]``, so they replay and verify with it; a snapshot
specified before them (no ``spec["breakdowns"]``) has none. The period-over-period change is read at display
time from the stored rows of this snapshot and of the previous period's **official** snapshot of the same series
(never a draft: ``snapshots.series`` without drafts), so it is the same for every reader.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis import Answers, Params
from analysis.breakdowns import Prepared
from analysis.ci import bounded_ci, normal_ci
from analysis.items import ItemRecords, record_rows
from survey.core import labels
from survey.models import Campaign, Category, Question, RespondentGroup, Snapshot, SnapshotRow, Unit
from survey.services.results import question_results
from survey.services.results.loading import PairTable
from survey.services.results.weighting import CHANNEL_ORDER, Layout

#: Version of the stored breakdowns (``spec["breakdowns"]``, ``summary["breakdowns"]["format"]``): 2 adds the
#: cross-tabs of choice questions (a snapshot specified under 1 replays without them).
FORMAT = 2
CHOICE_FORMAT = 2
CHOICE_KINDS = ("single", "multiple")
#: What a breakdown can be by; cross-tabs are by the first two.
BY = ("group", "channel", "category")
CROSSTAB_BY = ("group", "channel")
ALL_CHANNELS = "by_channel"  # every pair's channel, whether or not the weighting rakes on channel


def _clean(value: Any) -> Any:
    from survey.services.results.evaluation import clean
    return clean(value)


def with_channels(pairs: PairTable, answers: Answers, used: np.ndarray, units: np.ndarray) -> Answers:
    """The records the indices are computed from (``answers`` of the pairs ``used``, already restricted to
    ``units``) plus each record's channel (CHANNEL_ORDER code), which the breakdowns are by."""
    levels = pairs.levels()
    levels[~used] = 0
    rows = np.flatnonzero(levels.ravel()) // pairs.n_questions  # the same order as PairTable.answers
    channel = pairs.channel[rows].astype(np.int64)
    if channel.size != answers.unit.size:  # the indices left out answers about units not listed
        channel = channel[np.isin(pairs.unit[rows], units)]
    return Answers(answers.respondent, answers.unit, answers.question, answers.level,
                   {**answers.margins, ALL_CHANNELS: channel})


def choice_records(spec: dict[str, Any], records: ItemRecords | None
                   ) -> tuple[list[dict[str, Any]], ItemRecords] | None:
    """The choice questions of a snapshot spec and their counted answers, for :func:`compute`, taken from
    the answers to every item read once for the per-question results
    (:func:`question_results.spec_records`); None for a spec of a format before choice cross-tabs or
    without choice questions."""
    items = spec.get("items") or []
    positions = _choice_positions(spec)
    if int(spec.get("breakdowns") or 0) < CHOICE_FORMAT or not positions or records is None:
        return None
    return [items[k] for k in positions], question_results.select_items(records, positions)


def choice_rows(spec: dict[str, Any], records: ItemRecords, rows: np.ndarray) -> np.ndarray:
    """The rows in the weighted table (``analysis.items.record_rows``, one per record of ``records``) of the
    records :func:`choice_records` keeps, so that they are not searched for again."""
    return question_results.selected_rows(records, _choice_positions(spec), rows)


def _choice_positions(spec: dict[str, Any]) -> list[int]:
    return [k for k, s in enumerate(spec.get("items") or []) if s["kind"] in CHOICE_KINDS]


def _choice_tables(prepared: Prepared, choices: tuple[list[dict[str, Any]], ItemRecords, np.ndarray], by: str,
                   row_codes: np.ndarray, size: int, labels_of: list[dict[str, Any]], present: list[int]
                   ) -> list[dict[str, Any]]:
    """Each choice question's weighted share of every option per level of ``by`` (single choice: the shares
    of one answer; multiple choice: each option's share among those who answered), with SEs."""
    specs, records, row = choices
    n_rows = prepared.weights.unit.size
    tables = []
    for k, spec in enumerate(specs):
        mine = (records.item == k) & (row >= 0)
        options = list(spec["option_codes"])
        if spec["kind"] == "single":
            category = np.zeros(n_rows, dtype=np.int64)
            category[row[mine]] = records.value[mine] + 1
            t = prepared.shares(k, by, row_codes, size, category, len(options))
            n, share, se = t.n, t.share, t.se
        else:
            answered = np.zeros(n_rows, dtype=bool)
            answered[row[mine]] = True
            share = np.full((len(options), size), np.nan)
            se = np.full((len(options), size), np.nan)
            n = np.zeros(size, dtype=np.int64)
            for o in range(len(options) if answered.any() else 0):  # nobody answered: no shares, n 0
                chose = np.zeros(n_rows, dtype=bool)
                chose[row[mine & (records.value == o)]] = True
                category = np.where(chose, 1, np.where(answered, 2, 0)).astype(np.int64)
                t = prepared.shares(k, by, row_codes, size, category, 2)
                n, share[o], se[o] = t.n, t.share[0], t.se[0]
        tables.append({"question_id": spec["question_id"], "code": spec["code"], "kind": spec["kind"],
                       "options": options,
                       "columns": [{**labels_of[d], "n": int(n[d]), "share": share[:, d], "se": se[:, d]}
                                   for d in present]})
    return tables


def compute(prepared: Prepared, layout: Layout, params: Params, units: np.ndarray, no_group_code: int | None,
            categories: list[list[Any]],
            choices: tuple[list[dict[str, Any]], ItemRecords] | Callable[[], tuple[Any, np.ndarray | None]] | None
            = None, choice_rows: np.ndarray | None = None) -> dict[str, Any]:
    """The stored breakdowns of a snapshot (JSON-safe): ``{"format", "domains": {by: [...]}, "crosstabs": ...}``.

    ``prepared`` is the indices' table (its records from :func:`with_channels`); ``choices`` (from :func:`choice_records`) adds a cross-tab of each
    choice question after the satisfaction questions'; without it the result is what format 1 stored.
    ``choice_rows``: the choice records' rows in ``prepared``'s table when already found (:func:`choice_rows`).
    ``choices`` may also be a function giving both, called when the choice cross-tabs are reached (after the
    domains and the satisfaction questions' cross-tabs by group): the records may still be being read."""
    pending = choices if callable(choices) else None
    with_rows = None

    def choice_tables() -> tuple | None:
        nonlocal with_rows, pending
        if pending is not None:
            chosen, found = pending()
            pending = None
            if chosen is not None:
                with_rows = (*chosen, record_rows(prepared.weights, chosen[1]) if found is None else found)
        return with_rows

    if not callable(choices) and choices is not None:
        with_rows = (*choices, record_rows(prepared.weights, choices[1]) if choice_rows is None else choice_rows)
    of_unit = {int(u): c for u, c in categories}
    category_ids = sorted({c for c in of_unit.values() if c is not None})
    labels_of = {
        # without group weighting, pairs without a group have a code of their own (no_group_code): 未标明
        "group": [{"id": g} for g in layout.group_ids] + ([{"id": None}] if no_group_code is not None else []),
        "channel": [{"code": c} for c in CHANNEL_ORDER],
        "category": [{"id": c} for c in category_ids] + [{"id": None}],
    }
    per_unit = np.array([category_ids.index(of_unit[int(u)]) if of_unit.get(int(u)) is not None
                         else len(category_ids) for u in units], dtype=np.int64)
    codes = {
        "group": prepared.margin_codes("group") if "group" in prepared.sample.margins else None,
        "channel": (prepared.sample.margins[ALL_CHANNELS], len(CHANNEL_ORDER)),
        "category": prepared.unit_codes(per_unit) if units.size else None,
    }
    low_high = _index_interval(params)
    domains: dict[str, list[dict[str, Any]]] = {}
    for by in BY:
        if codes[by] is None:
            continue
        row_codes, size = codes[by]
        size = max(size, len(labels_of[by]))
        r = prepared.domains(by, row_codes, size)
        lo, hi = low_high(r.index, r.index_se)
        domains[by] = [
            {**labels_of[by][d], "n": int(r.n[d]), "index": r.index[d], "index_se": r.index_se[d],
             "index_ci": [lo[d], hi[d]], "satisfied_rate": r.satisfied_rate[d],
             "satisfied_rate_se": r.satisfied_rate_se[d], "small_n": bool(r.small_n[d])}
            for d in range(min(size, len(labels_of[by]))) if r.n[d] > 0
        ]
    crosstabs: dict[str, list[dict[str, Any]]] = {}
    for by in CROSSTAB_BY:
        if codes[by] is None:
            continue
        row_codes, size = codes[by]
        size = max(size, len(labels_of[by]))
        present = [d for d in range(min(size, len(labels_of[by]))) if (row_codes == d).any()]
        tables = []
        for k, question_id in enumerate(layout.question_ids):
            t = prepared.crosstab(k, by, row_codes, size)
            tables.append({"question_id": question_id, "code": layout.question_codes[k],
                           "columns": [{**labels_of[by][d], "n": int(t.n[d]), "share": t.share[:, d],
                                        "se": t.se[:, d]} for d in present]})
        if choice_tables() is not None:
            tables += _choice_tables(prepared, with_rows, by, row_codes, size, labels_of[by], present)
        crosstabs[by] = tables
    return _clean({"format": CHOICE_FORMAT if choice_tables() is not None else 1, "levels": len(params.scores),
                   "domains": domains, "crosstabs": crosstabs})


def _index_interval(params: Params):
    def interval(estimate: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if params.index_ci == "normal":
            return normal_ci(estimate, se, params.confidence)
        return bounded_ci(estimate, se, params.confidence, min(params.scores), max(params.scores))
    return interval


def stored(snapshot: Snapshot) -> dict[str, Any] | None:
    """The snapshot's stored breakdowns, or None for a snapshot computed before them."""
    return (snapshot.summary or {}).get("breakdowns")


# --- period-over-period change --------------------------------------------------------------------------------


@dataclass
class Change:
    """One unit's change from the previous period's official snapshot (index and 满意率)."""

    unit_id: int
    index: float | None
    previous_index: float | None
    index_difference: float | None
    index_difference_se: float | None
    index_p: float | None
    index_significant: bool
    rate: float | None
    previous_rate: float | None
    rate_difference: float | None
    rate_difference_se: float | None
    rate_p: float | None
    rate_significant: bool

    def as_dict(self) -> dict[str, Any]:
        return _clean(dict(self.__dict__))


def previous_official(session: Session, snapshot: Snapshot) -> Snapshot | None:
    """The official snapshot of the period before ``snapshot``'s in the same series (same questionnaire family),
    or None. Only official snapshots: a draft is never compared with, whoever looks."""
    from survey.services.results import snapshots

    campaign = session.get(Campaign, snapshot.campaign_id) if snapshot.campaign_id else None
    period = snapshots.previous_period(snapshot.period)
    if campaign is None or period is None:
        return None
    return next((s for s in snapshots.series(session, campaign, drafts=False) if s.period == period), None)


def _difference(now: float | None, now_se: float | None, before: float | None, before_se: float | None,
                z: float) -> tuple[float | None, float | None, float | None, bool]:
    if now is None or before is None:
        return None, None, None, False
    d = now - before
    if now_se is None or before_se is None:
        return d, None, None, False
    se = float(np.hypot(now_se, before_se))  # independent samples: sqrt(se1² + se2²)
    if se <= 0:
        return d, se, None, False
    from scipy import special  # not at import: SciPy loads when a page first needs it (analysis/__init__.py)

    p = float(2 * special.ndtr(-abs(d) / se))  # the normal upper tail
    return d, se, p, abs(d) / se > z


def changes(session: Session, snapshot: Snapshot, unit_ids: set[int] | None = None
            ) -> tuple[Snapshot | None, list[Change]]:
    """Every unit's change from the previous period's official snapshot, significant when |d| / SE exceeds the
    two-sided normal quantile of the snapshot's confidence level (so at 95 %: p < 0.05)."""
    previous = previous_official(session, snapshot)
    if previous is None:
        return None, []
    confidence = float(snapshot.params["survey"]["params"].get("confidence", 0.95))
    from scipy import special

    z = float(special.ndtri(0.5 + confidence / 2))  # the normal quantile
    before = {r.unit_id: r for r in session.scalars(select(SnapshotRow).where(SnapshotRow.snapshot_id == previous.id))}
    stmt = select(SnapshotRow).where(SnapshotRow.snapshot_id == snapshot.id).order_by(SnapshotRow.unit_id)
    out = []
    for row in session.scalars(stmt):
        if unit_ids is not None and row.unit_id not in unit_ids:
            continue
        old = before.get(row.unit_id)
        if old is None:
            continue
        di = _difference(row.index, row.index_se, old.index, old.index_se, z)
        dr = _difference(row.satisfied_rate, row.satisfied_rate_se, old.satisfied_rate, old.satisfied_rate_se, z)
        out.append(Change(row.unit_id, row.index, old.index, *di[:3], di[3],
                          row.satisfied_rate, old.satisfied_rate, *dr[:3], dr[3]))
    return previous, out



# --- what pages and exports show ------------------------------------------------------------------------------


@dataclass
class DomainRow:
    """One level of a breakdown: ``label`` is a model (group, category: shown by name), a channel code, or None
    (未分类 / 未标明)."""

    by: str
    label: Any
    n: int
    index: float | None
    index_se: float | None
    index_ci: list[float | None]
    satisfied_rate: float | None
    satisfied_rate_se: float | None
    small_n: bool


@dataclass
class CrossTabView:
    question: Question | None
    code: str
    by: str
    columns: list[tuple[Any, int]]  # (label, answers)
    rows: list[tuple[str, str, list[tuple[float | None, float | None]]]]  # (answer code, label, [(share, se) …])
    kind: str = "satisfaction"  # or "single" / "multiple" (a choice question)


@dataclass
class View:
    """The breakdown section of a snapshot's page: tables by group, channel and category, the chosen cross-tab,
    and each unit's change from the previous official period."""

    available: bool
    tables: dict[str, list[DomainRow]]
    questions: list[tuple[int, str, Question | None]]  # (question id, code, question)
    crosstab: CrossTabView | None
    previous: Snapshot | None
    changes: list[tuple[Unit | None, Change]]
    confidence: float


def _labels(session: Session, by: str, entries: list[dict[str, Any]]) -> list[Any]:
    if by == "channel":
        return [e.get("code") for e in entries]
    model = RespondentGroup if by == "group" else Category
    ids = [e.get("id") for e in entries if e.get("id") is not None]
    found = {m.id: m for m in session.scalars(select(model).where(model.id.in_(ids or [-1])))}
    return [found.get(e.get("id")) for e in entries]


def domain_rows(session: Session, snapshot: Snapshot) -> dict[str, list[DomainRow]]:
    data = stored(snapshot) or {}
    out = {}
    for by, entries in (data.get("domains") or {}).items():
        out[by] = [DomainRow(by, label, e["n"], e["index"], e["index_se"], e["index_ci"], e["satisfied_rate"],
                             e["satisfied_rate_se"], e["small_n"])
                   for label, e in zip(_labels(session, by, entries), entries)]
    return out


def crosstab_view(session: Session, snapshot: Snapshot, question_id: int, by: str) -> CrossTabView | None:
    """The stored cross-tab of one question by ``group`` or ``channel``; None when there is none."""
    data = stored(snapshot) or {}
    tables = (data.get("crosstabs") or {}).get(by) or []
    table = next((t for t in tables if t["question_id"] == question_id), None)
    if table is None:
        return None
    columns = table["columns"]
    labels_ = _labels(session, by, columns)
    question = session.get(Question, question_id)
    kind = table.get("kind", "satisfaction")
    if kind == "satisfaction":
        answers = [(k - 1, str(k), str(labels.label("level", k))) for k in range(data.get("levels", 5), 0, -1)]
    else:
        names = question_results.option_labels(question, table["options"], kind)
        answers = [(k, code, name) for k, (code, name) in enumerate(zip(table["options"], names, strict=True))]
    rows = [(code, name, [(c["share"][k], c["se"][k]) for c in columns]) for k, code, name in answers]
    return CrossTabView(question, table["code"], by, [(label, c["n"]) for label, c in zip(labels_, columns)], rows,
                        kind)


def crosstabs(session: Session, snapshot: Snapshot) -> list[CrossTabView]:
    """Every stored cross-tab, question by question, by group then channel."""
    data = stored(snapshot) or {}
    out = []
    for by in CROSSTAB_BY:
        for table in (data.get("crosstabs") or {}).get(by) or []:
            view_ = crosstab_view(session, snapshot, table["question_id"], by)
            if view_ is not None:
                out.append(view_)
    return out


def unit_changes(session: Session, snapshot: Snapshot) -> tuple[Snapshot | None, list[tuple[Unit | None, Change]]]:
    previous, rows = changes(session, snapshot)
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_([c.unit_id for c in rows] or [-1])))}
    ordered = sorted(rows, key=lambda c: (units[c.unit_id].code if c.unit_id in units else "", c.unit_id))
    return previous, [(units.get(c.unit_id), c) for c in ordered]


def view(session: Session, snapshot: Snapshot, question: Any = None, by: Any = None) -> View:
    """The page section; ``question`` (an id) and ``by`` come from the cross-tab form and are checked here:
    anything unknown falls back to the first question and ``group``."""
    data = stored(snapshot)
    layout = snapshot.params["survey"]["layout"]
    ids = [int(q) for q in layout["question_ids"]]
    codes = list(layout["question_codes"])
    for table in ((data or {}).get("crosstabs") or {}).get(CROSSTAB_BY[0]) or []:
        if table.get("kind") in CHOICE_KINDS:
            ids.append(int(table["question_id"]))
            codes.append(table["code"])
    found = {q.id: q for q in session.scalars(select(Question).where(Question.id.in_(ids or [-1])))}
    questions = [(q, code, found.get(q)) for q, code in zip(ids, codes)]
    try:
        chosen = int(question) if question not in (None, "") else (ids[0] if ids else -1)
    except (TypeError, ValueError):
        chosen = ids[0] if ids else -1
    if chosen not in ids and ids:
        chosen = ids[0]
    by = by if by in CROSSTAB_BY else CROSSTAB_BY[0]
    previous, unit_rows = unit_changes(session, snapshot)
    return View(
        available=data is not None,
        tables=domain_rows(session, snapshot),
        questions=questions,
        crosstab=crosstab_view(session, snapshot, chosen, by) if data else None,
        previous=previous,
        changes=unit_rows,
        confidence=float(snapshot.params["survey"]["params"].get("confidence", 0.95)),
    )


def _api_label(by: str, label: Any) -> dict[str, Any]:
    if by == "channel":
        return {"code": label, "name": str(labels.label("channel", label)) if label else None}
    if label is None:
        return {"code": None, "name": None}
    return {"code": label.code, "name": label.name}


def api_payload(session: Session, snapshot: Snapshot) -> dict[str, Any]:
    """``GET /api/v1/snapshots/<id>/breakdowns`` (the caller serves only published snapshots)."""
    data = stored(snapshot)
    domains = {by: [{**_api_label(by, r.label), "n": r.n, "index": r.index, "index_se": r.index_se,
                     "index_ci": r.index_ci, "satisfied_rate": r.satisfied_rate,
                     "satisfied_rate_se": r.satisfied_rate_se, "small_n": r.small_n} for r in rows]
               for by, rows in domain_rows(session, snapshot).items()}
    tables: dict[str, list[dict[str, Any]]] = {by: [] for by in CROSSTAB_BY} if data else {}
    for t in crosstabs(session, snapshot):
        tables[t.by].append({
            "question_code": t.code, "question": t.question.text if t.question else None, "kind": t.kind,
            "answers": [{"code": code, "label": name} for code, name, _cells in t.rows],
            "columns": [{**_api_label(t.by, label), "n": n,
                         "share": {code: cells[k][0] for code, _name, cells in t.rows},
                         "se": {code: cells[k][1] for code, _name, cells in t.rows}}
                        for k, (label, n) in enumerate(t.columns)]})
    previous, entries = unit_changes(session, snapshot)
    return _clean({
        "snapshot_id": snapshot.id,
        "period": snapshot.period,
        "confidence": float(snapshot.params["survey"]["params"].get("confidence", 0.95)),
        "available": data is not None,
        "domains": domains,
        "crosstabs": tables,
        "change": None if previous is None else {
            "previous_snapshot_id": previous.id, "previous_period": previous.period,
            "units": [{"unit_code": unit.code if unit else None, **c.as_dict()} for unit, c in entries]},
    })


def unit_change(session: Session, snapshot: Snapshot, unit_id: int) -> tuple[Snapshot | None, Change | None]:
    """One unit's change from the previous period's official snapshot (for its page; safe for unit contacts:
    only official results are compared)."""
    previous, rows = changes(session, snapshot, {unit_id})
    return previous, (rows[0] if rows else None)
