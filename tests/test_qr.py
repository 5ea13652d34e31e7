"""QR codes: what they carry decodes back exactly, at print size, and the URL reaches the questionnaire."""
from __future__ import annotations

import io
import re

import pytest
import zxingcpp
from PIL import Image

from survey.services.campaigns import qr


def decode_png(data: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))
    assert len(results) == 1, "expected exactly one QR code in the image"
    return results[0].text


def test_png_is_print_size_and_decodes_to_the_url():
    url = "https://pingyi.example.gov.cn/s/ABC234"
    data = qr.png(url)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size[0] >= qr.PNG_PIXELS and image.size[0] == image.size[1]
    assert decode_png(data) == url


def test_svg_is_scalable_with_a_white_background_and_the_same_modules():
    url = "https://pingyi.example.gov.cn/s/ABC234"
    text = qr.svg(url).decode("utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "viewBox" in text
    assert 'fill="white"' in text or "fill:white" in text or "#fff" in text.lower()
    grid = qr.matrix(url)
    side = len(grid)
    assert re.search(rf'viewBox="0 0 {side} {side}"', text)
    assert not any(grid[0]) and not any(row[0] for row in grid)  # the quiet zone is light


def test_error_correction_survives_a_smudge():
    """Level Q: a blot over a corner of the data area still scans."""
    url = "https://pingyi.example.gov.cn/s/ABC234"
    image = Image.open(io.BytesIO(qr.png(url))).convert("L")
    w, _h = image.size
    blot = Image.new("L", (w // 7, w // 7), 0)
    image.paste(blot, (w // 2, w // 2))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    assert decode_png(buffer.getvalue()) == url


@pytest.mark.parametrize("raw, expected", [
    ("https://pingyi.example.gov.cn/", "https://pingyi.example.gov.cn"),
    (" http://10.0.0.5:8000/pingyi/ ", "http://10.0.0.5:8000/pingyi"),
])
def test_base_url_is_normalised(raw, expected):
    assert qr.normalise_base_url(raw) == expected
    assert qr.short_url(expected, "abc234") == expected + "/s/ABC234"


@pytest.mark.parametrize("raw", ["", None, "pingyi.example.gov.cn", "ftp://x.y", "https://x.y/?a=1", "https://"])
def test_bad_base_urls_are_refused_with_a_reason(raw):
    with pytest.raises(qr.BaseUrlError):
        qr.normalise_base_url(raw)


def test_configured_base_url_wins_and_a_broken_one_falls_back_to_the_request():
    assert qr.base_url_for("https://pingyi.gov.cn/", "http://127.0.0.1:8000/") == "https://pingyi.gov.cn"
    assert qr.base_url_for("not a url", "http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert qr.base_url_for(None, "http://localhost/") == "http://localhost"


def test_round_trip_from_the_admin_download_to_the_right_questionnaire(client, auth, make, session):
    """Download a unit's PNG as an analyst, decode it, follow the URL, land on that unit's questionnaire."""
    unit_a = make.unit(name="不动产登记窗口", window_no="12")
    unit_b = make.unit(name="社保医保窗口", window_no="5")
    campaign = make.campaign(units=[unit_a, unit_b])
    cu_b = next(cu for cu in campaign.campaign_units if cu.unit_id == unit_b.id)
    campaign_id, cu_id, code = campaign.id, cu_b.id, cu_b.short_code
    make.commit()
    auth.login_as("analyst")
    png = client.get(f"/admin/distribution/{campaign_id}/units/{cu_id}/qr.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    url = decode_png(png.data)
    assert url == f"http://localhost/s/{code}"
    auth.logout()
    page = client.get(url.replace("http://localhost", ""))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "社保医保窗口" in html and "不动产登记窗口" not in html
    assert 'name="submission_id"' in html


def test_typed_codes_are_case_insensitive(client, make):
    unit = make.unit(name="公安户籍窗口")
    campaign = make.campaign(units=[unit])
    code = campaign.campaign_units[0].short_code
    make.commit()
    page = client.get(f"/s/{code.lower()}")
    assert page.status_code == 200 and "公安户籍窗口" in page.get_data(as_text=True)
