"""The queue and search pages, the case page, exports and the figures, through the browser's eyes."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from survey.core.clock import org_today
from survey.models import AuditLog, Case, CaseKind, CaseState, FollowUpContact
from survey.services.cases.figures import case_figures
from survey.services.cases.workflow import transition
from tests.cases.helpers import respond
from tests.factories import csrf_from


@pytest.fixture
def world(make, session):
    zrj = make.unit(name="市自然资源和规划局", code="ZRJ")
    window = make.unit(name="不动产登记窗口", code="CK-BDC", parent=zrj)
    other = make.unit(name="市住房和城乡建设局", code="ZJJ")
    campaign = make.campaign(units=[window, other], period="2026Q4")
    today = org_today()
    old = today - dt.timedelta(days=40)
    respond(session, campaign, window, levels={"Q1": 1}, comment="排队太久，叫号系统经常出问题", submitted_on=old,
            phone="13812341234")
    respond(session, campaign, window, comment="=HYPERLINK(\"http://evil\")", submitted_on=today)
    respond(session, campaign, other, comment="住建局的秘密意见", submitted_on=today)
    return zrj, window, other, campaign


def test_unit_contact_sees_own_queue_with_overdue_highlight_and_masked_phone(client, auth, world):
    zrj, _window, other, _ = world
    auth.login_as("unit", unit=zrj)
    html = client.get("/admin/cases/").get_data(as_text=True)
    assert "排队太久" in html and "住建局的秘密意见" not in html
    assert 'class="overdue"' in html and "已超期" in html and "超期" in html
    assert "138****1234" in html and "13812341234" not in html
    own = client.get("/admin/cases/?q=叫号").get_data(as_text=True)
    assert "排队太久" in own and "HYPERLINK" not in own
    snooping = client.get(f"/admin/cases/?unit={other.id}").get_data(as_text=True)
    assert "住建局的秘密意见" not in snooping


def test_analyst_filters(client, auth, world, session):
    zrj, _window, _other, _campaign = world
    auth.login_as("analyst")
    everything = client.get("/admin/cases/?state=").get_data(as_text=True)
    assert "住建局的秘密意见" in everything and "排队太久" in everything
    by_unit = client.get(f"/admin/cases/?unit={zrj.id}").get_data(as_text=True)  # the department includes its window
    assert "排队太久" in by_unit and "住建局的秘密意见" not in by_unit
    overdue = client.get("/admin/cases/?timing=overdue").get_data(as_text=True)
    assert "排队太久" in overdue and "住建局的秘密意见" not in overdue
    kind = client.get("/admin/cases/?kind=bad_rating").get_data(as_text=True)
    assert "差评：" in kind and "住建局的秘密意见" not in kind
    assert "住建局的秘密意见" in client.get("/admin/cases/?period=2026Q4").get_data(as_text=True)
    assert "没有符合条件" in client.get("/admin/cases/?period=2025Q1").get_data(as_text=True)
    percent = client.get("/admin/cases/?q=%25").get_data(as_text=True)  # LIKE wildcards are literal
    assert "没有符合条件" in percent
    weird = client.get("/admin/cases/?unit=abc&page=-3&state=nonsense&timing=x&kind=y")
    assert weird.status_code == 200


def test_exports_neutralise_formulas_and_leave_out_phones(client, auth, world, session):
    auth.login_as("analyst")
    csv_response = client.get("/admin/cases/export.csv")
    assert csv_response.status_code == 200 and csv_response.data.startswith("\ufeff".encode())
    text = csv_response.data.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "13812341234" not in text and "138****" not in text
    assert "排队太久" in text and "超期未办结" in text
    xlsx = client.get("/admin/cases/export.xlsx?kind=comment")
    sheet = load_workbook(io.BytesIO(xlsx.data)).worksheets[0]
    values = [c.value for row in sheet.iter_rows() for c in row]
    assert "'=HYPERLINK(\"http://evil\")" in values and not any(str(v).startswith("=") for v in values if v)
    assert client.get("/admin/cases/export.pdf").status_code == 404
    assert session.scalar(select(AuditLog).where(AuditLog.action == "case.export")) is not None


def test_case_page_reveals_phone_to_the_unit_only_and_audits_it(client, auth, world, session, make):
    zrj, _window, *_ = world
    case = session.scalar(select(Case).where(Case.kind == CaseKind.BAD_RATING))
    auth.login_as("analyst")
    page = client.get(f"/admin/cases/{case.id}")
    html = page.get_data(as_text=True)
    assert "138****1234" in html and "13812341234" not in html and "显示完整号码" not in html
    assert client.post(f"/admin/cases/{case.id}/contact", data={"csrf_token": csrf_from(page)}).status_code == 403
    auth.logout()
    auth.login_as("unit", unit=zrj)
    page = client.get(f"/admin/cases/{case.id}")
    assert "显示完整号码" in page.get_data(as_text=True)
    shown = client.post(f"/admin/cases/{case.id}/contact", data={"csrf_token": csrf_from(page)})
    assert shown.status_code == 200 and "13812341234" in shown.get_data(as_text=True)
    assert session.scalar(select(AuditLog).where(AuditLog.action == "case.contact_view")).object_id == str(case.id)


def test_handling_a_case_through_the_pages(client, auth, world, session):
    zrj, _window, *_ = world
    case = session.scalar(select(Case).where(Case.kind == CaseKind.BAD_RATING))
    auth.login_as("unit", unit=zrj)
    page = client.get(f"/admin/cases/{case.id}")
    token = csrf_from(page)
    assert client.post(f"/admin/cases/{case.id}/step/start", data={"csrf_token": token}).status_code == 302
    missing = client.post(f"/admin/cases/{case.id}/step/rectify", data={"csrf_token": token, "rectification": ""})
    assert missing.status_code == 422 and "请填写整改情况" in missing.get_data(as_text=True)
    client.post(f"/admin/cases/{case.id}/step/rectify", data={"csrf_token": token, "rectification": "更换叫号机"})
    early = client.post(f"/admin/cases/{case.id}/step/close", data={"csrf_token": token})
    assert early.status_code == 422 and "回访" in early.get_data(as_text=True)
    bad_date = client.post(f"/admin/cases/{case.id}/callback", data={"csrf_token": token, "called_on": "昨天"})
    assert bad_date.status_code == 422
    today = org_today().isoformat()
    assert client.post(f"/admin/cases/{case.id}/callback", data={
        "csrf_token": token, "called_on": today, "verdict": "satisfied", "note": "满意"}).status_code == 302
    assert client.post(f"/admin/cases/{case.id}/tags", data={
        "csrf_token": token, "tag": ["办事效率"], "new_tags": "叫号系统"}).status_code == 302
    assert client.post(f"/admin/cases/{case.id}/step/close", data={"csrf_token": token}).status_code == 302
    assert client.post(f"/admin/cases/{case.id}/step/fly", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/admin/cases/{case.id}/step/close").status_code == 405
    session.expire_all()
    case = session.get(Case, case.id)
    assert case.state == CaseState.CLOSED and {t.tag for t in case.tags} == {"办事效率", "叫号系统"}
    html = client.get(f"/admin/cases/{case.id}").get_data(as_text=True)
    assert "更换叫号机" in html and "登记回访" in html and "超期办结" in html
    assert "138****" not in html  # a closed case shows no number
    # The 差评 and its comment were one case: closing it was the last one, so the number is gone.
    assert session.scalar(select(func.count()).select_from(Case).where(Case.response_id == case.response_id)) == 1
    assert session.scalar(select(func.count()).select_from(FollowUpContact)) == 0


def test_figures_rates_and_median(session, make, client, auth):
    unit = make.unit(name="社保医保窗口")
    campaign = make.campaign(units=[unit], period="2026Q3")
    contact = make.user("unit", unit=unit)
    today = dt.date(2026, 11, 23)
    monday = dt.date(2026, 11, 2)
    on_time = respond(session, campaign, unit, levels={"Q1": 1}, submitted_on=monday)
    late = respond(session, campaign, unit, levels={"Q1": 2}, submitted_on=dt.date(2026, 10, 12))
    respond(session, campaign, unit, comment="开放时间太短", submitted_on=dt.date(2026, 10, 12))  # open, overdue
    respond(session, campaign, unit, comment="希望增加自助机", submitted_on=dt.date(2026, 11, 20))  # open, not due
    cases = {c.response_id: c for c in session.scalars(select(Case))}
    for response, fix_after, close_after in ((on_time, 3, 4), (late, 30, 31)):
        case = cases[response.id]
        transition(session, case, "rectify", contact, rectification="已整改",
                   now=dt.datetime.combine(case.opened_on + dt.timedelta(days=fix_after), dt.time(4), tzinfo=dt.UTC))
        transition(session, case, "close", contact,
                   now=dt.datetime.combine(case.opened_on + dt.timedelta(days=close_after), dt.time(4), tzinfo=dt.UTC))
    session.commit()
    (row,) = case_figures(session, today, "Asia/Shanghai")
    assert (row.comments, row.bad_ratings, row.closed) == (2, 2, 2)
    assert row.closure_rate == 0.5
    assert (row.due, row.on_time, row.overdue_open) == (3, 1, 1)
    assert row.on_time_rate == pytest.approx(1 / 3)
    # Mon 11-02 → Thu 11-05 is 3 working days; Mon 10-12 → Wed 11-11 is 22 working days
    assert sorted(row.days_to_fix) == [3, 22] and row.median_days_to_fix == 12.5
    auth.login_as("analyst")
    html = client.get("/admin/cases/figures?period=2026Q3").get_data(as_text=True)
    assert "社保医保窗口" in html and "50.0%" in html and "33.3%" in html and "12.5" in html
