"""Thin weighting cells: the collapse rule, its flags, the unweighted fallback, R's estimates on the collapsed groups.

The golden files come from ``reference/make_thin_cells.R`` (R's ``survey``: svydesign,
postStratify on the collapsed groups, svyratio), which implements the rule again on its own.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from analysis import Answers, Params, compute_indices, compute_weights
from analysis.cells import DEFAULT_MIN_CELL_N, CellCollapse, collapse_cells
from analysis.cli import main, parse_responses, read_targets

from .conftest import REFERENCE, read_csv, synthetic_answers

RTOL = 1e-6
COLUMNS = ("n", "n_eff", "index", "index_se", "satisfied_rate", "satisfied_rate_se")
THIN_CELL_FILES = (
    "make_thin_cells.R",
    "thin_cells_responses.csv",
    "thin_cells_targets.json",
    "thin_cells_collapse.txt",
    "thin_cells_expected.csv",
    "thin_cells_expected_designated.csv",
    "thin_cells_expected_rake.csv",
)
#: expected file -> (method, the --collapse option of R's designations)
GOLDEN = {
    "thin_cells_expected.csv": ("poststratify", ""),
    "thin_cells_expected_designated.csv": (
        "poststratify",
        ",".join((REFERENCE / "thin_cells_collapse.txt").read_text(encoding="utf-8").split()),
    ),
    "thin_cells_expected_rake.csv": ("rake", ""),
}
GROUPS = ("企业", "群众", "服务对象", "人大代表", "政协委员")
DESIGNATED = {GROUPS.index("政协委员"): GROUPS.index("人大代表"), GROUPS.index("人大代表"): GROUPS.index("企业"),
              GROUPS.index("服务对象"): GROUPS.index("群众")}


# ---- the rule itself -----------------------------------------------------------------------------


def cells_of(counts: list[int], min_cell_n: int = 5, into: dict[int, int] | None = None) -> list[int]:
    return collapse_cells(np.array([counts]), min_cell_n, into)[0].tolist()


def test_default_minimum_is_five() -> None:
    assert DEFAULT_MIN_CELL_N == 5
    assert Params(targets={"group": (1.0,)}).min_cell_n == 5


def test_cells_at_the_minimum_are_kept() -> None:
    assert cells_of([5, 6, 0, 5]) == [0, 1, -1, 3]


def test_undesignated_thin_cells_pool_smallest_first() -> None:
    # 政协委员 (1) joins the smallest other cell, 人大代表 (2); the pool (3) ties with 服务对象 (3),
    # which has the lower code and goes first, into the pool: 人大代表 + 服务对象 + 政协委员 = 6.
    assert cells_of([20, 15, 3, 2, 1]) == [0, 1, 3, 3, 3]


def test_a_pool_still_thin_joins_the_smallest_adequate_cell() -> None:
    assert cells_of([10, 8, 0, 1, 0]) == [0, 1, -1, 1, -1]
    assert cells_of([30, 4, 9, 0, 3]) == [0, 1, 2, -1, 1]


def test_designated_cell_comes_first_and_designations_chain_through_absent_groups() -> None:
    # 政协委员 -> 人大代表 (absent) -> 企业.
    assert cells_of([30, 4, 9, 0, 3], into=DESIGNATED) == [0, 2, 2, -1, 0]
    assert cells_of([20, 15, 3, 2, 1], into=DESIGNATED) == [0, 1, 1, 0, 0]


def test_designation_cycles_fall_back_to_the_smallest_cell() -> None:
    assert cells_of([20, 15, 0, 0, 2], into={4: 3, 3: 4}) == [0, 1, -1, -1, 1]


def test_every_cell_reaches_the_minimum_or_one_cell_is_left() -> None:
    rng = np.random.default_rng(7)
    counts = rng.integers(0, 9, (500, 5)) * (rng.random((500, 5)) < 0.8)
    for min_cell_n in (2, 5, 10):
        cell = collapse_cells(counts, min_cell_n, {4: 3})
        c = CellCollapse("group", min_cell_n, counts, cell)
        sizes = np.where(cell >= 0, c.cell_n, min_cell_n)
        assert np.all((sizes >= min_cell_n).all(axis=1) | (c.n_cells <= 1))
        heads = (cell == np.arange(5)) & (counts > 0)
        assert np.array_equal(np.where(heads, c.cell_n, 0).sum(axis=1), counts.sum(axis=1))
        assert np.array_equal((cell >= 0), counts > 0)
        # Each level's cell is named by a level that names itself.
        heads = np.take_along_axis(cell, np.maximum(cell, 0), axis=1)
        assert np.array_equal(np.where(cell >= 0, heads, -1), cell)


def test_min_cell_n_1_turns_collapsing_off() -> None:
    assert cells_of([1, 1, 2, 0, 15], min_cell_n=1) == [0, 1, 2, -1, 4]


@pytest.mark.parametrize(
    "settings",
    [{"min_cell_n": 0}, {"min_cell_n": 2.5}, {"min_cell_n": True}, {"collapse_into": {"group": {0: 0}}},
     {"collapse_into": {"group": {0: 7}}}, {"collapse_into": {"channel": {0: 1}}}],
)
def test_bad_settings_are_refused(settings: dict) -> None:
    with pytest.raises(ValueError):
        Params(targets={"group": (0.5, 0.5)}, **settings)


def test_params_round_trip_through_json() -> None:
    params = Params(targets={"group": (0.3, 0.4, 0.3)}, min_cell_n=8, collapse_into={"group": {2: 0}})
    stored = json.loads(json.dumps(params.to_dict()))
    assert stored["min_cell_n"] == 8 and stored["collapse_into"] == {"group": {"2": 0}}
    assert Params.from_dict(stored) == params


# ---- in the estimators ---------------------------------------------------------------------------


def three_ratings(levels: tuple[int, ...] = (5, 3, 2)) -> Answers:
    """The window of the issue: three respondents, one in each of three groups, one question."""
    n = len(levels)
    return Answers(np.arange(n), np.zeros(n, dtype=int), np.zeros(n, dtype=int), np.array(levels, dtype=float),
                   {"group": np.arange(n) % 3})


def test_three_ratings_in_three_groups_are_estimated_unweighted_with_a_real_se() -> None:
    params = Params(targets={"group": (0.3, 0.4, 0.3)})
    r = compute_indices(three_ratings(), params)
    scores = np.array([100.0, 50.0, 25.0])
    assert r.index[0] == pytest.approx(scores.mean())
    assert r.index_se[0] == pytest.approx(scores.std(ddof=1) / math.sqrt(3))
    assert r.index_se[0] > 0
    assert {"cells_collapsed", "unweighted"} <= set(r.flag_names(0))
    assert r.collapse(0) == {"group": {0: 1, 2: 1}}
    assert r.cells["group"].cells(0) == [(1, 0, 2)]
    # Without collapsing (as R on the raw groups) every cell is a singleton: SE 0, flagged.
    raw = compute_indices(three_ratings(), Params(targets={"group": (0.3, 0.4, 0.3)}, min_cell_n=1))
    assert raw.index_se[0] == pytest.approx(0.0, abs=1e-12)
    assert "singleton_cell" in raw.flag_names(0)


def test_no_singleton_cell_ever_gives_a_zero_se() -> None:
    answers = synthetic_answers(11, n_respondents=60, n_units=12, n_groups=5)
    for method in ("poststratify", "rake"):
        params = Params(method=method, targets={"group": (0.3, 0.3, 0.2, 0.1, 0.1), "channel": (0.5, 0.5)})
        r = compute_indices(answers, params)
        estimable = r.n >= 2
        assert not r.has_flag("singleton_cell").any()
        for c in r.cells.values():
            assert np.all((c.cell_n[estimable] >= 5) | (c.n[estimable] == 0) | (c.n_cells[estimable, None] <= 1))
        assert np.all(r.index_se[estimable & ~np.isnan(r.index)] > 0)


def test_one_respondent_has_no_se() -> None:
    r = compute_indices(three_ratings((4,)), Params(targets={"group": (0.3, 0.4, 0.3)}))
    assert r.n[0] == 1 and r.index[0] == 75.0
    assert np.isnan(r.index_se[0]) and np.isnan(r.satisfied_rate_se[0]) and np.isnan(r.index_ci_low[0])
    assert "n_lt_2" in r.flag_names(0)


def test_no_thin_cell_leaves_results_bit_for_bit() -> None:
    answers = synthetic_answers(3, n_respondents=600, n_units=4)
    for method in ("poststratify", "rake"):
        settings = {"method": method, "targets": {"group": (0.5, 0.3, 0.2), "channel": (0.6, 0.4)}}
        default, off = compute_indices(answers, Params(**settings)), compute_indices(answers, Params(**settings,
                                                                                                   min_cell_n=1))
        assert not default.has_flag("cells_collapsed").any()
        for name in ("index", "index_se", "satisfied_rate", "satisfied_rate_se", "n_eff"):
            np.testing.assert_array_equal(getattr(default, name), getattr(off, name))


def test_raking_collapses_thin_levels_and_hits_the_summed_targets() -> None:
    # Unit 0: channel 1 has 2 respondents of 40, group 2 has 3: both join another level.
    n = 40
    group = np.array([0] * 20 + [1] * 17 + [2] * 3)
    channel = np.where(np.arange(n) < 38, 0, 1)
    answers = Answers(np.arange(n), np.zeros(n, dtype=int), np.zeros(n, dtype=int),
                      np.tile([1, 2, 3, 4, 5], 8).astype(float), {"group": group, "channel": channel})
    params = Params(method="rake", targets={"group": (0.5, 0.3, 0.2), "channel": (0.7, 0.3)})
    weights = compute_weights(answers, params)
    assert weights.cells["group"].cell[0].tolist() == [0, 1, 1]
    assert weights.cells["channel"].cell[0].tolist() == [0, 0]
    assert bool(weights.rake_converged[0])
    rows_group = group[weights.respondent]
    achieved = np.array([weights.weight[rows_group == 0].sum(), weights.weight[rows_group >= 1].sum()]) / n
    np.testing.assert_allclose(achieved, [0.5, 0.5], atol=1e-9)
    r = compute_indices(answers, params)
    assert "cells_collapsed" in r.flag_names(0) and "unweighted" not in r.flag_names(0)
    assert r.collapse(0) == {"group": {2: 1}, "channel": {1: 0}}


def test_rake_with_every_margin_down_to_one_cell_is_unweighted() -> None:
    answers = three_ratings()
    answers = Answers(answers.respondent, answers.unit, answers.question, answers.level,
                      {"group": answers.margins["group"], "channel": np.array([0, 1, 1])})
    r = compute_indices(answers, Params(method="rake", targets={"group": (0.3, 0.4, 0.3), "channel": (0.5, 0.5)}))
    assert "unweighted" in r.flag_names(0)
    assert r.index_se[0] == pytest.approx(np.std([100.0, 50.0, 25.0], ddof=1) / math.sqrt(3))


def test_results_do_not_depend_on_the_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from analysis import satisfaction

    answers = synthetic_answers(5, n_respondents=90, n_units=15, n_groups=5)
    params = Params(targets={"group": (0.3, 0.3, 0.2, 0.1, 0.1)}, collapse_into={"group": {4: 3}})
    whole = compute_indices(answers, params)
    monkeypatch.setattr(satisfaction, "BLOCK_ROWS", 13)
    blocked = compute_indices(answers, params)
    assert whole.has_flag("cells_collapsed").any()
    np.testing.assert_array_equal(whole.cells["group"].cell, blocked.cells["group"].cell)
    for name in ("index", "index_se", "satisfied_rate_se", "flags"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(blocked, name))


# ---- against R -----------------------------------------------------------------------------------


def describe(c: CellCollapse, i: int, labels: list[str]) -> str:
    return ";".join("+".join(labels[g] for g in cell) for cell in c.cells(i))


@pytest.fixture(scope="module")
def thin_responses():
    targets = read_targets(str(REFERENCE / "thin_cells_targets.json"))
    assert tuple(targets["group"]) == GROUPS
    text = (REFERENCE / "thin_cells_responses.csv").read_text(encoding="utf-8-sig")
    margins = {m: list(targets[m]) for m in ("group", "channel")}
    return parse_responses(text, "thin_cells_responses.csv", 5, margins), targets


def assert_matches(got: dict[str, dict[str, float]], expected_name: str) -> None:
    expected = read_csv(REFERENCE / expected_name)
    assert len(expected) == 10
    for row in expected:
        for column in COLUMNS:
            value = got[row["unit"]][column]
            if row[column] == "NA":
                assert value == "" or math.isnan(float(value)), (row["unit"], column)
            else:
                assert float(value) == pytest.approx(float(row[column]), rel=RTOL, abs=0), (row["unit"], column)


@pytest.mark.parametrize("expected_name", GOLDEN)
def test_library_matches_r_on_the_collapsed_groups(expected_name: str, thin_responses) -> None:
    responses, targets = thin_responses
    method, designations = GOLDEN[expected_name]
    into = DESIGNATED if designations else {}
    margins = ("group",) if method == "poststratify" else ("group", "channel")
    params = Params(method=method, targets={m: tuple(targets[m].values()) for m in margins},
                    collapse_into={"group": into})
    r = compute_indices(responses.answers, params, n_questions=len(responses.questions))
    got = {responses.units[u]: {c: float(getattr(r, c)[i]) for c in COLUMNS} for i, u in enumerate(r.units)}
    assert_matches(got, expected_name)
    for i, u in enumerate(r.units):
        row = next(x for x in read_csv(REFERENCE / expected_name) if x["unit"] == responses.units[u])
        cells = [r.cells[m] for m in margins]
        assert "|".join(describe(c, i, list(targets[c.margin])) for c in cells) == row["cells"], row["unit"]
        assert "|".join(str(c.n_cells[i]) for c in cells) == row["n_cells"]
        flags = set(r.flag_names(i))
        assert ("unweighted" in flags) is all(n == "1" for n in row["n_cells"].split("|")), row["unit"]
        assert ("cells_collapsed" in flags) is ("+" in row["cells"]), row["unit"]
        assert "singleton_cell" not in flags
        if row["n"] != "1":
            assert r.index_se[i] > 0


@pytest.mark.parametrize("expected_name", GOLDEN)
def test_cli_matches_r_on_the_collapsed_groups(expected_name: str, tmp_path, capsys) -> None:
    out = tmp_path / "out.csv"
    method, designations = GOLDEN[expected_name]
    options = ["--method", method, *(["--collapse", designations] if designations else [])]
    status = main(["indices", str(REFERENCE / "thin_cells_responses.csv"),
                   "--targets", str(REFERENCE / "thin_cells_targets.json"), "--min-cell-n", "5", *options,
                   "-o", str(out)])
    assert status == 0, capsys.readouterr().err
    rows = {row["unit"]: row for row in read_csv(out)}
    assert_matches(rows, expected_name)
    assert "unweighted" in rows["T07"]["flags"].split(";")
    assert rows["T06"]["index_se"] == ""


# ---- the command line ----------------------------------------------------------------------------


def run(tmp_path, *options: str) -> tuple[int, dict[str, dict[str, str]], str]:
    out = tmp_path / "out.csv"
    status = main(["indices", str(REFERENCE / "thin_cells_responses.csv"),
                   "--targets", str(REFERENCE / "thin_cells_targets.json"), *options, "-o", str(out)])
    rows = {row["unit"]: row for row in read_csv(out)} if status == 0 else {}
    return status, rows, ""


def test_cli_default_is_the_documented_minimum(tmp_path) -> None:
    _, default, _ = run(tmp_path)
    _, five, _ = run(tmp_path, "--min-cell-n", "5")
    assert default == five
    assert "cells_collapsed" in default["T02"]["flags"].split(";")


def test_cli_min_cell_n_1_reproduces_the_uncollapsed_design(tmp_path) -> None:
    _, rows, _ = run(tmp_path, "--min-cell-n", "1")
    assert "cells_collapsed" not in rows["T02"]["flags"]
    assert "singleton_cell" in rows["T02"]["flags"].split(";")
    assert "singleton_cell" in rows["T07"]["flags"].split(";") and float(rows["T07"]["index_se"]) < 1e-12


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--min-cell-n", "0"], "at least 1"),
        (["--min-cell-n", "x"], "at least 1"),
        (["--collapse", "政协委员"], "[MARGIN:]LEVEL=LEVEL"),
        (["--collapse", "group:政协委员=政协委员"], "two different levels"),
        (["--collapse", "group:政协委员=市民"], "'市民' has no target share in"),
        (["--collapse", "channel:网上=电话"], "'channel' is not a weighting margin"),
    ],
)
def test_cli_rejects_bad_collapse_options(options: list[str], message: str, tmp_path, capsys) -> None:
    try:
        status, _, _ = run(tmp_path, *options)
    except SystemExit as stop:  # argparse's own errors
        status = stop.code
    assert status == 2
    assert message in capsys.readouterr().err


def test_help_describes_the_rule(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["indices", "--help"])
    text = capsys.readouterr().out
    assert "--min-cell-n" in text and "--collapse" in text and "thin cells" in text
