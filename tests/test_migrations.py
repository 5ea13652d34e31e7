"""The schema comes only from Alembic migrations, and they match the models exactly."""
from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from survey.extensions import db
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
