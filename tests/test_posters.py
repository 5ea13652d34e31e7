"""Posters: one A4 page per unit with its Chinese text, a QR code that scans, a ZIP of codes, the CLI."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import reportlab
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from survey.services.campaigns import posters

BASE = "https://pingyi.example.gov.cn"
A4 = (595.27, 841.89)


def pdf_text_pypdf(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def pdftotext(data: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed; the pypdf checks still ran")
    if not any(Path(d, "Adobe-GB1").is_dir() for d in ("/usr/share/poppler/cMap", "/usr/local/share/poppler/cMap")):
        pytest.skip("poppler-data (Adobe-GB1 CMaps) is not installed, so pdftotext cannot read the standard "
                    "Chinese font; the pypdf checks still ran (apt-get install poppler-data)")
    path = tmp_path / "p.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def window_campaign(make):
    windows = [
        make.unit(code="CK-BDC", name="不动产登记窗口", window_no="12"),
        make.unit(code="CK-SB", name="社保医保窗口", window_no="5"),
        make.unit(code="GD", name="国网市供电公司"),
    ]
    campaign = make.campaign(units=windows, title="2026年第四季度政务服务满意度评议", period="2026Q4")
    make.commit()
    return campaign


def test_one_a4_page_per_unit_with_the_chinese_text(session, window_campaign, tmp_path):
    specs = posters.poster_specs(session, window_campaign, BASE)
    data = posters.render_pdf(specs)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 3
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(A4, abs=0.5)
    texts = pdf_text_pypdf(data)
    by_unit = {spec.unit_name: text for spec, text in zip(specs, texts, strict=True)}
    bdc = by_unit["不动产登记窗口"]
    code = next(s.code for s in specs if s.unit_name == "不动产登记窗口")
    for expected in ("2026年第四季度政务服务满意度评议", "不动产登记窗口", "12号窗口", "扫码", f"{BASE}/s/{code}"):
        assert expected in bdc, expected
    assert "号窗口" not in by_unit["国网市供电公司"]  # no window number, no window line
    layout_text = pdftotext(data, tmp_path)
    assert "不动产登记窗口" in layout_text and "12号窗口" in layout_text and "社保医保窗口" in layout_text


def test_the_printed_qr_code_scans_to_the_printed_url(session, window_campaign, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    spec = posters.poster_specs(session, window_campaign, BASE)[0]
    pdf = tmp_path / "one.pdf"
    pdf.write_bytes(posters.render_pdf([spec]))
    subprocess.run(["pdftoppm", "-r", "100", "-png", "-singlefile", str(pdf), str(tmp_path / "page")], check=True)
    found = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    assert [r.text for r in found] == [spec.url]


def test_long_names_wrap_and_stay_on_the_page(session, make):
    unit = make.unit(name="市人力资源和社会保障局劳动保障监察支队行政审批服务窗口（含社会保险登记、劳动用工备案）")
    campaign = make.campaign(units=[unit], title="关于开展2026年度全市政务服务窗口群众满意度第三方测评工作的通知")
    make.commit()
    text = pdf_text_pypdf(posters.render_pdf(posters.poster_specs(session, campaign, BASE)))[0]
    assert "劳动保障监察支队" in text.replace("\n", "")


def test_unit_scope_limits_the_posters(session, window_campaign):
    wanted = next(cu.unit_id for cu in window_campaign.campaign_units if cu.unit.code == "CK-SB")
    specs = posters.poster_specs(session, window_campaign, BASE, {wanted})
    assert [s.unit_name for s in specs] == ["社保医保窗口"]


def test_no_units_is_a_clear_error():
    with pytest.raises(posters.PosterError):
        posters.render_pdf([])


def test_an_embedded_font_is_used_where_it_has_glyphs_and_chinese_falls_back(session, window_campaign):
    """PINGYI_POSTER_FONT: a TrueType font is embedded; text it cannot draw uses the bundled Chinese font."""
    vera = os.path.join(os.path.dirname(reportlab.__file__), "fonts", "Vera.ttf")
    unit = window_campaign.campaign_units[0].unit
    spec = posters.PosterSpec("Enquête de qualité", "2026Q4", unit.code, "不动产登记窗口", "12", "ABC234",
                              f"{BASE}/s/ABC234")
    data = posters.render_pdf([spec], font_path=vera)
    fonts = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert any("Vera" in f for f in fonts), fonts  # the accented title: the font has those glyphs
    assert any("WenQuanYiMicroHei" in f for f in fonts), fonts  # the Chinese unit name: the bundled font
    assert not any("STSong" in f or "Helvetica" in f for f in fonts), fonts
    assert "不动产登记窗口" in pdf_text_pypdf(data)[0]


def test_an_unusable_font_file_is_a_clear_error(tmp_path, window_campaign, session):
    bad = tmp_path / "broken.ttf"
    bad.write_bytes(b"not a font")
    with pytest.raises(posters.PosterError, match="海报字体"):
        posters.render_pdf(posters.poster_specs(session, window_campaign, BASE), font_path=str(bad))


def test_zip_holds_png_and_svg_of_every_unit_and_an_index(session, window_campaign):
    specs = posters.poster_specs(session, window_campaign, BASE)
    archive = zipfile.ZipFile(io.BytesIO(posters.codes_zip(specs, window_campaign.short_code)))
    names = set(archive.namelist())
    for spec in specs:
        stem = f"{spec.unit_code}-{spec.code}".replace("-", "-")
        assert f"png/{posters.safe_filename(stem)}.png" in names
        assert f"svg/{posters.safe_filename(stem)}.svg" in names
        png = archive.read(f"png/{posters.safe_filename(stem)}.png")
        assert zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))[0].text == spec.url
    index = archive.read(f"{window_campaign.short_code}-index.csv").decode("utf-8-sig")
    assert "不动产登记窗口" in index and specs[0].url in index


def test_zip_index_neutralises_formula_names(session, make):
    unit = make.unit(name="=HYPERLINK(\"http://evil\")")
    campaign = make.campaign(units=[unit])
    make.commit()
    specs = posters.poster_specs(session, campaign, BASE)
    index = zipfile.ZipFile(io.BytesIO(posters.codes_zip(specs, campaign.short_code))).read(
        f"{campaign.short_code}-index.csv").decode("utf-8-sig")
    assert "'=HYPERLINK" in index


def test_appraisal_posters_ask_for_the_units_people_know(session, make):
    campaign = make.campaign(units=[make.unit(name="市教育局")], kind="appraisal")
    make.commit()
    text = pdf_text_pypdf(posters.render_pdf(posters.poster_specs(session, campaign, BASE)))[0]
    assert "评价您了解的单位" in text and "办完事" not in text
