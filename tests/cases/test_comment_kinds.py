"""Cases that fit the comment: the citizen (or the analysts' rule) says 投诉, 建议 or 表扬; praise is
recorded without a deadline; a 差评 with a comment is one case with one deadline."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from survey.core import settings
from survey.core.clock import org_today
from survey.models import Answer, Case, CaseKind, CaseState, CommentKind, Response
from survey.services.cases import batch, figures, queries
from survey.services.cases.workflow import open_cases_for_response
from tests.cases.helpers import question, respond
from tests.factories import csrf_from
from tests.public.helpers import filled

PHONE_UA = {"User-Agent": "Mozilla/5.0 (Linux; Android 10) MicroMessenger"}


@pytest.fixture
def window(make):
    unit = make.unit(name="不动产登记窗口", window_no="12")
    campaign = make.campaign(units=[unit])
    contact = make.user("unit", unit=unit)
    make.commit()
    return unit, campaign, campaign.campaign_units[0].short_code, contact


def _comment_name(campaign) -> str:
    return f"q{next(q for q in campaign.questionnaire.questions if q.is_comment).id}"


def _submit(client, campaign, code, level: str, comment: str, kind: str | None):
    page = client.get(f"/s/{code}", headers=PHONE_UA)
    name = _comment_name(campaign)
    data = filled(campaign.questionnaire, page, level=level, **{name: comment})
    if kind is not None:
        data.setlist(f"{name}_kind", [kind])
    return client.post(f"/s/{code}", data=data)


def _only_case(session) -> Case:
    session.expire_all()
    (case,) = session.scalars(select(Case)).all()
    return case


def test_the_comment_box_offers_complaint_suggestion_praise_as_labelled_radios(client, window):
    _unit, campaign, code, _ = window
    html = client.get(f"/s/{code}", headers=PHONE_UA).get_data(as_text=True)
    name = _comment_name(campaign)
    box = html[html.index(f'<textarea name="{name}"'):]
    fieldset = box[box.index('<fieldset class="comment-kind"'):box.index("</fieldset>")]
    assert "<legend" in fieldset and "这条意见是" in fieldset
    radios = re.findall(r'<label class="opt row radio"><input type="radio" name="([^"]+)" id="[^"]+" value="(\w+)"'
                        r'[^>]*><span>([^<]+)</span></label>', fieldset)
    assert radios == [(f"{name}_kind", "complaint", "投诉"), (f"{name}_kind", "suggestion", "建议"),
                      (f"{name}_kind", "praise", "表扬")]
    assert "checked" not in fieldset  # nothing chosen for the citizen: the rule decides when they don't
    assert "可不选" in fieldset


def test_praise_is_recorded_without_a_deadline_and_needs_no_handling(client, session, window):
    _unit, campaign, code, contact = window
    assert _submit(client, campaign, code, "5", "网上办理很方便，点赞", "praise").status_code == 303
    answer = session.scalar(select(Answer).where(Answer.text == "网上办理很方便，点赞"))
    assert answer.comment_kind == CommentKind.PRAISE  # the citizen's choice, stored with the answer
    case = _only_case(session)
    assert case.kind == CaseKind.COMMENT and case.comment_kind == CommentKind.PRAISE
    assert case.due_on is None and case.state == CaseState.CLOSED and case.closed_on == case.opened_on
    today = org_today()
    assert queries.queue_counts(session, contact, today).open == 0  # nothing waits on the unit
    assert batch.overdue_report(session, today + dt.timedelta(days=400)) == []  # never overdue
    (row,) = figures.case_figures(session, today, "Asia/Shanghai")
    assert (row.praise, row.comments, row.total, row.due) == (1, 0, 0, 0)


def test_praise_is_visible_in_the_list_and_the_export(client, auth, session, window):
    _unit, campaign, code, _ = window
    _submit(client, campaign, code, "5", "网上办理很方便", "praise")
    auth.login_as("analyst")
    listing = client.get("/admin/cases/?state=").get_data(as_text=True)
    assert "网上办理很方便" in listing and "表扬" in listing and "不设期限" in listing
    only = client.get("/admin/cases/?state=&comment_kind=praise").get_data(as_text=True)
    assert "网上办理很方便" in only
    none = client.get("/admin/cases/?state=&comment_kind=complaint").get_data(as_text=True)
    assert "网上办理很方便" not in none
    detail = client.get(f"/admin/cases/{_only_case(session).id}").get_data(as_text=True)
    assert "不设期限" in detail and "答题人选择" in detail
    export = client.get("/admin/cases/export.csv?state=").data.decode("utf-8-sig").splitlines()
    header = export[0].split(",")
    row = export[1].split(",")
    assert "意见类别" in header
    assert row[header.index("意见类别")] == "表扬" and row[header.index("期限")] == "不设期限"


def test_a_bad_rating_with_a_comment_opens_one_case_whatever_the_chosen_kind(client, session, window):
    _unit, campaign, code, _ = window
    assert _submit(client, campaign, code, "1", "叫号系统坏了", "suggestion").status_code == 303
    case = _only_case(session)  # one case, one deadline
    assert case.kind == CaseKind.BAD_RATING and case.due_on is not None and case.state == CaseState.PENDING
    assert case.comment_kind == CommentKind.SUGGESTION and case.summary.startswith("建议：叫号系统坏了")
    assert "差评：" in case.summary


def test_praise_beside_a_bad_rating_does_not_lift_the_deadline(client, session, window):
    _unit, campaign, code, _ = window
    _submit(client, campaign, code, "2", "态度很好但是等太久", "praise")
    case = _only_case(session)
    assert case.kind == CaseKind.BAD_RATING and case.due_on is not None and case.comment_kind == CommentKind.PRAISE


def test_a_complaint_opens_a_case_with_a_deadline(client, session, window):
    _unit, campaign, code, _ = window
    _submit(client, campaign, code, "4", "工作人员玩手机", "complaint")
    case = _only_case(session)
    assert case.kind == CaseKind.COMMENT and case.comment_kind == CommentKind.COMPLAINT
    assert case.due_on is not None and case.due_on > case.opened_on and case.state == CaseState.PENDING


def test_a_tampered_kind_is_refused_with_a_message(client, session, window):
    _unit, campaign, code, _ = window
    refused = _submit(client, campaign, code, "4", "随便写", "urgent")
    assert refused.status_code == 422
    assert "请选择投诉、建议或表扬" in refused.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Response)) == 0


@pytest.mark.parametrize(("rule", "levels", "expected", "deadline"), [
    ("by_rating", {"Q1": 4}, CommentKind.SUGGESTION, True),
    ("complaint", {"Q1": 5}, CommentKind.COMPLAINT, True),
    ("suggestion", {"Q1": 5}, CommentKind.SUGGESTION, True),
    ("praise", {"Q1": 5}, CommentKind.PRAISE, False),
])
def test_the_analysts_rule_decides_when_the_citizen_does_not(session, make, rule, levels, expected, deadline):
    unit = make.unit()
    campaign = make.campaign(units=[unit])
    analyst = make.user("analyst")
    settings.set_value(session, settings.COMMENT_KIND_RULE, rule, analyst)
    response = respond(session, campaign, unit, levels=levels, comment="大厅空调太冷")
    case = session.scalar(select(Case).where(Case.response_id == response.id))
    assert case.comment_kind == expected and (case.due_on is not None) == deadline
    answer = session.scalar(select(Answer).where(Answer.response_id == response.id, Answer.text.is_not(None)))
    assert answer.comment_kind is None  # the citizen chose nothing; the rule's kind is on the case


def test_the_citizens_choice_beats_the_rule(session, make):
    unit = make.unit()
    campaign = make.campaign(units=[unit])
    settings.set_value(session, settings.COMMENT_KIND_RULE, "praise", make.user("analyst"))
    response = respond(session, campaign, unit, levels={"Q1": 5}, open_cases=False)
    response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=question(campaign, "Q8").id,
                                   text="希望延长午间办理时间", comment_kind=CommentKind.SUGGESTION))
    session.flush()
    (case,) = open_cases_for_response(session, response)
    assert case.comment_kind == CommentKind.SUGGESTION and case.due_on is not None


def test_the_rule_is_set_on_the_settings_page(client, auth, session):
    auth.login_as("analyst")
    page = client.get("/admin/settings/")
    html = page.get_data(as_text=True)
    assert f'<select id="{settings.COMMENT_KIND_RULE}"' in html and "有差评为投诉" in html
    form = {"csrf_token": csrf_from(page), settings.DEADLINE_DAYS: "15", settings.BAD_LEVEL_MAX: "2",
            settings.TAG_SUGGESTIONS: "服务态度", settings.COMMENT_KIND_RULE: "anything"}
    bad = client.post("/admin/settings/", data=form)
    assert bad.status_code == 422 and "请从列表中选择一项" in bad.get_data(as_text=True)
    form[settings.COMMENT_KIND_RULE] = "praise"
    assert client.post("/admin/settings/", data=form).status_code == 302
    assert settings.get(session, settings.COMMENT_KIND_RULE) == "praise"


def test_an_analyst_reclassifies_praise_as_a_complaint_and_back(client, auth, session, window):
    _unit, campaign, code, _contact = window
    _submit(client, campaign, code, "5", "服务真好，就是没人理我", "praise")
    case = _only_case(session)
    auth.login_as("unit", unit=_unit)
    token = csrf_from(client.get(f"/admin/cases/{case.id}"))
    assert client.post(f"/admin/cases/{case.id}/kind", data={"csrf_token": token, "comment_kind": "complaint",
                                                            "note": "反讽"}).status_code == 403  # analysts only
    auth.logout()
    auth.login_as("analyst")
    page = client.get(f"/admin/cases/{case.id}")
    assert "更改类别" in page.get_data(as_text=True)
    token = csrf_from(page)
    no_reason = client.post(f"/admin/cases/{case.id}/kind", data={"csrf_token": token, "comment_kind": "complaint"})
    assert no_reason.status_code == 422 and "请填写原因" in no_reason.get_data(as_text=True)
    done = client.post(f"/admin/cases/{case.id}/kind", data={"csrf_token": token, "comment_kind": "complaint",
                                                            "note": "实为投诉：无人接待"})
    assert done.status_code == 302
    case = _only_case(session)
    assert case.comment_kind == CommentKind.COMPLAINT and case.state == CaseState.PENDING
    assert case.due_on is not None and case.due_on > org_today() and case.closed_on is None
    assert [e.action for e in case.events][-1] == "reclassify"
    assert "绩效办更改" in client.get(f"/admin/cases/{case.id}").get_data(as_text=True)
    client.post(f"/admin/cases/{case.id}/kind", data={"csrf_token": token, "comment_kind": "praise", "note": "核实为表扬"})
    case = _only_case(session)
    assert case.comment_kind == CommentKind.PRAISE and case.due_on is None and case.state == CaseState.CLOSED
    bad = client.post(f"/admin/cases/{case.id}/kind", data={"csrf_token": token, "comment_kind": "x", "note": "?"})
    assert bad.status_code == 422
