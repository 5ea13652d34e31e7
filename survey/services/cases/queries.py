"""Finding cases: the unit's queue and the analysts' search, filters, pages and exports.

Unit contacts only ever get cases of their unit and its sub-units, whatever the filter
says. Overdue means not closed and past the due day (today in the organisation's time
zone); "closed late" means closed after the due day. Text search looks in the summary
(the comment itself, or the 差评's questions), the rectification report and the 回访 note.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from survey.core.labels import label
from survey.core.query_args import choice_arg, int_arg, link_args, page_arg, text_arg
from survey.models import (
    Appeal,
    Campaign,
    CampaignUnit,
    Case,
    CaseKind,
    CaseState,
    CaseTag,
    CommentKind,
    FollowUpContact,
    Unit,
    User,
)
from survey.services.accounts.access import subtree_ids, visible_unit_ids
from survey.services.cases import reasons
from survey.services.cases.workflow import closed_late, is_overdue, mask_phone

PER_PAGE = 50
EXPORT_LIMIT = 100_000
TIMING = ("overdue", "due_soon", "late", "on_time")


@dataclass
class CaseFilter:
    unit_id: int | None = None
    campaign_id: int | None = None
    period: str | None = None
    state: str | None = None  # a CaseState value, or "open" for every state but closed
    kind: str | None = None
    comment_kind: str | None = None  # 投诉 / 建议 / 表扬
    tag: str | None = None
    timing: str | None = None  # overdue / due_soon / late / on_time
    q: str | None = None
    reason: str | None = None  # a 差评 reason's option code (survey.services.cases.reasons)
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> CaseFilter:
        """Read a filter from query-string arguments; anything malformed is ignored, never an error."""
        return cls(
            unit_id=int_arg(args, "unit"), campaign_id=int_arg(args, "campaign"), period=text_arg(args, "period", 16),
            state=choice_arg(args, "state", {s.value for s in CaseState} | {"open"}),
            kind=choice_arg(args, "kind", {k.value for k in CaseKind}),
            comment_kind=choice_arg(args, "comment_kind", {k.value for k in CommentKind}),
            tag=text_arg(args, "tag", 40), timing=choice_arg(args, "timing", TIMING), q=text_arg(args, "q", 100),
            reason=text_arg(args, "reason", 32), page=page_arg(args),
        )

    def as_args(self, **changes: Any) -> dict[str, Any]:
        values = {"unit": self.unit_id, "campaign": self.campaign_id, "period": self.period, "state": self.state,
                  "kind": self.kind, "comment_kind": self.comment_kind, "tag": self.tag, "timing": self.timing, "q": self.q,
                  "reason": self.reason}
        return link_args({**values, **changes})


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def case_query(session: Session, user: User, f: CaseFilter, today: dt.date) -> Select:
    """The filtered cases this user may see, most urgent first (open before closed, then by due day)."""
    stmt = select(Case)
    scope = visible_unit_ids(session, user)
    if scope is not None:
        stmt = stmt.where(Case.unit_id.in_(scope or {-1}))
    if f.unit_id is not None:
        stmt = stmt.where(Case.unit_id.in_(subtree_ids(session, f.unit_id)))
    if f.campaign_id is not None:
        stmt = stmt.where(Case.campaign_id == f.campaign_id)
    if f.period:
        stmt = stmt.where(Case.campaign_id.in_(select(Campaign.id).where(Campaign.period == f.period)))
    if f.state == "open":
        stmt = stmt.where(Case.state != CaseState.CLOSED)
    elif f.state:
        stmt = stmt.where(Case.state == CaseState(f.state))
    if f.kind:
        stmt = stmt.where(Case.kind == CaseKind(f.kind))
    if f.comment_kind:
        stmt = stmt.where(Case.comment_kind == CommentKind(f.comment_kind))
    if f.tag:
        stmt = stmt.where(Case.id.in_(select(CaseTag.case_id).where(CaseTag.tag == f.tag)))
    if f.reason:
        stmt = stmt.where(reasons.has_reason(session, f.reason))
    if f.timing == "overdue":
        stmt = stmt.where(Case.state != CaseState.CLOSED, Case.due_on < today)
    elif f.timing == "due_soon":
        stmt = stmt.where(Case.state != CaseState.CLOSED, Case.due_on >= today,
                          Case.due_on <= today + dt.timedelta(days=3))
    elif f.timing == "late":
        stmt = stmt.where(Case.state == CaseState.CLOSED, Case.closed_on > Case.due_on)
    elif f.timing == "on_time":
        stmt = stmt.where(Case.state == CaseState.CLOSED, Case.closed_on <= Case.due_on)
    if f.q:
        pattern = _like(f.q)
        stmt = stmt.where(or_(Case.summary.ilike(pattern, escape="\\"),
                              Case.rectification.ilike(pattern, escape="\\"),
                              Case.callback_note.ilike(pattern, escape="\\")))
    closed_last = (Case.state == CaseState.CLOSED)
    # Cases without a deadline (praise) after those with one, on every database.
    return stmt.order_by(closed_last, Case.due_on.is_(None), Case.due_on, Case.id)


@dataclass
class Row:
    case: Case
    overdue: bool
    late: bool
    phone_masked: str | None
    tags: list[str]
    reasons: list[str] = field(default_factory=list)  # a 差评's reasons, labels in the site's language


@dataclass
class Page:
    rows: list[Row]
    total: int
    page: int
    pages: int


def _rows(session: Session, cases: list[Case], today: dt.date) -> list[Row]:
    response_ids = {c.response_id for c in cases}
    phones = dict(session.execute(
        select(FollowUpContact.response_id, FollowUpContact.phone).where(FollowUpContact.response_id.in_(response_ids))
    ).all()) if response_ids else {}
    chosen = reasons.reasons_for_cases(session, cases)
    return [
        Row(c, is_overdue(c, today), closed_late(c),
            mask_phone(phones[c.response_id]) if c.response_id in phones and c.state != CaseState.CLOSED else None,
            sorted(t.tag for t in c.tags), chosen[c.id].labels if c.id in chosen else [])
        for c in cases
    ]


def search_cases(session: Session, user: User, f: CaseFilter, today: dt.date, per_page: int = PER_PAGE) -> Page:
    stmt = case_query(session, user, f, today)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(f.page, pages)
    cases = list(session.scalars(
        stmt.options(joinedload(Case.unit), selectinload(Case.tags)).offset((page - 1) * per_page).limit(per_page)
    ).unique())
    return Page(_rows(session, cases, today), total, page, pages)


@dataclass(frozen=True)
class Counts:
    open: int
    overdue: int
    due_soon: int


def queue_counts(session: Session, user: User, today: dt.date) -> Counts:
    """How many of the user's cases are open, overdue, and due within three days."""
    scope = visible_unit_ids(session, user)
    open_ = Case.state != CaseState.CLOSED
    stmt = select(
        func.count().filter(open_),
        func.count().filter(and_(open_, Case.due_on < today)),
        func.count().filter(and_(open_, Case.due_on >= today, Case.due_on <= today + dt.timedelta(days=3))),
    ).select_from(Case)
    if scope is not None:
        stmt = stmt.where(Case.unit_id.in_(scope or {-1}))
    n_open, n_overdue, n_soon = session.execute(stmt).one()
    return Counts(int(n_open or 0), int(n_overdue or 0), int(n_soon or 0))


EXPORT_HEADER = [_l("编号"), _l("单位代码"), _l("单位"), _l("评议活动"), _l("周期"), _l("类型"), _l("意见类别"), _l("状态"), _l("内容摘要"), _l("标签"), _l("提交日"), _l("期限"),
                 _l("超期"), _l("整改情况"), _l("整改时间"), _l("回访日期"), _l("回访结果"), _l("回访记录"), _l("关闭日"), _l("申诉"), _l("差评原因"), _l("其他原因说明")]


def export_rows(session: Session, user: User, f: CaseFilter, today: dt.date, tz_name: str) -> list[list[Any]]:
    """The filtered list as spreadsheet rows. Phone numbers are never exported."""
    from survey.core.clock import local_date

    stmt = case_query(session, user, f, today).options(joinedload(Case.unit), selectinload(Case.tags)).limit(EXPORT_LIMIT)
    cases = list(session.scalars(stmt).unique())
    campaigns = {c.id: c for c in session.scalars(select(Campaign).where(Campaign.id.in_({c.campaign_id for c in cases})))}
    appeals: dict[int, str] = {}
    if cases:
        for case_id, state in session.execute(select(Appeal.case_id, Appeal.state).where(
                Appeal.case_id.in_([c.id for c in cases])).order_by(Appeal.requested_at)):
            appeals[case_id] = label("appeal_state", state)
    chosen = reasons.reasons_for_cases(session, cases)
    rows = []
    for c in cases:
        campaign = campaigns.get(c.campaign_id)
        why = chosen.get(c.id)
        timing = _("超期未办结") if is_overdue(c, today) else _("超期办结") if closed_late(c) else ""
        rows.append([
            c.id, c.unit.code, c.unit.name, campaign.title if campaign else "", campaign.period if campaign else "",
            label("case_kind", c.kind), label("comment_kind", c.comment_kind) if c.comment_kind else "",
            label("case_state", c.state), c.summary, _("、").join(sorted(t.tag for t in c.tags)),
            c.opened_on, c.due_on if c.due_on is not None else _("不设期限"), timing, c.rectification or "",
            local_date(c.rectified_at, tz_name) if c.rectified_at else None,
            local_date(c.callback_at, tz_name) if c.callback_at else None,
            label("verdict", c.callback_verdict) if c.callback_verdict else "", c.callback_note or "",
            c.closed_on, appeals.get(c.id, ""), _("、").join(why.labels) if why else "",
            (why.other_text or "") if why else "",
        ])
    return rows


def filter_choices(session: Session, user: User) -> dict[str, Any]:
    """Units, campaigns, periods and tags for the filter form, limited to what the user may see."""
    scope = visible_unit_ids(session, user)
    unit_stmt = select(Unit).order_by(Unit.sort_order, Unit.code)
    if scope is not None:
        unit_stmt = unit_stmt.where(Unit.id.in_(scope or {-1}))
    campaign_stmt = select(Campaign).order_by(Campaign.opens_at.desc())
    if scope is not None:  # a contact only hears of campaigns their units take part in
        campaign_stmt = campaign_stmt.where(Campaign.id.in_(
            select(CampaignUnit.campaign_id).where(CampaignUnit.unit_id.in_(scope or {-1}))))
    campaigns = list(session.scalars(campaign_stmt))
    tag_stmt = select(CaseTag.tag).distinct().order_by(CaseTag.tag)
    if scope is not None:
        tag_stmt = tag_stmt.join(Case, Case.id == CaseTag.case_id).where(Case.unit_id.in_(scope or {-1}))
    return {
        "units": list(session.scalars(unit_stmt)),
        "campaigns": campaigns,
        "periods": sorted({c.period for c in campaigns}, reverse=True),
        "tags": list(session.scalars(tag_stmt)),
        "reasons": reasons.reason_choices(session, scope),
    }
