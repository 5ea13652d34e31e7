"""Analysts' settings, calendar and audit pages: validation, preview before import, filters, export."""
from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import func, select

from survey.core import settings
from survey.core.audit import record
from survey.models import AuditLog, Holiday
from tests.cases.helpers import CN_2026, cn_2026_csv
from tests.factories import csrf_from


def test_settings_page_validates_and_audits(client, auth, session):
    auth.login_as("analyst")
    page = client.get("/admin/settings/")
    assert page.status_code == 200 and 'value="15"' in page.get_data(as_text=True)
    bad = client.post("/admin/settings/", data={"csrf_token": csrf_from(page), settings.DEADLINE_DAYS: "十五",
                                                 settings.BAD_LEVEL_MAX: "9", settings.TAG_SUGGESTIONS: "a"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "1 到 60" in html and "1 到 3" in html
    assert session.scalar(select(func.count()).select_from(AuditLog)) == 0
    ok = client.post("/admin/settings/", data={"csrf_token": csrf_from(page), settings.DEADLINE_DAYS: "7",
                                                settings.BAD_LEVEL_MAX: "2", settings.TAG_SUGGESTIONS: "服务态度\n办事效率\n",
                                                settings.COMMENT_KIND_RULE: "by_rating"})
    assert ok.status_code == 302
    assert settings.get(session, settings.DEADLINE_DAYS) == 7
    assert settings.get(session, settings.TAG_SUGGESTIONS) == ["服务态度", "办事效率"]


def test_unit_contacts_cannot_configure(client, auth):
    auth.login_as("unit")
    token = csrf_from(client.get("/admin/"))
    for path in ("/admin/settings/", "/admin/calendar/", "/admin/calendar/import", "/admin/audit/",
                 "/admin/audit/export.csv", "/admin/appeals/", "/admin/review/"):
        assert client.get(path).status_code == 403, path
    assert client.post("/admin/calendar/day", data={"csrf_token": token, "day": "2026-10-01",
                                                    "kind": "holiday"}).status_code == 403


def test_calendar_import_previews_then_imports(client, auth, session):
    auth.login_as("analyst")
    page = client.get("/admin/calendar/import")
    broken = cn_2026_csv() + "2026-10-04,holiday,周日\n"
    preview = client.post("/admin/calendar/import", data={"csrf_token": csrf_from(page), "text": broken})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 422 and "周末" in html and "确认导入" not in html
    upload = client.post("/admin/calendar/import", data={
        "csrf_token": csrf_from(page), "file": (io.BytesIO(cn_2026_csv().encode("gb18030")), "2026.csv")},
        content_type="multipart/form-data")
    assert upload.status_code == 200 and f"确认导入 {len(CN_2026)} 天" in upload.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Holiday)) == 0  # nothing stored by the preview
    staged = re.search(r'name="staged" value="([^"]+)"', upload.get_data(as_text=True)).group(1)
    done = client.post("/admin/calendar/import", data={"csrf_token": csrf_from(page), "staged": staged,
                                                       "confirm": "1"})
    assert done.status_code == 302
    again = client.post("/admin/calendar/import", data={"csrf_token": csrf_from(page), "staged": staged,
                                                        "confirm": "1"})
    assert again.status_code == 422  # the token confirmed once
    assert session.scalar(select(func.count()).select_from(Holiday)) == len(CN_2026)
    year = client.get("/admin/calendar/?year=2026").get_data(as_text=True)
    assert "2026-10-10" in year and "国庆节调休" in year


def test_calendar_single_days(client, auth, session):
    auth.login_as("analyst")
    token = csrf_from(client.get("/admin/calendar/"))
    weekend = client.post("/admin/calendar/day", data={"csrf_token": token, "day": "2026-10-03", "kind": "holiday"})
    assert weekend.status_code == 422 and "周末" in weekend.get_data(as_text=True)
    assert client.post("/admin/calendar/day", data={"csrf_token": token, "day": "not a day",
                                                    "kind": "holiday"}).status_code == 422
    assert client.post("/admin/calendar/day", data={"csrf_token": token, "day": "2026-12-31", "kind": "holiday",
                                                    "name": "地方假日"}).status_code == 302
    assert session.scalar(select(Holiday.name)) == "地方假日"
    assert client.post("/admin/calendar/remove", data={"csrf_token": token, "day": "2026-12-31"}).status_code == 302
    assert session.scalar(select(func.count()).select_from(Holiday)) == 0
    actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["calendar.set", "calendar.remove"]


def test_audit_log_filters_and_exports(client, auth, make, session):
    analyst = auth.login_as("analyst")
    other = make.user("admin", username="root2")
    record(session, analyst, "case.start", None, "开始处理 #1")
    record(session, other, "user.create", None, "=cmd|' /C calc'!A0")
    session.commit()
    html = client.get("/admin/audit/?action=case.").get_data(as_text=True)
    assert "开始处理 #1" in html and "calc" not in html
    html = client.get(f"/admin/audit/?user={other.id}").get_data(as_text=True)
    assert "calc" in html and "开始处理" not in html
    assert "没有记录" in client.get("/admin/audit/?from=2000-01-01&to=2000-01-02").get_data(as_text=True)
    assert client.get("/admin/audit/?from=garbage&page=x").status_code == 200
    data = client.get("/admin/audit/export.xlsx").data
    values = [c.value for row in load_workbook(io.BytesIO(data)).worksheets[0].iter_rows() for c in row]
    assert "'=cmd|' /C calc'!A0" in values
    assert "开始处理 #1" in client.get("/admin/audit/export.csv").data.decode("utf-8-sig")
