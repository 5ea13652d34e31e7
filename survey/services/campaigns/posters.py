"""Printable A4 posters and code bundles for a campaign's units and windows.

One page per campaign unit: the campaign title, the unit's name, its window number,
one line of instructions, a large QR code and the short URL a person can type.

Every font is embedded (print-safe): a print shop or viewer without any Chinese font
prints the poster exactly as it looks here. Which fonts, and how ``PINGYI_POSTER_FONT``
chooses another one for the Chinese text: ``poster_fonts``.
"""
from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flask_babel import force_locale
from flask_babel import gettext as _
from reportlab.lib.colors import HexColor, white
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy.orm import Session

from survey.core.spreadsheets import safe_cell
from survey.models import Campaign, QuestionnaireKind
from survey.services.campaigns import lookup as campaign_service
from survey.services.campaigns import qr
from survey.services.campaigns.poster_fonts import FontSet, PosterError, font_set

__all__ = ["PosterError", "PosterSpec", "codes_zip", "font_path_from", "poster_specs", "render_pdf",
           "safe_filename"]
BRAND = HexColor("#9e1b1b")
INK = HexColor("#1a1a1a")
MUTED = HexColor("#555555")
PAGE_W, PAGE_H = A4
MARGIN = 48.0


@dataclass(frozen=True)
class PosterSpec:
    """Everything printed on one poster."""

    campaign_title: str
    period: str
    unit_code: str
    unit_name: str
    window_no: str | None
    code: str
    url: str
    appraisal: bool = False  # 万人评议: the respondent rates the units they know, not one visit


def poster_specs(
    session: Session, campaign: Campaign, base_url: str, unit_ids: set[int] | None = None
) -> list[PosterSpec]:
    """One poster per active campaign unit, in display order; ``unit_ids`` limits it (unit contacts)."""
    specs = []
    for cu in campaign_service.campaign_units(session, campaign):
        if unit_ids is not None and cu.unit_id not in unit_ids:
            continue
        specs.append(PosterSpec(
            campaign_title=campaign.title, period=campaign.period, unit_code=cu.unit.code,
            unit_name=cu.unit.name, window_no=cu.unit.window_no, code=cu.short_code,
            url=qr.short_url(base_url, cu.short_code),
            appraisal=campaign.questionnaire.kind == QuestionnaireKind.APPRAISAL,
        ))
    return specs


def font_path_from(config: Mapping[str, object]) -> str | None:
    """The optional font for Chinese text: app config ``POSTER_FONT`` or env ``PINGYI_POSTER_FONT``."""
    value = config.get("POSTER_FONT") or os.environ.get("PINGYI_POSTER_FONT")
    return str(value) if value else None


def _texts(spec: PosterSpec) -> list[str]:
    """Every string a poster prints (for the characters its fonts must have)."""
    return [spec.campaign_title, spec.unit_name, spec.window_no or "", spec.period, spec.url, spec.code,
            _("服务好不好，请您来评价"), _("%(no)s号窗口", no=spec.window_no or ""),
            _("评价匿名，仅用于改进服务和绩效考评。"), _("短码"), _("无法扫码时，请在浏览器中输入："),
            _("请用手机扫码，评价您了解的单位，匿名填写"), _("办完事请用手机扫码，约一分钟，匿名评价"),
            _("评价二维码海报")]


def render_pdf(specs: Iterable[PosterSpec], font_path: str | None = None) -> bytes:
    """All posters in one PDF, one A4 page each, ready to print in one go; every font embedded."""
    specs = list(specs)
    if not specs:
        raise PosterError(_("没有可以打印海报的单位。"))
    out = io.BytesIO()
    with force_locale("zh"):
        fonts = font_set(font_path, {ch for spec in specs for text in _texts(spec) for ch in text})
        # The initial font too: reportlab names Helvetica (not embedded) on every page otherwise.
        canvas = Canvas(out, pagesize=A4, pageCompression=1, initialFontName=fonts.latin)
        canvas.setTitle(_("评价二维码海报") + " · " + specs[0].campaign_title)
        canvas.setAuthor("Pingyi")
        for spec in specs:
            _draw_poster(canvas, fonts, spec)
            canvas.showPage()
    canvas.save()
    return out.getvalue()


def _draw_poster(c: Canvas, fonts: FontSet, spec: PosterSpec) -> None:
    width = PAGE_W - 2 * MARGIN
    centre = PAGE_W / 2
    # Brand band with the campaign title.
    band = 110.0
    c.setFillColor(BRAND)
    c.rect(0, PAGE_H - band, PAGE_W, band, stroke=0, fill=1)
    c.setFillColor(white)
    _centred_lines(c, fonts, spec.campaign_title, PAGE_H - 52, width, 24, max_lines=2, bold=True)

    y = PAGE_H - band - 34
    c.setFillColor(INK)
    y = _centred_lines(c, fonts, _("服务好不好，请您来评价"), y, width, 30, max_lines=1, bold=True) - 26
    y = _centred_lines(c, fonts, spec.unit_name, y, width, 34, max_lines=2, bold=True) - 12
    if spec.window_no:
        c.setFillColor(BRAND)
        y = _centred_lines(c, fonts, _("%(no)s号窗口", no=spec.window_no), y - 14, width, 44, max_lines=1,
                           bold=True) - 8

    # Bottom up: footer, short code, URL, instructions; the QR code takes the room left between.
    c.setFillColor(MUTED)
    footer = _("评价匿名，仅用于改进服务和绩效考评。") + " " + spec.period
    _draw_runs(c, fonts, footer, centre - fonts.width(footer, 10) / 2, 28, 10)
    label = _("短码")
    _draw_runs(c, fonts, label, centre - 6 - fonts.width(label, 14), 62, 14)
    c.setFillColor(INK)
    _draw_runs(c, fonts, " ".join([spec.code[:3], spec.code[3:]]) if len(spec.code) == 6 else spec.code,
               centre + 2, 62, 18, bold=True)
    url_size = _fit_size(fonts, spec.url, width, 22, 11)
    _draw_runs(c, fonts, spec.url, centre - fonts.width(spec.url, url_size, bold=True) / 2, 92, url_size,
               bold=True)
    c.setFillColor(MUTED)
    hint = _("无法扫码时，请在浏览器中输入：")
    _draw_runs(c, fonts, hint, centre - fonts.width(hint, 13) / 2, 124, 13)
    c.setFillColor(INK)
    instruction = (_("请用手机扫码，评价您了解的单位，匿名填写") if spec.appraisal
                   else _("办完事请用手机扫码，约一分钟，匿名评价"))
    _centred_lines(c, fonts, instruction, 182, width, 20, max_lines=1, bold=True)

    size = max(200.0, min(310.0, y - 16 - 196))
    _draw_qr(c, spec.url, (PAGE_W - size) / 2, 196 + (y - 16 - 196 - size) / 2, size)


def _draw_qr(c: Canvas, data: str, x: float, y: float, size: float) -> None:
    """The code as vector squares (sharp at any printer resolution), horizontal runs merged."""
    grid = qr.matrix(data)
    n = len(grid)
    cell = size / n
    c.setFillColor(white)
    c.rect(x, y, size, size, stroke=0, fill=1)
    c.setFillColor(HexColor("#000000"))
    path = c.beginPath()
    for row_index, row in enumerate(grid):
        top = y + size - (row_index + 1) * cell
        col = 0
        while col < n:
            if not row[col]:
                col += 1
                continue
            start = col
            while col < n and row[col]:
                col += 1
            path.rect(x + start * cell, top, (col - start) * cell, cell)
    c.drawPath(path, stroke=0, fill=1)


def _fit_size(fonts: FontSet, text: str, width: float, size: float, minimum: float) -> float:
    while size > minimum and fonts.width(text, size, bold=True) > width:
        size -= 1
    return size


def _wrap(fonts: FontSet, text: str, size: float, width: float, bold: bool) -> list[str]:
    """Break Chinese anywhere and Latin words at spaces, so every line fits ``width``."""
    lines: list[str] = []
    current = ""
    for token in re.findall(r"[A-Za-z0-9\-_.:/]+|\s+|.", text):
        candidate = current + token
        if current and fonts.width(candidate, size, bold) > width:
            lines.append(current.rstrip())
            current = token.lstrip()
        else:
            current = candidate
    if current.strip():
        lines.append(current.rstrip())
    return lines or [""]


def _draw_runs(c: Canvas, fonts: FontSet, text: str, x: float, y: float, size: float, bold: bool = False) -> None:
    """One line from ``x`` on baseline ``y``, each run in a font that has its glyphs.

    Bold Chinese is drawn filled and stroked (the embedded Chinese font has one weight);
    bold ASCII uses Vera Sans Bold.
    """
    c.saveState()  # the text render mode is graphics state: keep it from leaking to later text
    text_object = c.beginText()
    text_object.setTextOrigin(x, y)
    for name, piece in fonts.runs(text, bold):
        fake_bold = bold and not fonts.is_latin(name)
        text_object.setFont(name, size)
        text_object.setTextRenderMode(2 if fake_bold else 0)
        if fake_bold:
            c.setLineWidth(size / 40)
            c.setStrokeColor(c._fillColorObj)
        text_object.textOut(piece)
    c.drawText(text_object)
    c.restoreState()


def _centred_lines(c: Canvas, fonts: FontSet, text: str, y: float, width: float, size: float,
                   max_lines: int, bold: bool = False) -> float:
    """Draw centred, wrapped text from baseline ``y`` down, shrinking it to fit ``max_lines``."""
    lines = _wrap(fonts, text, size, width, bold)
    while len(lines) > max_lines and size > 12:
        size -= 2
        lines = _wrap(fonts, text, size, width, bold)
    leading = size * 1.25
    for line in lines:
        y -= size
        _draw_runs(c, fonts, line, (PAGE_W - fonts.width(line, size, bold)) / 2, y, size, bold)
        y -= leading - size
    return y


def codes_zip(specs: Iterable[PosterSpec], campaign_code: str) -> bytes:
    """PNG and SVG of every unit's code, plus an index (unit, window, short code, URL) as CSV."""
    specs = list(specs)
    if not specs:
        raise PosterError(_("没有可以导出二维码的单位。"))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        index = io.StringIO()
        writer = csv.writer(index)
        writer.writerow([_("单位代码"), _("单位名称"), _("窗口号"), _("短码"), _("网址"), "PNG", "SVG"])
        for spec in specs:
            stem = safe_filename(f"{spec.unit_code}-{spec.code}")
            archive.writestr(f"png/{stem}.png", qr.png(spec.url))
            archive.writestr(f"svg/{stem}.svg", qr.svg(spec.url))
            writer.writerow([safe_cell(v) for v in (spec.unit_code, spec.unit_name, spec.window_no or "",
                                                    spec.code, spec.url, f"png/{stem}.png", f"svg/{stem}.svg")])
        archive.writestr(f"{safe_filename(campaign_code)}-index.csv", "\ufeff" + index.getvalue())
    return out.getvalue()


def safe_filename(name: str) -> str:
    """A file name any operating system and unzip tool accepts (ASCII letters, digits, - and _)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")
    return cleaned or "code"
