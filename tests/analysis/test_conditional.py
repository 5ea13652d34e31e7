"""Conditional questions (display conditions) in the engine (analysis/items.py) against R.

The golden file comes from ``reference/make_conditional.R`` (R's ``survey``: svydesign,
postStratify by group, svymean of each indicator on two domains of the whole unit's design —
those shown who answered, and those who answered or were not shown), to 1e-6. A question not
shown is structurally missing: outside the first figure's denominator, a zero in the second.
"""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from analysis import Answers, Params
from analysis.items import Item, ItemRecords, compute_items

from .conftest import REFERENCE, read_csv, run_cli

RTOL = 1e-6
CONDITIONAL_FILES = ("make_conditional.R", "conditional_responses.csv", "conditional_answers.csv",
                     "conditional_expected.csv")
ITEMS = (
    Item("B", "multiple", ("a", "b", "c", "d", "e", "f"), conditional=True),
    Item("S", "single", ("1", "2", "3"), (100.0, 50.0, 0.0), conditional=True),
    Item("Z", "rating", conditional=True),
)


@pytest.fixture(scope="module")
def golden():
    targets = json.loads((REFERENCE / "items_targets.json").read_text(encoding="utf-8"))
    groups = list(targets["group"])
    people: dict[str, int] = {}
    rows = read_csv(REFERENCE / "conditional_responses.csv")
    units = sorted({r["unit"] for r in rows})
    answers = Answers(
        respondent=np.array([people.setdefault(r["respondent_id"], len(people)) for r in rows]),
        unit=np.array([units.index(r["unit"]) for r in rows]),
        question=np.array([int(r["question"][1:]) - 1 for r in rows]),
        level=np.array([int(r["level"]) for r in rows]),
        margins={"group": np.array([groups.index(r["group"]) for r in rows])},
    )
    item_rows = read_csv(REFERENCE / "conditional_answers.csv")
    codes = [it.code for it in ITEMS]

    def value(r: dict[str, str]) -> int:
        if r["not_shown"] == "1":
            return -1
        item = ITEMS[codes.index(r["item"])]
        return int(r["value"]) if item.kind == "rating" else item.options.index(r["value"])

    records = ItemRecords(
        respondent=np.array([people.setdefault(r["respondent_id"], len(people)) for r in item_rows]),
        unit=np.array([units.index(r["unit"]) for r in item_rows]),
        item=np.array([codes.index(r["item"]) for r in item_rows]),
        value=np.array([value(r) for r in item_rows]),
        not_shown=np.array([r["not_shown"] == "1" for r in item_rows]),
    )
    params = Params(targets={"group": tuple(targets["group"].values())}, min_cell_n=1)
    return answers, records, params, units


def _close(got: float, expected: str, row: dict[str, str]) -> None:
    if expected == "NA":
        assert math.isnan(got), row
    else:
        assert got == pytest.approx(float(expected), rel=RTOL, abs=1e-12), row


def test_both_figures_of_every_conditional_item_match_r(golden) -> None:
    answers, records, params, units = golden
    results = {r.item.code: r for r in compute_items(answers, params, ITEMS, records, n_questions=2)}
    expected = read_csv(REFERENCE / "conditional_expected.csv")
    assert len(expected) == 6 * ((1 + 6 + 6) + (1 + 4 + 3) + (1 + 12 + 11))  # 5 units and ALL
    for row in expected:
        result = results[row["item"]]
        pooled = row["unit"] == "ALL"
        i = None if pooled else units.index(row["unit"])
        if row["domain"] == "count":
            got = result.overall_n_not_shown if pooled else int(result.n_not_shown[i])
            assert got == int(row["n"]), row
            continue
        if row["domain"] == "shown":
            assert (result.overall_n if pooled else int(result.n[i])) == int(row["n"]), row
            if row["statistic"] == "mean":
                est, se = (result.overall_mean, result.overall_mean_se) if pooled else (result.mean[i], result.mean_se[i])
            else:
                k = result.item.categories.index(row["statistic"].split(":")[1])
                est, se = ((result.overall_shares[k], result.overall_shares_se[k]) if pooled
                           else (result.shares[i, k], result.shares_se[i, k]))
        else:
            all_n = result.overall_n + result.overall_n_not_shown if pooled else int(result.all_n[i])
            assert all_n == int(row["n"]), row
            k = result.item.categories.index(row["statistic"].split(":")[1])
            est, se = ((result.overall_all_shares[k], result.overall_all_shares_se[k]) if pooled
                       else (result.all_shares[i, k], result.all_shares_se[i, k]))
        _close(est, row["estimate"], row)
        _close(se, row["se"], row)


def test_domain_se_differs_from_dropping_the_rows_first(golden) -> None:
    """The shown figure is a domain of the unit's design: dropping the not-shown respondents before
    weighting gives other weights and another SE (R's subset(design, shown) is not that)."""
    answers, records, params, units = golden
    reasons = compute_items(answers, params, ITEMS[:1], records, n_questions=2)[0]
    hidden = np.isin(answers.respondent, records.respondent[(records.item == 0) & records.not_shown])
    dropped = Answers(respondent=answers.respondent[~hidden], unit=answers.unit[~hidden],
                      question=answers.question[~hidden], level=answers.level[~hidden],
                      margins={"group": answers.margins["group"][~hidden]})
    keep = ~records.not_shown & (records.item == 0)
    plain = ItemRecords(respondent=records.respondent[keep], unit=records.unit[keep], item=records.item[keep],
                        value=records.value[keep])
    naive = compute_items(dropped, params, [Item("B", "multiple", ITEMS[0].options)], plain, n_questions=2)[0]
    i = units.index("C01")
    assert naive.n[i] == reasons.n[i]
    assert abs(naive.shares_se[i, 0] - reasons.shares_se[i, 0]) > 1e-4


def test_shown_counts_and_the_row_payload(golden) -> None:
    answers, records, params, units = golden
    reasons, trips, _rating = compute_items(answers, params, ITEMS, records, n_questions=2)
    i = units.index("C01")
    # n shown = the unit's index sample − not shown; answered ≤ shown (the rest skipped)
    assert reasons.n_shown[i] == reasons.sample_n[i] - reasons.n_not_shown[i]
    assert reasons.n[i] < reasons.n_shown[i]
    row = trips.row(i)
    assert row["n_shown"] == int(trips.n_shown[i]) and row["n_not_shown"] == int(trips.n_not_shown[i])
    assert row["all"]["n"] == row["n"] + row["n_not_shown"]
    # among all respondents a share is the shown share scaled by the weighted share answering
    assert row["all"]["top_share"] < row["top_share"]
    assert row["all"]["top_share_ci"][0] <= row["all"]["top_share"] <= row["all"]["top_share_ci"][1]
    keep = ~records.not_shown & (records.item == 1)
    plain = ItemRecords(respondent=records.respondent[keep], unit=records.unit[keep],
                        item=np.zeros(int(keep.sum()), dtype=np.int64), value=records.value[keep])
    unconditional = compute_items(answers, params, [Item("S", "single", ("1", "2", "3"), (100.0, 50.0, 0.0))],
                                  plain, n_questions=2)[0]
    assert "all" not in unconditional.row(i) and "n_shown" not in unconditional.row(i)
    assert unconditional.row(i)["top_share"] == pytest.approx(row["top_share"], rel=1e-12)
    overall = reasons.overall()
    assert overall["n_shown"] == int(reasons.n_shown.sum()) and len(overall["all"]["shares"]) == 6


def test_a_plain_item_with_not_shown_records_is_refused(golden) -> None:
    answers, records, params, _units = golden
    with pytest.raises(ValueError, match="without a display condition"):
        compute_items(answers, params, [Item("B", "multiple", ITEMS[0].options)], records, n_questions=2)


def test_answered_and_not_shown_at_once_is_refused(golden) -> None:
    answers, _records, params, _units = golden
    bad = ItemRecords(respondent=np.array([0, 0]), unit=np.array([0, 0]), item=np.array([0, 0]),
                      value=np.array([0, -1]), not_shown=np.array([False, True]))
    with pytest.raises(ValueError, match="both answered and was not shown"):
        compute_items(answers, params, ITEMS[:1], bad, n_questions=2)


def test_counted_item_gives_unweighted_counts_per_option(golden) -> None:
    answers, records, params, units = golden
    counted = Item("B", "multiple", ITEMS[0].options, conditional=True, counted=True)
    reasons = compute_items(answers, params, [counted], records, n_questions=2)[0]
    rows = read_csv(REFERENCE / "conditional_answers.csv")
    rated = {(r["respondent_id"], r["unit"]) for r in read_csv(REFERENCE / "conditional_responses.csv")}
    i = units.index("C02")
    for k, option in enumerate(counted.options):
        by_hand = sum(1 for r in rows if r["item"] == "B" and r["unit"] == "C02" and r["value"] == option
                      and r["not_shown"] == "0" and (r["respondent_id"], r["unit"]) in rated)
        assert reasons.counts[i, k] == by_hand
    row = reasons.row(i)
    assert row["counts"] == [int(v) for v in reasons.counts[i]] and row["n_shown"] == int(reasons.n_shown[i])
    assert reasons.overall()["counts"] == [int(v) for v in reasons.counts.sum(axis=0)]


def test_cli_gives_both_figures_as_r(tmp_path) -> None:
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps({
        "B": {"type": "multiple", "options": list("abcdef"), "conditional": True},
        "S": {"type": "single", "options": ["1", "2", "3"], "scores": [100, 50, 0], "conditional": True},
        "Z": {"type": "rating", "conditional": True},
    }), encoding="utf-8")
    done = run_cli("items", str(REFERENCE / "conditional_responses.csv"), str(REFERENCE / "conditional_answers.csv"),
                   "--questions", str(questions), "--targets", str(REFERENCE / "items_targets.json"),
                   "--min-cell-n", "1")
    assert done.returncode == 0, done.stderr
    got = {(r["unit"], r["item"], r["statistic"]): r for r in csv.DictReader(io.StringIO(done.stdout))}
    checked = 0
    for row in read_csv(REFERENCE / "conditional_expected.csv"):
        if row["domain"] == "count":
            statistic = "not_shown"
        elif row["domain"] == "all":
            statistic = row["statistic"].replace("share:", "share_all:")
        else:
            statistic = row["statistic"]
        mine = got[(row["unit"], row["item"], statistic)]
        assert int(mine["n"]) == int(row["n"]), row
        assert float(mine["estimate"]) == pytest.approx(float(row["estimate"]), rel=RTOL, abs=1e-12), row
        if row["se"] != "NA":
            assert float(mine["se"]) == pytest.approx(float(row["se"]), rel=RTOL, abs=1e-12), row
        checked += 1
    assert checked == 270
    # a not-shown row of a question without a display condition is refused, naming the line
    questions.write_text(json.dumps({"B": {"type": "multiple", "options": list("abcdef")},
                                     "S": {"type": "single", "options": ["1", "2", "3"]}, "Z": {"type": "rating"}}),
                         encoding="utf-8")
    done = run_cli("items", str(REFERENCE / "conditional_responses.csv"), str(REFERENCE / "conditional_answers.csv"),
                   "--questions", str(questions), "--targets", str(REFERENCE / "items_targets.json"))
    assert done.returncode == 2 and "has no display condition" in done.stderr and "conditional_answers.csv:" in done.stderr
