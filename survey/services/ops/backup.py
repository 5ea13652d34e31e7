"""The whole database as one archive, and back: ``flask export-all`` / ``flask import-all``.

The archive is a ``.tar.gz`` holding ``manifest.json`` and one ``tables/<table>.jsonl``
per table (one JSON object per row, keyed by column name, rows in primary-key order).
The manifest names the schema revision (Alembic), the code's commit, the source
database, the creation time, and each table's file, row count and SHA-256.

Values are portable between SQLite and PostgreSQL: timestamps as ISO 8601 in UTC, days
as ISO dates, enums by their stored value, JSON columns as JSON. The export reads one
consistent snapshot (REPEATABLE READ on PostgreSQL, one read transaction on SQLite)
while the site keeps running.

An import goes only into an *empty* database migrated to the *same* schema revision,
and only after every file has been checked against the manifest (hash, row count,
columns, parseable rows); then all rows are inserted in one transaction, ids
preserved, and PostgreSQL's id sequences moved past the highest id. Anything wrong
refuses the whole archive and writes nothing.

The archive holds personal data (consented phone numbers, invitation phone numbers):
it is written with mode 0600 and must be kept like the database itself.
"""
from __future__ import annotations

import datetime as dt
import enum
import hashlib
import io
import itertools
import json
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Column, Date, DateTime, Enum, Table, func, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from survey import ROOT
from survey.core import audit
from survey.db import write_transaction
from survey.models import utcnow
from survey.models.base import Base

FORMAT = "pingyi-backup/1"
MANIFEST = "manifest.json"
BATCH = 1000


class BackupError(Exception):
    """The archive cannot be written or restored; the message says why (Chinese, for operators)."""


@dataclass(frozen=True)
class TableSummary:
    name: str
    rows: int


def tables() -> list[Table]:
    """Every table of the schema, parents before children; not ``site_revision`` (a cache's token, set by
    triggers as the rows go in, not data)."""
    return [t for t in Base.metadata.sorted_tables if t.name != "site_revision"]


def schema_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def code_version() -> str:
    """The commit the running code was checked out at, read from .git without running git."""
    head = ROOT / ".git" / "HEAD"
    try:
        ref = head.read_text(encoding="ascii").strip()
        if ref.startswith("ref: "):
            ref_path = ROOT / ".git" / ref[5:]
            if ref_path.exists():
                return ref_path.read_text(encoding="ascii").strip()
            packed = (ROOT / ".git" / "packed-refs").read_text(encoding="ascii")
            return next((line.split()[0] for line in packed.splitlines() if line.endswith(" " + ref[5:])), "unknown")
        return ref
    except OSError:
        return "unknown"


# --- values ------------------------------------------------------------------------------------

def _is_datetime(column: Column) -> bool:
    return isinstance(column.type, DateTime) or isinstance(getattr(column.type, "impl", None), DateTime)


def _encode(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _decoder(column: Column):
    """Turn a JSON value back into what the column's type accepts."""
    if _is_datetime(column):
        return lambda v: None if v is None else dt.datetime.fromisoformat(v).astimezone(dt.UTC)
    if isinstance(column.type, Date):
        return lambda v: None if v is None else dt.date.fromisoformat(v)
    if isinstance(column.type, Enum) and column.type.enum_class is not None:
        enum_class = column.type.enum_class
        return lambda v: None if v is None else enum_class(v)
    return lambda v: v


# --- export ------------------------------------------------------------------------------------

def _snapshot_connection(session: Session) -> Connection:
    engine = session.get_bind()
    if engine.dialect.name == "postgresql":
        conn = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        conn.begin()
        return conn
    conn = engine.connect()
    conn.begin()
    conn.connection.dbapi_connection.execute("BEGIN")  # one read snapshot (survey.db begins only for writes)
    return conn


def _rows(conn: Connection, table: Table) -> Iterator[dict[str, Any]]:
    stmt = select(table).order_by(*table.primary_key.columns)
    for row in conn.execution_options(yield_per=BATCH).execute(stmt).mappings():
        yield {key: _encode(value) for key, value in row.items()}


def export_all(session: Session, destination: Path, now: dt.datetime | None = None) -> list[TableSummary]:
    """Write every table into one archive at ``destination`` (replaced atomically when complete)."""
    now = now or utcnow()
    destination = Path(destination)
    conn = _snapshot_connection(session)
    summaries: list[TableSummary] = []
    manifest: dict[str, Any] = {"format": FORMAT, "created_at": now.isoformat(), "app_version": code_version(),
                                "source_dialect": conn.dialect.name, "tables": {}}
    fd, partial = tempfile.mkstemp(prefix=".pingyi-backup-", suffix=".part", dir=destination.parent or ".")
    os.close(fd)
    os.chmod(partial, 0o600)
    try:
        revision = schema_revision(conn)
        if revision is None:
            raise BackupError("数据库尚未迁移（没有 alembic_version），没有可备份的内容。")
        manifest["schema_revision"] = revision
        with tarfile.open(partial, "w:gz") as archive, tempfile.TemporaryDirectory() as scratch:
            for table in tables():
                path = Path(scratch) / f"{table.name}.jsonl"
                digest, count = hashlib.sha256(), 0
                with path.open("wb") as fh:
                    for row in _rows(conn, table):
                        line = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
                        fh.write(line)
                        digest.update(line)
                        count += 1
                member = f"tables/{table.name}.jsonl"
                archive.add(path, arcname=member)
                path.unlink()
                manifest["tables"][table.name] = {"file": member, "rows": count, "sha256": digest.hexdigest(),
                                                  "columns": [c.name for c in table.columns]}
                summaries.append(TableSummary(table.name, count))
            body = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(body), int(now.timestamp()), 0o600
            archive.addfile(info, io.BytesIO(body))
        os.replace(partial, destination)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    finally:
        conn.rollback()
        conn.close()
    return summaries


# --- import ------------------------------------------------------------------------------------

def _open(source: BinaryIO | Path) -> tarfile.TarFile:
    if isinstance(source, Path):
        return tarfile.open(source, mode="r:gz")
    source.seek(0)
    return tarfile.open(fileobj=source, mode="r:gz")


def _read_member(archive: tarfile.TarFile, name: str) -> bytes:
    try:
        member = archive.getmember(name)
    except KeyError as exc:
        raise BackupError(f"备份文件不完整：缺少 {name}。") from exc
    if not member.isfile():
        raise BackupError(f"备份文件损坏：{name} 不是普通文件。")
    handle = archive.extractfile(member)
    if handle is None:
        raise BackupError(f"备份文件损坏：无法读取 {name}。")
    return handle.read()


def check_archive(source: BinaryIO | Path, revision: str | None) -> dict[str, Any]:
    """Read and verify the whole archive, every row parsed; nothing is written. Returns the manifest.

    Raises :class:`BackupError` naming the first problem found.
    """
    try:
        with _open(source) as archive:
            try:
                manifest = json.loads(_read_member(archive, MANIFEST).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise BackupError("备份文件损坏：manifest.json 无法解析。") from exc
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise BackupError(f"不是 Pingyi 备份文件（格式应为 {FORMAT}）。")
            if manifest.get("schema_revision") != revision:
                raise BackupError(f"数据库结构版本不一致：备份为 {manifest.get('schema_revision')}，"
                                  f"当前数据库为 {revision}。请先把数据库迁移到与备份相同的版本。")
            listed = manifest.get("tables")
            if not isinstance(listed, dict) or set(listed) != {t.name for t in tables()}:
                raise BackupError("备份文件中的表与当前数据库结构不一致。")
            for table in tables():
                count = sum(1 for _row in _table_rows(archive, table, listed[table.name]))
                if count != listed[table.name].get("rows"):
                    raise BackupError(f"表 {table.name} 的行数与清单不符（{count} ≠ {listed[table.name].get('rows')}）。")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise BackupError(f"备份文件损坏或不是 .tar.gz 压缩包：{exc}") from exc
    return manifest


def _table_rows(archive: tarfile.TarFile, table: Table, entry: Any) -> Iterator[dict[str, Any]]:
    """The table's rows from the archive, hash-checked, parsed and typed for inserting."""
    columns = [c.name for c in table.columns]
    if not isinstance(entry, dict) or entry.get("columns") != columns:
        raise BackupError(f"表 {table.name} 的列与当前数据库结构不一致。")
    data = _read_member(archive, f"tables/{table.name}.jsonl")
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise BackupError(f"备份文件损坏：{table.name} 的校验值不符。")
    decoders = {c.name: _decoder(c) for c in table.columns}
    try:
        for line in data.decode("utf-8").splitlines():
            raw = json.loads(line)
            if not isinstance(raw, dict) or set(raw) != set(columns):
                raise BackupError(f"表 {table.name} 有一行的列不正确。")
            yield {name: decoders[name](value) for name, value in raw.items()}
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
        raise BackupError(f"表 {table.name} 有无法解析的行：{exc}") from exc


def _parents_first(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order a self-referencing table (the unit tree) so that every parent row precedes its children."""
    self_refs = [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]
    if not self_refs or len(table.primary_key.columns) != 1:
        return rows
    key = next(iter(table.primary_key.columns)).name
    placed: set[Any] = set()
    ordered: list[dict[str, Any]] = []
    pending = rows
    while pending:
        ready = [r for r in pending if all(r[c] is None or r[c] in placed or r[c] == r[key] for c in self_refs)]
        if not ready:
            raise BackupError(f"表 {table.name} 的上下级关系有环或缺少上级。")
        ordered.extend(ready)
        placed.update(r[key] for r in ready)
        ready_ids = {id(r) for r in ready}
        pending = [r for r in pending if id(r) not in ready_ids]
    return ordered


def _non_empty_tables(conn: Connection) -> list[str]:
    return [t.name for t in tables() if conn.execute(select(func.count()).select_from(t)).scalar()]


def _reset_sequences(conn: Connection) -> None:
    """PostgreSQL: the next id of every table comes after the highest imported one."""
    for table in tables():
        pk = list(table.primary_key.columns)
        if len(pk) != 1:
            continue
        sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                {"t": f'"{table.name}"', "c": pk[0].name}).scalar()
        if sequence is None:
            continue
        highest = f'SELECT COALESCE(MAX("{pk[0].name}"), 0) + 1 FROM "{table.name}"'
        conn.execute(text(f"SELECT setval(:s, ({highest}), false)"), {"s": sequence})


def import_all(session: Session, source: BinaryIO | Path) -> list[TableSummary]:
    """Restore an archive into this empty database (see the module docstring); commits on success."""
    write_transaction(session)
    conn = session.connection()
    try:
        revision = schema_revision(conn)
        if revision is None:
            raise BackupError("数据库尚未迁移。请先运行 flask db upgrade，再导入备份。")
        manifest = check_archive(source, revision)
        busy = _non_empty_tables(conn)
        if busy:
            raise BackupError("只能导入到空数据库，以下表已有数据：" + "、".join(busy))
        summaries = _insert_all(conn, source, manifest)
        if conn.dialect.name == "postgresql":
            _reset_sequences(conn)
        total = sum(s.rows for s in summaries)
        audit.record(session, None, "backup.import", None, f"从备份导入 {total} 行（{manifest.get('created_at')}）",
                     created_at=manifest.get("created_at"), source_dialect=manifest.get("source_dialect"),
                     app_version=manifest.get("app_version"), rows={s.name: s.rows for s in summaries})
        session.commit()
    except BackupError:
        session.rollback()
        raise
    except Exception as exc:
        session.rollback()
        raise BackupError(f"导入失败，没有写入任何数据：{exc}") from exc
    return summaries


def _insert_all(conn: Connection, source: BinaryIO | Path, manifest: dict[str, Any]) -> list[TableSummary]:
    summaries = []
    with _open(source) as archive:
        for table in tables():
            rows = _table_rows(archive, table, manifest["tables"][table.name])
            if any(fk.column.table is table for fk in table.foreign_keys):
                rows = iter(_parents_first(table, list(rows)))
            count = 0
            while batch := list(itertools.islice(rows, BATCH)):
                conn.execute(table.insert(), batch)
                count += len(batch)
            summaries.append(TableSummary(table.name, count))
    return summaries
