"""Breakdowns stored with a snapshot, and each unit's change from the previous period's official snapshot."""
from __future__ import annotations

import math

import pytest

from survey.models import Channel, SnapshotStatus
from survey.services.results import breakdowns, snapshots
from tests.results.helpers import fill


def test_breakdowns_are_stored_with_the_snapshot_and_replay(session, computed) -> None:
    stored = breakdowns.stored(computed.snapshot)
    assert stored["format"] == breakdowns.FORMAT
    domains = stored["domains"]
    assert set(domains) == {"group", "channel", "category"}
    rated = sum(r.n for r in computed.snapshot.rows)
    for by in ("group", "channel", "category"):
        assert sum(d["n"] for d in domains[by]) == rated
        for d in domains[by]:
            assert 0 <= d["index"] <= 100 and d["index_se"] > 0
            assert d["index_ci"][0] < d["index"] < d["index_ci"][1]
            assert 0 <= d["satisfied_rate"] <= 1 and d["satisfied_rate_se"] > 0
    # One category holds every unit: its 满意率 is the weighted 总体满意率 (Σ w s / Σ w t over all units).
    (everyone,) = domains["category"]
    assert everyone["id"] == computed.units[0].category_id
    assert everyone["satisfied_rate"] == pytest.approx(computed.snapshot.summary["overall_satisfied_rate_weighted"],
                                                       rel=1e-12)
    assert [d["code"] for d in domains["channel"]] == [c for c in breakdowns.CHANNEL_ORDER
                                                       if c in {Channel.POSTER.value, Channel.DESK.value,
                                                                Channel.WEB.value}]
    tables = stored["crosstabs"]["group"]
    # the 5 satisfaction questions, then the window survey's single-choice Q6 and its conditional
    # multiple-choice Q9 (差评 reasons), both unanswered here: no shares
    assert [t["code"] for t in tables] == ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q9"]
    assert tables[5]["kind"] == "single" and all(c["n"] == 0 for c in tables[5]["columns"])
    assert tables[6]["kind"] == "multiple" and all(c["n"] == 0 for c in tables[6]["columns"])
    tables = tables[:5]
    for table in tables:
        for column in table["columns"]:
            assert math.isclose(sum(column["share"]), 1.0)
            assert len(column["se"]) == stored["levels"]
    assert snapshots.verify(session, computed.snapshot, None).identical


def test_a_snapshot_from_before_the_breakdowns_has_none(session, computed) -> None:
    from survey.services.results.evaluation import evaluate

    spec = {k: v for k, v in computed.snapshot.params.items() if k != "breakdowns"}
    assert "breakdowns" not in evaluate(session, spec).summary


def test_change_from_the_previous_official_period(session, make, computed) -> None:
    campaign = computed.campaign
    groups = make.groups()
    before = make.campaign(units=computed.units, period="2026Q3", questionnaire=campaign.questionnaire)
    for i, unit in enumerate(computed.units):
        fill(session, before, unit, groups, 40, 2 if i == 0 else 4 - (i == 2), seed=40 + i)
    session.commit()
    old = snapshots.compute_snapshot(session, before, None)
    session.commit()
    # A draft of the previous period is never compared with.
    assert breakdowns.changes(session, computed.snapshot) == (None, [])
    snapshots.publish(session, old, None)
    session.commit()
    previous, rows = breakdowns.changes(session, computed.snapshot)
    assert previous.id == old.id and previous.status == SnapshotStatus.OFFICIAL
    assert len(rows) == 3
    old_rows = {r.unit_id: r for r in old.rows}
    for change in rows:
        then, now = old_rows[change.unit_id], next(r for r in computed.snapshot.rows if r.unit_id == change.unit_id)
        assert change.index_difference == pytest.approx(now.index - then.index)
        assert change.index_difference_se == pytest.approx(math.sqrt(now.index_se ** 2 + then.index_se ** 2))
        assert change.rate_difference_se == pytest.approx(
            math.sqrt(now.satisfied_rate_se ** 2 + then.satisfied_rate_se ** 2))
        z = abs(change.index_difference) / change.index_difference_se
        assert change.index_significant == (z > 1.959963984540054)
        assert change.index_p == pytest.approx(math.erfc(z / math.sqrt(2)))
    first = next(c for c in rows if c.unit_id == computed.units[0].id)
    assert first.index_difference > 0 and first.index_significant  # quality 2 → 4: a clear rise


def test_the_snapshot_page_shows_breakdowns_and_a_chosen_crosstab(client, auth, session, computed) -> None:
    auth.login_as("analyst")
    url = f"/admin/results/snapshots/{computed.snapshot.id}"
    html = client.get(url).get_data(as_text=True)
    assert 'id="breakdowns"' in html and "按样本类别" in html and "按渠道" in html and "按单位类别" in html
    stored = breakdowns.stored(computed.snapshot)
    everyone = stored["domains"]["category"][0]
    assert f"{everyone['index']:.1f}" in html and f"{everyone['index_se']:.2f}" in html
    assert "政府口机关" in html
    assert "上一期没有正式结果" in html
    # the form picks a question and a by-variable; the table shows that question's shares by channel
    table = next(t for t in stored["crosstabs"]["channel"] if t["code"] == "Q2")
    page = client.get(url, query_string={"xq": table["question_id"], "xby": "channel"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Q2：各答案的加权列百分比" in html and "非常满意" in html
    share = table["columns"][0]["share"][4]  # level 5 of the first channel
    assert f"{share * 100:.1f}%" in html
    # nonsense in the form falls back to the first question by group, never a 500
    for query in ({"xq": "abc", "xby": "x"}, {"xq": "999999999999999999999"}, {"xq": "-1", "xby": "category"}):
        page = client.get(url, query_string=query)
        assert page.status_code == 200 and "Q1：各答案的加权列百分比" in page.get_data(as_text=True)


def test_unit_contacts_cannot_open_the_snapshot_page(client, auth, computed) -> None:
    auth.login_as("unit", unit=computed.units[0])
    assert client.get(f"/admin/results/snapshots/{computed.snapshot.id}").status_code in (302, 403, 404)


def test_the_workbook_has_the_breakdown_sheets(session, make, computed) -> None:
    import io

    from openpyxl import load_workbook

    from survey.services.results import exports

    book = load_workbook(io.BytesIO(exports.workbook(session, computed.snapshot)))
    names = book.sheetnames
    assert names[names.index("分组结果") + 1] == "交叉表" and names[-1] == "参数" and "与上期比" not in names
    sheet = book["分组结果"]
    header = [c.value for c in sheet[1]]
    assert header[:5] == ["分组依据", "组代码", "组", "评价数", "满意度指数"]
    stored = breakdowns.stored(computed.snapshot)["domains"]
    rows = [[c.value for c in r] for r in sheet.iter_rows(min_row=2)]
    assert len(rows) == sum(len(v) for v in stored.values())
    category = next(r for r in rows if r[0] == "单位类别")
    assert category[1] == "ZF" and category[2] == "政府口机关"
    assert category[4] == pytest.approx(stored["category"][0]["index"], abs=1e-12)
    assert category[5] == pytest.approx(stored["category"][0]["index_se"], abs=1e-12)
    assert sheet.cell(row=2, column=9).number_format == "0.0%"
    channel = next(r for r in rows if r[0] == "渠道")
    assert channel[1] in breakdowns.CHANNEL_ORDER and channel[2] != channel[1]  # code and label
    cross = [[c.value for c in r] for r in book["交叉表"].iter_rows(min_row=2)]
    # (5 questions × 5 levels + Q6's 3 options + Q9's 6 reasons) × columns
    assert len(cross) == (5 * 5 + 3 + 6) * (len(stored["group"]) + len(stored["channel"]))
    q1_first = [r for r in cross if r[0] == "Q1" and r[2] == "样本类别" and r[3] == cross[0][3]]
    assert sum(r[8] for r in q1_first) == pytest.approx(1.0)
    # with the previous period published, the workbook compares with it
    before = make.campaign(units=computed.units, period="2026Q3", questionnaire=computed.campaign.questionnaire)
    groups = make.groups()
    for i, unit in enumerate(computed.units):
        fill(session, before, unit, groups, 35, 3, seed=70 + i)
    session.commit()
    old = snapshots.compute_snapshot(session, before, None)
    snapshots.publish(session, old, None)
    session.commit()
    book = load_workbook(io.BytesIO(exports.workbook(session, computed.snapshot)))
    change = [[c.value for c in r] for r in book["与上期比"].iter_rows(min_row=2)]
    assert len(change) == 3 and all(r[-1] == old.id for r in change)
    _, expected = breakdowns.changes(session, computed.snapshot)
    by_code = {r[0]: r for r in change}
    for c in expected:
        unit = next(u for u in computed.units if u.id == c.unit_id)
        assert by_code[unit.code][4] == pytest.approx(c.index_difference, abs=1e-12)
        assert by_code[unit.code][7] == ("显著" if c.index_significant else None)


def test_the_api_serves_breakdowns_of_published_snapshots_only(client, session, make, computed) -> None:
    from survey.services.accounts import api_tokens

    _token, plaintext = api_tokens.create(session, None, "绩效管理系统")
    session.commit()
    headers = {"Authorization": f"Bearer {plaintext}"}
    url = f"/api/v1/snapshots/{computed.snapshot.id}/breakdowns"
    draft = client.get(url, headers=headers)
    assert draft.status_code == 404 and draft.get_json()["error"] == "snapshot_not_found"
    assert client.get(url).status_code == 401
    assert client.get("/api/v1/snapshots/99999999999999999999999/breakdowns", headers=headers).status_code == 404
    # the previous period: a draft first (never compared with), then official
    before = make.campaign(units=computed.units, period="2026Q3", questionnaire=computed.campaign.questionnaire)
    groups = make.groups()
    for i, unit in enumerate(computed.units):
        fill(session, before, unit, groups, 35, 3, seed=90 + i)
    session.commit()
    old = snapshots.compute_snapshot(session, before, None)
    snapshots.publish(session, computed.snapshot, None)
    session.commit()
    body = client.get(url, headers=headers).get_json()
    assert body["available"] is True and body["change"] is None
    stored = breakdowns.stored(computed.snapshot)
    group = body["domains"]["group"]
    assert [g["n"] for g in group] == [d["n"] for d in stored["domains"]["group"]]
    assert group[0]["code"] and group[0]["name"] and group[0]["index_se"] == stored["domains"]["group"][0]["index_se"]
    (category,) = body["domains"]["category"]
    assert category["code"] == "ZF" and category["name"] == "政府口机关"
    channel = body["domains"]["channel"][0]
    assert channel["code"] in breakdowns.CHANNEL_ORDER and channel["name"] not in (None, channel["code"])
    q1 = body["crosstabs"]["channel"][0]
    assert q1["question_code"] == "Q1" and set(q1["columns"][0]["share"]) == {"1", "2", "3", "4", "5"}
    assert sum(q1["columns"][0]["share"].values()) == pytest.approx(1.0)
    snapshots.publish(session, old, None)
    session.commit()
    body = client.get(url, headers=headers).get_json()
    assert body["change"]["previous_snapshot_id"] == old.id and len(body["change"]["units"]) == 3
    _, expected = breakdowns.changes(session, computed.snapshot)
    got = {u["unit_id"]: u for u in body["change"]["units"]}
    for c in expected:
        assert got[c.unit_id]["index_difference"] == pytest.approx(c.index_difference, abs=1e-12)
        assert got[c.unit_id]["index_significant"] == c.index_significant
        assert got[c.unit_id]["unit_code"] in {u.code for u in computed.units}


def test_the_unit_page_compares_with_the_previous_official_result_only(client, auth, session, make, computed):
    unit = computed.units[0]
    before = make.campaign(units=computed.units, period="2026Q3", questionnaire=computed.campaign.questionnaire)
    groups = make.groups()
    for i, u in enumerate(computed.units):
        fill(session, before, u, groups, 35, 2, seed=120 + i)
    session.commit()
    old = snapshots.compute_snapshot(session, before, None)
    snapshots.publish(session, computed.snapshot, None)
    session.commit()
    auth.login_as("unit", unit=unit)
    url = f"/admin/results/snapshots/{computed.snapshot.id}/units/{unit.id}"
    html = client.get(url).get_data(as_text=True)
    assert 'id="change"' in html and "上一期没有正式结果" in html and f"#{old.id}" not in html.split('id="change"')[1]
    snapshots.publish(session, old, None)
    session.commit()
    html = client.get(url).get_data(as_text=True)
    _, change = breakdowns.unit_change(session, computed.snapshot, unit.id)
    section = html.split('id="change"')[1]
    assert f"正式结果 #{old.id}" in section
    assert f"{change.index_difference:+.1f}" in section and f"{change.index_difference_se:.2f}" in section
    assert ("显著" in section) and (change.index_significant == ("<strong>显著</strong>" in section.split("满意率")[0]))


def test_an_unweighted_campaign_keeps_responses_without_a_group(session, make) -> None:
    """Method none: responses without a group are counted (in a level of their own, 未标明), none is lost."""
    from tests.results.helpers import add_response

    unit = make.unit(code="NG1", name="无类别局")
    groups = make.groups()
    campaign = make.campaign(units=[unit], period="2026Q4", analysis_settings={"method": "none"})
    for k in range(6):
        add_response(session, campaign, {unit: [5 - k % 2] * 5}, groups["FW"] if k < 4 else None)
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    domains = breakdowns.stored(snapshot)["domains"]["group"]
    assert sum(d["n"] for d in domains) == 6
    no_group = next(d for d in domains if d["id"] is None)
    assert no_group["n"] == 2 and no_group["index"] == pytest.approx(87.5)
    (row,) = breakdowns.domain_rows(session, snapshot)["category"]
    assert row.label is None and row.n == 6
