"""The flagged queue as an analyst judges it: each response with its answers, bursts grouped.

Flagged responses of one campaign are grouped by what ties them together: desk ratings by
the clerk and window whose codes they used, the others by the keyed address hash (or, for
older rows, the fingerprint). A group is split where two of its responses are further apart
than ``gap_minutes``, so one group is one burst, shown with its timing (first, last, the
seconds between responses, the issue-to-submit time of desk codes), its channel and clerk
in words, and every answer.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from survey.models import (
    Answer,
    Channel,
    DeskToken,
    Option,
    Question,
    Response,
    ResponseStatus,
    Unit,
    User,
)

DESK_GAP_MINUTES = 60


@dataclass(frozen=True)
class ShownAnswer:
    question: Question
    answer: Answer
    option: Option | None
    unit: Unit | None


@dataclass
class ReviewItem:
    response: Response
    reasons: list[str]
    answers: list[ShownAnswer]
    since_previous: float | None = None  # seconds after the group's previous response
    issue_to_submit: float | None = None  # desk codes: seconds from issuing the code to this rating


@dataclass
class ReviewGroup:
    kind: str  # "desk": one clerk's codes at one window; "address": one network address; "single"
    channel: Channel
    unit: Unit | None
    clerk: User | None
    items: list[ReviewItem] = field(default_factory=list)

    @property
    def first(self) -> dt.datetime:
        return self.items[0].response.submitted_at

    @property
    def last(self) -> dt.datetime:
        return self.items[-1].response.submitted_at

    @property
    def span_seconds(self) -> float:
        return (self.last - self.first).total_seconds()

    @property
    def ids(self) -> str:
        return ",".join(str(i.response.id) for i in self.items)

    @property
    def clerk_name(self) -> str:
        return (self.clerk.display_name or self.clerk.username) if self.clerk else ""


def _key(response: Response) -> tuple:
    if response.channel == Channel.DESK:
        return ("desk", response.staff_user_id, response.unit_id)
    if response.address_hash or response.fingerprint:
        return ("address", response.address_hash or response.fingerprint)
    return ("single", response.id)


def review_groups(session: Session, campaign_id: int, unit_id: int | None = None, gap_minutes: int = 10,
                  limit: int = 500) -> list[ReviewGroup]:
    """The campaign's flagged responses (about ``unit_id`` only, if given), grouped into bursts, oldest first."""
    stmt = (select(Response).options(selectinload(Response.answers))
            .where(Response.campaign_id == campaign_id, Response.status == ResponseStatus.FLAGGED))
    if unit_id is not None:
        about = select(Answer.response_id).where(Answer.campaign_id == campaign_id, Answer.unit_id == unit_id)
        stmt = stmt.where(or_(Response.unit_id == unit_id, Response.id.in_(about)))
    responses = list(session.scalars(stmt.order_by(Response.submitted_at, Response.id).limit(limit)))
    if not responses:
        return []
    questions = {q.id: q for q in session.scalars(
        select(Question).options(selectinload(Question.options))
        .where(Question.questionnaire_id.in_({r.questionnaire_id for r in responses})))}
    options = {o.id: o for q in questions.values() for o in q.options}
    unit_ids = {r.unit_id for r in responses if r.unit_id} | {a.unit_id for r in responses for a in r.answers if a.unit_id}
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(unit_ids or {-1})))}
    staff = {u.id: u for u in session.scalars(
        select(User).where(User.id.in_({r.staff_user_id for r in responses if r.staff_user_id} or {-1})))}
    issued = dict(session.execute(select(DeskToken.id, DeskToken.issued_at).where(
        DeskToken.id.in_({r.desk_token_id for r in responses if r.desk_token_id} or {-1}))).all())

    groups: list[ReviewGroup] = []
    open_groups: dict[tuple, ReviewGroup] = {}
    for response in responses:
        key = _key(response)
        gap = dt.timedelta(minutes=DESK_GAP_MINUTES if key[0] == "desk" else gap_minutes)
        group = open_groups.get(key)
        if group is None or response.submitted_at - group.last > gap:
            group = ReviewGroup(key[0], response.channel, units.get(response.unit_id),
                                staff.get(response.staff_user_id))
            open_groups[key] = group
            groups.append(group)
        shown = sorted(
            (ShownAnswer(questions[a.question_id], a, options.get(a.option_id), units.get(a.unit_id))
             for a in response.answers if a.question_id in questions),
            key=lambda s: (s.unit.code if s.unit else "", s.question.position, s.answer.id))
        item = ReviewItem(response, [c for c in (response.status_reason or "").split(";") if c], shown)
        if group.items:
            item.since_previous = (response.submitted_at - group.last).total_seconds()
        if response.desk_token_id in issued:
            item.issue_to_submit = (response.submitted_at - issued[response.desk_token_id]).total_seconds()
        group.items.append(item)
    return groups
