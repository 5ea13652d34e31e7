"""Issue 17 item 3: the anti-abuse, duplicate and desk-device checks of a submission read an index,
never the whole response table (the database's own query plan, for the statements the code runs)."""
from __future__ import annotations

import datetime as dt
import types

from sqlalchemy import event

from survey.extensions import db
from survey.models import utcnow
from survey.services.campaigns import desk_integrity
from survey.services.responses import antiabuse, submission


def _captured(run) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    def keep(_conn, _cursor, statement, parameters, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM response" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    return seen


def _plan(statement: str, parameters: object) -> str:
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return "\n".join(str(row[-1]) for row in rows)
        conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny test table: ask for the index if there is one
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        return "\n".join(str(row[0]) for row in rows)


def _no_scan(plan: str, index: str) -> None:
    """The statement reads an index, never the whole table. SQLite's planner takes the named index; on a
    near-empty test table PostgreSQL's may cost another of the table's indexes the same, so there the
    named index must exist and some index be read."""
    assert "SCAN response" not in plan and "Seq Scan" not in plan, plan  # SQLite / PostgreSQL
    if db.engine.dialect.name == "sqlite":
        assert index in plan, plan
        return
    assert "Index" in plan, plan
    with db.engine.connect() as conn:
        names = set(conn.exec_driver_sql("SELECT indexname FROM pg_indexes WHERE tablename = 'response'").scalars())
    assert index in names, names


def test_the_burst_rules_use_their_indexes(app, make, session):
    campaign = make.campaign()
    make.commit()
    rule = antiabuse.BurstRule()
    seen = _captured(lambda: antiabuse.burst_reasons(session, campaign.id, "f" * 64, rule, "a" * 64))
    assert len(seen) == 1  # both rules in one statement, each side of its OR an index range
    plan = _plan(*seen[0])
    _no_scan(plan, "ix_response_fingerprint_recent")
    _no_scan(plan, "ix_response_address_recent")


def test_the_duplicate_check_uses_the_submission_id_index(app, make, session):
    make.commit()
    seen = _captured(lambda: submission.stored_response(session, "x" * 32))
    assert len(seen) == 1
    plan = _plan(*seen[0])
    assert "submission_id" in plan and "SCAN response" not in plan and "Seq Scan" not in plan, plan


def test_the_desk_repeat_rule_uses_the_device_index(app, make, session):
    campaign = make.campaign()
    make.commit()
    now = utcnow()
    token = types.SimpleNamespace(campaign_id=campaign.id, unit_id=campaign.campaign_units[0].unit_id,
                                  issued_at=now - dt.timedelta(minutes=1), expires_at=now + dt.timedelta(minutes=5))
    seen = _captured(lambda: desk_integrity.reasons(session, token, desk_integrity.DeskRules(), phone_hash="d" * 64,
                                                    from_desk_device=False, now=now))
    assert len(seen) == 1
    _no_scan(_plan(*seen[0]), "ix_response_device_recent")
