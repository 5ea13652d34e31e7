"""Building responses, cases and the 2026 calendar for the case tests."""
from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy.orm import Session

from survey.core.clock import local_moment
from survey.models import (
    Answer,
    Campaign,
    Channel,
    FollowUpContact,
    Holiday,
    HolidayKind,
    Response,
    ResponseStatus,
    Unit,
)
from survey.services.cases.workflow import open_cases_for_response

_seq = itertools.count(1)

# China's 2026 public holidays and 调休 working weekends as published by the State Council
# (国办发明电〔2025〕7号), written from our knowledge of that notice: check against the official
# text before relying on it for anything but tests.
CN_2026 = [
    ("2026-01-01", "holiday", "元旦"), ("2026-01-02", "holiday", "元旦"), ("2026-01-04", "workday", "元旦调休"),
    ("2026-02-14", "workday", "春节调休"),
    ("2026-02-16", "holiday", "春节"), ("2026-02-17", "holiday", "春节"), ("2026-02-18", "holiday", "春节"),
    ("2026-02-19", "holiday", "春节"), ("2026-02-20", "holiday", "春节"), ("2026-02-23", "holiday", "春节"),
    ("2026-02-28", "workday", "春节调休"),
    ("2026-04-06", "holiday", "清明节"),
    ("2026-05-01", "holiday", "劳动节"), ("2026-05-04", "holiday", "劳动节"), ("2026-05-05", "holiday", "劳动节"),
    ("2026-05-09", "workday", "劳动节调休"),
    ("2026-06-19", "holiday", "端午节"),
    ("2026-09-20", "workday", "国庆节调休"),
    ("2026-09-25", "holiday", "中秋节"),
    ("2026-10-01", "holiday", "国庆节"), ("2026-10-02", "holiday", "国庆节"), ("2026-10-05", "holiday", "国庆节"),
    ("2026-10-06", "holiday", "国庆节"), ("2026-10-07", "holiday", "国庆节"),
    ("2026-10-10", "workday", "国庆节调休"),
]


def cn_2026_exceptions() -> dict[dt.date, HolidayKind]:
    return {dt.date.fromisoformat(d): HolidayKind(k) for d, k, _n in CN_2026}


def load_cn_2026(session: Session) -> None:
    for day, kind, name in CN_2026:
        session.add(Holiday(day=dt.date.fromisoformat(day), kind=HolidayKind(kind), name=name))
    session.commit()


def cn_2026_csv() -> str:
    return "date,kind,name\n" + "\n".join(",".join(row) for row in CN_2026) + "\n"


def question(campaign: Campaign, code: str):
    return next(q for q in campaign.questionnaire.questions if q.code == code)


def respond(
    session: Session,
    campaign: Campaign,
    unit: Unit | None,
    levels: dict[str, int] | None = None,
    comment: str | None = None,
    comment_code: str = "Q8",
    phone: str | None = None,
    submitted_on: dt.date | None = None,
    status: ResponseStatus = ResponseStatus.VALID,
    answer_unit: Unit | None = None,
    open_cases: bool = True,
) -> Response:
    """A stored response (service survey by default); its cases opened unless told not to."""
    answer_unit = answer_unit or unit
    response = Response(
        campaign_id=campaign.id, questionnaire_id=campaign.questionnaire_id, unit_id=unit.id if unit else None,
        channel=Channel.POSTER, submission_id=f"t-{next(_seq)}-{id(campaign)}", status=status,
    )
    if submitted_on is not None:
        response.submitted_at = local_moment(submitted_on, 10, "Asia/Shanghai")
    for code, level in (levels or {"Q1": 5}).items():
        response.answers.append(Answer(campaign_id=campaign.id, unit_id=answer_unit.id if answer_unit else None,
                                       question_id=question(campaign, code).id, level=level))
    if comment is not None:
        response.answers.append(Answer(campaign_id=campaign.id, unit_id=answer_unit.id if answer_unit else None,
                                       question_id=question(campaign, comment_code).id, text=comment))
    session.add(response)
    session.flush()
    if phone:
        session.add(FollowUpContact(response_id=response.id, phone=phone))
    if open_cases:
        open_cases_for_response(session, response)
    session.commit()
    return response
