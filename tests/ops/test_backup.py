"""Backup and restore: ``export-all`` / ``import-all`` round trips between SQLite and PostgreSQL,
and a bad archive is refused whole, before anything is written."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Answer, AuditLog, Campaign, FollowUpContact, Response, Unit, utcnow
from survey.services.demo.seed import seed_demo
from survey.services.ops.backup import BackupError, export_all, import_all, tables
from tests.conftest import PG_URL


def _head() -> str:
    """The newest migration (the schema a fresh database is at)."""
    from alembic.script import ScriptDirectory

    from survey import ROOT

    return ScriptDirectory(str(ROOT / "migrations")).get_current_head()

XSS = '<script>alert(1)</script>'


def _snapshot(app) -> dict[str, list[tuple]]:
    """Every row of every table, as comparable tuples (datetimes in UTC)."""
    with app.app_context():
        out = {}
        with db.engine.connect() as conn:
            for table in tables():
                rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
                out[table.name] = [tuple(r) for r in rows]
        return out


def _seeded_sqlite(fresh):
    app = fresh("sqlite")
    with app.app_context():
        seed_demo(db.session, responses=150)
        unit = db.session.scalar(select(Unit).order_by(Unit.id.desc()))
        unit.name = "市政务服务中心（测试）" + XSS
        campaign = db.session.scalar(select(Campaign).order_by(Campaign.id))
        campaign.analysis_settings = {"weights": {"企业": 0.3}, "note": "含中文 ✓", "nested": [1, 2.5, None]}
        db.session.commit()
    return app


def _export(app, path: Path) -> None:
    with app.app_context():
        export_all(db.session, path)


def _import(app, path: Path) -> None:
    with app.app_context():
        import_all(db.session, path)


def _without_import_audit(rows: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    return {**rows, "audit_log": [r for r in rows["audit_log"] if r[3] != "backup.import"]}


@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set: the cross-database round trip needs PostgreSQL")
def test_round_trip_sqlite_to_postgresql_and_back(tmp_path, fresh):
    source = _seeded_sqlite(fresh)
    original = _snapshot(source)
    assert sum(len(v) for v in original.values()) > 2000

    _export(source, tmp_path / "a.tar.gz")
    pg = fresh("postgresql")
    _import(pg, tmp_path / "a.tar.gz")
    assert _without_import_audit(_snapshot(pg)) == original

    with pg.app_context():
        unit = db.session.scalar(select(Unit).where(Unit.name.contains("<script>")))
        assert unit.name == "市政务服务中心（测试）" + XSS
        campaign = db.session.scalar(select(Campaign).order_by(Campaign.id))
        assert campaign.analysis_settings["note"] == "含中文 ✓" and campaign.analysis_settings["nested"] == [1, 2.5, None]
        response = db.session.scalar(select(Response).order_by(Response.id))
        assert response.submitted_at.tzinfo is not None
        # the sequences were moved past the imported ids: new rows get fresh ids
        highest = db.session.scalar(select(func.max(Unit.id)))
        db.session.add(Unit(code="NEW1", name="新单位"))
        db.session.commit()
        assert db.session.scalar(select(Unit.id).where(Unit.code == "NEW1")) == highest + 1
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "backup.import")) == 1

    _export(pg, tmp_path / "b.tar.gz")
    back = fresh("sqlite")
    _import(back, tmp_path / "b.tar.gz")
    again = _snapshot(back)
    assert again["answer"] == original["answer"] and again["response"] == original["response"]
    assert again["campaign"] == original["campaign"]
    assert len(again["unit"]) == len(original["unit"]) + 1


def test_round_trip_on_the_same_database_kind(app, tmp_path, backend, fresh):
    """Within one backend (the one this test run is on): everything comes back equal."""
    with app.app_context():
        seed_demo(db.session, responses=40)
        db.session.add(FollowUpContact(response_id=db.session.scalar(select(func.min(Response.id))),
                                       phone="13812345678", delete_after=utcnow() + dt.timedelta(days=3)))
        db.session.commit()
    original = _snapshot(app)
    _export(app, tmp_path / "same.tar.gz")
    target = fresh(backend)
    _import(target, tmp_path / "same.tar.gz")
    assert _without_import_audit(_snapshot(target)) == original
    with tarfile.open(tmp_path / "same.tar.gz") as archive:
        manifest = json.loads(archive.extractfile("manifest.json").read())
    assert manifest["schema_revision"] == _head() and manifest["tables"]["answer"]["rows"] == len(original["answer"])
    assert (tmp_path / "same.tar.gz").stat().st_mode & 0o077 == 0  # personal data: owner only


# --- refusals ------------------------------------------------------------------------------------

def _repack(source: Path, target: Path, change) -> None:
    """Copy an archive, letting ``change(name, data, manifest)`` alter members (and the manifest)."""
    with tarfile.open(source) as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}
    manifest = json.loads(members.pop("manifest.json"))
    change(members, manifest)
    with tarfile.open(target, "w:gz") as archive:
        for name, data in [*members.items(), ("manifest.json", json.dumps(manifest).encode())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


ARCHIVE_GROUP = pytest.mark.xdist_group("backup-archive")  # the tests sharing one good archive, on one worker


@pytest.fixture(scope="session")
def _good_archives() -> dict[str, bytes]:
    """The refusal tests' good archive per backend, made once per worker (they only read it)."""
    return {}


@pytest.fixture
def archive_and_empty(app, tmp_path, backend, fresh, _good_archives):
    """A good archive of the demo (30 responses) made on this backend, and an empty database.
    The first refusal test of the worker seeds and exports it; the others get a copy of its bytes."""
    good = tmp_path / "good.tar.gz"
    if backend not in _good_archives:
        with app.app_context():
            seed_demo(db.session, responses=30)
        _export(app, good)
        _good_archives[backend] = good.read_bytes()
    else:
        good.write_bytes(_good_archives[backend])
    return good, fresh(backend)


def _row_total(app) -> int:
    return sum(len(rows) for rows in _snapshot(app).values())


def _refused(target, path: Path, match: str) -> None:
    with target.app_context(), pytest.raises(BackupError, match=match):
        import_all(db.session, path)
    assert _row_total(target) == 0


@ARCHIVE_GROUP
def test_truncated_archive_is_refused_and_nothing_written(archive_and_empty, tmp_path):
    good, target = archive_and_empty
    bad = tmp_path / "cut.tar.gz"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _refused(target, bad, "损坏|不完整")


@ARCHIVE_GROUP
def test_tampered_rows_are_refused_by_their_hash(archive_and_empty, tmp_path):
    good, target = archive_and_empty

    def change(members, manifest):
        members["tables/answer.jsonl"] = members["tables/answer.jsonl"].replace(b'"level":5', b'"level":1', 1)

    _repack(good, tmp_path / "tampered.tar.gz", change)
    _refused(target, tmp_path / "tampered.tar.gz", "校验值")


@ARCHIVE_GROUP
def test_rows_that_break_a_constraint_roll_back_every_table(archive_and_empty, tmp_path):
    """Hashes fine, but the last table refers to a response that is not there: nothing stays."""
    good, target = archive_and_empty

    def change(members, manifest):
        line = json.dumps({"id": 999999, "case_id": 987654, "tag": "孤儿"}, ensure_ascii=False).encode() + b"\n"
        members["tables/case_tag.jsonl"] += line
        manifest["tables"]["case_tag"]["rows"] += 1
        manifest["tables"]["case_tag"]["sha256"] = hashlib.sha256(members["tables/case_tag.jsonl"]).hexdigest()

    _repack(good, tmp_path / "orphan.tar.gz", change)
    _refused(target, tmp_path / "orphan.tar.gz", "没有写入任何数据")


@ARCHIVE_GROUP
def test_other_schema_revision_and_garbage_are_refused(archive_and_empty, tmp_path):
    good, target = archive_and_empty

    def change(members, manifest):
        manifest["schema_revision"] = "0999"

    _repack(good, tmp_path / "other.tar.gz", change)
    _refused(target, tmp_path / "other.tar.gz", "结构版本不一致")
    (tmp_path / "junk.tar.gz").write_bytes(b"PK\x03\x04 not a tarball at all")
    _refused(target, tmp_path / "junk.tar.gz", "损坏")


def test_import_into_a_database_with_data_is_refused(app, tmp_path):
    with app.app_context():
        seed_demo(db.session, responses=5)
        before = db.session.scalar(select(func.count(Answer.id)))
    _export(app, tmp_path / "x.tar.gz")
    with app.app_context(), pytest.raises(BackupError, match="空数据库"):
        import_all(db.session, tmp_path / "x.tar.gz")
    with app.app_context():
        assert db.session.scalar(select(func.count(Answer.id))) == before


def test_cli_export_then_import(app, runner, tmp_path, backend, fresh):
    with app.app_context():
        seed_demo(db.session, responses=10)
    out = tmp_path / "cli.tar.gz"
    result = runner.invoke(args=["export-all", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "个表" in result.output and out.exists()
    target = fresh(backend)
    with target.app_context():  # the command runs against the current app
        imported = target.test_cli_runner().invoke(args=["import-all", str(out)])
        assert imported.exit_code == 0, imported.output
        again = target.test_cli_runner().invoke(args=["import-all", str(out)])
    assert again.exit_code != 0 and "只能导入到空数据库" in again.output
    missing = runner.invoke(args=["export-all", "-o", str(tmp_path / "no" / "such" / "x.tar.gz")])
    assert missing.exit_code != 0 and "目录不存在" in missing.output
