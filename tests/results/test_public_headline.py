"""The public results page shows the headline scored indicator (the window survey's 一次办成率) per
unit with its interval, from the stored snapshot, only for units that passed the reliability rule."""
from __future__ import annotations

import copy
import re

import pytest

from survey.models import Answer
from survey.services.questionnaires.builtin import WINDOW_SERVICE
from survey.services.results import snapshots
from tests.results.helpers import add_response

TRIPS_A = ["1"] * 7 + ["2"] * 3 + ["3"] + [None]  # 7 of the 11 who answered: 63.6%


def _trips(campaign, response, unit, code):
    question = next(q for q in campaign.questionnaire.questions if q.code == "Q6")
    option = next(o for o in question.options if o.code == code)
    response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=question.id,
                                   option_id=option.id, number=option.score))


def _row(html, name):
    row = next(r for r in html.split("<tr")[1:] if name in r and "<td" in r)
    cell = re.search(r'<td class="num headline"[^>]*>(.*?)</td>', row, re.DOTALL)
    return cell.group(1)


@pytest.fixture
def published(session, make):
    units = [make.unit(code="CK-A", name="不动产登记窗口"), make.unit(code="CK-B", name="社保窗口")]
    campaign = make.campaign(units=units, questionnaire=make.questionnaire(copy.deepcopy(WINDOW_SERVICE)),
                             period="2026Q4", public_results=True)
    campaign.analysis_settings = {**(campaign.analysis_settings or {}), "method": "none", "min_n": 10,
                                 "min_n_eff": 5}
    groups = make.groups()
    for trips in TRIPS_A:
        response = add_response(session, campaign, {units[0]: [4, 5, 4, 4, 5]}, groups["SM"])
        if trips:
            _trips(campaign, response, units[0], trips)
    for _k in range(4):  # below the rule's 10 responses: no figure
        response = add_response(session, campaign, {units[1]: [3, 4, 3, 4, 3]}, groups["SM"])
        _trips(campaign, response, units[1], "1")
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    snapshots.publish(session, snapshot, None, public=True)
    session.commit()
    return campaign, units, snapshot


def test_public_page_shows_the_one_trip_rate_of_reliable_units_only(client, published, session):
    _campaign, _units, snapshot = published
    row = next(r for r in snapshots.rows_of(session, snapshot) if r.n == 12)
    item = next(it for it in row.detail["items"] if it["code"] == "Q6")
    lo, hi = item["top_share_ci"]
    html = client.get(f"/results/{snapshot.id}").get_data(as_text=True)
    assert "一次办成率（区间）" in html and 'id="headline-note"' in html
    reliable = _row(html, "不动产登记窗口")
    assert "63.6%" in reliable and f"({lo * 100:.1f}%–{hi * 100:.1f}%)" in reliable
    assert 0 < lo < 7 / 11 < hi < 1
    unreliable = _row(html, "社保窗口")  # 4 responses, all 一次办成: 100% would be shown by mistake
    assert "%" not in unreliable and "—" in unreliable and "样本不足，不公布" in unreliable


def test_public_page_in_english_and_without_a_scored_question(client, published, session, make):
    _campaign, _units, snapshot = published
    html = client.get(f"/results/{snapshot.id}?lang=en").get_data(as_text=True)
    assert 'id="headline-note"' in html and "63.6%" in html
    # a campaign whose questionnaire has no scored question: no headline column
    unit = make.unit(code="CK-C", name="公积金窗口")
    template = copy.deepcopy(WINDOW_SERVICE)
    template["questions"] = [q for q in template["questions"] if q["code"] != "Q6"]
    other = make.campaign(units=[unit], questionnaire=make.questionnaire(template), period="2026Q4",
                          public_results=True)
    groups = make.groups()
    for _k in range(3):
        add_response(session, other, {unit: [4, 4, 4, 4, 4]}, groups["SM"])
    session.commit()
    plain = snapshots.compute_snapshot(session, other, None)
    snapshots.publish(session, plain, None, public=True)
    session.commit()
    html = client.get(f"/results/{plain.id}").get_data(as_text=True)
    assert "公积金窗口" in html and "headline" not in html
