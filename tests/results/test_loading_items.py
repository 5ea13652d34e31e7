"""The item answers (per-question results) as the database codes them: the same records, in the same order,
as decoding the answers' own columns in NumPy (how they were read before), whatever odd rows the period
holds; and on SQLite read on a connection of their own while the indices are computed."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import BigInteger, and_, case, cast, func, literal, select

from survey.models import Answer, Response, ResponseStatus
from survey.services.results import evaluation, loading, question_results, snapshots
from survey.services.results.loading import Cutoff, _raw_rows
from tests.factories import answer_bad_reasons, window_with_bad_reasons
from tests.results.helpers import add_response

RATING = {"code": "RT", "type": "rating", "text": "推荐的可能性（0–10）", "in_index": False, "required": False}
PICKS = {"code": "MC", "type": "multiple", "text": "了解途径", "in_index": False, "required": False,
         "options": [{"code": "x", "label": "网站"}, {"code": "y", "label": "电话"}, {"code": "z", "label": "窗口"}]}


def _decoded(session, cutoff, specs):
    """The records as the answers' seven columns decoded in NumPy give them (the reading before the codes)."""
    ids = [int(s["question_id"]) for s in specs]
    lowest = session.scalar(select(func.min(Response.id)).where(Response.campaign_id == cutoff.campaign_id))
    has_text = case((and_(Answer.text.is_not(None), Answer.text != ""), literal(1)), else_=literal(0))
    rows = _raw_rows(session, select(
        cast(Answer.response_id, BigInteger), cast(Answer.unit_id, BigInteger), cast(Answer.question_id, BigInteger),
        cast(func.coalesce(Answer.option_id, literal(-1)), BigInteger),
        cast(func.coalesce(Answer.number, literal(-1)), BigInteger), cast(has_text, BigInteger),
        cast(case((Answer.not_shown.is_(True), literal(1)), else_=literal(0)), BigInteger),
    ).where(Answer.campaign_id == cutoff.campaign_id, Answer.question_id.in_(ids), Answer.unit_id.is_not(None),
            Answer.response_id.between(int(lowest), cutoff.max_response_id)), 7)
    rows = rows[~np.isin(rows[:, 0], np.fromiter(sorted(cutoff.left_out), dtype=np.int64))]
    item = np.full(rows.shape[0], -1, dtype=np.int64)
    value = np.full(rows.shape[0], -1, dtype=np.int64)
    hidden = rows[:, 6] == 1
    for k, spec in enumerate(specs):
        mine = rows[:, 2] == int(spec["question_id"])
        if spec.get("conditional"):
            item[mine & hidden] = k
        mine = mine & ~hidden
        if spec["kind"] in ("single", "multiple"):
            option_ids = np.asarray(spec["option_ids"], dtype=np.int64)
            order = np.argsort(option_ids, kind="stable")
            ordered = option_ids[order]
            position = np.minimum(np.searchsorted(ordered, rows[:, 3]), option_ids.size - 1)
            found = mine & (ordered[position] == rows[:, 3])
            value[found] = order[position[found]]
        elif spec["kind"] == "rating":
            found = mine & (rows[:, 4] >= 0) & (rows[:, 4] <= 10)
            value[found] = rows[found, 4]
        else:
            found = mine & (rows[:, 5] == 1)
            value[found] = 0
        item[found] = k
    keep = item >= 0
    if hidden.any():
        _ids, person = np.unique(rows[:, 0], return_inverse=True)
        units, place = np.unique(rows[:, 1], return_inverse=True)
        key = (person.reshape(-1) * units.size + place.reshape(-1)) * (len(specs) + 1) + item
        keep &= ~(hidden & np.isin(key, key[keep & ~hidden]))
    return rows[keep, 0], rows[keep, 1], item[keep], value[keep], hidden[keep]


def _same(records, expected):
    for name, want in zip(("respondent", "unit", "item", "value", "not_shown"), expected, strict=True):
        got = getattr(records, name)
        assert got.tolist() == want.tolist(), name
        assert got.dtype == want.dtype, name


@pytest.fixture
def odd_period(session, make):
    return _odd_period(session, make, twice=True)


def _odd_period(session, make, twice):
    """Two units; answers of every kind, and the rows that must not count: an option of another question,
    ratings out of range, empty texts, a not-shown row of an unconditional question, a stray not-shown row
    beside an answer, an answer without a unit, left-out and later responses; and (``twice``) a single
    choice answered twice, which the engine refuses."""
    units = [make.unit(code="IT1"), make.unit(code="IT2")]
    questionnaire = window_with_bad_reasons(make, [RATING, PICKS])
    campaign = make.campaign(units=units, questionnaire=questionnaire)
    groups = make.groups()
    qs = {q.code: q for q in questionnaire.questions}
    trips, picks, rating, comment, reasons = qs["Q6"], qs["MC"], qs["RT"], qs["Q8"], qs["BR"]

    def add(response, unit, question, **values):
        response.answers.append(Answer(campaign_id=campaign.id, unit_id=None if unit is None else unit.id,
                                       question_id=question.id, **values))

    ratings = [0, 10, 7.0, 11, -1, None, 3, 8.0]
    statuses = [ResponseStatus.VALID] * 6 + [ResponseStatus.EXCLUDED, ResponseStatus.FLAGGED]
    for k in range(24):
        unit = units[k % 2]
        response = add_response(session, campaign, {unit: [2 if k % 3 == 0 else 4] * 5}, groups["SM"],
                                status=statuses[k % len(statuses)])
        add(response, unit, trips, option_id=trips.options[k % 3].id)
        if twice and k % 5 == 0:
            add(response, unit, trips, option_id=trips.options[0].id)  # answered twice: both count
        if k % 7 == 0:
            add(response, unit, trips, option_id=picks.options[0].id)  # another question's option
        if k % 4 == 1:
            add(response, unit, trips, not_shown=True)  # not shown, but the question is not conditional
        for option in picks.options[: k % 4]:
            add(response, unit, picks, option_id=option.id)
        add(response, unit, rating, number=ratings[k % len(ratings)])
        add(response, unit, comment, text=["", "排队太久", None][k % 3])
        if k % 3 == 0:
            answer_bad_reasons(campaign, response, unit, ("attitude", "other") if k % 2 else ("waiting",),
                               "没人" if k % 2 else None)
            if k % 6 == 0:
                add(response, unit, reasons, not_shown=True)  # a stray not-shown row beside the answer
        else:
            answer_bad_reasons(campaign, response, unit, None)
        if k == 5:
            add(response, None, trips, option_id=trips.options[0].id)  # no unit
    session.commit()
    cutoff = loading.current_cutoff(session, campaign.id, False)
    later = add_response(session, campaign, {units[0]: [5] * 5}, groups["SM"])  # after the cut-off
    add(later, units[0], trips, option_id=trips.options[0].id)
    session.commit()
    return campaign, cutoff


def test_coded_records_equal_the_decoded_answers(session, odd_period):
    campaign, cutoff = odd_period
    specs = question_results.item_specs(campaign)
    assert {s["kind"] for s in specs} == {"single", "multiple", "rating", "text"}
    records = question_results.load_records(session, cutoff, specs)
    expected = _decoded(session, cutoff, specs)
    _same(records, expected)
    assert records.not_shown.any() and (records.value == 10).any() and (records.value == 0).any()
    assert records.item.size > 80
    flagged_in = Cutoff(cutoff.campaign_id, cutoff.max_response_id, cutoff.excluded_ids, cutoff.flagged_ids, True)
    _same(question_results.load_records(session, flagged_in, specs), _decoded(session, flagged_in, specs))


def test_specs_sharing_a_question_code_it_as_before(session, odd_period):
    """A stored spec list naming one question twice (never written so, but read as it comes): the last spec
    that counts a row wins, as the NumPy decoding's overwrites did; reordered and partial lists too."""
    campaign, cutoff = odd_period
    specs = question_results.item_specs(campaign)
    trips = next(s for s in specs if s["code"] == "Q6")
    narrower = {**trips, "code": "Q6b", "option_ids": list(reversed(trips["option_ids"][:2])) + [trips["option_ids"][0]],
                "conditional": True}
    for chosen in ([*specs, narrower], [narrower, *reversed(specs)], [specs[1], specs[0]], [narrower]):
        _same(question_results.load_records(session, cutoff, chosen), _decoded(session, cutoff, chosen))


def test_sqlite_reads_the_item_answers_on_a_helper_connection(session, make, monkeypatch):
    """On SQLite the item answers are read on a helper connection, on another thread, while the indices are
    computed; the snapshot is the one the session's own reading gives."""
    campaign, _cutoff = _odd_period(session, make, twice=False)
    readers = []
    records = question_results.spec_records

    def spy(session_, spec, reader=None):
        readers.append(reader)
        return records(session_, spec, reader)

    monkeypatch.setattr(question_results, "spec_records", spy)
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    sqlite = session.get_bind().dialect.name == "sqlite"
    assert len(readers) == 1 and (readers[0] is not None) == sqlite
    rows = {r.unit_id: r.detail["items"] for r in snapshot.rows}

    monkeypatch.setattr(loading, "_helpers", lambda *args: [])
    monkeypatch.setattr(evaluation, "_helpers", lambda *args: [])
    again = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    assert readers[-1] is None
    assert {r.unit_id: r.detail["items"] for r in again.rows} == rows
    assert again.summary["items"] == snapshot.summary["items"]
    assert snapshots.verify(session, snapshot, None).identical


def _planned_like_a_large_period(session):
    """The planner's statistics of the 1M-response benchmark period (7.1M answer rows, 8 a response): SQLite
    then reads the answers of a response-id range through the response-id index."""
    session.connection().exec_driver_sql("ANALYZE")
    for index, stat in (("ix_answer_response_id", "7100142 8"), ("ix_answer_question_id", "7100142 887518"),
                        ("ix_answer_campaign_unit", "7100142 7100142 35501")):
        session.connection().exec_driver_sql("UPDATE sqlite_stat1 SET stat = ? WHERE tbl = 'answer' AND idx = ?",
                                             (stat, index))
    session.commit()
    session.connection().exec_driver_sql("ANALYZE sqlite_schema")  # the planner reads them again


def test_sqlite_finds_the_item_answers_through_the_question_index(session, odd_period, monkeypatch):
    """Where SQLite's planner would walk the response-id range (every answer of every response), the answers
    are found through the question-id index instead, and put back in the range's order: the same records,
    in the same order."""
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite's planner")
    campaign, cutoff = odd_period
    specs = question_results.item_specs(campaign)
    _planned_like_a_large_period(session)
    chosen = []
    decide = question_results._by_question
    monkeypatch.setattr(question_results, "_by_question", lambda *args: chosen.append(decide(*args)) or chosen[-1])
    monkeypatch.setattr(question_results, "QUESTION_SHARE", 10.0)  # this small period asks many item questions
    records = question_results.load_records(session, cutoff, specs)
    assert chosen == [True]
    _same(records, _decoded(session, cutoff, specs))
    assert (np.diff(records.respondent) >= 0).all()

    # the range, when the question index holds more answers than that share of the range's (a questionnaire
    # asked by many campaigns)
    monkeypatch.setattr(question_results, "QUESTION_SHARE", 0.5)
    records = question_results.load_records(session, cutoff, specs)
    assert chosen == [True, False]
    _same(records, _decoded(session, cutoff, specs))
