"""SQLite under concurrent writers: read-then-write transactions from many connections lose nothing.

The shape of a submission: read (idempotency check, burst count), then insert, then
commit, from many workers at once. With a deferred BEGIN the loser of a race fails at
once with "database is locked"; ours queues for the write lock instead.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, create_engine, event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from survey.db import install_sqlite_pragmas, read_snapshot, write_transaction

WORKERS = 8
ROUNDS = 40


class _Base(DeclarativeBase):
    pass


class Row(_Base):
    __tablename__ = "row"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)


def _engine(path: Path, ours: bool = True):
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})
    if ours:
        install_sqlite_pragmas(engine)
    else:  # SQLAlchemy's documented recipe with a plain deferred BEGIN, for comparison
        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN")
    _Base.metadata.create_all(engine)
    return engine


def _hammer(engine) -> list[Exception]:
    errors: list[Exception] = []
    barrier = threading.Barrier(WORKERS)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(ROUNDS):
            try:
                with Session(engine) as session:
                    session.scalar(select(func.count(Row.id)))  # read first, as a submission does
                    session.add(Row(key=f"{n}-{i}"))
                    session.commit()
            except OperationalError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_read_then_write_transactions_all_commit(tmp_path):
    engine = _engine(tmp_path / "ours.db")
    assert _hammer(engine) == []
    with Session(engine) as session:
        assert session.scalar(select(func.count(Row.id))) == WORKERS * ROUNDS


def test_a_deferred_begin_would_lose_writes_under_the_same_load(tmp_path):
    """Why we begin IMMEDIATE: the documented deferred recipe fails under this very load."""
    errors = _hammer(_engine(tmp_path / "deferred.db", ours=False))
    if not errors:
        pytest.skip("no write collision happened this time (timing); the comparison is informative only")
    assert all("locked" in str(e) for e in errors)


def test_reads_take_no_lock_and_see_the_latest_commit(tmp_path):
    engine = _engine(tmp_path / "reads.db")
    with Session(engine) as writer, Session(engine) as reader:
        writer.add(Row(key="a"))
        writer.flush()  # the writer holds the write lock now
        assert reader.scalar(select(func.count(Row.id))) == 0  # a read neither blocks nor sees uncommitted rows
        writer.commit()
        assert reader.scalar(select(func.count(Row.id))) == 1  # the same session sees the new commit


def test_read_snapshot_is_repeatable_and_write_transaction_serialises(tmp_path):
    engine = _engine(tmp_path / "snap.db")
    with Session(engine) as reader, Session(engine) as writer:
        read_snapshot(reader)
        assert reader.scalar(select(func.count(Row.id))) == 0
        writer.add(Row(key="b"))
        writer.commit()
        assert reader.scalar(select(func.count(Row.id))) == 0  # one snapshot until the session ends
        reader.rollback()
        assert reader.scalar(select(func.count(Row.id))) == 1

    with Session(engine) as first:
        write_transaction(first)
        other = create_engine(f"sqlite:///{tmp_path / 'snap.db'}", connect_args={"timeout": 0.2})
        with other.connect() as conn, pytest.raises(OperationalError, match="locked"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        other.dispose()
        first.rollback()


def test_a_savepoint_before_any_write_nests_inside_the_transaction(tmp_path):
    engine = _engine(tmp_path / "nest.db")
    with Session(engine) as session:
        with session.begin_nested():
            session.add(Row(key="inner"))
        session.rollback()  # the outer rollback undoes the released savepoint too
        assert session.scalar(select(func.count(Row.id))) == 0
        with session.connection() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_a_writer_waits_for_the_lock_in_short_naps_and_keeps_the_busy_timeout(tmp_path, monkeypatch):
    """SQLite's busy handler would sleep 1, 2, 5, 10, 15 … ms between tries; ours naps at most 1 ms,
    so a writer takes the lock within a millisecond of its release."""
    from survey import db

    engine = _engine(tmp_path / "naps.db")
    naps: list[float] = []
    with Session(engine) as holder, Session(engine) as writer:
        write_transaction(holder)

        def nap(seconds: float) -> None:
            naps.append(seconds)
            if len(naps) == 12:  # the holder commits while the writer is queued
                holder.commit()

        monkeypatch.setattr(db.time, "sleep", nap)
        writer.add(Row(key="queued"))
        writer.commit()
        assert len(naps) == 12 and max(naps) <= 0.001 and naps == sorted(naps)
        with writer.connection() as conn:
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == db.BUSY_TIMEOUT_MS
    with Session(engine) as session:
        assert session.scalars(select(Row.key)).all() == ["queued"]


def test_a_writer_gives_up_after_the_busy_timeout_with_the_usual_error(tmp_path, monkeypatch):
    from survey import db

    engine = _engine(tmp_path / "timeout.db")
    clock = iter(range(0, 10_000, 7))  # seconds: the deadline passes after a few tries
    monkeypatch.setattr(db.time, "monotonic", lambda: float(next(clock)))
    monkeypatch.setattr(db.time, "sleep", lambda _seconds: None)
    with Session(engine) as holder, Session(engine) as writer:
        write_transaction(holder)
        writer.add(Row(key="late"))
        with pytest.raises(OperationalError, match="locked"):
            writer.commit()
        writer.rollback()
        holder.rollback()
        with writer.connection() as conn:
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == db.BUSY_TIMEOUT_MS
