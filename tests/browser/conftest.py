"""Real-browser tests: the site served on an ephemeral port, driven by headless Chromium.

Fixtures for every area's browser tests (mark the tests ``@pytest.mark.browser``):

* ``live_server`` — the ``app`` fixture's site (its test database, SQLite or PostgreSQL)
  served by a threaded werkzeug server on 127.0.0.1 and a free port; yields the base URL.
  The server is started once per worker and serves the current test's app.
* ``browser`` — one headless Chromium per test session (Debian's /usr/bin/chromium; the
  tests skip with a clear message when it is missing).
* ``new_page(javascript=True, width=390, height=844, locale="zh-CN")`` — a fresh browser
  context (no cookies, no storage) with a phone's touch viewport; returns its page.
  Uncaught script errors and Content-Security-Policy violations fail the test.
* ``phone`` — ``new_page()``: 390×844 with JavaScript; ``phone_nojs`` — the same without.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


class _CurrentApp:
    """The WSGI app of the live server: whichever test app is current."""

    app: Flask | None = None

    def __call__(self, environ, start_response):
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"no test is running"]
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def _live_socket() -> Iterator[tuple[str, _CurrentApp]]:
    """One threaded server per worker (starting and stopping one per test cost half a second each)."""
    current = _CurrentApp()
    server = make_server("127.0.0.1", 0, current, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", current
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def live_server(app: Flask, _live_socket: tuple[str, _CurrentApp]) -> Iterator[str]:
    """The app under test on a real socket; each request gets its own app context and session."""
    base, current = _live_socket
    current.app = app
    try:
        yield base
    finally:
        current.app = None


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: install Debian's chromium package to run the browser tests")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@pytest.fixture
def new_page(browser) -> Iterator[Callable[..., object]]:
    contexts = []
    problems: list[str] = []

    def factory(javascript: bool = True, width: int = PHONE["width"], height: int = PHONE["height"],
                locale: str = "zh-CN"):
        context = browser.new_context(
            viewport={"width": width, "height": height}, is_mobile=True, has_touch=True,
            java_script_enabled=javascript, locale=locale,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
        page.on("console", lambda msg: problems.append(f"console: {msg.text}")
                if "Content Security Policy" in msg.text else None)
        return page

    yield factory
    for context in contexts:
        context.close()
    assert not problems, problems


@pytest.fixture
def phone(new_page):
    return new_page()


@pytest.fixture
def phone_nojs(new_page):
    return new_page(javascript=False)
