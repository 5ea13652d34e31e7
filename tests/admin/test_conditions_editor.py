"""Display conditions in the questionnaire editor and the JSON import/export: only backwards, known
questions and options, an op that fits the question, a value in range; refusals name the question
and change nothing."""
from __future__ import annotations

import copy
import io
import json

import pytest
from sqlalchemy import func, select

from survey.models import Question, Questionnaire
from survey.services.questionnaires import serialise
from survey.services.questionnaires.builtin import WINDOW_SERVICE
from tests.admin.test_setup_questionnaires import _edit, _question_form
from tests.factories import csrf_from


def _token(client) -> str:
    return csrf_from(client.get("/admin/questionnaires/"))


def _import(client, payload: dict):
    data = json.dumps(payload, ensure_ascii=False).encode()
    return client.post("/admin/questionnaires/import", data={
        "csrf_token": _token(client), "file": (io.BytesIO(data), "q.json")}, content_type="multipart/form-data")


def _window(**conds_by_code) -> dict:
    data = copy.deepcopy(WINDOW_SERVICE)
    for question in data["questions"]:
        if question["code"] in conds_by_code:
            question["show_if"] = conds_by_code[question["code"]]
    return data


def _any(*conds) -> dict:
    return {"any": [{"question": q, "op": op, "value": v} for q, op, v in conds]}


@pytest.mark.parametrize("payload, message", [
    (_window(Q2=_any(("Q6", "le", 2))), "Q2 的显示条件引用了后面的题目 Q6"),
    (_window(Q3=_any(("Q3", "le", 2))), "Q3 的显示条件引用了它自己（循环）"),
    (_window(Q6=_any(("Q99", "le", 2))), "Q6 的显示条件引用了不存在的题目 Q99"),
    (_window(Q6=_any(("Q1", "chosen", "1"))), "题目 Q1 的条件只能是 le / ge"),
    (_window(Q6=_any(("Q1", "le", 6))), "满意度等级应为 1（非常不满意）到 5（非常满意）之间的整数"),
    (_window(Q6=_any(("Q1", "le", "2"))), "满意度等级应为 1"),
    (_window(Q8=_any(("Q6", "chosen", "9"))), "题目 Q6 没有代码为 9 的选项"),
    (_window(Q8=_any(("Q6", "ge", 1))), "题目 Q6 的条件只能是 chosen / not_chosen"),
    (_window(Q7=_any(("Q1", "le", 2))), "Q7 是身份题，不能设置显示条件"),
    (_window(Q8=_any(("Q10", "chosen", "x"))), "不能引用文字题 Q10"),
    (_window(Q8={"all": []}), "Q8 的显示条件：应为"),
])
def test_bad_conditions_in_an_import_are_named_and_nothing_is_stored(client, auth, make, session, payload, message):
    make.groups()
    make.commit()
    auth.login_as("analyst")
    before = session.scalar(select(func.count(Questionnaire.id)))
    response = _import(client, payload)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count(Questionnaire.id))) == before


def test_export_and_import_round_trip_conditions_and_the_reasons_role(client, auth, make, session):
    q = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    exported = json.loads(client.get(f"/admin/questionnaires/{q.id}/export.json").get_data(as_text=True))
    by_code = {x["code"]: x for x in exported["questions"]}
    assert by_code["Q9"]["settings"] == {"role": "bad_reasons"}
    assert by_code["Q9"]["show_if"] == _any(*[(f"Q{n}", "le", 2) for n in range(1, 6)])
    assert by_code["Q10"]["show_if"] == _any(("Q9", "chosen", "other"))
    assert by_code["Q1"]["show_if"] is None
    reply = _import(client, exported)
    assert reply.status_code == 302
    session.expire_all()
    copy_ = session.scalar(select(Questionnaire).order_by(Questionnaire.id.desc()))
    assert serialise.questionnaire_to_dict(copy_, serialise.group_codes(session))["questions"] == exported["questions"]


def _q(questionnaire: Questionnaire, code: str) -> Question:
    return next(x for x in questionnaire.questions if x.code == code)


def test_a_question_others_depend_on_cannot_be_deleted_or_moved_behind_them(client, auth, make, session):
    q = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    page = f"/admin/questionnaires/{q.id}"
    reasons, other = _q(q, "Q9"), _q(q, "Q10")
    client.post(f"{page}/questions/{reasons.id}/delete", data={"csrf_token": csrf_from(client.get(page))})
    html = client.get(page).get_data(as_text=True)
    assert "不能删除 Q9：Q10 的显示条件引用了它" in html
    client.post(f"{page}/questions/{other.id}/move", data={"csrf_token": csrf_from(client.get(page)), "value": "up"})
    assert "不能这样移动 Q10：Q10 的显示条件引用了 Q9" in client.get(page).get_data(as_text=True)
    client.post(f"{page}/questions/{reasons.id}/move", data={"csrf_token": csrf_from(client.get(page)), "value": "up"})
    assert "不能这样移动 Q9" not in client.get(page).get_data(as_text=True)  # Q7 has no part in it: moved
    session.expire_all()
    q = session.get(Questionnaire, q.id)
    assert [x.code for x in q.questions] == ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q9", "Q7", "Q10", "Q8"]


def test_conditions_are_set_and_cleared_with_rows_in_the_edit_form(client, auth, make, session):
    q = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    comment = _q(q, "Q8")
    url = f"/admin/questionnaires/{q.id}/questions/{comment.id}"
    html = client.get(url).get_data(as_text=True)
    assert 'name="cond-0-question"' in html and "任一" in html and "Q6 办理这件事" in html
    form = _question_form(session, comment, cond_count="3", **{
        "cond-0-question": "Q6", "cond-0-op": "not_chosen", "cond-0-value": "1",
        "cond-1-question": "Q3", "cond-1-op": "le", "cond-1-value": "2",
        "cond-2-question": "", "cond-2-op": "le", "cond-2-value": ""})
    assert _edit(client, comment, form).status_code == 302
    session.expire_all()
    assert session.get(Question, comment.id).show_if == _any(("Q6", "not_chosen", "1"), ("Q3", "le", 2))
    assert _edit(client, comment, _question_form(session, comment, cond_count="0")).status_code == 302
    session.expire_all()
    assert session.get(Question, comment.id).show_if is None


@pytest.mark.parametrize("row, message", [
    ({"cond-0-question": "Q6", "cond-0-op": "le", "cond-0-value": "2"}, "题目 Q6 的条件只能是 chosen / not_chosen"),
    ({"cond-0-question": "Q1", "cond-0-op": "le", "cond-0-value": "9"}, "满意度等级应为 1"),
    ({"cond-0-question": "Q6", "cond-0-op": "chosen", "cond-0-value": "7"}, "题目 Q6 没有代码为 7 的选项"),
    ({"cond-0-question": "Q10", "cond-0-op": "chosen", "cond-0-value": "x"}, "Q8 的显示条件不能引用文字题 Q10"),
    ({"cond-0-question": "", "cond-0-op": "le", "cond-0-value": "2"}, "引用了不存在的题目"),
])
def test_bad_rows_are_refused_with_the_page_kept(client, auth, make, session, row, message):
    q = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    comment = _q(q, "Q8")
    reply = _edit(client, comment, _question_form(session, comment, cond_count="1", **row))
    html = reply.get_data(as_text=True)
    assert reply.status_code == 422 and message in html
    assert f'value="{row["cond-0-value"]}"' in html  # the rows come back as typed
    session.expire_all()
    assert session.get(Question, comment.id).show_if is None


def test_renumbering_a_referenced_question_or_dropping_its_option_is_refused(client, auth, make, session):
    q = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    reasons = _q(q, "Q9")
    reply = _edit(client, reasons, _question_form(session, reasons, code="R9"))
    assert reply.status_code == 422 and "不能修改 Q9 的题号：Q10 的显示条件引用了它" in reply.get_data(as_text=True)
    form = _question_form(session, reasons, **{"opt-5-code": "", "opt-5-label": "", "opt-5-label_en": ""})
    form["cond_count"] = "5"
    for n in range(5):
        form |= {f"cond-{n}-question": f"Q{n + 1}", f"cond-{n}-op": "le", f"cond-{n}-value": "2"}
    reply = _edit(client, reasons, form)
    assert reply.status_code == 422 and "题目 Q9 没有代码为 other 的选项" in reply.get_data(as_text=True)
    session.expire_all()
    assert len(session.get(Question, reasons.id).options) == 6


def test_the_editor_lists_conditions_and_the_preview_behaves_like_the_phone(client, auth, make, session):
    q = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    html = client.get(f"/admin/questionnaires/{q.id}").get_data(as_text=True)
    assert "显示条件（任一满足）：Q1 ≤ 2；或 Q2 ≤ 2" in html and "Q9 选了 other" in html and "差评原因" in html
    url = f"/admin/questionnaires/{q.id}/preview/phone"
    phone = client.get(url)
    reasons = _q(q, "Q9")
    assert f'id="f-q{reasons.id}" data-required data-if=' in phone.get_data(as_text=True)
    data = {"csrf_token": csrf_from(phone), "submission_id": "x" * 32}
    for question in q.questions[:5]:
        data[f"q{question.id}"] = "1"
    data[f"q{_q(q, 'Q6').id}"] = str(_q(q, "Q6").options[0].id)
    data[f"q{_q(q, 'Q7').id}"] = str(_q(q, "Q7").options[0].id)
    step = client.post(url, data=data)
    assert step.status_code == 200 and "根据您的回答，还有 1 道题" in step.get_data(as_text=True)
    data[f"q{reasons.id}"] = str(reasons.options[0].id)
    assert "答卷填写有效" in client.post(url, data=data).get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Question)) == len(WINDOW_SERVICE["questions"])
