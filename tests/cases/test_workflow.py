"""Opening cases from responses, and moving them 待处理 → 处理中 → 已整改 → 已回访/关闭."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from survey.core import settings
from survey.core.errors import DomainError
from survey.models import (
    Answer,
    AuditLog,
    Case,
    CaseEvent,
    CaseKind,
    CaseState,
    Channel,
    CommentKind,
    FollowUpContact,
    Response,
    ResponseStatus,
)
from survey.services.cases.workflow import (
    available_steps,
    is_meaningful_comment,
    is_overdue,
    mask_phone,
    open_cases_for_response,
    record_callback,
    set_tags,
    transition,
)
from tests.cases.helpers import load_cn_2026, question, respond

D = dt.date.fromisoformat


@pytest.fixture
def setup(make, session):
    unit = make.unit(name="不动产登记窗口")
    campaign = make.campaign(units=[unit])
    contact = make.user("unit", unit=unit)
    analyst = make.user("analyst")
    return unit, campaign, contact, analyst


def _cases(session, response):
    return session.scalars(select(Case).where(Case.response_id == response.id).order_by(Case.kind)).all()


def test_a_bad_rating_with_a_comment_opens_one_case_due_in_15_working_days(session, setup):
    unit, campaign, *_ = setup
    load_cn_2026(session)
    response = respond(session, campaign, unit, levels={"Q1": 2, "Q2": 4, "Q3": 1}, comment="排队两个小时，叫号系统坏了",
                       submitted_on=D("2026-09-30"))
    (bad,) = _cases(session, response)  # one case, one deadline: not a 差评 case and a comment case
    assert bad.kind == CaseKind.BAD_RATING and bad.unit_id == unit.id and bad.state == CaseState.PENDING
    assert "Q1" in bad.summary and "不满意" in bad.summary and "Q3" in bad.summary and "非常不满意" in bad.summary
    assert "Q2" not in bad.summary
    assert "投诉：排队两个小时，叫号系统坏了" in bad.summary  # the comment is in it, as a complaint by rule
    assert bad.comment_kind == CommentKind.COMPLAINT and bad.answer_id is not None
    assert bad.opened_on == D("2026-09-30")
    assert bad.due_on == D("2026-10-27")  # Golden Week and the 10-10 make-up day
    assert [e.action for e in bad.events] == ["open"]


def test_opening_twice_opens_nothing_new(session, setup):
    unit, campaign, *_ = setup
    response = respond(session, campaign, unit, levels={"Q1": 1}, comment="太慢")
    assert len(_cases(session, response)) == 1
    assert open_cases_for_response(session, response) == []
    session.commit()
    assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_nothing_to_handle_opens_nothing(session, setup):
    unit, campaign, *_ = setup
    fine = respond(session, campaign, unit, levels={"Q1": 3, "Q2": 4}, comment="  无。 ")
    flagged = respond(session, campaign, unit, levels={"Q1": 1}, comment="刷票", status=ResponseStatus.FLAGGED)
    assert _cases(session, fine) == [] and _cases(session, flagged) == []


@pytest.mark.parametrize("text, meaningful", [
    ("无", False), ("没有意见。", False), ("  ", False), ("...", False), ("N/A", False), (None, False),
    ("无障碍通道被占用", True), ("好", True), ("停车难", True),
])
def test_meaningful_comment(text, meaningful):
    assert is_meaningful_comment(text) is meaningful


def test_settings_change_level_and_deadline(session, setup):
    unit, campaign, _contact, analyst = setup
    settings.set_value(session, settings.BAD_LEVEL_MAX, 1, analyst)
    settings.set_value(session, settings.DEADLINE_DAYS, 5, analyst)
    session.commit()
    not_bad = respond(session, campaign, unit, levels={"Q1": 2})
    bad = respond(session, campaign, unit, levels={"Q1": 1}, submitted_on=D("2026-11-23"))
    assert _cases(session, not_bad) == []
    (case,) = _cases(session, bad)
    assert case.due_on == D("2026-11-30")
    changes = session.scalars(select(AuditLog).where(AuditLog.action == "setting.change")).all()
    assert {c.detail["key"] for c in changes} == {settings.BAD_LEVEL_MAX, settings.DEADLINE_DAYS}


def test_deadline_counts_from_the_local_day(session, setup):
    unit, campaign, *_ = setup
    response = respond(session, campaign, unit, levels={"Q1": 1}, open_cases=False)
    response.submitted_at = dt.datetime(2026, 11, 20, 17, 0, tzinfo=dt.UTC)  # Saturday 01:00 in Beijing
    session.commit()
    (case,) = open_cases_for_response(session, response)
    assert case.opened_on == D("2026-11-21")
    assert case.due_on == D("2026-12-11")


def test_appraisal_opens_one_bad_rating_case_per_rated_unit(session, make):
    a, b = make.unit(name="甲局"), make.unit(name="乙局")
    campaign = make.campaign(units=[a, b], kind="appraisal")
    response = Response(campaign_id=campaign.id, questionnaire_id=campaign.questionnaire_id, channel=Channel.WEB,
                        submission_id="appraisal-1")
    for unit, level in ((a, 1), (b, 5)):
        response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id,
                                       question_id=question(campaign, "A1").id, level=level))
    response.answers.append(Answer(campaign_id=campaign.id, unit_id=b.id, question_id=question(campaign, "A5").id,
                                   text="网上办事系统经常登录不了"))
    session.add(response)
    session.flush()
    cases = open_cases_for_response(session, response)
    assert {(c.unit_id, c.kind) for c in cases} == {(a.id, CaseKind.BAD_RATING), (b.id, CaseKind.COMMENT)}


def test_full_workflow_with_callback_deletes_the_phone(session, setup):
    unit, campaign, contact, _analyst = setup
    response = respond(session, campaign, unit, levels={"Q1": 1}, phone="13812341234")
    (case,) = _cases(session, response)
    assert available_steps(session, contact, case) == ["start", "rectify"]
    transition(session, case, "start", contact, note="已联系窗口负责人")
    with pytest.raises(DomainError, match="整改情况"):
        transition(session, case, "rectify", contact, rectification="   ")
    transition(session, case, "rectify", contact, rectification="增加两名叫号引导员，修复叫号机")
    assert case.state == CaseState.RECTIFIED and case.rectified_at is not None
    with pytest.raises(DomainError, match="回访"):
        transition(session, case, "close", contact)
    with pytest.raises(DomainError):
        record_callback(session, case, contact, D("2099-01-01"), "satisfied")
    record_callback(session, case, contact, case.opened_on, "satisfied", "群众表示满意")
    transition(session, case, "close", contact)
    session.commit()
    session.expire_all()
    assert case.state == CaseState.CLOSED and case.closed_on is not None and case.callback_verdict == "satisfied"
    assert session.scalar(select(func.count()).select_from(FollowUpContact)) == 0
    assert session.scalars(select(FollowUpContact.phone)).all() == []
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)).all()
    assert [(e.action, e.from_state, e.to_state) for e in events] == [
        ("open", None, "pending"), ("start", "pending", "in_progress"), ("rectify", "in_progress", "rectified"),
        ("callback", "rectified", "rectified"), ("close", "rectified", "closed")]
    assert all(e.user_id == contact.id for e in events[1:])
    actions = session.scalars(select(AuditLog.action).where(AuditLog.object_type == "Case")).all()
    assert actions == ["case.start", "case.rectify", "case.callback", "case.close"]
    close = session.scalar(select(AuditLog).where(AuditLog.action == "case.close"))
    assert close.detail["contact_deleted"] is True and close.user_id == contact.id


def test_phone_kept_until_the_last_case_of_the_response_closes(session, setup, make):
    unit, campaign, contact, _analyst = setup
    response = respond(session, campaign, unit, levels={"Q1": 1}, phone="13900001111", open_cases=False)
    sibling = make.unit(name="不动产登记窗口二", parent=unit)  # the contact handles sub-units too
    response.answers.append(Answer(campaign_id=campaign.id, unit_id=sibling.id, question_id=question(campaign, "Q8").id,
                                   text="态度差"))
    session.flush()
    open_cases_for_response(session, response)
    session.commit()
    first, second = _cases(session, response)
    for case in (first, second):
        transition(session, case, "rectify", contact, rectification="批评教育当事人")
        record_callback(session, case, contact, case.opened_on, "basically")
    transition(session, first, "close", contact)
    session.commit()
    assert session.scalar(select(FollowUpContact.phone)) == "13900001111"
    transition(session, second, "close", contact)
    session.commit()
    assert session.scalar(select(func.count()).select_from(FollowUpContact)) == 0


def test_comment_closes_without_fix_only_with_an_explanation(session, setup):
    unit, campaign, contact, _ = setup
    response = respond(session, campaign, unit, comment="窗口服务热情，点赞！")
    (case,) = _cases(session, response)
    assert "close" in available_steps(session, contact, case)
    with pytest.raises(DomainError, match="办结说明"):
        transition(session, case, "close", contact)
    transition(session, case, "close", contact, note="表扬，已转告窗口")
    assert case.state == CaseState.CLOSED and case.rectification is None


def test_bad_rating_cannot_skip_the_fix_and_only_analysts_reopen(session, setup):
    unit, campaign, contact, analyst = setup
    (case,) = _cases(session, respond(session, campaign, unit, levels={"Q1": 2}))
    with pytest.raises(DomainError, match="不能"):
        transition(session, case, "close", contact, note="不想改")
    transition(session, case, "rectify", contact, rectification="已整改")
    transition(session, case, "close", contact)
    with pytest.raises(DomainError):
        transition(session, case, "reopen", contact, note="再看看")
    with pytest.raises(DomainError, match="原因"):
        transition(session, case, "reopen", analyst)
    transition(session, case, "reopen", analyst, note="回访不满意，需重新整改")
    assert case.state == CaseState.IN_PROGRESS and case.closed_at is None and case.closed_on is None
    transition(session, case, "rectify", analyst, rectification="第二次整改")
    transition(session, case, "rework", contact, note="仍未解决")
    assert case.state == CaseState.IN_PROGRESS


def test_other_units_contact_cannot_act(session, setup, make):
    unit, campaign, _contact, _ = setup
    stranger = make.user("unit", unit=make.unit(name="隔壁单位"))
    (case,) = _cases(session, respond(session, campaign, unit, levels={"Q1": 1}, phone="13812345678"))
    assert available_steps(session, stranger, case) == []
    for action in ("start", "rectify"):
        with pytest.raises(DomainError, match="无权"):
            transition(session, case, action, stranger, rectification="x")
    with pytest.raises(DomainError, match="无权"):
        record_callback(session, case, stranger, case.opened_on, "satisfied")
    with pytest.raises(DomainError, match="无权"):
        set_tags(session, case, ["服务态度"], stranger)


def test_parent_units_contact_handles_sub_unit_cases(session, make):
    parent = make.unit(name="市自然资源和规划局")
    window = make.unit(name="不动产登记窗口", parent=parent)
    campaign = make.campaign(units=[window])
    boss = make.user("unit", unit=parent)
    (case,) = _cases(session, respond(session, campaign, window, levels={"Q1": 1}))
    transition(session, case, "start", boss)
    assert case.state == CaseState.IN_PROGRESS


def test_tags_replace_and_are_recorded(session, setup):
    unit, campaign, contact, _ = setup
    (case,) = _cases(session, respond(session, campaign, unit, levels={"Q1": 1}))
    assert set_tags(session, case, "服务态度，办事效率, 服务态度", contact) == ["服务态度", "办事效率"]
    assert set_tags(session, case, ["办事效率"], contact) == ["办事效率"]
    session.commit()
    assert [t.tag for t in case.tags] == ["办事效率"]
    with pytest.raises(DomainError):
        set_tags(session, case, ["很" * 41], contact)


def test_overdue_and_mask():
    case = Case(state=CaseState.IN_PROGRESS, due_on=D("2026-11-20"))
    assert is_overdue(case, D("2026-11-21")) and not is_overdue(case, D("2026-11-20"))
    case.state = CaseState.CLOSED
    assert not is_overdue(case, D("2026-12-31"))
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("12345") == "***45"
