"""Issue 13: thin cells in the app, reliability before verdict, the component's source blocks."""
from __future__ import annotations

import pytest

from survey.core.errors import DomainError
from survey.services.results import component, snapshots, weighting
from tests.results.helpers import add_response, fill


@pytest.fixture
def thin(session, make):
    """A category of three departments with 45 ratings each, and a window with 3 ratings, one per group."""
    category = make.category(code="CK", name="窗口")
    units = [make.unit(code=f"U{i}", name=f"第{i}单位", category=category) for i in range(1, 4)]
    window = make.unit(code="W1", name="三人窗口", category=category)
    campaign = make.campaign(units=[*units, window], period="2026Q4", public_results=True)
    groups = make.groups()
    for i, unit in enumerate(units):
        fill(session, campaign, unit, groups, 45, 4 - (i == 2), seed=20 + i)
    for code, level in (("QY", 2), ("SM", 3), ("FW", 4)):
        add_response(session, campaign, {window: [level] * 5}, groups[code])
    component.save(session, campaign, None, {"weights": {"survey": "1"}, "points": "20", "grading": "thresholds",
                                             "thresholds": {"excellent": "85", "good": "75", "pass": "60"}})
    session.commit()
    return campaign, units, window, groups


def _row(snapshot, unit):
    return next(r for r in snapshot.rows if r.unit_id == unit.id)


def test_thin_cell_rule_is_set_per_campaign_stored_with_the_snapshot_and_in_the_unit_detail(session, thin):
    campaign, units, _window, groups = thin
    # 企业 (QY) joins 行业协会 (ZZ) when thin; 市民 pools with the others
    weighting.save(session, campaign, None, {"method": "poststratify", "min_cell_n": "10",
                                              "collapse_into": {"QY": "ZZ", "SM": ""}})
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    params = snapshot.params["survey"]["params"]
    layout = snapshot.params["survey"]["layout"]
    assert params["min_cell_n"] == 10
    position = {gid: k for k, gid in enumerate(layout["group_ids"])}
    assert params["collapse_into"] == {"group": {str(position[groups["QY"].id]): position[groups["ZZ"].id]}}
    # 45 ratings over 5 groups = 9 each: every group is thin at 10; QY (first: fewest, lowest code) went into
    # ZZ as designated, 市民 without a designation into the smallest other cell
    detail = _row(snapshot, units[0]).detail
    assert detail["cells"]["group"][0] == [groups["QY"].id, groups["ZZ"].id]
    assert [groups["SM"].id, groups["FW"].id] in detail["cells"]["group"]
    assert "cells_collapsed" in _row(snapshot, units[0]).flags
    assert snapshots.verify(session, snapshot, None).identical


def test_settings_refuse_a_bad_cell_rule_with_a_message_per_field(session, thin):
    campaign, *_ = thin
    with pytest.raises(DomainError) as caught:
        weighting.validate(session, campaign, {"method": "poststratify", "min_cell_n": "0",
                                               "collapse_into": {"RD": "RD", "QY": "XX"}})
    fields = caught.value.fields
    assert "min_cell_n" in fields and "collapse_RD" in fields and "collapse_QY" in fields
    with pytest.raises(DomainError) as caught:
        weighting.validate(session, campaign, {"method": "poststratify", "min_cell_n": "2.5"})
    assert "整数" in caught.value.fields["min_cell_n"][0]
    clean = weighting.validate(session, campaign, {"method": "poststratify", "min_cell_n": ""})
    assert clean["min_cell_n"] == 5 and clean["collapse_into"] is None


def test_the_three_ratings_window_is_unweighted_with_a_real_standard_error(session, thin):
    campaign, _units, window, _groups = thin
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    row = _row(snapshot, window)
    assert row.n == 3
    assert row.index == pytest.approx(50.0)  # levels 2, 3, 4 → 25, 50, 75, unweighted
    assert row.index_se == pytest.approx(25.0 / 3 ** 0.5)  # SD 25 over √3: the SE of a simple mean
    assert row.index_se > 0
    assert "unweighted" in row.flags and row.detail["unweighted"] is True
