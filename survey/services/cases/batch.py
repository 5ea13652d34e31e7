"""Batch work on cases: opening them for stored responses, the daily overdue report, and the
deletion of follow-up phone numbers whose retention ended.

Backfill walks responses in id order, in batches, and commits per batch, so a long run on a
large database can be stopped and run again: opening is idempotent.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session, selectinload

from survey.core import audit
from survey.core.clock import org_today
from survey.core.errors import DomainError
from survey.models import Campaign, Case, CaseKind, CaseState, FollowUpContact, Response, ResponseStatus, Unit
from survey.services.cases.workflow import open_cases_for_response

BATCH = 500


@dataclass
class BackfillResult:
    responses: int = 0
    opened: int = 0
    bad_ratings: int = 0


def backfill(session: Session, campaign_code: str | None = None, restart_deadlines: bool = False) -> BackfillResult:
    """Open the cases every valid response (of one campaign, or all) calls for."""
    campaign_id = None
    if campaign_code:
        campaign_id = session.scalar(select(Campaign.id).where(func.upper(Campaign.short_code) == campaign_code.strip().upper()))
        if campaign_id is None:
            raise DomainError(_("没有短码为 %(code)s 的评议活动。", code=campaign_code))
    start = org_today() if restart_deadlines else None
    result = BackfillResult()
    last_id = 0
    while True:
        stmt = (select(Response).options(selectinload(Response.answers))
                .where(Response.id > last_id, Response.status == ResponseStatus.VALID)
                .order_by(Response.id).limit(BATCH))
        if campaign_id is not None:
            stmt = stmt.where(Response.campaign_id == campaign_id)
        batch = list(session.scalars(stmt))
        if not batch:
            break
        for response in batch:
            opened = open_cases_for_response(session, response, start=start)
            result.opened += len(opened)
            result.bad_ratings += sum(1 for c in opened if c.kind == CaseKind.BAD_RATING)
        result.responses += len(batch)
        last_id = batch[-1].id
        session.commit()
        session.expunge_all()
    audit.record(session, None, "case.backfill", None, f"补开处理件 {result.opened} 个",
                 campaign=campaign_code, responses=result.responses, opened=result.opened,
                 restart_deadlines=restart_deadlines)
    session.commit()
    return result


@dataclass
class OverdueRow:
    unit_code: str
    unit_name: str
    overdue: int
    due_soon: int
    oldest_due: dt.date | None


def overdue_report(session: Session, today: dt.date, days_ahead: int = 3) -> list[OverdueRow]:
    """Per unit: open cases past their due day, and those due within ``days_ahead`` days."""
    open_ = Case.state != CaseState.CLOSED
    late = and_(open_, Case.due_on < today)
    soon = and_(open_, Case.due_on >= today, Case.due_on <= today + dt.timedelta(days=days_ahead))
    rows = session.execute(
        select(Unit.code, Unit.name, func.count().filter(late), func.count().filter(soon),
               func.min(Case.due_on).filter(late))
        .join(Case, Case.unit_id == Unit.id).where(open_)
        .group_by(Unit.id, Unit.code, Unit.name).order_by(func.count().filter(late).desc(), Unit.code)
    ).all()
    return [OverdueRow(code, name, int(n_late), int(n_soon), oldest) for code, name, n_late, n_soon, oldest in rows
            if n_late or n_soon]


def purge_expired_contacts(session: Session, now: dt.datetime) -> int:
    """Delete phone numbers whose ``delete_after`` has passed, whatever the state of their cases."""
    removed = session.execute(
        delete(FollowUpContact).where(FollowUpContact.delete_after.is_not(None), FollowUpContact.delete_after <= now)
    ).rowcount or 0
    if removed:
        audit.record(session, None, "contact.purge", None, f"删除到期回访电话 {removed} 个", removed=removed)
    return removed
