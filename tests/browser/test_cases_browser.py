"""A unit contact handles a 差评 in a real browser: queue, overdue mark, phone, fix, 回访, close."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from survey.core.clock import org_today
from survey.models import Case, CaseState, FollowUpContact
from tests.cases.helpers import respond
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_unit_contact_handles_an_overdue_bad_rating(live_server, new_page, make, session):
    unit = make.unit(name="不动产登记窗口")
    campaign = make.campaign(units=[unit])
    contact = make.user("unit", unit=unit, username="bdc")
    respond(session, campaign, unit, levels={"Q1": 1, "Q3": 2}, phone="13812341234",
            submitted_on=org_today() - dt.timedelta(days=40))
    page = new_page(width=1280, height=900)
    page.goto(f"{live_server}/login")
    page.fill("#username", contact.username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server}/admin/cases/")
    row = page.locator("table.cases tbody tr").first
    assert "已超期" in row.inner_text() and "138****1234" in row.inner_text()
    assert "overdue" in row.get_attribute("class")
    row.locator("a").first.click()
    page.click("text=显示完整号码")
    assert page.locator(".phone").inner_text() == "13812341234"
    page.click("form.step button:has-text('开始处理')")
    page.fill("#rectification", "增设取号引导员，修复叫号系统")
    page.click("form.step button:has-text('登记整改')")
    page.click("form.step button:has-text('关闭')")
    assert "请先登记回访" in page.locator(".flash-error").inner_text() or "回访" in page.locator(".flash").inner_text()
    page.select_option("#verdict", "satisfied")
    page.click("button:has-text('保存回访')")
    page.click("form.step button:has-text('关闭')")
    assert "已回访/关闭" in page.locator(".status-line").inner_text()
    assert "超期办结" in page.locator(".status-line").inner_text()
    session.expire_all()
    assert session.scalar(select(Case.state)) == CaseState.CLOSED
    assert session.scalar(select(func.count()).select_from(FollowUpContact)) == 0
