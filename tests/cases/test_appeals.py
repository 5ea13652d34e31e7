"""申诉复核: a unit appeals a 差评, an analyst decides; exclusion is a status, never a deletion."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from survey.core.errors import DomainError
from survey.models import Appeal, AppealState, AuditLog, Case, CaseState, FollowUpContact, Response, ResponseStatus
from survey.services.cases.appeals import (
    decide_appeal,
    file_appeal,
    may_appeal,
    restore_response,
    review_flagged,
)
from tests.cases.helpers import respond
from tests.factories import csrf_from


@pytest.fixture
def bad_case(make, session):
    unit = make.unit(name="住房公积金窗口")
    campaign = make.campaign(units=[unit])
    contact = make.user("unit", unit=unit)
    analyst = make.user("analyst")
    response = respond(session, campaign, unit, levels={"Q1": 1}, comment="乱写的", phone="13700001234")
    case = session.scalar(select(Case).where(Case.response_id == response.id, Case.kind == "bad_rating"))
    return case, contact, analyst, response


def case_campaign(session, case):
    from survey.models import Campaign

    return session.get(Campaign, case.campaign_id)


def test_approved_appeal_excludes_the_response_and_keeps_everything(session, bad_case):
    case, contact, analyst, response = bad_case
    with pytest.raises(DomainError, match="至少"):
        file_appeal(session, case, contact, "恶意")
    appeal = file_appeal(session, case, contact, "该答卷提交时本窗口未开放，属误评")
    assert not may_appeal(session, contact, case)  # one appeal under way per response
    with pytest.raises(DomainError):
        decide_appeal(session, appeal, contact, True, "自己批准")
    decide_appeal(session, appeal, analyst, True, "核实窗口当日停办，同意剔除")
    session.commit()
    session.expire_all()
    response = session.get(Response, response.id)
    assert response.status == ResponseStatus.EXCLUDED and "申诉通过" in response.status_reason
    assert session.scalar(select(func.count()).select_from(Response)) == 1  # not deleted
    assert len(response.answers) == 2
    assert {c.state for c in session.scalars(select(Case).where(Case.response_id == response.id))} == {CaseState.CLOSED}
    assert session.scalar(select(func.count()).select_from(FollowUpContact)) == 0
    assert session.get(Appeal, appeal.id).state == AppealState.APPROVED
    actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions[-3:] == ["appeal.file", "appeal.approve", "response.exclude"]
    with pytest.raises(DomainError):
        decide_appeal(session, appeal, analyst, False, "改主意")


def test_rejected_appeal_changes_nothing_and_allows_a_new_one(session, bad_case):
    case, contact, analyst, response = bad_case
    appeal = file_appeal(session, case, contact, "我们认为这是恶意差评")
    with pytest.raises(DomainError, match="复核意见"):
        decide_appeal(session, appeal, analyst, False, "")
    decide_appeal(session, appeal, analyst, False, "无证据表明恶意")
    session.commit()
    assert session.get(Response, response.id).status == ResponseStatus.VALID
    assert case.state == CaseState.PENDING
    assert may_appeal(session, contact, case)


def test_only_the_units_contact_appeals_a_bad_rating(session, bad_case, make):
    case, contact, analyst, _ = bad_case
    stranger = make.user("unit", unit=make.unit())
    assert not may_appeal(session, stranger, case) and not may_appeal(session, analyst, case)
    comment = respond(session, case_campaign(session, case), case.unit, comment="窗口太少")
    comment_case = session.scalar(select(Case).where(Case.response_id == comment.id))
    assert comment_case.kind.value == "comment" and not may_appeal(session, contact, comment_case)
    with pytest.raises(DomainError):
        file_appeal(session, case, stranger, "别人的差评也想删掉")


def test_restore_is_audited(session, bad_case):
    case, contact, analyst, response = bad_case
    decide_appeal(session, file_appeal(session, case, contact, "误评，系统测试数据"), analyst, True, "同意")
    with pytest.raises(DomainError):
        restore_response(session, response, contact, "想恢复")
    restore_response(session, response, analyst, "复查发现确为真实评价")
    session.commit()
    assert response.status == ResponseStatus.VALID and response.status_reason is None
    assert session.scalar(select(AuditLog).where(AuditLog.action == "response.restore")).user_id == analyst.id


def test_flagged_responses_valid_opens_cases_exclude_keeps_them_out(session, make):
    unit = make.unit()
    campaign = make.campaign(units=[unit])
    analyst = make.user("analyst")
    ok = respond(session, campaign, unit, levels={"Q1": 1}, status=ResponseStatus.FLAGGED)
    junk = respond(session, campaign, unit, levels={"Q1": 1}, status=ResponseStatus.FLAGGED)
    assert session.scalar(select(func.count()).select_from(Case)) == 0
    with pytest.raises(DomainError, match="剔除原因"):
        review_flagged(session, campaign.id, [junk.id], "exclude", analyst, "")
    with pytest.raises(DomainError, match="核查说明"):  # accepting needs a reason too: it is audited
        review_flagged(session, campaign.id, [ok.id], "valid", analyst, None)
    result = review_flagged(session, campaign.id, [ok.id], "valid", analyst, "核实为大厅集中办事")
    assert (result.changed, result.cases_opened) == (1, 1)
    review_flagged(session, campaign.id, [junk.id], "exclude", analyst, "同一设备 1 分钟内 20 份")
    session.commit()
    assert ok.status == ResponseStatus.VALID and junk.status == ResponseStatus.EXCLUDED
    assert session.scalar(select(func.count()).select_from(Case)) == 1
    with pytest.raises(DomainError):  # nothing flagged any more
        review_flagged(session, campaign.id, [ok.id, junk.id], "valid", analyst, "再次核查")


def test_appeal_through_the_pages(client, auth, session, bad_case):
    case, contact, analyst, response = bad_case
    auth.login(contact.username)
    page = client.get(f"/admin/cases/{case.id}")
    assert "提出申诉" in page.get_data(as_text=True)
    short = client.post(f"/admin/cases/{case.id}/appeal", data={"csrf_token": csrf_from(page), "reason": "不"})
    assert short.status_code == 422 and "至少 5 个字" in short.get_data(as_text=True)
    done = client.post(f"/admin/cases/{case.id}/appeal",
                       data={"csrf_token": csrf_from(page), "reason": "评价人当天并未来窗口办事"})
    assert done.status_code == 302
    assert client.get("/admin/appeals/").status_code == 403
    auth.logout()
    auth.login(analyst.username)
    listing = client.get("/admin/appeals/")
    html = listing.get_data(as_text=True)
    assert "评价人当天并未来窗口办事" in html and "住房公积金窗口" in html
    appeal = session.scalar(select(Appeal))
    empty = client.post(f"/admin/appeals/{appeal.id}/decide",
                        data={"csrf_token": csrf_from(listing), "decision": "approve", "note": ""})
    assert empty.status_code == 302
    session.expire_all()
    assert session.get(Appeal, appeal.id).state == AppealState.PENDING
    client.post(f"/admin/appeals/{appeal.id}/decide",
                data={"csrf_token": csrf_from(listing), "decision": "approve", "note": "核实属实"})
    session.expire_all()
    assert session.get(Response, response.id).status == ResponseStatus.EXCLUDED
    detail = client.get(f"/admin/cases/{case.id}").get_data(as_text=True)
    assert "申诉通过" in detail and "已剔除" in detail
