"""Comments (意见建议) and 差评 become cases the rated unit must handle within a deadline.

Opening: every response that rates a unit at or below the 差评 level (default 2 = 不满意 or
非常不满意) on any satisfaction question opens one 差评 case for that unit, summarising which
questions got which level, and the response's comments about that unit go into the same
case: one case, one deadline. Every other meaningful answer to a comment question
(``Question.is_comment``) opens one 意见建议 case. A comment is a 投诉, 建议 or 表扬: as the
citizen chose beside the comment box, else by the analysts' rule (setting
``case.comment_kind_rule``; by default 投诉 with a 差评, else 建议). A 表扬 is recorded as a
case without a deadline, closed from the start: visible in the list, never overdue, not
counted in the handling figures. Other free text (e.g. "其他，请注明") is not feedback to a
unit and opens nothing; neither do empty answers like "无" or "没有意见".
Only valid responses open cases: a flagged response opens its cases when an analyst
marks it valid. A case is due on the N-th working day (default 15) after the day it
counts from, the submission day in the organisation's time zone.

Handling: 待处理 → 处理中 → 已整改 → 已回访/关闭, and only so:
- start (开始处理): pending → in progress;
- rectify (整改): pending / in progress → rectified, with a report of the fix (required);
- rework (重新整改): rectified → in progress, e.g. after a 回访 verdict of 不满意 (reason required);
- close (关闭): rectified → closed; a 意见建议 that needs no fix (praise, a suggestion
  noted) may be closed from pending or in progress with an explanation (required).
  If the respondent consented to follow-up, closing needs a recorded 回访 first, and
  the phone number is deleted as soon as no case of that response is open any more;
- reopen (重新打开): closed → in progress, analysts only, reason required.
The unit's contacts (for the unit and its sub-units) and analysts act on a case; every
step is a CaseEvent (who, from, to, note, when) and an audit record.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from survey.core import audit, settings
from survey.core.clock import local_date, local_moment, org_timezone
from survey.core.errors import DomainError
from survey.core.labels import label, values
from survey.db import savepoint
from survey.models import (
    Answer,
    Case,
    CaseEvent,
    CaseKind,
    CaseState,
    CaseTag,
    CommentKind,
    FollowUpContact,
    Question,
    QuestionType,
    Response,
    ResponseStatus,
    Role,
    User,
    utcnow,
)
from survey.services.accounts.access import visible_unit_ids
from survey.services.cases.calendar import due_date
from survey.services.responses import submission

MAX_NOTE = 2000
# Answers that say "nothing to say": they open no case.
NO_CONTENT = {
    "无", "没有", "暂无", "无意见", "没意见", "没有意见", "暂无意见", "无建议", "没有建议", "暂无建议",
    "无意见建议", "没有意见建议", "无意见和建议", "没有意见和建议", "不知道", "没", "none", "no", "n/a", "na", "nil",
}
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Rules:
    deadline_days: int
    bad_level_max: int
    comment_kind_rule: str = "by_rating"


def rules(session: Session) -> Rules:
    return Rules(*settings.current(session, settings.DEADLINE_DAYS, settings.BAD_LEVEL_MAX,
                                   settings.COMMENT_KIND_RULE))


def comment_kind(answer: Answer | submission.ParsedAnswer, with_bad_rating: bool, rule: Rules) -> CommentKind:
    """The citizen's choice, else the rule: by rating (投诉 beside a 差评, else 建议) or one fixed kind."""
    if answer.comment_kind is not None:
        return CommentKind(answer.comment_kind)
    if rule.comment_kind_rule == "by_rating":
        return CommentKind.COMPLAINT if with_bad_rating else CommentKind.SUGGESTION
    return CommentKind(rule.comment_kind_rule)


def is_meaningful_comment(text: str | None) -> bool:
    """True unless the text is empty, punctuation only, or a plain "nothing to say"."""
    if not text:
        return False
    stripped = _PUNCT.sub("", text).lower()
    return bool(stripped) and stripped not in NO_CONTENT


# --- opening ---------------------------------------------------------------------------------

Calls = tuple[dict[int, list[tuple[Question, int]]], list[tuple[Answer | submission.ParsedAnswer, int]]]


def _calls_for(session: Session, response: Response, rule: Rules,
               answers: Sequence[Answer | submission.ParsedAnswer] | None = None) -> Calls:
    """The response's 差评 per unit and its meaningful comments, found in memory.

    Questions come from what the submit path lends in ``session.info`` (its cached questionnaire
    version), else the session's identity map, so a response that calls for no case costs no query here.
    ``answers``: the submit path's parsed answers instead of the stored rows, when every comment among them
    carries its row's id.
    """
    if answers is None:
        answers = response.answers
    lent = session.info.get(submission.QUESTIONS_INFO) or {}
    questions = {qid: lent.get(qid) or session.get(Question, qid) for qid in {a.question_id for a in answers}}
    bad: dict[int, list[tuple[Question, int]]] = defaultdict(list)
    comments: list[tuple[Answer, int]] = []
    for answer in answers:
        question = questions.get(answer.question_id)
        unit_id = answer.unit_id if answer.unit_id is not None else response.unit_id
        if question is None or unit_id is None:
            continue  # a question not about any unit (e.g. the respondent group)
        if question.type == QuestionType.SATISFACTION and answer.level is not None and answer.level <= rule.bad_level_max:
            bad[unit_id].append((question, answer.level))
        elif question.type == QuestionType.TEXT and question.is_comment and is_meaningful_comment(answer.text):
            comments.append((answer, unit_id))  # a stored row, or a parsed answer with its row's id
    return bad, comments


def _comment_calls(session: Session, answer: Answer | submission.ParsedAnswer) -> bool:
    """Whether the answer is (or, with its question not at hand, may be) a meaningful comment."""
    lent = session.info.get(submission.QUESTIONS_INFO)
    question = lent.get(answer.question_id) if lent else None
    return question is None or (question.type == QuestionType.TEXT and question.is_comment
                                and is_meaningful_comment(answer.text))


def _may_call_for_a_case(session: Session, response: Response) -> bool:
    """Whether the response has a satisfaction level a 差评 setting could count as bad, or a
    comment: checked in memory before anything is read (most ratings are good)."""
    parsed = session.info.get(submission.ANSWERS_INFO)
    for answer in parsed if parsed is not None else response.answers:
        if answer.level is not None and answer.level <= settings.BAD_LEVEL_HIGHEST:
            return True
        if answer.text and _comment_calls(session, answer):
            return True
    return False


def open_cases_for_response(session: Session, response: Response, start: dt.date | None = None,
                            rule: Rules | None = None, calls: Calls | None = None, new: bool = False) -> list[Case]:
    """Open the cases a response calls for and return the new ones (none on a second call).

    ``start`` is the day the deadline counts from: the submission day in the organisation's
    time zone unless given (a flagged response marked valid later counts from that day).
    ``calls``: what :func:`_calls_for` found, when the caller has it; ``new``: the response was
    inserted in this transaction, so it has no cases yet.
    """
    ids = _insert_cases(session, response, start, rule, calls, new)
    return list(session.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.id))) if ids else []


# Built once (a statement built per row cost more than SQLite takes to run it); each row gives its columns.
_INSERT_CASE = insert(Case.__table__).returning(Case.__table__.c.id)
_INSERT_EVENT = insert(CaseEvent.__table__)


def _insert_cases(session: Session, response: Response, start: dt.date | None, rule: Rules | None,
                  calls: Calls | None, new: bool) -> list[int]:
    """What :func:`open_cases_for_response` does, returning the new cases' ids: the rows go in as two
    plain INSERTs (the case, its "open" event), no unit of work, as the submit path wants them."""
    if response.status != ResponseStatus.VALID:
        return []
    rule = rule or rules(session)
    bad, comments = calls if calls is not None else _calls_for(session, response, rule)
    if not bad and not comments:
        return []
    start = start or local_date(response.submitted_at, org_timezone())
    due = due_date(session, start, rule.deadline_days)
    existing = set() if new else set(session.scalars(select(Case.dedup_key).where(Case.response_id == response.id)))
    rows: list[dict[str, object]] = []

    def add(key: str, praise: bool = False, **values: object) -> None:
        if key in existing:
            return
        state = CaseState.CLOSED if praise else CaseState.PENDING
        rows.append({"response_id": response.id, "campaign_id": response.campaign_id, "dedup_key": key,
                     "opened_on": start, "due_on": None if praise else due, "state": state,
                     # recorded and visible, nothing to handle: no deadline, never overdue
                     "closed_on": start if praise else None, "closed_at": utcnow() if praise else None, **values})

    comments_by_unit: dict[int, list[Answer | submission.ParsedAnswer]] = defaultdict(list)
    for answer, unit_id in comments:
        comments_by_unit[unit_id].append(answer)
    for unit_id, rated in sorted(bad.items()):
        parts = [f"{q.code} {q.text}：{label('level', level)}" for q, level in sorted(rated, key=lambda r: r[0].position)]
        merged = comments_by_unit.pop(unit_id, [])  # a 差评 and its comment: one case, one deadline
        kinds = [comment_kind(answer, True, rule) for answer in merged]
        # The citizen's own words first: the list shows the start of a summary.
        lines = [f"{label('comment_kind', kind)}：{answer.text.strip()}" for answer, kind in zip(merged, kinds, strict=True)]
        summary = "\n".join([*lines, _("差评：") + "；".join(parts)])
        add(f"bad:{response.id}:{unit_id}", unit_id=unit_id, kind=CaseKind.BAD_RATING, summary=summary,
            answer_id=merged[0].id if merged else None, comment_kind=kinds[0] if kinds else None)
    for unit_id, answers in sorted(comments_by_unit.items()):
        for answer in answers:
            kind = comment_kind(answer, False, rule)
            add(f"comment:{answer.id}", praise=kind == CommentKind.PRAISE, unit_id=unit_id, kind=CaseKind.COMMENT,
                answer_id=answer.id, comment_kind=kind, summary=answer.text.strip())
    if not rows:
        return []
    session.flush()  # the response as it stands (a status just made valid) before rows that refer to it
    conn = session.connection()
    ids = [conn.execute(_INSERT_CASE, row).scalar_one() for row in rows]  # one statement each: ids in order
    praise_note = _("表扬：只登记，不设办结期限。")
    conn.execute(_INSERT_EVENT, [
        {"case_id": case_id, "action": "open", "to_state": row["state"].value,
         "note": praise_note if row["state"] == CaseState.CLOSED else None}
        for case_id, row in zip(ids, rows, strict=True)])
    return ids


# --- who may do what -------------------------------------------------------------------------

def visible_case(session: Session, user: User, case_id: int) -> Case | None:
    """The case, if the user may see it (analysts: all; unit contacts: own unit and below)."""
    case = session.get(Case, case_id)
    if case is None:
        return None
    scope = visible_unit_ids(session, user)
    if scope is not None and case.unit_id not in scope:
        return None
    return case


def is_analyst(user: User) -> bool:
    return user.role in (Role.ADMIN, Role.ANALYST)


def may_handle(session: Session, user: User, case: Case) -> bool:
    """The responsible unit's contacts and the analysts handle a case."""
    if is_analyst(user):
        return True
    scope = visible_unit_ids(session, user)
    return user.role == Role.UNIT and scope is not None and case.unit_id in scope


@dataclass(frozen=True)
class Step:
    from_states: tuple[CaseState, ...]
    to_state: CaseState
    label: object
    analysts_only: bool = False


STEPS: dict[str, Step] = {
    "start": Step((CaseState.PENDING,), CaseState.IN_PROGRESS, _l("开始处理")),
    "rectify": Step((CaseState.PENDING, CaseState.IN_PROGRESS), CaseState.RECTIFIED, _l("登记整改")),
    "rework": Step((CaseState.RECTIFIED,), CaseState.IN_PROGRESS, _l("重新整改")),
    "close": Step((CaseState.PENDING, CaseState.IN_PROGRESS, CaseState.RECTIFIED), CaseState.CLOSED, _l("关闭")),
    "reopen": Step((CaseState.CLOSED,), CaseState.IN_PROGRESS, _l("重新打开"), analysts_only=True),
}


def available_steps(session: Session, user: User, case: Case) -> list[str]:
    """The actions this user can take on this case now (for the buttons on the case page)."""
    if not may_handle(session, user, case):
        return []
    names = []
    for name, step in STEPS.items():
        if case.state not in step.from_states or (step.analysts_only and not is_analyst(user)):
            continue
        if name == "close" and case.state != CaseState.RECTIFIED and case.kind != CaseKind.COMMENT:
            continue
        names.append(name)
    return names


def _clean(text: str | None, what: str, required: bool) -> str | None:
    text = (text or "").strip().replace("\r\n", "\n")
    if not text:
        if required:
            raise DomainError(_("请填写%(what)s。", what=what))
        return None
    if len(text) > MAX_NOTE:
        raise DomainError(_("%(what)s最多 %(n)d 个字。", what=what, n=MAX_NOTE))
    return text


def contact_for(session: Session, case: Case) -> FollowUpContact | None:
    return session.scalar(select(FollowUpContact).where(FollowUpContact.response_id == case.response_id))


def mask_phone(phone: str) -> str:
    """138****1234: the first three and the last four digits, the rest hidden."""
    digits = phone.strip()
    if len(digits) >= 8:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def may_see_phone(session: Session, user: User, case: Case) -> bool:
    """Only the responsible unit's contacts, only while the case is open."""
    if user.role != Role.UNIT or case.state == CaseState.CLOSED:
        return False
    scope = visible_unit_ids(session, user)
    return scope is not None and case.unit_id in scope


# --- moving a case ---------------------------------------------------------------------------

def transition(
    session: Session,
    case: Case,
    action: str,
    actor: User,
    note: str | None = None,
    rectification: str | None = None,
    now: dt.datetime | None = None,
) -> Case:
    """Move a case one step, recording who, from, to, why and when."""
    step = STEPS.get(action)
    if step is None:
        raise DomainError(_("未知操作。"))
    if not may_handle(session, actor, case) or (step.analysts_only and not is_analyst(actor)):
        raise DomainError(_("您无权对此件进行该操作。"))
    if action not in available_steps(session, actor, case):
        raise DomainError(_("此件当前状态为“%(state)s”，不能“%(action)s”。",
                            state=label("case_state", case.state), action=step.label))
    now = now or utcnow()
    before = case.state
    contact_deleted = False
    if action == "rectify":
        case.rectification = _clean(rectification, _("整改情况"), required=True)
        case.rectified_at = now
        note = _clean(note, _("说明"), required=False)
    elif action == "close":
        if before != CaseState.RECTIFIED:
            note = _clean(note, _("办结说明（为何无需整改）"), required=True)
        else:
            note = _clean(note, _("说明"), required=False)
        if contact_for(session, case) is not None and case.callback_at is None:
            raise DomainError(_("答卷人同意接受回访，关闭前请先登记回访结果。"))
        case.closed_at = now
        case.closed_on = local_date(now, org_timezone())
    else:
        required = action in ("rework", "reopen")
        note = _clean(note, _("原因"), required=required)
    if action in ("rework", "reopen"):
        case.closed_at = None
        case.closed_on = None
    if action == "start" and case.assigned_user_id is None:
        case.assigned_user_id = actor.id
    case.state = step.to_state
    session.add(CaseEvent(case=case, at=now, user_id=actor.id, action=action, from_state=before.value,
                          to_state=case.state.value, note=note))
    if case.state == CaseState.CLOSED:
        contact_deleted = delete_contact_if_done(session, case)
    session.flush()
    audit.record(session, actor, f"case.{action}", case,
                 f"处理件 #{case.id}：{label('case_state', before)} → {label('case_state', case.state)}",
                 from_state=before.value, to_state=case.state.value, note=note, unit_id=case.unit_id,
                 contact_deleted=contact_deleted)
    return case


def record_callback(
    session: Session,
    case: Case,
    actor: User,
    called_on: dt.date,
    verdict: str,
    note: str | None = None,
    today: dt.date | None = None,
) -> Case:
    """Record the 回访: when the respondent was called and what they said of the fix."""
    if not may_handle(session, actor, case):
        raise DomainError(_("您无权对此件进行该操作。"))
    if case.state == CaseState.CLOSED:
        raise DomainError(_("已关闭的件不能再登记回访。"))
    if contact_for(session, case) is None:
        raise DomainError(_("答卷人没有留下回访电话，无法登记回访。"))
    if verdict not in values("verdict"):
        raise DomainError(_("请选择回访结果。"))
    today = today or local_date(utcnow(), org_timezone())
    if called_on > today or called_on < case.opened_on:
        raise DomainError(_("回访日期应在提交日和今天之间。"))
    note = _clean(note, _("回访记录"), required=False)
    case.callback_at = local_moment(called_on, 12, org_timezone())
    case.callback_verdict = verdict
    case.callback_note = note
    session.add(CaseEvent(case=case, user_id=actor.id, action="callback", from_state=case.state.value,
                          to_state=case.state.value, note=label("verdict", verdict) + (_("：") + note if note else "")))
    session.flush()
    audit.record(session, actor, "case.callback", case, f"处理件 #{case.id} 登记回访：{label('verdict', verdict)}",
                 called_on=called_on.isoformat(), verdict=verdict, unit_id=case.unit_id)
    return case


def reclassify(session: Session, case: Case, kind: str, actor: User, note: str | None = None,
               now: dt.datetime | None = None) -> Case:
    """An analyst says what a comment really is (a "表扬" that is a complaint, or the reverse).

    A 意见建议 case made 表扬 is closed and loses its deadline; a 表扬 made 投诉 or 建议 is
    pending again, due N working days after today. A 差评 case keeps its deadline whatever
    its comment is called. Recorded as a CaseEvent and audited.
    """
    if not is_analyst(actor):
        raise DomainError(_("只有绩效办可以更改意见类别。"))
    if kind not in {k.value for k in CommentKind}:
        raise DomainError(_("请选择投诉、建议或表扬。"))
    new = CommentKind(kind)
    before = case.comment_kind
    if new == before:
        return case
    note = _clean(note, _("原因"), required=True)
    now = now or utcnow()
    today = local_date(now, org_timezone())
    from_state = case.state
    case.comment_kind = new
    if case.kind == CaseKind.COMMENT and new == CommentKind.PRAISE:
        case.due_on = None
        if case.state != CaseState.CLOSED:
            case.state = CaseState.CLOSED
            case.closed_at = now
            case.closed_on = today
    elif case.kind == CaseKind.COMMENT and case.due_on is None:
        case.due_on = due_date(session, today, rules(session).deadline_days)
        case.opened_on = today
        case.state = CaseState.PENDING
        case.closed_at = None
        case.closed_on = None
    session.add(CaseEvent(case=case, at=now, user_id=actor.id, action="reclassify", from_state=from_state.value,
                          to_state=case.state.value,
                          note=f"{label('comment_kind', before) if before else '—'} → {label('comment_kind', new)}：{note}"))
    if case.state == CaseState.CLOSED:
        delete_contact_if_done(session, case)
    session.flush()
    audit.record(session, actor, "case.reclassify", case,
                 f"处理件 #{case.id} 意见类别：{label('comment_kind', before) if before else '—'} → {label('comment_kind', new)}",
                 before=before.value if before else None, after=new.value, note=note, unit_id=case.unit_id)
    return case


def delete_contact_if_done(session: Session, case: Case) -> bool:
    """Delete the respondent's phone number once no case of the response is open (PIPL)."""
    contact = contact_for(session, case)
    if contact is None:
        return False
    session.flush()
    still_open = session.scalar(
        select(func.count()).select_from(Case)
        .where(Case.response_id == case.response_id, Case.state != CaseState.CLOSED)
    )
    if still_open:
        return False
    session.delete(contact)
    return True


def set_tags(session: Session, case: Case, tags: list[str] | str, actor: User) -> list[str]:
    """Replace the case's category tags (分类标签)."""
    if not may_handle(session, actor, case):
        raise DomainError(_("您无权对此件进行该操作。"))
    wanted = settings.clean_tags(tags)  # a DomainError names the bad tag
    if len(wanted) > 10:
        raise DomainError(_("每件最多 10 个标签。"))
    before = sorted(t.tag for t in case.tags)
    if sorted(wanted) == before:
        return before
    case.tags = [t for t in case.tags if t.tag in wanted]
    have = {t.tag for t in case.tags}
    case.tags.extend(CaseTag(tag=t) for t in wanted if t not in have)
    session.add(CaseEvent(case=case, user_id=actor.id, action="tags", from_state=case.state.value,
                          to_state=case.state.value, note="、".join(wanted) or _("（无标签）")))
    session.flush()
    audit.record(session, actor, "case.tags", case, f"处理件 #{case.id} 标签：{'、'.join(wanted) or '—'}",
                 before=before, after=wanted)
    return wanted


def is_overdue(case: Case, today: dt.date) -> bool:
    """Not closed and past its due day (a praise has none)."""
    return case.state != CaseState.CLOSED and case.due_on is not None and case.due_on < today


def closed_late(case: Case) -> bool:
    return case.closed_on is not None and case.due_on is not None and case.closed_on > case.due_on


def sibling_cases(session: Session, case: Case, user: User) -> list[Case]:
    """Other cases from the same response that this user may see."""
    scope = visible_unit_ids(session, user)
    stmt = select(Case).where(Case.response_id == case.response_id, Case.id != case.id).order_by(Case.id)
    if scope is not None:
        stmt = stmt.where(Case.unit_id.in_(scope))
    return list(session.scalars(stmt))


def open_cases_on_submit(session: Session, response: Response) -> None:
    """A new response opens its cases in its own transaction (an after-insert hook of
    :mod:`~survey.services.responses.submission`, registered by :func:`survey.services.cases.register_hooks`).

    Failing to open them never loses the citizen's rating: the failure is logged, the
    response is stored, and ``flask cases backfill`` opens what was missed.
    """
    try:
        if response.status != ResponseStatus.VALID:
            return
        if not _may_call_for_a_case(session, response):
            return  # no level that any setting counts as a 差评, no comment: not even the settings are read
        rule = rules(session)
        parsed = session.info.get(submission.ANSWERS_INFO)
        # The parsed answers do: a text answer among them carries its stored row's id (set as it was inserted);
        # a comment without one (answers given by another caller) has its rows read.
        plain = parsed is not None and not any(a.text and a.id is None and _comment_calls(session, a) for a in parsed)
        calls = _calls_for(session, response, rule, parsed if plain else None)
        if not any(calls):
            return  # most ratings are good: no savepoint, no further query
        session.flush()  # nothing of the unit of work may land inside the savepoint below
        # A savepoint in plain SQL, not the session's nor SQLAlchemy's: the case work is plain INSERTs, and
        # undoing them needs no ORM bookkeeping (the session's own savepoint cost a twentieth of a phone's time).
        with savepoint(session.connection(), "pingyi_cases"):
            _insert_cases(session, response, None, rule, calls, new=True)
    except Exception:  # the rating matters more than its case
        current_app.logger.exception("opening cases for response %s failed", response.id)
