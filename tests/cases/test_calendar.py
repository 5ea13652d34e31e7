"""The working-day calendar: weekends, public holidays and 调休 working weekends (2026 schedule)."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from survey.core.errors import DomainError
from survey.models import AuditLog, Holiday, HolidayKind
from survey.services.cases.calendar import (
    add_working_days,
    import_calendar,
    is_working_day,
    parse_calendar_csv,
    working_days_between,
)
from tests.cases.helpers import CN_2026, cn_2026_csv, cn_2026_exceptions

D = dt.date.fromisoformat
CN = cn_2026_exceptions()


@pytest.mark.parametrize("day, working", [
    ("2026-10-01", False),  # 国庆节, a Thursday
    ("2026-10-05", False),  # Monday inside the Golden Week
    ("2026-10-08", True),   # first day back
    ("2026-10-10", True),   # Saturday, 调休上班
    ("2026-10-11", False),  # an ordinary Sunday
    ("2026-09-20", True),   # Sunday, 调休上班 before 国庆
    ("2026-02-14", True),   # Saturday, 调休上班 before 春节
    ("2026-02-17", False),  # 春节 (正月初一)
    ("2026-02-23", False),  # last day of the Spring Festival break, a Monday
    ("2026-02-24", True),
])
def test_is_working_day_2026(day, working):
    assert is_working_day(D(day), CN) is working


@pytest.mark.parametrize("start, n, due", [
    ("2026-09-30", 1, "2026-10-08"),   # the whole Golden Week is skipped
    ("2026-10-09", 1, "2026-10-10"),   # the 调休 Saturday counts
    ("2026-09-21", 15, "2026-10-19"),  # 中秋 + 国庆 inside a 15-day deadline
    ("2026-02-13", 1, "2026-02-14"),   # Saturday make-up day before 春节
    ("2026-02-13", 2, "2026-02-24"),   # then nine days off
    ("2026-11-23", 15, "2026-12-14"),  # no holiday: exactly three weeks
    ("2026-11-21", 1, "2026-11-23"),   # a Saturday submission is due from Monday on
    ("2026-11-23", 0, "2026-11-23"),
])
def test_add_working_days_2026(start, n, due):
    assert add_working_days(D(start), n, CN) == D(due)


def test_weekends_only_without_a_calendar():
    assert add_working_days(D("2026-10-01"), 5, {}) == D("2026-10-08")
    assert working_days_between(D("2026-10-01"), D("2026-10-08"), {}) == 5


def test_negative_days_refused():
    with pytest.raises(ValueError):
        add_working_days(D("2026-10-01"), -1, CN)


def test_a_calendar_without_working_days_stops():
    everything_off = {D("2026-01-01") + dt.timedelta(days=i): HolidayKind.HOLIDAY for i in range(4000)
                      if (D("2026-01-01") + dt.timedelta(days=i)).weekday() < 5}
    with pytest.raises(DomainError):
        add_working_days(D("2026-01-01"), 1, everything_off)


@given(st.dates(min_value=D("2025-12-01"), max_value=D("2026-12-31")), st.integers(min_value=0, max_value=40))
def test_between_is_the_inverse_of_add(start, n):
    due = add_working_days(start, n, CN)
    assert working_days_between(start, due, CN) == n
    assert n == 0 or is_working_day(due, CN)


def test_parse_official_schedule_and_import(session, make):
    preview = parse_calendar_csv("\ufeff" + cn_2026_csv())
    assert preview.ok and len(preview.good) == len(CN_2026) and preview.years == [2026]
    user = make.user("analyst")
    assert import_calendar(session, preview, user) == len(CN_2026)
    session.commit()
    stored = {h.day: h.kind for h in session.scalars(select(Holiday))}
    assert stored == CN
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "calendar.import"))
    assert entry.user_id == user.id and entry.detail["days"] == len(CN_2026)


def test_import_rows_with_errors_are_shown_and_nothing_is_stored(session, make):
    text = ("date,kind,name\n2026-10-01,休,国庆节\n2026-13-01,holiday,坏日期\n2026-10-03,holiday,周六放假\n"
            "2026-10-08,workday,周四上班\n2026-10-02,maybe,不知道\n2026-10-01,holiday,重复\n2026-10-10\n")
    preview = parse_calendar_csv(text)
    errors = {r.line: r.error for r in preview.bad}
    assert set(errors) == {3, 4, 5, 6, 7, 8}
    assert "2026-13-01" in errors[3] and "周末" in errors[4] and "工作日" in errors[5]
    assert "maybe" in errors[6] and "第 2 行" in errors[7]
    assert not preview.ok
    with pytest.raises(DomainError):
        import_calendar(session, preview, make.user("analyst"))
    assert session.scalars(select(Holiday)).all() == []


def test_replace_year_removes_days_the_new_schedule_drops(session, make):
    analyst = make.user("analyst")
    session.add_all([Holiday(day=D("2026-10-09"), kind=HolidayKind.HOLIDAY, name="旧安排"),
                     Holiday(day=D("2025-10-09"), kind=HolidayKind.HOLIDAY, name="去年")])
    session.commit()
    import_calendar(session, parse_calendar_csv(cn_2026_csv()), analyst, replace_years=True)
    session.commit()
    days = {h.day for h in session.scalars(select(Holiday))}
    assert D("2026-10-09") not in days and D("2025-10-09") in days and D("2026-10-01") in days


@pytest.mark.parametrize("text, message", [("", "空"), ("date,kind,name\n", "没有日期"), ("# only a comment\n", "没有日期")])
def test_empty_files(text, message):
    preview = parse_calendar_csv(text)
    assert not preview.ok and message in preview.error
