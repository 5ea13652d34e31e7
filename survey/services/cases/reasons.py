"""The reasons behind a 差评: what the citizen chose in the questionnaire's 差评-reasons question.

That question is a multiple-choice question whose ``settings["role"]`` is ``"bad_reasons"``
(in the built-in window template: shown after any 不满意 or 非常不满意); each option chosen is
one answer row of the response for the case's unit. The "其他" explanation is the text answer to
a question whose display condition refers to the reasons question (the built-in "请说明其他问题").
A question not shown (``answer.not_shown``) gives no reason.

Reasons are matched across questionnaires by option code (the built-in codes: attitude,
efficiency, process, waiting, facilities, other), so the case list filters every campaign alike.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from survey.i18n import localized
from survey.models import Answer, Campaign, CampaignUnit, Case, CaseKind, Question, QuestionType

ROLE = "bad_reasons"
CHUNK = 5_000


def is_reasons_question(question: Question) -> bool:
    return question.type == QuestionType.MULTIPLE and (question.settings or {}).get("role") == ROLE


def reasons_questions(session: Session, questionnaire_ids: Iterable[int] | None = None) -> list[Question]:
    """The 差评-reasons questions (of the given questionnaires, else of all)."""
    stmt = select(Question).where(Question.type == QuestionType.MULTIPLE)
    if questionnaire_ids is not None:
        stmt = stmt.where(Question.questionnaire_id.in_(set(questionnaire_ids) or {-1}))
    return [q for q in session.scalars(stmt) if is_reasons_question(q)]


def _refers_to(question: Question, code: str) -> bool:
    conditions = (question.show_if or {}).get("any") if isinstance(question.show_if, dict) else None
    return any(isinstance(c, dict) and c.get("question") == code for c in conditions or [])


@dataclass
class CaseReasons:
    """The reasons a case's citizen chose (labels in the site's language, questionnaire order) and the
    "其他" explanation, if any."""

    labels: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    other_text: str | None = None


def reasons_for_cases(session: Session, cases: Sequence[Case]) -> dict[int, CaseReasons]:
    """Every given 差评 case's reasons in a few bulk queries (cases without any reason are left out)."""
    bad = [c for c in cases if c.kind == CaseKind.BAD_RATING]
    if not bad:
        return {}
    campaigns = {c.campaign_id for c in bad}
    questionnaire_of = dict(session.execute(select(Campaign.id, Campaign.questionnaire_id)
                                            .where(Campaign.id.in_(campaigns))).all())
    questions = reasons_questions(session, set(questionnaire_of.values()))
    if not questions:
        return {}
    others = [q for q in session.scalars(select(Question).where(
        Question.questionnaire_id.in_({q.questionnaire_id for q in questions}), Question.type == QuestionType.TEXT))
        if any(q.questionnaire_id == r.questionnaire_id and _refers_to(q, r.code) for r in questions)]
    options = {o.id: o for q in questions for o in q.options}
    wanted = [q.id for q in questions] + [q.id for q in others]
    by_response: dict[int, list[Answer]] = {}
    response_ids = sorted({c.response_id for c in bad})
    for start in range(0, len(response_ids), CHUNK):  # an export may hold 100,000 cases: SQLite's limit on
        for a in session.scalars(select(Answer).where(  # bound values is far below that
                Answer.response_id.in_(response_ids[start:start + CHUNK]), Answer.question_id.in_(wanted),
                Answer.not_shown.is_(False)).order_by(Answer.id)):
            by_response.setdefault(a.response_id, []).append(a)
    position = {o.id: (o.position, o.id) for o in options.values()}
    other_ids = {q.id for q in others}
    out: dict[int, CaseReasons] = {}
    for c in bad:
        mine = [a for a in by_response.get(c.response_id, []) if a.unit_id in (c.unit_id, None)]
        chosen = sorted((a.option_id for a in mine if a.option_id in options), key=lambda i: position[i])
        texts = [a.text.strip() for a in mine if a.question_id in other_ids and a.text and a.text.strip()]
        if chosen or texts:
            out[c.id] = CaseReasons([localized(options[i], "label") for i in chosen], [options[i].code for i in chosen],
                                    "；".join(texts) or None)
    return out


def has_reason(session: Session, code: str) -> Any:
    """A WHERE condition on ``Case``: a 差评 whose citizen chose the reason with option code ``code``."""
    option_ids = [o.id for q in reasons_questions(session) for o in q.options if o.code == code]
    return and_(Case.kind == CaseKind.BAD_RATING, exists().where(
        Answer.response_id == Case.response_id, or_(Answer.unit_id == Case.unit_id, Answer.unit_id.is_(None)),
        Answer.option_id.in_(option_ids or [-1]), Answer.not_shown.is_(False)))


def reason_choices(session: Session, unit_ids: set[int] | None) -> list[tuple[str, str]]:
    """(code, label) of every reason of the questionnaires of campaigns the user's units take part in
    (all campaigns for ``unit_ids`` None), first label of each code, in questionnaire order."""
    stmt = select(Campaign.questionnaire_id)
    if unit_ids is not None:
        stmt = stmt.where(Campaign.id.in_(select(CampaignUnit.campaign_id).where(
            CampaignUnit.unit_id.in_(unit_ids or {-1}))))
    seen: dict[str, str] = {}
    for q in sorted(reasons_questions(session, set(session.scalars(stmt))), key=lambda q: -q.questionnaire_id):
        for o in q.options:
            seen.setdefault(o.code, localized(o, "label"))
    return list(seen.items())
