"""The demo's cases: the 2026 holiday calendar, cases opened for the demo responses, and a
realistic spread of handling — most of last quarter's closed (a few late, a few still open
and overdue), this quarter's at every stage, some with a consented phone number, three
appeals (pending, approved, rejected). Deterministic for a given random generator.
"""
from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.core import settings
from survey.core.clock import local_date, org_timezone
from survey.models import Case, CaseKind, CaseState, FollowUpContact, Response, ResponseStatus, Role, User
from survey.services.cases.appeals import decide_appeal, file_appeal
from survey.services.cases.calendar import install_bundled
from survey.services.cases.workflow import open_cases_for_response, record_callback, rules, set_tags, transition

FIXES = [
    "已在窗口增设取号引导员，高峰期增开两个窗口。",
    "已对当事工作人员批评教育，并在科室例会上通报。",
    "已修订办事指南，将材料清单贴在窗口显著位置。",
    "已联系信息中心修复系统登录问题，并增加了电话咨询坐席。",
    "已调整午间值班安排，实行错时延时服务。",
]
TAG_FOR = {"排队": "办事效率", "态度": "服务态度", "材料": "材料要求", "电话": "办事效率", "停车": "环境设施",
           "系统": "系统故障", "午休": "办事效率", "审批": "办事效率", "点赞": "表扬", "热情": "表扬"}


def _moment(day: dt.date, rng: random.Random) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(1 + rng.randrange(8), rng.randrange(60)), tzinfo=dt.UTC)


def seed_demo_cases(session: Session, rng: random.Random, now: dt.datetime) -> int:
    """Open and move the demo's cases; returns how many cases were opened."""
    install_bundled(session, None)
    analyst = session.scalar(select(User).where(User.role == Role.ANALYST))
    contact = session.scalar(select(User).where(User.role == Role.UNIT))
    scope = set()
    if contact is not None and contact.unit_id is not None:
        from survey.services.accounts.access import subtree_ids

        scope = subtree_ids(session, contact.unit_id)
    tz = org_timezone()
    today = local_date(now, tz)
    suggestions = settings.get(session, settings.TAG_SUGGESTIONS)
    opened: list[Case] = []
    # The settings are read once (nothing here changes them), and the responses were stored in this
    # transaction, so none has a case yet: open_cases_for_response need not ask for either each time.
    rule = rules(session)
    for response in session.scalars(select(Response).where(Response.status == ResponseStatus.VALID).order_by(Response.id)):
        cases = open_cases_for_response(session, response, start=local_date(response.submitted_at, tz), rule=rule,
                                        new=True)
        if any(c.kind == CaseKind.BAD_RATING for c in cases) and rng.random() < 0.3:
            session.add(FollowUpContact(response_id=response.id, phone=f"13{rng.randrange(5, 10)}{rng.randrange(10**8):08d}"))
        opened.extend(cases)
    session.flush()
    appeals_left = ["approve", "reject", "pending"]
    for case in opened:
        if case.state == CaseState.CLOSED:
            continue  # closed with its response after an approved appeal
        actor = contact if case.unit_id in scope else analyst
        age = (today - case.opened_on).days
        if age <= 0:
            continue
        roll = rng.random()
        neutral = [t for t in suggestions if t != "表扬"] or suggestions
        tags = [tag for word, tag in TAG_FOR.items() if word in case.summary][:2] or [rng.choice(neutral)]
        set_tags(session, case, tags, actor)
        if case.kind == CaseKind.BAD_RATING and case.unit_id in scope and appeals_left and roll < 0.15:
            appeal = file_appeal(session, case, contact, "经查监控，该评价人当日未到本窗口办理业务，疑为误评。")
            decision = appeals_left.pop(0)
            if decision != "pending":
                decide_appeal(session, appeal, analyst, decision == "approve",
                              "核实属实，同意剔除。" if decision == "approve" else "证据不足，维持原评价。")
            continue
        # older cases are further along; about one in ten is neglected and goes overdue
        progress = 0.2 if roll > 0.9 else min(age / 25, 1.0) * (0.6 + 0.6 * roll)
        if progress < 0.15:
            continue
        start_day = case.opened_on + dt.timedelta(days=1)
        transition(session, case, "start", actor, now=_moment(min(start_day, today), rng))
        if progress < 0.35:
            continue
        if case.kind == CaseKind.COMMENT and ("点赞" in case.summary or "热情" in case.summary):
            _close(session, case, actor, min(start_day, today), today, rng, note="表扬已转告窗口。")
            continue
        fix_day = min(case.opened_on + dt.timedelta(days=rng.choice([3, 6, 9, 12, 16, 24])), today)
        transition(session, case, "rectify", actor, rectification=rng.choice(FIXES), now=_moment(fix_day, rng))
        if progress < 0.6:
            continue
        close_day = min(fix_day + dt.timedelta(days=rng.choice([1, 2, 4])), today)
        _close(session, case, actor, close_day, today, rng)
    return len(opened)


def _close(session: Session, case: Case, actor: User, day: dt.date, today: dt.date, rng: random.Random,
           note: str | None = None) -> None:
    """Close, after the 回访 when the respondent left a number."""
    if session.scalar(select(FollowUpContact.id).where(FollowUpContact.response_id == case.response_id)):
        verdict = rng.choice(["satisfied", "satisfied", "basically", "unreachable"])
        record_callback(session, case, actor, day, verdict, today=today)
    transition(session, case, "close", actor, note=note, now=_moment(day, rng))

