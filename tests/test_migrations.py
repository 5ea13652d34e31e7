"""The schema comes only from Alembic migrations, and they match the models exactly."""
from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from survey.extensions import db
from survey.models import Campaign
from tests.conftest import _admin_engine, build_app


@pytest.fixture
def empty_database(backend, tmp_path):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin, url = _admin_engine()
    name = f"pingyi_mig_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_matches_models_and_downgrade_removes_everything(empty_database, tmp_path):
    app = build_app(empty_database, tmp_path / "instance")
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == [], f"models and migrations disagree: {differences}"
        model_tables = set(db.metadata.tables)
        db.engine.dispose()
    assert model_tables <= _tables(empty_database)

    with app.app_context():
        downgrade(revision="base")
        db.engine.dispose()
    assert _tables(empty_database) - {"alembic_version"} == set()

    with app.app_context():  # and back up again: the migrations are repeatable
        upgrade()
        db.engine.dispose()
    assert model_tables <= _tables(empty_database)


def test_app_start_does_not_create_tables(empty_database, tmp_path):
    app = build_app(empty_database, tmp_path / "instance")
    app.test_client().get("/api/v1/health")
    with app.app_context():
        db.engine.dispose()
    assert _tables(empty_database) == set()


def _tally_rows() -> set[tuple]:
    rows = db.session.execute(text(
        "SELECT response_id, campaign_id, unit_id, group_id, first, n1, n2, n3, n4, n5 FROM response_score"))
    return {(r[0], r[1], r[2], r[3], bool(r[4]), *r[5:]) for r in rows}


def test_upgrade_to_0008_tallies_stored_responses_as_the_monitor_would(empty_database, tmp_path):
    """A site upgrading with responses stored: migration 0008 fills ``response_score`` for all of them
    (set-based SQL), with exactly the rows the monitor's own tally writes, so no first view pays."""
    from sqlalchemy import delete

    from survey.models import Answer, QuestionType, Response, ResponseScore, ResponseStatus
    from survey.services.campaigns import fieldwork
    from tests.factories import Factory
    from tests.results.helpers import add_response

    app = build_app(empty_database, tmp_path / "instance")
    with app.app_context():
        upgrade()
        session = db.session
        make = Factory(session)
        groups = make.groups()
        a, b = make.unit(code="A"), make.unit(code="B")
        campaign = make.campaign(units=[a, b])
        n_q = len([q for q in campaign.questionnaire.questions if q.type == QuestionType.SATISFACTION and q.in_index])
        group = next(iter(groups.values()))
        both = add_response(session, campaign, {a: [5, 4, 4, 1, 2, 3, 5, 5][:n_q], b: ["dk"] + [2] * (n_q - 1)}, group)
        unknown = add_response(session, campaign, {a: ["dk"] * n_q}, None)
        excluded = add_response(session, campaign, {b: [1] * n_q}, group, status=ResponseStatus.EXCLUDED)
        bare = Response(campaign_id=campaign.id, questionnaire_id=campaign.questionnaire_id, channel="poster",
                        submission_id="mig-bare")
        session.add(bare)
        plain = make.questionnaire()  # a second campaign whose questionnaire has no index questions
        for question in plain.questions:
            if question.type == QuestionType.SATISFACTION:
                question.in_index = False
        other = make.campaign(units=[a], questionnaire=plain)
        choice = next(q for q in plain.questions if q.type == QuestionType.SINGLE)
        rating = next(q for q in plain.questions if q.type == QuestionType.SATISFACTION)
        chose = Response(campaign_id=other.id, questionnaire_id=plain.id, unit_id=a.id, channel="poster",
                         submission_id="mig-choice")
        chose.answers.append(Answer(campaign_id=other.id, unit_id=a.id, question_id=choice.id,
                                    option_id=choice.options[0].id))
        chose.answers.append(Answer(campaign_id=other.id, unit_id=a.id, question_id=rating.id, level=5))
        session.add(chose)
        session.commit()
        ids = (campaign.id, other.id, both.id, unknown.id, excluded.id, bare.id, chose.id, group.id, a.id, b.id)
        session.close()
        db.engine.dispose()

    with app.app_context():  # back to 0007 (drops the tally) and up again, as an upgrading site does
        downgrade(revision="0007")
        upgrade()
        migrated = _tally_rows()
        cid, oid, both_id, unknown_id, excluded_id, bare_id, chose_id, gid, a_id, b_id = ids
        low = min(a_id, b_id)
        levels_a = [0, 0, 0, 0, 0]
        for level in [5, 4, 4, 1, 2, 3, 5, 5][:n_q]:
            levels_a[level - 1] += 1
        levels_b = [0, n_q - 1, 0, 0, 0]
        assert migrated == {
            (both_id, cid, a_id, gid, a_id == low, *levels_a),
            (both_id, cid, b_id, gid, b_id == low, *levels_b),
            (unknown_id, cid, a_id, None, True, 0, 0, 0, 0, 0),
            (excluded_id, cid, b_id, gid, True, n_q, 0, 0, 0, 0),  # the monitor leaves it out when reading
            (bare_id, cid, None, None, True, 0, 0, 0, 0, 0),
            (chose_id, oid, a_id, None, True, 0, 0, 0, 0, 0),  # no index question: counted, no score
        }
        campaigns = [db.session.get(Campaign, c) for c in (cid, oid)]
        assert [fieldwork.refresh_scores(db.session, c) for c in campaigns] == [0, 0]  # the first view pays nothing

        db.session.execute(delete(ResponseScore))  # the monitor's own tally gives the same rows
        db.session.commit()
        assert [fieldwork.refresh_scores(db.session, c) for c in campaigns] == [4, 1]
        db.session.commit()
        assert _tally_rows() == migrated
        db.session.close()
        db.engine.dispose()


def test_migrating_in_a_process_leaves_the_apps_logger_working(empty_database, tmp_path):
    """Alembic's logging set-up must not disable loggers that already exist: a process that migrates and
    goes on (the tests, a restore) still hears the app's own logger afterwards."""
    import logging

    app = build_app(empty_database, tmp_path / "instance")
    app.logger.info("before")  # the app's logger exists before the migration
    with app.app_context():
        upgrade()
        db.engine.dispose()
    heard: list[str] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = lambda record: heard.append(record.getMessage())  # type: ignore[method-assign]
    app.logger.addHandler(handler)
    try:
        app.logger.error("after the migration")
    finally:
        app.logger.removeHandler(handler)
    assert heard == ["after the migration"]
