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
