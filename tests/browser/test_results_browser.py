"""The analyst's results tour in headless Chromium: league table, unit page, publish, public page, print.

Script errors and Content-Security-Policy violations fail the test (the ``new_page`` fixture).
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD
from tests.results.conftest import computed  # noqa: F401  (the computed period of the results tests)

pytestmark = pytest.mark.browser


def test_analyst_reads_publishes_and_prints_a_period(live_server, new_page, make, computed):  # noqa: F811
    make.user(role="analyst", username="analyst-b")
    page = new_page(width=1280, height=900)
    page.goto(f"{live_server}/login")
    page.get_by_label("用户名").fill("analyst-b")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_server}/admin/")

    page.goto(f"{live_server}/admin/results/snapshots/{computed.snapshot.id}")
    chart = page.locator("svg.chart-intervals").first
    expect(chart).to_be_visible()
    assert chart.locator("title").text_content().startswith("政府口机关")
    assert chart.bounding_box()["width"] > 500
    expect(page.get_by_role("cell", name="第1局").first).to_be_visible()
    page.get_by_text("等次", exact=True).first.click()
    page.get_by_role("link", name="第1局").first.click()
    expect(page.get_by_role("heading", name="计算过程")).to_be_visible()
    expect(page.get_by_text("窗口服务好")).to_be_visible()

    page.go_back()
    page.get_by_role("link", name="发布为正式结果…").click()
    expect(page.get_by_role("heading", name="发布前请核对", exact=False)).to_be_visible()
    page.get_by_label("同时向公众公开").check()
    page.get_by_label("我已核对以上内容和全部提示，确认发布为正式结果").check()
    page.get_by_role("button", name="确认发布").click()
    expect(page.get_by_text("已发布为正式结果")).to_be_visible()
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf[:4] == b"%PDF" and len(pdf) > 10_000

    citizen = new_page(javascript=False)
    citizen.goto(f"{live_server}/results/{computed.snapshot.id}")
    expect(citizen.get_by_role("heading", level=1)).to_be_visible()
    expect(citizen.locator("svg.chart-intervals")).to_have_count(1)
    assert citizen.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways page scroll
