"""The window desk on a tablet in headless Chromium: the clerk shows a code, a phone scans and rates,
and the desk page notices by itself (static/js/desk.js polling)."""
from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from survey.desk.routes import POLL_SECONDS
from survey.models import Channel, Response
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser
TABLET = {"width": 1024, "height": 768}


@pytest.fixture
def desk(make):
    window = make.unit(code="CK-BDC", name="不动产登记窗口", window_no="12")
    campaign = make.campaign(units=[window], channels=[Channel.DESK.value, Channel.POSTER.value])
    clerk = make.user(role="desk", unit=window, username="window12")
    make.commit()
    return window, campaign, clerk


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "window12")
    page.fill("input[name=password]", PASSWORD)
    page.locator("button[type=submit]").click()
    page.goto(f"{base}/desk/")


def _scan(page) -> str:
    """What a phone camera would read off the tablet's screen."""
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(page.locator("img.desk-qr").screenshot())))
    assert found, "the code on the desk screen does not scan"
    return found[0].text


@pytest.mark.both_backends  # the end-to-end flow also against PostgreSQL
def test_a_transaction_from_code_to_rating(live_server, new_page, desk, session):
    window, _campaign, clerk = desk
    tablet = new_page(width=TABLET["width"], height=TABLET["height"])
    tablet.clock.install()  # the page's timers on a clock the test can move on: the poll is not waited out
    _sign_in(tablet, live_server)
    tablet.get_by_role("button", name="下一位").click()
    url = _scan(tablet)
    assert url.startswith(f"{live_server}/d/")

    phone = new_page()
    phone.goto(url)
    assert "不动产登记窗口" in phone.locator("main").inner_text()
    for fieldset in phone.locator("fieldset.q").all():
        radios = fieldset.get_by_role("radio")
        if radios.count():
            radios.first.check()
    phone.get_by_role("button", name="提交评价").click()
    phone.wait_for_url("**/thanks/**")

    tablet.clock.fast_forward(POLL_SECONDS * 1000)  # the desk's next poll is due within this
    expect(tablet.locator("#desk-status")).to_have_text("已评价，谢谢！", timeout=15_000)
    expect(tablet.locator("img.desk-qr")).to_be_hidden()  # a used code is taken off the screen
    session.expire_all()
    stored = session.scalars(select(Response)).one()
    assert (stored.channel, stored.unit_id, stored.staff_user_id) == (Channel.DESK, window.id, clerk.id)

    phone.goto(url)
    assert "已经评价过了" in phone.locator("h1").inner_text()
    tablet.get_by_role("button", name="下一位").click()
    assert _scan(tablet) != url


def test_the_desk_works_without_javascript(live_server, new_page, desk):
    tablet = new_page(javascript=False, width=TABLET["width"], height=TABLET["height"])
    _sign_in(tablet, live_server)
    tablet.get_by_role("button", name="下一位").click()
    first = _scan(tablet)
    tablet.get_by_role("link", name="刷新状态").click()
    assert _scan(tablet) == first
    assert tablet.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
