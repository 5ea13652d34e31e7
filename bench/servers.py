"""What the HTTP benchmarks share: a demo database, gunicorn on a free port, the one-INSERT baseline.

``bench/load.py``, ``bench/http_get.py`` and ``bench/first_paint.py`` start their servers
through these functions, so they measure the same setup.
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

# --- the servers -------------------------------------------------------------------------------

def proc_cpu_seconds(pid: int, reaped: bool = False) -> float | None:
    """User + system CPU seconds of a local process so far (Linux ``/proc``), with ``reaped`` also its
    waited-for children's; None when the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return sum(int(v) for v in fields[11:15 if reaped else 13]) / os.sysconf("SC_CLK_TCK")


PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def report_log_problems(log: Path) -> None:
    """Print how many error lines gunicorn logged during the run, with the first one."""
    problems = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
                if "Traceback" in line or "ERROR" in line]
    if problems:
        print(f"\ngunicorn logged {len(problems)} error lines, e.g. {problems[0]!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the gunicorn master, its live workers and the workers it has reaped."""
        master = self.process.pid
        total = proc_cpu_seconds(master, reaped=True) or 0.0
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        except OSError:
            return total
        return total + sum(proc_cpu_seconds(int(child)) or 0.0 for child in children)  # a recycled one: in the master's

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_gunicorn(app_path: str, env: dict[str, str], workers: int, threads: int, ready_path: str,
                   log: Path, cwd: Path = ROOT) -> Server:
    """gunicorn on a free port, serving the checkout ``cwd`` (this one by default) with its own ``.venv``."""
    port = free_port()
    env = {**os.environ, **env, "WEB_CONCURRENCY": str(workers), "PINGYI_THREADS": str(threads),
           "PINGYI_ACCESS_LOG": "", "PYTHONPATH": str(cwd)}
    cmd = [str(cwd / ".venv" / "bin" / "gunicorn"), "--config", "python:survey.gunicorn_conf",
           "--bind", f"127.0.0.1:{port}", app_path]
    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    server = Server(process, port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({process.returncode}); see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {ready_path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
                if sock.recv(64).split(b" ")[1:2] in ([b"200"], [b"405"]):
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn did not answer on port {port}; see {log}")


# --- the databases -----------------------------------------------------------------------------

@dataclass
class Database:
    kind: str
    url: str
    folder: Path
    cleanup: list = field(default_factory=list)
    code: str = ""

    def close(self) -> None:
        for step in reversed(self.cleanup):
            step()


def prepare(kind: str, pg_url: str, folder: Path, responses: int, root: Path = ROOT) -> Database:
    """A fresh database with the demo loaded by the checkout ``root`` (its migrations, its seeder; this
    one by default); returns where it is and the window's short code."""
    if kind == "sqlite":
        database = Database(kind, f"sqlite:///{folder / 'site.db'}", folder)
    else:
        from survey.config import normalise_database_url

        admin = create_engine(normalise_database_url(pg_url), isolation_level="AUTOCOMMIT")
        name = f"pingyi_load_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
        database = Database(kind, url, folder)

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

        database.cleanup.append(drop)
    env = {**os.environ, "DATABASE_URL": database.url, "PINGYI_INSTANCE_PATH": str(folder), "FLASK_APP": "wsgi",
           "PYTHONPATH": str(root)}
    flask = str(root / ".venv" / "bin" / "flask")
    for args in (["db", "upgrade"], ["seed-demo", "--responses", str(responses)]):
        subprocess.run([flask, *args], cwd=root, env=env, check=True, capture_output=True)
    from survey.config import normalise_database_url
    from survey.models import Campaign, CampaignUnit, Unit

    engine = create_engine(normalise_database_url(database.url))
    with engine.connect() as conn:
        database.code = conn.execute(
            select(CampaignUnit.short_code).join(Unit, CampaignUnit.unit_id == Unit.id)
            .join(Campaign, CampaignUnit.campaign_id == Campaign.id)
            .where(Unit.code == "CK-BDC", Campaign.status == "open")
        ).scalar_one()
    engine.dispose()
    return database


def start_site(database: Database, workers: int, threads: int, log: Path, root: Path = ROOT) -> Server:
    """The site of the checkout ``root`` (this one by default) under gunicorn on the database, with a fresh secret key."""
    env = {"DATABASE_URL": database.url, "SECRET_KEY": secrets.token_hex(32), "PINGYI_INSTANCE_PATH": str(database.folder)}
    return start_gunicorn("wsgi:app", env, workers, threads, "/api/v1/health", log, cwd=root)


@contextmanager
def served_demo(kind: str, pg_url: str, folder: Path, responses: int, workers: int, log: Path,
                root: Path = ROOT) -> Iterator[tuple[Database, Server]]:
    """The demo database of the checkout ``root`` served by its gunicorn (``workers`` sync workers) while
    the block runs; both gone afterwards."""
    database = prepare(kind, pg_url, folder, responses, root=root)
    try:
        server = start_site(database, workers, 1, log, root=root)
        try:
            yield database, server
        finally:
            server.stop()
    finally:
        database.close()


def start_baseline(database: Database, workers: int, threads: int, log: Path) -> Server:
    """``bench/baseline_app.py`` (one INSERT per request) under the same gunicorn settings, same database server."""
    from bench.baseline_app import create_table

    url = database.url.replace("site.db", "baseline.db") if database.kind == "sqlite" else database.url
    create_table(url)
    return start_gunicorn("bench.baseline_app:create_baseline()", {"BASELINE_DATABASE_URL": url}, workers, threads,
                          "/insert", log)
