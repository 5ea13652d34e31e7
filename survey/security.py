"""Security headers on every response; strict transport security in production over TLS.

The policy allows no inline script, style or event handler anywhere, and no framing;
the one page meant for a frame (the admin's phone preview) widens ``frame-ancestors``
to ``'self'`` itself. HSTS is sent only when ``PINGYI_ENV=production`` and the request
came over HTTPS — directly, or through a trusted proxy's ``X-Forwarded-Proto: https``
(``PINGYI_PROXY_HOPS``) — so a plain-HTTP test or intranet site never pins itself.

A NUL character in a URL (``/i/ab%00cd``, ``?period=%00``) is refused before any view
runs: no code, name or filter of ours can contain one, and PostgreSQL cannot even
compare text with it, so a view that passed it to a query would fail with a 500.
The JSON API is left to its own checks, which answer in the API's error codes.
"""
from __future__ import annotations

from flask import Flask, abort, request
from werkzeug.datastructures import Headers

# No inline scripts or styles anywhere: every script and stylesheet is a file in static/.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)


def register(app: Flask) -> None:
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
        apply_headers(response.headers, app.config.get("ENV_NAME") == "production" and request.is_secure)
        return response


def apply_headers(headers: Headers, strict_transport: bool) -> None:
    """The security headers a response has not set itself (pages here, static files in ``assets``)."""
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if strict_transport:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
