"""Loading a campaign's answers into the engine's arrays, fast, on SQLite and PostgreSQL.

A period of a million responses holds six to eight million answer rows; building ORM
objects for them would take minutes. So the database does the grouping: one query
returns ONE row per (response, unit) with that pair's satisfaction answers packed into a
single integer — three bits per question (level 1…5, 6 = 不了解 or no level, 0 = not
asked or not shown: a question whose display condition did not hold, ``answer.not_shown``)
at bit 3·k for the k-th question of the index — plus a bit mask and a count of
the answers in a second integer, which expose any duplicate answer (a carry in the mask),
and the number of comments left. A second query returns every response's group and channel as small
integers. Both come back as BIGINT columns, read in bulk straight into NumPy (a few ``bytea``
values on PostgreSQL, a text of numbers on SQLite), and are decoded there.

The packed integers are kept (``answer_pack``, migration 0009): a response's answers never change once
stored, so a period already computed is read as one narrow row per pair (:func:`load_pairs`).

Which responses count (the data cut-off) is explicit: responses of the campaign up to
``max_response_id``, minus the ``excluded`` ids, minus the ``flagged`` ids unless
flagged responses are included. A snapshot stores exactly these, so loading again
with them returns the same arrays, in the same order, even after statuses have changed.
"""
from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, and_, case, cast, exists, func, insert, literal, null, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from analysis import Answers
from survey.models import Answer, Campaign, QuestionType, Response, ResponseStatus
from survey.models.fieldwork import AnswerPack
from survey.services.results import weighting
from survey.services.results.weighting import CHANNEL_ORDER

BITS = 3
MAX_QUESTIONS = 20  # 3 bits × 20 = 60 bits: a signed 64-bit integer on both databases
COUNT_SHIFT = 24  # the check column: a bit per index question answered below, their number from here
DONT_KNOW_CODE = 6
NO_GROUP = -1
SEVERAL_UNITS = 100  # added to the channel code of a response that rates several units (no response.unit_id)


class DataError(ValueError):
    """Stored answers the engine cannot use (e.g. a question answered twice); the message says which."""


@dataclass(frozen=True)
class Cutoff:
    """Which responses of a campaign count: ids up to ``max_response_id`` minus the listed ones."""

    campaign_id: int
    max_response_id: int
    excluded_ids: tuple[int, ...] = ()
    flagged_ids: tuple[int, ...] = ()
    include_flagged: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "max_response_id": self.max_response_id,
                "excluded_ids": list(self.excluded_ids), "flagged_ids": list(self.flagged_ids),
                "include_flagged": self.include_flagged}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cutoff:
        return cls(int(data["campaign_id"]), int(data["max_response_id"]),
                   tuple(int(v) for v in data.get("excluded_ids", ())),
                   tuple(int(v) for v in data.get("flagged_ids", ())), bool(data.get("include_flagged")))

    @property
    def left_out(self) -> set[int]:
        return set(self.excluded_ids) | (set() if self.include_flagged else set(self.flagged_ids))


@dataclass
class PairTable:
    """One row per (response, unit) with answers: the packed answers and the response's traits."""

    response: np.ndarray  # int64 response id
    unit: np.ndarray  # int64 unit id
    packed: np.ndarray  # int64, 3 bits per question
    group: np.ndarray  # int64 respondent group id, -1 when none
    channel: np.ndarray  # int8 code into CHANNEL_ORDER
    comments: np.ndarray  # int64 number of comments the response left about the unit
    n_questions: int
    responses: int = 0  # responses counted (with or without index answers)
    excluded: int = 0
    flagged: int = 0
    flagged_included: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.response.size)

    def levels(self) -> np.ndarray:
        """(pairs, questions) int8: 0 not asked, 1…5 level, 6 不了解."""
        shifts = (np.arange(self.n_questions, dtype=np.int64) * BITS)[None, :]
        return ((self.packed[:, None] >> shifts) & 7).astype(np.int8)

    def subset(self, keep: np.ndarray) -> PairTable:
        """The pairs selected by a boolean mask or an index array."""
        return PairTable(self.response[keep], self.unit[keep], self.packed[keep], self.group[keep],
                         self.channel[keep], self.comments[keep], self.n_questions, self.responses, self.excluded,
                         self.flagged, self.flagged_included, dict(self.extra))

    def relabel_units(self, links: Sequence[tuple[int, int]]) -> PairTable:
        """Pairs re-labelled along ``(unit, new unit)`` links (e.g. window → its department).

        A unit linked to several new units (a window under a section and its department)
        is counted for each; pairs of unlinked units are dropped. Every resulting pair is its
        own respondent (the response id becomes a row number), so a response that rated two
        windows of one department stays two ratings.
        """
        parts, targets = [], []
        for source, target in links:
            rows = np.flatnonzero(self.unit == source)
            parts.append(rows)
            targets.append(np.full(rows.size, target, dtype=np.int64))
        rows = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        out = self.subset(rows)
        out.unit = np.concatenate(targets) if targets else np.zeros(0, dtype=np.int64)
        out.response = np.arange(1, out.size + 1, dtype=np.int64)
        return out

    def answers(self, group_codes: Sequence[int], channel_codes: Sequence[str] | None,
                no_group_code: int | None) -> tuple[Answers, np.ndarray]:
        """The engine's flat records, and a mask of the pairs used.

        ``group_codes`` lists group ids in code order; pairs of a group not listed (or with
        no group, unless ``no_group_code`` gives them a code) cannot be weighted and are left
        out — the caller reports how many. ``channel_codes`` (raking on channel) does the same
        for channels.
        """
        group_code = _code_lookup(self.group, list(group_codes), no_group_code)
        use = group_code >= 0
        margins_pairs: dict[str, np.ndarray] = {"group": group_code}
        if channel_codes is not None:
            wanted = [CHANNEL_ORDER.index(c) for c in channel_codes]
            channel_code = _code_lookup(self.channel.astype(np.int64), wanted, None)
            use &= channel_code >= 0
            margins_pairs["channel"] = channel_code
        levels = self.levels()
        levels[~use] = 0
        flat = levels.ravel()
        cells = np.flatnonzero(flat)  # row-major: by pair, then question
        rows, questions = np.divmod(cells, self.n_questions)
        level = flat[cells]
        level[level == DONT_KNOW_CODE] = 0
        answers = Answers(
            respondent=self.response[rows],
            unit=self.unit[rows],
            question=questions.astype(np.int16),
            level=level,
            margins={name: codes[rows] for name, codes in margins_pairs.items()},
        )
        return answers, use

    def digest(self) -> str:
        """SHA-256 of the pairs in (response, unit) order: any change of a counted answer changes it."""
        # the pairs are loaded in that order: no sort then (a stable sort of ordered pairs changes nothing)
        order = slice(None) if _ordered(self.response, self.unit) else np.lexsort((self.unit, self.response))
        h = hashlib.sha256()
        for array in (self.response, self.unit, self.packed, self.group, self.channel.astype(np.int64), self.comments):
            h.update(np.ascontiguousarray(array[order]).astype("<i8").tobytes())
        h.update(str(self.n_questions).encode())
        return h.hexdigest()


def _code_lookup(values: np.ndarray, codes: list[int], missing_code: int | None) -> np.ndarray:
    """Position of each value in ``codes`` (-1 when absent; ``missing_code`` for NO_GROUP when given)."""
    out = np.full(values.size, -1, dtype=np.int64)
    for position, value in enumerate(codes):
        out[values == value] = position
    if missing_code is not None:
        out[values == NO_GROUP] = missing_code
    return out


def current_cutoff(session: Session, campaign_id: int, include_flagged: bool) -> Cutoff:
    """The cut-off now: the newest response id, and the responses excluded or flagged so far."""
    max_id = session.scalar(select(func.max(Response.id)).where(Response.campaign_id == campaign_id)) or 0
    # Sorted here, not by the database: for ORDER BY id SQLite walks the whole table in id order (0.5 s for a
    # million responses) instead of reading the few excluded and flagged ones from the (campaign, status) index.
    rows = sorted(session.execute(
        select(Response.id, Response.status).where(
            Response.campaign_id == campaign_id, Response.id <= max_id,
            Response.status.in_([ResponseStatus.EXCLUDED, ResponseStatus.FLAGGED]),
        )
    ).all(), key=lambda r: r.id)
    excluded = tuple(r.id for r in rows if r.status == ResponseStatus.EXCLUDED)
    flagged = tuple(r.id for r in rows if r.status == ResponseStatus.FLAGGED)
    return Cutoff(campaign_id, int(max_id), excluded, flagged, include_flagged)


def _raw_rows(session: Session, statement: Any, columns: int,
              ids: tuple[Any, int, int] | None = None) -> np.ndarray:
    """Run a Core statement whose columns are all non-null BIGINTs, the first a response id;
    int64 array (rows, columns).

    PostgreSQL packs the rows into a few large ``bytea`` values (:func:`_packed_rows`), read
    straight into NumPy (no Python object per row or value); SQLite goes through the raw
    DB-API cursor in large batches. ``ids`` = (the response-id column, lowest, highest) lets
    PostgreSQL read the range in blocks of response ids, one plain aggregate each, and lets a
    wide range be read in halves on two connections at once (:func:`_in_ranges`). Every bound
    value of our statements is an integer or a constant of our own, so they are rendered inline;
    no user text ever reaches this SQL.
    """
    if ids is None:
        return _Reader(session.connection()).rows(statement, columns)
    column, lowest, highest = ids
    parts = _in_ranges(session, int(lowest), int(highest),
                       lambda reader, low, high: reader.rows(statement, columns, (column, low, high)))
    return _stack(parts, columns)


def _stack(parts: Sequence[np.ndarray], columns: int) -> np.ndarray:
    parts = [p for p in parts if p.size]
    if not parts:
        return np.zeros((0, columns), dtype=np.int64)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class _Reader:
    """One connection reading rows for :func:`_raw_rows`: the session's own, or a helper of :func:`_in_ranges`."""

    first = True  # the session's own connection, in the caller's thread

    def __init__(self, connection: Any, driver: Any = None) -> None:
        self.dialect = connection.dialect
        self.driver = driver if driver is not None else connection.connection.driver_connection

    def sql_of(self, select_: Any) -> str:
        if isinstance(select_, str):  # written for this database already
            return select_
        return str(select_.compile(dialect=self.dialect, compile_kwargs={"literal_binds": True}))

    def rows(self, statement: Any, columns: int, ids: tuple[Any, int, int] | None = None) -> np.ndarray:
        if ids is None:
            statements = [self.sql_of(statement)]
        else:  # one statement per block of BLOCK_IDS response ids
            column, lowest, highest = ids
            statements = [self.sql_of(statement.where(column.between(start, min(start + BLOCK_IDS - 1, int(highest)))))
                          for start in range(int(lowest), int(highest) + 1, BLOCK_IDS)]
        read = _packed_rows if self.dialect.name == "postgresql" else _text_rows
        return read(self.driver, statements, columns)


def _text_rows(driver: Any, statements: Sequence[str], columns: int) -> np.ndarray:
    """SQLite's counterpart of :func:`_packed_rows`: each statement's columns as texts of decimal numbers
    (one ``group_concat`` per column), parsed by NumPy.

    The ``sqlite3`` module builds a tuple and an integer object for every row and value it returns, holding
    the GIL (≈ 0.8 µs a row, most of a narrow read); one value per column for the whole result leaves the
    work to SQLite, which runs without the GIL, so two threads really read at once. A text per column
    rather than one of the rows joined by ``||`` (a new string per join and row): half of SQLite's time for
    the packed answers. The aggregates of one query see the rows in one order, so the columns line up; a
    NULL would drop out of its column's text: a count per statement refuses it, like a value that is not
    an integer.
    """
    names = ", ".join(f"c{k}" for k in range(columns))
    texts = ", ".join(f"group_concat(c{k}, ',')" for k in range(columns))
    parts = []
    cursor = driver.cursor()
    try:
        for sql in statements:
            cursor.execute(f"WITH rows_({names}) AS ({sql}) SELECT count(*), {texts} FROM rows_")
            count, *data = cursor.fetchone()
            if count == 0:
                continue
            values = np.empty((count, columns), dtype=np.int64)
            for k, text in enumerate(data):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("error")
                        column = np.fromstring(text or "", dtype=np.int64, sep=",")
                except (ValueError, DeprecationWarning) as exc:
                    raise DataError("unexpected value from the database (a column is not an integer)") from exc
                if column.size != count:
                    raise DataError("unexpected row layout from the database (a column is not a non-null integer)")
                values[:, k] = column
            parts.append(values)
    finally:
        cursor.close()
    return _stack(parts, columns)


READERS = 2  # connections reading a wide range of response ids at once (the machine has 2 cores or more)
PARALLEL_IDS = 1 << 17  # a narrower range is read on the session's connection alone: a thread would cost more


def _in_ranges(session: Session, lowest: int, highest: int,
               work: Callable[[_Reader, int, int], Any]) -> list[Any]:
    """``work(reader, low, high)`` over consecutive parts of the response ids ``lowest``…``highest``, the
    results in id order: wall time, not CPU, is what a computation waits for.

    A range of ``PARALLEL_IDS`` ids or more is cut into ``READERS`` parts: the first is read on the
    session's own connection in this thread, each other one on a helper connection in a thread of its
    own. PostgreSQL then works in two backends (two cores) while the client decodes; the ``sqlite3``
    module releases the GIL while SQLite steps, so two connections to the file scan two halves at once.
    A helper connection sees what is committed only, so it is used only when the session's view is
    the committed data: on PostgreSQL a READ COMMITTED transaction that has written nothing
    (``txid_current_if_assigned()`` is NULL; REPEATABLE READ keeps its snapshot: one connection),
    on SQLite a connection outside any transaction (no uncommitted write, no :func:`survey.db.read_snapshot`)
    to a database file (not ``:memory:``). The rows read are fixed anyway by the cut-off's
    ``max_response_id``: answers never change once stored. Otherwise, or when a helper connection
    cannot be opened, everything is read on the session's connection.
    """
    connection = session.connection()
    own = _Reader(connection)
    parts = min(READERS, max(1, (highest - lowest + 1) // max(1, PARALLEL_IDS) + 1))
    opened = _helpers(session, connection, parts - 1) if parts > 1 else []
    if not opened:
        return [work(own, lowest, highest)]
    readers = [own, *opened]
    step = (highest - lowest + 1 + len(readers) - 1) // len(readers)
    bounds = [(lowest + k * step, min(highest, lowest + (k + 1) * step - 1)) for k in range(len(readers))]
    results: list[Any] = [None] * len(readers)
    failures: list[BaseException] = []

    def run(k: int) -> None:
        try:
            results[k] = work(readers[k], *bounds[k])
        except BaseException as exc:  # noqa: BLE001 — raised again in the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(k,), name=f"pingyi-load-{k}", daemon=True)
               for k in range(1, len(readers))]
    try:
        for thread in threads:
            thread.start()
        run(0)
        for thread in threads:
            thread.join()
    finally:
        for reader in opened:
            reader.close()
    if failures:
        raise failures[0]
    return results


class _Helper(_Reader):
    """A second connection to the session's database, for reading only; closed (rolled back) after use."""

    first = False

    def __init__(self, connection: Any, driver: Any, closer: Callable[[], None]) -> None:
        super().__init__(connection, driver)
        self._closer = closer

    def close(self) -> None:
        self._closer()


def _helpers(session: Session, connection: Any, count: int) -> list[_Helper]:
    """``count`` helper connections when the session reads committed data only (:func:`_in_ranges`), else []."""
    if session.new or session.dirty or session.deleted:
        return []
    name = connection.dialect.name
    helpers: list[_Helper] = []
    try:
        if name == "postgresql":
            driver = connection.connection.driver_connection
            with driver.cursor() as cursor:
                cursor.execute("SELECT txid_current_if_assigned() IS NULL AND "
                               "current_setting('transaction_isolation') = 'read committed'")
                if not cursor.fetchone()[0]:
                    return []
            for _ in range(count):
                other = connection.engine.connect()
                helpers.append(_Helper(other, other.connection.driver_connection, other.close))
        elif name == "sqlite":
            path = connection.engine.url.database
            if (connection.connection.driver_connection.in_transaction or not path or path == ":memory:"
                    or path.startswith("file:") or "mode=memory" in str(connection.engine.url)):
                return []
            for _ in range(count):
                other = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
                helpers.append(_Helper(connection, other, other.close))
    except (SQLAlchemyError, sqlite3.Error, OSError):  # no helper after all: the session's connection reads alone
        for helper in helpers:
            helper.close()
        return []
    return helpers


BLOCK_IDS = 1 << 18  # PostgreSQL: the rows of 262,144 consecutive response ids travel as one bytea value


def _packed_rows(driver: Any, statements: Sequence[str], columns: int) -> np.ndarray:
    """The rows of the ``statements`` (blocks of one result) as big-endian 8-byte integers, concatenated
    by the server.

    ``string_agg(int8send(c0) || int8send(c1) || …)`` over each block turns a million rows into a
    few values, so the client reads a few large buffers instead of one COPY message per row
    (psycopg's per-message loop cost more than the server's work). Each block is a plain aggregate:
    grouping the rows into blocks inside one query sorted or hashed them all (spilling to disk
    with the default ``work_mem``), which cost the server more than reading them; a block of
    response ids keeps each value far below ``bytea``'s 1 GB. Each block also returns its row
    count: a NULL column would drop its row from the concatenation, so a length that disagrees is
    refused. JIT is off for the queries: compiling their expressions cost more than running them.
    """
    names = ", ".join(f"c{k}" for k in range(columns))
    packed = " || ".join(f"int8send(c{k})" for k in range(columns))
    width = 8 * columns
    parts = []
    with driver.cursor(binary=True) as cursor:
        cursor.execute("SELECT current_setting('jit')")
        jit = cursor.fetchone()[0]
        cursor.execute("SET LOCAL jit = off")
        try:
            for sql in statements:
                cursor.execute(f"SELECT count(*), string_agg({packed}, ''::bytea) FROM ({sql}) AS rows_({names})")
                count, data = cursor.fetchone()
                if count == 0:
                    continue
                if data is None or len(data) != count * width:
                    raise DataError("unexpected row layout from the database (a column is not a non-null BIGINT)")
                parts.append(np.frombuffer(data, dtype=">i8"))
        finally:
            cursor.execute("SELECT set_config('jit', %s, true)", (jit,))
    if not parts:
        return np.zeros((0, columns), dtype=np.int64)
    return np.concatenate(parts).astype(np.int64).reshape(-1, columns)


def _big(expression: Any) -> Any:
    return cast(expression, BigInteger)


def load_pairs(session: Session, cutoff: Cutoff, question_ids: Sequence[int],
               comment_question_ids: Sequence[int] = (), unit_ids: Iterable[int] | None = None,
               tick: Callable[[], None] | None = None, *, packed: bool = True) -> PairTable:
    """Every counted (response, unit) pair of the campaign with its packed answers to ``question_ids``.

    ``question_ids`` may hold -1 for a question the campaign's questionnaire lacks (pooled
    campaigns); it matches nothing. Pairs that only left a comment (one of
    ``comment_question_ids``) are kept, with no answers packed, for the comment counts.
    ``unit_ids`` restricts the units (e.g. the windows of a department); None = all.
    ``tick`` is called after the traits and after the answers (for a progress bar).

    Per pair: the packed levels, a check number (a bit per index question answered and their
    count: a question answered twice shows as a count that differs from the bits set) and the
    number of non-empty comments. For the campaign's own questions (``unit_ids`` None) they are
    read from ``answer_pack``, one narrow row per pair that repeats the response's traits, so a
    packed period is that table alone; responses not packed yet (the counts of responses and
    packed responses disagree) are packed first, on a connection of their own
    (:func:`_write_packs`), or read from the answers when that cannot be done. Otherwise one grouped
    scan of the answers, limited to the campaign's range of response ids, returns them; the
    responses' traits are read first: when every response rates one unit (a service survey, not
    an appraisal), the scan groups by response alone, in the order of the response-id index,
    instead of sorting the answer rows by (response, unit); the unit ids' spread in each group
    proves that, or the pair grouping runs. Both ways a wide range of ids is read in two parts at
    once (:func:`_in_ranges`). ``packed=False`` always reads the answers: verifying a snapshot checks
    it against the stored answers themselves, not against their packed copy.
    """
    return _load_pairs(session, cutoff, question_ids, comment_question_ids, unit_ids, tick, packs=packed)


def _scan_terms(campaign_id: int, question_ids: Sequence[int], comment_ids: Sequence[int], lowest: int,
                highest: int) -> tuple[tuple[Any, Any, Any], list[Any], Any]:
    """The answer scan's three sums per group (packed levels, check, comments), its conditions (the
    campaign's answers to these questions about a unit, response ids ``lowest`` … ``highest``) and each
    response's trait code (channel, plus ``SEVERAL_UNITS`` when it rates several units)."""
    index_ids = [q for q in question_ids if q >= 0]
    position = case({q: literal(1 << (BITS * k)) for k, q in enumerate(question_ids) if q >= 0},
                    value=Answer.question_id, else_=literal(0))
    code = case((Answer.not_shown.is_(True), literal(0)),  # structurally missing: never a level, never 不了解
                (and_(Answer.dont_know.is_(False), Answer.level.between(1, 5)), Answer.level),
                else_=literal(DONT_KNOW_CODE))
    check = case({q: literal((1 << COUNT_SHIFT) + (1 << k)) for k, q in enumerate(question_ids) if q >= 0},
                 value=Answer.question_id, else_=literal(0))
    is_comment = case((and_(Answer.question_id.in_(list(comment_ids) or [-1]), Answer.text != ""), literal(1)),
                      else_=literal(0))
    conditions = [Answer.campaign_id == campaign_id, Answer.question_id.in_(index_ids + list(comment_ids) or [-1]),
                  Answer.unit_id.is_not(None), Answer.response_id.between(lowest, highest)]
    channel = case({c: literal(i) for i, c in enumerate(CHANNEL_ORDER)}, value=Response.channel, else_=literal(-1))
    several_units = case((Response.unit_id.is_(None), literal(SEVERAL_UNITS)), else_=literal(0))
    sums = (_big(func.sum(position * code)), _big(func.sum(check)), _big(func.sum(is_comment)))
    return sums, conditions, channel + several_units


def pack_new(session: Session, campaign_id: int) -> bool:
    """Pack the campaign's responses stored since its newest packed one, for its own layout (the
    fieldwork monitor calls this after tallying new responses, so that a computation at the period's
    end has little left to catch up); whether anything was written. Nothing happens when the session
    has uncommitted work or the campaign cannot be packed; a response committed out of order is left to
    the computation's own catch-up."""
    own = _own_questions(session, campaign_id)
    if own is None:
        return False
    question_ids, comment_ids = own
    layout = layout_key(question_ids, comment_ids)
    packed = session.scalar(select(func.max(AnswerPack.response_id)).where(
        AnswerPack.campaign_id == campaign_id, AnswerPack.layout == layout)) or 0
    low, high = session.execute(select(func.min(Response.id), func.max(Response.id)).where(
        Response.campaign_id == campaign_id, Response.id > packed)).one()
    if low is None:
        return False
    sums, conditions, trait = _scan_terms(campaign_id, question_ids, comment_ids, int(low), int(high))
    return _write_packs(session, campaign_id, layout, [(int(low), int(high))], sums, conditions, trait)


def _load_pairs(session: Session, cutoff: Cutoff, question_ids: Sequence[int], comment_question_ids: Sequence[int],
                unit_ids: Iterable[int] | None, tick: Callable[[], None] | None, packs: bool) -> PairTable:
    question_ids = [int(q) for q in question_ids]
    if not 0 < len(question_ids) <= MAX_QUESTIONS:
        raise DataError(f"an index needs 1 … {MAX_QUESTIONS} questions, got {len(question_ids)}")
    index_ids = [q for q in question_ids if q >= 0]
    comment_ids = [q for q in (int(c) for c in comment_question_ids) if q >= 0 and q not in index_ids]
    lowest = session.scalar(select(func.min(Response.id)).where(Response.campaign_id == cutoff.campaign_id))
    if lowest is None:
        return _assemble(np.zeros((0, 5), dtype=np.int64), np.zeros((0, 3), dtype=np.int64), cutoff,
                         len(question_ids))
    sums, conditions, trait = _scan_terms(cutoff.campaign_id, question_ids, comment_ids, int(lowest),
                                          cutoff.max_response_id)
    if unit_ids is not None:
        conditions.append(Answer.unit_id.in_(sorted(set(unit_ids)) or [-1]))
    trait_rows = select(
        _big(Response.id), _big(func.coalesce(Response.respondent_group_id, literal(NO_GROUP))), _big(trait),
    ).where(Response.campaign_id == cutoff.campaign_id)
    by_response = select(_big(Answer.response_id), _big(func.min(Answer.unit_id)),
                         _big(func.max(Answer.unit_id) - func.min(Answer.unit_id)), *sums,
                         ).where(*conditions).group_by(Answer.response_id)
    by_pair = select(_big(Answer.response_id), _big(Answer.unit_id), *sums).where(*conditions).group_by(
        Answer.response_id, Answer.unit_id)

    layout = layout_key(question_ids, comment_ids)
    tallied = packs and unit_ids is None and layout == _own_layout(session, cutoff.campaign_id)
    # Four integers a row (the SQLite module makes a Python object of every value: fewer is faster):
    # the response, the packed levels, (unit + 1) · 2^31 + check, (group + 1) · 2^31 + (channel + 1) · 2^23
    # + comments (held below 2^23; a pair with that many comments is read from the answers instead).
    pack_rows = select(
        _big(AnswerPack.response_id), _big(AnswerPack.packed),
        _big((func.coalesce(AnswerPack.unit_id, literal(-1)) + 1) * literal(1 << 31) + AnswerPack.answered),
        _big((func.coalesce(AnswerPack.group_id, literal(NO_GROUP)) + 1) * literal(1 << 31)
             + (AnswerPack.channel + 1) * literal(1 << 23)
             + case((AnswerPack.comments < COMMENTS_CAP, AnswerPack.comments), else_=literal(COMMENTS_CAP))),
    ).where(AnswerPack.campaign_id == cutoff.campaign_id, AnswerPack.layout == layout)
    responses_in = select(_big(func.count())).select_from(Response).where(Response.campaign_id == cutoff.campaign_id)

    def answer_scan(reader: _Reader, low: int, high: int, traits: np.ndarray) -> np.ndarray:
        if not (traits[:, 2] >= SEVERAL_UNITS // 2).any():
            # Every response rates one unit: group by response alone, which follows the response-id
            # index (no sort of the answer rows); the spread of unit ids proves it, or the pair query runs.
            grouped = reader.rows(by_response, 6, (Answer.response_id, low, high))
            if not grouped[:, 2].any():
                return grouped[:, [0, 1, 3, 4, 5]]
        return reader.rows(by_pair, 5, (Answer.response_id, low, high))

    def part(reader: _Reader, low: int, high: int) -> tuple[np.ndarray, np.ndarray, bool]:
        if tallied:
            traits, pairs = _decode_packs(reader.rows(pack_rows, 4, (AnswerPack.response_id, low, high)))
            counted = reader.rows(responses_in.where(Response.id.between(low, high)), 1)
            complete = int(counted[0, 0]) == traits.shape[0]
            if not complete:  # some responses are not packed yet: their traits from the responses, caught up below
                traits = reader.rows(trait_rows, 3, (Response.id, low, high))
            if tick and reader.first:
                tick()
            return traits, pairs, complete
        traits = reader.rows(trait_rows, 3, (Response.id, low, high))
        if tick and reader.first:
            tick()
        return traits, answer_scan(reader, low, high, traits), True

    parts = _in_ranges(session, int(lowest), cutoff.max_response_id, part)
    traits = _stack([t for t, _p, _c in parts], 3)
    pairs = _stack([p for _t, p, _c in parts], 5)
    if tallied and not all(complete for _t, _p, complete in parts):
        missing = _untallied(traits[:, 0], pairs[:, 0])
        written = bool(missing) and _write_packs(session, cutoff.campaign_id, layout, missing, sums, conditions,
                                                 trait)
        own = _Reader(session.connection())
        for low, high in missing:
            more = (_decode_packs(own.rows(pack_rows, 4, (AnswerPack.response_id, low, high)))[1] if written
                    else answer_scan(own, low, high, traits[(traits[:, 0] >= low) & (traits[:, 0] <= high)]))
            pairs = np.concatenate([pairs, more])
    if tallied:
        if (pairs[:, 4] >= COMMENTS_CAP).any():  # never in practice: the answers say how many
            return _load_pairs(session, cutoff, question_ids, comment_question_ids, None, None, packs=False)
        pairs = pairs[pairs[:, 1] >= 0]  # a packed response's row without a unit: nothing to count
    rates_several = traits[:, 2] >= SEVERAL_UNITS // 2
    traits[:, 2] -= np.where(rates_several, SEVERAL_UNITS, 0)
    if tick:
        tick()
    return _assemble(pairs, traits, cutoff, len(question_ids))


COMMENTS_CAP = (1 << 23) - 1


def _decode_packs(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The responses' traits (id, group, channel code) and the pairs (response, unit, packed, check,
    comments; unit -1 for a response's row without a unit) from the four integers of ``answer_pack`` rows."""
    low31 = (1 << 31) - 1
    response = rows[:, 0]
    unit = (rows[:, 2] >> 31) - 1
    pairs = np.column_stack([response, unit, rows[:, 1], rows[:, 2] & low31, rows[:, 3] & COMMENTS_CAP])
    if _ordered(response):
        first = np.flatnonzero(np.concatenate([[True], response[1:] != response[:-1]])) if response.size else \
            np.zeros(0, dtype=np.int64)
    else:
        first = np.unique(response, return_index=True)[1]
    rest = rows[first, 3]
    traits = np.column_stack([response[first], (rest >> 31) - 1, ((rest >> 23) & 255) - 1])
    return traits, pairs


def layout_key(question_ids: Sequence[int], comment_ids: Sequence[int]) -> int:
    """The packing of the index questions (in order) and the comment questions, as a non-negative 63-bit key:
    ``answer_pack`` rows of one layout hold the same numbers the answer scan of :func:`load_pairs` returns.
    (Migration 0009 computes it the same way.)"""
    text = ",".join(str(int(q)) for q in question_ids) + "|" + ",".join(str(int(q)) for q in sorted(comment_ids))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def _own_layout(session: Session, campaign_id: int) -> int | None:
    """The layout of the campaign's own index and comment questions (what its computations read), None
    when the campaign cannot have one (no index question, or too many)."""
    own = _own_questions(session, campaign_id)
    return None if own is None else layout_key(*own)


def _own_questions(session: Session, campaign_id: int) -> tuple[list[int], list[int]] | None:
    """The campaign's own index questions (in order) and comment questions, None when it cannot be packed."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return None
    index_ids = [q.id for q in weighting.index_questions(campaign)]
    if not 0 < len(index_ids) <= MAX_QUESTIONS:
        return None
    comments = [q.id for q in campaign.questionnaire.questions
                if q.type == QuestionType.TEXT and q.is_comment and q.id not in index_ids]
    return index_ids, comments


def _untallied(response_ids: np.ndarray, tallied_ids: np.ndarray) -> list[tuple[int, int]]:
    """The runs (lowest, highest id) of consecutive responses, among ``response_ids`` (all the period's, in
    any order), that have no ``answer_pack`` row (``tallied_ids``)."""
    if response_ids.size == 0:
        return []
    if not _ordered(response_ids):
        response_ids = np.sort(response_ids)
    missing = ~np.isin(response_ids, tallied_ids)
    if not missing.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[False], missing, [False]]).astype(np.int8)))
    return [(int(response_ids[a]), int(response_ids[b - 1])) for a, b in zip(edges[::2], edges[1::2], strict=True)]


TALLY_RUNS = 200  # runs of untallied responses written by one statement


def _write_packs(session: Session, campaign_id: int, layout: int, runs: Sequence[tuple[int, int]],
                 sums: Sequence[Any], conditions: Sequence[Any], trait: Any) -> bool:
    """Tally the responses of ``runs`` into ``answer_pack`` (set-based ``INSERT … SELECT``, the answer scan's
    own sums) on a connection of its own, committed at once; whether it was written.

    Derived data, so it need not wait for the computation's transaction: it is written only when a
    helper connection may be used (:func:`_helpers`: the session reads committed data only), under a
    lock (PostgreSQL: an advisory lock on the layout; SQLite: ``BEGIN IMMEDIATE``), and not at all when
    another computation has tallied any of these responses meanwhile, or the write fails (the answers
    are then read as before).
    """
    helpers = _helpers(session, session.connection(), 1)
    if not helpers:
        return False
    writer = helpers[0]
    driver = writer.driver
    postgres = writer.dialect.name == "postgresql"
    columns = ["campaign_id", "layout", "response_id", "unit_id", "packed", "answered", "comments", "group_id",
               "channel"]
    mine = (AnswerPack.campaign_id == campaign_id, AnswerPack.layout == layout)
    try:
        with contextlib.closing(driver.cursor()) as cursor:
            cursor.execute(f"SELECT pg_advisory_xact_lock({int(layout)})" if postgres else "BEGIN IMMEDIATE")
            for start in range(0, len(runs), TALLY_RUNS):
                chunk = runs[start:start + TALLY_RUNS]
                cursor.execute(writer.sql_of(select(func.count()).select_from(AnswerPack).where(
                    *mine, or_(*[AnswerPack.response_id.between(low, high) for low, high in chunk]))))
                if cursor.fetchone()[0]:  # overtaken by another computation: leave it to that one
                    _rollback(driver, postgres)
                    return False
                pairs = select(literal(campaign_id), literal(layout), Answer.response_id, Answer.unit_id, *sums,
                               func.min(Response.respondent_group_id), func.min(trait)).join(
                    Response, Response.id == Answer.response_id).where(
                    *conditions, or_(*[Answer.response_id.between(low, high) for low, high in chunk])).group_by(
                    Answer.response_id, Answer.unit_id)
                cursor.execute(writer.sql_of(insert(AnswerPack).from_select(columns, pairs)))
                bare = select(literal(campaign_id), literal(layout), Response.id, null(), literal(0), literal(0),
                              literal(0), Response.respondent_group_id, trait).where(
                    Response.campaign_id == campaign_id, or_(*[Response.id.between(low, high) for low, high in chunk]),
                    ~exists().where(*mine, AnswerPack.response_id == Response.id))
                cursor.execute(writer.sql_of(insert(AnswerPack).from_select(columns, bare)))
            if postgres:
                driver.commit()
            else:
                cursor.execute("COMMIT")
        return True
    except (writer.dialect.loaded_dbapi.Error, SQLAlchemyError):  # e.g. the lock not had in time: read the answers
        _rollback(driver, postgres)
        return False
    finally:
        writer.close()


def _rollback(driver: Any, postgres: bool) -> None:
    if postgres:
        driver.rollback()
    elif driver.in_transaction:
        driver.execute("ROLLBACK")


def _assemble(pairs: np.ndarray, traits: np.ndarray, cutoff: Cutoff, n_questions: int) -> PairTable:
    """The pair table from the grouped answers (response, unit, packed, check, comments) and the
    responses' traits (id, group, channel): duplicates refused, left-out responses dropped.

    ``check`` sums 2^k + 2^COUNT_SHIFT over a pair's index answers: its low bits are a mask of
    the questions answered and its high bits their number. A question answered twice makes
    a carry, so the mask has fewer bits set than there are answers.
    """
    answered = pairs[:, 3] >> COUNT_SHIFT
    duplicated = np.bitwise_count(pairs[:, 3] & ((1 << COUNT_SHIFT) - 1)) != answered
    if duplicated.any():
        i = int(np.argmax(duplicated))
        raise DataError(f"response {int(pairs[i, 0])} has the same question answered twice for unit {int(pairs[i, 1])}")
    pairs = pairs[(pairs[:, 2] != 0) | (pairs[:, 4] > 0)]  # pairs with nothing to count
    if not _ordered(pairs[:, 0], pairs[:, 1]):
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    if not _ordered(traits[:, 0]):
        traits = traits[np.argsort(traits[:, 0], kind="stable")]
    ids = traits[:, 0]
    counted = ~_members(ids, np.fromiter(sorted(cutoff.left_out), dtype=np.int64))
    table = traits[counted]
    row, found = _positions(table[:, 0], pairs[:, 0])
    pairs, row = pairs[found], row[found]
    excluded = int(_members(ids, np.asarray(cutoff.excluded_ids, dtype=np.int64)).sum())
    flagged = int(_members(ids, np.asarray(cutoff.flagged_ids, dtype=np.int64)).sum())
    return PairTable(
        response=pairs[:, 0].copy(), unit=pairs[:, 1].copy(), packed=pairs[:, 2].copy(),
        group=table[row, 1], channel=table[row, 2].astype(np.int8), comments=pairs[:, 4].copy(),
        n_questions=n_questions, responses=int(counted.sum()), excluded=excluded, flagged=flagged,
        flagged_included=cutoff.include_flagged,
    )


def _ordered(first: np.ndarray, second: np.ndarray | None = None) -> bool:
    """Whether rows are in ascending (first, second) order (the databases usually return them so)."""
    if first.size < 2:
        return True
    rising = first[1:] > first[:-1]
    if second is None:
        return bool((rising | (first[1:] == first[:-1])).all())
    return bool((rising | ((first[1:] == first[:-1]) & (second[1:] >= second[:-1]))).all())


def _positions(sorted_ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each value in the ascending ``sorted_ids``, and whether it is there at all."""
    if sorted_ids.size == 0:
        return np.zeros(values.size, dtype=np.int64), np.zeros(values.size, dtype=bool)
    row = np.minimum(np.searchsorted(sorted_ids, values), sorted_ids.size - 1)
    return row, sorted_ids[row] == values


def _members(sorted_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Mask over the ascending, distinct ``sorted_ids``: which are among ``wanted`` (a short list)."""
    mask = np.zeros(sorted_ids.size, dtype=bool)
    row, found = _positions(sorted_ids, wanted)
    mask[row[found]] = True
    return mask
