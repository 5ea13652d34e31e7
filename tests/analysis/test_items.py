"""Per-question results of the other question types (analysis/items.py) against R.

The golden files come from ``reference/make_items.R`` (R's ``survey``: svydesign, postStratify
by group, svymean of each indicator on the subset who answered the item), to 1e-6.
"""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from analysis import Answers, Params, compute_indices
from analysis.items import Item, ItemRecords, compute_items

from .conftest import REFERENCE, read_csv, run_cli

RTOL = 1e-6
ITEM_FILES = ("make_items.R", "items_responses.csv", "items_answers.csv", "items_targets.json",
              "items_questions.json", "items_expected.csv")
ITEMS = (
    Item("T", "single", ("1", "2", "3"), (100.0, 50.0, 0.0)),
    Item("M", "multiple", ("a", "b", "c")),
    Item("R", "rating"),
    Item("C", "text"),
)


@pytest.fixture(scope="module")
def golden():
    targets = json.loads((REFERENCE / "items_targets.json").read_text(encoding="utf-8"))
    groups = list(targets["group"])
    people: dict[str, int] = {}
    rows = read_csv(REFERENCE / "items_responses.csv")
    units = sorted({r["unit"] for r in rows})
    answers = Answers(
        respondent=np.array([people.setdefault(r["respondent_id"], len(people)) for r in rows]),
        unit=np.array([units.index(r["unit"]) for r in rows]),
        question=np.array([int(r["question"][1:]) - 1 for r in rows]),
        level=np.array([int(r["level"]) for r in rows]),
        margins={"group": np.array([groups.index(r["group"]) for r in rows])},
    )
    item_rows = read_csv(REFERENCE / "items_answers.csv")
    codes = [it.code for it in ITEMS]

    def value(r: dict[str, str]) -> int:
        item = ITEMS[codes.index(r["item"])]
        if item.kind == "rating":
            return int(r["value"])
        return item.options.index(r["value"]) if item.options else 0

    records = ItemRecords(
        respondent=np.array([people.setdefault(r["respondent_id"], len(people)) for r in item_rows]),
        unit=np.array([units.index(r["unit"]) for r in item_rows]),
        item=np.array([codes.index(r["item"]) for r in item_rows]),
        value=np.array([value(r) for r in item_rows]),
    )
    params = Params(targets={"group": tuple(targets["group"].values())}, min_cell_n=1)
    return answers, records, params, units


def test_every_item_statistic_matches_r(golden) -> None:
    answers, records, params, units = golden
    results = compute_items(answers, params, ITEMS, records, n_questions=2)
    by_code = {r.item.code: r for r in results}
    expected = read_csv(REFERENCE / "items_expected.csv")
    assert len(expected) == 7 * (1 + 4 + 3 + 12)
    for row in expected:
        result = by_code[row["item"]]
        if row["unit"] == "ALL":  # all units pooled, each unit a stratum with its own weights
            assert result.overall_n == int(row["n"]), row
            if row["statistic"] == "count":
                continue
            if row["statistic"] == "mean":
                est, se = result.overall_mean, result.overall_mean_se
            else:
                k = result.item.categories.index(row["statistic"].split(":")[1])
                est, se = result.overall_shares[k], result.overall_shares_se[k]
            assert est == pytest.approx(float(row["estimate"]), rel=RTOL, abs=1e-12), row
            assert se == pytest.approx(float(row["se"]), rel=RTOL, abs=1e-12), row
            continue
        i = units.index(row["unit"])
        assert int(result.n[i]) == int(row["n"]), row
        if row["statistic"] == "count":
            continue
        if row["statistic"] == "mean":
            est, se = result.mean[i], result.mean_se[i]
        else:
            k = result.item.categories.index(row["statistic"].split(":")[1])
            est, se = result.shares[i, k], result.shares_se[i, k]
        assert est == pytest.approx(float(row["estimate"]), rel=RTOL, abs=1e-12), row
        if row["se"] == "NA":
            assert math.isnan(se), row
        else:
            assert se == pytest.approx(float(row["se"]), rel=RTOL, abs=1e-12), row


def test_scored_single_choice_headline_is_the_best_option(golden) -> None:
    answers, records, params, units = golden
    trips = compute_items(answers, params, ITEMS[:1], records, n_questions=2)[0]
    assert trips.item.top_option == 0
    np.testing.assert_array_equal(trips.top_share, trips.shares[:, 0])
    row = trips.row(units.index("W01"))
    assert row["top_option"] == "1" and row["top_share"] == trips.shares[0, 0]
    assert row["top_share_ci"][0] < row["top_share"] < row["top_share_ci"][1]
    # the mean score is the shares weighted by the option scores
    np.testing.assert_allclose(trips.mean, trips.shares @ np.array([100.0, 50.0, 0.0]), rtol=1e-12)
    # single choice: the shares of a unit add up to one
    np.testing.assert_allclose(trips.shares.sum(axis=1), 1.0, rtol=1e-12)


def test_items_use_the_index_sample_and_its_weights(golden) -> None:
    answers, records, params, units = golden
    index = compute_indices(answers, params, n_questions=2)
    trips = compute_items(answers, params, ITEMS[:1], records, n_questions=2)[0]
    # the answer of R9999 (not in W01's index sample) is left out: n stays R's count
    assert int(trips.n[units.index("W01")]) == 53
    assert trips.n.size == index.n.size
    assert np.all(trips.n <= index.n)


def test_a_rating_outside_0_to_10_is_refused(golden) -> None:
    answers, _records, params, _units = golden
    bad = ItemRecords(respondent=np.array([0]), unit=np.array([0]), item=np.array([0]), value=np.array([11]))
    with pytest.raises(ValueError, match="0 … 10"):
        compute_items(answers, params, [Item("R", "rating")], bad, n_questions=2)


def test_two_options_of_a_single_choice_are_refused(golden) -> None:
    answers, _records, params, _units = golden
    bad = ItemRecords(respondent=np.array([0, 0]), unit=np.array([0, 0]), item=np.array([0, 0]),
                      value=np.array([0, 1]))
    with pytest.raises(ValueError, match="more than one option"):
        compute_items(answers, params, ITEMS[:1], bad, n_questions=2)


def test_a_small_unit_by_hand() -> None:
    answers = Answers(respondent=np.arange(4), unit=np.zeros(4, dtype=int), question=np.zeros(4, dtype=int),
                      level=np.array([5, 4, 3, 2]), margins={"group": np.array([0, 0, 1, 1])})
    records = ItemRecords(respondent=np.arange(4), unit=np.zeros(4, dtype=int), item=np.zeros(4, dtype=int),
                          value=np.array([0, 0, 1, 2]))
    params = Params(targets={"group": (0.5, 0.5)}, min_cell_n=1)
    trips = compute_items(answers, params, ITEMS[:1], records, n_questions=1)[0]
    # two cells of two, each given half the weight: shares 0.5 (1), 0.25 (2), 0.25 (3), mean 62.5
    np.testing.assert_allclose(trips.shares[0], [0.5, 0.25, 0.25])
    assert trips.mean[0] == pytest.approx(62.5)
    assert np.all(np.isfinite(trips.shares_se[0]))


def _cli(*extra: str):
    return run_cli("items", str(REFERENCE / "items_responses.csv"), str(REFERENCE / "items_answers.csv"),
                   "--questions", str(REFERENCE / "items_questions.json"),
                   "--targets", str(REFERENCE / "items_targets.json"), "--min-cell-n", "1", *extra)


def test_cli_items_match_r() -> None:
    done = _cli()
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    got = {(r["unit"], r["item"], r["statistic"]): r for r in rows}
    for row in read_csv(REFERENCE / "items_expected.csv"):
        mine = got[(row["unit"], row["item"], row["statistic"])]
        assert int(mine["n"]) == int(row["n"])
        assert float(mine["estimate"]) == pytest.approx(float(row["estimate"]), rel=RTOL, abs=1e-12), row
        if row["se"] != "NA":
            assert float(mine["se"]) == pytest.approx(float(row["se"]), rel=RTOL, abs=1e-12), row
    # the headline of a scored question is its best option's share
    for unit in ("W01", "W02"):
        assert got[(unit, "T", "top_share")]["estimate"] == got[(unit, "T", "share:1")]["estimate"]


def test_cli_indices_output_is_unchanged_by_items() -> None:
    done = run_cli("indices", str(REFERENCE / "items_responses.csv"), "--targets",
                   str(REFERENCE / "items_targets.json"), "--min-cell-n", "1")
    assert done.returncode == 0 and done.stdout.splitlines()[0].startswith("unit,n,n_eff,index,index_se")


def test_cli_items_bad_input_names_file_and_line(tmp_path) -> None:
    bad = tmp_path / "items.csv"
    bad.write_text("respondent_id,unit,item,value\nR0001,W01,T,9\n", encoding="utf-8")
    done = run_cli("items", str(REFERENCE / "items_responses.csv"), str(bad),
                   "--questions", str(REFERENCE / "items_questions.json"),
                   "--targets", str(REFERENCE / "items_targets.json"))
    assert done.returncode == 2 and f"{bad}:2:" in done.stderr and "not an option of T" in done.stderr
    done = run_cli("items", str(REFERENCE / "items_responses.csv"), str(bad), "--targets",
                   str(REFERENCE / "items_targets.json"))
    assert done.returncode != 0 and "--questions" in done.stderr


@pytest.mark.parametrize("method", ["poststratify", "none"])
def test_cell_sums_give_the_row_by_row_variances(golden, method) -> None:
    """The per-question SEs of post-stratified (or uncalibrated) units come from weighted sums per cell; they
    equal residualising every variable row by row, also for a unit where everybody chose the same option
    (its sums cancel to 0: computed row by row)."""
    from analysis import items as engine

    answers, records, _params, _units = golden
    targets = json.loads((REFERENCE / "items_targets.json").read_text(encoding="utf-8"))
    params = Params(targets={"group": tuple(targets["group"].values())}, min_cell_n=1, method=method)
    # unit 0: everybody who answered T chose its first option
    value = np.where((records.item == 0) & (records.unit == 0), 0, records.value)
    same = ItemRecords(records.respondent, records.unit, records.item, value)
    fast = compute_items(answers, params, ITEMS, same, n_questions=2)
    original = engine.cell_sums
    engine.cell_sums = lambda *args, **kwargs: None
    try:
        slow = compute_items(answers, params, ITEMS, same, n_questions=2)
    finally:
        engine.cell_sums = original
    for f, s in zip(fast, slow, strict=True):
        for name in ("shares", "shares_se", "mean", "mean_se", "overall_shares", "overall_shares_se"):
            a, b = getattr(f, name), getattr(s, name)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=0, equal_nan=True)
    trips = fast[0]
    assert trips.shares[0, 0] == 1.0 and trips.shares_se[0, 0] == pytest.approx(0.0, abs=1e-12)
