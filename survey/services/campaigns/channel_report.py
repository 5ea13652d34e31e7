"""Where a campaign's responses came from: by channel, and desk ratings by window and clerk.

Counted: valid and flagged responses (excluded ones never count). A unit contact sees
only responses about their own units: a service response by its unit, an appraisal
response when it rated one of their units.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from survey.models import Answer, Campaign, Channel, Response, ResponseStatus, Unit, User

COUNTED = (ResponseStatus.VALID, ResponseStatus.FLAGGED)


@dataclass(frozen=True)
class ChannelRow:
    channel: Channel
    responses: int
    share: float  # of all counted responses in scope, 0 … 1


@dataclass(frozen=True)
class DeskRow:
    unit: Unit
    staff_name: str
    responses: int


def _scope(campaign: Campaign, unit_ids: set[int] | None):
    conditions = [Response.campaign_id == campaign.id, Response.status.in_(COUNTED)]
    if unit_ids is not None:
        about_units = select(Answer.response_id).where(
            Answer.campaign_id == campaign.id, Answer.unit_id.in_(unit_ids or {-1})
        )
        conditions.append(or_(Response.unit_id.in_(unit_ids or {-1}), Response.id.in_(about_units)))
    return conditions


def by_channel(session: Session, campaign: Campaign, unit_ids: set[int] | None = None) -> list[ChannelRow]:
    """Counted responses per channel, every channel listed (zero where none came in)."""
    counts = dict(session.execute(
        select(Response.channel, func.count(Response.id)).where(*_scope(campaign, unit_ids))
        .group_by(Response.channel)
    ).all())
    total = sum(counts.values())
    return [ChannelRow(ch, counts.get(ch, 0), counts.get(ch, 0) / total if total else 0.0) for ch in Channel]


def desk_by_window(session: Session, campaign: Campaign, unit_ids: set[int] | None = None) -> list[DeskRow]:
    """Desk (一事一评) responses per window and clerk, most first."""
    counts = session.execute(
        select(Response.unit_id, Response.staff_user_id, func.count(Response.id))
        .where(*_scope(campaign, unit_ids), Response.channel == Channel.DESK, Response.unit_id.is_not(None))
        .group_by(Response.unit_id, Response.staff_user_id)
    ).all()
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_({c[0] for c in counts} or {-1})))}
    staff_ids = {c[1] for c in counts if c[1] is not None}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(staff_ids or {-1})))}
    rows = [
        DeskRow(units[unit_id], _name(users.get(staff_id)), n)
        for unit_id, staff_id, n in counts
    ]
    return sorted(rows, key=lambda r: (-r.responses, r.unit.code, r.staff_name))


def _name(user: User | None) -> str:
    if user is None:
        return "—"
    return user.display_name or user.username
