"""The satisfaction layer: hand-checked estimates, flags, structure and reproducibility."""

from __future__ import annotations

import json
import math
from dataclasses import fields

import numpy as np
import pytest

from analysis import FLAGS, Answers, Params, compute_indices, compute_weights, satisfaction

from .conftest import synthetic_answers

NAN = np.nan
# Four respondents of one unit, two groups, two questions; respondent 4 said 不了解 to question 2.
SMALL = Answers(
    respondent=np.array([1, 1, 2, 2, 3, 3, 4, 4]),
    unit=np.array([9, 9, 9, 9, 9, 9, 9, 9]),
    question=np.array([0, 1, 0, 1, 0, 1, 0, 1]),
    level=np.array([5, 4, 3, 2, 1, 5, 4, NAN]),
    margins={"group": np.array([0, 0, 0, 0, 1, 1, 1, 1])},
)


def test_small_sample_by_hand() -> None:
    # Two respondents a group: cells of 2 are kept when min_cell_n is 2 (the default 5 would pool them).
    params = Params(targets={"group": (0.25, 0.75)}, question_weights=(2.0, 1.0), min_cell_n=2)
    r = compute_indices(SMALL, params)
    w = np.array([0.5, 0.5, 1.5, 1.5])  # P_g n / n_g
    y = np.array([[100, 75], [50, 25], [0, 100], [75, 0]], dtype=float)
    x = np.array([[1, 1], [1, 1], [1, 1], [1, 0]], dtype=float)
    s = np.array([[1, 1], [1, 0], [0, 1], [1, 0]], dtype=float)
    wx = w @ x
    means = (w @ y) / wx
    index = (2 * means[0] + means[1]) / 3
    rate = (w @ s.sum(axis=1)) / (w @ x.sum(axis=1))
    z = ((2 / 3) * (y[:, 0] - means[0] * x[:, 0]) / wx[0] + (1 / 3) * (y[:, 1] - means[1] * x[:, 1]) / wx[1])
    group = np.array([0, 0, 1, 1])
    e = z - np.array([z[group == g].mean() for g in group])
    u = w * e
    se = math.sqrt(4 / 3 * np.sum((u - u.mean()) ** 2))
    assert r.units.tolist() == [9]
    assert r.n[0] == 4
    assert r.n_eff[0] == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert r.index[0] == pytest.approx(index)
    assert r.index_se[0] == pytest.approx(se)
    assert r.satisfied_rate[0] == pytest.approx(rate)
    np.testing.assert_allclose(r.questions.mean[0], means)
    np.testing.assert_allclose(r.questions.satisfied_share[0], (w @ s) / wx)
    np.testing.assert_allclose(r.questions.dont_know_rate[0], [0.0, 1.5 / 4])
    assert r.dont_know_rate[0] == pytest.approx(1.5 / 8)
    np.testing.assert_array_equal(r.questions.n_answered[0], [4, 3])
    # the logit interval on index / 100 (analysis.ci.bounded_ci)
    half = 1.959963984540054 * (se / 100) / (index / 100 * (1 - index / 100))
    logit = math.log(index / (100 - index))
    assert r.index_ci_low[0] == pytest.approx(100 / (1 + math.exp(-(logit - half))))
    assert r.index_ci_high[0] == pytest.approx(100 / (1 + math.exp(-(logit + half))))
    assert set(r.flag_names(0)) == {"small_n", "small_n_eff"} | ({"high_rse"} if se / index > 0.3 else set())


def test_group_breakdown_uses_design_weights() -> None:
    r = compute_indices(SMALL, Params(targets={"group": (0.25, 0.75)}))
    g = r.groups
    assert g is not None and g.margin == "group"
    np.testing.assert_array_equal(g.n, [[2, 2]])
    np.testing.assert_allclose(g.index, [[(75 + 50) / 2, (37.5 + 100) / 2]])
    np.testing.assert_allclose(g.satisfied_rate, [[3 / 4, 2 / 3]])
    np.testing.assert_allclose(g.target_share, [[0.25, 0.75]])


def test_missing_group_is_flagged_and_its_share_redistributed() -> None:
    params = Params(targets={"group": (0.2, 0.3, 0.5)}, min_cell_n=2)
    r = compute_indices(SMALL, params)
    assert "group_missing" in r.flag_names(0)
    assert r.missing_groups(0).tolist() == [2]
    np.testing.assert_allclose(r.groups.target_share[0, :2], [0.4, 0.6])
    assert np.isnan(r.groups.target_share[0, 2])
    weights = compute_weights(SMALL, params)
    np.testing.assert_allclose(weights.weight, [0.8, 0.8, 1.2, 1.2])


def test_one_respondent_gives_point_estimates_only() -> None:
    one = Answers(np.array([1, 1]), np.array([0, 0]), np.array([0, 1]), np.array([4, 5]), {"group": np.array([0, 0])})
    r = compute_indices(one, Params(targets={"group": (1.0,)}))
    assert r.index[0] == pytest.approx(87.5)
    assert np.isnan(r.index_se[0]) and np.isnan(r.satisfied_rate_se[0]) and np.isnan(r.index_ci_low[0])
    assert "n_lt_2" in r.flag_names(0)
    assert np.all(np.isnan(r.questions.mean_se))


def test_listed_unit_without_records_keeps_its_row() -> None:
    r = compute_indices(SMALL, Params(targets={"group": (0.5, 0.5)}), units=np.array([3, 9]))
    assert r.units.tolist() == [3, 9]
    assert r.n.tolist() == [0, 4]
    assert np.isnan(r.index[0]) and np.isnan(r.n_eff[0])
    assert r.flag_names(0)[:1] == ["no_responses"]
    assert not np.isnan(r.index[1])


def test_all_dont_know_is_item_nonresponse_not_a_low_score() -> None:
    respondent, question, level = np.array([1, 1, 2, 2]), np.array([0, 1, 0, 1]), np.array([0, 0, 0, NAN])
    answers = Answers(respondent, np.zeros(4, int), question, level, {"group": np.zeros(4, int)})
    r = compute_indices(answers, Params(targets={"group": (1.0,)}))
    assert np.isnan(r.index[0]) and np.isnan(r.satisfied_rate[0])
    assert r.dont_know_rate[0] == 1.0
    assert {"no_answers", "dont_know_high"} <= set(r.flag_names(0))


def test_question_weights_weight_the_question_means() -> None:
    answers = synthetic_answers(3)
    params = Params(targets={"group": (0.5, 0.3, 0.2)}, question_weights=(3.0, 1.0, 0.0, 2.0))
    r = compute_indices(answers, params)
    expected = (r.questions.mean @ np.array([3.0, 1.0, 0.0, 2.0])) / 6.0
    np.testing.assert_allclose(r.index, expected, rtol=1e-12)


def test_shares_carry_both_intervals_around_the_estimate() -> None:
    r = compute_indices(synthetic_answers(4), Params(targets={"group": (0.5, 0.3, 0.2)}))
    q = r.questions
    assert np.all((q.kg_low <= q.satisfied_share) & (q.satisfied_share <= q.kg_high))
    assert np.all((q.wilson_low >= 0) & (q.wilson_high <= 1) & (q.wilson_low <= q.wilson_high))
    assert np.all(q.kg_high - q.kg_low >= q.wilson_high - q.wilson_low - 1e-12)
    assert np.all((r.satisfied_rate_ci_low <= r.satisfied_rate) & (r.satisfied_rate <= r.satisfied_rate_ci_high))
    wilson = compute_indices(synthetic_answers(4), Params(targets={"group": (0.5, 0.3, 0.2)}, share_ci="wilson"))
    assert not np.array_equal(wilson.satisfied_rate_ci_low, r.satisfied_rate_ci_low)


def test_trimming_caps_and_redistributes() -> None:
    answers = synthetic_answers(5, n_respondents=600)
    params = Params(targets={"group": (0.5, 0.3, 0.2), "channel": (0.6, 0.4)}, method="rake", trim_k=1.5)
    weights = compute_weights(answers, params)
    untrimmed = compute_weights(answers, Params(targets=params.targets, method="rake"))
    assert weights.trim_feasible.all() and weights.trimmed.sum() > 0
    for u in range(weights.units.size):
        rows = weights.unit == u
        assert weights.weight[rows].sum() == pytest.approx(rows.sum())
        cap = 1.5 * np.median(untrimmed.weight[untrimmed.unit == u])
        assert weights.weight[rows].max() <= cap * (1 + 1e-12)
        assert np.sum(np.isclose(weights.weight[rows], cap, rtol=1e-12)) == weights.trimmed[u]
    r = compute_indices(answers, params)
    assert np.array_equal(r.trimmed, weights.trimmed)


def test_impossible_trimming_is_flagged_and_left_untrimmed() -> None:
    params = Params(targets={"group": (0.25, 0.75)}, trim_upper=0.9)
    r = compute_indices(SMALL, params)
    assert "trim_infeasible" in r.flag_names(0)
    assert r.trimmed[0] == 0


def test_params_round_trip_reproduces_results_bit_for_bit() -> None:
    answers = synthetic_answers(6)
    params = Params(
        method="rake",
        scores=(20, 40, 60, 80, 100),
        question_weights=(2.0, 1.0, 0.5, 1.0),
        targets={"group": (0.3, 0.4, 0.3), "channel": (0.6, 0.4)},
        trim_k=2.5,
        confidence=0.9,
        min_n=10,
    )
    stored = json.dumps(params.to_dict())
    again = Params.from_dict(json.loads(stored))
    assert again == params
    a, b = compute_indices(answers, params), compute_indices(answers, again)
    assert_bitwise_equal(a, b)


def assert_bitwise_equal(a: satisfaction.IndexResults, b: satisfaction.IndexResults) -> None:
    for f in fields(a):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype and np.array_equal(va, vb, equal_nan=va.dtype.kind == "f"), f.name
        elif isinstance(va, (satisfaction.QuestionResults, satisfaction.GroupResults)):
            for g in fields(va):
                x, y = getattr(va, g.name), getattr(vb, g.name)
                if isinstance(x, np.ndarray):
                    assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), (f.name, g.name)


def test_results_do_not_depend_on_the_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = synthetic_answers(7, n_respondents=500, n_units=9)
    for method in ("poststratify", "rake"):
        params = Params(method=method, targets={"group": (0.3, 0.4, 0.3), "channel": (0.6, 0.4)})
        whole = compute_indices(answers, params)
        monkeypatch.setattr(satisfaction, "BLOCK_ROWS", 17)
        blocked = compute_indices(answers, params)
        monkeypatch.undo()
        assert_bitwise_equal(whole, blocked)


def test_row_gives_plain_values() -> None:
    r = compute_indices(SMALL, Params(targets={"group": (0.25, 0.75)}))
    row = r.row(0)
    assert row["unit"] == 9 and isinstance(row["n"], int) and isinstance(row["index"], float)
    assert set(row) == {"unit", "flags", *satisfaction.UNIT_FIELDS}
    assert set(row["flags"]) <= set(FLAGS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"respondent": np.array([1, 1, 1, 2, 3, 3, 4, 4])}, "more than once"),
        ({"margins": {"group": np.array([0, 1, 0, 0, 1, 1, 1, 1])}}, "differs between records"),
        ({"level": np.array([5, 4, 3, 2, 1, 6, 4, NAN])}, "level must be"),
        ({"level": np.array([5, 4, 3, 2.5, 1, 5, 4, NAN])}, "level must be"),
        ({"question": np.array([0, 1, 0, 1, 0, 1, 0, -1])}, "non-negative"),
        ({"margins": {"group": np.array([0, 0, 0, 0, 2, 2, 2, 2])}}, "no target share"),
        ({"unit": np.array([9, 9, 9])}, "one value per record"),
    ],
)
def test_bad_records_are_rejected(change: dict, message: str) -> None:
    fields_ = {f.name: getattr(SMALL, f.name) for f in fields(SMALL)} | change
    with pytest.raises(ValueError, match=message):
        compute_indices(Answers(**fields_), Params(targets={"group": (0.25, 0.75)}))


def test_units_not_listed_are_rejected() -> None:
    with pytest.raises(ValueError, match="not listed"):
        compute_indices(SMALL, Params(targets={"group": (0.5, 0.5)}), units=np.array([1, 2]))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"method": "mean"}, "method must be"),
        ({"targets": {}}, "poststratify needs"),
        ({"targets": {"group": (0.5, -0.5)}}, "positive"),
        ({"scores": (1.0,)}, "at least two"),
        ({"question_weights": (0.0, 0.0)}, "question_weights"),
        ({"confidence": 1.0}, "confidence"),
        ({"method": "rake", "rake_margins": ("region",)}, "without targets"),
        ({"trim_k": 0.5}, "trim_k"),
        ({"share_ci": "exact"}, "share_ci"),
    ],
)
def test_bad_params_are_rejected(settings: dict, message: str) -> None:
    base = {"targets": {"group": (0.5, 0.5)}}
    with pytest.raises(ValueError, match=message):
        Params(**(base | settings))


def test_params_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown parameter"):
        Params.from_dict({"targets": {"group": [1.0]}, "weights": "kish"})


def test_question_weights_must_cover_every_question() -> None:
    with pytest.raises(ValueError, match="question code"):
        compute_indices(SMALL, Params(targets={"group": (0.5, 0.5)}, question_weights=(1.0,)))
