"""Conditional questions and the 差评 reasons in the results: page, xlsx, questions CSV and API.

The engine is checked against R in tests/analysis/test_conditional.py; here the wiring with the
weighting off (every weight 1), so each figure can be written down by hand: a respondent the
reasons question was not shown to is in no denominator of the first figure, counts as "not chosen"
in the second, and the reasons table divides by the respondents shown the question.
"""
from __future__ import annotations

import csv
import io
import math

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from survey.models import Response, ResponseStatus
from survey.services.accounts import api_tokens
from survey.services.results import snapshots
from tests.factories import answer_bad_reasons, window_with_bad_reasons
from tests.results.helpers import add_response

SATISFIED = [4, 5, 4, 4, 5]
# unit A: four satisfied (not shown), five gave reasons, one dissatisfied skipped the question
UNIT_A = [(SATISFIED, None)] * 4 + [
    ([2, 3, 3, 3, 3], ("attitude", "waiting")),
    ([1, 1, 2, 3, 3], ("waiting",)),
    ([3, 2, 3, 3, 3], ("efficiency", "waiting")),
    ([2, 2, 2, 2, 2], ("other",)),
    ([3, 3, 3, 3, 1], ("attitude", "waiting")),
    ([2, 4, 4, 4, 4], ()),
]
UNIT_B = [(SATISFIED, None)] * 6 + [([1, 3, 3, 3, 3], ("process",)), ([2, 2, 3, 3, 3], ("process", "facilities"))]


# a scored single choice shown only to those satisfied overall (Q1 ≥ 4): its 一次办成率 twice
TRIPS = {"code": "TR", "type": "single", "text": "办理这件事，您一共跑了几次？", "in_index": False, "required": False,
         "options": [{"code": "1", "label": "一次办成", "score": 100}, {"code": "2", "label": "两次", "score": 50},
                     {"code": "3", "label": "三次及以上", "score": 0}]}


def _build(session, make):
    from survey.models import Answer

    units = [make.unit(code="CK-A", name="不动产登记窗口"), make.unit(code="CK-B", name="社保窗口")]
    questionnaire = window_with_bad_reasons(make, [TRIPS])
    trips = next(q for q in questionnaire.questions if q.code == "TR")
    trips.show_if = {"any": [{"question": "Q1", "op": "ge", "value": 4}]}
    campaign = make.campaign(units=units, questionnaire=questionnaire, period="2026Q4")
    campaign.analysis_settings = {"method": "none", "min_n": 1, "min_n_eff": 1}
    groups = make.groups()
    for unit, people in zip(units, (UNIT_A, UNIT_B), strict=True):
        for k, (levels, reasons) in enumerate(people):
            response = add_response(session, campaign, {unit: levels}, groups["SM"])
            answer_bad_reasons(campaign, response, unit, reasons, "窗口人员玩手机" if reasons == ("other",) else None)
            if levels[0] >= 4:  # shown: one trip, except the second respondent of each unit
                option = trips.options[1 if k == 1 else 0]
                response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=trips.id,
                                               option_id=option.id, number=option.score))
            else:
                response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=trips.id,
                                               not_shown=True))
    # an excluded response is left out of every count
    response = add_response(session, campaign, {units[0]: [1] * 5}, groups["SM"], status=ResponseStatus.EXCLUDED)
    answer_bad_reasons(campaign, response, units[0], ("facilities",))
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    return campaign, units, snapshot


@pytest.fixture
def period(session, make, built_once):
    return built_once("bad reasons period", lambda: _build(session, make))


def _item(session, snapshot, unit, code="BR"):
    row = next(r for r in snapshots.rows_of(session, snapshot) if r.unit_id == unit.id)
    return next(it for it in row.detail["items"] if it["code"] == code)


def _ratio_se(y, x):
    """Unweighted SE of Σy / Σx over every respondent of the unit (a domain: svymean on subset)."""
    n, m = len(y), sum(x)
    p = sum(y) / m
    return p, math.sqrt(n / (n - 1) * sum(((a - p * b) / m) ** 2 for a, b in zip(y, x, strict=True)))


def test_reasons_are_estimated_among_those_shown_and_among_all(period, session):
    _campaign, units, snapshot = period
    it = _item(session, snapshot, units[0])
    categories = ["attitude", "efficiency", "process", "waiting", "facilities", "other"]
    assert it["categories"] == categories
    # 10 raters: 4 not shown, 6 shown of whom 5 answered (one skipped); the excluded response is out
    assert (it["n"], it["n_shown"], it["n_not_shown"]) == (5, 6, 4)
    assert it["counts"] == [2, 1, 0, 4, 0, 1]
    waiting = [0] * 4 + [1, 1, 1, 0, 1, 0]
    answered = [0] * 4 + [1] * 5 + [0]
    share, se = _ratio_se(waiting, answered)
    k = categories.index("waiting")
    assert it["shares"][k] == pytest.approx(4 / 5, rel=1e-12) == pytest.approx(share)
    assert it["shares_se"][k] == pytest.approx(se, rel=1e-9)
    # among all respondents: the not-shown count as not choosing it, the skipped one stays out
    every = [1] * 9 + [0]
    share_all, se_all = _ratio_se(waiting, every)
    assert it["all"]["n"] == 9
    assert it["all"]["shares"][k] == pytest.approx(4 / 9, rel=1e-12) == pytest.approx(share_all)
    assert it["all"]["shares_se"][k] == pytest.approx(se_all, rel=1e-9)
    assert snapshots.verify(session, snapshot, None).identical


def test_the_other_text_question_is_conditional_text(period, session):
    _campaign, units, snapshot = period
    other = _item(session, snapshot, units[0], "BRX")
    # shown only to the one who chose 其他: n shown 1, the nine others not shown
    assert (other["n"], other["n_shown"], other["n_not_shown"]) == (1, 1, 9)


def test_results_page_shows_both_figures_and_the_reasons_first_to_fix(period, client, auth):
    _campaign, _units, snapshot = period
    auth.login_as("analyst")
    html = client.get(f"/admin/results/snapshots/{snapshot.id}").get_data(as_text=True)
    section = html[html.index('id="question-BR"'):]
    assert "显示人数" in section and "全体" in section and "未显示" in section
    table = section[section.index('class="data bad-reasons"'):section.index("</table>", section.index('class="data bad-reasons"'))]
    row_a = table[table.index("不动产登记窗口"):table.index("</tr>", table.index("不动产登记窗口"))]
    # denominators: 6 shown (5 answered); most chosen first; reasons nobody chose are not listed
    assert "<td class=\"num\">6</td><td class=\"num\">5</td>" in row_a
    assert row_a.index("1. 等候时间 4（66.7%）") < row_a.index("2. 服务态度 2（33.3%）") < row_a.index("3. 办事效率 1（16.7%）")
    assert "4. 其他（请说明） 1（16.7%）" in row_a and "环境设施" not in row_a
    row_b = table[table.index("社保窗口"):]
    assert "1. 材料与流程 2（100.0%）" in row_b and "2. 环境设施 1（50.0%）" in row_b
    english = client.get(f"/admin/results/snapshots/{snapshot.id}?lang=en").get_data(as_text=True)
    assert "1. Waiting time 4" in english


def test_xlsx_has_a_reasons_sheet_with_the_shown_denominator(period, client, auth):
    _campaign, _units, snapshot = period
    auth.login_as("analyst")
    book = load_workbook(io.BytesIO(client.get(f"/admin/results/snapshots/{snapshot.id}/export.xlsx").data))
    sheet = book["差评原因"]
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    header = rows[0]
    assert header[:4] == ["单位代码", "单位名称", "被询问人数", "回答人数"]
    a_rows = [r for r in rows[1:] if r[0] == "CK-A"]
    assert [r[5] for r in a_rows] == ["waiting", "attitude", "efficiency", "other", "process", "facilities"]
    assert a_rows[0][2:5] == [6, 5, 1] and a_rows[0][7] == 4 and a_rows[0][8] == pytest.approx(4 / 6)
    assert [r[7] for r in rows[1:] if r[0] == "CK-B"][:2] == [2, 1]
    # the question's own sheet carries n shown, n not shown and the share among all respondents
    question_sheet = next(book[name] for name in book.sheetnames if name.startswith("BR "))
    head = [c.value for c in question_sheet[1]]
    a = next([c.value for c in r] for r in question_sheet.iter_rows(min_row=2) if r[0].value == "CK-A")
    assert a[head.index("显示人数")] == 6 and a[head.index("未显示人数")] == 4
    assert a[head.index("全体：等候时间（比例）")] == pytest.approx(4 / 9)
    trips_sheet = next(book[name] for name in book.sheetnames if name.startswith("TR "))
    head = [c.value for c in trips_sheet[1]]
    a = next([c.value for c in r] for r in trips_sheet.iter_rows(min_row=2) if r[0].value == "CK-A")
    assert a[head.index("一次办成率")] == pytest.approx(3 / 4) and a[head.index("全体：一次办成率")] == pytest.approx(3 / 10)


def test_questions_csv_labels_not_shown_and_counts_reasons(period, client, auth):
    _campaign, _units, snapshot = period
    auth.login_as("analyst")
    text = client.get(f"/admin/results/snapshots/{snapshot.id}/questions.csv").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    by = {(r[0], r[2], r[6], r[7]): r for r in rows[1:]}
    not_shown = by[("CK-A", "BR", "n_not_shown", "")]
    assert not_shown[5] == "未显示人数" and float(not_shown[10]) == 4
    reason = by[("CK-A", "BR", "reason_count", "waiting")]
    assert float(reason[9]) == 6 and float(reason[10]) == 4  # n = the 6 shown, count 4
    assert float(by[("CK-A", "BR", "reason_share", "waiting")][10]) == pytest.approx(4 / 6)
    assert float(by[("CK-A", "BR", "share_all", "waiting")][10]) == pytest.approx(4 / 9)
    # the scored question shown to the 4 satisfied of unit A (one took two trips): 3/4, and 3/10 of all
    assert float(by[("CK-A", "TR", "top_share", "1")][10]) == pytest.approx(3 / 4)
    top_all = by[("CK-A", "TR", "top_share_all", "1")]
    assert top_all[8] == "一次办成" and float(top_all[9]) == 10 and float(top_all[10]) == pytest.approx(3 / 10)
    pooled = by[("", "TR", "top_share_all", "1")]
    assert float(pooled[9]) == 18 and float(pooled[10]) == pytest.approx((3 + 5) / 18)


def test_api_gives_reasons_with_their_denominator(period, client, session):
    _campaign, _units, snapshot = period
    snapshots.publish(session, snapshot, None)
    _token, plaintext = api_tokens.create(session, None, "绩效")
    session.commit()
    payload = client.get(f"/api/v1/snapshots/{snapshot.id}", headers={"Authorization": f"Bearer {plaintext}"}).get_json()
    question = next(q for q in payload["questions"] if q["code"] == "BR")
    assert question["conditional"] is True and question["role"] == "bad_reasons"
    unit = next(u for u in payload["units"] if u["unit_code"] == "CK-A")
    entry = next(q for q in unit["questions"] if q["code"] == "BR")
    assert (entry["n_shown"], entry["n_not_shown"], entry["all"]["n"]) == (6, 4, 9)
    assert entry["reasons"][0] == {"code": "waiting", "count": 4, "share": pytest.approx(4 / 6)}
    assert [r["code"] for r in entry["reasons"]][:4] == ["waiting", "attitude", "efficiency", "other"]
    assert question["overall"]["reasons"][0]["code"] == "waiting" and question["overall"]["n_shown"] == 8


def test_unit_contact_sees_only_their_units_reasons(period, client, auth, session):
    _campaign, units, snapshot = period
    snapshots.publish(session, snapshot, None)
    session.commit()
    auth.login_as("unit", unit=units[0])
    html = client.get(f"/admin/results/snapshots/{snapshot.id}/units/{units[0].id}").get_data(as_text=True)
    assert "1. 等候时间 4（66.7%）" in html and "材料与流程 2" not in html
    assert client.get(f"/admin/results/snapshots/{snapshot.id}/units/{units[1].id}").status_code == 404
    assert client.get(f"/admin/results/snapshots/{snapshot.id}/export.xlsx").status_code in (302, 403)


def test_response_browser_labels_not_shown_answers(period, client, auth, session):
    campaign, units, _snapshot = period
    auth.login_as("analyst")
    text = client.get(f"/admin/campaigns/{campaign.id}/responses/export.csv?unit={units[0].id}"
                      ).get_data().decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    words = next(i for i, h in enumerate(table[0]) if h.startswith("BR "))
    rows = table[1:]
    # four satisfied respondents were not shown the question: labelled, neither 不了解 nor blank
    assert [r[words] for r in rows[:4]] == ["未显示"] * 4 and [r[words + 1] for r in rows[:4]] == ["not_shown"] * 4
    assert rows[9][words] == ""  # the one who skipped it
    first = session.scalar(select(Response.id).where(Response.campaign_id == campaign.id).order_by(Response.id))
    html = client.get(f"/admin/responses/{first}").get_data(as_text=True)
    assert "未显示" in html and "not_shown" in html


def test_an_answer_wins_over_a_stray_not_shown_row(session, make):
    from survey.models import Answer

    unit = make.unit(code="CK-C", name="公积金窗口")
    campaign = make.campaign(units=[unit], questionnaire=window_with_bad_reasons(make), period="2026Q4")
    campaign.analysis_settings = {"method": "none", "min_n": 1, "min_n_eff": 1}
    groups = make.groups()
    for levels, reasons in [([1, 3, 3, 3, 3], ("waiting",)), ([2, 3, 3, 3, 3], ("attitude",)), (SATISFIED, None)]:
        response = add_response(session, campaign, {unit: levels}, groups["SM"])
        answer_bad_reasons(campaign, response, unit, reasons)
    reasons_q = next(q for q in campaign.questionnaire.questions if q.code == "BR")
    response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=reasons_q.id,
                                   option_id=reasons_q.options[0].id))  # the not-shown respondent also "answered"
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    it = _item(session, snapshot, unit)
    assert (it["n"], it["n_not_shown"], it["counts"][0]) == (3, 0, 2)
