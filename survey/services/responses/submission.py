"""Reading a filled-in questionnaire and storing it as one response.

Rules: every question type is validated on the server; 不了解 is stored as item
nonresponse (``dont_know``), never as a low level; a question whose display condition does not
hold is never required, what was posted for it is discarded and it is stored as ``not_shown``; a submission id carried by the form
makes a double tap or a retry store one response; a response and everything that
belongs with it (a consumed desk code, the cases opened for its comments) are stored in
one transaction or not at all.

Two plug-in points for other parts of the product:

* ``before_commit`` (an argument of :func:`submit_response`): the caller's own step in the
  same transaction, e.g. consuming a single-use desk code or invitation. It may raise
  :class:`Refused` to store nothing and tell the respondent why.
* :func:`after_insert` (a registry): functions run for every *new* response, inside the
  transaction, after the answers are flushed — e.g. opening a case for each comment or
  差评. Register with ``@submission.after_insert``; they must not commit.
"""
from __future__ import annotations

import datetime as dt
import enum
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, Protocol

from flask_babel import gettext as _
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached, selectinload

from survey.models import (
    Answer,
    Campaign,
    CampaignStatus,
    Channel,
    CommentKind,
    GroupMode,
    Option,
    Question,
    Questionnaire,
    QuestionnaireKind,
    QuestionType,
    Response,
    ResponseStatus,
    Unit,
    utcnow,
)
from survey.services.questionnaires import conditions

DONT_KNOW = "dk"
LEVELS = (5, 4, 3, 2, 1)
DEFAULT_TEXT_LIMIT = 500
SUBMISSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SMALL_INT = re.compile(r"[0-9]{1,9}")
# Control characters other than tab and newline: PostgreSQL refuses NUL, and none belong in a comment.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class FormData(Protocol):
    def getlist(self, key: str) -> list[str]: ...


class CampaignState(str, enum.Enum):
    """Whether a campaign takes responses now, and if not, why not."""

    OPEN = "open"
    NOT_YET = "not_yet"  # a draft, or open but before its opening time
    PAUSED = "paused"
    CLOSED = "closed"  # closed by an analyst, or past its closing time


def campaign_state(campaign: Campaign, now: dt.datetime | None = None) -> CampaignState:
    now = now or utcnow()
    if campaign.status == CampaignStatus.CLOSED or now >= campaign.closes_at:
        return CampaignState.CLOSED
    if campaign.status == CampaignStatus.DRAFT or now < campaign.opens_at:
        return CampaignState.NOT_YET
    if campaign.status == CampaignStatus.PAUSED:
        return CampaignState.PAUSED
    return CampaignState.OPEN


def public_channel(campaign: Campaign, via_unit_code: bool) -> Channel | None:
    """The channel a public link records: a unit's own code is the poster QR, the campaign code the web.

    ``None`` when the campaign takes neither (desk- or invitation-only campaigns).
    """
    preferred = (Channel.POSTER, Channel.WEB) if via_unit_code else (Channel.WEB, Channel.POSTER)
    return next((c for c in preferred if campaign.allows_channel(c)), None)


def load_questionnaire(session: Session, questionnaire_id: int) -> Questionnaire | None:
    """A questionnaire with its questions and their options, in three queries."""
    return session.scalar(
        select(Questionnaire)
        .options(selectinload(Questionnaire.questions).selectinload(Question.options))
        .where(Questionnaire.id == questionnaire_id)
    )


@dataclass
class ParsedAnswer:
    question_id: int
    unit_id: int | None
    level: int | None = None
    dont_know: bool = False
    option_id: int | None = None
    number: float | None = None
    text: str | None = None
    comment_kind: CommentKind | None = None  # 投诉/建议/表扬 chosen beside a comment box
    not_shown: bool = False  # its display condition did not hold: structurally missing, no value
    id: int | None = None  # the stored row's id, set when it was stored with its text (a comment's case names it)


@dataclass
class ParseResult:
    answers: list[ParsedAnswer] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # field name → message, in page order
    respondent_group_id: int | None = None
    shown: dict[str, bool] = field(default_factory=dict)  # conditional field name → shown (conditions hold)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Layout:
    """The order a respondent meets the questions.

    The questionnaire's own order throughout; in an appraisal, the per-unit questions are
    asked once per chosen unit, at the place of the first per-unit question.
    """

    before: list[Question]
    per_unit: list[Question]
    after: list[Question]


def asks_per_unit(questionnaire: Questionnaire, question: Question) -> bool:
    """In an appraisal, per-unit questions are repeated for every unit the respondent chose."""
    return questionnaire.kind == QuestionnaireKind.APPRAISAL and question.per_unit


def field_name(question: Question, unit: Unit | None = None) -> str:
    return f"q{question.id}" if unit is None else f"q{question.id}_u{unit.id}"


def visible_questions(questionnaire: Questionnaire, campaign: Campaign,
                      preset_group_id: int | None = None) -> list[Question]:
    """The questions a respondent sees: no group question when the group is already known."""
    group_known = campaign.group_mode == GroupMode.PRESET or preset_group_id is not None
    return [q for q in questionnaire.questions if not (q.type == QuestionType.GROUP and group_known)]


def layout(questionnaire: Questionnaire, questions: list[Question]) -> Layout:
    per_unit = [q for q in questions if asks_per_unit(questionnaire, q)]
    if not per_unit:
        return Layout(list(questions), [], [])
    first = questions.index(per_unit[0])
    shared = [q for q in questions if not asks_per_unit(questionnaire, q)]
    return Layout([q for q in shared if questions.index(q) < first], per_unit,
                  [q for q in shared if questions.index(q) > first])


def parse_answers(
    questionnaire: Questionnaire,
    questions: Iterable[Question],
    units: list[Unit],
    form: FormData,
) -> ParseResult:
    """Validate every answer; errors are keyed by field name, in the order the page shows them.

    With display conditions (``conditions``), a question whose condition does not hold for a unit is
    not required, its posted answers are discarded and it gets one ``not_shown`` answer instead;
    ``ParseResult.shown`` tells, per conditional field, whether it is shown.
    """
    questions = list(questions)
    plan = layout(questionnaire, questions)
    result = ParseResult()
    service_unit_id = units[0].id if questionnaire.kind == QuestionnaireKind.SERVICE and units else None
    slots: list[tuple[Question, str, int | None]] = [(q, field_name(q), service_unit_id) for q in plan.before]
    for unit in units if plan.per_unit else []:
        slots += [(q, field_name(q, unit), unit.id) for q in plan.per_unit]
    slots += [(q, field_name(q), service_unit_id) for q in plan.after]
    display = conditions.plan(questionnaire)
    if not display:
        for question, name, unit_id in slots:
            _parse_one(question, name, unit_id, form, result)
        return result
    _parse_conditional(display, slots, [u.id for u in units], service_unit_id, form, result)
    return result


def _parse_conditional(display: conditions.Plan, slots: list[tuple[Question, str, int | None]],
                       unit_ids: list[int], once_unit: int | None, form: FormData, result: ParseResult) -> None:
    """Each field parsed on its own, then shown or not in question order (a condition looks only at
    earlier questions, whose fate is then known), then gathered back in page order."""
    parsed: dict[str, ParseResult] = {}
    for question, name, unit_id in slots:
        one = parsed[name] = ParseResult()
        _parse_one(question, name, unit_id, form, one)
    rank = {qid: i for i, qid in enumerate(display.order)}
    kept: dict[tuple[int, int | None], list[ParsedAnswer]] = {}
    hidden: set[str] = set()
    for question, name, unit_id in sorted(slots, key=lambda s: rank.get(s[0].id, 0)):  # stable: units keep their order
        if display.shown(question.id, unit_id, unit_ids, kept, once_unit):
            kept[(question.id, unit_id)] = parsed[name].answers
        else:
            hidden.add(name)
        if question.id in display.rules:
            result.shown[name] = name not in hidden
    for question, name, unit_id in slots:
        if name in hidden:
            result.answers.append(ParsedAnswer(question.id, unit_id, not_shown=True))
            continue
        one = parsed[name]
        result.answers += one.answers
        result.errors.update(one.errors)
        if one.respondent_group_id is not None:
            result.respondent_group_id = one.respondent_group_id


def _parse_one(question: Question, name: str, unit_id: int | None, form: FormData, result: ParseResult) -> None:
    values = [v.strip() for v in form.getlist(name) if v is not None and v.strip() != ""]
    if not values:
        if question.required:
            result.errors[name] = _("请回答此题。")
        return
    qtype = question.type
    if qtype == QuestionType.SATISFACTION:
        value = values[0]
        if len(values) > 1:
            result.errors[name] = _("请只选择一项。")
        elif value == DONT_KNOW and question.allow_dont_know:
            result.answers.append(ParsedAnswer(question.id, unit_id, dont_know=True))
        elif _SMALL_INT.fullmatch(value) and int(value) in LEVELS:
            result.answers.append(ParsedAnswer(question.id, unit_id, level=int(value)))
        else:
            result.errors[name] = _("请选择一个有效的选项。")
    elif qtype in (QuestionType.SINGLE, QuestionType.GROUP):
        option = _option(question, values[0])
        if option is None or len(values) > 1:
            result.errors[name] = _("请选择一个有效的选项。")
            return
        result.answers.append(ParsedAnswer(question.id, unit_id, option_id=option.id, number=option.score))
        if qtype == QuestionType.GROUP:
            result.respondent_group_id = option.respondent_group_id
    elif qtype == QuestionType.MULTIPLE:
        chosen = [_option(question, v) for v in dict.fromkeys(values)]
        if any(o is None for o in chosen):
            result.errors[name] = _("请选择有效的选项。")
            return
        limit = _max_choices(question)
        if limit and len(chosen) > limit:
            result.errors[name] = _("最多选择 %(n)d 项，您选了 %(m)d 项。", n=limit, m=len(chosen))
            return
        for option in chosen:
            result.answers.append(ParsedAnswer(question.id, unit_id, option_id=option.id, number=option.score))
    elif qtype == QuestionType.RATING:
        value = values[0]
        if len(values) > 1 or not (_SMALL_INT.fullmatch(value) and 0 <= int(value) <= 10):
            result.errors[name] = _("请选择 0 到 10 之间的分数。")
            return
        result.answers.append(ParsedAnswer(question.id, unit_id, number=float(int(value))))
    elif qtype == QuestionType.TEXT:
        text = _CONTROL.sub("", values[0].replace("\r\n", "\n").replace("\r", "\n")).strip()
        limit = text_limit(question)
        if len(text) > limit:
            result.errors[name] = _("最多 %(n)d 个字，您写了 %(m)d 个字。", n=limit, m=len(text))
            return
        kind = _comment_kind(question, name, form, result) if text else None
        if name in result.errors:
            return
        if text:
            result.answers.append(ParsedAnswer(question.id, unit_id, text=text, comment_kind=kind))
        elif question.required:
            result.errors[name] = _("请回答此题。")


def comment_kind_field(name: str) -> str:
    """The form field beside a comment box where the citizen says 投诉, 建议 or 表扬."""
    return f"{name}_kind"


def _comment_kind(question: Question, name: str, form: FormData, result: ParseResult) -> CommentKind | None:
    """The kind the citizen chose for a comment; none chosen is fine (the analysts' rule decides)."""
    if not question.is_comment:
        return None
    raw = [v.strip() for v in form.getlist(comment_kind_field(name)) if v and v.strip()]
    if not raw:
        return None
    if len(raw) > 1 or raw[0] not in {k.value for k in CommentKind}:
        result.errors[name] = _("请选择投诉、建议或表扬，或者都不选。")
        return None
    return CommentKind(raw[0])


def text_limit(question: Question) -> int:
    return question.max_length or DEFAULT_TEXT_LIMIT


def _max_choices(question: Question) -> int | None:
    raw = (question.settings or {}).get("max_choices")
    try:
        return int(raw) if raw else None
    except (TypeError, ValueError):
        return None


def _option(question: Question, raw: str) -> Option | None:
    if not _SMALL_INT.fullmatch(raw):
        return None
    wanted = int(raw)
    return next((o for o in question.options if o.id == wanted), None)


def new_submission_id() -> str:
    return secrets.token_urlsafe(24)


def valid_submission_id(raw: str | None) -> str | None:
    return raw if raw and SUBMISSION_ID.fullmatch(raw) else None


def stored_response(session: Session, submission_id: str) -> Response | None:
    """The response already stored under this submission id (a double tap, a retry, the back button).

    Its id is looked up first, in plain SQL: on almost every POST there is none, and no ORM query is made."""
    response_id = session.connection().execute(_ID_BY_SUBMISSION_ID, {"sid": submission_id}).scalar()
    return None if response_id is None else session.get(Response, response_id)


_responses = Response.__table__
_ID_BY_SUBMISSION_ID = select(_responses.c.id).where(_responses.c.submission_id == bindparam("sid"))  # on every POST


class Refused(Exception):
    """Raised by a ``before_commit`` step to store nothing; ``message`` is shown to the respondent."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


AfterInsert = Callable[[Session, Response], None]
QUESTIONS_INFO = "pingyi.questions"  # session.info key: the response's questions by id, while the hooks run
ANSWERS_INFO = "pingyi.answers"  # session.info key: the new response's answers as parsed (ParsedAnswer), idem
_AFTER_INSERT: list[AfterInsert] = []


def after_insert(func: AfterInsert) -> AfterInsert:
    """Register ``func(session, response)`` to run for every new response, in its transaction.

    The response and its answers are flushed (ids assigned) when it runs; it must not
    commit. If it raises, nothing of the response is stored.
    """
    if func not in _AFTER_INSERT:
        _AFTER_INSERT.append(func)
    return func


def run_after_insert(session: Session, response: Response) -> None:
    """Run every registered after-insert step for a flushed new response (also for imported ones)."""
    for hook in _AFTER_INSERT:
        hook(session, response)


@dataclass
class Submitted:
    response: Response
    created: bool  # False when this submission id had been stored before (double tap, retry)


def submit_response(
    session: Session,
    campaign: Campaign,
    parsed: ParseResult,
    submission_id: str,
    channel: Channel,
    unit: Unit | None = None,
    respondent_group_id: int | None = None,
    fingerprint: str | None = None,
    status: ResponseStatus = ResponseStatus.VALID,
    status_reason: str | None = None,
    locale: str | None = None,
    duration_seconds: int | None = None,
    extra: dict[str, Any] | None = None,
    before_commit: Callable[[Session, Response], None] | None = None,
    questions: dict[int, Question] | None = None,
    known_new: bool = False,
) -> Submitted:
    """Store one response with its answers in one transaction, exactly once per submission id.

    The respondent group is the campaign's preset group, else ``respondent_group_id``
    (an invitation's group), else the answer to the group question. ``questions`` (id →
    question, e.g. the cached questionnaire version's) is lent to the after-insert steps in
    ``session.info[QUESTIONS_INFO]`` so that they need not load them. ``known_new``: the caller
    has just looked the submission id up and found nothing (a race is still caught by the
    unique index below).
    """
    existing = None if known_new else stored_response(session, submission_id)
    if existing is not None:
        return Submitted(existing, created=False)
    if campaign.group_mode == GroupMode.PRESET and campaign.preset_group_id is not None:
        group_id = campaign.preset_group_id
    else:
        group_id = respondent_group_id if respondent_group_id is not None else parsed.respondent_group_id
    values: dict[str, Any] = {
        "campaign_id": campaign.id,
        "questionnaire_id": campaign.questionnaire_id,
        "unit_id": unit.id if unit is not None else None,
        "respondent_group_id": group_id,
        "channel": channel,
        "status": status,
        "status_reason": status_reason,
        "submitted_at": utcnow(),
        "submission_id": submission_id,
        "fingerprint": fingerprint,
        "locale": locale,
        "duration_seconds": duration_seconds,
        **(extra or {}),
    }
    try:
        response = _insert_response(session, values)
        _insert_answers(session, response, parsed.answers)
        if before_commit is not None:
            before_commit(session, response)
        if questions is not None:
            session.info[QUESTIONS_INFO] = questions
        session.info[ANSWERS_INFO] = parsed.answers
        try:
            run_after_insert(session, response)
        finally:
            session.info.pop(QUESTIONS_INFO, None)
            session.info.pop(ANSWERS_INFO, None)
        session.commit()
    except IntegrityError:
        # Two requests with the same submission id raced; the other one stored it.
        session.rollback()
        existing = stored_response(session, submission_id)
        if existing is None:
            raise
        return Submitted(existing, created=False)
    except BaseException:
        session.rollback()
        raise
    return Submitted(response, created=True)


_INSERT_RESPONSE = insert(_responses).returning(_responses.c.id)  # built once: on every POST
#: the columns a new response leaves NULL unless given (no default): given as NULL, so the object has them all
_NULL_UNLESS_GIVEN = tuple(c.key for c in _responses.columns
                           if not c.primary_key and c.default is None and c.server_default is None)


def _insert_response(session: Session, values: dict[str, Any]) -> Response:
    """The response row, inserted as one plain INSERT … RETURNING (no unit of work: a third of the cost);
    the object returned is in the session as a stored row with every column as inserted (reading one runs
    no query), ``answers`` left to load when read."""
    values = {**dict.fromkeys(_NULL_UNLESS_GIVEN), **values}
    response = Response(id=session.connection().execute(_INSERT_RESPONSE, values).scalar_one(), **values)
    make_transient_to_detached(response)
    session.add(response)
    return response


def _insert_answers(session: Session, response: Response, answers: list[ParsedAnswer]) -> None:
    """Every answer row of a new response, each row with every column, in the answers' order: the rows
    without text in one executemany (nothing returned), a text answer (a comment, whose case names its row)
    by an ``INSERT … RETURNING id`` of its own, the id set on the parsed answer. The case hook then works
    from the parsed answers and reads nothing back. ``response.answers`` is left unloaded: whoever reads it
    gets the stored rows."""
    conn = session.connection()
    for with_text, group in groupby(answers, key=lambda a: bool(a.text)):
        run = list(group)
        rows = [{"response_id": response.id, "campaign_id": response.campaign_id, "unit_id": a.unit_id,
                 "question_id": a.question_id, "level": a.level, "dont_know": a.dont_know, "option_id": a.option_id,
                 "number": a.number, "text": a.text, "comment_kind": a.comment_kind, "not_shown": a.not_shown}
                for a in run]
        if with_text:  # a row at a time: SQLite cannot return a multi-row INSERT's ids in the rows' order
            for answer, row in zip(run, rows, strict=True):
                answer.id = conn.execute(_INSERT_ANSWER_RETURNING, row).scalar_one()
        else:
            conn.execute(_INSERT_ANSWERS, rows)
    session.expire(response, ["answers"])


_answers = Answer.__table__
_INSERT_ANSWERS = insert(_answers)  # built once: on every POST
_INSERT_ANSWER_RETURNING = insert(_answers).returning(_answers.c.id)


def has_bad_rating(session: Session, response_id: int, bad_level_max: int) -> bool:
    """Whether any satisfaction answer of the response is a 差评: level ``bad_level_max`` or lower
    (the organisation's setting ``case.bad_level_max``, 2 = 不满意 and 非常不满意 by default)."""
    return session.scalar(
        select(Answer.id).where(
            Answer.response_id == response_id, Answer.level.is_not(None), Answer.level <= bad_level_max
        ).limit(1)
    ) is not None
