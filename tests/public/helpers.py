"""Filling questionnaires in tests: every question type, for a service survey or an appraisal."""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from werkzeug.datastructures import MultiDict

from survey.extensions import db
from survey.models import Question, Questionnaire, QuestionnaireKind, QuestionType, Unit
from tests.factories import csrf_from, hidden_from

SITE_REVISION = "the site revision"  # what a request reads about the site: see statements()


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements run inside the block (the site revision's read, which differs by database, as
    ``SITE_REVISION``)."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(SITE_REVISION if "FROM site_revision WHERE id = 1" in statement else statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


# A service questionnaire with every question type the model knows.
ALL_TYPES: dict[str, Any] = {
    "kind": "service",
    "title": "全题型测试问卷",
    "title_en": "Every question type",
    "intro": "测试用。",
    "intro_en": "For tests.",
    "questions": [
        {"code": "S1", "type": "satisfaction", "text": "总体满意度", "text_en": "Overall satisfaction"},
        {"code": "S2", "type": "satisfaction", "text": "必须表态", "text_en": "No opting out", "allow_dont_know": False},
        {"code": "C1", "type": "single", "text": "跑了几次", "text_en": "Trips", "in_index": False,
         "options": [{"code": "1", "label": "一次", "label_en": "One", "score": 100},
                     {"code": "2", "label": "两次", "label_en": "Two", "score": 50}]},
        {"code": "M1", "type": "multiple", "text": "哪些方面需要改进", "text_en": "What needs improving",
         "in_index": False, "required": False, "settings": {"max_choices": 2},
         "options": [{"code": "a", "label": "等候", "label_en": "Waiting"},
                     {"code": "b", "label": "态度", "label_en": "Attitude"},
                     {"code": "c", "label": "材料", "label_en": "Paperwork"}]},
        {"code": "R1", "type": "rating", "text": "推荐给朋友的可能性", "text_en": "Would you recommend us", "in_index": False},
        {"code": "G1", "type": "group", "text": "您的身份", "text_en": "You are", "in_index": False,
         "options": [{"code": "QY", "label": "企业代表", "label_en": "Business", "group": "QY"},
                     {"code": "SM", "label": "市民", "label_en": "Resident", "group": "SM"}]},
        {"code": "T1", "type": "text", "text": "意见建议（选填）", "text_en": "Comments (optional)", "required": False,
         "in_index": False, "max_length": 20, "is_comment": True},
    ],
}


def page_fields(response: Any) -> dict[str, str]:
    """The fixed hidden fields of a questionnaire page (token, submission id, start time)."""
    return {
        "csrf_token": csrf_from(response),
        "submission_id": hidden_from(response, "submission_id"),
        "started": hidden_from(response, "started"),
    }


def answer_value(question: Question, level: str = "4") -> list[str]:
    if question.type == QuestionType.SATISFACTION:
        return [level]
    if question.type in (QuestionType.SINGLE, QuestionType.GROUP):
        return [str(question.options[0].id)]
    if question.type == QuestionType.MULTIPLE:
        return [str(question.options[0].id), str(question.options[1].id)]
    if question.type == QuestionType.RATING:
        return ["8"]
    return ["大厅空调太冷"]


def filled(questionnaire: Questionnaire, page: Any, units: list[Unit] | None = None, level: str = "4",
           **overrides: str | list[str]) -> MultiDict:
    """A complete submission of ``page``: every question answered (satisfaction at ``level``).

    ``overrides`` replace single fields by name (``q12="dk"``); an empty list drops a field.
    """
    data = MultiDict(page_fields(page))
    for unit in units or []:
        if questionnaire.kind == QuestionnaireKind.APPRAISAL:
            data.add("u", unit.code)
    html = page.get_data(as_text=True)
    for question in questionnaire.questions:
        per_unit = questionnaire.kind == QuestionnaireKind.APPRAISAL and question.per_unit
        names = [f"q{question.id}_u{u.id}" for u in units or []] if per_unit else [f"q{question.id}"]
        for name in names:
            if f'name="{name}"' not in html:  # not asked on this page (a preset group)
                continue
            for value in answer_value(question, level):
                data.add(name, value)
    for name, value in overrides.items():
        data.setlist(name, value if isinstance(value, list) else [value])
    return data


def checked(html: str, name: str) -> list[str]:
    """The values of ``name`` the page renders as checked."""
    return re.findall(rf'name="{name}" id="[^"]+" value="([^"]+)" checked', html)
