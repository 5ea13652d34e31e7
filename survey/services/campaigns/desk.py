"""The window desk (一事一评): which campaign a clerk's window collects for, and its codes.

A clerk (role desk) is bound to one unit, their window. The desk serves the open
campaigns that include that window and take the desk channel; with several, the
clerk chooses one and the choice is remembered. Each transaction gets its own
single-use code (see :mod:`survey.services.campaigns.desk_tokens`).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from survey.models import Campaign, CampaignStatus, CampaignUnit, Channel, DeskToken, User, utcnow
from survey.services.campaigns import desk_tokens


def desk_campaigns(session: Session, user: User) -> list[CampaignUnit]:
    """Open campaigns that take desk ratings for the staff member's window, soonest closing first."""
    if user.unit_id is None:
        return []
    now = utcnow()
    rows = session.scalars(
        select(CampaignUnit)
        .join(Campaign, Campaign.id == CampaignUnit.campaign_id)
        .options(joinedload(CampaignUnit.campaign), joinedload(CampaignUnit.unit))
        .where(
            CampaignUnit.unit_id == user.unit_id,
            Campaign.status == CampaignStatus.OPEN,
            Campaign.opens_at <= now,
            Campaign.closes_at > now,
        )
        .order_by(Campaign.closes_at, Campaign.id)
    ).all()
    return [cu for cu in rows if cu.campaign.allows_channel(Channel.DESK)]


@dataclass(frozen=True)
class DeskScreen:
    """What the desk page shows: the window's campaigns, the one in use, and its latest code."""

    options: list[CampaignUnit]
    current: CampaignUnit | None
    token: DeskToken | None
    state: desk_tokens.TokenState | None

    @property
    def must_choose(self) -> bool:
        return self.current is None and len(self.options) > 1


def screen(session: Session, user: User, chosen_campaign_id: int | None) -> DeskScreen:
    """The desk for ``user``: a single campaign is used as is; of several, the remembered choice."""
    options = desk_campaigns(session, user)
    current = None
    if len(options) == 1:
        current = options[0]
    elif chosen_campaign_id is not None:
        current = next((cu for cu in options if cu.campaign_id == chosen_campaign_id), None)
    token = desk_tokens.latest_for(session, user, current.campaign) if current else None
    state = desk_tokens.state_of(token) if token else None
    return DeskScreen(options, current, token, state)


def next_code(session: Session, user: User, chosen_campaign_id: int | None, minutes: int,
              device_id: str | None = None) -> DeskToken | None:
    """"Next person": a fresh code for the window's current campaign (None when there is none),
    recording the desk device it is shown on."""
    current = screen(session, user, chosen_campaign_id).current
    if current is None:
        return None
    token = desk_tokens.issue(session, current, user, minutes, device_id=device_id)
    session.commit()
    return token


def choosable(session: Session, user: User, campaign_id: int) -> bool:
    """A clerk may only choose a campaign their own window collects desk ratings for."""
    return any(cu.campaign_id == campaign_id for cu in desk_campaigns(session, user))
