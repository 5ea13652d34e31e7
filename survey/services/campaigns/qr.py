"""QR codes for posters, downloads and the window desk.

Rules: error correction Q (a quarter of the code may be smudged or covered by a
sticker and it still scans), the standard four-module quiet zone, PNG large enough
to print across an A4 page (≥ 1200 px), SVG for any size. Both carry a physical size
(PNG: its pHYs resolution; SVG: width and height in mm) so that a designer who places
them at their natural size gets a symbol ``PRINT_SYMBOL_MM`` wide (≥ 5 cm, readable from
an arm's length), not the 3–4 cm a bare file defaults to. A code's URL is
``{public base}/s/{SHORT CODE}``: short, upper-case, free of 0/O and 1/I/L, so a
person without a camera can type it.
"""
from __future__ import annotations

import base64
import io
import math
import re
from decimal import Decimal
from urllib.parse import urlsplit

import qrcode
import qrcode.constants
import qrcode.image.svg

from survey.core.errors import DomainError

ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_Q
QUIET_ZONE = 4  # modules, as ISO/IEC 18004 requires
PNG_PIXELS = 1200
PRINT_SYMBOL_MM = 60  # the symbol itself (without the quiet zone) at natural size: ≥ 50 mm
MM_PER_INCH = 25.4


class BaseUrlError(DomainError):
    """The public base URL is missing or is not an http(s) address."""


def normalise_base_url(raw: str | None) -> str:
    """``https://host[/prefix]`` without a trailing slash; anything else is refused with a reason."""
    value = (raw or "").strip()
    if not value:
        raise BaseUrlError("没有设置公开网址（PINGYI_PUBLIC_BASE_URL 或 --base-url）。")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise BaseUrlError(f"公开网址必须形如 https://pingyi.example.gov.cn ，而不是 {value!r}。")
    return value.rstrip("/")


def short_url(base_url: str, code: str) -> str:
    """The address a poster prints and its QR code carries."""
    return f"{base_url.rstrip('/')}/s/{code.upper()}"


def matrix(data: str) -> list[list[bool]]:
    """The code's modules including the quiet zone (True = dark), for drawing it as vectors."""
    qr = _build(data)
    return qr.get_matrix()


def png(data: str, pixels: int = PNG_PIXELS) -> bytes:
    """A black-on-white PNG at least ``pixels`` wide, whole pixels per module (crisp when printed).

    Its resolution (pHYs) is chosen so the symbol is ``PRINT_SYMBOL_MM`` wide at natural size.
    """
    probe = _build(data)
    box = max(1, math.ceil(pixels / (probe.modules_count + 2 * QUIET_ZONE)))
    qr = _build(data, box_size=box)
    symbol_px = qr.modules_count * box
    dpi = math.floor(symbol_px * MM_PER_INCH / PRINT_SYMBOL_MM)  # rounded down: never smaller than asked
    out = io.BytesIO()
    qr.make_image(fill_color="black", back_color="white").save(out, format="PNG", dpi=(dpi, dpi))
    return out.getvalue()


def svg(data: str, print_size: bool = True) -> bytes:
    """A scalable SVG with a white background (scans on a dark screen or a coloured poster).

    ``print_size``: its width and height in mm give a ``PRINT_SYMBOL_MM`` symbol at natural size
    (the viewBox is unchanged, so it still scales freely); otherwise one mm per module, for screens.
    """
    qr = _build(data, image_factory=qrcode.image.svg.SvgPathFillImage)
    out = io.BytesIO()
    qr.make_image().save(out)
    text = out.getvalue()
    if not print_size:
        return text
    total_mm = print_width_mm(qr.modules_count)
    size = f"{total_mm}mm".encode("ascii")
    return re.sub(rb'<svg width="[^"]*" height="[^"]*"', b'<svg width="' + size + b'" height="' + size + b'"',
                  text, count=1)


def print_width_mm(modules: int) -> Decimal:
    """The whole image's width (symbol and quiet zone) when its symbol is ``PRINT_SYMBOL_MM`` wide."""
    module_mm = Decimal(PRINT_SYMBOL_MM) / modules
    return ((modules + 2 * QUIET_ZONE) * module_mm).quantize(Decimal("0.01"), rounding="ROUND_UP")


def _build(data: str, box_size: int = 10, image_factory: type | None = None) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECTION, border=QUIET_ZONE, box_size=box_size,
                       image_factory=image_factory)
    qr.add_data(data)
    qr.make(fit=True)
    return qr


def base_url_for(configured: str | None, request_root: str) -> str:
    """The configured public address (``PINGYI_PUBLIC_BASE_URL``), else the one the request came in on.

    Behind a proxy the request's own address may be internal, so production sets the
    configured one; a malformed configured value falls back rather than printing bad codes.
    """
    if configured:
        try:
            return normalise_base_url(configured)
        except BaseUrlError:
            pass
    return normalise_base_url(request_root)


def desk_url(base_url: str, signed_token: str) -> str:
    """The address a desk transaction's QR code carries."""
    return f"{base_url.rstrip('/')}/d/{signed_token}"


def invitation_url(base_url: str, code: str) -> str:
    """A panel member's personal link."""
    return f"{base_url.rstrip('/')}/i/{code}"


def svg_data_uri(data: str) -> str:
    """The code as an ``<img src>`` data URI (allowed by the CSP's ``img-src data:``)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg(data, print_size=False)).decode("ascii")
