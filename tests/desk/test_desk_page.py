"""The desk screen for window staff: bound to their window, a fresh code per transaction."""
from __future__ import annotations

import base64
import datetime as dt
import re

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from survey.models import CampaignStatus, Channel, DeskToken, utcnow
from tests.factories import csrf_from


def qr_url_on(page) -> str:
    """Decode the QR code the desk page shows (an SVG data URI), by rasterising it."""
    html = page.get_data(as_text=True)
    match = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert match, "no QR code on the desk page"
    svg = base64.b64decode(match.group(1)).decode()
    side = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).group(1))
    # Rasterise the path's unit squares (M x,y H.. V.. H.. z) into an image zxing can read.
    scale = 8
    image = Image.new("L", (side * scale, side * scale), 255)
    pixels = image.load()
    for x, y in re.findall(r"M(\d+),(\d+)H", svg):
        for dx in range(scale):
            for dy in range(scale):
                pixels[int(x) * scale + dx, int(y) * scale + dy] = 0
    found = zxingcpp.read_barcodes(image)
    assert found, "the desk QR code does not decode"
    return found[0].text


@pytest.fixture
def window(make):
    return make.unit(code="CK-BDC", name="不动产登记窗口", window_no="12")


@pytest.fixture
def desk_campaign(make, window):
    campaign = make.campaign(units=[window], title="政务服务满意度评议",
                             channels=[Channel.POSTER.value, Channel.DESK.value, Channel.WEB.value])
    make.commit()
    return campaign


def desk_logout(client) -> None:
    """Sign out from the desk page (desk staff have no admin pages to take a token from)."""
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/desk/"))})


def press_next(client):
    page = client.get("/desk/")
    return client.post("/desk/next", data={"csrf_token": csrf_from(page)})


def test_login_required_and_only_desk_staff_or_admin(client, auth, window):
    assert client.get("/desk/").status_code in (302, 401)
    auth.login_as("analyst")
    assert client.get("/desk/").status_code == 403
    auth.logout()
    auth.login_as("unit", unit=window)
    assert client.get("/desk/").status_code == 403


def test_first_visit_shows_the_window_and_asks_for_next_person(client, auth, window, desk_campaign):
    auth.login_as("desk", unit=window)
    page = client.get("/desk/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "不动产登记窗口" in html and "12号窗口" in html and "政务服务满意度评议" in html
    assert "下一位" in html and 'class="desk-qr"' not in html  # no code until a transaction asks for one
    assert re.search(r'src="/static/js/desk\.[0-9a-f]{10}\.js"', html) and "<script>" not in html


def test_next_person_issues_a_signed_single_use_code_for_the_window(client, auth, session, window, desk_campaign):
    clerk = auth.login_as("desk", unit=window)
    assert press_next(client).status_code == 302
    page = client.get("/desk/")
    url = qr_url_on(page)
    assert re.fullmatch(r"http://localhost/d/[A-Za-z0-9_\-.]+", url)
    token = session.scalars(select(DeskToken)).one()
    assert (token.unit_id, token.staff_user_id, token.campaign_id) == (window.id, clerk.id, desk_campaign.id)
    assert token.used_at is None
    minutes = (token.expires_at - token.issued_at).total_seconds() / 60
    assert minutes == pytest.approx(30)
    html = page.get_data(as_text=True)
    assert f'data-status-url="/desk/token/{token.id}/status"' in html


def test_each_next_person_gets_a_new_code(client, auth, session, window, desk_campaign):
    auth.login_as("desk", unit=window)
    press_next(client)
    first = qr_url_on(client.get("/desk/"))
    press_next(client)
    second = qr_url_on(client.get("/desk/"))
    assert first != second
    assert session.scalar(select(func.count()).select_from(DeskToken)) == 2


@pytest.mark.parametrize("app_overrides", [{"DESK_TOKEN_MINUTES": 5}])
def test_expiry_is_configurable(client, auth, session, window, desk_campaign):
    auth.login_as("desk", unit=window)
    press_next(client)
    token = session.scalars(select(DeskToken)).one()
    assert (token.expires_at - token.issued_at) == dt.timedelta(minutes=5)


def test_status_poll_reports_waiting_used_and_expired(client, auth, session, window, desk_campaign):
    auth.login_as("desk", unit=window)
    press_next(client)
    token = session.scalars(select(DeskToken)).one()
    status = client.get(f"/desk/token/{token.id}/status")
    assert status.status_code == 200 and status.json["state"] == "valid"
    assert status.headers["Cache-Control"] == "no-store"

    token.used_at = utcnow()
    session.commit()
    status = client.get(f"/desk/token/{token.id}/status")
    assert status.json["state"] == "used" and status.json["message"] == "已评价，谢谢！"
    page = client.get("/desk/").get_data(as_text=True)
    assert "已评价，谢谢！" in page and 'class="desk-qr"' not in page  # a used code is not shown again

    token.used_at = None
    token.expires_at = utcnow() - dt.timedelta(seconds=1)
    session.commit()
    assert client.get(f"/desk/token/{token.id}/status").json["state"] == "expired"
    assert "已过期" in client.get("/desk/").get_data(as_text=True)


def test_status_of_another_clerks_code_is_not_found(client, auth, make, session, window, desk_campaign):
    auth.login_as("desk", unit=window)
    press_next(client)
    token_id = session.scalars(select(DeskToken)).one().id
    desk_logout(client)
    auth.login_as("desk", unit=window)  # a colleague at the same window
    assert client.get(f"/desk/token/{token_id}/status").status_code == 404
    assert client.get("/desk/token/999999/status").status_code == 404


def test_next_person_needs_post_and_csrf(client, auth, window, desk_campaign, session):
    auth.login_as("desk", unit=window)
    assert client.get("/desk/next").status_code == 405
    refused = client.post("/desk/next", data={})  # no token: nothing issued, back to the desk screen
    assert refused.status_code == 303 and refused.headers["Location"].endswith("/desk/")
    assert session.scalar(select(func.count()).select_from(DeskToken)) == 0


def test_no_desk_campaign_for_the_window_says_so(client, auth, make, window):
    make.campaign(units=[window], channels=[Channel.POSTER.value, Channel.WEB.value])  # no desk channel
    make.campaign(units=[window], status=CampaignStatus.CLOSED)
    make.commit()
    auth.login_as("desk", unit=window)
    html = client.get("/desk/").get_data(as_text=True)
    assert "没有开放“一事一评”的评议活动" in html and "下一位" not in html
    page = client.get("/desk/")
    assert client.post("/desk/next", data={"csrf_token": csrf_from(page)}).status_code == 302
    assert "没有可以生成评价码" in client.get("/desk/").get_data(as_text=True)


def test_several_campaigns_let_the_clerk_choose_and_remember(client, auth, make, session, window):
    first = make.campaign(units=[window], title="季度评议", channels=[Channel.DESK.value])
    second = make.campaign(units=[window], title="专项评议", channels=[Channel.DESK.value])
    other = make.campaign(units=[make.unit()], title="别的窗口", channels=[Channel.DESK.value])
    make.commit()
    auth.login_as("desk", unit=window)
    page = client.get("/desk/")
    html = page.get_data(as_text=True)
    assert "请选择本窗口要收集评价的评议活动" in html and "季度评议" in html and "专项评议" in html
    assert "别的窗口" not in html
    token = csrf_from(page)
    # Not this window's campaign: refused, nothing remembered.
    client.post("/desk/campaign", data={"csrf_token": token, "campaign_id": str(other.id)})
    assert "请选择本窗口要收集评价的评议活动" in client.get("/desk/").get_data(as_text=True)
    client.post("/desk/campaign", data={"csrf_token": token, "campaign_id": str(second.id)})
    html = client.get("/desk/").get_data(as_text=True)
    assert "专项评议" in html and "请选择" not in html
    press_next(client)
    assert session.scalars(select(DeskToken)).one().campaign_id == second.id
    client.post("/desk/change", data={"csrf_token": token})
    assert "请选择本窗口要收集评价的评议活动" in client.get("/desk/").get_data(as_text=True)
    assert first.id != second.id


def test_an_unbound_admin_gets_an_explanation(client, auth, desk_campaign):
    auth.login_as("admin")
    html = client.get("/desk/").get_data(as_text=True)
    assert "还没有绑定窗口" in html
