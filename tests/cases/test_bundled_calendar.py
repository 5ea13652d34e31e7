"""The 2026 schedule shipped in survey/data/calendar: offered on the calendar page (one click installs it),
installed by seed-demo and on the first run; the overview warns when open cases fall due in a year the
calendar does not know."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from survey.models import AuditLog, Case, CaseState, Holiday, HolidayKind
from survey.services.cases import calendar
from tests.cases.helpers import CN_2026, respond
from tests.factories import csrf_from


def _days(session, year: int) -> int:
    return session.scalar(select(func.count(Holiday.id)).where(
        Holiday.day.between(dt.date(year, 1, 1), dt.date(year, 12, 31))))


def test_2026_is_bundled_and_matches_the_official_schedule():
    assert 2026 in calendar.bundled_years()
    preview = calendar.bundled_preview(2026)
    assert preview.ok
    got = {(r.day.isoformat(), r.kind.value) for r in preview.good}
    assert {(d, k) for d, k, _n in CN_2026} <= got


def test_the_calendar_page_offers_the_bundled_year_and_installs_it_once(client, auth, session):
    auth.login_as("analyst")
    page = client.get("/admin/calendar/?year=2026")
    html = page.get_data(as_text=True)
    assert 'data-bundled="2026"' in html and "/admin/calendar/bundled" in html
    assert 'data-bundled' not in client.get("/admin/calendar/?year=2031").get_data(as_text=True)
    done = client.post("/admin/calendar/bundled", data={"csrf_token": csrf_from(page), "year": "2026"},
                       follow_redirects=True)
    html = done.get_data(as_text=True)
    assert "已导入内置的 2026 年放假安排" in html and "国庆节" in html and 'data-bundled' not in html
    n = _days(session, 2026)
    assert n == len(calendar.bundled_preview(2026).good)
    assert session.get(Holiday, session.scalar(select(Holiday.id).where(Holiday.day == dt.date(2026, 10, 1)))).kind \
        == HolidayKind.HOLIDAY
    assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "calendar.import")) == 1
    again = client.post("/admin/calendar/bundled", data={"csrf_token": csrf_from(page), "year": "2026"},
                        follow_redirects=True)
    assert "已有安排，未改动" in again.get_data(as_text=True) and _days(session, 2026) == n


def test_a_year_without_a_bundled_schedule_is_refused_plainly(client, auth):
    auth.login_as("analyst")
    token = csrf_from(client.get("/admin/calendar/"))
    for year in ("2031", "abc", ""):
        page = client.post("/admin/calendar/bundled", data={"csrf_token": token, "year": year}, follow_redirects=True)
        assert page.status_code == 200 and "没有内置" in page.get_data(as_text=True), year


def test_an_analysts_own_year_is_never_overwritten(session, make):
    calendar.set_day(session, dt.date(2026, 10, 9), "holiday", "本地加休", None)
    session.commit()
    assert calendar.install_bundled(session, None) == {}
    assert _days(session, 2026) == 1


def test_first_run_on_a_database_with_data_installs_the_schedule(runner, make, session):
    make.unit()
    make.commit()
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0 and "跳过" in result.output and "2026 年节假日安排" in result.output
    assert _days(session, 2026) > 20
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert again.exit_code == 0 and "节假日安排" not in again.output


def test_overview_warns_when_open_cases_fall_due_in_a_year_without_schedule(client, auth, make, session):
    campaign = make.campaign()
    unit = campaign.campaign_units[0].unit
    calendar.install_bundled(session, None)
    respond(session, campaign, unit, comment="窗口太少，排队太久", submitted_on=dt.date(2026, 12, 24))
    session.commit()
    case = session.scalar(select(Case))
    assert case.due_on.year == 2027 and case.state != CaseState.CLOSED
    auth.login_as("analyst")
    html = client.get("/admin/").get_data(as_text=True)
    assert "2027 年还没有节假日安排" in html and "/admin/calendar/?year=2027" in html
    assert "2026 年还没有节假日安排" not in html
    calendar.set_day(session, dt.date(2027, 1, 1), "holiday", "元旦", None)
    session.commit()
    assert "2027 年还没有节假日安排" not in client.get("/admin/").get_data(as_text=True)


def test_the_offer_and_the_warning_in_english(client, auth, make, session):
    campaign = make.campaign()
    respond(session, campaign, campaign.campaign_units[0].unit, comment="窗口太少", submitted_on=dt.date(2026, 12, 24))
    session.commit()
    auth.login_as("analyst")
    html = client.get("/admin/calendar/?year=2026&lang=en").get_data(as_text=True)
    assert "Install the 2026 schedule" in html and "内置" not in html
    html = client.get("/admin/?lang=en").get_data(as_text=True)
    assert "2027 has no holiday schedule yet" in html and "2026 has no" not in html
