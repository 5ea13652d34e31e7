"""Security headers and cookie flags, in development and in production behind a TLS proxy."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from survey.security import CSP
from tests.conftest import build_app

ROOT = Path(__file__).resolve().parent.parent.parent


def _directives(csp: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in csp.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/", "/login", "/api/v1/health", "/no/such/page", "/static/css/app.css"])
def test_every_response_carries_the_headers(client, path):
    response = client.get(path)
    policy = _directives(response.headers["Content-Security-Policy"])
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'" and policy["form-action"] == "'self'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # not production
    response.close()


def test_only_the_phone_preview_may_be_framed_and_only_by_us(client, auth, make):
    auth.login_as("analyst")
    questionnaire = make.questionnaire()
    make.commit()
    phone = client.get(f"/admin/questionnaires/{questionnaire.id}/preview/phone")
    assert phone.status_code == 200
    assert _directives(phone.headers["Content-Security-Policy"])["frame-ancestors"] == "'self'"
    assert phone.headers["X-Frame-Options"] == "SAMEORIGIN"
    frame_page = client.get(f"/admin/questionnaires/{questionnaire.id}/preview")
    assert _directives(frame_page.headers["Content-Security-Policy"])["frame-ancestors"] == "'none'"
    assert f"/admin/questionnaires/{questionnaire.id}/preview/phone" in frame_page.get_data(as_text=True)


def test_templates_have_no_inline_script_style_or_handlers():
    """The CSP would block them; a grep keeps new ones out (every template, every owner)."""
    offenders = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        html = path.read_text(encoding="utf-8")
        for pattern in (r"<script(?![^>]*\bsrc=)[^>]*>", r"<style\b", r"\sstyle\s*=", r"\son[a-z]+\s*=\s*[\"']",
                        r"javascript:"):
            offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in re.finditer(pattern, html)]
    assert offenders == []


@pytest.fixture
def production(database_url, tmp_path, monkeypatch):
    """The site as configured for production behind one TLS-terminating proxy."""
    monkeypatch.setenv("PINGYI_PROXY_HOPS", "1")
    app = build_app(database_url, tmp_path / "prod", ENV_NAME="production", SECURE_COOKIES=True)
    from tests.conftest import IsolatedClient

    app.test_client_class = IsolatedClient
    yield app
    from survey.extensions import db

    with app.app_context():
        db.engine.dispose()


def test_hsts_only_in_production_over_https(production):
    client = production.test_client()
    over_tls = client.get("/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert over_tls.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    plain = client.get("/", headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in plain.headers


def test_cookies_are_secure_httponly_samesite_in_production(production, make):
    client = production.test_client()
    page = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    cookies = page.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("pingyi_session="))
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert production.config["SESSION_COOKIE_SECURE"] and production.config["REMEMBER_COOKIE_SECURE"]


def test_the_policy_itself_allows_nothing_inline():
    policy = _directives(CSP)
    assert all("unsafe" not in value for value in policy.values())
    assert policy["default-src"] == "'self'"
