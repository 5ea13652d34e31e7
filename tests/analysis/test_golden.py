"""Golden tests: every file in the R reference folder, to a relative error of 1e-6.

Satisfaction indices are checked through the library and through the command
line; R's own ``api`` examples through the public design API.
"""

from __future__ import annotations

import filecmp
import math
import subprocess

import numpy as np
import pytest

from analysis import CalibrationError, Design, Params, compute_indices
from analysis.cli import Responses

from .conftest import REFERENCE, SHARED_REFERENCE, read_csv, run_cli
from .test_breakdowns import BREAKDOWN_FILES
from .test_breakdowns_rake import RAKE_BREAKDOWN_FILES
from .test_conditional import CONDITIONAL_FILES
from .test_items import ITEM_FILES
from .test_thin_cells import THIN_CELL_FILES

RTOL = 1e-6
COLUMNS = ("n", "n_eff", "index", "index_se", "satisfied_rate", "satisfied_rate_se")

#: expected file -> (CLI options, Params settings).  R made these files on the raw groups, thin
#: cells and all, so they are reproduced with collapsing off (min_cell_n = 1); the collapse rule
#: has its own R files (THIN_CELL_FILES, tested in test_thin_cells.py).
SATISFACTION_CASES = {
    "expected_poststratify.csv": (
        ["--method", "poststratify", "--scores", "0,25,50,75,100", "--min-cell-n", "1"],
        {"method": "poststratify", "min_cell_n": 1},
    ),
    "expected_poststratify_scores_100_80_60_40_20.csv": (
        ["--method", "poststratify", "--scores", "20,40,60,80,100", "--min-cell-n", "1"],
        {"method": "poststratify", "scores": (20, 40, 60, 80, 100), "min_cell_n": 1},
    ),
    "expected_rake.csv": (
        ["--method", "rake", "--scores", "0,25,50,75,100", "--question-weights", "Q1=2,Q3=0.5", "--min-cell-n", "1"],
        {"method": "rake", "question_weights": (2, 1, 0.5, 1, 1, 1), "min_cell_n": 1},
    ),
}
API_FILES = ("api_strat.csv", "api_clus1.csv", "api_expected.csv")
INPUT_FILES = ("responses.csv", "targets.json", "README.md")


def test_every_reference_file_is_covered() -> None:
    covered = (set(SATISFACTION_CASES) | set(API_FILES) | set(INPUT_FILES) | set(THIN_CELL_FILES) | set(ITEM_FILES)
               | set(BREAKDOWN_FILES) | set(RAKE_BREAKDOWN_FILES) | set(CONDITIONAL_FILES))
    assert {p.name for p in REFERENCE.iterdir()} == covered


@pytest.mark.skipif(not SHARED_REFERENCE.is_dir(), reason="../shared/reference not present")
def test_vendored_reference_matches_shared_folder() -> None:
    # README.md may go on after the shared text (it also documents the files only this copy has).
    names = sorted(p.name for p in SHARED_REFERENCE.iterdir() if p.name != "README.md")
    match, mismatch, errors = filecmp.cmpfiles(SHARED_REFERENCE, REFERENCE, names, shallow=False)
    assert (mismatch, errors) == ([], [])
    assert sorted(match) == names
    shared_readme = SHARED_REFERENCE / "README.md"
    if shared_readme.is_file():
        readme = (REFERENCE / "README.md").read_text(encoding="utf-8")
        assert readme.startswith(shared_readme.read_text(encoding="utf-8"))


def assert_matches_expected(got: dict[str, dict[str, str | float]], expected_name: str) -> None:
    """``got``: unit -> column -> value (float, or '' for empty); R writes NA for a unit it could not rake."""
    expected = read_csv(REFERENCE / expected_name)
    assert expected, expected_name
    for row in expected:
        unit = row["unit"]
        for column in COLUMNS:
            value = got[unit][column]
            if row[column] == "NA" and column != "n":
                assert value == "" or (isinstance(value, float) and math.isnan(value)), (unit, column, value)
            else:
                assert float(value) == pytest.approx(float(row[column]), rel=RTOL, abs=0), (unit, column)


def run_reference_cli(*options: str) -> subprocess.CompletedProcess[str]:
    """The CLI on the reference responses and targets."""
    return run_cli("indices", str(REFERENCE / "responses.csv"), "--targets", str(REFERENCE / "targets.json"), *options)


def params_for(settings: dict, targets: dict[str, dict[str, float]]) -> Params:
    margins = ("group",) if settings["method"] == "poststratify" else ("group", "channel")
    return Params(targets={m: tuple(targets[m].values()) for m in margins}, **settings)


@pytest.mark.parametrize("expected_name", SATISFACTION_CASES)
def test_library_matches_r(expected_name: str, reference_responses: Responses, targets: dict) -> None:
    results = compute_indices(reference_responses.answers, params_for(SATISFACTION_CASES[expected_name][1], targets))
    got = {
        reference_responses.units[u]: {c: float(getattr(results, c)[i]) for c in COLUMNS}
        for i, u in enumerate(results.units)
    }
    assert_matches_expected(got, expected_name)


@pytest.mark.parametrize("expected_name", SATISFACTION_CASES)
def test_cli_matches_r(expected_name: str, tmp_path) -> None:
    out = tmp_path / "out.csv"
    options = SATISFACTION_CASES[expected_name][0]
    done = run_reference_cli(*options, "-o", str(out))
    assert done.returncode == 0, done.stderr
    rows = read_csv(out)
    assert_matches_expected({row["unit"]: row for row in rows}, expected_name)
    assert [row["unit"] for row in rows] == sorted(row["unit"] for row in read_csv(REFERENCE / expected_name))


def test_units_r_could_not_rake_are_reported_not_converged(reference_responses: Responses, targets: dict) -> None:
    params = params_for(SATISFACTION_CASES["expected_rake.csv"][1], targets)
    results = compute_indices(reference_responses.answers, params)
    expected = {row["unit"]: row["n_eff"] == "NA" for row in read_csv(REFERENCE / "expected_rake.csv")}
    for i, u in enumerate(results.units):
        unit = reference_responses.units[u]
        assert bool(results.has_flag("rake_not_converged")[i]) is expected[unit], unit
        assert bool(results.rake_converged[i]) is not expected[unit]
        if expected[unit]:
            assert np.isnan(results.index[i]) and results.rake_max_error[i] > 1e-3
    assert sum(expected.values()) == 2


def test_cli_leaves_unraked_units_empty_with_flag(tmp_path) -> None:
    out = tmp_path / "rake.csv"
    options = SATISFACTION_CASES["expected_rake.csv"][0]
    done = run_reference_cli(*options, "-o", str(out))
    assert done.returncode == 0, done.stderr
    rows = {row["unit"]: row for row in read_csv(out)}
    for unit in ("U003", "U014"):
        row = rows[unit]
        assert "rake_not_converged" in row["flags"].split(";")
        assert row["n"] != ""
        empty = ("n_eff", "index", "index_se", "satisfied_rate", "satisfied_rate_se", "index_ci_low")
        assert all(row[c] == "" for c in empty)


# ---- R's api examples ----------------------------------------------------------------------------


def api(name: str) -> dict[str, np.ndarray]:
    rows = read_csv(REFERENCE / name)
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}


def number(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float64)


STYPE = {"E": 4421, "H": 755, "M": 1018}
SCH_WIDE = {"No": 1072, "Yes": 5122}


def api_estimates() -> dict[str, object]:
    """Each row of api_expected.csv computed through the public design API."""
    strat, clus1 = api("api_strat.csv"), api("api_clus1.csv")
    dstrat = Design(number(strat["pw"]), strata=strat["stype"], fpc=number(strat["fpc"]))
    dclus1 = Design(number(clus1["pw"]), clusters=clus1["dnum"], fpc=number(clus1["fpc"]))
    post = dclus1.poststratify(clus1["stype"], STYPE)
    raked = dclus1.rake({"stype": (clus1["stype"], STYPE), "sch.wide": (clus1["sch.wide"], SCH_WIDE)})
    return {
        "strat: svymean(~api00), strata=stype, fpc": dstrat.mean(number(strat["api00"])),
        "strat: svytotal(~enroll), strata=stype, fpc": dstrat.total(number(strat["enroll"])),
        "clus1: svymean(~api00), ids=dnum, fpc": dclus1.mean(number(clus1["api00"])),
        "clus1: svytotal(~enroll), ids=dnum, fpc": dclus1.total(number(clus1["enroll"])),
        "clus1 post-stratified by stype (E=4421,H=755,M=1018): svymean(~api00)": post.mean(number(clus1["api00"])),
        "clus1 post-stratified by stype: svytotal(~enroll)": post.total(number(clus1["enroll"])),
        "clus1 raked on stype and sch.wide (No=1072,Yes=5122), GREG linearisation: svymean(~api00)": raked.mean(
            number(clus1["api00"])
        ),
        "clus1 raked: svytotal(~enroll)": raked.total(number(clus1["enroll"])),
        "strat: svyratio(~api00, ~api99)": dstrat.ratio(number(strat["api00"]), number(strat["api99"])),
    }


@pytest.fixture(scope="module")
def computed_api() -> dict[str, object]:
    return api_estimates()


@pytest.mark.parametrize("row", read_csv(REFERENCE / "api_expected.csv"), ids=lambda row: row["case"][:40])
def test_api_example_matches_r(row: dict[str, str], computed_api: dict[str, object]) -> None:
    got = computed_api[row["case"]]
    assert got.estimate == pytest.approx(float(row["estimate"]), rel=RTOL, abs=0)
    assert got.se == pytest.approx(float(row["se"]), rel=RTOL, abs=0)


def test_every_api_row_is_computed(computed_api: dict[str, object]) -> None:
    assert {row["case"] for row in read_csv(REFERENCE / "api_expected.csv")} == set(computed_api)


def test_raking_reports_failure_instead_of_returning_weights() -> None:
    clus1 = api("api_clus1.csv")
    design = Design(number(clus1["pw"]), clusters=clus1["dnum"], fpc=number(clus1["fpc"]))
    with pytest.raises(CalibrationError) as failure:
        design.rake({"stype": (clus1["stype"], STYPE), "sch.wide": (clus1["sch.wide"], SCH_WIDE)}, max_iter=2)
    assert not failure.value.report.converged[0]
    assert failure.value.report.iterations[0] == 2
