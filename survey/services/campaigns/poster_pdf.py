"""The posters as one PDF (``posters.render_pdf``): an A4 page per unit, and the fonts it embeds
so that it prints the same on any printer, viewer or machine.

Imported when the first poster is made, not with the app: ReportLab and fontTools take about a
quarter of a second of CPU to import, which no other page needs.

Default: Chinese (and any text that is not plain ASCII) in WenQuanYi Micro Hei (文泉驿微米黑,
TrueType outlines), shipped by the pinned ``paperang-p2-fonts-cjk`` package; URLs, short
codes and other ASCII text in Bitstream Vera Sans / Vera Sans Bold, shipped with reportlab.
The host's own fonts are never used. reportlab embeds only the glyphs a document uses
(a subset), so a poster PDF stays small.

``PINGYI_POSTER_FONT`` names another font for the Chinese text: a TrueType (``.ttf``/``.ttc``)
or an OpenType font with CFF outlines (``.otf``/``.ttc``, e.g. Noto Sans CJK / 思源黑体).
reportlab cannot embed CFF outlines, so such a font is cut with fontTools to the characters
the document uses and its outlines are converted to TrueType ones (quadratic curves, within
1/1000 em) before embedding. In a collection the simplified-Chinese face (name with "SC",
"GB" or "Hans") is taken, unless the path ends with ``#N`` (face number N). Characters the
chosen font lacks fall back to the bundled one.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import reportlab
from flask_babel import force_locale
from flask_babel import gettext as _
from fontTools import subset as ft_subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, TTLibError, newTable
from fontTools.ttLib import TTFont as FtFont
from reportlab.lib.colors import HexColor, white
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas

from survey.services.campaigns import qr
from survey.services.campaigns.posters import PosterError

if TYPE_CHECKING:
    from survey.services.campaigns.posters import PosterSpec

BUNDLED_CJK = "PingyiCJK-WenQuanYiMicroHei"
LATIN = "PingyiLatin-Vera"
LATIN_BOLD = "PingyiLatin-VeraBold"
_REPORTLAB_FONTS = Path(reportlab.__file__).parent / "fonts"
_LOCK = threading.Lock()


def bundled_cjk_path() -> Path:
    """The Chinese font file that ships with the pinned package (not a system font)."""
    import paperang_p2_fonts_cjk  # only posters need it: not loaded by every request

    return Path(paperang_p2_fonts_cjk.__file__).parent / "fonts" / "wqy-microhei.ttc"


def _register_file(name: str, path: Path, subfont: int = 0) -> TTFont:
    """Register a TrueType font once per process; later calls reuse it."""
    with _LOCK:
        if name in pdfmetrics.getRegisteredFontNames():
            return pdfmetrics.getFont(name)
        font = TTFont(name, str(path), subfontIndex=subfont)
        pdfmetrics.registerFont(font)
        return font


@dataclass
class FontSet:
    """The document's fonts: Latin regular and bold, then Chinese fonts in order of preference."""

    latin: str = LATIN
    latin_bold: str = LATIN_BOLD
    chain: list[str] = field(default_factory=list)  # CJK-capable fonts, first that has a glyph wins
    covered: dict[str, set[int]] = field(default_factory=dict)

    def font_for(self, ch: str) -> str:
        for name in self.chain:
            if ord(ch) in self.covered[name]:
                return name
        return self.chain[-1]  # drawn as the bundled font's blank box: visible, never a host font

    def runs(self, text: str, bold: bool = False) -> list[tuple[str, str]]:
        """``text`` cut into (font, piece) runs: ASCII in Vera (bold if asked), the rest in the chain."""
        if text.isascii():
            return [(self.latin_bold if bold else self.latin, text)] if text else []
        runs: list[tuple[str, str]] = []
        for ch in text:
            name = self.font_for(ch)
            if runs and runs[-1][0] == name:
                runs[-1] = (name, runs[-1][1] + ch)
            else:
                runs.append((name, ch))
        return runs

    def width(self, text: str, size: float, bold: bool = False) -> float:
        return sum(pdfmetrics.stringWidth(piece, name, size) for name, piece in self.runs(text, bold))

    def is_latin(self, name: str) -> bool:
        return name in (self.latin, self.latin_bold)


def font_set(custom_path: str | None, chars: Iterable[str]) -> FontSet:
    """The fonts for a document whose text uses ``chars``; ``custom_path`` is ``PINGYI_POSTER_FONT``."""
    fonts = FontSet()
    _register_file(LATIN, _REPORTLAB_FONTS / "Vera.ttf")
    _register_file(LATIN_BOLD, _REPORTLAB_FONTS / "VeraBd.ttf")
    if custom_path:
        printable = {chr(code) for code in range(32, 127)}  # spaces and digits joined to Chinese text
        name, covered = _custom(custom_path, set(chars) | printable)
        fonts.chain.append(name)
        fonts.covered[name] = covered
    bundled = _register_file(BUNDLED_CJK, bundled_cjk_path())
    fonts.chain.append(BUNDLED_CJK)
    fonts.covered[BUNDLED_CJK] = set(bundled.face.charToGlyph)
    return fonts


def _split_face(raw: str) -> tuple[Path, int | None]:
    match = re.fullmatch(r"(.*)#(\d+)", raw)
    if match:
        return Path(match.group(1)), int(match.group(2))
    return Path(raw), None


def _open_face(path: Path, index: int | None) -> tuple[FtFont, int]:
    """The face to use with fontTools: ``index``, or a collection's simplified-Chinese face, or the first."""
    try:
        data = io.BytesIO(path.read_bytes())  # in memory: no file handle left open by lazy loading
        if data.getvalue()[:4] != b"ttcf":
            face = FtFont(data)
            face.keys()
            return face, 0
        faces = TTCollection(data).fonts
    except (OSError, TTLibError, AssertionError, ValueError, KeyError, IndexError, struct.error) as exc:
        raise PosterError(_("海报字体 %(path)s 无法读取：%(error)s。请使用 TrueType（.ttf/.ttc）或 OpenType（.otf）字体文件。",
                                path=path, error=exc)) from exc
    if index is not None:
        if not 0 <= index < len(faces):
            raise PosterError(_("海报字体 %(path)s 只有 %(n)s 个字体（编号 0–%(last)s），没有 #%(index)s。",
                                    path=path, n=len(faces), last=len(faces) - 1, index=index))
        return faces[index], index
    for number, face in enumerate(faces):
        family = face["name"].getDebugName(1) or ""
        if re.search(r"\bSC\b|GB|Hans", family):
            return face, number
    return faces[0], 0


def _custom(raw: str, chars: set[str]) -> tuple[str, set[int]]:
    """Register the operator's font (converted if it has CFF outlines); its name and the code points it has."""
    path, index = _split_face(raw)
    if not path.is_file():
        raise PosterError(_("海报字体 %(path)s 不存在（PINGYI_POSTER_FONT）。", path=path))
    face, number = _open_face(path, index)
    stem = re.sub(r"[^A-Za-z0-9]", "", path.stem)[:32] or "Font"
    if "glyf" in face:
        name = f"PosterFont-{stem}-{number}"
        try:
            font = _register_file(name, path, number)
        except (OSError, TTFError) as exc:
            raise PosterError(_("海报字体 %(path)s 无法嵌入：%(error)s。", path=path, error=exc)) from exc
        return name, set(font.face.charToGlyph)
    if "CFF " not in face:
        raise PosterError(_("海报字体 %(path)s 既没有 TrueType 轮廓也没有 CFF 轮廓（可能是 CFF2 可变字体），"
                                "无法嵌入；请改用静态的 .ttf 或 .otf 字体。", path=path))
    cmap = face.getBestCmap() or {}
    wanted = sorted({ord(ch) for ch in chars if ord(ch) in cmap})
    key = hashlib.sha256(f"{path.resolve()}#{number}:{os.path.getmtime(path)}:{wanted}".encode()).hexdigest()[:12]
    # One registered subset per font and character set (reportlab's registry is per process):
    # the same posters printed again reuse it; each is a few kB, so distinct sets cost little.
    name = f"PosterFont-{stem}-{key}"
    with _LOCK:
        if name in pdfmetrics.getRegisteredFontNames():
            return name, set(wanted)
    data = _cff_subset_as_truetype(face, wanted)
    try:
        font = TTFont(name, io.BytesIO(data))
    except TTFError as exc:  # pragma: no cover - fontTools wrote a font reportlab cannot read
        raise PosterError(_("海报字体 %(path)s 转换后仍无法嵌入：%(error)s。", path=path, error=exc)) from exc
    with _LOCK:
        pdfmetrics.registerFont(font)
    return name, set(wanted)


def _cff_subset_as_truetype(face: FtFont, unicodes: list[int]) -> bytes:
    """Only the glyphs of ``unicodes``, their cubic CFF outlines turned into TrueType quadratic ones."""
    options = ft_subset.Options()
    options.layout_features = []
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.hinting = False
    options.desubroutinize = True
    # The face was read for this document alone (``_open_face``), so it is cut in place:
    # copying a whole 65 000-glyph face first would cost seconds.
    subsetter = ft_subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(face)
    _cff_to_glyf(face)
    out = io.BytesIO()
    face.save(out)
    return out.getvalue()


def _cff_to_glyf(font: FtFont) -> None:
    """Replace the CFF table by glyf/loca (after fontTools' otf2ttf snippet)."""
    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for glyph_name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[glyph_name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyphs[glyph_name] = pen.glyph()
    font["loca"] = newTable("loca")
    font["glyf"] = glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    del font["CFF "]
    for table in ("VORG", "GSUB", "GPOS", "GDEF", "BASE"):
        if table in font:
            del font[table]
    glyf.compile(font)
    hmtx = font["hmtx"]
    for glyph_name, glyph in glyf.glyphs.items():
        if hasattr(glyph, "xMin"):
            hmtx[glyph_name] = (hmtx[glyph_name][0], glyph.xMin)
    font["maxp"] = maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.maxZones = 1
    for attribute in ("maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                      "maxStackElements", "maxSizeOfInstructions", "maxComponentElements"):
        setattr(maxp, attribute, 0)
    maxp.compile(font)
    post = font["post"]
    post.formatType = 3.0  # no glyph names: CID fonts have none worth keeping
    post.extraNames = []
    post.mapping = {}
    font["head"].indexToLocFormat = 0
    font["head"].glyphDataFormat = 0
    font.sfntVersion = "\000\001\000\000"


# --- drawing ----------------------------------------------------------------------------------------

BRAND = HexColor("#9e1b1b")
INK = HexColor("#1a1a1a")
MUTED = HexColor("#555555")
PAGE_W, PAGE_H = A4
MARGIN = 48.0


def _texts(spec: PosterSpec) -> list[str]:
    """Every string a poster prints (for the characters its fonts must have)."""
    return [spec.campaign_title, spec.unit_name, spec.window_no or "", spec.period, spec.url, spec.code,
            _("服务好不好，请您来评价"), _("%(no)s号窗口", no=spec.window_no or ""),
            _("评价匿名，仅用于改进服务和绩效考评。"), _("短码"), _("无法扫码时，请在浏览器中输入："),
            _("请用手机扫码，评价您了解的单位，匿名填写"), _("办完事请用手机扫码，约一分钟，匿名评价"),
            _("评价二维码海报")]


def render(specs: list[PosterSpec], font_path: str | None = None) -> bytes:
    """The PDF of ``specs`` (at least one)."""
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
