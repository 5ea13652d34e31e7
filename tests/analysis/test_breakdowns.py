"""Breakdowns (analysis/breakdowns.py) against R: domain estimation over the pooled units.

The golden files come from ``reference/make_breakdowns.R`` (R's ``survey``: svydesign with one stratum per
unit, postStratify on the unit × group cells, svyby / svytotal + svycontrast for the index, svyratio for
满意率, svyby(svymean) on the answered subset for the cross-tab).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import Answers, Params
from analysis.breakdowns import Prepared, compute_breakdowns

from .conftest import REFERENCE, read_csv, synthetic_answers

RTOL = 1e-6
BREAKDOWN_FILES = ("make_breakdowns.R", "breakdowns_categories.csv", "breakdowns_expected.csv", "crosstab_expected.csv")


def close(actual: float, expected: str) -> bool:
    if expected == "NA":
        return math.isnan(actual)
    return math.isclose(actual, float(expected), rel_tol=RTOL, abs_tol=1e-12)


@pytest.fixture(scope="module")
def prepared(reference_responses, targets) -> tuple[Prepared, list[str]]:
    params = Params(targets={"group": tuple(targets["group"].values())}, min_cell_n=1)
    return Prepared(reference_responses.answers, params), reference_responses.units


def test_breakdowns_match_r(prepared, reference_responses, targets) -> None:
    p, unit_labels = prepared
    categories = {r["unit"]: r["category"] for r in read_csv(REFERENCE / "breakdowns_categories.csv")}
    names = sorted(set(categories.values()))
    per_unit = np.array([names.index(categories[unit_labels[u]]) for u in p.sample.units])
    labels = {"group": list(targets["group"]), "channel": list(targets["channel"]), "category": names}
    results = {
        "group": p.domains("group", *p.margin_codes("group")),
        "channel": p.domains("channel", *p.margin_codes("channel")),
        "category": p.domains("category", *p.unit_codes(per_unit)),
    }
    expected = read_csv(REFERENCE / "breakdowns_expected.csv")
    assert len(expected) == 11
    for row in expected:
        r = results[row["by"]]
        d = labels[row["by"]].index(row["level"])
        assert r.n[d] == int(row["n"])
        for field, column in (("index", "index"), ("index_se", "index_se"), ("satisfied_rate", "satisfied_rate"),
                              ("satisfied_rate_se", "satisfied_rate_se")):
            assert close(getattr(r, field)[d], row[column]), (row["by"], row["level"], field)


def test_crosstab_matches_r(prepared, reference_responses, targets) -> None:
    p, _ = prepared
    questions = reference_responses.questions
    labels = {"group": list(targets["group"]), "channel": list(targets["channel"])}
    tables = {}
    expected = read_csv(REFERENCE / "crosstab_expected.csv")
    assert len(expected) == 80
    for row in expected:
        key = (row["question"], row["by"])
        if key not in tables:
            tables[key] = p.crosstab(questions.index(row["question"]), row["by"], *p.margin_codes(row["by"]))
        t = tables[key]
        d, level = labels[row["by"]].index(row["level"]), int(row["answer"])
        assert t.n[d] == int(row["n"])
        assert close(t.share[level - 1, d], row["share"]), row
        assert close(t.se[level - 1, d], row["se"]), row
    for t in tables.values():
        assert np.allclose(t.share.sum(axis=0), 1.0)


def test_one_domain_equals_the_unit_when_there_is_one_unit() -> None:
    """A single unit broken down by nothing but itself: the domain is the unit, so its figures are the unit's."""
    from analysis import compute_indices

    full = synthetic_answers(7)
    keep = full.unit == 0
    answers = Answers(full.respondent[keep], full.unit[keep], full.question[keep], full.level[keep],
                      {k: v[keep] for k, v in full.margins.items()})
    params = Params(targets={"group": (0.5, 0.3, 0.2)})
    unit = compute_indices(answers, params)
    whole = compute_breakdowns(answers, params, margins=(), unit_domains={"all": np.array([0])})["all"]
    assert whole.index[0] == pytest.approx(unit.index[0], rel=1e-12)
    assert whole.index_se[0] == pytest.approx(unit.index_se[0], rel=1e-9)
    assert whole.satisfied_rate_se[0] == pytest.approx(unit.satisfied_rate_se[0], rel=1e-9)


def test_singleton_domain_has_no_se_and_small_domains_are_flagged() -> None:
    answers = Answers(
        respondent=np.array([1, 2, 3, 4]), unit=np.array([0, 0, 0, 0]), question=np.array([0, 0, 0, 0]),
        level=np.array([5.0, 4.0, 2.0, 3.0]), margins={"group": np.array([0, 0, 0, 1]),
                                                      "channel": np.array([0, 0, 1, 1])},
    )
    params = Params(targets={"group": (0.5, 0.5)}, min_cell_n=1)
    out = compute_breakdowns(answers, params)
    channel = out["channel"]
    assert channel.n.tolist() == [2, 2]
    assert np.isfinite(channel.index_se).all()
    group = out["group"]
    assert group.n.tolist() == [3, 1]
    assert group.index[1] == 50.0 and math.isnan(group.index_se[1]) and math.isnan(group.satisfied_rate_se[1])
    assert group.small_n.all()
    tab = Prepared(answers, params).crosstab(0, "group", *Prepared(answers, params).margin_codes("group"))
    assert math.isnan(tab.se[2, 1]) and tab.share[2, 1] == 1.0


def test_bad_inputs_are_clear() -> None:
    answers = synthetic_answers(3)
    p = Prepared(answers, Params(targets={"group": (0.5, 0.3, 0.2)}))
    with pytest.raises(ValueError, match="margin"):
        p.margin_codes("age")
    with pytest.raises(ValueError, match="question"):
        p.crosstab(99, "group", *p.margin_codes("group"))
    with pytest.raises(ValueError, match="one code per unit"):
        p.unit_codes(np.array([0]))


@pytest.mark.parametrize("method", ["poststratify", "rake"])
def test_the_one_pass_variance_equals_the_general_one(monkeypatch, method) -> None:
    """Post-stratified units take one-pass formulas (the cross-tab shares: four weighted counts for every
    category at once); they must give what residualising every domain's variable gives."""
    answers = synthetic_answers(11, n_units=5)
    targets = {"group": (0.5, 0.3, 0.2)} | ({"channel": (0.6, 0.4)} if method == "rake" else {})
    params = Params(targets=targets, method=method, min_cell_n=1)
    p = Prepared(answers, params)
    fast_domains = p.domains("channel", *p.margin_codes("channel"))
    fast_table = p.crosstab(1, "group", *p.margin_codes("group"))
    level = p.sample.level[2].astype(np.int64)
    fast_two = p.shares(2, "channel", *p.margin_codes("channel"), np.where(level >= 4, 1, np.where(level > 0, 2, 0)), 2)
    monkeypatch.setattr(Prepared, "_domain_variances", Prepared._general_variances)
    monkeypatch.setattr(Prepared, "_poststratified_shares", lambda self, *args: None)
    slow_domains = p.domains("channel", *p.margin_codes("channel"))
    slow_table = p.crosstab(1, "group", *p.margin_codes("group"))
    slow_two = p.shares(2, "channel", *p.margin_codes("channel"), np.where(level >= 4, 1, np.where(level > 0, 2, 0)), 2)
    np.testing.assert_allclose(fast_table.share, slow_table.share, rtol=1e-12)
    np.testing.assert_allclose(fast_two.share, slow_two.share, rtol=1e-12)
    np.testing.assert_allclose(fast_two.se, slow_two.se, rtol=1e-9)
    assert fast_two.share.shape == (2, 2) and np.isfinite(fast_two.se).all()
    np.testing.assert_allclose(fast_domains.index_se, slow_domains.index_se, rtol=1e-9)
    np.testing.assert_allclose(fast_domains.satisfied_rate_se, slow_domains.satisfied_rate_se, rtol=1e-9)
    np.testing.assert_allclose(fast_table.se, slow_table.se, rtol=1e-9)
    assert np.isfinite(fast_domains.index_se).all() and np.isfinite(fast_table.se).all()


def test_one_domain_holding_one_raked_unit_is_that_unit() -> None:
    from analysis import compute_indices

    full = synthetic_answers(5)
    keep = full.unit == 2
    answers = Answers(full.respondent[keep], full.unit[keep], full.question[keep], full.level[keep],
                      {k: v[keep] for k, v in full.margins.items()})
    params = Params(targets={"group": (0.5, 0.3, 0.2), "channel": (0.6, 0.4)}, method="rake")
    unit = compute_indices(answers, params)
    assert unit.rake_converged[0]
    whole = compute_breakdowns(answers, params, margins=(), unit_domains={"all": np.array([0])})["all"]
    assert whole.index[0] == pytest.approx(unit.index[0], rel=1e-12)
    assert whole.index_se[0] == pytest.approx(unit.index_se[0], rel=1e-9)
    assert whole.satisfied_rate_se[0] == pytest.approx(unit.satisfied_rate_se[0], rel=1e-9)


def test_no_answers_at_all_gives_empty_domains_not_an_error() -> None:
    answers = synthetic_answers(3)
    empty = Answers(answers.respondent[:0], answers.unit[:0], answers.question[:0], answers.level[:0],
                    {k: v[:0] for k, v in answers.margins.items()})
    params = Params(targets={"group": (0.5, 0.3, 0.2)})
    p = Prepared(empty, params, units=np.array([0, 1]), n_questions=4)
    out = p.domains("group", *p.margin_codes("group"))
    assert out.n.tolist() == [0, 0, 0] and np.isnan(out.index).all() and np.isnan(out.index_se).all()
    tab = p.crosstab(0, "group", *p.margin_codes("group"))
    assert np.isnan(tab.share).all() and np.isnan(tab.se).all()
    # a domain present in some units only, and a unit with only 不了解
    level = answers.level.copy()
    level[answers.unit == 0] = np.nan
    p = Prepared(Answers(answers.respondent, answers.unit, answers.question, level, answers.margins), params)
    out = p.domains("unit", *p.unit_codes(np.array([0, 1, 1, 1, 1, 1])))
    assert np.isnan(out.index[0]) and np.isnan(out.index_se[0]) and out.n[0] > 0 and np.isfinite(out.index_se[1])


def test_domain_sums_from_fine_cells_equal_the_rows(monkeypatch) -> None:
    """The domains' weighted sums are added up from sums per fine cell (unit × margin levels) when the domain
    is constant within a cell (a margin, a unit-level category); the same figures as summing every row."""
    answers = synthetic_answers(5, n_units=6)
    params = Params(targets={"group": (0.5, 0.3, 0.2)}, min_cell_n=1)
    p = Prepared(answers, params)
    category = np.array([0, 1, 0, 2, -1, 1])
    fast = [p.domains("channel", *p.margin_codes("channel")), p.domains("category", *p.unit_codes(category))]
    assert p._fine() is not None
    monkeypatch.setattr(Prepared, "_fine", lambda self: None)
    slow = [p.domains("channel", *p.margin_codes("channel")), p.domains("category", *p.unit_codes(category))]
    for f, s in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(f.n, s.n)
        for name in ("index", "satisfied_rate", "index_se", "satisfied_rate_se"):
            np.testing.assert_allclose(getattr(f, name), getattr(s, name), rtol=1e-12)
        assert np.isfinite(f.index_se).all()
    # codes that vary within a fine cell (here: by respondent) are summed row by row
    monkeypatch.undo()
    odd = (p.sample.respondent % 2).astype(np.int64)
    assert p._fine_domain_sums(p._domain_codes(odd, 2), 2) is None
    assert np.isfinite(p.domains("odd", odd, 2).index).all()
