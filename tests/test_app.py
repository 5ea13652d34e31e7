"""The application factory, configuration and cross-cutting behaviour."""
from __future__ import annotations

import os
import stat

import pytest

from survey import create_app
from survey.config import load_or_create_secret, normalise_database_url


def test_secret_generated_once_into_instance_folder(tmp_path):
    first = load_or_create_secret(str(tmp_path))
    second = load_or_create_secret(str(tmp_path))
    assert first == second and len(first) == 64
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600


def test_app_uses_generated_secret_without_env(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("PINGYI_INSTANCE_PATH", str(tmp_path))
    app = create_app({"SECRET_KEY": None, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    assert app.config["SECRET_KEY"] == (tmp_path / "secret_key").read_text().strip()


def test_database_url_normalised_for_psycopg3():
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_security_headers(client):
    response = client.get("/")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_unknown_page_is_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


@pytest.mark.parametrize(("path", "method", "status", "chinese", "english"), [
    ("/no/such/page", "get", 404, ("页面不存在", "您访问的链接不存在或已失效"), ("Page not found", "This link does not exist")),
    ("/", "post", 405, ("不支持的操作", "此页面不支持该操作"), ("Not supported", "This page does not support that action")),
])
def test_error_pages_speak_the_visitors_language(client, path, method, status, chinese, english):
    """Each status's own title and message, in Chinese by default and in English when asked."""
    zh = getattr(client, method)(path)
    en = getattr(client, method)(path + "?lang=en")
    assert (zh.status_code, en.status_code) == (status, status)
    page_zh, page_en = zh.get_data(as_text=True), en.get_data(as_text=True)
    assert all(text in page_zh for text in chinese), page_zh[:800]
    assert all(text.lower() in page_en.lower() for text in english), page_en[:800]
    assert not any(text in page_en for text in chinese)


@pytest.mark.own_app
def test_a_status_without_a_page_of_its_own_shows_its_standard_name(app, client):
    from werkzeug.exceptions import abort

    app.add_url_rule("/unsupported-test", "unsupported_test", lambda: abort(415))
    response = client.get("/unsupported-test")
    assert response.status_code == 415
    assert "<h1>Unsupported Media Type</h1>" in response.get_data(as_text=True)


def test_api_errors_are_json(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["status"] == 404


def test_health_reports_database(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "up"}


def test_english_selectable_and_remembered(client):
    response = client.get("/?lang=en")
    assert 'lang="en"' in response.get_data(as_text=True)
    assert "pingyi_lang=en" in response.headers.get("Set-Cookie", "")
    again = client.get("/")
    assert 'lang="en"' in again.get_data(as_text=True)


def test_chinese_by_default(client):
    html = client.get("/").get_data(as_text=True)
    assert 'lang="zh-CN"' in html and "正在进行的评议" in html


def test_sqlite_runs_in_wal_mode(app, backend):
    from sqlalchemy import text

    from survey.extensions import db

    if backend != "sqlite":
        return
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
