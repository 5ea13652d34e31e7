"""Static files are the same for every visitor: they never read the session, never set a cookie,
carry no ``Vary: Cookie`` and only the cache and security headers (issue 17)."""
from __future__ import annotations

import re

import pytest
from flask import url_for

from survey import assets
from tests.conftest import build_app


def _css_url(app) -> str:
    with app.test_request_context():
        return url_for("static", filename="css/app.css")


def _vary(reply) -> set[str]:
    return {v.strip().lower() for v in reply.headers.get("Vary", "").split(",") if v.strip()}


class TestStaticAnswers:
    def test_a_logged_in_visitor_gets_no_cookie_and_no_vary_cookie(self, app, client, auth):
        auth.login_as("analyst")
        page = client.get("/admin/")
        assert page.status_code == 200 and "cookie" in _vary(page)  # pages do read the session
        for url in (_css_url(app), "/static/css/app.css", "/static/js/questionnaire.js"):
            reply = client.get(url, headers={"Accept-Encoding": "gzip"})
            assert reply.status_code == 200, url
            assert _vary(reply) == {"accept-encoding"}, (url, reply.headers.get("Vary"))
            assert reply.headers.getlist("Set-Cookie") == [], url
            reply.close()

    def test_the_session_is_never_opened(self, app, client, monkeypatch):
        url = _css_url(app)
        opened = []
        original = app.session_interface.open_session
        monkeypatch.setattr(app.session_interface, "open_session",
                            lambda *args: opened.append(1) or original(*args))
        reply = client.get(url)
        assert reply.status_code == 200 and opened == []
        reply.close()
        client.get("/").close()
        assert opened == [1]  # a page does open it: the probe works

    def test_hashed_urls_live_a_year_plain_names_an_hour(self, app, client):
        hashed = client.get(_css_url(app))
        assert hashed.headers["Cache-Control"] == f"public, max-age={assets.LONG_LIFETIME}, immutable"
        assert re.fullmatch(r'"[0-9a-f]{10}"', hashed.headers["ETag"])
        plain = client.get("/static/css/app.css")
        assert plain.headers["Cache-Control"] == f"public, max-age={assets.SHORT_LIFETIME}, must-revalidate"
        assert plain.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in plain.headers["Content-Security-Policy"]
        assert hashed.get_data() == plain.get_data()
        hashed.close()
        plain.close()

    def test_conditional_head_and_other_methods(self, app, client):
        url = _css_url(app)
        first = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert first.headers["Content-Encoding"] == "gzip"
        again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.get_data() == b""
        assert again.headers.getlist("Set-Cookie") == []
        head = client.head(url)
        assert head.status_code == 200 and head.get_data() == b""
        assert int(head.headers["Content-Length"]) == len(client.get(url).get_data())
        posted = client.post(url)
        assert posted.status_code == 405 and posted.headers["Allow"] == "GET, HEAD"
        first.close()

    def test_a_missing_file_is_the_sites_404(self, client):
        for url in ("/static/css/nothing.css", "/static/css/nothing.0123456789.css", "/static/../survey/config.py"):
            reply = client.get(url)
            assert reply.status_code == 404, url
            assert reply.mimetype == "text/html"
            reply.close()


@pytest.fixture
def behind_tls_proxy(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("PINGYI_PROXY_HOPS", "1")
    app = build_app(database_url, tmp_path / "prod", ENV_NAME="production", SECURE_COOKIES=True)
    yield app
    from survey.extensions import db

    with app.app_context():
        db.engine.dispose()


def test_static_files_carry_hsts_only_over_tls_in_production(behind_tls_proxy):
    client = behind_tls_proxy.test_client()
    url = _css_url(behind_tls_proxy)
    over_tls = client.get(url, headers={"X-Forwarded-Proto": "https"})
    assert over_tls.status_code == 200
    assert over_tls.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert over_tls.headers.getlist("Set-Cookie") == [] and "cookie" not in _vary(over_tls)
    plain = client.get(url, headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in plain.headers
    over_tls.close()
    plain.close()


def test_page_urls_do_not_stat_the_files_on_every_link(app, monkeypatch, tmp_path):
    folder = tmp_path / "static"
    (folder / "css").mkdir(parents=True)
    (folder / "css" / "y.css").write_text("a{color:red}")
    calls = []
    real_stat = assets.os.stat
    monkeypatch.setattr(assets.os, "stat", lambda path, *a, **k: calls.append(path) or real_stat(path, *a, **k))
    first = assets.load(str(folder), "css/y.css", assets.URL_RECHECK_SECONDS)
    looked = len(calls)
    assert looked >= 1
    for _ in range(5):
        assert assets.load(str(folder), "css/y.css", assets.URL_RECHECK_SECONDS) is first
    assert len(calls) == looked  # trusted: no stat
    assert assets.load(str(folder), "css/y.css") is first and len(calls) > looked  # untrusted: checked again
