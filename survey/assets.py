"""Static files under content-hashed URLs, and gzip for text the client accepts compressed.

* ``url_for('static', filename='css/app.css')`` gives ``/static/css/app.<hash>.css``, the
  first 10 hex digits of the file's SHA-256. Such a URL names one content forever, so it is
  served with ``Cache-Control: public, max-age=31536000, immutable``: a phone fetches the
  stylesheet and the script once, and a new deployment changes the URL, never the file
  behind it. The plain name (``/static/css/app.css``) and an old hash still work, with a
  one-hour lifetime that a browser revalidates.
* Every static file is read, minified (CSS and JS: comments and indentation, see :func:`minify`),
  hashed and gzip-compressed once per process (again when its modification time changes); a
  request that accepts gzip gets the compressed copy. Building a page's URLs looks at a file
  at most every :data:`URL_RECHECK_SECONDS` (no ``stat`` per link per page).
* Pages (HTML) and other text answers over :data:`MIN_SIZE` bytes are gzip-compressed after
  the view, when the request sends ``Accept-Encoding: gzip``; ``Vary: Accept-Encoding`` says so
  to caches. A page that opens with the inlined stylesheet starts from a compressor primed once
  per process with that opening (:func:`gzip_page`): the sheet is not compressed again per request.
  A citizen's page kept per process (the fresh questionnaire, the thank-you page) is compressed once
  with holes for each visitor's values (:class:`HoledPage`) and sent as it is.
* The citizen pages carry their stylesheet (:data:`INLINE_STYLESHEET`) in a ``<style>`` element
  instead of linking it (``public/layout.html``, template global ``inline_stylesheet``): a slow
  phone then paints after one request instead of two (gunicorn's sync workers close the
  connection after each answer, so a linked sheet costs a new connection too). The bytes inlined
  are the served file's (minified) bytes, read with it; their ``sha256-…`` (:attr:`Asset.csp_hash`)
  is computed in the same read and is the one inline style the Content-Security-Policy allows
  (``survey.security``). A page cached per process names the sheet's hashed URL in its key, whose
  digest is of the same bytes: a changed sheet is a new page. Staff, desk, sign-in and published
  results pages still link the file.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import mimetypes
import os
import re
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Request, Response, request
from markupsafe import Markup
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import safe_join

HASH_CHARS = 10
LONG_LIFETIME = 365 * 24 * 3600
SHORT_LIFETIME = 3600
MIN_SIZE = 500  # bytes: smaller answers are not worth a gzip header
GZIP_LEVEL = 6  # pages: compressed on every request
STATIC_GZIP_LEVEL = 9  # static files: compressed once per process
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml", "application/xml")
INLINE_STYLESHEET = "css/app.css"  # the citizen pages' stylesheet, inlined in their head (see the module's doc)


@dataclass(frozen=True)
class Asset:
    path: Path
    mtime_ns: int
    digest: str
    mimetype: str
    data: bytes
    gzipped: bytes | None  # None when compressing does not pay (or the type is already compressed)
    csp_hash: str  # "sha256-<base64>" of data: the CSP source that allows exactly these bytes inline


_assets: dict[str, Asset] = {}
_lock = threading.Lock()


def _compressible(mimetype: str) -> bool:
    return mimetype.startswith(COMPRESSIBLE)


_checked: dict[tuple[str, str], tuple[float, Asset]] = {}
URL_RECHECK_SECONDS = 2.0  # how long a page's url_for trusts the file it last saw (see hashed_static_urls)


def load(static_folder: str, filename: str, trust_for: float = 0.0) -> Asset | None:
    """The static file ``filename`` (relative to the static folder), read once per modification.

    With ``trust_for`` seconds, a file checked that recently is not looked at again (no
    ``stat``): building a page's URLs then costs a dictionary look-up per asset.
    """
    if trust_for:
        seen = _checked.get((static_folder, filename))
        if seen is not None and time.monotonic() - seen[0] < trust_for:
            return seen[1]
    asset = _load(static_folder, filename)
    if asset is not None:
        _checked[(static_folder, filename)] = (time.monotonic(), asset)
    return asset


def _load(static_folder: str, filename: str) -> Asset | None:
    joined = safe_join(static_folder, filename)
    if joined is None:
        return None
    try:
        stat = os.stat(joined)
    except OSError:
        return None
    if not os.path.isfile(joined):
        return None
    asset = _assets.get(joined)
    if asset is not None and asset.mtime_ns == stat.st_mtime_ns:
        return asset
    data = minify(joined, Path(joined).read_bytes())
    mimetype = mimetypes.guess_type(joined)[0] or "application/octet-stream"
    gzipped = gzip.compress(data, STATIC_GZIP_LEVEL, mtime=0) if _compressible(mimetype) else None
    if gzipped is not None and len(gzipped) >= len(data):
        gzipped = None
    sha256 = hashlib.sha256(data).digest()
    asset = Asset(Path(joined), stat.st_mtime_ns, sha256.hex()[:HASH_CHARS], mimetype, data, gzipped,
                  "sha256-" + base64.b64encode(sha256).decode("ascii"))
    with _lock:
        _assets[joined] = asset
    return asset


def inline_stylesheet(static_folder: str) -> Asset:
    """The citizen pages' stylesheet as they inline it and as the CSP names it: one read, one
    :class:`Asset` for the page's ``<style>`` text, its hash in the policy and the cache key's URL."""
    asset = load(static_folder, INLINE_STYLESHEET, URL_RECHECK_SECONDS)
    if asset is None:
        raise RuntimeError(f"{INLINE_STYLESHEET} is missing from {static_folder}")
    return asset


_style_text: dict[tuple[Path, str], Markup] = {}


def style_text(asset: Asset) -> Markup:
    """The stylesheet's bytes as the text of a ``<style>`` element, unchanged (the CSP hash is of
    exactly these bytes); a sheet that could close the element is refused."""
    text = _style_text.get((asset.path, asset.digest))
    if text is None:
        decoded = asset.data.decode("utf-8")
        if "</style" in decoded.lower():
            raise ValueError(f"{asset.path} contains '</style': it cannot be inlined")
        text = _style_text[(asset.path, asset.digest)] = Markup(decoded)
    return text


_COMMENT = r"/\*(?:(?!\*/).)*\*/"  # one comment: it never reaches past its own end
_BLOCK_COMMENT = re.compile(_COMMENT, re.DOTALL)
_JS_LINE_COMMENT = re.compile(rf"^[ \t]*{_COMMENT}[ \t]*$", re.DOTALL | re.MULTILINE)  # on lines of its own
_JS_TRAILING_COMMENT = re.compile(rf"([;{{}}])[ \t]*{_COMMENT}[ \t]*$", re.MULTILINE)  # after a statement's end


def minify(path: str, data: bytes) -> bytes:
    """CSS and JS as served: comments and indentation dropped, lines kept (no statement is joined).

    Conservative on purpose: a JS comment goes only when it fills its lines or follows the ``;``,
    ``{`` or ``}`` that ends a line's code; our scripts use no template literals.
    """
    if not path.endswith((".css", ".js")):
        return data
    text = data.decode("utf-8")
    if path.endswith(".css"):
        text = _BLOCK_COMMENT.sub("", text)
    else:
        text = _JS_TRAILING_COMMENT.sub(r"\1", _JS_LINE_COMMENT.sub("", text))
    return ("\n".join(line.strip() for line in text.splitlines() if line.strip()) + "\n").encode("utf-8")


def hashed_name(filename: str, digest: str) -> str:
    """``css/app.css`` → ``css/app.<digest>.css``."""
    folder, _, name = filename.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    hashed = f"{stem}.{digest}.{ext}" if dot and stem else f"{name}.{digest}"
    return f"{folder}/{hashed}" if folder else hashed


def split_hash(filename: str) -> tuple[str, str | None]:
    """``css/app.<digest>.css`` → (``css/app.css``, digest); a name without a hash → (name, None)."""
    folder, _, name = filename.rpartition("/")
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        part = parts[i]
        if len(part) == HASH_CHARS and all(c in "0123456789abcdef" for c in part):
            plain = ".".join(parts[:i] + parts[i + 1:])
            return (f"{folder}/{plain}" if folder else plain), part
    return filename, None


PRIMED_MAX = 8  # compressor states kept (about 0.3 MB each): one per language and stylesheet version in use
_STYLE_WITHIN = 200  # bytes: the page's <style> must open this early for its opening to be primed
_primed: dict[bytes, tuple[Any, bytes]] = {}


def gzip_page(data: bytes) -> bytes:
    """A page gzip-compressed at :data:`GZIP_LEVEL`, one ordinary gzip stream.

    The citizen pages open the same way: doctype, ``<html lang>``, ``<meta charset>``, then the inlined
    stylesheet (``base.html``), 15 KB that would cost four times the rest of the page to compress on every
    request. That opening is compressed once per process; each page continues from a copy of the
    compressor's state (``zlib`` ``copy()``): still one gzip stream, of the size a single pass gives.
    """
    opening = data[:_STYLE_WITHIN]
    start = opening.find(b"<style>") if opening.lstrip()[:15].lower() == b"<!doctype html>" else -1
    end = data.find(b"</style>", start) if start >= 0 else -1
    if end < 0:
        return gzip.compress(data, GZIP_LEVEL, mtime=0)
    end += len(b"</style>")
    opening = data[:end]
    primed = _primed.get(opening)
    if primed is None:
        compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip header and trailer
        primed = (compressor, compressor.compress(opening))
        with _lock:
            if len(_primed) >= PRIMED_MAX:
                _primed.clear()
            _primed[opening] = primed
    compressor = primed[0].copy()
    return primed[1] + compressor.compress(data[end:]) + compressor.flush()


_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no time, unknown system
_HOLE_BYTE = b"\x00"  # what a hole holds while the page is compressed: no page contains it


class HoledPage:
    """A page rendered once per process with marks where each visitor's own values go (a CSRF token, a
    submission id: URL-safe characters), and compressed once.

    :meth:`text` puts the values in place of the marks. :meth:`gzipped` gives the same bytes as one gzip
    stream without compressing the page again: the parts between the marks were deflated once, each ending
    on a byte boundary (a sync flush), with the compressor's window holding NUL bytes of each value's length
    where the value goes; a request's values go in as stored (uncompressed) deflate blocks of the same
    length. A later part's back-references reach earlier parts at the same distances as in the real page,
    and never into a hole: the page has no NUL byte, so no match can cover one. Compressed once per length
    of the values (a token's length changes only with its format). As small as compressing the filled page
    whole (the window questionnaire: 7,153 bytes against 7,157); no compression per request.
    """

    def __init__(self, html: str, marks: tuple[str, ...] = ()) -> None:
        data = html.encode("utf-8")
        found = [m for m in marks if m in html]
        self.parts: list[bytes] = [data]  # the page's bytes between its marks (kept once: a worker keeps thousands)
        self.holes: list[str] = []
        if found:
            pattern = re.compile("|".join(re.escape(m) for m in found).encode("utf-8"))
            self.parts = pattern.split(data)
            self.holes = [m.group().decode("utf-8") for m in pattern.finditer(data)]
        self._usable = _HOLE_BYTE not in data
        self._compressed: dict[tuple[int, ...], list[bytes]] = {}

    def text(self, values: dict[str, str]) -> bytes:
        """The page with ``values`` (mark → value) in place of its marks."""
        if not self.holes:
            return self.parts[0]
        filled = [self.parts[0]]
        for mark, part in zip(self.holes, self.parts[1:], strict=True):
            filled += (values[mark].encode("utf-8"), part)
        return b"".join(filled)

    def gzipped(self, values: dict[str, str]) -> bytes:
        """:meth:`text` as one gzip stream, its parts compressed once."""
        if not self._usable:
            return gzip_page(self.text(values))
        filled = [values[mark].encode("utf-8") for mark in self.holes]
        lengths = tuple(len(value) for value in filled)
        pieces = self._compressed.get(lengths)
        if pieces is None:
            pieces = self._compressed[lengths] = self._deflate(lengths)  # a race builds the same twice: harmless
        out = [_GZIP_HEADER, pieces[0]]
        crc = zlib.crc32(self.parts[0])
        size = len(self.parts[0])
        for value, part, piece in zip(filled, self.parts[1:], pieces[1:], strict=True):
            out += (_stored_block(value), piece)
            crc = zlib.crc32(part, zlib.crc32(value, crc))
            size += len(value) + len(part)
        out.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
        return b"".join(out)

    def respond(self, values: dict[str, str]) -> Response:
        """The answer carrying the page with this request's ``values``: gzip-compressed from the parts
        compressed once when the request accepts it (so the after-request compression leaves it be), with
        ``Vary: Accept-Encoding`` either way, as that compression would give it."""
        compressed = accepts_gzip()
        response = Response(self.gzipped(values) if compressed else self.text(values), mimetype="text/html")
        if compressed:
            response.headers["Content-Encoding"] = "gzip"
        response.vary.add("Accept-Encoding")
        return response

    def _deflate(self, lengths: tuple[int, ...]) -> list[bytes]:
        compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate
        pieces = []
        for part, length in zip(self.parts, (*lengths, None), strict=True):
            if length is None:  # the last part ends the stream
                pieces.append(compressor.compress(part) + compressor.flush(zlib.Z_FINISH))
            else:
                pieces.append(compressor.compress(part) + compressor.flush(zlib.Z_SYNC_FLUSH))
                compressor.compress(_HOLE_BYTE * length)  # in the window, not in the output
                compressor.flush(zlib.Z_SYNC_FLUSH)
        return pieces


def _stored_block(value: bytes) -> bytes:
    """``value`` as one stored deflate block, not the last, starting and ending on a byte boundary."""
    if len(value) > 0xFFFF:
        raise ValueError("a hole's value is at most 65,535 bytes")
    return b"\x00" + struct.pack("<HH", len(value), len(value) ^ 0xFFFF) + value


def accepts_gzip(request_: Request | None = None) -> bool:
    """Whether the request (the current one by default) accepts a gzip-compressed answer."""
    header = (request_ or request).headers.get("Accept-Encoding", "")
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and _q_zero(q[2:]))
    return False


def _q_zero(value: str) -> bool:
    try:
        return float(value) == 0
    except ValueError:
        return False


class StaticFiles:
    """WSGI middleware that answers ``/static/…`` before Flask: no request context, no session.

    A static answer is the same for everyone, so it must neither read the session (Flask would
    add ``Vary: Cookie`` and a shared cache would keep one copy per visitor) nor set a cookie
    (Flask-Login refreshes its remember cookie on any response that runs its hooks). It carries
    the cache lifetime, the ETag and the security headers, nothing else. A path that names no
    file goes on to the site, which answers its usual 404 page.
    """

    def __init__(self, app: Flask, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app
        self.static_folder = app.static_folder
        self.prefix = f"{app.static_url_path}/"
        self.production = app.config.get("ENV_NAME") == "production"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(self.prefix):
            return self.wsgi_app(environ, start_response)
        reply = self.respond(path[len(self.prefix):], environ)
        if reply is None:
            return self.wsgi_app(environ, start_response)
        return reply(environ, start_response)

    def respond(self, filename: str, environ: dict[str, Any]) -> Response | None:
        """The answer for one static file, or None when there is no such file."""
        from survey.security import apply_headers, content_security_policy

        plain, digest = split_hash(filename)
        asset = load(self.static_folder, plain) if digest is not None else None
        if asset is None:  # no hash in the name, or a file whose own name looks like one
            digest = None
            asset = load(self.static_folder, filename)
        if asset is None:
            return None
        request_ = Request(environ)
        if request_.method not in ("GET", "HEAD"):
            reply = Response(status=405, headers={"Allow": "GET, HEAD"})
        else:
            compressed = asset.gzipped is not None and accepts_gzip(request_)
            reply = Response(asset.gzipped if compressed else asset.data, mimetype=asset.mimetype)
            if compressed:
                reply.headers["Content-Encoding"] = "gzip"
            if asset.gzipped is not None:
                reply.vary.add("Accept-Encoding")
            reply.set_etag(asset.digest + ("-gz" if compressed else ""))
            if digest is not None and digest == asset.digest:
                reply.headers["Cache-Control"] = f"public, max-age={LONG_LIFETIME}, immutable"
            else:
                reply.headers["Cache-Control"] = f"public, max-age={SHORT_LIFETIME}, must-revalidate"
            reply.make_conditional(request_)
        apply_headers(reply.headers, self.production and request_.is_secure,
                      content_security_policy(self.static_folder))
        return reply


def register(app: Flask) -> None:
    """Hashed URLs from ``url_for('static', …)``, the inlined stylesheet, static files answered before
    Flask, pages compressed.

    The middleware goes inside the proxy fix (``PINGYI_PROXY_HOPS``) so that a static answer
    over TLS behind a proxy knows it was secure."""
    static_folder = app.static_folder
    assert static_folder is not None

    @app.url_defaults
    def hashed_static_urls(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint != "static" or "filename" not in values:
            return
        filename = values["filename"]
        asset = load(static_folder, filename, URL_RECHECK_SECONDS)
        if asset is not None:
            values["filename"] = hashed_name(filename, asset.digest)

    @app.template_global("inline_stylesheet")
    def inline_stylesheet_text() -> Markup:
        """``<style>{{ inline_stylesheet() }}</style>``: the citizen pages' stylesheet, inlined."""
        return style_text(inline_stylesheet(static_folder))

    proxy = app.wsgi_app
    if isinstance(proxy, ProxyFix):
        proxy.app = StaticFiles(app, proxy.app)
    else:
        app.wsgi_app = StaticFiles(app, proxy)  # type: ignore[method-assign]

    @app.after_request
    def compress(response: Response) -> Response:
        if (response.direct_passthrough or response.is_streamed or response.status_code < 200
                or response.status_code in (204, 206, 304) or "Content-Encoding" in response.headers
                or not _compressible(response.mimetype or "")):
            return response
        response.vary.add("Accept-Encoding")
        if not accepts_gzip():
            return response
        data = response.get_data()
        if len(data) < MIN_SIZE:
            return response
        response.set_data(gzip_page(data))
        response.headers["Content-Encoding"] = "gzip"
        if response.headers.get("ETag"):
            response.headers["ETag"] = response.headers["ETag"].rstrip('"') + '-gz"'
        return response
