"""Database set-up shared by the app, the CLI and the tests.

SQLite serves a county from one file behind several gunicorn workers. Its transactions
are started by us, not by the ``sqlite3`` module (whose ``isolation_level`` is set to
``None``), so that they behave like PostgreSQL's for the code and never fail under
concurrent writers:

* a statement that only reads runs on its own, as under PostgreSQL's READ COMMITTED:
  each sees the latest committed data, and page views never take the write lock nor
  queue behind submissions;
* the first write of a transaction (INSERT, UPDATE, DELETE, DDL, or a SAVEPOINT) is
  preceded by ``BEGIN IMMEDIATE``, which queues for the write lock under the busy
  timeout; from there to COMMIT or ROLLBACK everything is one serialised transaction.
  A deferred ``BEGIN`` would fail instead: a transaction that has read and then writes
  after another worker committed gets ``database is locked`` at once (SQLITE_BUSY_SNAPSHOT;
  the busy timeout does not apply when a read transaction is upgraded to write);
* unlike the module's legacy mode, SAVEPOINTs always nest inside the transaction and
  DDL (migrations) is transactional.

:func:`write_transaction` takes the write lock before a path's reads, for work whose
reads must not be overtaken by another worker before it writes (the backup import);
:func:`read_snapshot` gives a long read one consistent snapshot (the backup export).
"""
from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

BUSY_TIMEOUT_MS = 30_000
#: the naps between tries for the write lock: short, as a write transaction holds it for milliseconds
_LOCK_NAPS = (0.0001, 0.0002, 0.0005, 0.001)
_STARTS_TRANSACTION = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|ALTER|DROP|SAVEPOINT)\b", re.IGNORECASE)


def install_sqlite_pragmas(engine: Engine) -> None:
    """One SQLite file for many workers: WAL, a busy timeout, foreign keys, immediate writes.

    ``synchronous=NORMAL`` is durable across application crashes in WAL mode; a power
    cut may lose the last transactions but never corrupts the file.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # transactions are begun below, not by the module
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "before_cursor_execute")
    def _before_execute(conn: Connection, _cursor: Any, statement: str, _params: Any, context: Any,
                        _many: bool) -> None:
        raw = conn.connection.dbapi_connection
        if raw.in_transaction or not conn.in_transaction():
            return
        writes = context is not None and (context.isinsert or context.isupdate or context.isdelete)
        if writes or _STARTS_TRANSACTION.match(statement):
            begin_immediate(raw)


def begin_immediate(raw: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, queueing for the write lock in naps of at most a millisecond.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 … ms between its tries, so a writer
    that finds the lock held for 3 ms sleeps 8 and, under steady load, workers spend more time
    asleep than the lock is held. Here the lock is tried without the handler (``busy_timeout`` 0
    for the tries) and again after short naps, up to the same busy timeout; then "database is
    locked" is raised as before."""
    try:  # the usual case: the lock is free
        raw.execute("PRAGMA busy_timeout=0")
        raw.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
            raise
        _queue_for_write_lock(raw)
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def _queue_for_write_lock(raw: sqlite3.Connection) -> None:
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    tries = 0
    while True:
        time.sleep(_LOCK_NAPS[min(tries, len(_LOCK_NAPS) - 1)])
        tries += 1
        try:
            raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise


def _begin(session: Session, statement: str) -> None:
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.dbapi_connection
    if raw.in_transaction:
        return
    if statement == "BEGIN IMMEDIATE":
        begin_immediate(raw)
    else:
        raw.execute(statement)


def write_transaction(session: Session) -> None:
    """Hold the database's write lock from now until the session commits or rolls back (SQLite).

    For work whose reads decide its writes and must not be overtaken by another worker in
    between. On PostgreSQL, row locks and constraints do this job: nothing to do.
    """
    _begin(session, "BEGIN IMMEDIATE")


def read_snapshot(session: Session) -> None:
    """Let every read until the session ends see one snapshot, without taking the write lock (SQLite).

    PostgreSQL callers ask for ``REPEATABLE READ`` on their connection instead.
    """
    _begin(session, "BEGIN")


@contextmanager
def savepoint(conn: Connection, name: str) -> Iterator[None]:
    """Undo what the block wrote if it raises (the exception goes on), keep it otherwise: a SAVEPOINT of
    the connection's transaction, on both databases, as plain SQL.

    SQLAlchemy's ``begin_nested()`` does the same with its transaction bookkeeping: five times the CPU
    time of the two statements, on a path that runs for every 差评. The ORM session knows nothing of it:
    flush before, and write only plain statements inside."""
    conn.exec_driver_sql(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
        conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
        raise
    conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
