"""The fonts a poster embeds, so it prints the same on any printer, viewer or machine.

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

import reportlab
from flask_babel import gettext as _
from fontTools import subset as ft_subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, TTLibError, newTable
from fontTools.ttLib import TTFont as FtFont
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from survey.core.errors import DomainError

BUNDLED_CJK = "PingyiCJK-WenQuanYiMicroHei"
LATIN = "PingyiLatin-Vera"
LATIN_BOLD = "PingyiLatin-VeraBold"
_REPORTLAB_FONTS = Path(reportlab.__file__).parent / "fonts"
_LOCK = threading.Lock()


class PosterError(DomainError):
    """Posters cannot be made as asked (no units, unusable font …); the message says why."""


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
