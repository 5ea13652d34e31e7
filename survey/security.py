"""Security headers on every response; strict transport security in production over TLS.

The policy allows no inline script, style or event handler anywhere, and no framing;
the one page meant for a frame (the admin's phone preview) widens ``frame-ancestors``
to ``'self'`` itself. HSTS is sent only when ``PINGYI_ENV=production`` and the request
came over HTTPS — directly, or through a trusted proxy's ``X-Forwarded-Proto: https``
(``PINGYI_PROXY_HOPS``) — so a plain-HTTP test or intranet site never pins itself.
"""
from __future__ import annotations

from flask import Flask, request

# No inline scripts or styles anywhere: every script and stylesheet is a file in static/.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)


def register(app: Flask) -> None:
    @app.after_request
    def security_headers(response):  # noqa: ANN001, ANN202
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("ENV_NAME") == "production" and request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
