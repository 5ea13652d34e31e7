"""Building responses for the results tests quickly (ORM rows, no web pages)."""
from __future__ import annotations

import itertools
import secrets
from collections.abc import Sequence
from typing import Any

from survey.models import Answer, Campaign, Channel, QuestionType, RespondentGroup, Response, ResponseStatus, Unit

_seq = itertools.count(1)


def satisfaction_questions(campaign: Campaign) -> list:
    return [q for q in campaign.questionnaire.questions if q.type == QuestionType.SATISFACTION and q.in_index]


def comment_question(campaign: Campaign):
    return next(q for q in campaign.questionnaire.questions if q.type == QuestionType.TEXT and q.is_comment)


def add_response(session, campaign: Campaign, ratings: dict[Unit, Sequence[Any]], group: RespondentGroup | None,
                 channel: Channel = Channel.POSTER, status: ResponseStatus = ResponseStatus.VALID,
                 comments: dict[Unit, str] | None = None, flush: bool = True) -> Response:
    """One response rating each unit: levels 1–5, "dk" for 不了解, None for not asked, per index question.

    ``flush=False`` leaves it pending: many responses flushed together go to the database in a few
    multi-row INSERTs (they get the same ids as one flush each would give them)."""
    questions = satisfaction_questions(campaign)
    first_unit = next(iter(ratings))
    response = Response(campaign_id=campaign.id, questionnaire_id=campaign.questionnaire_id,
                        unit_id=first_unit.id if len(ratings) == 1 else None,
                        respondent_group_id=group.id if group else None, channel=channel, status=status,
                        submission_id=f"t{next(_seq):06d}{secrets.token_hex(6)}", locale="zh")
    for unit, levels in ratings.items():
        for question, level in zip(questions, levels):
            if level is None:
                continue
            if level == "dk":
                response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=question.id,
                                               dont_know=True))
            else:
                response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=question.id,
                                               level=int(level)))
    for unit, text in (comments or {}).items():
        response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id,
                                       question_id=comment_question(campaign).id, text=text))
    session.add(response)
    if flush:
        session.flush()
    return response


def fill(session, campaign: Campaign, unit: Unit, groups: dict[str, RespondentGroup], n: int, quality: int,
         seed: int = 1) -> list[Response]:
    """``n`` responses for one unit, levels around ``quality`` (1–5), spread over the groups, some 不了解."""
    import random

    rng = random.Random(seed)
    codes = sorted(groups)
    out = []
    q_count = len(satisfaction_questions(campaign))
    for i in range(n):
        levels = []
        for _k in range(q_count):
            if rng.random() < 0.05:
                levels.append("dk")
            else:
                levels.append(max(1, min(5, quality + rng.choice([-1, 0, 0, 1]))))
        out.append(add_response(session, campaign, {unit: levels}, groups[codes[i % len(codes)]],
                                channel=[Channel.POSTER, Channel.DESK, Channel.WEB][i % 3], flush=False))
    session.flush()
    return out
