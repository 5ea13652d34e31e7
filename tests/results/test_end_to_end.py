"""From answers submitted on the citizens' pages to the 公众评议 points in the exports, the API and the public page."""
from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from survey.models import Response, ResponseStatus, Snapshot, SnapshotStatus
from tests.factories import csrf_from
from tests.public.helpers import filled

SCORES = {5: 100.0, 4: 75.0, 3: 50.0, 2: 25.0, 1: 0.0}


def _submit(app, code: str, questionnaire, address: str, levels: dict[str, str]) -> None:
    """One citizen on their own phone (own cookies, own address) answers the unit's questionnaire."""
    phone = app.test_client()
    env = {"REMOTE_ADDR": address}
    page = phone.get(f"/s/{code}", environ_base=env)
    assert page.status_code == 200
    questions = {q.code: q for q in questionnaire.questions}
    data = filled(questionnaire, page, **{f"q{questions[c].id}": v for c, v in levels.items()})
    posted = phone.post(f"/s/{code}", data=data, environ_base=env)
    assert posted.status_code == 303, posted.get_data(as_text=True)[:400]


def test_submitted_answers_become_the_exported_component_points(app, client, auth, make, session):
    category = make.category(code="CK", name="窗口")
    unit_a = make.unit(code="CK-A", name="不动产登记窗口", category=category, window_no="12")
    unit_b = make.unit(code="CK-B", name="社保窗口", category=category, window_no="5")
    campaign = make.campaign(units=[unit_a, unit_b], period="2026Q4", channels=["poster", "web"], public_results=True)
    make.commit()
    questionnaire = campaign.questionnaire
    codes = {cu.unit_id: cu.short_code for cu in campaign.campaign_units}
    answers_a = [
        {"Q1": "5", "Q2": "4", "Q3": "5", "Q4": "4", "Q5": "5"},
        {"Q1": "4", "Q2": "dk", "Q3": "4", "Q4": "3", "Q5": "4"},
        {"Q1": "2", "Q2": "2", "Q3": "3", "Q4": "2", "Q5": "1"},
        {"Q1": "5", "Q2": "5", "Q3": "5", "Q4": "5", "Q5": "4"},
    ]
    for i, levels in enumerate(answers_a):
        _submit(app, codes[unit_a.id], questionnaire, f"10.0.1.{i + 1}", levels)
    for i in range(3):
        _submit(app, codes[unit_b.id], questionnaire, f"10.0.2.{i + 1}", {"Q1": "3", "Q2": "3", "Q3": "4",
                                                                             "Q4": "3", "Q5": "3"})
    stored = list(session.scalars(select(Response)))
    assert len(stored) == 7 and all(r.status == ResponseStatus.VALID for r in stored)

    # every respondent chose the same group (the helper picks the first option), so weights are all 1
    # and the index is the plain weighted mean of question means: Q1 counts twice in the window template
    weights = {"Q1": 2.0, "Q2": 1.0, "Q3": 1.0, "Q4": 1.0, "Q5": 1.0}
    means = {}
    for q in weights:
        scores = [SCORES[int(a[q])] for a in answers_a if a[q] != "dk"]
        means[q] = sum(scores) / len(scores)
    expected_index = sum(weights[q] * means[q] for q in weights) / sum(weights.values())
    leader_a = 90.0
    expected_points = (0.7 * expected_index + 0.3 * leader_a) / 100 * 20  # 民意调查 70 % + 领导评价 30 %

    auth.login_as("analyst")
    scheme_url = f"/admin/results/campaigns/{campaign.id}/scheme"
    token = csrf_from(client.get(scheme_url))
    saved = client.post(scheme_url, data={
        "csrf_token": token, "weight_survey": "7", "weight_leader": "3", "weight_service": "0", "points": "20",
        "normalisation": "none", "missing": "renormalise", "grading": "thresholds", "threshold_excellent": "90",
        "threshold_good": "80", "threshold_pass": "60", "quota_excellent": "0.2", "quota_good": "0.3",
        "quota_warning": "0.1", "rank_level": "0.9", "bottom_k": "1"})
    assert saved.status_code == 303
    leader = client.post("/admin/results/leader/2026Q4", data={
        "csrf_token": token, f"unit_{unit_a.id}": str(leader_a), f"unit_{unit_b.id}": "80"})
    assert leader.status_code == 303
    computed = client.post(f"/admin/results/campaigns/{campaign.id}/compute", data={"csrf_token": token})
    snapshot_id = int(computed.headers["Location"].rsplit("/", 1)[1])
    published = client.post(f"/admin/results/snapshots/{snapshot_id}/publish", data={"csrf_token": token, "public": "1",
                                                                                     "confirm": "1"})
    assert published.status_code == 303
    session.expire_all()
    snapshot = session.get(Snapshot, snapshot_id)
    assert snapshot.status == SnapshotStatus.OFFICIAL

    book = load_workbook(io.BytesIO(client.get(f"/admin/results/snapshots/{snapshot_id}/export.xlsx").data))
    sheet = book["单位得分"]
    header = [c.value for c in sheet[1]]
    rows = {r[header.index("单位代码")].value: r for r in sheet.iter_rows(min_row=2)}
    row_a = rows["CK-A"]
    assert row_a[header.index("满意度指数")].value == pytest.approx(expected_index, abs=1e-9)
    assert row_a[header.index("公众评议得分")].value == pytest.approx(expected_points, abs=1e-9)
    assert row_a[header.index("样本量")].value == 4
    assert rows["CK-B"][header.index("满意度指数")].value == pytest.approx((2 * 50 + 50 + 75 + 50 + 50) / 6)
    assert row_a[header.index("领导评价")].value == leader_a
    # composite 76.3 against 61.9, but 4 and 3 ratings fail the reliability thresholds: no rank, no grade
    assert row_a[header.index("排名")].value is None and row_a[header.index("等次")].value in (None, "")

    # the CSV carries the same points (UTF-8 with BOM for Excel)
    exported = client.get(f"/admin/results/snapshots/{snapshot_id}/export.csv").data.decode("utf-8")
    table = list(csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))))
    assert float(next(r for r in table if r["单位代码"] == "CK-A")["公众评议得分"]) == pytest.approx(expected_points)

    # the public page shows the published index with its interval, no comments
    public = client.get(f"/results/{snapshot_id}").get_data(as_text=True)
    assert "不动产登记窗口" in public and f"{expected_index:.1f}" in public

    # the performance system pulls the same points through the API
    page = client.get("/admin/results/tokens")
    created = client.post("/admin/results/tokens", data={"csrf_token": csrf_from(page), "name": "绩效系统"})
    plaintext = re.search(r'<code class="token">(pyk_[^<]+)</code>', created.get_data(as_text=True)).group(1)
    auth.logout()
    body = client.get("/api/v1/periods/2026Q4/component", headers={"Authorization": f"Bearer {plaintext}"}).get_json()
    api_a = next(u for u in body["units"] if u["unit_code"] == "CK-A")
    assert api_a["points"] == pytest.approx(expected_points, abs=1e-9) and api_a["n"] == 4
    assert api_a["rank"] is None and api_a["grade"] is None
