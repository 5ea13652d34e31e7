"""Print-safe posters: every font embedded, drawn the same on a machine without any Chinese font,
an operator's CFF font (Noto CJK) accepted, and code images that carry their physical size."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.ttLib import TTCollection
from PIL import Image, ImageChops
from pypdf import PdfReader

from survey.services.campaigns import posters, qr

BASE = "https://pingyi.example.gov.cn"
EMPTY_FONTCONFIG = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig></fontconfig>
"""


def spec(unit_name: str = "不动产登记窗口", title: str = "2026年第四季度政务服务满意度评议") -> posters.PosterSpec:
    return posters.PosterSpec(title, "2026Q4", "CK-BDC", unit_name, "12", "ABC234", f"{BASE}/s/ABC234")


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} (poppler-utils) is not installed: apt-get install -y poppler-utils")


def pdffonts(data: bytes, tmp_path: Path) -> list[dict[str, str]]:
    need("pdffonts")
    path = tmp_path / "fonts.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["name", "type", "encoding"], out
    rows = []
    for line in lines[2:]:
        # name, type (may hold spaces), encoding, emb, sub, uni, object, generation
        match = re.match(r"(\S+)\s+(.+?)\s+(\S+)\s+(yes|no)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+$", line)
        assert match, line
        rows.append({"name": match.group(1), "type": match.group(2), "emb": match.group(4)})
    return rows


def render_page(data: bytes, tmp_path: Path, stem: str, fontconfig: bool = False) -> Image.Image:
    """Page 1 at 60 dpi; with ``fontconfig`` under a configuration that knows no font at all."""
    need("pdftoppm")
    pdf = tmp_path / f"{stem}.pdf"
    pdf.write_bytes(data)
    env = None
    if fontconfig:
        conf = tmp_path / "empty-fonts.conf"
        conf.write_text(EMPTY_FONTCONFIG)
        env = {"PATH": "/usr/bin:/bin", "FONTCONFIG_FILE": str(conf), "HOME": str(tmp_path)}
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-singlefile", str(pdf), str(tmp_path / stem)],
                   check=True, capture_output=True, env=env)
    return Image.open(tmp_path / f"{stem}.png").convert("L")


@pytest.mark.sqlite_only  # renders a PDF from a PosterSpec: no database is read or written
def test_pdffonts_lists_every_poster_font_as_embedded(app, tmp_path):
    with app.app_context():
        data = posters.render_pdf([spec(), spec("国网市供电公司")])
    rows = pdffonts(data, tmp_path)
    assert rows, "a poster without fonts?"
    assert [r for r in rows if r["emb"] != "yes"] == []
    names = " ".join(r["name"] for r in rows)
    assert "WenQuanYiMicroHei" in names and "BitstreamVeraSans-Bold" in names
    assert "STSong" not in names and "Helvetica" not in names
    assert len(data) < 400_000  # only the glyphs used are embedded, not a 5 MB font


@pytest.mark.sqlite_only  # renders a PDF from a PosterSpec: no database is read or written
def test_chinese_is_drawn_without_any_font_on_the_machine(app, tmp_path):
    """Rendered where fontconfig knows no font: the page is the same as with the host's fonts,
    and two unit names of the same length look different (missing glyphs would be blank or
    identical boxes)."""
    with app.app_context():
        bdc = posters.render_pdf([spec("不动产登记窗口")])
        sb = posters.render_pdf([spec("社保医保服务厅")])
    bare = render_page(bdc, tmp_path, "bare", fontconfig=True)
    hosted = render_page(bdc, tmp_path, "hosted")
    assert ImageChops.difference(bare, hosted).getbbox() is None  # nothing came from the host
    other = render_page(sb, tmp_path, "other", fontconfig=True)
    diff = ImageChops.difference(bare, other).getbbox()
    assert diff is not None, "both unit names drawn alike: the glyphs are missing"
    left, top, right, bottom = diff
    width, height = bare.size
    assert top > height * 0.15 and bottom < height * 0.4  # only the unit-name line differs
    assert right - left > width * 0.3  # a whole line of glyphs, not a stray mark
    band = bare.crop((0, top, width, bottom))
    dark = sum(band.histogram()[:128])
    assert dark > 0.05 * band.width * band.height  # ink, not an empty line


def _cff_font(path: Path | None, chars: str, family: str = "Pingyi Test CFF SC",
              postscript: str = "PingyiTestCFF-Regular"):
    """A small OpenType font with CFF outlines (like Noto Sans CJK) whose glyphs are a bowl shape."""
    names = [".notdef"] + [f"uni{ord(ch):04X}" for ch in chars]
    builder = FontBuilder(1000, isTTF=False)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({ord(ch): f"uni{ord(ch):04X}" for ch in chars})
    outlines = {}
    for name in names:
        pen = T2CharStringPen(1000, None)
        if name != ".notdef":
            pen.moveTo((100, -80))
            pen.lineTo((900, -80))
            pen.curveTo((980, 300), (980, 500), (900, 800))
            pen.lineTo((100, 800))
            pen.closePath()
        outlines[name] = pen.getCharString()
    builder.setupCFF(postscript, {"FullName": family}, outlines, {})
    builder.setupHorizontalMetrics({name: (1000, 100) for name in names})
    builder.setupHorizontalHeader(ascent=880, descent=-120)
    builder.setupNameTable({"familyName": family, "styleName": "Regular", "psName": postscript})
    builder.setupOS2(sTypoAscender=880, usWinAscent=880, usWinDescent=120)
    builder.setupPost()
    if path is None:
        return builder.font
    builder.save(str(path))
    return builder.font


@pytest.mark.sqlite_only  # renders a PDF from a PosterSpec: no database is read or written
def test_a_cff_font_like_noto_cjk_is_converted_and_embedded(app, tmp_path):
    otf = tmp_path / "NotoLike.otf"
    _cff_font(otf, "不动产登记窗口")
    with app.app_context():
        data = posters.render_pdf([spec()], font_path=str(otf))
        plain = posters.render_pdf([spec()])
    rows = pdffonts(data, tmp_path)
    assert [r for r in rows if r["emb"] != "yes"] == []
    names = [r["name"] for r in rows]
    assert any("PingyiTestCFF" in n for n in names), names  # the operator's font is used …
    assert any("WenQuanYiMicroHei" in n for n in names), names  # … and the bundled one where it has no glyph
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "不动产登记窗口" in text  # still searchable and copyable
    assert ImageChops.difference(render_page(data, tmp_path, "cff", fontconfig=True),
                                 render_page(plain, tmp_path, "plain", fontconfig=True)).getbbox() is not None


def _embedded_names(data: bytes) -> set[str]:
    return {str(font.get_object()["/BaseFont"]) for page in PdfReader(io.BytesIO(data)).pages
            for font in page["/Resources"]["/Font"].values()}


@pytest.mark.sqlite_only  # renders a PDF from a PosterSpec: no database is read or written
def test_a_collection_gives_its_simplified_chinese_face_or_the_numbered_one(app, tmp_path):
    """NotoSansCJK-Regular.ttc holds JP, KR, SC, TC, HK faces: SC is taken unless #N says otherwise."""
    collection = TTCollection()
    collection.fonts = [_cff_font(None, "不动产登记窗口", "Pingyi Test JP", "PingyiTestJP-Regular"),
                        _cff_font(None, "不动产登记窗口", "Pingyi Test SC", "PingyiTestSC-Regular")]
    ttc = tmp_path / "NotoLike.ttc"
    collection.save(str(ttc))
    with app.app_context():
        chosen = _embedded_names(posters.render_pdf([spec()], font_path=str(ttc)))
        first = _embedded_names(posters.render_pdf([spec()], font_path=f"{ttc}#0"))
        with pytest.raises(posters.PosterError, match="#5"):
            posters.render_pdf([spec()], font_path=f"{ttc}#5")
    assert any("PingyiTestSC" in n for n in chosen) and not any("PingyiTestJP" in n for n in chosen)
    assert any("PingyiTestJP" in n for n in first)


@pytest.mark.sqlite_only  # renders a PDF from a PosterSpec: no database is read or written
def test_a_missing_font_file_is_named(app, tmp_path):
    with app.app_context(), pytest.raises(posters.PosterError, match="不存在"):
        posters.render_pdf([spec()], font_path=str(tmp_path / "missing.ttc"))


@pytest.mark.sqlite_only  # renders a PDF from a PosterSpec: no database is read or written
@pytest.mark.parametrize("content", [b"not a font", b"ttcf\x00\x01\x00\x00garbage"])
def test_an_unreadable_font_says_what_to_use(app, tmp_path, content):
    bad = tmp_path / "bad.ttc"
    bad.write_bytes(content)
    with app.app_context(), pytest.raises(posters.PosterError, match="海报字体.*(TrueType|OpenType)"):
        posters.render_pdf([spec()], font_path=str(bad))


def _dark_box(image: Image.Image) -> tuple[int, int, int, int]:
    box = Image.eval(image.convert("L"), lambda px: 255 if px < 128 else 0).getbbox()
    assert box is not None
    return box


def test_png_and_svg_give_a_code_of_at_least_5_cm_at_natural_size():
    url = f"{BASE}/s/ABC234"
    image = Image.open(io.BytesIO(qr.png(url)))
    dpi_x, dpi_y = image.info["dpi"]
    left, top, right, bottom = _dark_box(image)
    assert (right - left) / dpi_x * 25.4 >= 50 and (bottom - top) / dpi_y * 25.4 >= 50
    assert image.width >= qr.PNG_PIXELS

    svg = qr.svg(url).decode()
    width = re.search(r'<svg[^>]* width="([\d.]+)mm"', svg)
    height = re.search(r'<svg[^>]* height="([\d.]+)mm"', svg)
    view = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    assert width and height and view
    modules = int(view.group(1))
    symbol_mm = float(width.group(1)) * (modules - 2 * qr.QUIET_ZONE) / modules
    assert symbol_mm >= 50 and float(height.group(1)) == float(width.group(1))


def test_the_codes_zip_holds_print_sized_images(app, session, make):
    campaign = make.campaign(units=[make.unit(name="社保医保窗口", window_no="5")])
    make.commit()
    specs = posters.poster_specs(session, campaign, BASE)
    with app.app_context():
        archive = zipfile.ZipFile(io.BytesIO(posters.codes_zip(specs, campaign.short_code)))
    png = next(n for n in archive.namelist() if n.endswith(".png"))
    svg = next(n for n in archive.namelist() if n.endswith(".svg"))
    assert Image.open(io.BytesIO(archive.read(png))).info["dpi"][0] > 72
    assert re.search(rb'width="\d+(\.\d+)?mm"', archive.read(svg))


def test_the_desk_screen_code_keeps_its_screen_size():
    """The desk page shows the code on a screen: one mm per module, as before."""
    svg = qr.svg(f"{BASE}/d/token", print_size=False).decode()
    view = re.search(r'viewBox="0 0 (\d+) \d+"', svg)
    assert view and f'width="{view.group(1)}mm"' in svg


NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


@pytest.mark.sqlite_only  # renders a PDF from a PosterSpec: no database is read or written
@pytest.mark.skipif(not NOTO_CJK.exists(), reason="Debian's fonts-noto-cjk is not installed")
def test_the_hosts_noto_sans_cjk_collection_is_accepted_with_its_sc_face(app, tmp_path):
    """The font a typical Linux box has (CFF outlines in a collection): its SC face, embedded alone."""
    data = posters.render_pdf([spec()], font_path=str(NOTO_CJK))
    names = [r["name"] for r in pdffonts(data, tmp_path) if r["emb"] == "yes"]
    assert any("NotoSansCJKsc" in n for n in names) and not any("WenQuanYi" in n for n in names), names
    assert "不动产登记窗口" in PdfReader(io.BytesIO(data)).pages[0].extract_text()
