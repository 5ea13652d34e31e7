"""Answer records and their respondent–unit table.

The input is one record per (respondent, unit, question), as the web app
stores answers.  Each unit is estimated as its own sample of the respondents
who rated it, so the working table has one row per (unit, respondent) with a
column per question: a respondent who rated three units is three rows.

The pivot streams over the records in chunks (a loop over chunks of a million
records, vectorised inside) so that no temporary scales with the number of
records; only the sort of record runs, one key per run of consecutive
records of the same (unit, respondent), sees them all.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from analysis.segments import factorize

_CHUNK = 1 << 20

#: A function from a slice of the records to int64 codes of those records.
Coder = Callable[[slice], np.ndarray]


@dataclass(frozen=True)
class Answers:
    """Flat arrays, one element per answer record.

    respondent: response (respondent) id, int64.
    unit: unit code (any integers; results come back in ``units`` order).
    question: question code 0 … n_questions - 1.
    level: 1 … number of levels; 0 or NaN = 不了解 or skipped (item nonresponse).
    margins: respondent characteristics used for weighting, as integer codes
        0 … L - 1 indexing ``Params.targets[name]`` (e.g. ``{"group": …, "channel": …}``);
        constant within a (respondent, unit).
    design_weight: optional base weight d, constant within a (respondent, unit); default 1.
    """

    respondent: np.ndarray
    unit: np.ndarray
    question: np.ndarray
    level: np.ndarray
    margins: Mapping[str, np.ndarray] = field(default_factory=dict)
    design_weight: np.ndarray | None = None


@dataclass(frozen=True)
class Sample:
    """The respondent–unit table: rows sorted by unit, then (optionally) one margin, then respondent.

    units: unit labels, in result order; ``unit`` holds each row's code into it.
    margins: row codes of each margin; ``margin_sizes`` its number of levels
        (highest code + 1 over all records).
    level: (questions, rows) int8 level, 0 = no answer; ``asked`` marks that a
        record (possibly 不了解) exists.  Questions lead so that each question's
        column is contiguous.
    """

    units: np.ndarray
    unit: np.ndarray
    respondent: np.ndarray
    margins: dict[str, np.ndarray]
    margin_sizes: dict[str, int]
    design_weight: np.ndarray
    level: np.ndarray
    asked: np.ndarray

    @property
    def n_units(self) -> int:
        return int(self.units.size)

    def ordered_by(self, margin: str) -> Sample:
        """The same table with rows sorted by unit, then ``margin``'s code, then respondent."""
        key = self.unit.astype(np.int64) * max(self.margin_sizes[margin], 1) + self.margins[margin]
        order = np.argsort(key, kind="stable")
        return Sample(
            units=self.units,
            unit=self.unit[order],
            respondent=self.respondent[order],
            margins={k: v[order] for k, v in self.margins.items()},
            margin_sizes=self.margin_sizes,
            design_weight=self.design_weight[order],
            level=self.level[:, order],
            asked=self.asked[:, order],
        )

    def blocks(self, max_rows: int) -> Iterator[Sample]:
        """Consecutive sub-tables of whole units with about ``max_rows`` rows each (a larger unit stays whole)."""
        row_end = np.cumsum(np.bincount(self.unit, minlength=self.n_units))
        cuts = np.unique(np.searchsorted(row_end, np.arange(max_rows, row_end[-1] if row_end.size else 0, max_rows)))
        unit_bounds = np.concatenate(([0], cuts + 1, [self.n_units]))
        unit_bounds = np.unique(np.minimum(unit_bounds, self.n_units))
        for u0, u1 in itertools.pairwise(unit_bounds):
            r0 = int(row_end[u0 - 1]) if u0 > 0 else 0
            r1 = int(row_end[u1 - 1])
            yield Sample(
                units=self.units[u0:u1],
                unit=self.unit[r0:r1] - u0,
                respondent=self.respondent[r0:r1],
                margins={k: v[r0:r1] for k, v in self.margins.items()},
                margin_sizes=self.margin_sizes,
                design_weight=self.design_weight[r0:r1],
                level=self.level[:, r0:r1],
                asked=self.asked[:, r0:r1],
            )


def build_sample(
    answers: Answers,
    n_levels: int,
    n_questions: int | None = None,
    units: np.ndarray | None = None,
    order_by: str | None = None,
) -> Sample:
    """Validate the records and pivot them to the respondent–unit table (rows ordered per :meth:`Sample.ordered_by`).

    Raises ValueError for records of different lengths, unknown question codes
    or levels, a question answered twice by one respondent for one unit, a
    margin or design weight that changes within a (respondent, unit), and
    (when ``units`` is given) records of a unit not listed.
    """
    respondent = _column(answers.respondent, "respondent")
    n = respondent.size
    unit = _column(answers.unit, "unit", n)
    question = _codes(_column(answers.question, "question", n), "question")
    level = _column(answers.level, "level", n)
    _check_levels(level, n_levels)
    n_q = (int(question.max()) + 1 if n else 0) if n_questions is None else int(n_questions)
    if n and question.max() >= n_q:
        raise ValueError(f"question code {int(question.max())} is outside 0..{n_q - 1}")
    margin_codes = {
        name: _codes(_column(values, f"margins[{name!r}]", n), f"margins[{name!r}]")
        for name, values in answers.margins.items()
    }
    weights = None
    if answers.design_weight is not None:
        weights = _column(answers.design_weight, "design_weight", n).astype(np.float64, copy=False)
        if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            raise ValueError("design_weight must be finite and positive")

    unit_labels, unit_code = _unit_coder(unit, units)
    respondent_code, respondent_of, span = _respondent_codes(respondent, unit_labels.size)
    pivot = _Pivot(n, lambda sl: unit_code(sl) * span + respondent_code(sl))
    n_rows = pivot.n_rows
    levels = np.zeros((n_q, n_rows), dtype=np.int8)
    asked = np.zeros((n_q, n_rows), dtype=bool)
    records_per_row = np.zeros(n_rows, dtype=np.int64)
    first = np.empty(n_rows, dtype=np.intp)
    for sl, row in pivot.chunks():
        cell = question[sl].astype(np.int64) * n_rows + row
        levels.reshape(-1)[cell] = _level_codes(level[sl])
        asked.reshape(-1)[cell] = True
        records_per_row += np.bincount(row, minlength=n_rows)
        first[row] = np.arange(sl.start, sl.stop)
    if np.any(records_per_row != asked.sum(axis=0)):
        i = _duplicate(question, pivot)
        raise ValueError(
            f"respondent {respondent[i]!r} answered question {question[i]} of unit {unit[i]!r} more than once"
        )

    per_row = {name: codes[first] for name, codes in margin_codes.items()}
    design_weight = np.ones(n_rows) if weights is None else weights[first]
    checks = [(f"margin {name!r}", margin_codes[name], per_row[name]) for name in per_row]
    if weights is not None:
        checks.append(("design weight", weights, design_weight))
    if checks:
        for sl, row in pivot.chunks():
            for what, values, row_values in checks:
                differs = row_values[row] != values[sl]
                if differs.any():
                    i = sl.start + int(np.argmax(differs))
                    raise ValueError(
                        f"{what} differs between records of respondent {respondent[i]!r} for unit {unit[i]!r}"
                    )

    sample = Sample(
        units=unit_labels,
        unit=(pivot.row_key // span).astype(np.intp),
        respondent=respondent_of(pivot.row_key % span),
        margins={name: codes.astype(np.intp) for name, codes in per_row.items()},
        margin_sizes={name: int(codes.max()) + 1 if n else 0 for name, codes in margin_codes.items()},
        design_weight=design_weight,
        level=levels,
        asked=asked,
    )
    return sample if order_by is None else sample.ordered_by(order_by)


class _Pivot:
    """Rows of the (unit, respondent) table for streamed records.

    Pass 1 keeps one key per run of equal consecutive keys within a chunk and
    sorts those; :meth:`chunks` then yields each chunk's record rows.
    """

    def __init__(self, n: int, key_of: Coder) -> None:
        self._n = n
        run_keys, run_lengths = [], []
        for start in range(0, n, _CHUNK):
            key = key_of(slice(start, min(start + _CHUNK, n)))
            run_start = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
            run_keys.append(key[run_start])
            run_lengths.append(np.diff(np.append(run_start, key.size)))
        keys = np.concatenate(run_keys) if run_keys else np.zeros(0, dtype=np.int64)
        self.row_key, run_row = np.unique(keys, return_inverse=True)
        self.n_rows = int(self.row_key.size)
        self._run_row = run_row.reshape(-1)
        self._run_lengths = run_lengths

    def chunks(self) -> Iterator[tuple[slice, np.ndarray]]:
        """``(record slice, row of each record in it)`` for every chunk."""
        first_run = 0
        for i, lengths in enumerate(self._run_lengths):
            start = i * _CHUNK
            runs = self._run_row[first_run : first_run + lengths.size]
            first_run += lengths.size
            yield slice(start, min(start + _CHUNK, self._n)), np.repeat(runs, lengths)


def _unit_coder(unit: np.ndarray, units: np.ndarray | None) -> tuple[np.ndarray, Coder]:
    """Result-order unit labels and a function giving the records' row codes, chunk by chunk.

    Integer labels of moderate range use a lookup table, anything else a binary search.
    """
    labels = _distinct(unit) if units is None else np.asarray(units)
    if units is not None and np.unique(labels).size != labels.size:
        raise ValueError("units must be distinct")
    unknown = "records refer to units not listed in units"
    if labels.dtype.kind in "iu" and unit.dtype.kind in "iu" and labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        if hi - lo <= 4 * max(unit.size, labels.size):
            table = np.full(hi - lo + 1, -1, dtype=np.int64)
            table[labels.astype(np.int64) - lo] = np.arange(labels.size)

            def code(sl: slice) -> np.ndarray:
                offset = unit[sl].astype(np.int64) - lo
                if offset.size and (offset.min() < 0 or offset.max() > hi - lo):
                    raise ValueError(unknown)
                codes = table[offset]
                if codes.size and codes.min() < 0:
                    raise ValueError(unknown)
                return codes

            return labels, code
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]

    def search(sl: slice) -> np.ndarray:
        values = unit[sl]
        position = np.minimum(np.searchsorted(ordered, values), max(ordered.size - 1, 0))
        if values.size and (ordered.size == 0 or np.any(ordered[position] != values)):
            raise ValueError(unknown)
        return order[position].astype(np.int64)

    return labels, search


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values; by a presence table for integers of moderate range, else by sorting."""
    if values.dtype.kind in "iu" and values.size:
        lo, hi = int(values.min()), int(values.max())
        if hi - lo <= 4 * values.size:
            present = np.zeros(hi - lo + 1, dtype=bool)
            for start in range(0, values.size, _CHUNK):
                present[values[start : start + _CHUNK].astype(np.int64) - lo] = True
            return (np.flatnonzero(present) + lo).astype(values.dtype)
    return np.unique(values)


def _respondent_codes(respondent: np.ndarray, n_units: int) -> tuple[Coder, Callable[[np.ndarray], np.ndarray], int]:
    """``(records -> int64 codes, codes -> respondent ids, number of codes)``.

    Integer ids are used offset by their minimum when ``unit * span + id`` fits
    in int64; other ids are factorised.
    """
    if respondent.dtype.kind in "iu" and respondent.size:
        lo = int(respondent.min())
        span = int(respondent.max()) - lo + 1
        if span * max(n_units, 1) < 2**62:

            def encode(sl: slice) -> np.ndarray:
                return respondent[sl].astype(np.int64) - lo

            def decode(codes: np.ndarray) -> np.ndarray:
                return (codes + lo).astype(respondent.dtype)

            return encode, decode, span
    labels, codes = factorize(respondent)
    return (lambda sl: codes[sl].astype(np.int64)), (lambda c: labels[c]), max(int(labels.size), 1)


def _column(values: np.ndarray, name: str, n: int | None = None) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or (n is not None and values.size != n):
        raise ValueError(f"{name} must be a 1-D array with one value per record")
    return values


def _codes(values: np.ndarray, name: str) -> np.ndarray:
    """Non-negative integer codes (integral floats accepted)."""
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise ValueError(f"{name} must be integer codes")
        values = values.astype(np.int64)
    elif values.dtype.kind not in "iu" and values.size:
        raise ValueError(f"{name} must be integer codes")
    if values.size and values.min() < 0:
        raise ValueError(f"{name} codes must be non-negative")
    return values


def _check_levels(level: np.ndarray, n_levels: int) -> None:
    message = f"level must be an integer 1..{n_levels}, or 0/NaN for 不了解"
    if level.dtype.kind not in "iubf":
        raise ValueError(message)
    if level.size == 0:
        return
    if level.dtype.kind == "f":  # fmin/fmax skip NaN (不了解)
        low, high = np.fmin.reduce(level), np.fmax.reduce(level)
    else:
        low, high = level.min(), level.max()
    if low < 0 or high > n_levels:
        raise ValueError(message)
    if level.dtype.kind == "f":
        for start in range(0, level.size, _CHUNK):
            chunk = level[start : start + _CHUNK]
            if np.any((chunk != np.floor(chunk)) & ~np.isnan(chunk)):
                raise ValueError(message)


def _level_codes(level: np.ndarray) -> np.ndarray:
    """Validated levels as int8, 0 for 不了解."""
    if level.dtype.kind == "f":
        return np.nan_to_num(level, nan=0.0).astype(np.int8)
    return level.astype(np.int8, copy=False)


def _duplicate(question: np.ndarray, pivot: _Pivot) -> int:
    """Index of a record repeating an earlier record's (row, question); only called when one exists."""
    cells = np.concatenate([question[sl].astype(np.int64) * pivot.n_rows + row for sl, row in pivot.chunks()])
    order = np.argsort(cells, kind="stable")
    same = np.flatnonzero(cells[order][1:] == cells[order][:-1])
    return int(order[same[0] + 1])
