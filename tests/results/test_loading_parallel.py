"""Reading a period on two connections at once: the same arrays as one connection, and the cases that
must stay on the session's own connection (uncommitted writes, a snapshot, an in-memory database)."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import BigInteger, cast, select, text

from survey.models import Answer
from survey.services.results import loading
from tests.results.helpers import add_response, satisfaction_questions


def _load(session, campaign, comments=()):
    cutoff = loading.current_cutoff(session, campaign.id, False)
    return loading.load_pairs(session, cutoff, [q.id for q in satisfaction_questions(campaign)], comments)


def _same(a, b):
    for name in ("response", "unit", "packed", "group", "channel", "comments"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist(), name
    assert (a.responses, a.excluded, a.flagged) == (b.responses, b.excluded, b.flagged)
    assert a.digest() == b.digest()


@pytest.fixture
def opened(monkeypatch):
    """The helper connections opened (a list per load), every range read in two parts."""
    monkeypatch.setattr(loading, "PARALLEL_IDS", 1)
    calls = []
    helpers = loading._helpers

    def spy(*args):
        out = helpers(*args)
        calls.append(len(out))
        return out

    monkeypatch.setattr(loading, "_helpers", spy)
    return calls


def _period(session, make, code, appraisal_half=False):
    """Responses over two units, some rating both (an appraisal) in the second half when asked."""
    units = [make.unit(code=f"{code}1"), make.unit(code=f"{code}2")]
    campaign = make.campaign(units=units)
    groups = make.groups()
    rng = np.random.default_rng(7)
    for k in range(40):
        levels = [int(v) for v in rng.integers(1, 6, 5)]
        levels[k % 5] = "dk"
        ratings = {units[k % 2]: levels}
        if appraisal_half and k >= 20 and k % 3 == 0:
            ratings = {units[0]: levels, units[1]: list(reversed(levels))}
        add_response(session, campaign, ratings, groups["FW" if k % 2 else "SM"], flush=False)
    session.commit()
    return campaign


@pytest.mark.parametrize("appraisal_half", [False, True])
def test_two_connections_load_the_same_pairs_as_one(session, make, monkeypatch, opened, appraisal_half):
    """Each half decides alone whether its responses rate one unit; the result is the serial one."""
    campaign = _period(session, make, "PA" if appraisal_half else "PB", appraisal_half)
    monkeypatch.setattr(loading, "READERS", 1)
    serial = _load(session, campaign)
    monkeypatch.setattr(loading, "READERS", 2)
    parallel = _load(session, campaign)
    assert opened == [1]  # one helper connection beside the session's
    _same(parallel, serial)
    assert parallel.size == (47 if appraisal_half else 40)  # 7 responses rate both units


def test_raw_rows_over_a_range_is_read_in_parts_in_order(session, make, opened):
    campaign = _period(session, make, "PR")
    statement = select(cast(Answer.response_id, BigInteger), cast(Answer.question_id, BigInteger)).where(
        Answer.campaign_id == campaign.id).order_by(Answer.response_id, Answer.question_id)
    whole = loading._raw_rows(session, statement, 2)
    cutoff = loading.current_cutoff(session, campaign.id, False)
    parts = loading._raw_rows(session, statement, 2, (Answer.response_id, 1, cutoff.max_response_id))
    assert opened == [1]
    assert parts.tolist() == whole.tolist() and whole.shape[0] == 40 * 5


def test_uncommitted_writes_keep_the_read_on_the_sessions_connection(session, make, opened):
    """A computation inside a transaction that wrote must see its own writes: no helper connection."""
    campaign = _period(session, make, "PU")
    unit = make.unit(code="PU9")
    extra = add_response(session, campaign, {unit: [5, 5, 5, 5, 5]}, None)  # flushed, not committed
    pairs = _load(session, campaign)
    assert opened == [0]
    assert extra.id in pairs.response.tolist()
    session.rollback()


def test_pending_orm_changes_keep_the_read_on_the_sessions_connection(session, make, opened):
    campaign = _period(session, make, "PO")
    campaign.title = "改了没提交"
    _load(session, campaign)
    assert opened == [0]
    session.rollback()


def test_a_snapshot_keeps_the_read_on_the_sessions_connection(session, make, opened):
    campaign = _period(session, make, "PS")
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        session.commit()
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:
        from survey.db import read_snapshot
        read_snapshot(session)
    _load(session, campaign)
    assert opened == [0]
    session.rollback()


def test_a_helper_that_cannot_connect_leaves_the_read_to_the_session(session, make, monkeypatch):
    campaign = _period(session, make, "PF")
    serial = _load(session, campaign)
    monkeypatch.setattr(loading, "PARALLEL_IDS", 1)
    if session.connection().dialect.name == "postgresql":
        from sqlalchemy.exc import OperationalError

        def refuse(*_a, **_k):
            raise OperationalError("connect", {}, Exception("too many clients"))
        monkeypatch.setattr(type(session.connection().engine), "connect", refuse)
    else:
        import sqlite3

        def refuse(*_a, **_k):
            raise sqlite3.OperationalError("unable to open database file")
        monkeypatch.setattr(loading.sqlite3, "connect", refuse)
    _same(_load(session, campaign), serial)


def test_an_error_in_the_helper_thread_is_raised_in_the_caller(session, make, monkeypatch, opened):
    campaign = _period(session, make, "PE")
    rows = loading._Reader.rows

    def failing(self, statement, columns, ids=None):
        if not self.first:
            raise loading.DataError("helper failed")
        return rows(self, statement, columns, ids)

    monkeypatch.setattr(loading._Reader, "rows", failing)
    with pytest.raises(loading.DataError, match="helper failed"):
        _load(session, campaign)


def test_an_in_memory_database_is_read_on_one_connection(session):
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine("sqlite://")
    with Session(engine) as memory:
        memory.execute(text("SELECT 1"))
        assert loading._helpers(memory, memory.connection(), 1) == []
