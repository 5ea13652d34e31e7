"""Every other question type in a snapshot: single choice, multiple choice, 0–10 ratings and text.

The engine (:mod:`analysis.items`) estimates them on each unit's index sample with the index's
weights and linearised SEs. Here:

* :func:`item_specs` — what a snapshot stores about the questions (``spec["items"]``): question
  ids, type, option ids, codes and scores, so the snapshot can be recomputed after the
  questionnaire's options change;
* :func:`load_records` — the counted answers to those questions, in one bulk query (once per
  computation, :func:`spec_records`: the choice cross-tabs of the breakdowns take their part of it);
* :func:`compute` / :func:`attach` — the per-unit results into each row's ``detail["items"]``;
* :func:`headline` and :func:`unit_items` — what the pages, exports and API show;
* :attr:`QuestionBlock.reasons` — the 差评 reasons per unit (the question whose ``settings["role"]`` is
  ``"bad_reasons"``): how many of the unit's respondents shown the question chose each reason,
  most chosen first, so a unit sees what to 整改 first.

A conditional question (``show_if`` set) is also estimated among all respondents; a respondent it
was not shown to (an ``answer.not_shown`` row) is structurally missing and outside the first
figure's denominator (analysis/README.md, "Conditional questions").

A snapshot stored before per-question results (no ``spec["items"]``) replays without them.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, and_, case, cast, func, literal, null, select
from sqlalchemy.orm import Session

from analysis import Answers, Params
from analysis.items import Item, ItemRecords, ItemResult, compute_items
from analysis.weighting import UnitWeights
from survey.i18n import localized
from survey.models import Answer, Campaign, Question, QuestionType, Response, Snapshot
from survey.services.results.loading import Cutoff, DataError, _Reader

#: Question types estimated here, and the engine's name for each.
KINDS = {QuestionType.SINGLE: "single", QuestionType.MULTIPLE: "multiple", QuestionType.RATING: "rating",
         QuestionType.TEXT: "text"}
#: ``Question.settings["role"]`` of the multiple-choice question asking a 差评's reasons
BAD_REASONS = "bad_reasons"


def item_specs(campaign: Campaign) -> list[dict[str, Any]]:
    """The campaign questionnaire's non-satisfaction questions, as stored in a snapshot's ``spec["items"]``."""
    out = []
    for q in campaign.questionnaire.questions:
        kind = KINDS.get(q.type)
        if kind is None:
            continue
        options = list(q.options) if kind in ("single", "multiple") else []
        if kind in ("single", "multiple") and not options:
            continue
        spec = {"question_id": q.id, "code": q.code, "kind": kind,
                "option_ids": [o.id for o in options], "option_codes": [o.code for o in options],
                "scores": [o.score for o in options]}
        if q.show_if:
            spec["conditional"] = True
        if kind == "multiple" and (q.settings or {}).get("role") == BAD_REASONS:
            spec["role"] = BAD_REASONS
        out.append(spec)
    return out


def engine_items(specs: Sequence[dict[str, Any]]) -> list[Item]:
    return [Item(s["code"], s["kind"], tuple(s["option_codes"]),
                 tuple(None if v is None else float(v) for v in s["scores"]),
                 conditional=bool(s.get("conditional")), counted=s.get("role") == BAD_REASONS) for s in specs]


#: An item record as the database returns it: (response, unit, code), the code
#: ``item · 2^ITEM_SHIFT + (value + 1) · 2 + not shown`` (value −1 for a not-shown record).
ITEM_SHIFT = 21
MAX_OPTIONS = (1 << (ITEM_SHIFT - 1)) - 2


def load_records(session: Session, cutoff: Cutoff, specs: Sequence[dict[str, Any]],
                 reader: _Reader | None = None) -> ItemRecords:
    """The counted answers (the cut-off's responses, left-out ones dropped) to the ``specs`` questions.

    Answers without a unit, with an option not in the spec or a rating outside 0–10 are not counted; a
    not-shown row counts (as not shown) for a conditional question only. The database codes each
    counted answer to the engine's item index and value itself (:func:`_record_code`) and returns three
    BIGINTs per record, read in bulk: the fewer values, the less SQLite spends writing them out and NumPy
    parsing them (the answers' own ids, option, rating, text and not-shown flag took seven).
    ``reader`` (a helper connection of :mod:`loading`) reads instead of the session, which another thread
    may then use meanwhile.
    """
    empty = ItemRecords(*(np.zeros(0, dtype=np.int64) for _ in range(4)), not_shown=np.zeros(0, dtype=bool))
    ids = [int(s["question_id"]) for s in specs]
    if not ids:
        return empty
    reader = reader if reader is not None else _Reader(session.connection())
    first = select(cast(func.coalesce(func.min(Response.id), literal(-1)), BigInteger)).where(
        Response.campaign_id == cutoff.campaign_id)
    lowest = int(reader.rows(first, 1)[0, 0])
    if lowest < 0:
        return empty
    conditions = (Answer.campaign_id == cutoff.campaign_id, Answer.question_id.in_(ids), Answer.unit_id.is_not(None),
                  Answer.response_id.between(lowest, cutoff.max_response_id))
    columns = [cast(Answer.response_id, BigInteger).label("response"), cast(Answer.unit_id, BigInteger).label("unit"),
               _record_code(specs).label("code")]
    coded = select(*columns).where(*conditions).subquery()
    statement: Any = select(*coded.c).where(coded.c.code.is_not(None))
    by_question = _by_question(reader, statement, ids, lowest, cutoff.max_response_id)
    if by_question:
        coded = select(*columns, cast(Answer.id, BigInteger).label("answer")).where(*conditions).subquery()
        sql = reader.sql_of(select(*coded.c).where(coded.c.code.is_not(None)))
        hinted, count = re.subn(r"\bFROM answer\b", f"FROM answer INDEXED BY {QUESTION_INDEX}", sql)
        by_question = count == 1  # (the statement names the table once)
        statement = hinted if by_question else statement
    rows = reader.rows(statement, 4 if by_question else 3)
    if by_question:  # in the order of the response-id index, as the planner's own choice returns them
        rows = rows[np.lexsort((rows[:, 3], rows[:, 0]))][:, :3]
    left_out = np.fromiter(sorted(cutoff.left_out), dtype=np.int64)
    if left_out.size:
        rows = rows[~np.isin(rows[:, 0], left_out)]
    code = rows[:, 2]
    item = code >> ITEM_SHIFT
    value = ((code >> 1) & ((1 << (ITEM_SHIFT - 1)) - 1)) - 1
    hidden = (code & 1) == 1
    keep = np.ones(rows.shape[0], dtype=bool)
    if hidden.any():  # an answer wins over a stray not-shown row of the same response, unit and question
        _ids, person = np.unique(rows[:, 0], return_inverse=True)  # dense codes: any BIGINT id fits the key
        units, place = np.unique(rows[:, 1], return_inverse=True)
        key = (person.reshape(-1) * units.size + place.reshape(-1)) * (len(specs) + 1) + item
        keep &= ~(hidden & np.isin(key, key[~hidden]))
    return ItemRecords(respondent=rows[keep, 0], unit=rows[keep, 1], item=item[keep], value=value[keep],
                       not_shown=hidden[keep])


QUESTION_INDEX = "ix_answer_question_id"


#: The question-id index is taken when its entries for the questions are at most this share of the answers
#: estimated in the response-id range (it also costs the answer ids read and sorted).
QUESTION_SHARE = 0.5


def _by_question(reader: _Reader, statement: Any, ids: Sequence[int], lowest: int, highest: int) -> bool:
    """Whether SQLite should find the answers through the question-id index rather than the response-id
    range its planner takes.

    The range visits every answer of every response in it (a table row each: ≈ 7 a response in a window
    survey) to keep the few to these questions; the question-id index visits only the answers to them, but
    of every campaign that asks them. So: only when the planner takes the response-id index for
    ``statement`` (its rows then come in (response, answer id) order, which the caller restores), and when
    the question index holds at most :data:`QUESTION_SHARE` of the answers estimated in the range (its
    response ids times the answers per response of the whole table, from the largest ids), counted in the
    index alone; a questionnaire asked by many campaigns keeps the range. Never on PostgreSQL, whose planner
    has the statistics."""
    if reader.dialect.name != "sqlite" or highest < lowest:
        return False
    cursor = reader.driver.cursor()
    try:
        plan = " ".join(str(row[-1]) for row in cursor.execute("EXPLAIN QUERY PLAN " + reader.sql_of(statement)))
    finally:
        cursor.close()
    if "ix_answer_response_id" not in plan:
        return False
    sizes = select(cast(func.count(), BigInteger),
                   cast(func.coalesce(select(func.max(Answer.id)).scalar_subquery(), literal(0)), BigInteger),
                   cast(func.coalesce(select(func.max(Response.id)).scalar_subquery(), literal(1)), BigInteger),
                   ).select_from(Answer).where(Answer.question_id.in_(list(ids)))
    entries, answers, responses = (int(v) for v in reader.rows(sizes, 3)[0])
    return entries <= QUESTION_SHARE * (highest - lowest + 1) * answers / max(responses, 1)


def _record_code(specs: Sequence[dict[str, Any]]) -> Any:
    """An answer row's record code (ITEM_SHIFT), NULL for a row not counted, as a SQL expression.

    Spec k codes its question's rows: a not-shown row as (k, −1, not shown) when the question is
    conditional (else not counted); an answer as (k, the option's position in ``option_ids``) for a
    choice question when the option is listed (its first place), (k, the rating) for a rating of 0–10
    (the rating as a BIGINT, as each database casts it), (k, 0) for a non-empty text. When specs
    share a question, the last that counts a row wins.
    """
    hidden = Answer.not_shown.is_(True)
    by_question: dict[int, list[Any]] = {}
    for k, spec in enumerate(specs):
        base = k << ITEM_SHIFT
        if spec["kind"] in ("single", "multiple"):
            places: dict[int, int] = {}
            for position, option in enumerate(int(o) for o in spec["option_ids"]):
                places.setdefault(option, position)
            if len(places) > MAX_OPTIONS:
                raise DataError(f"question {spec['question_id']} has more than {MAX_OPTIONS} options")
            answered = (case({option: literal(base + (position + 1) * 2) for option, position in places.items()},
                             value=Answer.option_id) if places else null())
        elif spec["kind"] == "rating":
            rating = cast(func.coalesce(Answer.number, literal(-1)), BigInteger)
            answered = case((rating.between(0, 10), literal(base + 2) + rating * literal(2)))
        else:
            answered = case((and_(Answer.text.is_not(None), Answer.text != ""), literal(base + 2)))
        shown = case((hidden, literal(base + 1) if spec.get("conditional") else null()), else_=answered)
        by_question.setdefault(int(spec["question_id"]), []).append(shown)
    return cast(case({question: codes[0] if len(codes) == 1 else func.coalesce(*reversed(codes))
                      for question, codes in by_question.items()}, value=Answer.question_id), BigInteger)


def spec_records(session: Session, spec: dict[str, Any], reader: _Reader | None = None) -> ItemRecords | None:
    """The counted answers to every question of ``spec["items"]`` (None for a snapshot without items),
    read once per computation: :func:`compute` and the breakdowns' choice cross-tabs both use them.
    ``reader``: as for :func:`load_records`."""
    specs = spec.get("items")
    if not specs:
        return None
    return load_records(session, Cutoff.from_dict(spec["survey"]["cutoff"]), specs, reader)


def select_items(records: ItemRecords, positions: Sequence[int]) -> ItemRecords:
    """The records of the items at ``positions`` (of the specs they were loaded for), renumbered 0, 1, …
    in that order: what :func:`load_records` gives for those specs alone, since each record's item and
    value depend on its own question only."""
    item, keep = _renumbered(records, positions)
    return ItemRecords(respondent=records.respondent[keep], unit=records.unit[keep], item=item[keep],
                       value=records.value[keep],
                       not_shown=None if records.not_shown is None else records.not_shown[keep])


def _renumbered(records: ItemRecords, positions: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Each record's item number among ``positions`` (−1 for another item) and the mask of those kept."""
    number = np.full(int(records.item.max(initial=-1)) + 1, -1, dtype=np.int64)
    for new, old in enumerate(positions):
        if old < number.size:
            number[old] = new
    item = number[records.item] if records.item.size else records.item
    return item, item >= 0


def selected_rows(records: ItemRecords, positions: Sequence[int], rows: np.ndarray) -> np.ndarray:
    """``rows`` (one per record of ``records``) of the records :func:`select_items` keeps, in its order."""
    return rows[_renumbered(records, positions)[1]]


def compute(spec: dict[str, Any], answers: Answers | None, params: Params, units: np.ndarray,
            records: ItemRecords | None, weights: UnitWeights | None = None,
            rows: np.ndarray | None = None) -> list[ItemResult] | None:
    """Every item of ``spec["items"]`` for every unit (None for a snapshot without items), from
    :func:`spec_records`.

    ``answers`` are the engine records the index was computed from, so the items use the same
    sample and weights; ``weights`` (those of the breakdowns' table, made from the same records)
    saves weighting them again, ``rows`` (``analysis.items.record_rows`` of them) finding each record's row.
    """
    specs = spec.get("items")
    if not specs or records is None:
        return None
    return compute_items(answers, params, engine_items(specs), records, units=units,
                         n_questions=len(spec["survey"]["layout"]["question_ids"]), weights=weights, rows=rows)


def attach(rows: Sequence[Any], summary: dict[str, Any], results: list[ItemResult] | None,
           specs: Sequence[dict[str, Any]] | None, clean: Any) -> None:
    """Store each unit's item results in its row's ``detail["items"]`` and all units pooled in
    ``summary["items"]`` (JSON-safe via ``clean``)."""
    if results is None or not specs:
        return
    summary["items"] = clean([{"question_id": s["question_id"], **r.overall()}
                              for s, r in zip(specs, results, strict=True)])
    for i, row in enumerate(rows):
        row.detail["items"] = clean([{"question_id": s["question_id"], **r.row(i)}
                                     for s, r in zip(specs, results, strict=True)])


# --- what the pages, exports and API show -----------------------------------------------------


@dataclass
class QuestionBlock:
    """One question's results over the units shown: what the page section, sheets and CSV are built from."""

    spec: dict[str, Any]
    question: Question | None
    labels: list[str]  # the share columns: option labels in the site's language, or 0 … 10
    rows: list[tuple[Any, dict[str, Any]]]  # (unit, stored item dict), in the order given
    overall: dict[str, Any] | None = None  # all units pooled (summary["items"]); None before it was stored

    @property
    def kind(self) -> str:
        return str(self.spec["kind"])

    @property
    def code(self) -> str:
        return str(self.spec["code"])

    @property
    def scored(self) -> bool:
        return self.kind == "single" and bool(self.spec["scores"]) and all(v is not None for v in self.spec["scores"])

    @property
    def top_label(self) -> str:
        """The best-scored option's label (一次办成), for a scored question."""
        if not self.scored:
            return ""
        scores = [float(v) for v in self.spec["scores"]]
        return self.labels[scores.index(max(scores))]

    @property
    def text(self) -> str:
        return localized(self.question, "text") if self.question is not None else self.code

    @property
    def conditional(self) -> bool:
        """Shown only when an earlier answer calls for it: shares also among all respondents."""
        return bool(self.spec.get("conditional"))

    @property
    def bad_reasons(self) -> bool:
        return self.spec.get("role") == BAD_REASONS

    @property
    def reasons(self) -> list[UnitReasons]:
        """A 差评-reasons question's table: every unit's reasons, units with the most respondents asked
        first (empty for other questions and snapshots stored without counts)."""
        if not self.bad_reasons:
            return []
        tables = [t for unit, it in self.rows if (t := unit_reasons(self, unit, it)) is not None]
        return sorted(tables, key=lambda t: -t.n_shown)


@dataclass
class Reason:
    code: str
    label: str
    count: int
    share: float | None  # count / n shown (None when nobody of the unit was shown the question)


@dataclass
class UnitReasons:
    """One unit's 差评 reasons: ``n_shown`` respondents were asked (answered or skipped), ``n`` answered;
    ``reasons`` every option, the most chosen first (then in questionnaire order)."""

    unit: Any
    n_shown: int
    n: int
    reasons: list[Reason]

    @property
    def chosen(self) -> list[Reason]:
        return [r for r in self.reasons if r.count]


def unit_reasons(block: QuestionBlock, unit: Any, item: dict[str, Any]) -> UnitReasons | None:
    """The reasons table of one unit from its stored item (None for a snapshot stored without counts)."""
    counts = item.get("counts")
    if counts is None:
        return None
    n_shown = int(item.get("n_shown", item["n"]))
    codes = list(block.spec["option_codes"])
    reasons = [Reason(code, label_, int(count), count / n_shown if n_shown else None)
               for code, label_, count in zip(codes, block.labels, counts, strict=True)]
    reasons.sort(key=lambda r: -r.count)  # stable: equal counts keep the questionnaire's order
    return UnitReasons(unit, n_shown, int(item["n"]), reasons)


def questions_of(session: Session, snapshot: Snapshot) -> dict[int, Question]:
    ids = [int(s["question_id"]) for s in (snapshot.params or {}).get("items") or []]
    return {q.id: q for q in session.scalars(select(Question).where(Question.id.in_(ids or [-1])))}


def unit_items(detail: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((detail or {}).get("items") or [])


def option_labels(question: Question | None, codes: Sequence[str], kind: str) -> list[str]:
    """Labels of the stored option codes in the site's language (a rating's values as they are)."""
    if kind == "rating" or question is None:
        return [str(c) for c in codes]
    by_code = {o.code: o for o in question.options}
    return [localized(by_code[c], "label") if c in by_code else str(c) for c in codes]


def blocks(session: Session, snapshot: Snapshot, units_and_details: Sequence[tuple[Any, dict[str, Any]]]
           ) -> list[QuestionBlock]:
    """Every stored question's results for the given (unit, detail) pairs; scored single choice first
    (the 一次办成率 is the headline), then in questionnaire order. Empty for a snapshot without items."""
    specs = (snapshot.params or {}).get("items") or []
    if not specs:
        return []
    questions = questions_of(session, snapshot)
    pooled = {it["question_id"]: it for it in (snapshot.summary or {}).get("items") or []}
    out = []
    for spec in specs:
        question = questions.get(int(spec["question_id"]))
        codes = [str(v) for v in range(11)] if spec["kind"] == "rating" else list(spec["option_codes"])
        rows = []
        for unit, detail in units_and_details:
            item = next((it for it in unit_items(detail) if it["question_id"] == spec["question_id"]), None)
            if item is not None:
                rows.append((unit, item))
        out.append(QuestionBlock(spec, question, option_labels(question, codes, spec["kind"]), rows,
                                 pooled.get(spec["question_id"])))
    return sorted(out, key=lambda b: not b.scored)


def snapshot_blocks(session: Session, snapshot: Snapshot, unit_ids: set[int] | None = None) -> list[QuestionBlock]:
    """:func:`blocks` for every unit of the snapshot (or those in ``unit_ids``), in league order."""
    if not (snapshot.params or {}).get("items"):
        return []
    from survey.services.results import display  # display imports the results modules; keep this one light

    pairs = [(e.unit, e.detail) for t in display.league(session, snapshot, unit_ids) for e in t.rows]
    return blocks(session, snapshot, pairs)
