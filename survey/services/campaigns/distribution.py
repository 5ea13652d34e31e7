"""Which campaigns and campaign units a staff member may print codes and posters for.

Analysts and admins: every campaign and unit. A unit contact: campaigns that include
one of their units (own unit and below), and only those units' codes and posters.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from survey.models import Campaign, CampaignUnit


def visible_campaigns(session: Session, unit_ids: set[int] | None) -> list[Campaign]:
    """Newest first; for a unit contact only campaigns with one of their units."""
    stmt = select(Campaign).options(joinedload(Campaign.questionnaire)).order_by(
        Campaign.opens_at.desc(), Campaign.id.desc()
    )
    if unit_ids is not None:
        stmt = stmt.where(Campaign.id.in_(
            select(CampaignUnit.campaign_id).where(CampaignUnit.unit_id.in_(unit_ids or {-1}))
        ))
    return list(session.scalars(stmt).unique())


def campaign_in_scope(session: Session, campaign_id: int, unit_ids: set[int] | None) -> Campaign | None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return None
    if unit_ids is not None and not any(cu.unit_id in unit_ids for cu in campaign.campaign_units):
        return None
    return campaign


def campaign_unit_in_scope(
    session: Session, campaign: Campaign, campaign_unit_id: int, unit_ids: set[int] | None
) -> CampaignUnit | None:
    """The campaign unit, if it belongs to ``campaign`` and to the staff member's units."""
    cu = session.get(CampaignUnit, campaign_unit_id)
    if cu is None or cu.campaign_id != campaign.id:
        return None
    if unit_ids is not None and cu.unit_id not in unit_ids:
        return None
    return cu
