"""申诉复核 and the analysts' decisions on which responses count.

A unit may appeal a 差评 it believes malicious or mistaken, giving its reason; an analyst
approves or rejects it with a note. Approval excludes the whole response from every
score by its status (EXCLUDED, with the reason), never by deleting it, and closes the
response's open cases; the appeal, the decision and the exclusion stay in the audit
trail. Analysts may restore an excluded response, and decide on responses the
anti-abuse check flagged: valid (its cases open, counting from that day) or excluded.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.core import audit
from survey.core.clock import local_date, org_timezone
from survey.core.errors import DomainError
from survey.models import (
    Appeal,
    AppealState,
    Case,
    CaseEvent,
    CaseKind,
    CaseState,
    Response,
    ResponseStatus,
    Role,
    User,
    utcnow,
)
from survey.services.cases.workflow import delete_contact_if_done, open_cases_for_response, visible_case

MIN_REASON = 5
MAX_REASON = 2000


def _text(value: str | None, what: str, minimum: int = 1) -> str:
    value = (value or "").strip().replace("\r\n", "\n")
    if len(value) < minimum:
        if minimum > 1:
            raise DomainError(_("%(what)s至少 %(n)d 个字。", what=what, n=minimum))
        raise DomainError(_("请填写%(what)s。", what=what))
    if len(value) > MAX_REASON:
        raise DomainError(_("%(what)s最多 %(n)d 个字。", what=what, n=MAX_REASON))
    return value


def appeals_for_case(session: Session, case: Case) -> list[Appeal]:
    return list(session.scalars(select(Appeal).where(Appeal.case_id == case.id).order_by(Appeal.requested_at)))


def may_appeal(session: Session, user: User, case: Case) -> bool:
    """A contact of the rated unit, on a 差评 of a counted response, with no appeal under way or granted."""
    if user.role != Role.UNIT or case.kind != CaseKind.BAD_RATING:
        return False
    if visible_case(session, user, case.id) is None:
        return False
    response = session.get(Response, case.response_id)
    if response is None or response.status == ResponseStatus.EXCLUDED:
        return False
    open_appeal = session.scalar(
        select(func.count()).select_from(Appeal)
        .where(Appeal.response_id == case.response_id, Appeal.state != AppealState.REJECTED)
    )
    return not open_appeal


def file_appeal(session: Session, case: Case, actor: User, reason: str) -> Appeal:
    """The unit asks for this 差评 to be excluded from scores, saying why."""
    if not may_appeal(session, actor, case):
        raise DomainError(_("此件不能申诉：只有本单位的差评可以申诉，且每份答卷只能有一项未决或已通过的申诉。"))
    reason = _text(reason, _("申诉理由"), MIN_REASON)
    appeal = Appeal(response_id=case.response_id, case_id=case.id, unit_id=case.unit_id, reason=reason,
                    requested_by_id=actor.id)
    session.add(appeal)
    session.add(CaseEvent(case=case, user_id=actor.id, action="appeal", from_state=case.state.value,
                          to_state=case.state.value, note=reason))
    session.flush()
    audit.record(session, actor, "appeal.file", appeal, f"单位就处理件 #{case.id} 提出申诉",
                 case_id=case.id, response_id=case.response_id, unit_id=case.unit_id, reason=reason)
    return appeal


def decide_appeal(session: Session, appeal: Appeal, actor: User, approve: bool, note: str | None) -> Appeal:
    """An analyst approves (the response is excluded) or rejects (nothing changes) an appeal."""
    if actor.role not in (Role.ADMIN, Role.ANALYST):
        raise DomainError(_("只有绩效办分析员可以复核申诉。"))
    if appeal.state != AppealState.PENDING:
        raise DomainError(_("此申诉已经复核过了。"))
    note = _text(note, _("复核意见"))
    appeal.state = AppealState.APPROVED if approve else AppealState.REJECTED
    appeal.decided_by_id = actor.id
    appeal.decided_at = utcnow()
    appeal.decision_note = note
    case = session.get(Case, appeal.case_id) if appeal.case_id else None
    if case is not None:
        session.add(CaseEvent(case=case, user_id=actor.id, action="appeal_approved" if approve else "appeal_rejected",
                              from_state=case.state.value, to_state=case.state.value, note=note))
    session.flush()
    audit.record(session, actor, "appeal.approve" if approve else "appeal.reject", appeal,
                 f"申诉 #{appeal.id} {'通过' if approve else '驳回'}", case_id=appeal.case_id,
                 response_id=appeal.response_id, unit_id=appeal.unit_id, note=note)
    if approve:
        response = session.get(Response, appeal.response_id)
        exclude_response(session, response, actor, _("申诉通过（申诉 #%(id)d）", id=appeal.id), appeal_id=appeal.id)
    return appeal


def exclude_response(session: Session, response: Response, actor: User, reason: str, appeal_id: int | None = None) -> None:
    """Leave a response out of every score (status, not deletion) and close its open cases."""
    reason = _text(reason, _("剔除原因"))[:200]
    before = response.status
    response.status = ResponseStatus.EXCLUDED
    response.status_reason = reason
    now = utcnow()
    closed = []
    for case in session.scalars(select(Case).where(Case.response_id == response.id, Case.state != CaseState.CLOSED)):
        session.add(CaseEvent(case=case, at=now, user_id=actor.id, action="excluded", from_state=case.state.value,
                              to_state=CaseState.CLOSED.value, note=reason))
        case.state = CaseState.CLOSED
        case.closed_at = now
        case.closed_on = local_date(now, org_timezone())
        closed.append(case)
    session.flush()
    for case in closed:
        delete_contact_if_done(session, case)
    session.flush()
    audit.record(session, actor, "response.exclude", response, f"剔除答卷 #{response.id}：{reason}",
                 before=before.value, reason=reason, appeal_id=appeal_id, closed_cases=[c.id for c in closed])


def restore_response(session: Session, response: Response, actor: User, reason: str) -> None:
    """Count an excluded response again (its closed cases stay closed; reopen them if needed)."""
    if actor.role not in (Role.ADMIN, Role.ANALYST):
        raise DomainError(_("只有绩效办分析员可以恢复答卷。"))
    if response.status != ResponseStatus.EXCLUDED:
        raise DomainError(_("这份答卷没有被剔除。"))
    reason = _text(reason, _("恢复原因"))
    response.status = ResponseStatus.VALID
    response.status_reason = None
    session.flush()
    audit.record(session, actor, "response.restore", response, f"恢复答卷 #{response.id}：{reason}", reason=reason)


def pending_appeals(session: Session, state: AppealState | None = AppealState.PENDING) -> list[Appeal]:
    stmt = select(Appeal).order_by(Appeal.requested_at.desc())
    if state is not None:
        stmt = stmt.where(Appeal.state == state)
    return list(session.scalars(stmt.limit(500)))


# --- flagged responses -----------------------------------------------------------------------

@dataclass
class ReviewResult:
    changed: int
    cases_opened: int


def flagged_responses(session: Session, campaign_id: int, limit: int = 500) -> list[Response]:
    return list(session.scalars(
        select(Response).where(Response.campaign_id == campaign_id, Response.status == ResponseStatus.FLAGGED)
        .order_by(Response.submitted_at).limit(limit)
    ))


def review_flagged(
    session: Session, campaign_id: int, response_ids: list[int], decision: str, actor: User, reason: str | None,
    today: dt.date | None = None,
) -> ReviewResult:
    """Mark flagged responses of one campaign valid or excluded, each audited."""
    if actor.role not in (Role.ADMIN, Role.ANALYST):
        raise DomainError(_("只有绩效办分析员可以核查答卷。"))
    if decision not in ("valid", "exclude"):
        raise DomainError(_("请选择“有效”或“剔除”。"))
    if not response_ids:
        raise DomainError(_("请至少勾选一份答卷。"))
    responses = list(session.scalars(
        select(Response).where(Response.id.in_(response_ids), Response.campaign_id == campaign_id,
                               Response.status == ResponseStatus.FLAGGED)
    ))
    if not responses:
        raise DomainError(_("勾选的答卷已不在待核查之列。"))
    result = ReviewResult(0, 0)
    if decision == "exclude":
        reason = _text(reason, _("剔除原因"))
        for response in responses:
            exclude_response(session, response, actor, reason)
            result.changed += 1
        return result
    reason = _text(reason, _("核查说明"))
    today = today or local_date(utcnow(), org_timezone())
    for response in responses:
        flagged_for = response.status_reason
        response.status = ResponseStatus.VALID
        response.status_reason = None
        session.flush()
        result.cases_opened += len(open_cases_for_response(session, response, start=today))
        audit.record(session, actor, "response.validate", response, f"核查答卷 #{response.id}：有效（{reason}）",
                     reason=reason[:200], flagged_for=flagged_for)
        result.changed += 1
    return result
