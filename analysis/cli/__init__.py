"""``python -m analysis indices``: satisfaction indices from a CSV of answers collected anywhere.

Input problems are reported as ``FILE:LINE[:COLUMN]: message`` on stderr with
exit status 2; nothing is written to the output then.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from analysis.answers import Answers
from analysis.cells import DEFAULT_MIN_CELL_N
from analysis.cli import items as items_cli
from analysis.params import Params
from analysis.satisfaction import FLAG_MEANINGS, UNIT_FIELDS, IndexResults, compute_indices

#: Output columns, in order: the unit, its estimates as the engine orders them up to the design
#: effect (the weighting diagnostics are not part of the report), and the flags.
OUTPUT_COLUMNS = ("unit", *UNIT_FIELDS[:UNIT_FIELDS.index("deff")], "flags")
REQUIRED_COLUMNS = ("respondent_id", "unit", "question", "level")
#: Cell values read as 不了解 (item nonresponse) in the level column.
DONT_KNOW = ("", "NA", "不了解")

DESCRIPTION = """\
Compute each unit's satisfaction index (满意度指数), satisfaction rate (满意率)
and their standard errors from answers in long format, weighting every unit's
respondents to the target shares of the respondent groups (投票权).
Estimators and standard errors are those of R's survey package
(postStratify, calibrate(calfun = "raking"), svyratio), to 1e-6 or better."""

INDICES_EPILOG = """\
input
  RESPONSES.csv  UTF-8 (BOM allowed), one row per respondent, unit and question:
                   respondent_id,unit,group,channel,question,level
                 level is 1..5 (5 = 非常满意; 1..k with k --scores); empty,
                 NA or 不了解 = 不了解 (item nonresponse, not a low score).
                 Each unit is estimated from the respondents who rated it.
  TARGETS.json   target shares per margin, e.g.
                   {{"group": {{"企业": 0.3, "群众": 0.4, ...}},
                    "channel": {{"窗口二维码": 0.5, "网上": 0.3, "电话": 0.2}}}}
                 Shares need not sum to 1; in each unit they are renormalised
                 over the groups present there.
                 poststratify uses "group"; rake uses every key that names a
                 column of RESPONSES.csv, until each share is within 1e-10 of
                 its target (at most 1000 cycles); a unit that does not get
                 there keeps its row, values empty, flag rake_not_converged.

PARAMS.json (--params, instead of --targets and the options below)
  The params.json a Pingyi result exports beside its long raw CSV:
    {{"params": {{"method": ..., "scores": [...], "question_weights": [...],
                "targets": {{"group": [...]}}, "min_cell_n": 5, ...}},
     "labels": {{"group": ["QY", ...], "channel": [...], "question": ["Q1", ...]}}}}
  "params" is every engine setting (analysis.Params.to_dict: targets, level
  scores, question weights, thin-cell rule, trimming, flag thresholds,
  confidence level); "labels" names the codes 0, 1, ... of each margin and of
  the questions. With it the CLI reproduces the published indices and SEs.
  Giving --targets, --method, --scores, --question-weights, --min-cell-n or
  --collapse as well is an error: the file already decides them.

thin cells
  In each unit, a group (or raked margin level) with fewer than --min-cell-n
  respondents (default 5) is merged before weighting: into the cell --collapse
  names for it, else into the smallest other cell, smallest first, until every
  cell has enough; a merged cell's share is the sum of its groups' shares.
  A unit left with one cell is estimated unweighted (flag unweighted).

output (CSV, one row per unit, full-precision numbers, empty = not estimable)
  unit, n (respondents), n_eff (Kish), index, index_se, satisfied_rate,
  satisfied_rate_se, index_ci_low/high (95%, logit: within the scores), satisfied_rate_ci_low/high
  (95% Korn-Graubard), dont_know_rate (weighted share of 不了解 answers),
  flags, ;-separated (default thresholds in brackets):
{}

examples
  python -m analysis indices responses.csv --targets targets.json
  python -m analysis indices raw-long.csv --params params.json
  python -m analysis indices responses.csv --targets targets.json \\
      --method rake --question-weights Q1=2,Q3=0.5 -o indices.csv

exit status: 0 ok, 2 bad input (message names file, line and column).
""".format("\n".join(f"    {name:<19} {meaning}" for name, meaning in FLAG_MEANINGS.items()))


class InputError(Exception):
    """A problem with the user's input, reported as ``file:line[:column]: message``."""


@dataclass(frozen=True)
class Responses:
    """RESPONSES.csv coded for the engine."""

    answers: Answers
    units: list[str]
    questions: list[str]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m analysis``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except InputError as error:
        print(error, file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of stdout went away (e.g. `| head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=DESCRIPTION)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    indices = commands.add_parser(
        "indices",
        help="satisfaction index and rate of every unit",
        description=DESCRIPTION,
        epilog=INDICES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    indices.add_argument("responses", metavar="RESPONSES.csv", help="answers in long format")
    indices.add_argument("--targets", metavar="TARGETS.json", help="target shares of each margin")
    indices.add_argument(
        "--params",
        metavar="PARAMS.json",
        help="every setting of a published result (the params.json export): targets, scores, question weights, "
        "thin-cell rule, trimming, thresholds; replaces --targets and the options below",
    )
    indices.add_argument(
        "--method",
        choices=("poststratify", "rake"),
        default=None,
        help="post-stratify by group (default), or rake on every key of TARGETS.json that names a column",
    )
    indices.add_argument(
        "--scores",
        type=_scores,
        default=None,
        metavar="S1,S2,...",
        help="score of level 1,2,... (default 0,25,50,75,100); their number is the number of levels",
    )
    indices.add_argument(
        "--question-weights",
        type=_question_weights,
        default=None,
        metavar="Q=W,...",
        help="weights of questions in the index, e.g. Q1=2,Q3=0.5 (others 1)",
    )
    indices.add_argument(
        "--min-cell-n",
        type=_min_cell_n,
        default=None,
        metavar="N",
        help=f"collapse a unit's weighting cells with fewer than N respondents (default {DEFAULT_MIN_CELL_N}; "
        "1 = never collapse)",
    )
    indices.add_argument(
        "--collapse",
        type=_collapse_map,
        default=None,
        metavar="MARGIN:LEVEL=LEVEL,...",
        help="where a thin cell goes, e.g. group:政协委员=人大代表,group:人大代表=企业 "
        "(MARGIN: may be left out for group); thin cells without one pool with the smallest cells",
    )
    indices.add_argument(
        "-o", "--output", metavar="OUT.csv", help="write here (UTF-8 with BOM, for Excel) instead of stdout"
    )
    indices.set_defaults(run=run_indices)
    items_cli.add_parser(commands, indices)  # python -m analysis items: the other question types
    return parser


#: Options that PARAMS.json settles; giving one with --params is a conflict, not an override.
PARAMS_OPTIONS = {"targets": "--targets", "method": "--method", "scores": "--scores",
                  "question_weights": "--question-weights", "min_cell_n": "--min-cell-n", "collapse": "--collapse"}


def run_indices(args: argparse.Namespace) -> int:
    """Read, validate, compute and write the indices."""
    responses, params, n_questions = indices_inputs(args)
    results = compute_indices(responses.answers, params, n_questions=n_questions)
    return _write(args, results, responses.units)


def indices_inputs(args: argparse.Namespace) -> tuple[Responses, Params, int]:
    """The coded RESPONSES.csv and the engine parameters the options (or PARAMS.json) give; also used by
    ``python -m analysis items`` (:mod:`analysis.cli.items`), so both weight the units alike."""
    if args.params is not None:
        given = [flag for name, flag in PARAMS_OPTIONS.items() if getattr(args, name) is not None]
        if given:
            raise InputError(
                f"{given[0]} conflicts with --params: {args.params} already sets it, so the result would no longer "
                "be the published one; leave the option out (or edit a copy of the file)"
            )
        params, labels = read_params(args.params)
        responses = parse_responses(
            _readable(args.responses), args.responses, len(params.scores),
            {m: labels[m] for m in params.weighting_margins()}, labels["question"],
        )
        return responses, params, len(labels["question"])
    if args.targets is None:
        raise InputError("--targets TARGETS.json is required (or --params PARAMS.json)")
    args.method = args.method or "poststratify"
    args.scores = args.scores or (0.0, 25.0, 50.0, 75.0, 100.0)
    args.question_weights = args.question_weights or {}
    args.min_cell_n = DEFAULT_MIN_CELL_N if args.min_cell_n is None else args.min_cell_n
    args.collapse = args.collapse or {}
    targets = read_targets(args.targets)
    source = _readable(args.responses)
    if args.method == "poststratify":
        if "group" not in targets:
            _read_text(args.responses)  # a file that is not UTF-8 is reported first, as ever
            raise InputError(f'{args.targets}:1:1: no "group" shares, needed by --method poststratify')
        margins = ["group"]
    else:
        header = _header_of_file(args.responses)
        margins = [name for name in targets if name in header]
        if not margins:
            _read_text(args.responses)
            raise InputError(
                f"{args.targets}:1:1: no key names a column of {args.responses} "
                f"({', '.join(header)}); nothing to rake on"
            )
    responses = parse_responses(source, args.responses, len(args.scores), {m: list(targets[m]) for m in margins})
    unknown = sorted(set(args.question_weights) - set(responses.questions))
    if unknown:
        raise InputError(f"--question-weights: no question {unknown[0]!r} in {args.responses}")
    collapse_into = collapse_codes(args.collapse, {m: list(targets[m]) for m in margins}, args.targets)
    try:
        params = Params(
            method=args.method,
            scores=args.scores,
            question_weights=tuple(args.question_weights.get(q, 1.0) for q in responses.questions),
            targets={m: tuple(targets[m].values()) for m in margins},
            poststratify_by="group",
            rake_margins=tuple(margins) if args.method == "rake" else None,
            min_cell_n=args.min_cell_n,
            collapse_into=collapse_into,
        )
    except ValueError as error:
        raise InputError(f"invalid options: {error}") from None
    return responses, params, len(responses.questions)


def _write(args: argparse.Namespace, results: IndexResults, units: list[str]) -> int:
    if args.output is None:
        write_results(sys.stdout, results, units)
    else:
        try:
            with open(args.output, "w", encoding="utf-8-sig", newline="") as out:
                write_results(out, results, units)
        except OSError as error:
            raise InputError(f"{args.output}: cannot write: {error.strerror}") from error
    return 0


def write_results(out: TextIO, results: IndexResults, unit_labels: list[str]) -> None:
    """One CSV row per unit; floats in shortest round-trip form, NaN as empty."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(OUTPUT_COLUMNS)
    for i, unit in enumerate(results.units):
        row = results.row(i)
        cells: list[Any] = [unit_labels[unit]]
        for name in OUTPUT_COLUMNS[1:-1]:
            cells.append(_number(row[name]))
        cells.append(";".join(row["flags"]))
        writer.writerow(cells)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


# ---- command-line values -------------------------------------------------------------------------


def _scores(text: str) -> tuple[float, ...]:
    try:
        scores = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if len(scores) < 2 or not all(math.isfinite(s) for s in scores):
        raise argparse.ArgumentTypeError(f"expected at least two finite numbers, got {text!r}")
    return scores


def _question_weights(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in filter(None, text.split(",")):
        name, sep, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not sep or not name.strip() or not math.isfinite(weight) or weight < 0:
            raise argparse.ArgumentTypeError(f"expected QUESTION=WEIGHT with a non-negative weight, got {part!r}")
        weights[name.strip()] = weight
    return weights


def _min_cell_n(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of respondents, at least 1, got {text!r}")
    return value


def _collapse_map(text: str) -> dict[str, dict[str, str]]:
    """``[MARGIN:]LEVEL=LEVEL,...`` -> margin -> {level: level it joins}; the margin defaults to group."""
    out: dict[str, dict[str, str]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        pair, sep, cell = part.partition("=")
        margin, colon, level = pair.partition(":")
        if not colon:
            margin, level = "group", pair
        margin, level, cell = margin.strip(), level.strip(), cell.strip()
        if not sep or not margin or not level or not cell or level == cell:
            raise argparse.ArgumentTypeError(f"expected [MARGIN:]LEVEL=LEVEL with two different levels, got {part!r}")
        out.setdefault(margin, {})[level] = cell
    return out


def collapse_codes(
    collapse: dict[str, dict[str, str]], labels: dict[str, list[str]], targets_path: str
) -> dict[str, dict[int, int]]:
    """The --collapse labels as level codes of the weighting margins (targets order); unknown labels are input errors."""
    out: dict[str, dict[int, int]] = {}
    for margin, into in collapse.items():
        if margin not in labels:
            raise InputError(f"--collapse: {margin!r} is not a weighting margin here ({', '.join(labels)})")
        known = labels[margin]
        for level in (*into, *into.values()):
            if level not in known:
                raise InputError(
                    f"--collapse: {margin} {level!r} has no target share in {targets_path} (known: {', '.join(known)})"
                )
        out[margin] = {known.index(level): known.index(cell) for level, cell in into.items()}
    return out


# ---- TARGETS.json --------------------------------------------------------------------------------


def read_targets(path: str) -> dict[str, dict[str, float]]:
    """Parse and validate TARGETS.json: an object of objects of positive shares, in file order."""
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}:{error.lineno}:{error.colno}: malformed JSON: {error.msg}") from None
    positions = _json_positions(text)

    def where(*keys: str) -> str:
        offset = positions.get(keys, 0)
        line = text.count("\n", 0, offset) + 1
        return f"{path}:{line}:{offset - text.rfind(chr(10), 0, offset)}"

    if not isinstance(data, dict) or not data:
        raise InputError(f'{where()}: expected an object such as {{"group": {{"企业": 0.3, ...}}}}')
    shares: dict[str, dict[str, float]] = {}
    for margin, levels in data.items():
        if not isinstance(levels, dict) or not levels:
            raise InputError(f"{where(margin)}: {margin!r}: expected an object of level: share")
        for level, share in levels.items():
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not math.isfinite(share) or share <= 0:
                shown = json.dumps(share, ensure_ascii=False)
                raise InputError(
                    f"{where(margin, level)}: {margin!r} share of {level!r} must be a positive number, got {shown}"
                )
        shares[margin] = {level: float(share) for level, share in levels.items()}
    return shares


def read_params(path: str) -> tuple[Params, dict[str, list[str]]]:
    """Parse PARAMS.json: ``{"params": Params.to_dict(), "labels": {margin: [label of code 0, 1, …],
    "question": [label of question code 0, 1, …]}, …}`` (other keys are information and ignored)."""
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}:{error.lineno}:{error.colno}: malformed JSON: {error.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("params"), dict) or not isinstance(data.get("labels"), dict):
        raise InputError(f'{path}:1:1: expected an object with "params" and "labels" (the params.json export)')
    try:
        params = Params.from_dict(data["params"])
    except (TypeError, ValueError) as error:
        raise InputError(f"{path}: params: {error}") from None
    labels: dict[str, list[str]] = {}
    for name, values in data["labels"].items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InputError(f"{path}: labels.{name}: expected a list of labels")
        if len(set(values)) != len(values):
            raise InputError(f"{path}: labels.{name}: a label appears twice")
        labels[str(name)] = values
    if "question" not in labels:
        raise InputError(f'{path}: labels: no "question" list (question codes in the order of question_weights)')
    if params.question_weights is not None and len(params.question_weights) != len(labels["question"]):
        raise InputError(f"{path}: labels.question has {len(labels['question'])} questions, "
                         f"params.question_weights {len(params.question_weights)}")
    for margin in params.weighting_margins():
        if len(labels.get(margin, ())) != len(params.targets[margin]):
            raise InputError(f"{path}: labels.{margin} must name each of the {len(params.targets[margin])} "
                             f"levels of params.targets.{margin}, in order")
    return params, labels


_JSON_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)|([{}\[\]:,]))')


def _json_positions(text: str) -> dict[tuple[str, ...], int]:
    """Offset of every value in valid JSON text, keyed by its path of object keys (array items by index)."""
    positions: dict[tuple[str, ...], int] = {(): 0}
    stack: list[dict[str, Any]] = []
    for match in _JSON_TOKEN.finditer(text):
        string, _, punct = match.groups()
        frame = stack[-1] if stack else None
        if punct == ":":
            continue
        if punct == ",":
            frame["expect_key"], frame["index"] = frame["object"], frame["index"] + 1
            continue
        if punct in ("}", "]"):
            stack.pop()
            continue
        if frame is not None and frame["expect_key"]:
            frame["key"], frame["expect_key"] = json.loads(string), False
            continue
        path = () if frame is None else frame["path"] + ((frame["key"] if frame["object"] else str(frame["index"])),)
        positions[path] = match.start(match.lastindex)
        if punct in ("{", "["):
            stack.append({"object": punct == "{", "path": path, "expect_key": punct == "{", "key": "", "index": 0})
    return positions


# ---- RESPONSES.csv -------------------------------------------------------------------------------


def header_of(text: str) -> list[str]:
    """Column names of a CSV text."""
    return [name.strip() for name in next(csv.reader(io.StringIO(text)), [])]


def _readable(path: str) -> Path:
    """The file, once it is known to open (else the error names it); read later, block by block."""
    try:
        with open(path, "rb"):
            return Path(path)
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None


def _header_of_file(path: str) -> list[str]:
    """Column names of a CSV file (UTF-8, BOM allowed)."""
    with open(path, "rb") as handle:
        first_line = handle.readline()
    try:
        return header_of(first_line.removeprefix(_BOM).decode("utf-8"))
    except UnicodeDecodeError:
        return header_of(_read_text(path))


def parse_responses(
    text: str | bytes | Path, path: str, levels: int, margins: dict[str, list[str]],
    question_order: list[str] | None = None,
) -> Responses:
    """Parse RESPONSES.csv, checking every row; ``margins`` maps a column to its allowed labels (target order).

    ``text`` is the file's text, its bytes (UTF-8, BOM allowed), or the file itself (read block by block,
    never held whole).
    Questions are coded in order of appearance, or by their position in
    ``question_order`` when given (then another question is an input error).

    Checks: required columns present; a level 1..levels or 不了解; no empty
    respondent, unit or question; margin labels with a target; a respondent's
    margins constant within a unit; no question answered twice.

    The file is read column by column (pyarrow's multithreaded CSV reader) and
    every check is a mask over all rows, so no Python code runs per row; a
    problem is reported at its first row in file order with the same message as
    the row-by-row reader (:func:`_parse_rows`), which still handles what the
    columnar reader refuses (a row with another number of fields, ...).
    """
    def contents() -> bytes:
        if isinstance(text, str):
            return text.encode("utf-8")
        return text if isinstance(text, bytes) else _read_bytes(str(text))

    def exact() -> Responses:
        """The row-by-row reader's verdict (it raises the exact message, or agrees the file is fine)."""
        return _parse_rows(text if isinstance(text, str) else _decode(contents(), path), path, levels, margins,
                           question_order)

    if isinstance(text, (str, bytes)):
        data = text.encode("utf-8") if isinstance(text, str) else text
        source: Any = pa.BufferReader(data)
        first_line = data[:data.find(b"\n") + 1] if b"\n" in data else data
    else:
        source = str(text)
        try:
            with open(source, "rb") as handle:
                first_line = handle.readline()
        except OSError as error:
            raise InputError(f"{path}: cannot read: {error.strerror}") from None
    if not isinstance(text, str) and first_line.startswith(_BOM):
        first_line = first_line[len(_BOM):]
    if b'"' in first_line:
        return exact()
    try:
        header = header_of(first_line.decode("utf-8"))
    except UnicodeDecodeError:
        return exact()
    needed = list(REQUIRED_COLUMNS) + list(margins)
    if any(name not in header for name in needed) or len(set(header)) != len(header):
        return exact()
    names = [f"c{i}" for i in range(len(header))]
    distinct: dict[str, dict[str, int]] = {name: {} for name in needed}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in needed}
    try:
        # every column as text (so all of it is checked as UTF-8), one block of rows at a time
        for batch in pa_csv.open_csv(
            source,
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1, block_size=_BLOCK),
            convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), null_values=[],
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False),
        ):
            for name in needed:
                parts[name].append(_codes(batch.column(header.index(name)), distinct[name]))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return exact()  # a row with another number of fields, bytes that are not UTF-8, a quoted newline, ...
    if not any(part.size for part in parts["level"]):
        return exact()
    column = {name: (list(distinct[name]), np.concatenate(parts[name])) for name in needed}
    del parts

    # each column as codes into its distinct (stripped) labels, and the value each label stands for
    level_text = {str(k): k for k in range(1, levels + 1)}
    level_text.update({v: 0 for v in DONT_KNOW})
    level_labels, level_codes = column["level"]
    level_of = np.array([level_text.get(label, -1) for label in level_labels], dtype=np.int8)[level_codes]
    margin_of = {}
    for margin, known in margins.items():
        labels, codes = column[margin]
        position = {label: i for i, label in enumerate(known)}
        margin_of[margin] = np.array([position.get(label, -1) for label in labels], dtype=np.int64)[codes]
    question_labels, question_codes = column["question"]
    if question_order is not None:
        position = {q: i for i, q in enumerate(question_order)}
        question_of = np.array([position.get(q, -1) for q in question_labels], dtype=np.int64)
        questions = list(question_order)
    else:
        question_of = np.arange(len(question_labels), dtype=np.int64)
        questions = list(question_labels)

    # the first row breaking a rule of its own: a check per column, in the order the row-by-row reader checks
    row_checks: list[tuple[str, np.ndarray]] = [
        (name, column[name][1] == distinct[name][""]) for name in ("respondent_id", "unit", "question")
        if "" in distinct[name]
    ]
    row_checks.append(("level", level_of < 0))
    row_checks += [(margin, codes < 0) for margin, codes in margin_of.items()]
    if question_order is not None:
        row_checks.append(("question order", (question_of < 0)[question_codes]))
    bad_row, bad_check = len(level_of), None
    for name, mask in row_checks:
        first = _first(mask[:bad_row])
        if first is not None:
            bad_row, bad_check = first, name
    respondent_labels, respondent = column["respondent_id"]
    unit_labels, unit_codes = column["unit"]
    question = question_of[question_codes]
    # then the first row repeating an earlier one: a question answered again, margins that change
    repeat = _first_repeat(respondent, unit_codes, question, margin_of, len(unit_labels), len(questions), bad_row)
    if repeat is not None and repeat[0] < bad_row:
        row, kind, earlier, margin = repeat
        lines = _line_numbers(contents(), [row, earlier])
        if lines is None:
            return exact()
        line, earlier_line = lines
        values = {"respondent_id": respondent_labels[respondent[row]], "unit": unit_labels[unit_codes[row]],
                  "question": question_labels[question_codes[row]]}
        if kind == "again":
            raise InputError(
                f"{path}:{line}: respondent {values['respondent_id']!r} answered {values['question']!r} "
                f"of unit {values['unit']!r} again (first on line {earlier_line})"
            )
        labels, codes = column[margin]
        raise InputError(
            f"{path}:{line}: column {margin!r}: {labels[codes[row]]!r} differs from "
            f"{margins[margin][margin_of[margin][earlier]]!r} on line {earlier_line} for respondent "
            f"{values['respondent_id']!r} and unit {values['unit']!r}"
        )
    if bad_check is not None:
        lines = _line_numbers(contents(), [bad_row])
        if lines is None:
            return exact()
        line = lines[0]
        if bad_check in ("respondent_id", "unit", "question"):
            raise InputError(f"{path}:{line}: column {bad_check!r}: empty")
        if bad_check == "level":
            raise InputError(
                f"{path}:{line}: column 'level': unknown level {level_labels[level_codes[bad_row]]!r} "
                f"(expected 1-{levels} or empty)"
            )
        if bad_check == "question order":
            raise InputError(
                f"{path}:{line}: column 'question': {question_labels[question_codes[bad_row]]!r} is not one of the "
                f"parameters' questions ({', '.join(question_order or ())})"
            )
        labels, codes = column[bad_check]
        raise InputError(
            f"{path}:{line}: column {bad_check!r}: {labels[codes[bad_row]]!r} has no target share "
            f"(known: {', '.join(margins[bad_check])})"
        )

    unit_rank = np.empty(len(unit_labels), dtype=np.int64)
    unit_rank[np.argsort(np.array(unit_labels, dtype=object), kind="stable")] = np.arange(len(unit_labels))
    answers = Answers(
        respondent=respondent.astype(np.int64),
        unit=unit_rank[unit_codes],
        question=question,
        level=level_of,
        margins=margin_of,
    )
    return Responses(answers=answers, units=sorted(unit_labels), questions=questions)


_BOM = b"\xef\xbb\xbf"


#: Bytes of CSV per block read (and parsed in parallel) at a time.
_BLOCK = 8 << 20


def _codes(values: pa.Array, distinct: dict[str, int]) -> np.ndarray:
    """Each value's code (int32) into ``distinct``, its distinct values stripped of surrounding blanks in order
    of first appearance, which grows with the values not seen in earlier blocks."""
    encoded = pc.dictionary_encode(values)
    labels = encoded.dictionary.to_pylist()  # in order of first appearance
    remap = np.fromiter((distinct.setdefault(label.strip(), len(distinct)) for label in labels),
                        dtype=np.int32, count=len(labels))
    return remap[encoded.indices.to_numpy(zero_copy_only=False)]


def _first(mask: np.ndarray) -> int | None:
    """Index of the first True, or None."""
    i = int(np.argmax(mask)) if mask.size else 0
    return i if mask.size and mask[i] else None


def _first_repeat(
    respondent: np.ndarray, unit: np.ndarray, question: np.ndarray, margins: dict[str, np.ndarray],
    n_units: int, n_questions: int, stop: int,
) -> tuple[int, str, int, str] | None:
    """The first row (before ``stop``) that repeats an earlier row's respondent, unit and question
    (``"again"``) or changes a margin of its respondent and unit (``"margin"``, and which one):
    ``(row, kind, the earlier row, margin)``; None when there is none.

    Usually the rows of a respondent and unit are consecutive; then one pass over the runs settles
    it (a bit per question: a repeated question makes the sum of the bits differ from their
    union). Otherwise, and to place a problem found, the rows are sorted by (respondent, unit).
    """
    n = min(stop, respondent.size)
    if n == 0:
        return None
    respondent, unit, question = respondent[:n], unit[:n], question[:n]
    margins = {m: codes[:n] for m, codes in margins.items()}
    pair = respondent.astype(np.int64) * max(n_units, 1) + unit
    same_pair = pair[1:] == pair[:-1]
    starts = np.flatnonzero(np.concatenate(([True], ~same_pair)))
    run_keys = np.sort(pair[starts])
    if n_questions <= 62 and not np.any(run_keys[1:] == run_keys[:-1]):  # each pair's rows are consecutive
        bits = np.left_shift(np.int64(1), np.maximum(question, 0))
        clean = bool(np.all(np.add.reduceat(bits, starts) == np.bitwise_or.reduceat(bits, starts)))
        if clean and margins:  # no change of a margin between consecutive rows of a pair
            clean = not any(np.any((codes[1:] != codes[:-1]) & same_pair) for codes in margins.values())
        if clean:
            return None
    # exact: the first repeated (pair, question) and the first row whose margins differ from its pair's first row
    found: list[tuple[int, str, int, str]] = []
    cell = pair * max(n_questions, 1) + np.maximum(question, 0)
    order = np.argsort(cell, kind="stable")
    same = np.flatnonzero(cell[order][1:] == cell[order][:-1]) + 1
    if same.size:
        rows = order[same]
        k = int(np.argmin(rows))
        group_start = np.flatnonzero(np.concatenate(([True], cell[order][1:] != cell[order][:-1])))
        first_of = order[group_start[np.searchsorted(group_start, same[k], side="right") - 1]]
        found.append((int(rows[k]), "again", int(first_of), ""))
    if margins:
        order = np.argsort(pair, kind="stable")
        sorted_pair = pair[order]
        group_start = np.flatnonzero(np.concatenate(([True], sorted_pair[1:] != sorted_pair[:-1])))
        is_start = np.zeros(n, dtype=bool)
        is_start[group_start] = True
        first_of = np.empty(n, dtype=np.int64)  # each row's pair's first row
        first_of[order] = order[group_start][np.cumsum(is_start) - 1]
        differs = np.zeros(n, dtype=bool)
        for codes in margins.values():
            differs |= codes != codes[first_of]
        row = _first(differs)
        if row is not None:
            margin = next(m for m, codes in margins.items() if codes[row] != codes[first_of[row]])
            found.append((row, "margin", int(first_of[row]), margin))
    return min(found, key=lambda f: (f[0], f[1] != "again")) if found else None


def _line_numbers(data: bytes, rows: list[int]) -> list[int] | None:
    """The line number (1 = the header) of each data row (0 = the first); None when quoted values may
    span lines or a lone carriage return ends one (the row-by-row reader then says where)."""
    if data.find(b'"') >= 0 or (data.find(b"\r") >= 0 and re.search(rb"\r(?!\n)", data)):
        return None
    buffer = np.frombuffer(data, dtype=np.uint8)
    newline = np.flatnonzero(buffer == 10)
    starts = newline + 1  # of the lines after the header
    ends = np.append(newline[1:], len(data))
    length = ends - starts
    carriage = (length > 0) & (buffer[np.maximum(ends - 1, 0)] == 13)
    nonempty = np.flatnonzero(length - carriage > 0)  # the data rows' lines, 0 = the line after the header
    return [int(nonempty[row]) + 2 for row in rows]


def _parse_rows(
    text: str, path: str, levels: int, margins: dict[str, list[str]], question_order: list[str] | None = None
) -> Responses:
    """The row-by-row reader: the reference for every message, used when the fast reader cannot place a problem.

    Questions are coded in order of appearance, or by their position in
    ``question_order`` when given (then another question is an input error).

    Checks: required columns present; a level 1..levels or 不了解; no empty
    respondent, unit or question; margin labels with a target; a respondent's
    margins constant within a unit; no question answered twice.
    """
    reader = csv.reader(io.StringIO(text))
    header = [name.strip() for name in next(reader, [])]
    needed = list(REQUIRED_COLUMNS) + list(margins)
    missing = [name for name in needed if name not in header]
    if missing:
        raise InputError(f"{path}:1: missing column {missing[0]!r} (columns: {', '.join(header) or 'none'})")
    col = {name: header.index(name) for name in needed}
    level_text = {str(k): k for k in range(1, levels + 1)}
    level_text.update({v: 0 for v in DONT_KNOW})
    margin_codes = {m: {label: i for i, label in enumerate(labels)} for m, labels in margins.items()}
    respondents: dict[str, int] = {}
    units: dict[str, int] = {}
    questions: dict[str, int] = {q: i for i, q in enumerate(question_order or [])}
    seen: dict[tuple[int, int, int], int] = {}
    row_margins: dict[tuple[int, int], tuple[tuple[int, ...], int]] = {}
    columns: dict[str, list[int]] = {name: [] for name in ("respondent", "unit", "question", "level", *margins)}
    for fields in reader:
        line = reader.line_num
        if not fields or fields == [""]:
            continue
        if len(fields) != len(header):
            raise InputError(f"{path}:{line}: expected {len(header)} fields, found {len(fields)}")
        values = {name: fields[i].strip() for name, i in col.items()}
        for name in ("respondent_id", "unit", "question"):
            if not values[name]:
                raise InputError(f"{path}:{line}: column {name!r}: empty")
        level = level_text.get(values["level"])
        if level is None:
            raise InputError(
                f"{path}:{line}: column 'level': unknown level {values['level']!r} (expected 1-{levels} or empty)"
            )
        codes = []
        for margin, known in margin_codes.items():
            code = known.get(values[margin])
            if code is None:
                raise InputError(
                    f"{path}:{line}: column {margin!r}: {values[margin]!r} has no target share "
                    f"(known: {', '.join(known)})"
                )
            codes.append(code)
        if question_order is not None and values["question"] not in questions:
            raise InputError(
                f"{path}:{line}: column 'question': {values['question']!r} is not one of the parameters' questions "
                f"({', '.join(question_order)})"
            )
        r = respondents.setdefault(values["respondent_id"], len(respondents))
        u = units.setdefault(values["unit"], len(units))
        q = questions.setdefault(values["question"], len(questions))
        first = seen.setdefault((r, u, q), line)
        if first != line:
            raise InputError(
                f"{path}:{line}: respondent {values['respondent_id']!r} answered {values['question']!r} "
                f"of unit {values['unit']!r} again (first on line {first})"
            )
        earlier, earlier_line = row_margins.setdefault((r, u), (tuple(codes), line))
        if earlier != tuple(codes):
            m = next(i for i, (a, b) in enumerate(zip(earlier, codes)) if a != b)
            name = list(margins)[m]
            raise InputError(
                f"{path}:{line}: column {name!r}: {values[name]!r} differs from {margins[name][earlier[m]]!r} "
                f"on line {earlier_line} for respondent {values['respondent_id']!r} and unit {values['unit']!r}"
            )
        for name, value in zip(("respondent", "unit", "question", "level"), (r, u, q, level)):
            columns[name].append(value)
        for margin, code in zip(margins, codes):
            columns[margin].append(code)
    if not columns["respondent"]:
        raise InputError(f"{path}:2: no data rows")
    unit_labels = sorted(units)
    unit_rank = np.empty(len(units), dtype=np.int64)
    unit_rank[[units[u] for u in unit_labels]] = np.arange(len(units))
    answers = Answers(
        respondent=np.asarray(columns["respondent"], dtype=np.int64),
        unit=unit_rank[np.asarray(columns["unit"], dtype=np.int64)],
        question=np.asarray(columns["question"], dtype=np.int64),
        level=np.asarray(columns["level"], dtype=np.int8),
        margins={m: np.asarray(columns[m], dtype=np.int64) for m in margins},
    )
    return Responses(answers=answers, units=unit_labels, questions=list(questions))


def _read_bytes(path: str) -> bytes:
    """The file's bytes; an error names the file."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None


def _read_text(path: str) -> str:
    """The file as text: UTF-8 with or without BOM; errors name the file (and line and column)."""
    return _decode(_read_bytes(path), path)


def _decode(data: bytes, path: str) -> str:
    """UTF-8 with or without BOM; an error names the file, line and column."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - data.rfind(b"\n", 0, error.start)
        byte = data[error.start]
        raise InputError(f"{path}:{line}:{column}: not UTF-8 (byte 0x{byte:02x}); save the file as UTF-8") from None
