"""Filling in a questionnaire page the way a phone would: read its hidden fields, answer every question."""
from __future__ import annotations

import re
from typing import Any

from survey.models import Questionnaire, QuestionnaireKind, QuestionType, Unit
from tests.factories import hidden_from


def form_for(page: Any, questionnaire: Questionnaire, units: list[Unit], level: int = 5) -> dict[str, Any]:
    """Every visible question answered (satisfaction ``level``, first option), plus the page's hidden fields."""
    html = page.get_data(as_text=True)
    data: dict[str, Any] = {
        "csrf_token": hidden_from(page, "csrf_token"),
        "submission_id": hidden_from(page, "submission_id"),
    }
    if 'name="started"' in html:
        data["started"] = hidden_from(page, "started")
    if questionnaire.kind == QuestionnaireKind.APPRAISAL:
        data["u"] = [u.code for u in units]
    for question in questionnaire.questions:
        names = ([f"q{question.id}_u{u.id}" for u in units]
                 if questionnaire.kind == QuestionnaireKind.APPRAISAL and question.per_unit else [f"q{question.id}"])
        for name in names:
            if not re.search(rf'name="{name}"', html):
                continue  # not shown (e.g. the group question when the group is known)
            if question.type == QuestionType.SATISFACTION:
                data[name] = str(level)
            elif question.type in (QuestionType.SINGLE, QuestionType.GROUP, QuestionType.MULTIPLE):
                data[name] = str(question.options[0].id)
            elif question.type == QuestionType.RATING:
                data[name] = "8"
    return data
