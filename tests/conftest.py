"""Test fixtures: an app on a freshly migrated database per test, on SQLite and PostgreSQL.

Every test that uses ``app`` (or ``client``, ``session`` …) runs once per backend:
SQLite always, PostgreSQL too when ``TEST_DATABASE_URL`` is set. The schema comes
from the Alembic migrations (built once per run into a template), never ``create_all``.
"""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from survey import create_app
from survey.config import TestConfig, normalise_database_url
from survey.extensions import db
from tests import factories

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pytest_report_header(config: pytest.Config) -> str:
    where = "SQLite and PostgreSQL (" + str(make_url(PG_URL).set(password="***")) + ")" if PG_URL else "SQLite only (set TEST_DATABASE_URL for PostgreSQL too)"
    return f"pingyi databases: {where}"


def build_app(database_url: str, instance_path: Path, **overrides: object) -> Flask:
    os.environ["PINGYI_INSTANCE_PATH"] = str(instance_path)
    try:
        return create_app({**_config_dict(), "SQLALCHEMY_DATABASE_URI": database_url, **overrides})
    finally:
        os.environ.pop("PINGYI_INSTANCE_PATH", None)


def _config_dict() -> dict[str, object]:
    return {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}


def migrate_to_head(database_url: str, instance_path: Path) -> None:
    from flask_migrate import upgrade

    app = build_app(database_url, instance_path)
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.db"
    migrate_to_head(f"sqlite:///{path}", folder)
    return path


def _admin_engine():
    url = make_url(normalise_database_url(PG_URL or ""))
    return create_engine(url, isolation_level="AUTOCOMMIT"), url


@pytest.fixture(scope="session")
def pg_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of our own for this run (parallel runs never collide), migrated to head."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL not set")
    admin, url = _admin_engine()
    name = f"pingyi_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    test_url = url.set(database=name).render_as_string(hide_password=False)
    try:
        migrate_to_head(test_url, tmp_path_factory.mktemp("pg-template"))
        yield test_url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate_all(app: Flask) -> None:
    with app.app_context():
        names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context, as in production: a fresh ``g`` and its own
    database session, so nothing leaks between the test's session and the view's."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def app_overrides() -> dict[str, object]:
    """Override in a test module to change the app's configuration."""
    return {}


@pytest.fixture
def app(database_url: str, backend: str, tmp_path: Path, app_overrides: dict[str, object]) -> Iterator[Flask]:
    instance = tmp_path / "instance"
    application = build_app(database_url, instance, **app_overrides)
    application.test_client_class = IsolatedClient
    with application.app_context():
        yield application
        db.session.remove()
    if backend == "postgresql":
        _truncate_all(application)
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def session(app: Flask):
    return db.session


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def make(session) -> factories.Factory:
    """Build test data: ``make.unit()``, ``make.campaign()``, ``make.user()`` …"""
    return factories.Factory(session)


class AuthActions:
    def __init__(self, client, make: factories.Factory) -> None:
        self._client = client
        self._make = make

    def login(self, username: str = "analyst", password: str = factories.PASSWORD):
        page = self._client.get("/login")
        token = factories.csrf_from(page)
        return self._client.post("/login", data={"username": username, "password": password, "csrf_token": token})

    def login_as(self, role: str = "analyst", unit=None, username: str | None = None):
        user = self._make.user(role=role, unit=unit, username=username)
        response = self.login(user.username)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return user

    def logout(self):
        page = self._client.get("/admin/")
        return self._client.post("/logout", data={"csrf_token": factories.csrf_from(page)})


@pytest.fixture
def auth(client, make: factories.Factory) -> AuthActions:
    return AuthActions(client, make)
