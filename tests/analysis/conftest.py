"""Fixtures for the analysis engine's tests: the R reference files and small synthetic samples.

``reference/`` is a copy of ``../shared/reference`` (R 4.2, survey 4.1.1) so that
the suite runs from any clone; ``test_golden.py`` checks the copy is current
when the shared folder is present.
"""

from __future__ import annotations

import contextlib
import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis import Answers
from analysis.cli import Responses, main, parse_responses, read_targets

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "reference"
SHARED_REFERENCE = HERE.parents[2] / "shared" / "reference"
REPO = HERE.parents[1]


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts (UTF-8, BOM allowed)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m analysis ARGS`` as an analyst runs it, but in this process (a new Python with numpy
    costs ~0.5 s): ``main(argv)`` with stdout and stderr captured, the exit status from its return
    value or from argparse's exit, and the text read back as ``subprocess.run(text=True)`` would."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd or REPO), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(args))
        except SystemExit as done:
            status = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return subprocess.CompletedProcess(["python", "-m", "analysis", *args], status,
                                       _universal_newlines(out.getvalue()), _universal_newlines(err.getvalue()))


def _universal_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def run_cli_process(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m analysis ARGS`` in a subprocess, as an analyst runs it."""
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="session")
def targets() -> dict[str, dict[str, float]]:
    return read_targets(str(REFERENCE / "targets.json"))


@pytest.fixture(scope="session")
def reference_responses(targets: dict[str, dict[str, float]]) -> Responses:
    """responses.csv coded with group and channel margins in targets.json order."""
    text = (REFERENCE / "responses.csv").read_text(encoding="utf-8-sig")
    return parse_responses(text, "responses.csv", 5, {m: list(targets[m]) for m in ("group", "channel")})


def synthetic_answers(
    seed: int,
    n_respondents: int = 400,
    n_units: int = 6,
    n_questions: int = 4,
    n_groups: int = 3,
    n_channels: int = 2,
    dont_know: float = 0.1,
) -> Answers:
    """Random answers: every respondent rates 1-3 units on every question; some 不了解."""
    rng = np.random.default_rng(seed)
    per_respondent = rng.integers(1, 4, n_respondents)
    respondent = np.repeat(np.arange(n_respondents), per_respondent)
    offset = np.concatenate([rng.permutation(n_units)[:k] for k in per_respondent])
    group = rng.integers(0, n_groups, n_respondents)[respondent]
    channel = rng.integers(0, n_channels, n_respondents)[respondent]
    rows = respondent.size
    level = rng.integers(1, 6, rows * n_questions).astype(np.float64)
    level[rng.random(level.size) < dont_know] = np.nan
    return Answers(
        respondent=np.repeat(respondent, n_questions).astype(np.int64),
        unit=np.repeat(offset, n_questions),
        question=np.tile(np.arange(n_questions), rows),
        level=level,
        margins={"group": np.repeat(group, n_questions), "channel": np.repeat(channel, n_questions)},
    )
