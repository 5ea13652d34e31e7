"""二维码与海报 pages: analysts get everything, a unit contact only their own units (no IDOR)."""
from __future__ import annotations

import io
import zipfile

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from survey.models import Channel, Response, ResponseStatus
from survey.services.campaigns import channel_report


@pytest.fixture
def setup(make):
    department = make.unit(code="ZRJ", name="市自然资源和规划局")
    window = make.unit(code="CK-BDC", name="不动产登记窗口", window_no="12", parent=department)
    other = make.unit(code="CK-SB", name="社保医保窗口", window_no="5")
    campaign = make.campaign(units=[window, other], title="政务服务满意度评议")
    elsewhere = make.campaign(units=[other], title="别人的评议")
    make.commit()
    cu = {cu.unit.code: cu for cu in campaign.campaign_units}
    return {"department": department, "window": window, "other": other, "campaign": campaign,
            "elsewhere": elsewhere, "mine": cu["CK-BDC"], "theirs": cu["CK-SB"]}


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_analyst_page_lists_every_unit_with_links(client, auth, setup):
    auth.login_as("analyst")
    index = client.get("/admin/distribution/").get_data(as_text=True)
    assert "政务服务满意度评议" in index and "别人的评议" in index
    page = client.get(f"/admin/distribution/{setup['campaign'].id}/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"http://localhost/s/{setup['mine'].short_code}" in html
    assert "不动产登记窗口" in html and "社保医保窗口" in html
    assert "还没有设置公开网址" in html and 'href="/admin/settings/#site"' in html


@pytest.mark.parametrize("app_overrides", [{"PUBLIC_BASE_URL": "https://pingyi.city.gov.cn"}])
def test_the_configured_public_address_goes_into_codes_and_posters(client, auth, setup):
    auth.login_as("analyst")
    campaign = setup["campaign"]
    html = client.get(f"/admin/distribution/{campaign.id}/").get_data(as_text=True)
    assert f"https://pingyi.city.gov.cn/s/{setup['mine'].short_code}" in html
    pdf = client.get(f"/admin/distribution/{campaign.id}/posters.pdf")
    assert f"https://pingyi.city.gov.cn/s/{setup['mine'].short_code}" in pdf_text(pdf.data)


def test_all_posters_in_one_pdf_and_all_codes_in_one_zip(client, auth, setup):
    auth.login_as("analyst")
    campaign = setup["campaign"]
    pdf = client.get(f"/admin/distribution/{campaign.id}/posters.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "attachment" in pdf.headers["Content-Disposition"]
    assert len(PdfReader(io.BytesIO(pdf.data)).pages) == 2
    text = pdf_text(pdf.data)
    assert "不动产登记窗口" in text and "12号窗口" in text and "社保医保窗口" in text
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/admin/distribution/{campaign.id}/codes.zip").data))
    assert len([n for n in archive.namelist() if n.endswith(".png")]) == 2
    assert len([n for n in archive.namelist() if n.endswith(".svg")]) == 2


def test_one_units_poster_and_codes(client, auth, setup):
    auth.login_as("analyst")
    base = f"/admin/distribution/{setup['campaign'].id}/units/{setup['mine'].id}"
    poster = client.get(base + "/poster.pdf")
    assert poster.status_code == 200 and len(PdfReader(io.BytesIO(poster.data)).pages) == 1
    assert "不动产登记窗口" in pdf_text(poster.data)
    assert client.get(base + "/qr.png").mimetype == "image/png"
    svg = client.get(base + "/qr.svg")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    campaign_code = client.get(f"/admin/distribution/{setup['campaign'].id}/qr.svg")
    assert campaign_code.status_code == 200


def test_unit_contact_gets_their_units_only(client, auth, setup):
    """The department's contact sees its window (a sub-unit), never the other window: 404, not 200."""
    auth.login_as("unit", unit=setup["department"])
    campaign, mine, theirs = setup["campaign"], setup["mine"], setup["theirs"]
    index = client.get("/admin/distribution/").get_data(as_text=True)
    assert "政务服务满意度评议" in index and "别人的评议" not in index
    html = client.get(f"/admin/distribution/{campaign.id}/").get_data(as_text=True)
    assert "不动产登记窗口" in html and "社保医保窗口" not in html and "邀请名单" not in html
    base = f"/admin/distribution/{campaign.id}/units"
    for suffix in ("poster.pdf", "qr.png", "qr.svg"):
        assert client.get(f"{base}/{mine.id}/{suffix}").status_code == 200
        assert client.get(f"{base}/{theirs.id}/{suffix}").status_code == 404
    assert client.get(f"/admin/distribution/{setup['elsewhere'].id}/").status_code == 404
    # A campaign unit of another campaign under this campaign's URL: also 404.
    other_cu = setup["elsewhere"].campaign_units[0]
    assert client.get(f"{base}/{other_cu.id}/qr.png").status_code == 404
    # "All posters" for a unit contact means all of *their* posters.
    pdf = client.get(f"/admin/distribution/{campaign.id}/posters.pdf")
    text = pdf_text(pdf.data)
    assert "不动产登记窗口" in text and "社保医保窗口" not in text
    names = zipfile.ZipFile(io.BytesIO(client.get(f"/admin/distribution/{campaign.id}/codes.zip").data)).namelist()
    assert any("CK-BDC" in n for n in names) and not any("CK-SB" in n for n in names)


def test_desk_staff_and_strangers_are_kept_out(client, auth, setup):
    url = f"/admin/distribution/{setup['campaign'].id}/posters.pdf"
    assert client.get(url).status_code in (302, 401)
    auth.login_as("desk", unit=setup["window"])
    assert client.get(url).status_code == 403


def test_a_campaign_without_units_explains_itself(client, auth, make):
    campaign = make.campaign(units=[])
    make.commit()
    auth.login_as("analyst")
    reply = client.get(f"/admin/distribution/{campaign.id}/posters.pdf")
    assert reply.status_code == 422 and "没有可以打印海报的单位" in reply.get_data(as_text=True)
    assert client.get(f"/admin/distribution/{campaign.id}/codes.zip").status_code == 422
    assert client.get("/admin/distribution/999999/").status_code == 404


def _response(make, campaign, unit, channel, staff=None, status=ResponseStatus.VALID):
    import secrets

    response = Response(campaign_id=campaign.id, questionnaire_id=campaign.questionnaire_id, unit_id=unit.id,
                        channel=channel, status=status, submission_id=secrets.token_urlsafe(18),
                        staff_user_id=staff.id if staff else None)
    make.session.add(response)
    return response


def test_channel_breakdown_by_channel_window_and_clerk(client, auth, make, session, setup):
    campaign, window, other = setup["campaign"], setup["window"], setup["other"]
    clerk_a = make.user(role="desk", unit=window)
    clerk_b = make.user(role="desk", unit=window)
    for _ in range(3):
        _response(make, campaign, window, Channel.DESK, clerk_a)
    _response(make, campaign, window, Channel.DESK, clerk_b)
    _response(make, campaign, other, Channel.POSTER)
    _response(make, campaign, other, Channel.POSTER, status=ResponseStatus.EXCLUDED)  # never counted
    make.commit()
    rows = {r.channel: r.responses for r in channel_report.by_channel(session, campaign)}
    assert rows[Channel.DESK] == 4 and rows[Channel.POSTER] == 1 and rows[Channel.WEB] == 0
    desk = [(r.unit.code, r.staff_name, r.responses) for r in channel_report.desk_by_window(session, campaign)]
    assert desk == [("CK-BDC", clerk_a.username, 3), ("CK-BDC", clerk_b.username, 1)]
    # A unit contact of the other window sees only that window's responses.
    scoped = {r.channel: r.responses for r in channel_report.by_channel(session, campaign, {other.id})}
    assert scoped[Channel.DESK] == 0 and scoped[Channel.POSTER] == 1
    auth.login_as("analyst")
    html = client.get(f"/admin/distribution/{campaign.id}/").get_data(as_text=True)
    assert "窗口一事一评" in html and clerk_a.username in html
    assert session.scalar(select(Response.id).limit(1)) is not None
