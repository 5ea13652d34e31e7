"""Loading stored answers into the engine's arrays: not-shown rows, the columnar fetch, the row order."""
from __future__ import annotations

import numpy as np
import pytest

from survey.models import Answer
from survey.services.results import loading, snapshots
from tests.results.helpers import add_response, satisfaction_questions


def _load(session, campaign):
    cutoff = loading.current_cutoff(session, campaign.id, False)
    return loading.load_pairs(session, cutoff, [q.id for q in satisfaction_questions(campaign)])


def _not_shown(session, response, unit, question):
    session.add(Answer(response_id=response.id, campaign_id=response.campaign_id, unit_id=unit.id,
                       question_id=question.id, not_shown=True))
    session.flush()


def test_a_question_not_shown_is_missing_never_a_level_nor_dont_know(session, make):
    unit = make.unit(code="NS1")
    campaign = make.campaign(units=[unit])
    groups = make.groups()
    questions = satisfaction_questions(campaign)
    shown = add_response(session, campaign, {unit: [5, 4, None, 2, "dk"]}, groups["FW"])
    _not_shown(session, shown, unit, questions[2])
    hidden_only = add_response(session, campaign, {unit: [None] * 5}, groups["FW"])
    for question in questions:
        _not_shown(session, hidden_only, unit, question)
    session.commit()
    pairs = _load(session, campaign)
    assert pairs.response.tolist() == [shown.id]  # a pair with nothing but not-shown rows counts nothing
    assert pairs.levels()[0].tolist() == [5, 4, 0, 2, 6]
    answers, _used = pairs.answers([groups["FW"].id], None, None)
    # 不了解 stays a record without a level (item nonresponse); the question not shown leaves no record
    assert answers.question.tolist() == [0, 1, 3, 4] and answers.level.tolist() == [5, 4, 2, 0]
    assert pairs.responses == 2


def test_a_not_shown_row_beside_an_answer_to_the_same_question_is_a_duplicate(session, make):
    unit = make.unit(code="NS2")
    campaign = make.campaign(units=[unit])
    groups = make.groups()
    response = add_response(session, campaign, {unit: [5, 4, 3, 2, 1]}, groups["FW"])
    _not_shown(session, response, unit, satisfaction_questions(campaign)[1])
    session.commit()
    with pytest.raises(loading.DataError, match=f"response {response.id} has the same question answered twice"):
        _load(session, campaign)


def test_rows_come_back_in_response_and_unit_order_with_every_value(session, make):
    """Many responses over two units: the columnar fetch (packed blocks on PostgreSQL, batches on
    SQLite) returns every pair once, ordered, with the levels written."""
    units = [make.unit(code="OR1"), make.unit(code="OR2")]
    campaign = make.campaign(units=units)
    groups = make.groups()
    rng = np.random.default_rng(3)
    expected = {}
    for i in range(120):
        levels = [int(v) for v in rng.integers(1, 6, 5)]
        unit = units[i % 2]
        response = add_response(session, campaign, {unit: levels}, groups["FW"])
        expected[(response.id, unit.id)] = levels
    session.commit()
    pairs = _load(session, campaign)
    keys = list(zip(pairs.response.tolist(), pairs.unit.tolist()))
    assert keys == sorted(expected)
    assert [row.tolist() for row in pairs.levels()] == [expected[k] for k in keys]


def test_a_shuffled_result_is_put_in_order(session, make, monkeypatch):
    """The databases usually return the pairs ordered; when they do not, loading sorts them."""
    unit = make.unit(code="OR3")
    campaign = make.campaign(units=[unit])
    groups = make.groups()
    ids = [add_response(session, campaign, {unit: [k % 5 + 1] * 5}, groups["SM"]).id for k in range(30)]
    session.commit()
    raw = loading._Reader.rows

    def shuffled(self, statement, columns, ids=None):
        rows = raw(self, statement, columns, ids)
        return rows[np.random.default_rng(5).permutation(rows.shape[0])]

    monkeypatch.setattr(loading._Reader, "rows", shuffled)
    pairs = _load(session, campaign)
    assert pairs.response.tolist() == ids
    assert [int(v) for v in pairs.levels()[:, 0]] == [k % 5 + 1 for k in range(30)]


def test_snapshots_ignore_not_shown_rows(session, make):
    """The same period with and without not-shown rows for unasked questions computes the same index."""
    unit = make.unit(code="NS3")
    campaign = make.campaign(units=[unit])
    groups = make.groups()
    questions = satisfaction_questions(campaign)
    for k in range(12):
        response = add_response(session, campaign, {unit: [k % 5 + 1, 4, 5, None, 3]}, groups["FW"])
        if k % 2:
            _not_shown(session, response, unit, questions[3])
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    with_rows = ([r.index for r in snapshot.rows], snapshot.summary["responses"])
    session.rollback()
    session.query(Answer).filter(Answer.not_shown.is_(True)).delete()
    session.commit()
    without = snapshots.compute_snapshot(session, campaign, None)
    assert with_rows == ([r.index for r in without.rows], 12) and with_rows[0][0] is not None


def test_blocks_of_response_ids_load_the_same_pairs(session, make, monkeypatch):
    """PostgreSQL reads the range in blocks of response ids (one aggregate each); blocks of 2 ids give
    the same pairs, traits and counts as one block."""
    unit = make.unit(code="BL1")
    campaign = make.campaign(units=[unit])
    groups = make.groups()
    ids = [add_response(session, campaign, {unit: [k % 5 + 1, (k + 2) % 5 + 1, None, 3, "dk"]},
                        groups["FW" if k % 2 else "SM"]).id for k in range(9)]
    session.commit()
    whole = _load(session, campaign)
    monkeypatch.setattr(loading, "BLOCK_IDS", 2)
    blocks = _load(session, campaign)
    assert blocks.response.tolist() == whole.response.tolist() == ids
    assert blocks.levels().tolist() == whole.levels().tolist()
    assert [row[:2] for row in blocks.levels().tolist()] == [[k % 5 + 1, (k + 2) % 5 + 1] for k in range(9)]
    assert blocks.group.tolist() == whole.group.tolist()
    assert blocks.digest() == whole.digest() and blocks.responses == whole.responses == 9
