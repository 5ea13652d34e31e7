"""The questionnaire editor: every question type, options, weights, level scores, Chinese and
English texts; publishing freezes; editing a published one makes a new version; JSON round
trip exact; the phone preview is the citizens' page and stores nothing."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from survey.models import (
    Answer,
    AuditLog,
    Campaign,
    Channel,
    Option,
    Question,
    Questionnaire,
    QuestionnaireStatus,
    QuestionType,
    RespondentGroup,
    Response,
)
from survey.services.questionnaires import serialise
from survey.services.questionnaires.builtin import APPRAISAL, WINDOW_SERVICE
from tests.factories import csrf_from


def _token(client) -> str:
    return csrf_from(client.get("/admin/questionnaires/"))


def _new_from_template(client, session, template: str = "window_service") -> Questionnaire:
    response = client.post("/admin/questionnaires/new", data={"csrf_token": _token(client), "template": template})
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    session.expire_all()
    return session.scalar(select(Questionnaire).order_by(Questionnaire.id.desc()))


def _question_form(session, question: Question, **changes) -> dict:
    """The edit form as the page fills it, with ``changes`` applied."""
    from survey.services.questionnaires.editor import question_data

    data = question_data(session, question)
    form = {"code": data["code"], "text": data["text"], "text_en": data["text_en"] or "",
            "help": data["help"] or "", "help_en": data["help_en"] or "", "weight": f"{data['weight']:g}",
            "max_length": str(data["max_length"] or ""), "max_choices": "", "action": "save"}
    for flag in ("required", "allow_dont_know", "in_index", "per_unit", "is_comment"):
        if data[flag]:
            form[flag] = "y"
    options = data.get("options") or []
    form["option_count"] = str(len(options))
    for i, o in enumerate(options):
        form[f"opt-{i}-code"] = o["code"]
        form[f"opt-{i}-label"] = o["label"]
        form[f"opt-{i}-label_en"] = o["label_en"] or ""
        form[f"opt-{i}-score"] = "" if o["score"] is None else f"{o['score']:g}"
        form[f"opt-{i}-group"] = o.get("group") or ""
    for key, value in changes.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    return form


def _edit(client, question: Question, form: dict):
    url = f"/admin/questionnaires/{question.questionnaire_id}/questions/{question.id}"
    return client.post(url, data={"csrf_token": csrf_from(client.get(url)), **form})


def _audit_actions(session) -> list[str]:
    return [a.action for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]


def test_a_template_makes_a_draft_with_the_standard_questions(client, auth, make, session):
    make.groups()
    make.commit()
    auth.login_as("analyst")
    q = _new_from_template(client, session)
    assert q.status == QuestionnaireStatus.DRAFT and q.version == 1
    texts = [x.text for x in q.questions]
    for word in ("整体满意度", "服务效率", "服务态度", "服务水平", "办事指南"):
        assert any(word in t for t in texts)
    html = client.get(f"/admin/questionnaires/{q.id}").get_data(as_text=True)
    assert "整体满意度" in html and "计入指数 · 权重 2" in html and "发布" in html
    appraisal = _new_from_template(client, session, "appraisal")
    assert appraisal.kind.value == "appraisal"
    assert [x.per_unit for x in appraisal.questions][:2] == [False, True]
    assert _audit_actions(session) == ["questionnaire.create", "questionnaire.create"]


def test_a_template_brings_the_respondent_groups_it_names_when_missing(client, auth, session):
    auth.login_as("analyst")
    q = _new_from_template(client, session)
    groups = {g.code: g for g in session.scalars(select(RespondentGroup))}
    assert set(groups) == {"QY", "SM", "FW", "RD", "ZZ"}
    assert sum(g.target_share for g in groups.values()) == pytest.approx(1.0)
    group_q = next(x for x in q.questions if x.type == QuestionType.GROUP)
    assert [o.respondent_group_id for o in group_q.options] == [groups[c].id for c in ("QY", "SM", "FW", "RD", "ZZ")]
    html = client.get(f"/admin/questionnaires/{q.id}").get_data(as_text=True)
    assert "已按模板建立样本类别：企业代表、市民" in html
    assert _audit_actions(session) == ["group.create"] * 5 + ["questionnaire.create"]
    _new_from_template(client, session, "appraisal")  # the groups exist now: none added
    assert session.scalar(select(func.count(RespondentGroup.id))) == 5


def test_add_every_type_of_question_to_a_blank_draft(client, auth, make, session):
    make.groups()
    make.commit()
    auth.login_as("analyst")
    response = client.post("/admin/questionnaires/new", data={"csrf_token": _token(client), "kind": "service",
                                                              "title": "窗口满意度（自编）"})
    session.expire_all()
    q = session.scalar(select(Questionnaire))
    assert response.headers["Location"].endswith(f"/admin/questionnaires/{q.id}")
    page = f"/admin/questionnaires/{q.id}"
    for qtype, text in [("satisfaction", "总体满意度"), ("single", "跑了几次"), ("multiple", "哪些方面需改进"),
                        ("rating", "推荐给朋友的可能"), ("text", "意见建议"), ("group", "您的身份")]:
        response = client.post(f"{page}/questions", data={"csrf_token": csrf_from(client.get(page)), "type": qtype,
                                                          "text": text})
        assert response.status_code == 302, response.get_data(as_text=True)[:800]
    response = client.post(f"{page}/questions", data={"csrf_token": csrf_from(client.get(page)), "type": "group",
                                                      "text": "再问一次身份"})
    assert response.status_code == 422 and "最多只能有一道身份" in response.get_data(as_text=True)
    response = client.post(f"{page}/questions", data={"csrf_token": csrf_from(client.get(page)), "type": "single",
                                                      "text": ""})
    assert response.status_code == 422 and "请填写题目" in response.get_data(as_text=True)
    session.expire_all()
    q = session.get(Questionnaire, q.id)
    assert [x.type.value for x in q.questions] == ["satisfaction", "single", "multiple", "rating", "text", "group"]
    assert [x.code for x in q.questions] == ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"]
    group_q = q.questions[5]
    assert [o.code for o in group_q.options] == ["QY", "SM", "FW", "RD", "ZZ"]
    assert all(o.respondent_group_id for o in group_q.options)
    assert q.questions[4].is_comment and not q.questions[4].required
    assert len(q.questions[1].options) == 2


def test_edit_a_choice_question_texts_weights_and_options(client, auth, make, session):
    make.groups()
    q = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    trips = next(x for x in q.questions if x.code == "Q6")
    form = _question_form(session, trips, text="办这件事跑了几次？", text_en="Trips needed?", weight="0.5",
                          **{"opt-0-label": "一次办成（最多跑一次）", "opt-0-label_en": "Once", "opt-0-score": "100",
                             "option_count": "4", "opt-3-code": "0", "opt-3-label": "没办成", "opt-3-score": "-50"})
    form.pop("required")
    response = _edit(client, trips, form)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    session.expire_all()
    trips = session.get(Question, trips.id)
    assert (trips.text, trips.text_en, trips.weight, trips.required) == ("办这件事跑了几次？", "Trips needed?", 0.5, False)
    assert trips.allow_dont_know is True and trips.in_index is False  # checkboxes the page hides keep their value
    assert [(o.code, o.label, o.score) for o in trips.options] == [
        ("1", "一次办成（最多跑一次）", 100.0), ("2", "两次", 50.0), ("3", "三次及以上", 0.0), ("0", "没办成", -50.0)]
    # move the new option to the top, then remove the second one
    form = _question_form(session, trips, action="up-3")
    assert _edit(client, trips, form).status_code == 302
    session.expire_all()
    assert [o.code for o in session.get(Question, trips.id).options] == ["1", "2", "0", "3"]
    form = _question_form(session, session.get(Question, trips.id), action="remove-1")
    assert _edit(client, trips, form).status_code == 302
    session.expire_all()
    assert [o.code for o in session.get(Question, trips.id).options] == ["1", "0", "3"]
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "questionnaire.question.update")
                            .order_by(AuditLog.id)).first()
    assert entry.detail["before"]["text"] == "办理这件事，您一共跑了几次？"
    assert entry.detail["after"]["text"] == "办这件事跑了几次？"


@pytest.mark.parametrize("changes, message", [
    ({"weight": "-1"}, "题目权重不能为负"),
    ({"weight": "重"}, "题目权重应为数字"),
    ({"text": ""}, "不能为空"),
    ({"opt-1-label": ""}, "第 2 个选项"),
    ({"opt-1-code": "1"}, "选项代码 1 重复"),
    ({"opt-1-score": "很多"}, "分值应为数字"),
    ({"option_count": "1"}, "选择题至少需要两个选项"),
    ({"code": "Q1"}, "题号 Q1 重复"),
])
def test_invalid_question_edits_change_nothing(client, auth, make, session, changes, message):
    make.groups()
    q = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    trips = next(x for x in q.questions if x.code == "Q6")
    before = serialise.questionnaire_to_dict(q, serialise.group_codes(session))
    response = _edit(client, trips, _question_form(session, trips, **changes))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    session.expire_all()
    after = serialise.questionnaire_to_dict(session.get(Questionnaire, q.id), serialise.group_codes(session))
    assert after == before
    assert "questionnaire.question.update" not in _audit_actions(session)


def test_group_question_options_map_to_respondent_groups(client, auth, make, session):
    groups = make.groups()
    q = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    group_q = next(x for x in q.questions if x.type == QuestionType.GROUP)
    response = _edit(client, group_q, _question_form(session, group_q, **{"opt-0-group": "SM", "opt-1-group": "QY"}))
    assert response.status_code == 302
    session.expire_all()
    options = session.get(Question, group_q.id).options
    assert options[0].respondent_group_id == groups["SM"].id and options[1].respondent_group_id == groups["QY"].id
    response = _edit(client, group_q, _question_form(session, group_q, **{"opt-2-group": ""}))
    assert response.status_code == 422 and "第 3 个选项：请选择对应的样本类别" in response.get_data(as_text=True)


def test_move_and_delete_questions(client, auth, make, session):
    make.groups()
    q = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    page = f"/admin/questionnaires/{q.id}"
    q2 = q.questions[1]
    client.post(f"{page}/questions/{q2.id}/move", data={"csrf_token": csrf_from(client.get(page)), "value": "up"})
    client.post(f"{page}/questions/{q.questions[9].id}/delete", data={"csrf_token": csrf_from(client.get(page))})
    session.expire_all()
    q = session.get(Questionnaire, q.id)
    assert [x.code for x in q.questions] == ["Q2", "Q1", "Q3", "Q4", "Q5", "Q6", "Q7", "Q9", "Q10"]
    assert [x.position for x in q.questions] == list(range(1, 10))


@pytest.mark.parametrize("scores, message", [
    (["0", "25", "25", "75", "100"], "严格递增"),
    (["100", "75", "50", "25", "0"], "严格递增"),
    (["0", "25", "", "75", "100"], "请填写基本满意"),
    (["0", "25", "五十", "75", "100"], "基本满意应为数字"),
])
def test_level_scores_must_be_five_strictly_increasing_numbers(client, auth, make, session, scores, message):
    make.groups()
    q = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    page = f"/admin/questionnaires/{q.id}"
    data = {"csrf_token": csrf_from(client.get(page)), "title": "新标题", "title_en": "", "intro": "", "intro_en": "",
            **{f"score_{i + 1}": s for i, s in enumerate(scores)}}
    response = client.post(f"{page}/meta", data=data)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    session.expire_all()
    q = session.get(Questionnaire, q.id)
    assert q.title == WINDOW_SERVICE["title"] and q.level_scores == [0, 25, 50, 75, 100]
    data.update(score_1="40", score_2="60", score_3="70", score_4="85", score_5="100", title_en="Survey")
    assert client.post(f"{page}/meta", data=data).status_code == 302
    session.expire_all()
    q = session.get(Questionnaire, q.id)
    assert q.level_scores == [40, 60, 70, 85, 100] and q.title == "新标题" and q.title_en == "Survey"


def _respond(session, campaign, questionnaire) -> Response:
    response = Response(campaign_id=campaign.id, questionnaire_id=questionnaire.id, channel=Channel.WEB,
                        unit_id=campaign.campaign_units[0].unit_id, submission_id="answered-v1")
    response.answers.append(Answer(campaign_id=campaign.id, unit_id=campaign.campaign_units[0].unit_id,
                                   question_id=questionnaire.questions[0].id, level=5))
    session.add(response)
    session.commit()
    return response


def test_publishing_freezes_and_editing_makes_a_new_version(client, auth, make, session):
    make.groups()
    draft = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    page = f"/admin/questionnaires/{draft.id}"
    assert client.post(f"{page}/publish", data={"csrf_token": csrf_from(client.get(page))}).status_code == 302
    session.expire_all()
    v1 = session.get(Questionnaire, draft.id)
    assert v1.status == QuestionnaireStatus.PUBLISHED and v1.published_at is not None
    campaign = make.campaign(questionnaire=v1)
    answered = _respond(session, campaign, v1)
    frozen = serialise.questionnaire_to_dict(v1, serialise.group_codes(session))
    # a published version refuses every edit
    q1 = v1.questions[0]
    assert _edit(client, q1, _question_form(session, q1, text="改题")).status_code == 422
    response = client.post(f"{page}/questions", data={"csrf_token": csrf_from(client.get(page)), "type": "text",
                                                      "text": "新题"})
    assert response.status_code == 422 and "已发布，不能再修改" in response.get_data(as_text=True)
    # "edit" makes version 2 as a draft copy
    response = client.post(f"{page}/new-version", data={"csrf_token": csrf_from(client.get(page))})
    session.expire_all()
    v2 = session.scalar(select(Questionnaire).where(Questionnaire.version == 2))
    assert response.headers["Location"].endswith(f"/admin/questionnaires/{v2.id}")
    assert v2.family == v1.family and v2.status == QuestionnaireStatus.DRAFT
    copy = serialise.questionnaire_to_dict(v2, serialise.group_codes(session))
    assert copy == frozen
    assert {x.id for x in v2.questions}.isdisjoint({x.id for x in v1.questions})
    # asking again gives the same draft, not a third version
    client.post(f"{page}/new-version", data={"csrf_token": csrf_from(client.get(page))})
    session.expire_all()
    assert session.scalar(select(func.count(Questionnaire.id))) == 2
    # edit v2; v1, its campaign and its response are untouched
    assert _edit(client, v2.questions[0], _question_form(session, v2.questions[0], text="第二版的题目")).status_code == 302
    session.expire_all()
    v1 = session.get(Questionnaire, v1.id)
    assert serialise.questionnaire_to_dict(v1, serialise.group_codes(session)) == frozen
    assert session.get(Response, answered.id).questionnaire_id == v1.id
    assert session.get(Campaign, campaign.id).questionnaire_id == v1.id
    assert session.get(Questionnaire, v2.id).questions[0].text == "第二版的题目"
    actions = _audit_actions(session)
    assert actions.count("questionnaire.publish") == 1 and actions.count("questionnaire.new_version") == 1


def test_publishing_an_incomplete_draft_is_refused(client, auth, make, session):
    auth.login_as("analyst")
    client.post("/admin/questionnaires/new", data={"csrf_token": _token(client), "kind": "appraisal", "title": "空问卷"})
    session.expire_all()
    q = session.scalar(select(Questionnaire))
    page = f"/admin/questionnaires/{q.id}"
    response = client.post(f"{page}/publish", data={"csrf_token": csrf_from(client.get(page))})
    assert response.status_code == 422 and "问卷至少需要一道题" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Questionnaire, q.id).status == QuestionnaireStatus.DRAFT


def test_a_draft_can_be_deleted_a_published_one_cannot(client, auth, make, session):
    make.groups()
    draft = make.questionnaire(published=False)
    published = make.questionnaire()
    make.commit()
    draft_id, published_id = draft.id, published.id
    auth.login_as("analyst")
    token = _token(client)
    client.post(f"/admin/questionnaires/{published_id}/delete", data={"csrf_token": token})
    client.post(f"/admin/questionnaires/{draft_id}/delete", data={"csrf_token": token})
    session.expire_all()
    assert [q.id for q in session.scalars(select(Questionnaire))] == [published_id]
    assert not session.scalar(select(func.count(Option.id)).join(Question).where(Question.questionnaire_id == draft_id))


@pytest.mark.parametrize("template", [WINDOW_SERVICE, APPRAISAL])
def test_json_export_import_export_is_exact(client, auth, make, session, template):
    make.groups()
    original = make.questionnaire(data=template)
    make.commit()
    auth.login_as("analyst")
    first = client.get(f"/admin/questionnaires/{original.id}/export.json")
    assert first.status_code == 200 and first.mimetype == "application/json"
    assert "attachment" in first.headers["Content-Disposition"]
    response = client.post("/admin/questionnaires/import", data={
        "csrf_token": _token(client), "file": (io.BytesIO(first.data), "shared.json")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    session.expire_all()
    imported = session.scalar(select(Questionnaire).order_by(Questionnaire.id.desc()))
    assert imported.id != original.id and imported.status == QuestionnaireStatus.DRAFT
    assert imported.family != original.family
    second = client.get(f"/admin/questionnaires/{imported.id}/export.json")
    assert second.data == first.data
    assert json.loads(first.data)["format"] == "pingyi-questionnaire"


def _import(client, payload):
    data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    return client.post("/admin/questionnaires/import", data={
        "csrf_token": _token(client), "file": (io.BytesIO(data), "q.json")}, content_type="multipart/form-data")


def _with_question(index: int, **changes) -> dict:
    data = json.loads(json.dumps(WINDOW_SERVICE))
    data["questions"][index].update(changes)
    return data


@pytest.mark.parametrize("payload, message", [
    (b"{not json", "不是有效的 JSON：第 1 行"),
    (b"\xff\xfe\x00", "UTF-8"),
    ([1, 2], "应为一个对象"),
    ({**WINDOW_SERVICE, "format": "something-else"}, "不是评议问卷文件"),
    ({**WINDOW_SERVICE, "format_version": 99}, "版本 99 不受支持"),
    ({**WINDOW_SERVICE, "level_scores": [0, 50, 25, 75, 100]}, "严格递增"),
    (_with_question(2, type="slider"), "第 3 题：未知题型 slider"),
    (_with_question(1, weight=-2), "第 2 题（Q2）：题目权重不能为负"),
    (_with_question(0, required="yes"), "第 1 题（Q1）：required 应为 true 或 false"),
    (_with_question(5, options=[{"code": "1", "label": "仅一个"}]), "第 6 题（Q6）：选择题至少需要两个选项"),
    (_with_question(6, options=[{"code": "X", "label": "外星人", "group": "ET"},
                                {"code": "SM", "label": "市民", "group": "SM"}]), "第 7 题（Q7） 第 1 个选项：样本类别 ET 不存在"),
    (_with_question(3, settings=[1]), "settings 应为一个对象"),
    (_with_question(4, code="Q1"), "第 5 题：题号 Q1 重复"),
])
def test_invalid_imports_name_the_question_and_change_nothing(client, auth, make, session, payload, message):
    make.groups()
    make.commit()
    auth.login_as("analyst")
    response = _import(client, payload)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    session.expire_all()
    assert not session.scalar(select(func.count(Questionnaire.id)))
    assert not session.scalar(select(func.count(AuditLog.id)))


def test_phone_preview_renders_the_citizen_page_and_stores_nothing(client, auth, make, session):
    make.groups()
    window = make.unit(name="不动产登记窗口", window_no="12")
    q = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    frame = client.get(f"/admin/questionnaires/{q.id}/preview").get_data(as_text=True)
    assert f'src="/admin/questionnaires/{q.id}/preview/phone"' in frame
    phone = client.get(f"/admin/questionnaires/{q.id}/preview/phone")
    assert phone.status_code == 200
    assert "frame-ancestors 'self'" in phone.headers["Content-Security-Policy"]
    assert phone.headers["X-Frame-Options"] == "SAMEORIGIN"
    html = phone.get_data(as_text=True)
    assert "不动产登记窗口" in html and "12号窗口" in html
    assert "您对本次服务的整体满意度" in html and "非常满意" in html and "不了解" in html
    assert "提交评价" in html and "预览" in html
    # a submission is checked like the real page's, and stored nowhere
    response = client.post(f"/admin/questionnaires/{q.id}/preview/phone",
                           data={"csrf_token": csrf_from(phone), "submission_id": "x" * 32})
    assert response.status_code == 422 and "请回答此题" in response.get_data(as_text=True)
    session.expire_all()
    assert not session.scalar(select(func.count(Response.id)))
    assert not session.scalar(select(func.count(Campaign.id)))
    assert window.id  # the real window was shown


def test_preview_of_an_appraisal_without_any_units_uses_stand_ins(client, auth, make, session):
    make.groups()
    q = make.questionnaire(kind="appraisal")
    make.commit()
    auth.login_as("analyst")
    html = client.get(f"/admin/questionnaires/{q.id}/preview/phone").get_data(as_text=True)
    assert "示例单位 1" in html and "示例单位 3" in html and "工作作风" in html
    session.expire_all()
    assert not session.scalar(select(func.count(Campaign.id)))
