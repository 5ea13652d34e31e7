"""A season in headless Chromium, by clicking only: from the overview to the campaign's season, closed,
computed, reviewed and published, then found by a citizen from the public home page (issue 16, item 1)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from survey.models import Campaign, CampaignStatus
from tests.factories import PASSWORD
from tests.results.helpers import fill

pytestmark = pytest.mark.browser


def test_an_analyst_follows_the_season_to_publication_without_typing_an_address(live_server, new_page, make, session):
    groups = make.groups()
    units = [make.unit(code=f"W{i}", name=f"第{i}窗口单位") for i in range(3)]
    campaign = make.campaign(units=units, title="2026年第四季度窗口评议", public_results=True,
                             status=CampaignStatus.OPEN)
    for i, unit in enumerate(units):
        fill(session, session.get(Campaign, campaign.id), unit, groups, 35, 3 + i % 2, seed=i)
    make.user(role="analyst", username="season")
    make.commit()

    page = new_page(width=1280, height=900)
    page.on("dialog", lambda dialog: dialog.accept())  # 结束评议 asks first
    page.goto(f"{live_server}/login")
    page.get_by_label("用户名").fill("season")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_server}/admin/")

    page.get_by_role("link", name="2026年第四季度窗口评议").first.click()
    season = page.locator("section.season")
    expect(season.locator(".next-step")).to_contain_text("下一步：收集答卷")
    expect(season.locator("li[data-step=distribute]").get_by_role("link", name="二维码与海报")).to_be_visible()

    page.get_by_role("button", name="结束评议").click()
    expect(page.locator(".flash").first).to_contain_text("评议已结束")
    expect(season.locator(".next-step")).to_contain_text("下一步：加权计算")
    next_step = season.locator(".next-step")  # the current step's links, repeated at the top
    expect(next_step.get_by_role("link", name="加权与计分")).to_be_visible()

    next_step.get_by_role("button", name="计算").click()
    expect(page.locator(".flash").first).to_contain_text("已计算")
    page.get_by_role("link", name="概览").click()
    page.locator("section.attention").get_by_role("link", name=re.compile("待核对发布")).click()
    page.get_by_label("同时向公众公开").check()
    page.get_by_label("我已核对以上内容和全部提示，确认发布为正式结果").check()
    page.get_by_role("button", name="确认发布").click()
    expect(page.get_by_text("已发布为正式结果")).to_be_visible()

    page.get_by_role("link", name="评议活动").first.click()
    page.get_by_role("link", name="2026年第四季度窗口评议").first.click()
    expect(season.locator(".next-step")).to_contain_text("本次评议已完成")
    assert season.locator("li.step-done").count() == 7

    citizen = new_page(javascript=False)
    citizen.goto(f"{live_server}/")
    citizen.get_by_role("link", name="查看已公布的评议结果").click()
    citizen.get_by_role("link", name=re.compile("2026年第四季度窗口评议")).click()
    expect(citizen.get_by_role("heading", level=1)).to_have_text("2026年第四季度窗口评议")
    expect(citizen.locator("table.league").first).to_contain_text("第0窗口单位")
