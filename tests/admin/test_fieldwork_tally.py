"""The fieldwork monitor's tally (response_score): it gives what averaging the answers gives, whatever
happened since it was written — responses added (by the site or by import), flagged, validated or
excluded, the level scores changed, a response committed out of order, a response deleted — and a
second view writes nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, event, func, select

from survey.extensions import db
from survey.models import Answer, Response, ResponseScore, ResponseStatus
from survey.services.campaigns import fieldwork
from survey.services.results import weighting
from tests.results.helpers import add_response


@pytest.fixture
def setting(make):
    groups = make.groups()
    a = make.unit(code="A", name="人社局")
    b = make.unit(code="B", name="医保局")
    campaign = make.campaign(units=[a, b])
    return campaign, a, b, groups


def _expected(session, campaign):
    """The cells computed straight from the answers, in Python (what the tally must reproduce)."""
    settings = weighting.current(campaign)
    scores = [float(v) for v in (settings.get("level_scores") or campaign.questionnaire.level_scores)]
    qids = {q.id for q in weighting.index_questions(campaign)}
    per: dict[tuple[int, int], list[float]] = {}
    groups: dict[int, int | None] = {}
    for answer, response in session.execute(select(Answer, Response).join(Response).where(
            Answer.campaign_id == campaign.id, Answer.unit_id.is_not(None), Answer.question_id.in_(qids),
            Response.status != ResponseStatus.EXCLUDED)):
        values = per.setdefault((response.id, answer.unit_id), [])
        groups[response.id] = response.respondent_group_id
        if not answer.dont_know and answer.level is not None:
            values.append(scores[answer.level - 1])
    cells: dict[tuple[int, int | None], list[float]] = {}
    counts: dict[tuple[int, int | None], int] = {}
    for (response_id, unit_id), values in per.items():
        key = (unit_id, groups[response_id])
        counts[key] = counts.get(key, 0) + 1
        cells.setdefault(key, [])
        if values:
            cells[key].append(sum(values) / len(values))
    return {key: (counts[key], len(v), sum(v), sum(x * x for x in v)) for key, v in cells.items()}


def _actual(session, campaign):
    fieldwork.refresh_scores(session, campaign)
    session.commit()
    return {key: (c.n, c.scored, c.total, c.squares) for key, c in fieldwork.aggregate(session, campaign).items()}


def _same(session, campaign):
    actual, expected = _actual(session, campaign), _expected(session, campaign)
    assert actual.keys() == expected.keys()
    for key, (n, scored, total, squares) in expected.items():
        assert actual[key][:2] == (n, scored), key
        assert actual[key][2] == pytest.approx(total) and actual[key][3] == pytest.approx(squares), key
    return actual


def test_tally_follows_new_responses_statuses_and_level_scores(session, setting):
    campaign, a, b, groups = setting
    n_q = len(weighting.index_questions(campaign))
    kept = add_response(session, campaign, {a: [5, 4, 3, 2, 1][:n_q] + [4] * max(0, n_q - 5)}, groups["SM"])
    flagged = add_response(session, campaign, {a: [2] * n_q}, groups["SM"], status=ResponseStatus.FLAGGED)
    both = add_response(session, campaign, {a: ["dk"] + [4] * (n_q - 1), b: [1] * n_q}, groups["QY"])
    add_response(session, campaign, {b: ["dk"] * n_q}, None)  # counted, never scored
    session.commit()
    first = _same(session, campaign)
    assert first[(a.id, groups["SM"].id)][:2] == (2, 2)  # flagged responses count until excluded
    assert session.scalar(select(func.count()).select_from(ResponseScore)) == 5  # one row per (response, unit)

    flagged.status = ResponseStatus.VALID
    both.status = ResponseStatus.EXCLUDED
    session.commit()
    after = _same(session, campaign)
    assert (a.id, groups["QY"].id) not in after and after[(b.id, None)][:2] == (1, 0)

    add_response(session, campaign, {b: [5] * n_q}, groups["QY"])  # arrives after the tally (site or import)
    session.commit()
    assert _same(session, campaign)[(b.id, groups["QY"].id)][:2] == (1, 1)

    campaign.analysis_settings = {**(campaign.analysis_settings or {}), "level_scores": [0, 40, 60, 80, 100]}
    session.commit()
    changed = _same(session, campaign)
    assert changed[(b.id, groups["QY"].id)][2] == pytest.approx(100.0)
    assert changed[(a.id, groups["SM"].id)][2] != pytest.approx(first[(a.id, groups["SM"].id)][2])

    session.delete(kept)  # the tally goes with its response
    session.commit()
    assert _same(session, campaign)[(a.id, groups["SM"].id)][:2] == (1, 1)
    assert session.scalar(select(func.count()).select_from(ResponseScore).where(
        ResponseScore.response_id == kept.id)) == 0


def test_tally_finds_responses_committed_out_of_order_and_bare_ones(session, setting):
    campaign, a, _b, groups = setting
    n_q = len(weighting.index_questions(campaign))
    responses = [add_response(session, campaign, {a: [1 + i % 5] * n_q}, groups["SM"]) for i in range(6)]
    bare = add_response(session, campaign, {a: [None] * n_q}, None)  # no answer about any unit
    session.commit()
    _same(session, campaign)
    assert session.scalar(select(ResponseScore.unit_id).where(ResponseScore.response_id == bare.id)) is None
    # A response committed after a newer one was tallied: its id lies below the highest tallied id.
    session.execute(delete(ResponseScore).where(ResponseScore.response_id == responses[2].id))
    session.commit()
    assert fieldwork.refresh_scores(session, campaign) == 1
    session.commit()
    assert _same(session, campaign)[(a.id, groups["SM"].id)][:2] == (6, 6)


def test_second_view_writes_nothing(session, setting, make):
    campaign, a, _b, groups = setting
    n_q = len(weighting.index_questions(campaign))
    for i in range(3):
        add_response(session, campaign, {a: [3 + i % 3] * n_q}, groups["SM"])
    session.commit()
    fieldwork.monitor(session, campaign)
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        result = fieldwork.monitor(session, campaign)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert not [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert next(r for r in result.rows if r.unit_id == a.id).n == 3


def test_a_large_backlog_is_tallied_in_committed_chunks(session, setting, monkeypatch):
    campaign, a, _b, groups = setting
    n_q = len(weighting.index_questions(campaign))
    for i in range(7):
        add_response(session, campaign, {a: [1 + i % 5] * n_q}, groups["SM"])
    session.commit()
    monkeypatch.setattr(fieldwork, "TALLY_CHUNK", 3)
    commits: list[int] = []

    def count(_conn) -> None:
        commits.append(1)

    event.listen(db.engine, "commit", count)
    try:
        assert fieldwork.refresh_scores(session, campaign) == 7
    finally:
        event.remove(db.engine, "commit", count)
    assert len(commits) == 2  # 3 + 3 kept before the last 1 (which the caller commits)
    session.commit()
    assert _same(session, campaign)[(a.id, groups["SM"].id)][:2] == (7, 7)
