"""``python -m analysis indices`` as an analyst runs it: output, help and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import REFERENCE, read_csv, run_cli, run_cli_process

HEADER = "respondent_id,unit,group,channel,question,level\n"
GOOD_ROWS = "".join(
    f"R{r},U1,{g},网上,Q{q},{lv}\n"
    for r, g in ((1, "企业"), (2, "企业"), (3, "群众"), (4, "群众"))
    for q, lv in ((1, 4), (2, 5), (3, ""))
)
TARGETS = {"group": {"企业": 0.3, "群众": 0.7}, "channel": {"网上": 0.6, "电话": 0.4}}


def write(tmp_path: Path, responses: str, targets: str | None = None, encoding: str = "utf-8") -> tuple[str, str]:
    r = tmp_path / "responses.csv"
    r.write_bytes(responses.encode(encoding))
    t = tmp_path / "targets.json"
    t.write_text(json.dumps(TARGETS, ensure_ascii=False, indent=1) if targets is None else targets, encoding="utf-8")
    return str(r), str(t)


def test_help_explains_input_output_and_flags() -> None:
    done = run_cli("indices", "--help")
    assert done.returncode == 0
    for text in ("RESPONSES.csv", "TARGETS.json", "--method", "--scores", "--question-weights"):
        assert text in done.stdout
    for text in ("rake_not_converged", "examples"):
        assert text in done.stdout
    assert run_cli("--help").returncode == 0


def test_python_m_analysis_in_a_process_of_its_own(tmp_path: Path) -> None:
    """The one smoke test through a real ``python -m analysis``: the others call ``main`` in-process."""
    args = ("indices", str(REFERENCE / "responses.csv"), "--targets", str(REFERENCE / "targets.json"))
    done = run_cli_process(*args)
    assert done.returncode == 0, done.stderr
    assert done.stdout == run_cli(*args).stdout
    bad = run_cli_process("indices", str(tmp_path / "missing.csv"), "--targets", str(REFERENCE / "targets.json"))
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr == run_cli(*bad.args[3:]).stderr


def test_stdout_and_file_output_agree(tmp_path: Path) -> None:
    args = ("indices", str(REFERENCE / "responses.csv"), "--targets", str(REFERENCE / "targets.json"))
    to_stdout = run_cli(*args)
    assert to_stdout.returncode == 0, to_stdout.stderr
    out = tmp_path / "out.csv"
    assert run_cli(*args, "-o", str(out)).returncode == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert out.read_text(encoding="utf-8-sig") == to_stdout.stdout
    header = to_stdout.stdout.splitlines()[0].split(",")
    assert header[:7] == ["unit", "n", "n_eff", "index", "index_se", "satisfied_rate", "satisfied_rate_se"]
    assert header[-2:] == ["dont_know_rate", "flags"]


def test_bom_and_dont_know_spellings_are_accepted(tmp_path: Path) -> None:
    rows = GOOD_ROWS.replace("Q3,\n", "Q3,不了解\n", 1).replace("Q3,\n", "Q3,NA\n", 1)
    responses, targets = write(tmp_path, HEADER + rows, encoding="utf-8-sig")
    done = run_cli("indices", responses, "--targets", targets)
    assert done.returncode == 0, done.stderr
    (row,) = read_csv_text(done.stdout)
    assert row["unit"] == "U1" and row["n"] == "4"
    assert float(row["index"]) == pytest.approx(87.5)
    assert float(row["dont_know_rate"]) == pytest.approx(1 / 3)
    # two 企业 and two 群众: both cells are thin, so they pool and the unit is estimated unweighted
    assert set(row["flags"].split(";")) == {"small_n", "small_n_eff", "cells_collapsed", "unweighted"}


def read_csv_text(text: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


ROWS = HEADER + GOOD_ROWS
#: case -> (RESPONSES.csv text, TARGETS.json text or None for the default, options, start of the error message)
BAD_INPUTS = {
    "unknown level": (
        HEADER + GOOD_ROWS.replace("R2,U1,企业,网上,Q1,4", "R2,U1,企业,网上,Q1,x"),
        None,
        [],
        "responses.csv:5: column 'level': unknown level 'x' (expected 1-5 or empty)",
    ),
    "level above the scale": (
        HEADER + GOOD_ROWS.replace("Q2,5", "Q2,6", 1), None, [], "responses.csv:3: column 'level': unknown level '6'"
    ),
    "missing column": (
        HEADER.replace("group,", "") + "R1,U1,网上,Q1,4\n", None, [], "responses.csv:1: missing column 'group'"
    ),
    "wrong field count": (ROWS + "R9,U1,企业,网上,Q1\n", None, [], "responses.csv:14: expected 6 fields, found 5"),
    "empty unit": (ROWS + "R9,,企业,网上,Q1,3\n", None, [], "responses.csv:14: column 'unit': empty"),
    "group without target": (
        ROWS + "R9,U1,外宾,网上,Q1,3\n", None, [], "responses.csv:14: column 'group': '外宾' has no target share"
    ),
    "answered twice": (
        ROWS + "R1,U1,企业,网上,Q2,3\n",
        None,
        [],
        "responses.csv:14: respondent 'R1' answered 'Q2' of unit 'U1' again (first on line 3)",
    ),
    "group changes": (
        ROWS + "R1,U1,群众,网上,Q4,3\n", None, [], "responses.csv:14: column 'group': '群众' differs from '企业' on line 2"
    ),
    "no data": (HEADER, None, [], "responses.csv:2: no data rows"),
    "non-positive share": (
        ROWS,
        '{\n "group": {\n  "企业": -0.3,\n  "群众": 0.7\n }\n}',
        [],
        "targets.json:3:9: 'group' share of '企业' must be a positive number, got -0.3",
    ),
    "share not a number": (
        ROWS,
        '{"group": {"企业": "30%", "群众": 0.7}}',
        [],
        "targets.json:1:18: 'group' share of '企业' must be a positive number",
    ),
    "malformed json": (ROWS, '{\n "group": {"企业": 0.3,, "群众": 0.7}\n}', [], "targets.json:2:22: malformed JSON"),
    "no group targets": (ROWS, '{"channel": {"网上": 1}}', [], 'targets.json:1:1: no "group" shares'),
    "nothing to rake on": (
        ROWS, '{"region": {"东": 1}}', ["--method", "rake"], "targets.json:1:1: no key names a column"
    ),
    "unknown question weight": (
        ROWS, None, ["--question-weights", "Q9=2"], "--question-weights: no question 'Q9'"
    ),
    "all question weights zero": (
        ROWS, None, ["--question-weights", "Q1=0,Q2=0,Q3=0"], "invalid options: question_weights must be"
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_names_file_line_and_column(case: str, tmp_path: Path) -> None:
    rows, targets, options, message = BAD_INPUTS[case]
    responses, targets_path = write(tmp_path, rows, targets)
    done = run_cli("indices", responses, "--targets", targets_path, *options)
    assert done.returncode == 2
    assert done.stdout == ""
    for name in ("responses.csv", "targets.json"):
        if message.startswith(name):
            message = str(tmp_path / name) + message[len(name) :]
    assert done.stderr.startswith(message), done.stderr


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    responses, targets = write(tmp_path, HEADER + GOOD_ROWS, encoding="gbk")
    done = run_cli("indices", responses, "--targets", targets)
    assert done.returncode == 2
    assert done.stderr.startswith(f"{responses}:2:")
    assert "not UTF-8" in done.stderr


def test_unreadable_file(tmp_path: Path) -> None:
    done = run_cli("indices", str(tmp_path / "missing.csv"), "--targets", str(REFERENCE / "targets.json"))
    assert done.returncode == 2
    assert done.stderr.startswith(f"{tmp_path / 'missing.csv'}: cannot read: No such file")


@pytest.mark.parametrize("option", [["--scores", "0,25,x"], ["--question-weights", "Q1"], ["--method", "mean"]])
def test_bad_options_are_usage_errors(option: list[str], tmp_path: Path) -> None:
    responses, targets = write(tmp_path, HEADER + GOOD_ROWS)
    done = run_cli("indices", responses, "--targets", targets, *option)
    assert done.returncode == 2
    assert option[0] in done.stderr


def test_other_scores_define_the_number_of_levels(tmp_path: Path) -> None:
    rows = "".join(f"R{r},U1,{g},网上,Q{q},{lv}\n" for r, g in ((1, "企业"), (2, "群众")) for q, lv in ((1, 3), (2, 2)))
    responses, targets = write(tmp_path, HEADER + rows)
    done = run_cli("indices", responses, "--targets", targets, "--scores", "0,50,100")
    assert done.returncode == 0, done.stderr
    (row,) = read_csv_text(done.stdout)
    assert float(row["index"]) == pytest.approx(75.0)
    assert float(row["satisfied_rate"]) == pytest.approx(0.5)
    bad = run_cli("indices", write(tmp_path, HEADER + GOOD_ROWS)[0], "--targets", targets, "--scores", "0,50,100")
    assert bad.returncode == 2 and "unknown level '4' (expected 1-3 or empty)" in bad.stderr


def test_reference_rake_output_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "rake.csv"
    done = run_cli(
        "indices", str(REFERENCE / "responses.csv"), "--targets", str(REFERENCE / "targets.json"),
        "--method", "rake", "--question-weights", "Q1=2,Q3=0.5", "-o", str(out),
    )
    assert done.returncode == 0, done.stderr
    rows = read_csv(out)
    assert len(rows) == 14
    converged = [r for r in rows if "rake_not_converged" not in r["flags"]]
    assert all(float(r["index_ci_low"]) < float(r["index"]) < float(r["index_ci_high"]) for r in converged)


# ---- --params PARAMS.json (the params.json export) ------------------------------------------------

PARAMS_FILE = {
    "format": "pingyi-params/1",
    "params": {"method": "poststratify", "scores": [20, 40, 60, 80, 100], "question_weights": [2.0, 1.0, 1.0],
               "targets": {"group": [0.3, 0.7]}, "min_cell_n": 1},
    "labels": {"group": ["企业", "群众"], "question": ["Q1", "Q2", "Q3"]},
    "ranking": {"seed": 1, "draws": 10},
}


def test_params_file_gives_the_same_result_as_the_options(tmp_path: Path) -> None:
    responses, targets = write(tmp_path, HEADER + GOOD_ROWS)
    (tmp_path / "params.json").write_text(json.dumps(PARAMS_FILE, ensure_ascii=False), encoding="utf-8")
    with_params = run_cli("indices", responses, "--params", str(tmp_path / "params.json"))
    assert with_params.returncode == 0, with_params.stderr
    options = run_cli("indices", responses, "--targets", targets, "--scores", "20,40,60,80,100",
                      "--question-weights", "Q1=2", "--min-cell-n", "1")
    assert options.returncode == 0, options.stderr
    assert with_params.stdout == options.stdout
    assert read_csv_text(with_params.stdout)[0]["index"] != ""
    # the question order comes from labels.question, not from the order of the rows
    reordered = HEADER + "".join(sorted(GOOD_ROWS.splitlines(keepends=True), key=lambda r: r.split(",")[4], reverse=True))
    (tmp_path / "reordered.csv").write_text(reordered, encoding="utf-8")
    again = run_cli("indices", str(tmp_path / "reordered.csv"), "--params", str(tmp_path / "params.json"))
    assert read_csv_text(again.stdout)[0]["index"] == read_csv_text(options.stdout)[0]["index"]


@pytest.mark.parametrize("option", [["--targets", "t.json"], ["--scores", "1,2,3"], ["--min-cell-n", "3"],
                                    ["--method", "rake"], ["--question-weights", "Q1=2"], ["--collapse", "a=b"]])
def test_params_file_conflicts_with_explicit_options(option: list[str], tmp_path: Path) -> None:
    responses, _targets = write(tmp_path, HEADER + GOOD_ROWS)
    (tmp_path / "params.json").write_text(json.dumps(PARAMS_FILE, ensure_ascii=False), encoding="utf-8")
    done = run_cli("indices", responses, "--params", str(tmp_path / "params.json"), *option)
    assert done.returncode == 2 and done.stdout == ""
    assert f"{option[0]} conflicts with --params" in done.stderr


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("labels"), 'expected an object with "params" and "labels"'),
    (lambda d: d["params"].update(scores=[1]), "params: scores: need a score"),
    (lambda d: d["params"].update(colour=1), "unknown parameter(s): ['colour']"),
    (lambda d: d["labels"].update(group=["企业"]), "labels.group must name each of the 2 levels"),
    (lambda d: d["labels"].update(question=["Q1", "Q2"]), "labels.question has 2 questions"),
    (lambda d: d["labels"].update(question=["Q1", "Q2", "Q4"]), "'Q3' is not one of the parameters' questions"),
])
def test_bad_params_file_is_a_clear_input_error(change, message: str, tmp_path: Path) -> None:
    responses, _targets = write(tmp_path, HEADER + GOOD_ROWS)
    data = json.loads(json.dumps(PARAMS_FILE))
    change(data)
    (tmp_path / "params.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    done = run_cli("indices", responses, "--params", str(tmp_path / "params.json"))
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_targets_or_params_is_required(tmp_path: Path) -> None:
    responses, _targets = write(tmp_path, HEADER + GOOD_ROWS)
    done = run_cli("indices", responses)
    assert done.returncode == 2 and "--targets TARGETS.json is required (or --params PARAMS.json)" in done.stderr
