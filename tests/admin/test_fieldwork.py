"""The fieldwork monitor: targets (responses or ±half-width) with per-unit overrides and group quotas,
validated and audited; progress per unit from one aggregated query (values checked by hand); units
furthest behind first; on the campaign page, the overview and as xlsx; unit contacts see only their
units and never a draft campaign."""
from __future__ import annotations

import io
import math

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select

from survey.extensions import db
from survey.models import AuditLog, CampaignStatus, FieldworkQuota, FieldworkTarget, ResponseStatus, TargetKind
from survey.services.campaigns import fieldwork
from tests.factories import csrf_from
from tests.results.helpers import add_response


def _score(levels):
    return sum((lv - 1) * 25 for lv in levels) / len(levels)


def _srs(scores):
    n = len(scores)
    mean = sum(scores) / n
    var = sum((s - mean) ** 2 for s in scores) / (n - 1)
    return mean, 1.96 * math.sqrt(var / n)


@pytest.fixture
def two_units(make):
    groups = make.groups()
    a = make.unit(code="A", name="人社局")
    b = make.unit(code="B", name="=HYPERLINK(1)")
    campaign = make.campaign(units=[a, b])
    return campaign, a, b, groups


def test_aggregate_gives_counts_means_and_srs_half_width(session, two_units):
    campaign, a, b, _groups = two_units
    patterns = [[5, 5, 5, 4], [4, 4, 3, 4], [5, 4, 4, 4], [2, 3, 3, 2], [5, 5, 4, 5]]
    n_q = len([q for q in campaign.questionnaire.questions if q.type.value == "satisfaction" and q.in_index])
    patterns = [(p * 3)[:n_q] for p in patterns]
    for levels in patterns:
        add_response(session, campaign, {a: levels}, None)
    add_response(session, campaign, {a: ["dk"] * n_q}, None)  # counts as a response, has no score
    add_response(session, campaign, {a: [1] * n_q}, None, status=ResponseStatus.EXCLUDED)  # never counts
    add_response(session, campaign, {b: [3] * n_q}, None, status=ResponseStatus.FLAGGED)
    session.commit()

    assert fieldwork.refresh_scores(session, campaign) == 8  # responses tallied
    session.commit()
    assert fieldwork.refresh_scores(session, campaign) == 0  # nothing new: nothing written
    assert campaign.questionnaire.questions  # loaded before counting statements
    statements = []
    listener = lambda *args: statements.append(args[2])
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        cells = fieldwork.aggregate(session, campaign)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(statements) == 1 and "GROUP BY" in statements[0].upper()
    cell = cells[(a.id, None)]
    scores = [_score(p) for p in patterns]
    assert (cell.n, cell.scored) == (6, 5)
    assert cell.total == pytest.approx(sum(scores))
    assert cells[(b.id, None)].n == 1

    result = fieldwork.monitor(session, campaign)
    row = next(r for r in result.rows if r.unit_id == a.id)
    mean, hw = _srs(scores)
    assert row.mean == pytest.approx(mean)
    assert row.half_width == pytest.approx(hw)
    assert row.target is None and row.more == 0


def test_half_width_stratified_by_group_shares():
    share = {1: 0.75, 2: 0.25}
    g1 = [50.0, 75.0, 100.0, 75.0]
    g2 = [0.0, 25.0, 50.0]

    def cell(values):
        return fieldwork.Cell(len(values), len(values), sum(values), sum(v * v for v in values))

    def var(values):
        m = sum(values) / len(values)
        return sum((v - m) ** 2 for v in values) / (len(values) - 1)

    mean, hw = fieldwork.half_width({1: cell(g1), 2: cell(g2)}, share)
    assert mean == pytest.approx(0.75 * 75 + 0.25 * 25)
    assert hw == pytest.approx(1.96 * math.sqrt(0.75 ** 2 * var(g1) / 4 + 0.25 ** 2 * var(g2) / 3))
    # a response without a group: one simple random sample
    mean, hw = fieldwork.half_width({1: cell(g1), None: cell(g2)}, share)
    assert mean == pytest.approx(sum(g1 + g2) / 7)
    assert fieldwork.half_width({}, share) == (None, None)


def test_needed_responses_for_targets_quotas_and_order(session, two_units):
    campaign, a, b, groups = two_units
    n_q = len([q for q in campaign.questionnaire.questions if q.type.value == "satisfaction" and q.in_index])
    for i in range(10):
        add_response(session, campaign, {a: [5 if i % 2 else 3] * n_q}, groups["SM"])
    for _i in range(2):
        add_response(session, campaign, {b: [4] * n_q}, groups["QY"])
    fieldwork.store_targets(session, campaign, fieldwork.Targets(
        fieldwork.Target(TargetKind.RESPONSES, 30), {a.id: fieldwork.Target(TargetKind.HALF_WIDTH, 5)},
        {groups["QY"].id: 5}))
    session.commit()
    result = fieldwork.monitor(session, campaign)
    assert [r.unit_id for r in result.rows] == [b.id, a.id]  # b is furthest behind
    row_b, row_a = result.rows
    assert row_b.needed == 30 and row_b.more == 28 and row_b.percent == 6
    assert [(g.group.code, g.n, g.more) for g in row_b.groups] == [("QY", 2, 3)]
    # a: 10 scores 50/100 alternating, sd = 52.70…, half-width 32.67 → about n·(32.67/5)² responses
    _mean, hw = _srs([50.0, 100.0] * 5)
    assert row_a.half_width == pytest.approx(hw)
    assert row_a.needed == math.ceil(10 * (hw / 5) ** 2)
    assert row_a.more == max(row_a.needed - 10, 5)  # the QY quota lacks 5 too
    _headers, rows = fieldwork.export_rows(result)
    assert rows[0][:4] == ["B", "=HYPERLINK(1)", campaign.campaign_units[1].short_code, 2]


@pytest.mark.parametrize(("kind", "value", "message"), [
    ("responses", "abc", "目标应为数字"),
    ("responses", "2.5", "整数"),
    ("responses", "0", "整数"),
    ("half_width", "0.1", "区间半宽应在"),
    ("half_width", "80", "区间半宽应在"),
    ("bogus", "5", "请选择目标类型"),
])
def test_target_validation_messages(kind, value, message):
    with pytest.raises(ValueError, match=message):
        fieldwork.parse_target(kind, value)


def test_targets_page_saves_validates_and_audits(client, auth, session, two_units):
    campaign, a, b, groups = two_units
    auth.login_as("analyst")
    url = f"/admin/campaigns/{campaign.id}/targets"
    page = client.get(url)
    assert page.status_code == 200
    token = csrf_from(page)
    bad = client.post(url, data={"csrf_token": token, "default_kind": "responses", "default_value": "-3",
                                 f"kind-{a.id}": "half_width", f"value-{a.id}": "99",
                                 f"quota-{groups['QY'].id}": "x"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "答卷数目标应为 1 到" in text and "人社局：区间半宽应在" in text and "配额应为 0 到" in text
    assert session.scalar(select(FieldworkTarget)) is None
    good = client.post(url, data={"csrf_token": token, "default_kind": "responses", "default_value": "30",
                                  f"kind-{a.id}": "half_width", f"value-{a.id}": "±5",
                                  f"kind-{b.id}": "responses", f"value-{b.id}": "",
                                  f"quota-{groups['QY'].id}": "5", f"quota-{groups['SM'].id}": "0"})
    assert good.status_code == 302
    session.expire_all()
    targets = fieldwork.load_targets(session, campaign)
    assert targets.default == fieldwork.Target(TargetKind.RESPONSES, 30)
    assert targets.units == {a.id: fieldwork.Target(TargetKind.HALF_WIDTH, 5)}
    assert targets.quotas == {groups["QY"].id: 5}
    audit = session.scalar(select(AuditLog).where(AuditLog.action == "campaign.targets"))
    assert audit.detail["after"]["default"] == ["responses", 30.0]
    detail = client.get(f"/admin/campaigns/{campaign.id}").get_data(as_text=True)
    assert "采集进度" in detail and "<progress" in detail and "企业代表 配额" in detail


def test_xlsx_for_analyst_neutralises_cells(client, auth, session, two_units):
    campaign, _a, _b, _groups = two_units
    fieldwork.store_targets(session, campaign, fieldwork.Targets(fieldwork.Target(TargetKind.RESPONSES, 10)))
    session.commit()
    auth.login_as("analyst")
    response = client.get(f"/admin/campaigns/{campaign.id}/fieldwork.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:4] == ["单位代码", "单位", "短码", "答卷"]
    names = {row[1] for row in values[1:]}
    assert names == {"人社局", "'=HYPERLINK(1)"}
    assert all(row[6] == 10 for row in values[1:])


def test_unit_contact_sees_only_own_units_and_never_drafts(client, auth, session, make, two_units):
    campaign, a, b, _groups = two_units
    draft = make.campaign(units=[a], status=CampaignStatus.DRAFT, title="草稿评议")
    other = make.campaign(units=[b], title="别的评议")
    n_q = len([q for q in campaign.questionnaire.questions if q.type.value == "satisfaction" and q.in_index])
    add_response(session, campaign, {b: [5] * n_q}, None)
    session.commit()
    auth.login_as("unit", unit=a)
    home = client.get("/admin/").get_data(as_text=True)
    assert "采集进度" in home and "人社局" in home
    assert "HYPERLINK" not in home and "草稿评议" not in home and "别的评议" not in home
    assert client.get(f"/admin/campaigns/{campaign.id}/fieldwork.xlsx").status_code == 200
    sheet = load_workbook(io.BytesIO(client.get(f"/admin/campaigns/{campaign.id}/fieldwork.xlsx").data)).active
    assert [row[0].value for row in sheet.iter_rows()][1:] == ["A"]
    assert client.get(f"/admin/campaigns/{draft.id}/fieldwork.xlsx").status_code == 404
    assert client.get(f"/admin/campaigns/{other.id}/fieldwork.xlsx").status_code == 404
    assert client.get(f"/admin/campaigns/{campaign.id}/targets").status_code in (403, 404)


def test_overview_lists_units_furthest_behind(client, auth, session, two_units):
    campaign, a, _b, _groups = two_units
    fieldwork.store_targets(session, campaign, fieldwork.Targets(fieldwork.Target(TargetKind.RESPONSES, 3)))
    n_q = len([q for q in campaign.questionnaire.questions if q.type.value == "satisfaction" and q.in_index])
    for _i in range(3):
        add_response(session, campaign, {a: [5] * n_q}, None)
    session.commit()
    auth.login_as("analyst")
    home = client.get("/admin/").get_data(as_text=True)
    assert "1 个单位尚未达到目标" in home
    assert home.index("=HYPERLINK(1)") < home.index("人社局", home.index("采集进度"))


def test_quota_rows_deleted_with_campaign_targets_replaced(session, two_units):
    campaign, _a, _b, groups = two_units
    fieldwork.save_targets(session, None, campaign, fieldwork.Targets(None, {}, {groups["QY"].id: 4}))
    fieldwork.save_targets(session, None, campaign, fieldwork.Targets(None, {}, {groups["SM"].id: 2}))
    session.commit()
    assert [(q.group_id, q.minimum) for q in session.scalars(select(FieldworkQuota))] == [(groups["SM"].id, 2)]


def test_questionnaire_without_index_questions_still_counts_responses(session, make):
    from survey.models import Answer, QuestionType, Response

    make.groups()
    unit = make.unit()
    questionnaire = make.questionnaire()
    for question in questionnaire.questions:
        if question.type == QuestionType.SATISFACTION:
            question.in_index = False
    campaign = make.campaign(units=[unit], questionnaire=questionnaire)
    choice = next(q for q in questionnaire.questions if q.type == QuestionType.SINGLE)
    for i in range(3):
        response = Response(campaign_id=campaign.id, questionnaire_id=questionnaire.id, unit_id=unit.id,
                            channel="poster", submission_id=f"noidx-{i}")
        response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=choice.id,
                                       option_id=choice.options[0].id))
        session.add(response)
    session.commit()
    row = fieldwork.monitor(session, campaign).rows[0]
    assert (row.n, row.mean, row.half_width) == (3, None, None)


def test_without_targets_no_progress_and_fewest_responses_first(session, two_units):
    campaign, a, b, _groups = two_units
    n_q = len([q for q in campaign.questionnaire.questions if q.type.value == "satisfaction" and q.in_index])
    add_response(session, campaign, {a: [4] * n_q}, None)
    session.commit()
    rows = fieldwork.monitor(session, campaign).rows
    assert [(r.unit_id, r.percent, r.more) for r in rows] == [(b.id, None, 0), (a.id, None, 0)]
