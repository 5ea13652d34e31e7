"""The load benchmark's yardstick: the least a Flask site can do per request that stores something.

One endpoint, ``POST /insert``, inserting one row through SQLAlchemy into a one-table
database and answering 201 — no templates, sessions, CSRF or validation. bench/load.py
runs it under the same gunicorn settings and the same client as the real site, so the
site's throughput can be printed as a fraction of it.

    BASELINE_DATABASE_URL=sqlite:////tmp/b.db gunicorn --config python:survey.gunicorn_conf 'bench.baseline_app:create_baseline()'

SQLite gets the site's own connection settings (survey.db: WAL, busy timeout, immediate
write transactions), so the comparison is about the work per request, not about fsync.
"""
from __future__ import annotations

import os
import secrets

from flask import Flask
from sqlalchemy import Integer, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from survey.config import normalise_database_url
from survey.db import install_sqlite_pragmas


class Base(DeclarativeBase):
    pass


class Hit(Base):
    __tablename__ = "hit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64))


def _engine(url: str):
    url = normalise_database_url(url)
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    install_sqlite_pragmas(engine)
    return engine


def create_table(url: str) -> None:
    """Run once before the workers start (they would race to create it)."""
    engine = _engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    engine.dispose()


def create_baseline() -> Flask:
    engine = _engine(os.environ["BASELINE_DATABASE_URL"])
    app = Flask(__name__)

    @app.post("/insert")
    def insert():
        with Session(engine) as session:
            session.add(Hit(token=secrets.token_hex(16)))
            session.commit()
        return "", 201

    return app

