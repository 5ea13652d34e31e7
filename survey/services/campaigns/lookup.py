"""Finding campaigns and the units they cover, as the public and the staff see them."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from survey.core import codes, revision
from survey.models import Campaign, CampaignStatus, CampaignUnit, Category, Channel, Questionnaire, Unit, utcnow

PUBLIC_CHANNELS = (Channel.WEB.value, Channel.POSTER.value)


@dataclass(frozen=True)
class Target:
    """What a short code points at: a campaign, and for a service survey the unit rated."""

    campaign: Campaign
    campaign_unit: CampaignUnit | None

    @property
    def unit(self) -> Unit | None:
        return self.campaign_unit.unit if self.campaign_unit else None

    @property
    def short_code(self) -> str:
        """The short code the target is reached by: its unit's own, or the campaign's."""
        return self.campaign_unit.short_code if self.campaign_unit else self.campaign.short_code


def open_public_campaigns(session: Session, now: dt.datetime | None = None) -> list[Campaign]:
    """Campaigns a member of the public can answer now: open, in their window, on a public channel."""
    now = now or utcnow()
    rows = session.scalars(
        select(Campaign)
        .where(Campaign.status == CampaignStatus.OPEN, Campaign.opens_at <= now, Campaign.closes_at > now)
        .order_by(Campaign.closes_at, Campaign.id)
    ).all()
    return [c for c in rows if any(c.allows_channel(ch) for ch in PUBLIC_CHANNELS)]


# Built once: a statement costs more to build than SQLite takes to run it.
_UNIT_CODE = (
    select(CampaignUnit, Campaign, Questionnaire, Unit)
    .join(Campaign, CampaignUnit.campaign_id == Campaign.id)
    .join(Questionnaire, Campaign.questionnaire_id == Questionnaire.id)
    .join(Unit, CampaignUnit.unit_id == Unit.id)
    .where(CampaignUnit.short_code == bindparam("code"))
)
_CAMPAIGN_CODE = (
    select(Campaign, Questionnaire).join(Questionnaire, Campaign.questionnaire_id == Questionnaire.id)
    .where(Campaign.short_code == bindparam("code"))
)


def resolve_code(session: Session, raw_code: str) -> Target | None:
    """The campaign (and unit) behind a typed or scanned short code, case-insensitively.

    In a request, kept per worker and site revision (:mod:`survey.core.revision`): the objects are then
    detached from every session, loaded whole and shared, so callers only read them."""
    code = codes.normalise(raw_code)
    if code is None:
        return None
    if revision.token(session) is None:
        return _load_target(session, code)
    return revision.cached(session, ("short-code", code), lambda: _load_detached(session, code))


def _load_detached(session: Session, code: str) -> Target | None:
    with Session(session.get_bind(Campaign), expire_on_commit=False) as own:  # the objects outlive it, detached
        return _load_target(own, code)


def _load_target(session: Session, code: str) -> Target | None:
    # One query for a poster code: the campaign unit, its unit, campaign and questionnaire row as one
    # plain tuple (the questions come from the per-process cache of published versions), linked to each
    # other as loaded (cu.unit, cu.campaign, campaign.questionnaire read no more), without the cost of the
    # eager-loading machinery.
    row = session.execute(_UNIT_CODE, {"code": code}).first()
    if row is not None:
        cu, campaign, questionnaire, unit = row
        set_committed_value(cu, "campaign", campaign)
        set_committed_value(cu, "unit", unit)
        set_committed_value(campaign, "questionnaire", questionnaire)
        return Target(campaign, cu)
    row = session.execute(_CAMPAIGN_CODE, {"code": code}).first()
    if row is not None:
        set_committed_value(row[0], "questionnaire", row[1])
        return Target(row[0], None)
    return None


def campaign_units(session: Session, campaign: Campaign, active_only: bool = True) -> list[CampaignUnit]:
    """The campaign's units in display order: category, then the unit's own order and code."""
    stmt = (
        select(CampaignUnit)
        .join(Unit, CampaignUnit.unit_id == Unit.id)
        .outerjoin(Category, Unit.category_id == Category.id)
        .options(joinedload(CampaignUnit.unit).joinedload(Unit.category))
        .where(CampaignUnit.campaign_id == campaign.id)
        .order_by(Category.sort_order, Unit.sort_order, Unit.code)
    )
    if active_only:
        stmt = stmt.where(Unit.active.is_(True))
    return list(session.scalars(stmt).unique())


def unique_short_code(session: Session, length: int = 6) -> str:
    """A short code used by no campaign and no campaign unit."""
    while True:
        code = codes.new_code(length)
        taken = session.scalar(select(CampaignUnit.id).where(CampaignUnit.short_code == code)) or session.scalar(
            select(Campaign.id).where(Campaign.short_code == code)
        )
        if not taken:
            return code
