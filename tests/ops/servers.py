"""Real gunicorn servers and simulated phones for the fault and multi-instance tests.

Servers bind an ephemeral loopback port; phones are urllib clients with their own cookie
jar, filling the window questionnaire the way a person would.
"""
from __future__ import annotations

import http.client
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

ROOT = Path(__file__).resolve().parent.parent.parent
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
HIDDEN = re.compile(r'<input\b[^>]*\bname="(csrf_token|submission_id|started)"[^>]*\bvalue="([^"]*)"')
RADIO = re.compile(r'type="radio" name="(q\d+)" id="[^"]+" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Gunicorn:
    process: subprocess.Popen
    port: int
    log: Path
    log_handle: BinaryIO

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """The worker processes' ids (children of the master)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(p) for p in children.read_text().split()]
        except OSError:
            return []

    def terminate(self) -> None:
        """End the master and its workers at once (``stop`` waits for the master): SIGKILL to the server's
        process group. No test asserts anything about a test server's shutdown, and a graceful one cost
        2–4 s per server on a loaded machine, the workers tearing their interpreters down."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # started in a session of its own: its group
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        self.terminate()
        self.process.wait(timeout=30)
        self.log_handle.close()

    def wait_ready(self, workers: int = 2) -> None:
        """Wait until it answers and all its workers are up (60 s at most)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text(errors='replace')[-3000:]}")
            if healthy(self.base) and len(self.workers()) == workers:
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gunicorn did not come up: {self.log.read_text(errors='replace')[-3000:]}")


def launch_gunicorn(env: dict[str, str], log: Path, workers: int = 2, threads: int = 1) -> Gunicorn:
    """Start gunicorn (``wait_ready`` waits for it). No control socket: every instance on the host
    would share the one default path, and forking a worker waits for its thread to stop."""
    port = free_port()
    full_env = {**os.environ, **env, "WEB_CONCURRENCY": str(workers), "PINGYI_THREADS": str(threads),
                "PINGYI_ACCESS_LOG": "", "PYTHONPATH": str(ROOT)}
    full_env.pop("PINGYI_PROXY_HOPS", None)
    handle = log.open("ab")
    process = subprocess.Popen(
        [str(GUNICORN), "--config", "python:survey.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--no-control-socket", "wsgi:app"],
        cwd=ROOT, env=full_env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return Gunicorn(process, port, log, handle)


def start_gunicorn(env: dict[str, str], log: Path, workers: int = 2, threads: int = 1) -> Gunicorn:
    server = launch_gunicorn(env, log, workers, threads)
    server.wait_ready(workers)
    return server


def healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/api/v1/health", timeout=2) as reply:
            return reply.status == 200
    except (OSError, urllib.error.URLError):
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Phone:
    """One device: its own cookie jar; ``submit`` fills the questionnaire and posts it."""

    def __init__(self, base: str, user_agent: str = "Mozilla/5.0 (Linux; Android 12) test-phone") -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())
        self.opener.addheaders = [("User-Agent", user_agent)]

    def request(self, path: str, data: dict[str, str] | None = None, timeout: float = 20,
                headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        try:
            try:
                with self.opener.open(req, timeout=timeout) as reply:
                    return reply.status, reply.read().decode("utf-8", "replace"), dict(reply.headers)
            except urllib.error.HTTPError as exc:
                text = exc.read().decode("utf-8", "replace")
                exc.close()
                return exc.code, text, dict(exc.headers)
        except http.client.HTTPException as exc:
            # The connection broke mid-reply (a worker killed while sending it): to the phone this
            # is a network error like any other, and it tries again.
            raise ConnectionError(f"incomplete reply: {exc!r}") from exc

    def form(self, code: str) -> dict[str, str]:
        """Open the questionnaire and answer it: the first choice of every question."""
        status, html, _ = self.request(f"/s/{code}")
        if status != 200:
            raise ConnectionError(f"GET /s/{code} answered {status}")
        fields = dict(HIDDEN.findall(html))
        for name, value in RADIO.findall(html):
            fields.setdefault(name, value)
        return fields

    def submit(self, code: str, submission_id: str) -> int:
        """One attempt: returns the status of the POST (303 = stored, or stored before)."""
        fields = self.form(code)
        fields["submission_id"] = submission_id
        status, _, _ = self.request(f"/s/{code}", fields)
        return status
