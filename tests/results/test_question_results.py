"""Every other question type in the results: single choice (一次办成率), multiple choice, 0–10, text.

The engine is checked against R in tests/analysis/test_items.py; here the web app's wiring: which
answers count, that the snapshot stores the results with their parameters and replays them, and
that the pages, the xlsx, the questions CSV and the API show them.
"""
from __future__ import annotations

import copy
import csv
import io
import math

import pytest
from openpyxl import load_workbook

from survey.models import Answer, ResponseStatus
from survey.services.accounts import api_tokens
from survey.services.questionnaires.builtin import WINDOW_SERVICE
from survey.services.results import snapshots, weighting
from tests.results.helpers import add_response

TEMPLATE = copy.deepcopy(WINDOW_SERVICE)
# without the template's conditional 差评 questions (Q9 主要问题, Q10): these tests use the codes for their own
TEMPLATE["questions"] = [q for q in TEMPLATE["questions"] if q["code"] not in ("Q9", "Q10")] + [
    {"code": "Q9", "type": "multiple", "text": "您是通过哪些途径了解办事流程的？", "in_index": False, "required": False,
     "options": [{"code": "x", "label": "网站"}, {"code": "y", "label": "电话"}, {"code": "z", "label": "窗口"}]},
    {"code": "Q10", "type": "rating", "text": "您向亲友推荐本窗口的可能性（0–10）", "in_index": False, "required": False},
]
TRIPS_A = ["1"] * 7 + ["2"] * 3 + ["3"] + [None]  # 12 respondents in unit A, one did not answer Q6
MULTI_A = [("x",), ("x", "y"), ("z",), ("x", "z"), (), ("y",)] * 2
RATING_A = [10, 9, 8, None, 7, 10, 6, 9, 5, 10, None, 8]


def _by_code(question, code):
    return next(o for o in question.options if o.code == code)


def _answer_items(campaign, response, unit, trips=None, multi=(), rating=None, text=None):
    qs = {q.code: q for q in campaign.questionnaire.questions}
    if trips:
        option = _by_code(qs["Q6"], trips)
        response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=qs["Q6"].id,
                                       option_id=option.id, number=option.score))
    for code in multi:
        response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=qs["Q9"].id,
                                       option_id=_by_code(qs["Q9"], code).id))
    if rating is not None:
        response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=qs["Q10"].id,
                                       number=float(rating)))
    if text is not None:
        response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=qs["Q8"].id, text=text))


def _build(session, make):
    units = [make.unit(code="CK-A", name="不动产登记窗口"), make.unit(code="CK-B", name="社保窗口")]
    campaign = make.campaign(units=units, questionnaire=make.questionnaire(TEMPLATE), period="2026Q4")
    groups = make.groups()
    for k, (trips, multi, rating) in enumerate(zip(TRIPS_A, MULTI_A, RATING_A, strict=True)):
        response = add_response(session, campaign, {units[0]: [4, 5, 4, 4, 5]}, groups["SM"])
        _answer_items(campaign, response, units[0], trips, multi, rating, "很好" if k < 3 else ("" if k == 3 else None))
    # answered Q6 but rated nothing: not in the unit's sample, so not counted
    response = add_response(session, campaign, {units[0]: [None] * 5}, groups["SM"])
    _answer_items(campaign, response, units[0], "3")
    # an excluded response is left out
    response = add_response(session, campaign, {units[0]: [1, 1, 1, 1, 1]}, groups["SM"], status=ResponseStatus.EXCLUDED)
    _answer_items(campaign, response, units[0], "3", ("z",), 0)
    codes = sorted(groups)
    for k in range(20):
        response = add_response(session, campaign, {units[1]: [3, 4, 3, 4, 3]}, groups[codes[k % len(codes)]])
        _answer_items(campaign, response, units[1], "1" if k % 3 else "2", ("x",) if k % 2 else ("y", "z"), k % 11)
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    return campaign, units, snapshot


@pytest.fixture
def period(session, make, built_once):
    return built_once("question results period", lambda: _build(session, make))


def _items(session, snapshot, unit):
    row = next(r for r in snapshots.rows_of(session, snapshot) if r.unit_id == unit.id)
    return {it["code"]: it for it in row.detail["items"]}


def _ratio_se(y, x, n):
    """SE of sum y / sum x with equal weights on n respondents (one weighting cell): svyratio's."""
    m = sum(x)
    p = sum(y) / m
    return p, math.sqrt(n / (n - 1) * sum(((a - p * b) / m) ** 2 for a, b in zip(y, x, strict=True)))


def test_snapshot_stores_each_question_per_unit_with_its_se(period, session):
    units, snapshot = period[1], period[2]
    items = _items(session, snapshot, units[0])
    n = len(TRIPS_A)  # the unit's sample: its 12 raters (not the Q6-only response, not the excluded one)
    trips = items["Q6"]
    answered = [1 if t else 0 for t in TRIPS_A]
    share, se = _ratio_se([1 if t == "1" else 0 for t in TRIPS_A], answered, n)
    assert trips["n"] == 11 and trips["kind"] == "single" and trips["top_option"] == "1"
    assert trips["top_share"] == pytest.approx(7 / 11, rel=1e-12) and trips["top_share"] == pytest.approx(share)
    assert trips["top_share_se"] == pytest.approx(se, rel=1e-9)
    assert trips["shares"] == pytest.approx([7 / 11, 3 / 11, 1 / 11], rel=1e-12)
    assert trips["mean"] == pytest.approx((7 * 100 + 3 * 50) / 11, rel=1e-12)
    assert trips["top_share_ci"][0] < 7 / 11 < trips["top_share_ci"][1]
    multi = items["Q9"]
    chose = [1 if m else 0 for m in MULTI_A]
    assert multi["n"] == 10
    for k, code in enumerate("xyz"):
        share, se = _ratio_se([1 if code in m else 0 for m in MULTI_A], chose, n)
        assert multi["shares"][k] == pytest.approx(share, rel=1e-12)
        assert multi["shares_se"][k] == pytest.approx(se, rel=1e-9)
    rating = items["Q10"]
    mean, se = _ratio_se([r or 0 for r in RATING_A], [0 if r is None else 1 for r in RATING_A], n)
    assert rating["n"] == 10 and rating["mean"] == pytest.approx(mean) and rating["mean_se"] == pytest.approx(se)
    assert sum(rating["shares"]) == pytest.approx(1.0) and rating["shares"][10] == pytest.approx(0.3)
    assert items["Q8"] == {"question_id": items["Q8"]["question_id"], "code": "Q8", "kind": "text", "n": 3}
    # the other unit is weighted by group: its single-choice shares still add up to one
    other = _items(session, snapshot, units[1])["Q6"]
    assert sum(other["shares"]) == pytest.approx(1.0) and other["n"] == 20


def test_the_spec_keeps_the_option_scores_and_replays_bit_for_bit(period, session):
    _units, snapshot = period[1], period[2]
    specs = {s["code"]: s for s in snapshot.params["items"]}
    assert specs["Q6"]["scores"] == [100, 50, 0] and specs["Q6"]["option_codes"] == ["1", "2", "3"]
    assert set(specs) == {"Q6", "Q8", "Q9", "Q10"}  # the group question is not among them
    outcome = snapshots.verify(session, snapshot, None)
    assert outcome.identical, outcome.differences


def test_a_snapshot_without_items_replays_without_them(period, session):
    _units, snapshot = period[1], period[2]
    spec = copy.deepcopy(snapshot.params)
    spec.pop("items")
    from survey.services.results.evaluation import evaluate

    rows = evaluate(session, spec).rows
    assert all("items" not in r.detail for r in rows)


def test_pages_show_the_one_trip_rate_per_unit(period, client, auth):
    units, snapshot = period[1], period[2]
    auth.login_as("analyst")
    html = client.get(f"/admin/results/snapshots/{snapshot.id}").get_data(as_text=True)
    assert "一次办成率" in html and "63.6%" in html  # 7 / 11
    assert "全部单位（合并）" in html  # all units pooled
    assert "Q9" in html and "Q10" in html and f"/admin/results/snapshots/{snapshot.id}/questions.csv" in html
    assert html.index("一次办成率") < html.index('id="question-Q9"')  # the headline first (a bare "Q9" may be in a token)
    # the comment count links to the unit's comments
    assert f'/admin/results/snapshots/{snapshot.id}/units/{units[0].id}#comments">3</a>' in html
    unit_html = client.get(f"/admin/results/snapshots/{snapshot.id}/units/{units[0].id}").get_data(as_text=True)
    assert "一次办成率" in unit_html and "63.6%" in unit_html


def test_english_page_uses_english_labels(period, client, auth):
    _units, snapshot = period[1], period[2]
    auth.login_as("analyst")
    html = client.get(f"/admin/results/snapshots/{snapshot.id}?lang=en").get_data(as_text=True)
    assert "Share “Done in one trip”" in html and "Q9" in html


def test_xlsx_has_a_sheet_per_question(period, client, auth, session):
    units, snapshot = period[1], period[2]
    auth.login_as("analyst")
    data = client.get(f"/admin/results/snapshots/{snapshot.id}/export.xlsx").data
    book = load_workbook(io.BytesIO(data))
    titles = book.sheetnames
    q6 = next(t for t in titles if t.startswith("Q6"))
    assert any(t.startswith("Q9") for t in titles) and any(t.startswith("Q10") for t in titles)
    assert titles.index(q6) < titles.index("参数")
    sheet = book[q6]
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["单位代码", "单位名称", "回答人数", "一次办成率"]
    rows = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["CK-A"][2] == 11 and rows["CK-A"][3] == pytest.approx(7 / 11)
    assert rows["CK-A"][4] == pytest.approx(_items(session, snapshot, units[0])["Q6"]["top_share_se"])
    assert rows[None][1] == "全部单位（合并）" and rows[None][2] == 31  # the pooled row last


def test_questions_csv_is_long_and_complete(period, client, auth):
    units, snapshot = period[1], period[2]
    auth.login_as("analyst")
    response = client.get(f"/admin/results/snapshots/{snapshot.id}/questions.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    top = [r for r in body if r[0] == "CK-A" and r[6] == "top_share"]
    assert len(top) == 1 and float(top[0][header.index("估计值")]) == pytest.approx(7 / 11)
    assert top[0][header.index("选项")] == "一次办成"
    assert {r[2] for r in body} == {"Q6", "Q8", "Q9", "Q10"}
    # a unit contact may not download it
    auth.logout()
    auth.login_as("unit", unit=units[0])
    assert client.get(f"/admin/results/snapshots/{snapshot.id}/questions.csv").status_code in (302, 403)


def test_api_serves_the_questions_of_an_official_snapshot(period, client, session):
    units, snapshot = period[1], period[2]
    snapshots.publish(session, snapshot, None)
    _token, plaintext = api_tokens.create(session, None, "绩效")
    session.commit()
    payload = client.get(f"/api/v1/snapshots/{snapshot.id}", headers={"Authorization": f"Bearer {plaintext}"}).get_json()
    q6 = next(q for q in payload["questions"] if q["code"] == "Q6")
    assert q6["type"] == "single" and [o["score"] for o in q6["options"]] == [100, 50, 0]
    unit = next(u for u in payload["units"] if u["unit_code"] == "CK-A")
    trips = next(q for q in unit["questions"] if q["code"] == "Q6")
    stored = _items(session, snapshot, units[0])["Q6"]
    assert trips["top_share"] == stored["top_share"] and trips["top_share_se"] == stored["top_share_se"]
    assert trips["type"] == "single" and "kind" not in trips
    pooled = next(it for it in snapshot.summary["items"] if it["code"] == "Q6")
    assert q6["overall"]["top_share"] == pooled["top_share"] and q6["overall"]["n"] == 31


def test_items_follow_the_weighting_method(period, session):
    campaign, units = period[0], period[1]
    campaign.analysis_settings = {"method": "none", "min_n": 1, "min_n_eff": 1}
    session.commit()
    plain = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    trips = _items(session, plain, units[1])["Q6"]
    # unit B, unweighted: 13 respondents chose 一次办成 and 7 两次 (k % 3 == 0)
    assert trips["shares"] == pytest.approx([13 / 20, 7 / 20, 0.0], rel=1e-12, abs=1e-15)
    _share, se = _ratio_se([1 if k % 3 else 0 for k in range(20)], [1] * 20, 20)
    assert trips["top_share_se"] == pytest.approx(se, rel=1e-9)
    # all units pooled, each unit a stratum: (7 + 13) / (11 + 20) and the stratified variance
    pooled = next(it for it in plain.summary["items"] if it["code"] == "Q6")
    y = {0: [1 if t == "1" else 0 for t in TRIPS_A], 1: [1 if k % 3 else 0 for k in range(20)]}
    x = {0: [1 if t else 0 for t in TRIPS_A], 1: [1] * 20}
    p = 20 / 31
    variance = 0.0
    for u in (0, 1):
        z = [(a - p * b) / 31 for a, b in zip(y[u], x[u], strict=True)]
        mean = sum(z) / len(z)
        variance += len(z) / (len(z) - 1) * sum((v - mean) ** 2 for v in z)
    assert pooled["n"] == 31 and pooled["top_share"] == pytest.approx(p, rel=1e-12)
    assert pooled["top_share_se"] == pytest.approx(math.sqrt(variance), rel=1e-9)
    weighting.save(session, campaign, None, {"method": "rake", "rake_margins": ["group", "channel"],
                                             "channel_shares": {c: "1" for c in campaign.channels}})
    session.commit()
    raked = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    assert raked.params["survey"]["params"]["method"] == "rake"
    raked_trips = _items(session, raked, units[1])["Q6"]
    assert sum(raked_trips["shares"]) == pytest.approx(1.0) and raked_trips["n"] == 20
    assert snapshots.verify(session, raked, None).identical
