"""An analyst sets up a survey in the browser and a phone answers it (headless Chromium).

Import the 97 units from a spreadsheet → new campaign from the window-service template
for one category → open it → a phone opens a unit's link and answers → the analyst's
campaign page counts 1.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from survey.models import Campaign, CampaignStatus, Response, Unit
from tests.admin.unit_sheets import taizhou_rows, xlsx_bytes
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def _log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/admin/")


@pytest.mark.both_backends  # the end-to-end flow also against PostgreSQL
def test_analyst_sets_up_a_campaign_from_a_template_and_a_phone_answers_it(live_server, new_page, make, session):
    make.user(role="analyst", username="boss")
    analyst = new_page(width=1280, height=900)
    _log_in(analyst, live_server, "boss")
    expect(analyst.get_by_role("heading", name="开始一次评议：四步")).to_be_visible()

    # 1. the unit list from a spreadsheet: preview first, nothing written until confirmed
    analyst.get_by_role("link", name="导入单位表（Excel 或 CSV）").click()
    analyst.get_by_label(re.compile("单位表文件")).set_input_files(
        files=[{"name": "台州市考评单位.xlsx", "mimeType": "application/octet-stream",
                "buffer": xlsx_bytes(taizhou_rows())}])
    analyst.get_by_role("button", name="上传并检查").click()
    expect(analyst.locator(".kpis")).to_contain_text("97 新建")
    session.expire_all()
    assert session.scalar(select(func.count(Unit.id))) == 0
    analyst.get_by_role("button", name="确认导入").click()
    expect(analyst.locator(".flash")).to_contain_text("导入完成：新建 97 个单位")

    # 2. a campaign from the window-service template, for the 17 banks, then open it
    analyst.get_by_role("link", name="评议活动").first.click()
    analyst.get_by_role("link", name="新建评议：从模板").click()
    analyst.get_by_label("标题", exact=True).fill("2026年驻地金融机构服务满意度评议")
    analyst.get_by_label("驻地金融机构").check()
    analyst.get_by_role("button", name="建立评议活动（草稿）").click()
    expect(analyst.locator("h1")).to_contain_text("2026年驻地金融机构服务满意度评议")
    expect(analyst.locator(".flash").first).to_contain_text("已建立评议活动")
    expect(analyst.locator(".flash", has_text="已按模板建立样本类别")).to_be_visible()
    analyst.get_by_role("button", name="开始评议").click()
    expect(analyst.locator("h1 .badge")).to_have_text("进行中")
    bank_row = analyst.locator("tbody tr", has_text="台州银行")
    link = bank_row.locator("a").first.inner_text()
    assert re.fullmatch(rf"{re.escape(live_server)}/s/[2-9A-Z]{{6}}", link), link
    expect(bank_row.locator("td.num").first).to_have_text("0")

    # 3. a phone opens the bank's link and answers
    phone = new_page()
    phone.goto(link)
    expect(phone.locator("h1")).to_contain_text("台州银行")
    questions = phone.locator("fieldset.q")
    for i, level in enumerate(("非常满意", "满意", "满意", "非常满意", "基本满意")):
        questions.nth(i).get_by_role("radio", name=level, exact=True).check()
    questions.nth(5).get_by_role("radio", name="一次办成").check()
    questions.nth(6).get_by_role("radio", name="企业代表").check()
    phone.get_by_role("button", name="提交评价").click()
    phone.wait_for_url(re.compile(r".*/thanks/.*"))

    # 4. the analyst sees it arrive
    analyst.reload()
    expect(analyst.locator("tbody tr", has_text="台州银行").locator("td.num").first).to_have_text("1")
    expect(analyst.locator("[data-live-total]")).to_have_text("共 1 份")
    session.expire_all()
    campaign = session.scalar(select(Campaign))
    assert campaign.status == CampaignStatus.OPEN and len(campaign.campaign_units) == 17
    (response,) = session.scalars(select(Response))
    assert session.get(Unit, response.unit_id).name == "台州银行"
    assert response.questionnaire_id == campaign.questionnaire_id


def test_the_phone_preview_shows_the_citizen_page_at_phone_width(live_server, new_page, make, session):
    make.user(role="analyst", username="boss")
    make.groups()
    make.unit(name="不动产登记窗口", window_no="12")
    questionnaire = make.questionnaire(published=False)
    make.commit()
    page = new_page(width=1280, height=1000)
    _log_in(page, live_server, "boss")
    page.goto(f"{live_server}/admin/questionnaires/{questionnaire.id}/preview")
    frame = page.frame_locator("iframe[name=phone]")
    expect(frame.locator("h1")).to_contain_text("不动产登记窗口")
    width = page.locator("iframe[name=phone]").evaluate("el => el.getBoundingClientRect().width")
    assert width == 360
    frame.get_by_role("button", name="提交评价").click()
    expect(frame.locator(".error-summary")).to_be_visible()
    session.expire_all()
    assert session.scalar(select(func.count(Response.id))) == 0
