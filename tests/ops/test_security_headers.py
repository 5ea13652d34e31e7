"""Security headers and cookie flags, in development and in production behind a TLS proxy."""
from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from survey import assets
from survey.security import POLICY, content_security_policy
from tests.conftest import build_app

ROOT = Path(__file__).resolve().parent.parent.parent
#: the one inline style a template may hold: the citizen layout's stylesheet, allowed by its hash
INLINE_STYLE = ("templates/public/layout.html", "<style>{{ inline_stylesheet() }}</style>")
STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


def _directives(csp: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in csp.split(";") if part.strip()}


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _the_stylesheet_source() -> str:
    """The hash the policy must name, computed here from the file as the site serves it (minified)."""
    name = assets.INLINE_STYLESHEET
    return _sha256_source(assets.minify(name, (ROOT / "static" / name).read_bytes()).decode("utf-8"))


@pytest.mark.parametrize("path", ["/", "/login", "/api/v1/health", "/no/such/page", "/static/css/app.css"])
def test_every_response_carries_the_headers(client, path):
    response = client.get(path)
    policy = _directives(response.headers["Content-Security-Policy"])
    # 'self' and exactly one hash, the stylesheet's own: no other inline style is allowed
    assert policy["script-src"] == "'self'" and policy["style-src"] == f"'self' {_the_stylesheet_source()}"
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
    # the preview is the citizens' page, stylesheet inlined: its own policy names the same hash
    assert _directives(phone.headers["Content-Security-Policy"])["style-src"] == f"'self' {_the_stylesheet_source()}"
    assert _sha256_source(STYLE_BLOCK.findall(phone.get_data(as_text=True))[0]) == _the_stylesheet_source()
    assert phone.headers["X-Frame-Options"] == "SAMEORIGIN"
    frame_page = client.get(f"/admin/questionnaires/{questionnaire.id}/preview")
    assert _directives(frame_page.headers["Content-Security-Policy"])["frame-ancestors"] == "'none'"
    assert f"/admin/questionnaires/{questionnaire.id}/preview/phone" in frame_page.get_data(as_text=True)


def test_templates_have_no_inline_script_style_or_handlers_but_the_hashed_stylesheet():
    """The CSP would block them; a grep keeps new ones out (every template, every owner). The one
    exception is the citizen layout's ``<style>`` holding the stylesheet whose hash the CSP names."""
    offenders = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        name = str(path.relative_to(ROOT))
        html = path.read_text(encoding="utf-8")
        if name == INLINE_STYLE[0]:
            assert html.count(INLINE_STYLE[1]) == 1, f"{name} must inline the stylesheet exactly once, as is"
            html = html.replace(INLINE_STYLE[1], "")
        for pattern in (r"<script(?![^>]*\bsrc=)[^>]*>", r"<style\b", r"\sstyle\s*=", r"\son[a-z]+\s*=\s*[\"']",
                        r"javascript:", r"inline_stylesheet"):
            offenders += [f"{name}: {m.group(0)}" for m in re.finditer(pattern, html)]
    assert offenders == []


@pytest.mark.parametrize("path", ["/", "/no/such/page"])
def test_a_citizen_pages_only_style_block_is_the_one_the_policy_names(client, path):
    """The page's one ``<style>`` hashes to the policy's one hash, and is the stylesheet served as a file."""
    response = client.get(path)
    html = response.get_data(as_text=True)
    blocks = STYLE_BLOCK.findall(html)
    assert len(blocks) == 1 and html.count("<style") == 1
    assert _sha256_source(blocks[0]) == _the_stylesheet_source()
    assert _directives(response.headers["Content-Security-Policy"])["style-src"] == f"'self' {_sha256_source(blocks[0])}"
    assert blocks[0].encode("utf-8") == client.get("/static/css/app.css").get_data()
    assert 'rel="stylesheet"' not in html


def test_another_inline_style_is_not_allowed(client):
    """An injected ``<style>`` or ``style=`` attribute, or a changed stylesheet, matches no source of the policy."""
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    sources = _directives(csp)["style-src"].split()
    assert sources == ["'self'", _the_stylesheet_source()]
    assert "unsafe" not in csp and "nonce-" not in csp  # no unsafe-inline, unsafe-hashes or nonce
    injected = "body{display:none}"
    assert _sha256_source(injected) not in sources
    sheet = STYLE_BLOCK.findall(response.get_data(as_text=True))[0]
    assert _sha256_source(sheet + " ") not in sources and _sha256_source(sheet.rstrip("\n")) not in sources


def test_a_sheet_that_could_close_its_element_is_never_inlined(tmp_path):
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "app.css").write_text("a{color:red}</STYLE><script src=x></script>")
    with pytest.raises(ValueError, match="cannot be inlined"):
        assets.style_text(assets.inline_stylesheet(str(tmp_path)))


def test_staff_pages_still_link_the_stylesheet(client, auth):
    """The admin, desk and sign-in pages keep the cached files: no inline style there."""
    login = client.get("/login").get_data(as_text=True)
    assert "<style" not in login and re.search(r'<link rel="stylesheet" href="/static/css/app\.[0-9a-f]{10}\.css">', login)
    auth.login_as("analyst")
    admin = client.get("/admin/").get_data(as_text=True)
    assert "<style" not in admin and "/static/css/app." in admin and "/static/css/staff." in admin


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


def test_the_policy_itself_allows_nothing_inline_but_the_one_hash(app):
    assert "unsafe" not in POLICY and "nonce" not in POLICY
    with app.app_context():
        policy = _directives(content_security_policy())
    assert all("unsafe" not in value for value in policy.values())
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"
    assert policy["style-src"] == f"'self' {_the_stylesheet_source()}"
