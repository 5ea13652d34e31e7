"""``python -m analysis items``: the other question types per unit, on the index sample and weights.

::

    python -m analysis items RESPONSES.csv ITEMS.csv --questions QUESTIONS.json --targets TARGETS.json [...]

RESPONSES.csv, TARGETS.json and every weighting option are those of ``indices`` (the units are
weighted exactly as for the index). ITEMS.csv has the columns ``respondent_id, unit, item,
value``: value is the option code (single choice; one row per option chosen for multiple
choice), the rating 0–10, or any non-empty text. QUESTIONS.json describes the items::

    {"T": {"type": "single", "options": ["1", "2", "3"], "scores": [100, 50, 0]},
     "M": {"type": "multiple", "options": ["a", "b", "c"]}, "R": {"type": "rating"}, "C": {"type": "text"}}

Output (CSV, one row per unit, item and statistic): ``unit, item, statistic, n, estimate, se,
ci_low, ci_high``; statistic is ``share:<option or rating>``, ``mean`` (scored single choice: the
mean option score; rating: the mean), ``top_share`` (scored single choice: the share of the
best-scored option, e.g. 一次办成率) or ``count`` (text). Rows of unit ``ALL`` (after the units) pool
all units, each a stratum with its own weights (no interval).

A conditional question (``"conditional": true`` in QUESTIONS.json, shown only when an earlier answer
calls for it) may have rows with ``not_shown`` = 1 (an optional column of ITEMS.csv; the value is
left empty): respondents it was not shown to, outside the figures above. It adds the statistics
``not_shown`` (their number) and ``share_all:<option or rating>`` / ``top_share_all``: the shares
among all respondents, the not-shown counting as not choosing (n: those who answered or were not
shown).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from typing import Any, TextIO

import numpy as np

from analysis.items import KINDS, Item, ItemRecords, ItemResult, compute_items

COLUMNS = ("unit", "item", "statistic", "n", "estimate", "se", "ci_low", "ci_high")


def add_parser(commands: Any, indices: argparse.ArgumentParser) -> None:
    """Register ``items`` with every option of ``indices`` (same inputs, same weighting)."""
    items = commands.add_parser(
        "items", help="single/multiple choice, 0-10 and text questions of every unit",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for action in indices._actions:  # the same options, so that both commands weight alike
        if not isinstance(action, argparse._HelpAction):
            items._add_action(action)
    items.add_argument("items", metavar="ITEMS.csv", help="answers to the other questions: respondent_id,unit,item,value")
    items.add_argument("--questions", metavar="QUESTIONS.json", required=True, help="type, options and scores of each item")
    items.set_defaults(run=run_items)


def run_items(args: argparse.Namespace) -> int:
    from analysis.cli import InputError, _read_text, indices_inputs

    responses, params, n_questions = indices_inputs(args)
    questions = read_questions(args.questions, InputError)
    respondents = respondent_codes(_read_text(args.responses), responses.answers.respondent, args.responses, InputError)
    records = parse_items(_read_text(args.items), args.items, questions, responses.units, respondents, InputError)
    results = compute_items(responses.answers, params, questions, records, n_questions=n_questions)
    units = np.arange(len(responses.units))
    if args.output is None:
        write_items(sys.stdout, results, units, responses.units)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8-sig", newline="") as out:
            write_items(out, results, units, responses.units)
    except OSError as error:
        raise InputError(f"{args.output}: cannot write: {error.strerror}") from error
    return 0


def respondent_codes(text: str, codes: np.ndarray, path: str, error: type[Exception]) -> dict[str, int]:
    """respondent_id -> the engine's code, pairing RESPONSES.csv's rows with its records (one per row, in order)."""
    labels = [row.get("respondent_id", "") for row in csv.DictReader(io.StringIO(text))]
    if len(labels) != codes.size:
        raise error(f"{path}: {len(labels)} rows but {codes.size} records; cannot pair respondents with ITEMS.csv")
    out: dict[str, int] = {}
    for label, code in zip(labels, codes.tolist(), strict=True):
        if out.setdefault(label, code) != code:
            raise error(f"{path}: respondent {label!r} has two codes; cannot pair respondents with ITEMS.csv")
    return out


def read_questions(path: str, error: type[Exception]) -> list[Item]:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict) or not data:
        raise error(f'{path}:1:1: expected an object of items, e.g. {{"Q6": {{"type": "single", ...}}}}')
    out = []
    for code, spec in data.items():
        if not isinstance(spec, dict) or spec.get("type") not in KINDS:
            raise error(f"{path}: item {code!r}: type must be one of {', '.join(KINDS)}")
        options = spec.get("options") or []
        scores = spec.get("scores") or []
        try:
            out.append(Item(str(code), spec["type"], tuple(str(o) for o in options),
                            tuple(None if s is None else float(s) for s in scores),
                            conditional=spec.get("conditional") is True))
        except (TypeError, ValueError) as exc:
            raise error(f"{path}: {exc}") from None
    return out


def parse_items(text: str, path: str, items: list[Item], unit_labels: list[str],
                respondents: dict[str, int] | None, error: type[Exception]) -> ItemRecords:
    """ITEMS.csv coded like RESPONSES.csv: respondents by the same ids, units by their labels."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("respondent_id", "unit", "item", "value") if c not in (reader.fieldnames or [])]
    if missing:
        raise error(f"{path}:1: missing column {missing[0]!r}")
    by_code = {item.code: k for k, item in enumerate(items)}
    unit_code = {label: k for k, label in enumerate(unit_labels)}
    people: dict[str, int] = dict(respondents or {})
    columns: dict[str, list[int]] = {"respondent": [], "unit": [], "item": [], "value": [], "not_shown": []}
    for line, row in enumerate(reader, start=2):
        code = row["item"]
        if code not in by_code:
            raise error(f"{path}:{line}: item {code!r} is not in QUESTIONS.json")
        item = items[by_code[code]]
        value = row["value"]
        hidden = (row.get("not_shown") or "0").strip()
        if hidden not in ("0", "1"):
            raise error(f"{path}:{line}: not_shown must be 0 or 1, not {hidden!r}")
        if hidden == "1":
            if not item.conditional:
                raise error(f"{path}:{line}: {code} is not shown but has no display condition "
                            '(set "conditional": true in QUESTIONS.json)')
            coded = -1
        elif item.kind in ("single", "multiple"):
            if value not in item.options:
                raise error(f"{path}:{line}: {value!r} is not an option of {code} ({', '.join(item.options)})")
            coded = item.options.index(value)
        elif item.kind == "rating":
            if not value.isdigit() or int(value) > 10:
                raise error(f"{path}:{line}: rating {value!r} of {code} is not a whole number 0-10")
            coded = int(value)
        else:
            if not value.strip():
                continue
            coded = 0
        unit = unit_code.get(row["unit"], -1)  # a unit nobody rated has no sample: the record is left out
        columns["respondent"].append(people.setdefault(row["respondent_id"], -1 - len(people)))
        columns["unit"].append(unit)
        columns["item"].append(by_code[code])
        columns["value"].append(coded)
        columns["not_shown"].append(int(hidden == "1"))
    arrays = {k: np.asarray(v, dtype=np.int64) for k, v in columns.items()}
    arrays["not_shown"] = arrays["not_shown"].astype(bool)
    return ItemRecords(**arrays)


def _number(value: float) -> str:
    return "" if value is None or math.isnan(value) else repr(float(value))


def write_items(out: TextIO, results: list[ItemResult], units: np.ndarray, unit_labels: list[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i, u in enumerate(units):
        for r in results:
            item, n = r.item, int(r.n[i])
            label = unit_labels[int(u)]
            if item.kind == "text":
                writer.writerow([label, item.code, "count", n, n, "", "", ""])
                continue
            if item.top_option is not None:
                k = item.top_option
                writer.writerow([label, item.code, "top_share", n, _number(r.shares[i, k]), _number(r.shares_se[i, k]),
                                 _number(r.shares_ci_low[i, k]), _number(r.shares_ci_high[i, k])])
            for k, category in enumerate(item.categories):
                writer.writerow([label, item.code, f"share:{category}", n, _number(r.shares[i, k]),
                                 _number(r.shares_se[i, k]), _number(r.shares_ci_low[i, k]),
                                 _number(r.shares_ci_high[i, k])])
            if r.mean is not None:
                writer.writerow([label, item.code, "mean", n, _number(r.mean[i]), _number(r.mean_se[i]),
                                 _number(r.mean_ci_low[i]), _number(r.mean_ci_high[i])])
            if item.conditional and r.n_not_shown is not None and r.all_shares is not None:
                hidden, every = int(r.n_not_shown[i]), n + int(r.n_not_shown[i])
                writer.writerow([label, item.code, "not_shown", hidden, hidden, "", "", ""])
                if item.top_option is not None:
                    k = item.top_option
                    writer.writerow([label, item.code, "top_share_all", every, _number(r.all_shares[i, k]),
                                     _number(r.all_shares_se[i, k]), _number(r.all_shares_ci_low[i, k]),
                                     _number(r.all_shares_ci_high[i, k])])
                for k, category in enumerate(item.categories):
                    writer.writerow([label, item.code, f"share_all:{category}", every, _number(r.all_shares[i, k]),
                                     _number(r.all_shares_se[i, k]), _number(r.all_shares_ci_low[i, k]),
                                     _number(r.all_shares_ci_high[i, k])])
    for r in results:  # all units pooled, each unit a stratum with its own weights: unit "ALL", no interval
        item, n = r.item, r.overall_n
        if item.kind == "text":
            writer.writerow(["ALL", item.code, "count", n, n, "", "", ""])
            continue
        if item.top_option is not None:
            k = item.top_option
            writer.writerow(["ALL", item.code, "top_share", n, _number(r.overall_shares[k]),
                             _number(r.overall_shares_se[k]), "", ""])
        for k, category in enumerate(item.categories):
            writer.writerow(["ALL", item.code, f"share:{category}", n, _number(r.overall_shares[k]),
                             _number(r.overall_shares_se[k]), "", ""])
        if r.mean is not None:
            writer.writerow(["ALL", item.code, "mean", n, _number(r.overall_mean), _number(r.overall_mean_se), "", ""])
        if item.conditional and r.overall_all_shares is not None and r.overall_all_shares_se is not None:
            hidden, every = r.overall_n_not_shown, n + r.overall_n_not_shown
            writer.writerow(["ALL", item.code, "not_shown", hidden, hidden, "", "", ""])
            for k, category in enumerate(item.categories):
                writer.writerow(["ALL", item.code, f"share_all:{category}", every, _number(r.overall_all_shares[k]),
                                 _number(r.overall_all_shares_se[k]), "", ""])
