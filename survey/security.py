"""Security headers on every response; strict transport security in production over TLS.

The policy allows no inline script or event handler anywhere, and no framing; the one page
meant for a frame (the admin's phone preview) widens ``frame-ancestors`` to ``'self'`` itself.
The one inline style it allows is the citizen pages' stylesheet, which they carry in their
head (see ``survey.assets``): ``style-src 'self' 'sha256-…'`` names the hash of exactly those
bytes, computed where the file is read, so any other ``<style>`` element or ``style=``
attribute (an injected one included) is refused; never ``'unsafe-inline'``. Every response
carries the same policy: the hash admits only our own stylesheet's text, nothing new.

HSTS is sent only when ``PINGYI_ENV=production`` and the request came over HTTPS — directly,
or through a trusted proxy's ``X-Forwarded-Proto: https`` (``PINGYI_PROXY_HOPS``) — so a
plain-HTTP test or intranet site never pins itself.

A NUL character in a URL (``/i/ab%00cd``, ``?period=%00``) is refused before any view
runs: no code, name or filter of ours can contain one, and PostgreSQL cannot even
compare text with it, so a view that passed it to a query would fail with a 500.
The JSON API is left to its own checks, which answer in the API's error codes.
"""
from __future__ import annotations

import functools
from typing import Any

from flask import Flask, abort, current_app, request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from werkzeug.datastructures import Headers

from survey import assets

# No inline scripts: every script is a file in static/. One inline style: the citizen pages' stylesheet,
# by its hash ({style_hash}); every other stylesheet is a file.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' '{style_hash}'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors {frame_ancestors}"
)


@functools.lru_cache(maxsize=16)
def _policy(style_hash: str, frame_ancestors: str) -> str:
    return POLICY.format(style_hash=style_hash, frame_ancestors=frame_ancestors)


def content_security_policy(static_folder: str | None = None, frame_ancestors: str = "'none'") -> str:
    """The policy, naming the hash of the stylesheet the citizen pages inline (the current app's by default)."""
    folder = static_folder or current_app.static_folder
    assert folder is not None
    return _policy(assets.inline_stylesheet(folder).csp_hash, frame_ancestors)


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, their signing serializer built once per set of keys.

    Flask builds a new ``URLSafeTimedSerializer`` to open the session and again to save it, and each
    construction serialises an empty dict to learn its serializer's type: 5 µs each, about half a
    percent of a phone's CPU time. The serializer holds only its keys and settings (thread-safe); a
    changed ``SECRET_KEY`` or ``SECRET_KEY_FALLBACKS`` builds a new one."""

    def __init__(self) -> None:
        self._built: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        built = self._built
        if built is None or built[0] != keys:
            built = self._built = (keys, super().get_signing_serializer(app))
        return built[1]


def register(app: Flask) -> None:
    static_folder = app.static_folder
    assert static_folder is not None
    app.session_interface = SessionCookies()

    @app.before_request
    def refuse_nul_in_url():
        if request.path.startswith("/api/"):
            return  # the API checks its own paths and queries and answers in its own error codes
        if "\x00" in request.path:
            abort(404)
        if any("\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)):
            abort(400)

    @app.after_request
    def security_headers(response):
        apply_headers(response.headers, app.config.get("ENV_NAME") == "production" and request.is_secure,
                      content_security_policy(static_folder))
        return response


def apply_headers(headers: Headers, strict_transport: bool, policy: str) -> None:
    """The security headers a response has not set itself (pages here, static files in ``assets``)."""
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if strict_transport:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
