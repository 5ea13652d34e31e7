"""Campaigns: created from a questionnaire or in one step from a template; period, times (office
time zone → UTC), units by category or picked, channels, group mode; open/pause/close; live
counts per unit; switching to a newer questionnaire version; all validated, all audited."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from survey.models import (
    Answer,
    AuditLog,
    Campaign,
    CampaignStatus,
    Channel,
    GroupMode,
    Questionnaire,
    QuestionnaireStatus,
    QuestionType,
    Response,
    ResponseStatus,
    UnitKind,
    utcnow,
)
from survey.services.campaigns import setup
from tests.factories import csrf_from, hidden_from


def _form(**values) -> dict:
    form = {"title": "2026年第三季度政务服务满意度评议", "title_en": "", "description": "", "period": "2026Q3",
            "opens_at": "2026-07-01T08:00", "closes_at": "2026-09-30T18:00", "group_mode": "ask",
            "preset_group_id": "", "channels": ["poster", "web"], "questionnaire_id": "", "template": "window_service"}
    for key, value in values.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    return form


def _post(client, url: str, form: dict):
    return client.post(url, data={"csrf_token": csrf_from(client.get(url)), **form})


def _latest(session) -> Campaign:
    session.expire_all()
    return session.scalar(select(Campaign).order_by(Campaign.id.desc()))


@pytest.fixture
def city(make):
    """Two categories: departments with windows, and banks."""
    make.groups()
    zf = make.category(code="ZF", name="政府口机关")
    jr = make.category(code="JR", name="驻地金融机构")
    rsj = make.unit(code="RSJ", name="人社局", category=zf)
    units = {
        "RSJ": rsj,
        "CK-SB": make.unit(code="CK-SB", name="社保窗口", category=zf, parent=rsj, kind=UnitKind.WINDOW, window_no="5"),
        "CK-YB": make.unit(code="CK-YB", name="医保窗口", category=zf, parent=rsj, kind=UnitKind.WINDOW),
        "CK-OLD": make.unit(code="CK-OLD", name="撤并窗口", category=zf, kind=UnitKind.WINDOW, active=False),
        "TZYH": make.unit(code="TZYH", name="台州银行", category=jr),
    }
    make.commit()
    return {"zf": zf, "jr": jr, **units}


def test_one_step_from_the_template_with_a_category_of_windows(client, auth, session, city):
    user = auth.login_as("analyst")
    response = _post(client, "/admin/campaigns/new-from-template",
                     _form(category_ids=[str(city["zf"].id)], kinds=["window"]))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    campaign = _latest(session)
    assert response.headers["Location"].endswith(f"/admin/campaigns/{campaign.id}")
    assert campaign.status == CampaignStatus.DRAFT and campaign.created_by_id == user.id
    assert campaign.questionnaire.status == QuestionnaireStatus.PUBLISHED
    assert campaign.questionnaire.title == "政务服务窗口满意度调查"
    assert sorted(cu.unit.code for cu in campaign.campaign_units) == ["CK-SB", "CK-YB"]  # active windows only
    assert len({cu.short_code for cu in campaign.campaign_units} | {campaign.short_code}) == 3
    # 08:00 in Shanghai is 00:00 UTC
    assert campaign.opens_at == dt.datetime(2026, 7, 1, 0, 0, tzinfo=dt.UTC)
    assert campaign.closes_at == dt.datetime(2026, 9, 30, 10, 0, tzinfo=dt.UTC)
    assert campaign.channels == ["poster", "web"] and campaign.group_mode == GroupMode.ASK
    actions = [a.action for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["questionnaire.create", "questionnaire.publish", "campaign.create"]
    # a second campaign from the same template reuses the identical published questionnaire
    _post(client, "/admin/campaigns/new-from-template", _form(title="第四季度", period="2026Q4",
                                                               unit_ids=[str(city["TZYH"].id)]))
    assert _latest(session).questionnaire_id == campaign.questionnaire_id
    assert session.scalar(select(func.count(Questionnaire.id))) == 1
    page = client.get(f"/admin/campaigns/{campaign.id}").get_data(as_text=True)
    assert "2026-07-01 08:00" in page and "社保窗口" in page and "/s/" in page


def test_create_from_a_published_questionnaire_with_picked_units(client, auth, make, session, city):
    questionnaire = make.questionnaire(kind="appraisal")
    make.commit()
    auth.login_as("analyst")
    url = f"/admin/campaigns/new?questionnaire={questionnaire.id}"
    assert f'<option selected value="{questionnaire.id}">' in client.get(url).get_data(as_text=True)
    response = _post(client, "/admin/campaigns/new", _form(
        questionnaire_id=str(questionnaire.id), period="2026", title="2026年度万人评议",
        unit_ids=[str(city["RSJ"].id), str(city["TZYH"].id)], channels=["web", "invitation"]))
    assert response.status_code == 302
    campaign = _latest(session)
    assert campaign.questionnaire_id == questionnaire.id and campaign.period == "2026"
    assert sorted(cu.unit.code for cu in campaign.campaign_units) == ["RSJ", "TZYH"]


@pytest.mark.parametrize("period, ok", [("2026", True), ("2026Q1", True), ("2026q4", True), ("2026-07", True),
                                        ("2026H2", True), ("2026Q5", False), ("2026-13", False), ("26Q1", False),
                                        ("2026年", False), ("", False), ("1999", False)])
def test_period_format_is_validated(client, auth, session, city, period, ok):
    auth.login_as("analyst")
    response = _post(client, "/admin/campaigns/new-from-template", _form(period=period, unit_ids=[str(city["RSJ"].id)]))
    if ok:
        assert response.status_code == 302
        assert _latest(session).period == period.upper()
    else:
        assert response.status_code == 422
        assert "考评周期格式应为" in response.get_data(as_text=True)
        assert not session.scalar(select(func.count(Campaign.id)))


@pytest.mark.parametrize("changes, message", [
    ({"closes_at": "2026-07-01T08:00"}, "截止时间必须晚于开始时间"),
    ({"closes_at": "2026-06-30T08:00"}, "截止时间必须晚于开始时间"),
    ({"opens_at": "明天"}, "时间格式应为"),
    ({"opens_at": ""}, "请填写开始时间"),
    ({"channels": None}, "请至少选择一个渠道"),
    ({"channels": ["fax"]}, "渠道无效"),
    ({"title": ""}, "请填写标题"),
    ({"group_mode": "preset"}, "需要选择一个启用的样本类别"),
    ({"unit_ids": None}, "请至少选择一个单位"),
    ({"template": "nonsense"}, "请选择一个问卷模板"),
])
def test_invalid_campaigns_are_refused_and_nothing_is_written(client, auth, session, city, changes, message):
    auth.login_as("analyst")
    form = _form(unit_ids=[str(city["RSJ"].id)])
    form.update({k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        form.pop(key, None)
    response = _post(client, "/admin/campaigns/new-from-template", form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    session.expire_all()
    assert not session.scalar(select(func.count(Campaign.id)))
    assert not session.scalar(select(func.count(Questionnaire.id)))
    assert not session.scalar(select(func.count(AuditLog.id)))


def test_inactive_or_unknown_picked_units_are_refused(client, auth, session, city):
    auth.login_as("analyst")
    response = _post(client, "/admin/campaigns/new-from-template", _form(unit_ids=[str(city["CK-OLD"].id)]))
    assert response.status_code == 422 and "单位已停用" in response.get_data(as_text=True)
    response = _post(client, "/admin/campaigns/new-from-template", _form(unit_ids=["999999"]))
    assert response.status_code == 422 and "已不存在" in response.get_data(as_text=True)


def test_only_published_questionnaires_can_be_used(client, auth, make, session, city):
    draft = make.questionnaire(published=False)
    make.commit()
    auth.login_as("analyst")
    response = _post(client, "/admin/campaigns/new", _form(questionnaire_id=str(draft.id),
                                                           unit_ids=[str(city["RSJ"].id)]))
    assert response.status_code == 422 and "只能使用已发布的问卷" in response.get_data(as_text=True)


def test_preset_group_and_ask_without_a_group_question_warns(client, auth, make, session, city):
    from survey.models import RespondentGroup
    from survey.services.questionnaires.builtin import WINDOW_SERVICE

    data = {**WINDOW_SERVICE, "questions": [q for q in WINDOW_SERVICE["questions"] if q["type"] != "group"]}
    questionnaire = make.questionnaire(data=data)
    make.commit()
    auth.login_as("analyst")
    response = _post(client, "/admin/campaigns/new", _form(questionnaire_id=str(questionnaire.id),
                                                           unit_ids=[str(city["RSJ"].id)]))
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "问卷里没有身份（样本类别）题" in page
    group_id = session.scalar(select(RespondentGroup.id).where(RespondentGroup.code == "FW"))
    response = _post(client, "/admin/campaigns/new", _form(questionnaire_id=str(questionnaire.id), group_mode="preset",
                                                           preset_group_id=str(group_id), unit_ids=[str(city["RSJ"].id)]))
    campaign = _latest(session)
    assert campaign.group_mode == GroupMode.PRESET and campaign.preset_group_id == group_id
    assert "问卷里没有身份" not in client.get(response.headers["Location"]).get_data(as_text=True)


def _status(client, campaign_id: int, action: str):
    url = f"/admin/campaigns/{campaign_id}"
    return client.post(f"{url}/status", data={"csrf_token": csrf_from(client.get(url)), "value": action})


def test_open_pause_close_reopen(client, auth, make, session, city):
    campaign = make.campaign(units=[city["RSJ"]], status=CampaignStatus.DRAFT)
    make.commit()
    auth.login_as("analyst")
    for action, expected in [("pause", CampaignStatus.DRAFT), ("open", CampaignStatus.OPEN),
                             ("pause", CampaignStatus.PAUSED), ("open", CampaignStatus.OPEN),
                             ("close", CampaignStatus.CLOSED), ("pause", CampaignStatus.CLOSED),
                             ("open", CampaignStatus.OPEN), ("delete", CampaignStatus.OPEN)]:
        _status(client, campaign.id, action)
        session.expire_all()
        assert session.get(Campaign, campaign.id).status == expected, action
    actions = [a.action for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["campaign.open", "campaign.pause", "campaign.open", "campaign.close", "campaign.open"]
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "campaign.close")).one()
    assert (entry.detail["before"], entry.detail["after"]) == ("open", "closed")


def test_opening_needs_units_and_a_closing_time_ahead(client, auth, make, session, city):
    empty = make.campaign(units=[], status=CampaignStatus.DRAFT)
    past = make.campaign(units=[city["RSJ"]], status=CampaignStatus.DRAFT,
                         opens_at=utcnow() - dt.timedelta(days=60), closes_at=utcnow() - dt.timedelta(days=1))
    make.commit()
    auth.login_as("analyst")
    response = _status(client, empty.id, "open")
    assert "还没有单位" in client.get(response.headers["Location"]).get_data(as_text=True)
    response = _status(client, past.id, "open")
    assert "截止时间已过" in client.get(response.headers["Location"]).get_data(as_text=True)
    session.expire_all()
    assert {c.status for c in session.scalars(select(Campaign))} == {CampaignStatus.DRAFT}


def _answer(session, campaign, unit, n: int, status=ResponseStatus.VALID, unit_on_response=True) -> None:
    question = campaign.questionnaire.questions[0]
    for i in range(n):
        r = Response(campaign_id=campaign.id, questionnaire_id=campaign.questionnaire_id,
                     unit_id=unit.id if unit_on_response else None, channel=Channel.POSTER, status=status,
                     submission_id=f"c{campaign.id}-u{unit.id}-{status.value}-{i}")
        r.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=question.id, level=4))
        session.add(r)
    session.commit()


def test_live_counts_per_unit_leave_excluded_responses_out(client, auth, make, session, city):
    campaign = make.campaign(units=[city["CK-SB"], city["CK-YB"], city["TZYH"]])
    _answer(session, campaign, city["CK-SB"], 3)
    _answer(session, campaign, city["CK-SB"], 2, status=ResponseStatus.FLAGGED)
    _answer(session, campaign, city["CK-SB"], 4, status=ResponseStatus.EXCLUDED)
    _answer(session, campaign, city["CK-YB"], 1)
    auth.login_as("analyst")
    counts = {row.unit.code: (row.responses, row.flagged) for row in setup.unit_counts(session, campaign)}
    assert counts == {"CK-SB": (5, 2), "CK-YB": (1, 0), "TZYH": (0, 0)}
    rows = setup.unit_counts(session, campaign)
    assert rows[0].last_at is not None and rows[0].last_at.tzinfo is not None
    data = client.get(f"/admin/campaigns/{campaign.id}/counts.json").get_json()
    assert data["total"] == 6
    by_code = {cu.unit.code: str(cu.id) for cu in campaign.campaign_units}
    assert {k: v for k, v in data["units"][by_code["CK-SB"]].items() if k != "last"} == {"n": 5, "flagged": 2}
    assert re.fullmatch(r"\d\d-\d\d \d\d:\d\d", data["units"][by_code["CK-SB"]]["last"])
    assert data["units"][by_code["TZYH"]]["last"] is None
    html = client.get(f"/admin/campaigns/{campaign.id}").get_data(as_text=True)
    assert f'data-count-for="{by_code["CK-SB"]}">5<' in html and "共 6 份" in html
    listing = client.get("/admin/campaigns/").get_data(as_text=True)
    assert '<td class="num">3</td>\n    <td class="num">6</td>' in listing


def test_appraisal_counts_come_from_the_answers(session, make, city):
    campaign = make.campaign(units=[city["RSJ"], city["TZYH"]], kind="appraisal")
    _answer(session, campaign, city["RSJ"], 2, unit_on_response=False)
    counts = {row.unit.code: row.responses for row in setup.unit_counts(session, campaign)}
    assert counts == {"RSJ": 2, "TZYH": 0}


def test_editing_adds_units_but_never_removes_one_with_responses(client, auth, make, session, city):
    campaign = make.campaign(units=[city["CK-SB"], city["CK-YB"]], status=CampaignStatus.OPEN)
    _answer(session, campaign, city["CK-SB"], 1)
    codes_before = {cu.unit.code: cu.short_code for cu in campaign.campaign_units}
    auth.login_as("analyst")
    url = f"/admin/campaigns/{campaign.id}/edit"
    form_html = client.get(url).get_data(as_text=True)
    assert f'name="unit_ids" value="{city["CK-SB"].id}" checked' in form_html
    response = _post(client, url, _form(title="改名后的评议", unit_ids=[str(city["CK-YB"].id), str(city["TZYH"].id)],
                                        template=None))
    assert response.status_code == 422 and "已有答卷，不能移出" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Campaign, campaign.id).title != "改名后的评议"
    response = _post(client, url, _form(title="改名后的评议", template=None,
                                        unit_ids=[str(city["CK-SB"].id), str(city["TZYH"].id)]))
    assert response.status_code == 302
    session.expire_all()
    campaign = session.get(Campaign, campaign.id)
    codes = {cu.unit.code: cu.short_code for cu in campaign.campaign_units}
    assert set(codes) == {"CK-SB", "TZYH"} and codes["CK-SB"] == codes_before["CK-SB"]
    assert campaign.status == CampaignStatus.OPEN and campaign.title == "改名后的评议"
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "campaign.update")).one()
    assert entry.detail["changes"]["units"] == [["CK-SB", "CK-YB"], ["CK-SB", "TZYH"]]


def test_switching_to_a_newer_published_version(client, auth, make, session, city):
    from survey.services.questionnaires import editor as qs

    v1 = make.questionnaire()
    campaign = make.campaign(units=[city["CK-SB"]], questionnaire=v1)
    _answer(session, campaign, city["CK-SB"], 1)
    v2 = qs.new_version(session, None, v1)
    qs.publish(session, None, v2)
    session.commit()
    auth.login_as("analyst")
    url = f"/admin/campaigns/{campaign.id}"
    assert "改用第 2 版" in client.get(url).get_data(as_text=True)
    client.post(f"{url}/switch", data={"csrf_token": csrf_from(client.get(url)), "questionnaire_id": str(v2.id)})
    session.expire_all()
    assert session.get(Campaign, campaign.id).questionnaire_id == v2.id
    assert {r.questionnaire_id for r in session.scalars(select(Response))} == {v1.id}
    other = make.questionnaire()
    make.commit()
    client.post(f"{url}/switch", data={"csrf_token": csrf_from(client.get(url)), "questionnaire_id": str(other.id)})
    session.expire_all()
    assert session.get(Campaign, campaign.id).questionnaire_id == v2.id
    assert [a.action for a in session.scalars(select(AuditLog).where(AuditLog.action.startswith("campaign.")))] == [
        "campaign.switch_questionnaire"]


def _fill(page_html_response, questionnaire) -> dict:
    """A phone's answers: 满意 to every satisfaction question, the first option elsewhere."""
    data = {"csrf_token": csrf_from(page_html_response), "submission_id": hidden_from(page_html_response, "submission_id")}
    for q in questionnaire.questions:
        if q.type == QuestionType.SATISFACTION:
            data[f"q{q.id}"] = "4"
        elif q.type in (QuestionType.SINGLE, QuestionType.GROUP):
            data[f"q{q.id}"] = str(q.options[0].id)
    return data


def test_a_phone_answers_the_new_campaign_and_the_count_goes_to_one(client, auth, session, city, app):
    auth.login_as("analyst")
    now = utcnow().astimezone(dt.timezone(dt.timedelta(hours=8)))
    _post(client, "/admin/campaigns/new-from-template", _form(
        opens_at=(now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        closes_at=(now + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"), unit_ids=[str(city["CK-SB"].id)]))
    campaign = _latest(session)
    _status(client, campaign.id, "open")
    code = campaign.campaign_units[0].short_code
    phone = app.test_client()
    page = phone.get(f"/s/{code}")
    assert page.status_code == 200 and "社保窗口" in page.get_data(as_text=True)
    submitted = phone.post(f"/s/{code}", data=_fill(page, campaign.questionnaire))
    assert submitted.status_code in (302, 303), submitted.get_data(as_text=True)[:2000]
    data = client.get(f"/admin/campaigns/{campaign.id}/counts.json").get_json()
    assert data["total"] == 1
    home = client.get("/admin/").get_data(as_text=True)
    assert campaign.title in home


def test_analyst_home_guides_a_new_office_and_lists_live_campaigns(client, auth, make, session, city):
    auth.login_as("analyst")
    html = client.get("/admin/").get_data(as_text=True)
    assert "开始一次评议：四步" in html and "已有 4 个启用的单位" in html
    campaign = make.campaign(units=[city["CK-SB"]], title="本季度窗口评议")
    _answer(session, campaign, city["CK-SB"], 2)
    html = client.get("/admin/").get_data(as_text=True)
    assert "开始一次评议" not in html and "本季度窗口评议" in html
    assert '<td class="num">2</td><td class="num">2</td>' in html  # today, total
