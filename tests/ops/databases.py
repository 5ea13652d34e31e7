"""Fresh migrated databases for the operations tests: SQLite copies of the template, and
PostgreSQL databases of our own on the test server, copied from the run's template database
(dropped at the end)."""
from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from survey.extensions import db
from tests.conftest import build_app, create_pg_database, drop_pg_databases


class Fresh:
    """Builds apps on fresh migrated databases (SQLite copies, PostgreSQL databases of our own)
    and disposes of them all at the end."""

    def __init__(self, tmp_path: Path, template: Path, pg_template: Callable[[], str]) -> None:
        """``pg_template`` gives the name of the PostgreSQL template (asked only when one is needed)."""
        self.tmp_path, self.template, self.pg_template = tmp_path, template, pg_template
        self.apps: list = []
        self.databases: list[str] = []

    def url(self, kind: str) -> str:
        """A fresh migrated database of this kind (no app)."""
        if kind == "sqlite":
            path = self.tmp_path / f"copy-{uuid.uuid4().hex[:6]}.db"
            shutil.copyfile(self.template, path)
            return f"sqlite:///{path}"
        name, database_url = create_pg_database("pingyi_ops", self.pg_template())
        self.databases.append(name)
        return database_url

    def __call__(self, kind: str, **overrides: object):
        return self.app_on(self.url(kind), **overrides)

    def app_on(self, url: str, **overrides: object):
        """An app on a database ``url`` gave."""
        app = build_app(url, self.tmp_path / f"inst-{uuid.uuid4().hex[:6]}", **overrides)
        self.apps.append(app)
        return app

    def close(self) -> None:
        for app in self.apps:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        if self.databases:
            drop_pg_databases(self.databases)
