"""Where a campaign's responses came from: by channel, and desk ratings by window and clerk.

Counted: valid and flagged responses (excluded ones never count). A unit contact sees
only responses about their own units: a service response by its unit, an appraisal
response when it rated one of their units.

Per clerk and window (:func:`desk_by_window`) the analyst sees the codes issued and used,
the valid and flagged ratings, the median time from issuing a code to its rating, and the
clerk's mean satisfaction level beside the same window's poster ratings. The anomaly rule:
the clerk's mean level (1 … 5, over every satisfaction answer of their counted desk
ratings) exceeds the window's poster mean by more than ``DESK_ANOMALY_GAP`` (0.5), with at
least ``DESK_ANOMALY_MIN_N`` (20) ratings on each side.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from survey.models import Answer, Campaign, Channel, DeskToken, Response, ResponseStatus, Unit, User

COUNTED = (ResponseStatus.VALID, ResponseStatus.FLAGGED)


@dataclass(frozen=True)
class ChannelRow:
    channel: Channel
    responses: int
    share: float  # of all counted responses in scope, 0 … 1


@dataclass(frozen=True)
class AnomalyRule:
    gap: float = 0.5  # clerk mean level minus poster mean level, on the 1 … 5 scale
    min_n: int = 20  # ratings needed on each side


@dataclass(frozen=True)
class DeskRow:
    unit: Unit
    staff_name: str
    responses: int  # counted: valid and flagged
    staff_user_id: int | None = None
    issued: int = 0
    used: int = 0
    valid: int = 0
    flagged: int = 0
    median_seconds: float | None = None  # from issuing the code to the rating
    clerk_mean: float | None = None
    clerk_n: int = 0
    poster_mean: float | None = None
    poster_n: int = 0
    anomalous: bool = False

    @property
    def gap(self) -> float | None:
        if self.clerk_mean is None or self.poster_mean is None:
            return None
        return self.clerk_mean - self.poster_mean


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


def desk_by_window(session: Session, campaign: Campaign, unit_ids: set[int] | None = None,
                   rule: AnomalyRule | None = None) -> list[DeskRow]:
    """Desk (一事一评) codes and ratings per window and clerk, most ratings first."""
    rule = rule or AnomalyRule()
    tokens = select(DeskToken.unit_id, DeskToken.staff_user_id, func.count(DeskToken.id),
                    func.count(DeskToken.used_at)).where(DeskToken.campaign_id == campaign.id)
    if unit_ids is not None:
        tokens = tokens.where(DeskToken.unit_id.in_(unit_ids or {-1}))
    issued = {(u, s): (n, used) for u, s, n, used in session.execute(
        tokens.group_by(DeskToken.unit_id, DeskToken.staff_user_id)).all()}
    rated = session.execute(
        select(Response.unit_id, Response.staff_user_id, Response.status, Response.submitted_at, DeskToken.issued_at)
        .outerjoin(DeskToken, DeskToken.id == Response.desk_token_id)
        .where(*_scope(campaign, unit_ids), Response.channel == Channel.DESK, Response.unit_id.is_not(None))
    ).all()
    statuses: dict[tuple, list[ResponseStatus]] = defaultdict(list)
    seconds: dict[tuple, list[float]] = defaultdict(list)
    for unit_id, staff_id, status, submitted_at, issued_at in rated:
        statuses[(unit_id, staff_id)].append(status)
        if issued_at is not None:
            seconds[(unit_id, staff_id)].append((submitted_at - issued_at).total_seconds())
    clerk_levels = _mean_levels(session, campaign, unit_ids, Channel.DESK, by_staff=True)
    poster_levels = _mean_levels(session, campaign, unit_ids, Channel.POSTER, by_staff=False)
    keys = set(issued) | set(statuses)
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_({k[0] for k in keys} or {-1})))}
    staff_ids = {k[1] for k in keys if k[1] is not None}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(staff_ids or {-1})))}
    rows = []
    for unit_id, staff_id in keys:
        got = statuses.get((unit_id, staff_id), [])
        clerk_mean, clerk_n = clerk_levels.get((unit_id, staff_id), (None, 0))
        poster_mean, poster_n = poster_levels.get((unit_id, None), (None, 0))
        anomalous = (clerk_mean is not None and poster_mean is not None and clerk_n >= rule.min_n
                     and poster_n >= rule.min_n and clerk_mean - poster_mean > rule.gap)
        times = seconds.get((unit_id, staff_id))
        rows.append(DeskRow(
            units[unit_id], _name(users.get(staff_id)), len(got), staff_id,
            issued=issued.get((unit_id, staff_id), (0, 0))[0], used=issued.get((unit_id, staff_id), (0, 0))[1],
            valid=got.count(ResponseStatus.VALID), flagged=got.count(ResponseStatus.FLAGGED),
            median_seconds=statistics.median(times) if times else None,
            clerk_mean=clerk_mean, clerk_n=clerk_n, poster_mean=poster_mean, poster_n=poster_n, anomalous=anomalous,
        ))
    return sorted(rows, key=lambda r: (-r.responses, r.unit.code, r.staff_name))


def _mean_levels(session: Session, campaign: Campaign, unit_ids: set[int] | None, channel: Channel,
                 by_staff: bool) -> dict[tuple, tuple[float, int]]:
    """Mean satisfaction level and number of counted ratings, per (window, clerk) or per (window, None)."""
    staff = Response.staff_user_id if by_staff else None
    columns = [Answer.unit_id] + ([staff] if by_staff else [])
    rows = session.execute(
        select(*columns, func.avg(Answer.level), func.count(func.distinct(Response.id)))
        .join(Response, Response.id == Answer.response_id)
        .where(*_scope(campaign, unit_ids), Response.channel == channel, Answer.level.is_not(None),
               Answer.unit_id.is_not(None))
        .group_by(*columns)
    ).all()
    if by_staff:
        return {(u, s): (float(mean), n) for u, s, mean, n in rows}
    return {(u, None): (float(mean), n) for u, mean, n in rows}


def _name(user: User | None) -> str:
    if user is None:
        return "—"
    return user.display_name or user.username
