"""Breakdowns and cross-tabs under raking (analysis/breakdowns.py) against R, to a relative 1e-6.

The golden files come from ``reference/make_breakdowns_rake.R``: R's ``survey`` with each unit raked on
group and channel (calibrate(calfun = "raking"), GREG linearisation) as a stratum of its own, the units
R could not rake (U003, U014, as expected_rake.csv) left out as the engine leaves them out of every
domain; domain totals summed over the units, the index a svycontrast of their ratios, 满意率 and the
cross-tab shares ratios of totals.
"""
from __future__ import annotations

import numpy as np
import pytest

from analysis import Params
from analysis.breakdowns import Prepared

from .conftest import REFERENCE, read_csv
from .test_breakdowns import close

RAKE_BREAKDOWN_FILES = ("make_breakdowns_rake.R", "breakdowns_rake_expected.csv", "crosstab_rake_expected.csv")


@pytest.fixture(scope="module")
def raked(reference_responses, targets) -> tuple[Prepared, list[str]]:
    params = Params(targets={"group": tuple(targets["group"].values()), "channel": tuple(targets["channel"].values())},
                    method="rake", min_cell_n=1)
    return Prepared(reference_responses.answers, params), reference_responses.units


def test_the_units_left_out_are_those_r_could_not_rake(raked) -> None:
    p, unit_labels = raked
    converged = p.weights.rake_converged
    assert sorted(unit_labels[u] for u, ok in zip(p.sample.units, converged, strict=True) if not ok) == ["U003", "U014"]


def test_raked_breakdowns_match_r(raked, targets) -> None:
    p, unit_labels = raked
    categories = {r["unit"]: r["category"] for r in read_csv(REFERENCE / "breakdowns_categories.csv")}
    names = sorted(set(categories.values()))
    per_unit = np.array([names.index(categories[unit_labels[u]]) for u in p.sample.units])
    labels = {"group": list(targets["group"]), "channel": list(targets["channel"]), "category": names}
    results = {
        "group": p.domains("group", *p.margin_codes("group")),
        "channel": p.domains("channel", *p.margin_codes("channel")),
        "category": p.domains("category", *p.unit_codes(per_unit)),
    }
    expected = read_csv(REFERENCE / "breakdowns_rake_expected.csv")
    assert len(expected) == 11
    for row in expected:
        r = results[row["by"]]
        d = labels[row["by"]].index(row["level"])
        assert r.n[d] == int(row["n"]), (row["by"], row["level"])
        for field in ("index", "index_se", "satisfied_rate", "satisfied_rate_se"):
            assert close(getattr(r, field)[d], row[field]), (row["by"], row["level"], field, getattr(r, field)[d])


def test_raked_crosstab_matches_r(raked, reference_responses, targets) -> None:
    p, _ = raked
    questions = reference_responses.questions
    labels = {"group": list(targets["group"]), "channel": list(targets["channel"])}
    tables = {}
    expected = read_csv(REFERENCE / "crosstab_rake_expected.csv")
    assert len(expected) == 80
    for row in expected:
        key = (row["question"], row["by"])
        if key not in tables:
            tables[key] = p.crosstab(questions.index(row["question"]), row["by"], *p.margin_codes(row["by"]))
        t = tables[key]
        d, level = labels[row["by"]].index(row["level"]), int(row["answer"])
        assert t.n[d] == int(row["n"]), row
        assert close(t.share[level - 1, d], row["share"]), (row, t.share[level - 1, d])
        assert close(t.se[level - 1, d], row["se"]), (row, t.se[level - 1, d])
