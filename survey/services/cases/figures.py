"""Figures on the handling of comments and 差评, per unit and period, for the dashboard.

- comments / bad_ratings: cases opened, by kind (responses excluded on appeal left out);
- praise: 表扬 recorded (no deadline, nothing to handle): counted apart, in no rate below;
- closure rate (办结率): closed ÷ all cases;
- on-time rate (按期办结率): closed on or before the due day ÷ cases whose outcome is known,
  i.e. closed ones plus open ones already past their due day (open cases not yet due are
  still on time and not counted either way);
- median days to fix: the median number of WORKING days from the day a case counts from
  to the day its rectification was reported (same calendar as the deadline), over rectified
  cases; comments closed without a fix are not in it.
"""
from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.core.clock import local_date
from survey.models import Campaign, Case, CaseKind, CaseState, Response, ResponseStatus, Unit
from survey.services.cases.calendar import load_exceptions, working_days_between


@dataclass
class Figures:
    unit: Unit
    period: str
    comments: int = 0
    bad_ratings: int = 0
    closed: int = 0
    due: int = 0  # outcome known: closed, or open past the due day
    on_time: int = 0
    overdue_open: int = 0
    days_to_fix: list[int] | None = None
    praise: int = 0

    @property
    def total(self) -> int:
        return self.comments + self.bad_ratings

    @property
    def closure_rate(self) -> float | None:
        return self.closed / self.total if self.total else None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.due if self.due else None

    @property
    def median_days_to_fix(self) -> float | None:
        return statistics.median(self.days_to_fix) if self.days_to_fix else None


def case_figures(
    session: Session, today: dt.date, tz_name: str, unit_ids: set[int] | None = None, period: str | None = None,
) -> list[Figures]:
    """One row per (unit, period) that has cases, ordered by period (newest first) then unit."""
    stmt = (
        select(Case.unit_id, Campaign.period, Case.kind, Case.state, Case.opened_on, Case.due_on, Case.closed_on,
               Case.rectified_at)
        .join(Campaign, Campaign.id == Case.campaign_id)
        .join(Response, Response.id == Case.response_id)
        .where(Response.status != ResponseStatus.EXCLUDED)
    )
    if unit_ids is not None:
        stmt = stmt.where(Case.unit_id.in_(unit_ids or {-1}))
    if period:
        stmt = stmt.where(Campaign.period == period)
    rows = session.execute(stmt).all()
    if not rows:
        return []
    earliest = min(r.opened_on for r in rows)
    exceptions = load_exceptions(session, earliest - dt.timedelta(days=1))
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_({r.unit_id for r in rows})))}
    table: dict[tuple[int, str], Figures] = {}
    fix_days: dict[tuple[int, str], list[int]] = defaultdict(list)
    for r in rows:
        key = (r.unit_id, r.period)
        fig = table.get(key)
        if fig is None:
            fig = table[key] = Figures(units[r.unit_id], r.period)
        if r.due_on is None:  # a praise: nothing to handle, no deadline
            fig.praise += 1
            continue
        if r.kind == CaseKind.COMMENT:
            fig.comments += 1
        else:
            fig.bad_ratings += 1
        if r.state == CaseState.CLOSED:
            fig.closed += 1
            fig.due += 1
            if r.closed_on is not None and r.closed_on <= r.due_on:
                fig.on_time += 1
        elif r.due_on < today:
            fig.due += 1
            fig.overdue_open += 1
        if r.rectified_at is not None:
            fix_days[key].append(working_days_between(r.opened_on, local_date(r.rectified_at, tz_name), exceptions))
    for key, days in fix_days.items():
        table[key].days_to_fix = days
    by_unit = sorted(table.values(), key=lambda f: (f.unit.sort_order, f.unit.code))
    return sorted(by_unit, key=lambda f: f.period, reverse=True)  # stable: units stay in order


def totals(figures: list[Figures]) -> Figures | None:
    """All rows added up (the median over every rectified case), for the table's last line."""
    if not figures:
        return None
    total = Figures(figures[0].unit, "")
    days: list[int] = []
    for f in figures:
        total.comments += f.comments
        total.praise += f.praise
        total.bad_ratings += f.bad_ratings
        total.closed += f.closed
        total.due += f.due
        total.on_time += f.on_time
        total.overdue_open += f.overdue_open
        days.extend(f.days_to_fix or [])
    total.days_to_fix = days
    return total
