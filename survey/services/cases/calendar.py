"""The working-day calendar: deadlines count working days, not calendar days.

A working day is Monday to Friday, unless the Holiday table lists it as a public
holiday (法定节假日); a Saturday or Sunday listed as a workday (调休上班) is a working
day. The arithmetic is pure (``exceptions`` is a plain dict); the table only supplies it.
Analysts keep the table up to date each year, typically by importing the State
Council's schedule (国务院办公厅关于节假日安排的通知) as CSV: ``date,kind,name``.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey import ROOT
from survey.core import audit, revision
from survey.core.errors import DomainError
from survey.core.validation import check_characters
from survey.models import Holiday, HolidayKind, User

Exceptions = Mapping[dt.date, HolidayKind]

# Spellings accepted in the kind column of an imported calendar.
KIND_WORDS = {
    "holiday": HolidayKind.HOLIDAY, "休": HolidayKind.HOLIDAY, "假": HolidayKind.HOLIDAY,
    "放假": HolidayKind.HOLIDAY, "节假日": HolidayKind.HOLIDAY,
    "workday": HolidayKind.WORKDAY, "班": HolidayKind.WORKDAY, "上班": HolidayKind.WORKDAY,
    "调休上班": HolidayKind.WORKDAY, "工作日": HolidayKind.WORKDAY,
}
MAX_IMPORT_ROWS = 1000
BUNDLED = ROOT / "survey" / "data" / "calendar"  # cn-YYYY.csv: the State Council's schedule for a year
_CALENDAR = ("working-day calendar",)  # its key among what a worker keeps per site revision
MAX_STEPS = 3660  # ten years of days: no deadline search runs away on a bad calendar


# --- pure arithmetic -------------------------------------------------------------------------

def is_working_day(day: dt.date, exceptions: Exceptions) -> bool:
    """Weekdays work unless listed as a holiday; weekends rest unless listed as a 调休 workday."""
    kind = exceptions.get(day)
    if kind == HolidayKind.HOLIDAY:
        return False
    if kind == HolidayKind.WORKDAY:
        return True
    return day.weekday() < 5


def add_working_days(start: dt.date, n: int, exceptions: Exceptions) -> dt.date:
    """The n-th working day after ``start`` (``start`` itself never counts; n = 0 gives ``start``)."""
    if n < 0:
        raise ValueError("n must not be negative")
    day, left, steps = start, n, 0
    while left > 0:
        day += dt.timedelta(days=1)
        steps += 1
        if steps > MAX_STEPS:
            raise DomainError(_("日历中没有足够的工作日，请检查节假日设置。"))
        if is_working_day(day, exceptions):
            left -= 1
    return day


def working_days_between(start: dt.date, end: dt.date, exceptions: Exceptions) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when end ≤ start).

    The inverse of :func:`add_working_days`: ``working_days_between(s, add_working_days(s, n)) == n``.
    """
    if end <= start:
        return 0
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        if is_working_day(day, exceptions):
            count += 1
    return count


# --- the table -------------------------------------------------------------------------------

def load_exceptions(session: Session, start: dt.date | None = None, end: dt.date | None = None) -> dict[dt.date, HolidayKind]:
    """The calendar's exceptions, optionally limited to [start, end]."""
    stmt = select(Holiday.day, Holiday.kind)
    if start is not None:
        stmt = stmt.where(Holiday.day >= start)
    if end is not None:
        stmt = stmt.where(Holiday.day <= end)
    return {day: kind for day, kind in session.execute(stmt)}


def kept_exceptions(session: Session) -> Exceptions:
    """The whole stored calendar, which holds every exception a deadline can meet.

    It is a few dozen rows a year: a worker reads it once per site revision (every change to
    ``holiday`` gives the revision a new token, migration 0011) and shares it read-only."""
    return revision.cached(session, _CALENDAR, lambda: MappingProxyType(load_exceptions(session)))


def due_date(session: Session, start: dt.date, n: int) -> dt.date:
    """The day a case opened on ``start`` is due: ``n`` working days later, by the stored calendar
    (a 差评 submitted on a Friday before 国庆 is due 15 working days after, holidays skipped)."""
    return add_working_days(start, n, kept_exceptions(session))


def days_in_year(session: Session, year: int) -> list[Holiday]:
    return list(session.scalars(select(Holiday).where(Holiday.day.between(dt.date(year, 1, 1), dt.date(year, 12, 31))).order_by(Holiday.day)))


def years_listed(session: Session) -> list[int]:
    days = session.scalars(select(Holiday.day)).all()
    return sorted({d.year for d in days})


def set_day(session: Session, day: dt.date, kind: HolidayKind | str, name: str | None, actor: User | None) -> Holiday:
    """Add or change one exception. A holiday on a weekend or a workday on a weekday changes nothing."""
    kind = HolidayKind(kind)
    name = _day_name(name)
    _check_sensible(day, kind)
    entry = session.scalar(select(Holiday).where(Holiday.day == day))
    before = entry.kind.value if entry is not None else None
    if entry is None:
        entry = Holiday(day=day, kind=kind, name=name)
        session.add(entry)
    else:
        entry.kind, entry.name = kind, name
    session.flush()
    audit.record(session, actor, "calendar.set", entry, f"工作日历：{day.isoformat()} 设为{_kind_label(kind)}",
                 day=day.isoformat(), kind=kind.value, name=name, before=before)
    return entry


def remove_day(session: Session, day: dt.date, actor: User | None) -> bool:
    entry = session.scalar(select(Holiday).where(Holiday.day == day))
    if entry is None:
        return False
    audit.record(session, actor, "calendar.remove", entry, f"工作日历：删除 {day.isoformat()}",
                 day=day.isoformat(), kind=entry.kind.value, name=entry.name)
    session.delete(entry)
    session.flush()
    return True


def _day_name(text: str | None) -> str | None:
    """A day's name (国庆节): stripped, cut to 100 characters; a control character is refused."""
    name = (text or "").strip()[:100] or None
    try:
        return check_characters(name, _("名称")) if name else None
    except ValueError as exc:
        raise DomainError(str(exc)) from exc


def _check_sensible(day: dt.date, kind: HolidayKind) -> None:
    if kind == HolidayKind.HOLIDAY and day.weekday() >= 5:
        raise DomainError(_("%(day)s 是周末，本来就不上班，无需设为节假日。", day=day.isoformat()))
    if kind == HolidayKind.WORKDAY and day.weekday() < 5:
        raise DomainError(_("%(day)s 是工作日，本来就上班，无需设为调休上班。", day=day.isoformat()))


def _kind_label(kind: HolidayKind) -> str:
    return _("节假日") if kind == HolidayKind.HOLIDAY else _("调休上班")


# --- importing a year's schedule -------------------------------------------------------------

@dataclass
class ImportRow:
    line: int
    raw: list[str]
    day: dt.date | None = None
    kind: HolidayKind | None = None
    name: str | None = None
    error: str | None = None


@dataclass
class ImportPreview:
    rows: list[ImportRow] = field(default_factory=list)
    error: str | None = None  # a problem with the file as a whole

    @property
    def good(self) -> list[ImportRow]:
        return [r for r in self.rows if r.error is None]

    @property
    def bad(self) -> list[ImportRow]:
        return [r for r in self.rows if r.error is not None]

    @property
    def years(self) -> list[int]:
        return sorted({r.day.year for r in self.good if r.day})

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.rows) and not self.bad


def parse_calendar_csv(text: str) -> ImportPreview:
    """Read ``date,kind,name`` rows (a header row is optional); every row is checked, none stored."""
    preview = ImportPreview()
    text = text.lstrip("\ufeff")
    if not text.strip():
        preview.error = _("文件是空的。")
        return preview
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        preview.error = _("CSV 文件格式有误：%(e)s", e=str(exc))
        return preview
    seen: dict[dt.date, int] = {}
    first = True
    for line_no, raw in enumerate(records, start=1):
        cells = [c.strip() for c in raw]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if first and cells[0].lower() in ("date", "日期"):
            first = False
            continue
        first = False
        if len(preview.rows) >= MAX_IMPORT_ROWS:
            preview.error = _("一次最多导入 %(n)d 行。", n=MAX_IMPORT_ROWS)
            return preview
        row = ImportRow(line=line_no, raw=cells)
        preview.rows.append(row)
        if len(cells) < 2:
            row.error = _("每行需要“日期,类型,名称”，至少日期和类型。")
            continue
        try:
            row.day = dt.date.fromisoformat(cells[0].replace("/", "-"))
        except ValueError:
            row.error = _("日期“%(v)s”无法识别，请用 2026-10-01 的格式。", v=cells[0][:20])
            continue
        row.kind = KIND_WORDS.get(cells[1].lower())
        if row.kind is None:
            row.error = _("类型“%(v)s”无法识别，请填 holiday（休）或 workday（班）。", v=cells[1][:20])
            continue
        try:
            row.name = _day_name(cells[2] if len(cells) > 2 else "")
            _check_sensible(row.day, row.kind)
        except DomainError as exc:
            row.error = str(exc)
            continue
        if row.day in seen:
            row.error = _("与第 %(n)d 行日期重复。", n=seen[row.day])
            continue
        seen[row.day] = line_no
    if not preview.rows and preview.error is None:
        preview.error = _("文件里没有日期行。")
    return preview


def import_calendar(session: Session, preview: ImportPreview, actor: User | None, replace_years: bool = False) -> int:
    """Store a checked import. Refused as a whole if any row has an error (nothing half-written).

    With ``replace_years`` the entries of the years the file covers that it does not list are
    removed, so a corrected official schedule replaces the old one.
    """
    if not preview.ok:
        raise DomainError(_("导入内容有错误，请先改正。"))
    wanted = {r.day: r for r in preview.good}
    removed = 0
    if replace_years:
        for year in preview.years:
            for entry in days_in_year(session, year):
                if entry.day not in wanted:
                    session.delete(entry)
                    removed += 1
    existing = {h.day: h for h in session.scalars(select(Holiday).where(Holiday.day.in_(list(wanted))))}
    for day, row in wanted.items():
        entry = existing.get(day)
        if entry is None:
            session.add(Holiday(day=day, kind=row.kind, name=row.name))
        else:
            entry.kind, entry.name = row.kind, row.name
    session.flush()
    audit.record(session, actor, "calendar.import", None,
                 f"导入工作日历 {len(wanted)} 天（{', '.join(map(str, preview.years))}）",
                 days=len(wanted), years=preview.years, replaced=replace_years, removed=removed)
    return len(wanted)



# --- the schedules shipped with the code ---------------------------------------------------------


def bundled_years() -> list[int]:
    """Years whose national schedule ships with Pingyi (``survey/data/calendar/cn-YYYY.csv``)."""
    years = []
    for path in BUNDLED.glob("cn-*.csv"):
        match = re.fullmatch(r"cn-(\d{4})\.csv", path.name)
        if match:
            years.append(int(match.group(1)))
    return sorted(years)


def bundled_preview(year: int) -> ImportPreview:
    path = BUNDLED / f"cn-{year}.csv"
    if year not in bundled_years():
        raise DomainError(_("没有内置 %(y)d 年的放假安排。", y=year))
    return parse_calendar_csv(path.read_text(encoding="utf-8"))


def install_bundled(session: Session, actor: User | None, years: list[int] | None = None) -> dict[int, int]:
    """Install the bundled schedule of each year (default: every bundled year) that lists no day yet.

    A year the analysts already keep is never touched: their corrections win. Returns year → days installed.
    """
    listed = set(years_listed(session))
    installed: dict[int, int] = {}
    for year in (years if years is not None else bundled_years()):
        if year in listed:
            continue
        installed[year] = import_calendar(session, bundled_preview(year), actor)
    return installed
