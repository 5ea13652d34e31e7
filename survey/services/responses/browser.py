"""The response browser: a campaign's responses filtered, paged, opened one by one and exported.

Filters run in SQL on indexed columns (``response.campaign_id``/``status``, ``submitted_at``,
``unit_id``; ``answer.response_id`` and ``answer (campaign_id, unit_id)``) and a page is one
query: the rows, their unit and group, the worst rating, whether there is a comment and the
total (a window count) come back together.

Never personal data: no phone number, no fingerprint, address or device hash for anyone.
A unit contact sees only responses about their units (and below), only the answers about
those units, and no device-derived metadata at all (no flag reasons, no locale or timing).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from babel.dates import get_timezone
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from survey.core import settings
from survey.core.clock import format_local, local_moment
from survey.core.labels import label
from survey.core.query_args import choice_arg, day_arg, int_arg, link_args
from survey.i18n import localized
from survey.models import (
    Answer,
    Campaign,
    CampaignUnit,
    Channel,
    Option,
    Question,
    QuestionType,
    RespondentGroup,
    Response,
    ResponseStatus,
    Unit,
    User,
)
from survey.services.accounts.access import subtree_ids, visible_unit_ids

PER_PAGE = 50
# A page counts and sorts at most this many matching responses (the newest), so a page costs the same
# with a thousand responses or a million; beyond it the list asks for a narrower filter (e.g. dates).
MAX_LISTED = 10_000
EXPORT_LIMIT = 50_000  # responses in one export


@dataclass
class ResponseFilter:
    unit_id: int | None = None
    group_id: int | None = None
    channel: str | None = None
    status: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    bad: bool = False  # has a rating at or below the 差评 level
    comment: bool = False  # has a non-empty free-text answer
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> ResponseFilter:
        """Read a filter from query-string arguments; anything malformed is ignored, never an error."""
        return cls(unit_id=int_arg(args, "unit", 9), group_id=int_arg(args, "group", 9),
                   channel=choice_arg(args, "channel", {c.value for c in Channel}),
                   status=choice_arg(args, "status", {s.value for s in ResponseStatus}),
                   date_from=day_arg(args, "from"), date_to=day_arg(args, "to"), bad=args.get("bad") == "1",
                   comment=args.get("comment") == "1", page=max(int_arg(args, "page", 9) or 1, 1))

    def as_args(self, **changes: Any) -> dict[str, Any]:
        values = {"unit": self.unit_id, "group": self.group_id, "channel": self.channel, "status": self.status,
                  "from": self.date_from.isoformat() if self.date_from else None,
                  "to": self.date_to.isoformat() if self.date_to else None,
                  "bad": "1" if self.bad else None, "comment": "1" if self.comment else None}
        return link_args({**values, **changes})


def _scope(session: Session, user: User) -> set[int] | None:
    return visible_unit_ids(session, user)


def _touches(campaign_id: int, unit_ids: set[int]) -> ColumnElement[bool]:
    """The response is about one of these units: opened for it, or has an answer about it."""
    ids = unit_ids or {-1}
    return or_(Response.unit_id.in_(ids),
               Response.id.in_(select(Answer.response_id)
                               .where(Answer.campaign_id == campaign_id, Answer.unit_id.in_(ids))))


def _answer_scope(scope: set[int] | None) -> ColumnElement[bool]:
    """The answers a user may see: every answer for analysts, a contact's units' (and general ones) otherwise."""
    if scope is None:
        return true()
    return or_(Answer.unit_id.in_(scope or {-1}), and_(Answer.unit_id.is_(None), Response.unit_id.in_(scope or {-1})))


def _has_comment(scope: set[int] | None) -> ColumnElement[bool]:
    return exists().where(Answer.response_id == Response.id, Answer.text.is_not(None), Answer.text != "",
                          _answer_scope(scope))


def _is_bad(bad_level_max: int, scope: set[int] | None) -> ColumnElement[bool]:
    return exists().where(Answer.response_id == Response.id, Answer.level.is_not(None),
                          Answer.level <= bad_level_max, _answer_scope(scope))


def filtered(session: Session, user: User, campaign: Campaign, f: ResponseFilter, tz_name: str) -> Select:
    """The campaign's responses this user may see that pass the filter (a select of Response.id …)."""
    scope = _scope(session, user)
    stmt = select(Response.id).where(Response.campaign_id == campaign.id)
    if scope is not None:
        stmt = stmt.where(_touches(campaign.id, scope))
    if f.unit_id is not None:
        stmt = stmt.where(_touches(campaign.id, subtree_ids(session, f.unit_id)))
    if f.group_id is not None:
        stmt = stmt.where(Response.respondent_group_id == f.group_id)
    if f.channel:
        stmt = stmt.where(Response.channel == Channel(f.channel))
    if f.status:
        stmt = stmt.where(Response.status == ResponseStatus(f.status))
    if f.date_from:
        stmt = stmt.where(Response.submitted_at >= local_moment(f.date_from, 0, tz_name))
    if f.date_to:
        stmt = stmt.where(Response.submitted_at < local_moment(f.date_to + dt.timedelta(days=1), 0, tz_name))
    if f.bad:
        stmt = stmt.where(_is_bad(int(settings.get(session, settings.BAD_LEVEL_MAX)), scope))
    if f.comment:
        stmt = stmt.where(_has_comment(scope))
    return stmt


@dataclass
class Row:
    response: Response
    unit: Unit | None
    group: RespondentGroup | None
    worst: int | None  # the lowest satisfaction level (1 … 5) among the answers the user may see
    units_rated: int
    has_comment: bool


@dataclass
class Page:
    rows: list[Row]
    total: int
    page: int
    pages: int
    listed: int = MAX_LISTED  # at most this many are listed

    @property
    def capped(self) -> bool:
        """More responses may match than the list pages through (only the newest ``listed`` are listed)."""
        return self.total >= self.listed


def search(session: Session, user: User, campaign: Campaign, f: ResponseFilter, tz_name: str,
           per_page: int = PER_PAGE, max_listed: int | None = None) -> Page:
    """One page of responses, newest first, in one query. The newest ``max_listed`` matches are taken
    (walking the ``submitted_at`` index, stopping there), counted with a window count and cut to the page;
    the worst rating, the units rated and the comment check then run for the page's rows only."""
    scope = _scope(session, user)
    seen = _answer_scope(scope)
    inner = aliased(Answer)
    max_listed = max_listed or MAX_LISTED

    def query(page: int) -> list[Any]:
        newest = (filtered(session, user, campaign, f, tz_name).add_columns(Response.submitted_at.label("at"))
                  .order_by(Response.submitted_at.desc(), Response.id.desc()).limit(max_listed).subquery())
        ids = (select(newest.c.id, newest.c.at, func.count().over().label("total"))
               .order_by(newest.c.at.desc(), newest.c.id.desc())
               .offset((page - 1) * per_page).limit(per_page).subquery())
        worst = (select(func.min(Answer.level)).where(Answer.response_id == Response.id, seen)
                 .correlate(Response).scalar_subquery())
        units_rated = (select(func.count(func.distinct(inner.unit_id))).where(
            inner.response_id == Response.id, inner.unit_id.is_not(None),
            true() if scope is None else inner.unit_id.in_(scope or {-1})).correlate(Response).scalar_subquery())
        stmt = (select(Response, Unit, RespondentGroup, worst, units_rated, _has_comment(scope), ids.c.total)
                .join(ids, ids.c.id == Response.id)
                .outerjoin(Unit, Unit.id == Response.unit_id)
                .outerjoin(RespondentGroup, RespondentGroup.id == Response.respondent_group_id)
                .order_by(ids.c.at.desc(), ids.c.id.desc()))
        return list(session.execute(stmt).all())

    page = f.page
    result = query(page)
    if not result and page > 1:  # past the end: show the last page
        total = min(session.scalar(select(func.count()).select_from(
            filtered(session, user, campaign, f, tz_name).subquery())) or 0, max_listed)
        page = max((total + per_page - 1) // per_page, 1)
        result = query(page)
    total = int(result[0][6]) if result else 0
    rows = [Row(r[0], r[1], r[2], r[3], int(r[4] or 0), bool(r[5])) for r in result]
    return Page(rows, total, page, max((total + per_page - 1) // per_page, 1), max_listed)


def filter_choices(session: Session, user: User, campaign: Campaign) -> dict[str, list[Any]]:
    """The units (the campaign's, within the user's scope) and groups offered by the filter bar."""
    scope = _scope(session, user)
    stmt = (select(Unit).join(CampaignUnit, CampaignUnit.unit_id == Unit.id)
            .where(CampaignUnit.campaign_id == campaign.id).order_by(Unit.code))
    if scope is not None:
        stmt = stmt.where(Unit.id.in_(scope or {-1}))
    return {"units": list(session.scalars(stmt)),
            "groups": list(session.scalars(select(RespondentGroup).order_by(RespondentGroup.id)))}


def may_open(session: Session, user: User, response: Response) -> bool:
    scope = _scope(session, user)
    if scope is None:
        return True
    return bool(session.scalar(select(Response.id).where(Response.id == response.id,
                                                         _touches(response.campaign_id, scope))))


# --- one response -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShownAnswer:
    question: Question
    unit: Unit | None
    level: int | None
    dont_know: bool
    option: Option | None
    number: float | None
    text: str | None
    not_shown: bool = False  # the question's display condition did not hold: structurally missing

    @property
    def value(self) -> str:
        """The answer as words in the site's language (the code is shown beside it on the page)."""
        if self.not_shown:
            return _("未显示")
        if self.dont_know:
            return _("不了解")
        if self.level is not None:
            return label("level", self.level)
        if self.option is not None:
            return localized(self.option, "label")
        if self.number is not None:
            return f"{self.number:g}"
        return self.text or ""

    @property
    def code(self) -> str:
        if self.not_shown:
            return "not_shown"
        if self.dont_know:
            return "dk"
        if self.level is not None:
            return str(self.level)
        if self.option is not None:
            return self.option.code
        if self.number is not None:
            return f"{self.number:g}"
        return ""


def answers_of(session: Session, user: User, response: Response) -> list[ShownAnswer]:
    """The response's answers the user may see, in questionnaire order, unit by unit (one query)."""
    scope = _scope(session, user)
    stmt = (select(Answer, Question, Option, Unit)
            .join(Question, Question.id == Answer.question_id)
            .join(Response, Response.id == Answer.response_id)
            .outerjoin(Option, Option.id == Answer.option_id)
            .outerjoin(Unit, Unit.id == Answer.unit_id)
            .where(Answer.response_id == response.id, _answer_scope(scope))
            .order_by(Answer.unit_id.is_not(None), Unit.code, Question.position, Option.position, Answer.id))
    return [ShownAnswer(q, u, a.level, a.dont_know, o, a.number, a.text, bool(a.not_shown))
            for a, q, o, u in session.execute(stmt)]


def metadata(session: Session, user: User, response: Response, tz_name: str) -> list[tuple[str, str]]:
    """(item, value) rows about the response. Analysts also get how it was checked and entered; nobody
    gets a phone number or a fingerprint/address/device hash."""
    campaign = session.get(Campaign, response.campaign_id)
    group = session.get(RespondentGroup, response.respondent_group_id) if response.respondent_group_id else None
    unit = session.get(Unit, response.unit_id) if response.unit_id else None
    rows = [
        (_("答卷编号"), str(response.id)),
        (_("评议活动"), _("%(t)s（%(p)s）", t=localized(campaign, "title"), p=campaign.period)),
        (_("提交时间"), format_local(response.submitted_at, tz_name, "yyyy-MM-dd HH:mm", zone=True)),
        (_("评价对象"), _("%(t)s（%(p)s）", t=localized(unit, "name"), p=unit.code) if unit else _("一人评多个单位")),
        (_("样本类别"), localized(group, "name") if group else _("未标明")),
        (_("渠道"), label("channel", response.channel)),
        (_("状态"), label("response_status", response.status)),
    ]
    if _scope(session, user) is not None:
        return rows
    reasons = [label("flag_reason", r) for r in (response.status_reason or "").split(";") if r.strip()]
    rows.append((_("核查原因"), _("；").join(reasons) or "—"))
    rows.append((_("答题用时"), _("%(s)d 秒", s=response.duration_seconds) if response.duration_seconds is not None
                 else "—"))
    rows.append((_("答题语言"), response.locale or "—"))
    people = {u.id: u for u in session.scalars(select(User).where(
        User.id.in_([i for i in (response.staff_user_id, response.entered_by_id) if i] or [-1])))}
    if response.staff_user_id in people:
        clerk = people[response.staff_user_id]
        rows.append((_("窗口工作人员"), clerk.display_name or clerk.username))
    if response.entered_by_id in people:
        clerk = people[response.entered_by_id]
        rows.append((_("录入人"), clerk.display_name or clerk.username))
    if response.invitation_id:
        rows.append((_("邀请链接"), _("是")))
    return rows


# --- export -------------------------------------------------------------------------------------


def export_table(session: Session, user: User, campaign: Campaign, f: ResponseFilter,
                 tz_name: str) -> tuple[list[str], list[list[Any]]]:
    """The filtered responses, one row per response and unit rated (a service survey: one row per response).

    Every coded value is shown as its label in the site's language, with a code column beside it
    (unit, group, channel, status; a question's answer as words, then its code: level 1–5, dk, an
    option's code). Answers without a unit (the respondent's group, a general comment) repeat on
    each of the response's rows. Analysts also get the flag reasons; nobody gets contact data.
    """
    scope = _scope(session, user)
    analyst = scope is None
    ids = filtered(session, user, campaign, f, tz_name).order_by(Response.id).limit(EXPORT_LIMIT).subquery()
    questions = list(session.scalars(select(Question).where(Question.questionnaire_id == campaign.questionnaire_id)
                                     .order_by(Question.position, Question.id)))
    shown = [q for q in questions if q.type != QuestionType.GROUP]
    headers = [_("答卷编号"), _("提交时间"), _("单位名称"), _("单位代码"), _("样本类别"), _("样本类别代码"),
               _("渠道"), _("渠道代码"), _("状态"), _("状态代码")]
    if analyst:
        headers += [_("核查原因"), _("核查原因代码")]
    for q in shown:
        headers.append(f"{q.code} {localized(q, 'text')}"[:80])
        if q.type != QuestionType.TEXT:
            headers.append(_("%(code)s代码", code=q.code))
    # Plain columns, not ORM objects: a large export spends its time building objects otherwise.
    responses = {row.id: row for row in session.execute(
        select(Response.id, Response.submitted_at, Response.unit_id, Response.respondent_group_id, Response.channel,
               Response.status, Response.status_reason).join(ids, ids.c.id == Response.id))}
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(
        select(CampaignUnit.unit_id).where(CampaignUnit.campaign_id == campaign.id)
        .union(select(Response.unit_id).join(ids, ids.c.id == Response.id).where(Response.unit_id.is_not(None))))))}
    groups = {g.id: g for g in session.scalars(select(RespondentGroup))}
    options = {o.id: o for o in session.scalars(select(Option).where(Option.question_id.in_([q.id for q in shown]
                                                                                            or [-1])))}
    position = {q.id: i for i, q in enumerate(shown)}
    # Labels and times worked out once, not per cell: a label lookup or a Babel date format per cell is
    # most of the time of a large export.
    sep = _("；")
    level_words = {v: label("level", v) for v in range(1, 6)}
    dont_know_word, not_shown_word = _("不了解"), _("未显示")
    option_words = {i: localized(o, "label") for i, o in options.items()}
    channel_words = {c: label("channel", c) for c in Channel}
    status_words = {st: label("response_status", st) for st in ResponseStatus}
    reason_words: dict[str, str] = {}
    zone = get_timezone(tz_name)

    def local(moment: dt.datetime) -> str:
        aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        return aware.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    def word_and_code(level: int | None, dont_know: bool, option_id: int | None, number: float | None,
                      text: str | None, not_shown: bool) -> tuple[str, str]:
        if not_shown:
            return not_shown_word, "not_shown"
        if dont_know:
            return dont_know_word, "dk"
        if level is not None:
            return level_words.get(level, str(level)), str(level)
        if option_id is not None and option_id in options:
            return option_words[option_id], options[option_id].code
        if number is not None:
            return f"{number:g}", f"{number:g}"
        return text or "", ""

    # response -> unit -> question position -> (words, codes)
    cells: dict[int, dict[int | None, dict[int, tuple[list[str], list[str]]]]] = {}
    stmt = (select(Answer.response_id, Answer.unit_id, Answer.question_id, Answer.level, Answer.dont_know,
                   Answer.option_id, Answer.number, Answer.text, Answer.not_shown)
            .join(ids, ids.c.id == Answer.response_id).join(Response, Response.id == Answer.response_id)
            .where(_answer_scope(scope)).order_by(Answer.response_id, Answer.id))
    for rid, uid, qid, level, dont_know, option_id, number, text, not_shown in session.execute(stmt):
        if qid not in position:
            continue
        word, code = word_and_code(level, bool(dont_know), option_id, number, text, bool(not_shown))
        words, codes = cells.setdefault(rid, {}).setdefault(uid, {}).setdefault(position[qid], ([], []))
        words.append(word)
        codes.append(code)
    rows = []
    for rid in sorted(responses):
        response = responses[rid]
        unit, group = units.get(response.unit_id), groups.get(response.respondent_group_id)
        mine_cells = cells.get(rid, {})
        rated = sorted((uid for uid in mine_cells if uid is not None),
                       key=lambda i: units[i].code if i in units else str(i)) or [response.unit_id]
        general = mine_cells.get(None, {})
        for uid in rated:
            shown_unit = units.get(uid) if uid is not None else unit
            row: list[Any] = [
                rid, local(response.submitted_at),
                shown_unit.name if shown_unit else "", shown_unit.code if shown_unit else "",
                group.name if group else "", group.code if group else "",
                channel_words[response.channel], response.channel.value,
                status_words[response.status], response.status.value,
            ]
            if analyst:
                reasons = [r for r in (response.status_reason or "").split(";") if r.strip()]
                for r in reasons:
                    if r not in reason_words:
                        reason_words[r] = label("flag_reason", r)
                row += [sep.join(reason_words[r] for r in reasons), ";".join(reasons)]
            mine = {**general, **mine_cells.get(uid, {})} if uid is not None else general
            for i, q in enumerate(shown):
                words, codes = mine.get(i, ([], []))
                row.append(sep.join(words))
                if q.type != QuestionType.TEXT:
                    row.append(";".join(codes))
            rows.append(row)
    return headers, rows
