"""Layouts that must hold on real screens (issue 16): the public results table on a 360 px phone, whole
campaign cards tappable on the home page, and the desk's fallback address on a portrait tablet."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from survey.models import Channel
from tests.factories import PASSWORD
from tests.results.conftest import computed  # noqa: F401  (the computed period of the results tests)

pytestmark = pytest.mark.browser


def _inside(box: dict, width: int, height: int | None = None) -> bool:
    right_ok = box["x"] >= 0 and box["x"] + box["width"] <= width + 1
    return right_ok and (height is None or box["y"] + box["height"] <= height + 1)


def test_public_results_at_360px_show_rate_respondents_and_comments(live_server, new_page, session, computed):  # noqa: F811
    from survey.services.results import snapshots

    snapshots.publish(session, computed.snapshot, None, public=True)
    session.commit()
    page = new_page(javascript=False, width=360, height=740)
    page.goto(f"{live_server}/results/{computed.snapshot.id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 361  # nothing hidden sideways
    row = page.locator("table.league tbody tr").first
    for label in ("满意率", "评价人数", "意见/差评"):
        cell = row.locator(f'td[data-label="{label}"]')
        expect(cell).to_be_visible()
        assert _inside(cell.bounding_box(), 360), label
        text = cell.evaluate("el => getComputedStyle(el, '::before').content")
        assert label in text, text  # each value is labelled on the card


def test_whole_campaign_cards_are_tappable(live_server, new_page, make):
    campaign = make.campaign(title="政务服务满意度评议", channels=[Channel.POSTER.value, Channel.WEB.value])
    make.commit()
    page = new_page(width=390, height=844)
    page.goto(f"{live_server}/")
    card = page.locator("a.card-link").first
    box = card.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 300
    page.mouse.click(box["x"] + box["width"] - 12, box["y"] + box["height"] - 8)  # far from the title
    page.wait_for_url(f"**/s/{campaign.short_code}**")
    expect(page.get_by_role("heading", level=1)).to_contain_text("政务服务满意度评议")
    page.go_back()
    expect(page.get_by_role("link", name="查看已公布的评议结果")).to_be_visible()


def test_desk_fallback_address_and_refresh_fit_a_portrait_tablet(live_server, new_page, make):
    window = make.unit(code="CK-BDC", name="不动产登记窗口", window_no="12")
    make.campaign(units=[window], channels=[Channel.DESK.value, Channel.POSTER.value])
    make.user(role="desk", unit=window, username="window12")
    make.commit()
    tablet = new_page(width=768, height=1024)
    tablet.goto(f"{live_server}/login")
    tablet.fill("input[name=username]", "window12")
    tablet.fill("input[name=password]", PASSWORD)
    tablet.locator("button[type=submit]").click()
    tablet.goto(f"{live_server}/desk/")
    tablet.get_by_role("button", name="下一位").click()
    expect(tablet.locator("img.desk-qr")).to_be_visible()
    assert tablet.evaluate("window.scrollY") == 0
    for locator in (tablet.locator(".desk-url"), tablet.get_by_role("link", name="刷新状态"),
                    tablet.locator("img.desk-qr")):
        expect(locator).to_be_visible()
        assert _inside(locator.bounding_box(), 768, 1024), locator
    assert tablet.locator("img.desk-qr").bounding_box()["width"] >= 400  # still a big code
