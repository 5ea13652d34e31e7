"""Printable A4 posters and code bundles for a campaign's units and windows.

One page per campaign unit: the campaign title, the unit's name, its window number,
one line of instructions, a large QR code and the short URL a person can type.

Chinese text uses the PDF standard CJK font ``STSong-Light`` (Adobe-GB1 character
collection, Unicode CMap) by default: nothing is embedded, so any unit name renders
and the file stays small, and every Chinese-capable viewer (Adobe, Foxit, WPS, Edge,
Chrome, poppler) draws it with its own 宋体. A machine without any Chinese font cannot
show it, so an operator who needs self-contained PDFs sets ``PINGYI_POSTER_FONT`` to a
TrueType font with Chinese glyphs (e.g. SimHei ``simhei.ttf``, WenQuanYi
``wqy-zenhei.ttc``): its glyphs are then embedded as a subset, and any text it cannot
draw falls back to ``STSong-Light``. URLs and short codes are always set in Helvetica.
"""
from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from flask_babel import force_locale
from flask_babel import gettext as _
from reportlab.lib.colors import HexColor, white
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy.orm import Session

from survey.core.errors import DomainError
from survey.core.spreadsheets import safe_cell
from survey.models import Campaign, QuestionnaireKind
from survey.services.campaigns import lookup as campaign_service
from survey.services.campaigns import qr

CID_FONT = "STSong-Light"
LATIN_FONT = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"
BRAND = HexColor("#9e1b1b")
INK = HexColor("#1a1a1a")
MUTED = HexColor("#555555")
PAGE_W, PAGE_H = A4
MARGIN = 48.0


class PosterError(DomainError):
    """Posters cannot be made as asked (no units, unreadable font …); the message says why."""


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
    """The optional TrueType font to embed: app config ``POSTER_FONT`` or env ``PINGYI_POSTER_FONT``."""
    value = config.get("POSTER_FONT") or os.environ.get("PINGYI_POSTER_FONT")
    return str(value) if value else None


class _Fonts:
    """Chooses, string by string, a font that can draw it."""

    def __init__(self, font_path: str | None) -> None:
        if CID_FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
        self.embedded: str | None = None
        self._covered: set[int] = set()
        if font_path:
            path = Path(font_path)
            name = "PosterFont-" + re.sub(r"[^A-Za-z0-9]", "", path.stem)[:40]
            try:
                font = TTFont(name, str(path), subfontIndex=0)
            except (OSError, TTFError) as exc:
                raise PosterError(f"海报字体 {path} 无法使用（须为 TrueType 轮廓的 .ttf/.ttc）：{exc}") from exc
            pdfmetrics.registerFont(font)
            self.embedded = name
            self._covered = set(font.face.charToGlyph)

    def for_text(self, text: str) -> str:
        if text.isascii():
            return LATIN_FONT
        if self.embedded and all(ord(ch) in self._covered for ch in text):
            return self.embedded
        return CID_FONT


def render_pdf(specs: Iterable[PosterSpec], font_path: str | None = None) -> bytes:
    """All posters in one PDF, one A4 page each, ready to print in one go."""
    specs = list(specs)
    if not specs:
        raise PosterError(_("没有可以打印海报的单位。"))
    fonts = _Fonts(font_path)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    with force_locale("zh"):
        canvas.setTitle(_("评价二维码海报") + " · " + specs[0].campaign_title)
        canvas.setAuthor("Pingyi")
        for spec in specs:
            _draw_poster(canvas, fonts, spec)
            canvas.showPage()
    canvas.save()
    return out.getvalue()


def _draw_poster(c: Canvas, fonts: _Fonts, spec: PosterSpec) -> None:
    width = PAGE_W - 2 * MARGIN
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
    c.setFont(fonts.for_text(footer), 10)
    c.drawCentredString(PAGE_W / 2, 28, footer)
    label = _("短码")
    c.setFont(fonts.for_text(label), 14)
    c.drawRightString(PAGE_W / 2 - 6, 62, label)
    c.setFillColor(INK)
    c.setFont(LATIN_BOLD, 18)
    c.drawString(PAGE_W / 2 + 2, 62, " ".join([spec.code[:3], spec.code[3:]]) if len(spec.code) == 6 else spec.code)
    url_size = _fit_size(spec.url, LATIN_BOLD, width, 22, 11)
    c.setFont(LATIN_BOLD, url_size)
    c.drawCentredString(PAGE_W / 2, 92, spec.url)
    c.setFillColor(MUTED)
    hint = _("无法扫码时，请在浏览器中输入：")
    c.setFont(fonts.for_text(hint), 13)
    c.drawCentredString(PAGE_W / 2, 124, hint)
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


def _fit_size(text: str, font: str, width: float, size: float, minimum: float) -> float:
    while size > minimum and pdfmetrics.stringWidth(text, font, size) > width:
        size -= 1
    return size


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Break Chinese anywhere and Latin words at spaces, so every line fits ``width``."""
    lines: list[str] = []
    current = ""
    for token in re.findall(r"[A-Za-z0-9\-_.:/]+|\s+|.", text):
        candidate = current + token
        if current and pdfmetrics.stringWidth(candidate, font, size) > width:
            lines.append(current.rstrip())
            current = token.lstrip()
        else:
            current = candidate
    if current.strip():
        lines.append(current.rstrip())
    return lines or [""]


def _centred_lines(c: Canvas, fonts: _Fonts, text: str, y: float, width: float, size: float,
                   max_lines: int, bold: bool = False) -> float:
    """Draw centred, wrapped text from baseline ``y`` down, shrinking it to fit ``max_lines``."""
    font = fonts.for_text(text)
    if font == LATIN_FONT and bold:
        font = LATIN_BOLD
    lines = _wrap(text, font, size, width)
    while len(lines) > max_lines and size > 12:
        size -= 2
        lines = _wrap(text, font, size, width)
    leading = size * 1.25
    fake_bold = bold and font != LATIN_BOLD
    for line in lines:
        y -= size
        c.saveState()  # the text render mode is graphics state: keep it from leaking to later text
        text_object = c.beginText()
        text_object.setFont(font, size)
        if fake_bold:
            text_object.setTextRenderMode(2)  # fill and stroke: a bold face for fonts without one
            c.setLineWidth(size / 40)
            c.setStrokeColor(c._fillColorObj)
        line_width = pdfmetrics.stringWidth(line, font, size)
        text_object.setTextOrigin((PAGE_W - line_width) / 2, y)
        text_object.textLine(line)
        c.drawText(text_object)
        c.restoreState()
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
