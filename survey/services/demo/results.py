"""The demo's results: 公众评议 schemes, leader ratings, and last quarter's published result.

So that the dashboard shows a trend out of the box: the closed previous quarter of the
window-service survey is computed and published (official and public); the current
quarter and the annual appraisal are left for the analyst to compute.
"""
from __future__ import annotations

import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.models import Campaign, CampaignUnit
from survey.services.results import component, leader_ratings, snapshots

WINDOW_SCHEME = {"weights": {"survey": "1"}, "points": "20", "grading": "thresholds",
                 "thresholds": {"excellent": "85", "good": "75", "pass": "60"}}


def seed_demo_results(session: Session, previous: Campaign, current: Campaign, annual: Campaign,
                      rng: random.Random) -> None:
    """Schemes for the three demo campaigns, leader ratings for the year, last quarter published."""
    for campaign in (previous, current):
        component.save(session, campaign, None, WINDOW_SCHEME)
    # the seed's rule (DOMAIN.md): 公众评议 = 民意调查 70 % + 领导评价 30 %; inside 民意调查 the appraisal
    # counts 6 parts to the window ratings' 1, and a unit without windows is scored on its appraisal alone
    component.save(session, annual, None, {
        "blocks": {"public": "70", "leader": "30"}, "weights": {"survey": "6", "service": "1"},
        "service_campaign_ids": [current.id],
        "points": "20", "grading": "thresholds", "thresholds": {"excellent": "85", "good": "75", "pass": "60"},
    })
    units = session.scalars(select(CampaignUnit.unit_id).where(CampaignUnit.campaign_id == annual.id)).all()
    leader_ratings.save_scores(session, None, annual.period,
                               {unit_id: f"{rng.uniform(72, 96):.1f}" for unit_id in sorted(units)},
                               source="演示数据")
    snapshot = snapshots.compute_snapshot(session, previous, None, note="演示：上季度结果")
    snapshots.publish(session, snapshot, None, public=previous.public_results)
