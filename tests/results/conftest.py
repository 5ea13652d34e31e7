"""A computed period shared by the page, export and API tests."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from survey.models import Campaign, Snapshot, Unit
from survey.services.results import component, snapshots
from tests.results.helpers import add_response, fill


@dataclass
class Period:
    campaign: Campaign
    units: list[Unit]
    snapshot: Snapshot


@pytest.fixture
def computed(session, make, built_once) -> Period:
    """Three departments (one with a window below it) in one category, a scheme, a draft snapshot.
    Built once per worker and database, then restored for each test."""
    return built_once("computed period", lambda: _compute(session, make))


def _compute(session, make) -> Period:
    category = make.category(code="ZF", name="政府口机关")
    units = [make.unit(code=f"D{i}", name=f"第{i}局", category=category) for i in range(1, 4)]
    campaign = make.campaign(units=units, period="2026Q4", public_results=True)
    groups = make.groups()
    for i, unit in enumerate(units):
        fill(session, campaign, unit, groups, 45, 4 - (i == 2), seed=10 + i)
    add_response(session, campaign, {units[0]: [5, 5, 5, 5, 5]}, groups["SM"], comments={units[0]: "窗口服务好"})
    component.save(session, campaign, None, {"weights": {"survey": "1"}, "points": "20", "grading": "thresholds",
                                             "thresholds": {"excellent": "85", "good": "75", "pass": "60"}})
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    return Period(campaign, units, snapshot)
