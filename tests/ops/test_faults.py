"""Faults under load: every submission that was answered "stored" is in the database exactly once.

Real gunicorn (2 sync workers) on an ephemeral port; four client threads submit the window
questionnaire, each phone with its own cookie jar and the submission id the site issued it,
sending the same form again on errors as a phone's user would. Mid-load:

* a gunicorn worker is killed with SIGKILL (SQLite and PostgreSQL);
* PostgreSQL drops every connection of the site's database and refuses new ones for two
  seconds (what a restart looks like from the site), done on our own database only, so
  other users of the server are not disturbed. The real restart
  (``pg_ctlcluster … restart``) runs when PINGYI_FAULT_PG_RESTART=1 and we are root.

Afterwards every submission id that got a success (303) is stored exactly once, with all
its answers, nothing else was stored, and the site serves new submissions by itself.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Self

import pytest
from sqlalchemy import create_engine, func, select, text

from survey.config import normalise_database_url
from survey.models import Answer, Response
from tests.conftest import PG_URL, _admin_engine
from tests.factories import Factory
from tests.ops.servers import Gunicorn, Phone, healthy, launch_gunicorn

pytestmark = pytest.mark.slow
THREADS = 4
BEFORE, AFTER = 12, 12  # successes before the fault (it strikes under load) and after it (the site recovered)


def _site(fresh, kind: str, tmp_path: Path) -> tuple[str, str, Gunicorn]:
    """gunicorn on a fresh database with one open window-service campaign, built while gunicorn boots;
    (database URL, the window's code, the server, ready)."""
    from survey.extensions import db

    url = fresh.url(kind)
    server = launch_gunicorn(_env(url, tmp_path / "instance"), tmp_path / "gunicorn.log")
    try:
        with fresh.app_on(url).app_context():
            make = Factory(db.session)
            campaign = make.campaign(units=[make.unit(name="不动产登记窗口")])
            code = campaign.campaign_units[0].short_code
            db.session.commit()
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return url, code, server


class Load:
    """Client threads submitting until stopped; what succeeded and what was tried."""

    def __init__(self, base: str, code: str) -> None:
        self.base, self.code = base, code
        self.succeeded: list[str] = []
        self.tried: set[str] = set()
        self.failures = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(THREADS)]

    def _run(self) -> None:
        while not self.stop.is_set():
            # One phone per questionnaire, as in life: it keeps its cookie jar, and after a failure its
            # user sends the same form again (the same answers, the same id the site issued to it).
            phone = Phone(self.base)
            fields = self._open(phone)
            if fields is None:
                continue
            sid = fields["submission_id"]
            with self.lock:
                self.tried.add(sid)
            for _attempt in range(60):
                try:
                    status = phone.request(f"/s/{self.code}", fields)[0]
                except OSError:
                    status = 0
                if status == 303:
                    with self.lock:
                        self.succeeded.append(sid)
                    break
                self._failed()

    def _open(self, phone: Phone) -> dict[str, str] | None:
        """The questionnaire, opened again until the site answers (or the load is stopped)."""
        while not self.stop.is_set():
            try:
                return phone.form(self.code)
            except OSError:
                self._failed()
        return None

    def _failed(self) -> None:
        with self.lock:
            self.failures += 1
        time.sleep(0.1)

    def __enter__(self) -> Self:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def wait_for(self, successes: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.succeeded) < successes and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.succeeded) >= successes, f"only {len(self.succeeded)} successes, {self.failures} failures"


def _check_exactly_once(url: str, load: Load) -> None:
    engine = create_engine(normalise_database_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Response.submission_id, func.count(Answer.id))
                                .join(Answer, Answer.response_id == Response.id, isouter=True)
                                .group_by(Response.id, Response.submission_id)).all()
    finally:
        engine.dispose()
    stored = [sid for sid, _n in rows]
    assert len(stored) == len(set(stored)), "a submission id was stored twice"
    missing = set(load.succeeded) - set(stored)
    assert not missing, f"{len(missing)} submissions answered 303 are not in the database"
    assert set(stored) <= load.tried, "something nobody submitted was stored"
    assert len(load.succeeded) == len(set(load.succeeded))
    answer_counts = {n for _sid, n in rows}
    assert len(answer_counts) == 1 and answer_counts.pop() > 0, "a response was stored without all its answers"


def _new_submission_works(base: str, code: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if Phone(base).submit(code, "after-" + uuid.uuid4().hex) == 303:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail("the site did not recover: no submission succeeded within 30 s")


def _env(url: str, instance: Path) -> dict[str, str]:
    return {"DATABASE_URL": url, "SECRET_KEY": uuid.uuid4().hex * 2, "PINGYI_INSTANCE_PATH": str(instance),
            "PINGYI_RATELIMIT_ENABLED": "0"}


def _kill_a_worker(server) -> None:
    workers = server.workers()
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the master notices and starts a new worker
        current = server.workers()
        if len(current) == 2 and workers[0] not in current:
            return
        time.sleep(0.1)
    pytest.fail("gunicorn did not replace the killed worker")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sigkill_of_a_worker_loses_and_duplicates_nothing(kind, fresh, tmp_path):
    if kind == "postgresql" and not PG_URL:
        pytest.skip("TEST_DATABASE_URL not set")
    url, code, server = _site(fresh, kind, tmp_path)
    try:
        with Load(server.base, code) as load:
            load.wait_for(BEFORE)
            _kill_a_worker(server)
            settled = len(load.succeeded)
            load.wait_for(settled + AFTER)
        _check_exactly_once(url, load)
        _new_submission_works(server.base, code)
    finally:
        server.stop()


def _database_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).database


def _outage_of_our_database(name: str, seconds: float) -> None:
    """What a PostgreSQL restart looks like to the site, confined to our own database."""
    admin, _url = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            time.sleep(seconds)
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
    finally:
        admin.dispose()


def _restart_postgresql() -> None:
    """The real thing: restart the server (root and pg_ctlcluster only); always leaves it running."""
    versions = sorted(os.listdir("/etc/postgresql"))
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"]
    try:
        subprocess.run([*command, "restart"], check=True, capture_output=True, timeout=120)
    finally:
        status = subprocess.run([*command, "status"], capture_output=True, check=False)
        if status.returncode != 0:
            subprocess.run([*command, "start"], capture_output=True, timeout=120, check=False)


def _real_restart_allowed() -> str | None:
    if os.environ.get("PINGYI_FAULT_PG_RESTART") != "1":
        return "set PINGYI_FAULT_PG_RESTART=1 to restart the PostgreSQL server itself (disturbs its other users)"
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return "pg_ctlcluster is not available"
    if os.geteuid() != 0:
        return "restarting PostgreSQL needs root"
    return None


@pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set")
@pytest.mark.parametrize("fault", ["connections-dropped", "server-restart"])
def test_postgresql_going_away_loses_nothing_and_the_site_recovers(fault, fresh, tmp_path):
    if fault == "server-restart" and (reason := _real_restart_allowed()):
        pytest.skip(reason)
    url, code, server = _site(fresh, "postgresql", tmp_path)
    try:
        with Load(server.base, code) as load:
            load.wait_for(BEFORE)
            if fault == "server-restart":
                _restart_postgresql()
            else:
                _outage_of_our_database(_database_name(url), seconds=2)
            settled = len(load.succeeded)
            load.wait_for(settled + AFTER)
        _check_exactly_once(url, load)
        assert healthy(server.base)
        _new_submission_works(server.base, code)
    finally:
        server.stop()
