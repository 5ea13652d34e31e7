"""Control characters and lone surrogates in what people upload or type: a clear message, nothing written.

PostgreSQL cannot store NUL in text (a 500 before this was fixed); UTF-8 cannot encode a lone surrogate
(a ``"\\ud800"`` escape in JSON); PostgreSQL's JSON has no NaN. Every path below once failed on one of
them. Each test runs on SQLite and, with ``TEST_DATABASE_URL``, on PostgreSQL.
"""
from __future__ import annotations

import copy
import csv
import io
import json
import re

import pytest
from sqlalchemy import func, select

from survey.core.errors import DomainError
from survey.core.validation import clean_code, clean_text, is_code, strip_control
from survey.models import AuditLog, Channel, Holiday, Invitation, LeaderRating, Question, Questionnaire, Unit
from survey.services.accounts import api_tokens
from survey.services.questionnaires import serialise
from survey.services.questionnaires.builtin import WINDOW_SERVICE
from survey.services.results import api_payloads, leader_ratings
from tests.factories import csrf_from

NUL_MESSAGE = "含有控制字符或无效字符（U+0000）"


def counts(session, *models) -> dict[str, int]:
    """Rows per table (the audit trail included: a refusal records nothing either)."""
    session.expire_all()
    found = {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in (*models, AuditLog)}
    session.rollback()
    return found


def csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8")


def post_file(client, url: str, token: str, data: bytes, filename: str):
    """A multipart upload as a browser sends it (the test client's encoder would not carry a NUL in a file name)."""
    boundary = "----PingyiControlCharacters"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


# --- the shared validators ---------------------------------------------------------------------------

def test_validators_refuse_control_characters_and_lone_surrogates(app):
    with pytest.raises(ValueError, match="名称含有控制字符或无效字符（U\\+0000）"):
        clean_text("名\x00称", "名称", limit=200)
    with pytest.raises(ValueError, match="备注含有控制字符或无效字符（U\\+001B）"):
        clean_text("\x1b[31m红", "备注", limit=200)
    with pytest.raises(ValueError, match="名称含有控制字符或无效字符（U\\+D800）"):
        clean_text("\ud800名称", "名称", limit=200)
    assert clean_text(" 第一行\r\n第二行\t完 ", "备注", limit=200) == "第一行\r\n第二行\t完"  # a note runs over lines
    with pytest.raises(ValueError, match="代码含有控制字符或无效字符（U\\+0000）"):
        clean_code("D1\x00", "代码")
    assert clean_code(" D1 ", "代码") == "D1"
    assert strip_control("a\x00b\r\n\x7f\ud800.csv") == "ab.csv" and strip_control(None) is None
    assert is_code("D1") and not any(is_code(c) for c in ("D1\x00", "D1\n", "D 1", "", "x" * 33, "\ud800"))


# --- the unit list ---------------------------------------------------------------------------------

def test_unit_import_refuses_nul_in_a_cell(client, auth, session, make):
    make.unit(code="ROOT", name="市政府")
    make.commit()
    auth.login_as("analyst")
    before = counts(session, Unit)
    token = csrf_from(client.get("/admin/units/import"))
    rows = [["代码", "名称", "类别", "备注"], ["U1", "名\x00称", "", ""], ["U2", "单位二", "政府\x00口", ""],
            ["U3", "单位三", "", "第一行\n第二行"]]
    uploaded = post_file(client, "/admin/units/import", token, csv_bytes(rows), "units.csv")
    assert uploaded.status_code == 302
    preview = client.get(uploaded.headers["Location"])
    html = preview.get_data(as_text=True)
    assert "名称" + NUL_MESSAGE in html and "类别" + NUL_MESSAGE in html
    assert ">确认导入</button>" not in html
    refused = client.post(uploaded.headers["Location"], data={"csrf_token": csrf_from(preview)})
    assert refused.status_code == 409 and "文件中出现了错误" in refused.get_data(as_text=True)
    assert counts(session, Unit) == before


def test_unit_import_file_name_with_nul_is_recorded_without_it(client, auth, session):
    auth.login_as("analyst")
    token = csrf_from(client.get("/admin/units/import"))
    uploaded = post_file(client, "/admin/units/import", token, csv_bytes([["代码", "名称"], ["U1", "单位一"]]),
                         "a\x00b.csv")
    assert uploaded.status_code == 302
    preview = client.get(uploaded.headers["Location"])
    done = client.post(uploaded.headers["Location"], data={"csrf_token": csrf_from(preview)})
    assert done.status_code == 302
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "unit.import"))
    assert entry.summary.startswith("导入单位表 ab.csv：新建 1") and entry.detail["filename"] == "ab.csv"
    assert session.scalar(select(Unit.name).where(Unit.code == "U1")) == "单位一"


# --- invitation lists --------------------------------------------------------------------------------

def test_invitation_label_with_nul_is_refused(client, auth, session, make):
    units = [make.unit(name="市教育局")]
    campaign = make.campaign(units=units, questionnaire=make.questionnaire(kind="appraisal"),
                             channels=[Channel.WEB.value, Channel.INVITATION.value])
    make.groups()
    make.commit()
    auth.login_as("analyst")
    before = counts(session, Invitation)
    base = f"/admin/distribution/{campaign.id}/invitations"
    token = csrf_from(client.get(base))
    shown = post_file(client, base + "/preview", token, csv_bytes([["姓名或编号", "样本类别"], ["张\x00三", "QY"]]),
                      "名单.csv")
    html = shown.get_data(as_text=True)
    assert shown.status_code == 422 and "姓名或编号" + NUL_MESSAGE in html
    assert 'name="staged"' not in html
    assert counts(session, Invitation) == before


# --- leader ratings ----------------------------------------------------------------------------------

@pytest.fixture
def period(make):
    units = [make.unit(code=f"D{i}", name=f"第{i}局") for i in (1, 2)]
    make.campaign(units=units, period="2026Q4")
    make.commit()
    return {u.code: u.id for u in units}


def test_leader_ratings_source_with_nul_is_refused(client, auth, session, period):
    auth.login_as("analyst")
    before = counts(session, LeaderRating)
    url = "/admin/results/leader/2026Q4"
    token = csrf_from(client.get(url))
    rows = [["单位代码", "领导评价得分", "来源"], ["D1", "90", "市委\x00考核办"], ["D2", "80", ""]]
    shown = post_file(client, url + "/import", token, csv_bytes(rows), "leader.csv")
    html = shown.get_data(as_text=True)
    assert shown.status_code == 422 and "来源" + NUL_MESSAGE in html and 'name="token"' not in html
    assert counts(session, LeaderRating) == before
    # nor can a confirmation bring one (its token is signed, but the service checks what it writes)
    with pytest.raises(DomainError, match=re.escape("来源" + NUL_MESSAGE)):
        leader_ratings.apply_import(session, None, "2026Q4", [(period["D1"], 90.0)], "市委\x00考核办")
    session.rollback()
    assert counts(session, LeaderRating) == before


# --- questionnaire JSON ------------------------------------------------------------------------------

def _template(**changes) -> bytes:
    """The window-service template as a file, with fields changed (question 1's fields as ``q1_<field>``)."""
    data = copy.deepcopy(WINDOW_SERVICE)
    for key, value in changes.items():
        if key.startswith("q1_"):
            data["questions"][0][key[3:]] = value
        else:
            data[key] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(("body", "message"), [
    (_template(title="问\x00卷"), "title：应为文字，不能含有控制字符或无效字符（U+0000）"),
    (_template(q1_text="整体\x00满意度"), "第 1 题 text：应为文字，不能含有控制字符或无效字符（U+0000）"),
    (_template(title="\ud800问卷"), "title：应为文字，不能含有控制字符或无效字符（U+D800）"),
    (_template(q1_settings={"x\udfff": 1}), "第 1 题 settings：应为文字，不能含有控制字符或无效字符（U+DFFF）"),
    (_template(q1_weight=10**400), "第 1 题（Q1）：应为有限的数字"),
    (_template(level_scores=[0, 25, 50, 75, 10**400]), "等级分值应为有限的数字"),
    (b"1" * 5000, "不是有效的 JSON：其中的数字位数太多"),
    (_template(q1_settings={"x": float("nan")}), "不是有效的 JSON：NaN 不是有限的数字"),
    (_template(q1_settings={"x": [1, float("-inf")]}), "不是有效的 JSON：-Infinity 不是有限的数字"),
    (b'{"format": "pingyi-questionnaire", "format_version": 1e999}', "不是有效的 JSON：1e999 不是有限的数字"),
], ids=["nul-title", "nul-question", "surrogate-title", "surrogate-key", "huge-weight", "huge-level-score",
        "5000-digits", "nan-in-settings", "infinity-in-settings", "1e999"])
def test_questionnaire_import_refuses_what_cannot_be_stored(client, auth, session, make, body, message):
    make.groups()
    make.commit()
    auth.login_as("analyst")
    before = counts(session, Questionnaire, Question)
    token = csrf_from(client.get("/admin/questionnaires/"))
    response = post_file(client, "/admin/questionnaires/import", token, body, "q.json")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert counts(session, Questionnaire, Question) == before


def test_questionnaire_import_keeps_tabs_and_line_ends_and_strips_the_file_name(client, auth, session, make):
    make.groups()
    make.commit()
    auth.login_as("analyst")
    token = csrf_from(client.get("/admin/questionnaires/"))
    response = post_file(client, "/admin/questionnaires/import", token, _template(intro="第一段\n\t第二段"),
                         "q\x00.json")
    assert response.status_code == 302
    made = session.scalar(select(Questionnaire))
    assert made.intro == "第一段\n\t第二段"
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "questionnaire.import"))
    assert entry.detail["filename"] == "q.json"


def test_questionnaire_editor_names_the_field(app):
    with pytest.raises(serialise.QuestionnaireError,
                       match="问卷标题：应为文字，不能含有控制字符或无效字符（U\\+0007）"):
        serialise.questionnaire_fields({"kind": "service", "title": "问卷\x07"})


# --- the working-day calendar --------------------------------------------------------------------------

def test_calendar_name_with_nul_is_refused(client, auth, session):
    auth.login_as("analyst")
    before = counts(session, Holiday)
    token = csrf_from(client.get("/admin/calendar/import"))
    checked = client.post("/admin/calendar/import", data={"csrf_token": token, "text": "2026-10-02,holiday,国庆\x00节\n"})
    html = checked.get_data(as_text=True)
    assert checked.status_code == 422 and "名称" + NUL_MESSAGE in html and "确认导入" not in html
    forced = client.post("/admin/calendar/import", data={"csrf_token": token, "confirm": "1",
                                                         "text": "2026-10-02,holiday,国庆\x00节\n"})
    assert forced.status_code == 422
    token = csrf_from(client.get("/admin/calendar/"))
    one_day = client.post("/admin/calendar/day", data={"csrf_token": token, "day": "2026-10-02", "kind": "holiday",
                                                       "name": "国庆\x00节"})
    assert one_day.status_code == 422 and "名称" + NUL_MESSAGE in one_day.get_data(as_text=True)
    assert counts(session, Holiday) == before


# --- the JSON API ------------------------------------------------------------------------------------

def test_api_code_with_nul_is_a_clean_json_error(client, session, make):
    make.unit(code="D1", name="第1局")
    _token, plaintext = api_tokens.create(session, None, "绩效管理系统")
    session.commit()
    bearer = {"Authorization": f"Bearer {plaintext}"}
    for url, status, message in [("/api/v1/periods/2026Q4/units/D1%00", 400, "单位代码格式无效"),
                                 ("/api/v1/periods/2026Q4/units/D1%0A", 400, "单位代码格式无效"),
                                 ("/api/v1/snapshots?campaign=AB%00", 404, "没有代码为")]:
        response = client.get(url, headers=bearer)
        assert response.status_code == status and response.is_json, url
        assert message in response.get_json()["message"]
    assert api_payloads.unit_in_period(session, "2026Q4", "D1\x00") is None


@pytest.mark.parametrize("url, status", [
    ("/i/ab%00cd", 404),  # an invitation code
    ("/s/AB%00CD", 404),  # a poster code
    ("/admin/audit/?action=%00", 400),
    ("/admin/audit/?object_type=x%00&object_id=1", 400),
    ("/admin/cases/?period=%00", 400),
    ("/admin/cases/?q=%00", 400),
    ("/admin/units/?x%00=1", 400),
])
def test_nul_anywhere_in_a_url_is_a_clean_refusal(client, auth, session, url, status):
    auth.login_as("analyst")
    before = session.scalar(select(func.count()).select_from(AuditLog))
    response = client.get(url)
    assert response.status_code == status
    assert "服务器出现问题" not in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(AuditLog)) == before

