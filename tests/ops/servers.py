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
HIDDEN = re.compile(r'name="(csrf_token|submission_id|started)" type="hidden" value="([^"]*)"')
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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_handle.close()


def start_gunicorn(env: dict[str, str], log: Path, workers: int = 2, threads: int = 1) -> Gunicorn:
    port = free_port()
    full_env = {**os.environ, **env, "WEB_CONCURRENCY": str(workers), "PINGYI_THREADS": str(threads),
                "PINGYI_ACCESS_LOG": "", "PYTHONPATH": str(ROOT)}
    full_env.pop("PINGYI_PROXY_HOPS", None)
    handle = log.open("ab")
    process = subprocess.Popen(
        [str(GUNICORN), "--config", "python:survey.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT, env=full_env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = Gunicorn(process, port, log, handle)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text(errors='replace')[-3000:]}")
        if healthy(server.base) and len(server.workers()) == workers:
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn did not come up: {log.read_text(errors='replace')[-3000:]}")


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
