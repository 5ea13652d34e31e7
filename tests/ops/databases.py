"""Fresh migrated databases for the operations tests: SQLite copies of the template, and
PostgreSQL databases of our own on the test server (dropped at the end)."""
from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from sqlalchemy import text

from survey.extensions import db
from tests.conftest import _admin_engine, build_app, migrate_to_head


class Fresh:
    """Builds apps on fresh migrated databases (SQLite copies, PostgreSQL databases of our own)
    and disposes of them all at the end."""

    def __init__(self, tmp_path: Path, template: Path) -> None:
        self.tmp_path, self.template = tmp_path, template
        self.apps: list = []
        self.databases: list[str] = []

    def url(self, kind: str) -> str:
        """A fresh migrated database of this kind (no app)."""
        if kind == "sqlite":
            path = self.tmp_path / f"copy-{uuid.uuid4().hex[:6]}.db"
            shutil.copyfile(self.template, path)
            return f"sqlite:///{path}"
        admin, url = _admin_engine()
        name = f"pingyi_ops_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.databases.append(name)
        database_url = url.set(database=name).render_as_string(hide_password=False)
        migrate_to_head(database_url, self.tmp_path / f"pg-{name}")
        return database_url

    def __call__(self, kind: str, **overrides: object):
        url = self.url(kind)
        app = build_app(url, self.tmp_path / f"inst-{uuid.uuid4().hex[:6]}", **overrides)
        self.apps.append(app)
        return app

    def close(self) -> None:
        for app in self.apps:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        if self.databases:
            admin, _url = _admin_engine()
            with admin.connect() as conn:
                for name in self.databases:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
