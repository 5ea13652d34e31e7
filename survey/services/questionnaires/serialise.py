"""Questionnaires as plain data (JSON): build one from a dict, and turn one back into a dict.

The same shape serves the built-in templates, the export/import between offices, the
editor and the demo, so the round trip dict → questionnaire → dict is exact, and every
message names the question (and option) at fault.
"""
from __future__ import annotations

import itertools
import json
import math
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.core.errors import DomainError
from survey.core.validation import bad_character
from survey.models import (
    Option,
    Question,
    Questionnaire,
    QuestionnaireKind,
    QuestionType,
    RespondentGroup,
)
from survey.services.questionnaires import conditions

FORMAT = "pingyi-questionnaire"
FORMAT_VERSION = 1
CHOICE_TYPES = {QuestionType.SINGLE, QuestionType.MULTIPLE, QuestionType.GROUP}
MAX_QUESTIONS = 200
MAX_OPTIONS = 100


class QuestionnaireError(DomainError):
    """The data does not describe a valid questionnaire; the message names the place."""


def _text(value: Any, where: str, required: bool = True, limit: int = 2000) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise QuestionnaireError(_("%(where)s：不能为空。", where=where))
        return None
    if not isinstance(value, str):
        raise QuestionnaireError(_("%(where)s：应为文字。", where=where))
    if len(value) > limit:
        raise QuestionnaireError(_("%(where)s：最长 %(n)d 个字。", where=where, n=limit))
    if char := bad_character(value):
        raise QuestionnaireError(_("%(where)s：应为文字，不能含有控制字符或无效字符（%(char)s）。",
                                   where=where, char=char))
    return value.strip()


def _finite(value: float) -> float | None:
    """``value`` as a float, or None when it is not finite (NaN, ±∞, or an integer beyond a float: 10**400)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _number(value: Any, where: str, default: float | None = None) -> float | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise QuestionnaireError(_("%(where)s：应为数字。", where=where))
    number = _finite(value)
    if number is None:
        raise QuestionnaireError(_("%(where)s：应为有限的数字。", where=where))
    return number


def _flag(value: Any, where: str, name: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise QuestionnaireError(_("%(where)s：%(name)s 应为 true 或 false。", where=where, name=name))
    return value


def level_scores(value: Any) -> list[float]:
    """Five scores for 非常不满意 … 非常满意, strictly increasing."""
    if not isinstance(value, list) or len(value) != 5 or any(isinstance(s, bool) or not isinstance(s, (int, float))
                                                             for s in value):
        raise QuestionnaireError(_("等级分值应为 5 个数字（从“非常不满意”到“非常满意”）。"))
    scores = [_finite(s) for s in value]
    if None in scores:
        raise QuestionnaireError(_("等级分值应为有限的数字。"))
    if any(b <= a for a, b in itertools.pairwise(scores)):
        raise QuestionnaireError(_("等级分值必须从“非常不满意”到“非常满意”严格递增。"))
    return scores


def questionnaire_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The questionnaire's own fields (kind, titles, intro, level scores), validated."""
    try:
        kind = QuestionnaireKind(data.get("kind"))
    except ValueError as exc:
        raise QuestionnaireError(_("问卷类型应为 service 或 appraisal。")) from exc
    return {
        "kind": kind,
        "title": _text(data.get("title"), _("问卷标题"), limit=200),
        "title_en": _text(data.get("title_en"), _("英文标题"), required=False, limit=300),
        "intro": _text(data.get("intro"), _("说明"), required=False),
        "intro_en": _text(data.get("intro_en"), _("英文说明"), required=False),
        "level_scores": level_scores(data.get("level_scores", [0, 25, 50, 75, 100])),
    }


def group_index(session: Session) -> dict[str, RespondentGroup]:
    return {g.code: g for g in session.scalars(select(RespondentGroup))}


def _place(path: tuple[str | int, ...]) -> str:
    """A place in the document as people read it: title, 第 2 题 第 1 个选项 label, 第 1 题 settings.x,
    level_scores 第 5 项."""
    words, rest = [], list(path)
    if rest[:1] == ["questions"] and len(rest) > 1 and isinstance(rest[1], int):
        words.append(_("第 %(n)d 题", n=rest[1] + 1))
        rest = rest[2:]
        if rest[:1] == ["options"] and len(rest) > 1 and isinstance(rest[1], int):
            words.append(_("第 %(n)d 个选项", n=rest[1] + 1))
            rest = rest[2:]
    after_key = False
    for step in rest:
        if isinstance(step, int):
            words.append(_("第 %(n)d 项", n=step + 1))
        elif after_key:
            words[-1] += "." + step[:40]
        else:
            words.append(step[:40])
        after_key = not isinstance(step, int)
    return " ".join(words) or _("问卷数据")


def check_values(data: Any) -> None:
    """Every number in the document finite, every text (and key) free of control characters and lone
    surrogates, wherever it sits — also in ``settings``, which is stored as it is: PostgreSQL cannot hold
    NaN in JSON or NUL in text, and UTF-8 cannot encode a lone surrogate (a "\\ud800" escape without its pair)."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]  # a loop, not recursion: nesting may be deep
    while stack:
        path, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise QuestionnaireError(_("%(where)s：应为有限的数字。", where=_place(path)))
        texts = [value] if isinstance(value, str) else list(value) if isinstance(value, dict) else []
        for text in texts:
            if isinstance(text, str) and (char := bad_character(text)):
                raise QuestionnaireError(_("%(where)s：应为文字，不能含有控制字符或无效字符（%(char)s）。",
                                           where=_place(path), char=char))
        if isinstance(value, dict):  # reversed: the first problem in the file is the one reported
            stack.extend(reversed([(path + (str(key),), inner) for key, inner in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([(path + (i,), inner) for i, inner in enumerate(value)]))


def build_questionnaire(session: Session, data: dict[str, Any]) -> Questionnaire:
    """A new draft questionnaire (not yet added to the session) from its data, fully validated."""
    if not isinstance(data, dict):
        raise QuestionnaireError(_("问卷数据应为一个对象。"))
    check_values(data)
    fmt = data.get("format")
    if fmt is not None and fmt != FORMAT:
        raise QuestionnaireError(_("这不是评议问卷文件（format 应为 %(f)s）。", f=FORMAT))
    version = data.get("format_version", FORMAT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise QuestionnaireError(_("问卷文件的版本 %(v)s 不受支持，请升级系统后再导入。", v=version))
    questionnaire = Questionnaire(**questionnaire_fields(data))
    raw_questions = data.get("questions")
    if not isinstance(raw_questions, list) or not raw_questions:
        raise QuestionnaireError(_("问卷至少需要一道题。"))
    if len(raw_questions) > MAX_QUESTIONS:
        raise QuestionnaireError(_("一份问卷最多 %(n)d 道题。", n=MAX_QUESTIONS))
    groups = group_index(session)
    seen_codes: set[str] = set()
    for position, raw in enumerate(raw_questions, start=1):
        questionnaire.questions.append(build_question(raw, position, questionnaire.kind, groups, seen_codes))
    check_group_questions(questionnaire.questions)
    check_conditions(questionnaire.questions)
    return questionnaire


def check_conditions(questions: list[Question]) -> None:
    """Display conditions look backwards only, at questions and options that exist (see ``conditions``)."""
    try:
        conditions.check_questions(questions)
    except conditions.ConditionError as exc:
        raise QuestionnaireError(str(exc)) from exc


def check_group_questions(questions: list[Question]) -> None:
    if sum(q.type == QuestionType.GROUP for q in questions) > 1:
        raise QuestionnaireError(_("一份问卷最多只能有一道身份（样本类别）题。"))


def build_question(
    raw: Any, position: int, kind: QuestionnaireKind, groups: dict[str, RespondentGroup], seen: set[str]
) -> Question:
    """One question (with its options) from its data, validated; ``seen`` holds the codes taken."""
    where = _("第 %(n)d 题", n=position)
    if not isinstance(raw, dict):
        raise QuestionnaireError(_("%(where)s：应为一个对象。", where=where))
    try:
        qtype = QuestionType(raw.get("type"))
    except ValueError as exc:
        raise QuestionnaireError(_("%(where)s：未知题型 %(t)s。", where=where, t=raw.get("type"))) from exc
    code = _text(raw.get("code") or f"Q{position}", where, limit=32)
    if code in seen:
        raise QuestionnaireError(_("%(where)s：题号 %(code)s 重复。", where=where, code=code))
    seen.add(code)
    where = _("第 %(n)d 题（%(code)s）", n=position, code=code)
    weight = _number(raw.get("weight"), where, default=1.0)
    if weight is not None and weight < 0:
        raise QuestionnaireError(_("%(where)s：题目权重不能为负。", where=where))
    max_length = raw.get("max_length")
    if max_length is not None and (
        isinstance(max_length, bool) or not isinstance(max_length, int) or not 1 <= max_length <= 5000
    ):
        raise QuestionnaireError(_("%(where)s：字数上限应为 1 到 5000 之间的整数。", where=where))
    settings = raw.get("settings")
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise QuestionnaireError(_("%(where)s：settings 应为一个对象。", where=where))
    question = Question(
        position=position,
        code=code,
        type=qtype,
        text=_text(raw.get("text"), where),
        text_en=_text(raw.get("text_en"), where, required=False),
        help=_text(raw.get("help"), where, required=False),
        help_en=_text(raw.get("help_en"), where, required=False),
        required=_flag(raw.get("required"), where, "required", qtype != QuestionType.TEXT),
        allow_dont_know=_flag(raw.get("allow_dont_know"), where, "allow_dont_know", True),
        weight=weight,
        in_index=_flag(raw.get("in_index"), where, "in_index", qtype == QuestionType.SATISFACTION),
        per_unit=_flag(raw.get("per_unit"), where, "per_unit", qtype != QuestionType.GROUP)
        if kind == QuestionnaireKind.APPRAISAL else True,
        max_length=max_length if qtype == QuestionType.TEXT else None,
        is_comment=_flag(raw.get("is_comment"), where, "is_comment", False) and qtype == QuestionType.TEXT,
        settings=dict(settings),
        show_if=raw.get("show_if"),  # checked against the other questions by conditions.check_questions
    )
    if qtype == QuestionType.GROUP:
        question.per_unit = False
    raw_options = raw.get("options") or []
    if qtype in CHOICE_TYPES:
        if not isinstance(raw_options, list) or len(raw_options) < 2:
            raise QuestionnaireError(_("%(where)s：选择题至少需要两个选项。", where=where))
        if len(raw_options) > MAX_OPTIONS:
            raise QuestionnaireError(_("%(where)s：最多 %(n)d 个选项。", where=where, n=MAX_OPTIONS))
        option_codes: set[str] = set()
        for opt_pos, raw_opt in enumerate(raw_options, start=1):
            question.options.append(_build_option(raw_opt, opt_pos, qtype, where, groups, option_codes))
    elif raw_options:
        raise QuestionnaireError(_("%(where)s：此题型没有选项。", where=where))
    max_choices = question.settings.get("max_choices")
    if max_choices is not None:
        if qtype != QuestionType.MULTIPLE:
            raise QuestionnaireError(_("%(where)s：只有多选题可以限制选择数。", where=where))
        if isinstance(max_choices, bool) or not isinstance(max_choices, int) or not 1 <= max_choices <= len(question.options):
            raise QuestionnaireError(_("%(where)s：最多可选项数应为 1 到 %(n)d 之间的整数。",
                                       where=where, n=len(question.options)))
    return question


def _build_option(
    raw: Any, position: int, qtype: QuestionType, where: str, groups: dict[str, RespondentGroup], seen: set[str]
) -> Option:
    place = _("%(where)s 第 %(n)d 个选项", where=where, n=position)
    if not isinstance(raw, dict):
        raise QuestionnaireError(_("%(where)s：应为一个对象。", where=place))
    raw_code = raw.get("code")
    if raw_code is not None and not isinstance(raw_code, (str, int)) or isinstance(raw_code, bool):
        raise QuestionnaireError(_("%(where)s：选项代码应为文字。", where=place))
    code = _text(str(raw_code or position), place, limit=32)
    if code in seen:
        raise QuestionnaireError(_("%(where)s：选项代码 %(code)s 重复。", where=place, code=code))
    seen.add(code)
    option = Option(
        position=position,
        code=code,
        label=_text(raw.get("label"), place, limit=300),
        label_en=_text(raw.get("label_en"), place, required=False, limit=400),
        score=_number(raw.get("score"), place),
    )
    if qtype == QuestionType.GROUP:
        group_code = raw.get("group")
        if not group_code:
            raise QuestionnaireError(_("%(where)s：请选择对应的样本类别。", where=place))
        group = groups.get(group_code) if isinstance(group_code, str) else None
        if group is None:
            raise QuestionnaireError(
                _("%(where)s：样本类别 %(code)s 不存在，请先在“样本类别”中建立。", where=place, code=group_code)
            )
        option.respondent_group_id = group.id
    return option


def questionnaire_to_dict(questionnaire: Questionnaire, group_codes: dict[int, str]) -> dict[str, Any]:
    """The questionnaire as portable data (respondent groups by code, not database id)."""
    def question_dict(q: Question) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": q.code, "type": q.type.value, "text": q.text, "text_en": q.text_en,
            "help": q.help, "help_en": q.help_en, "required": q.required,
            "allow_dont_know": q.allow_dont_know, "weight": q.weight, "in_index": q.in_index,
            "per_unit": q.per_unit, "max_length": q.max_length, "is_comment": q.is_comment,
            "settings": dict(q.settings or {}),
            "show_if": q.show_if,
        }
        if q.options:
            out["options"] = [
                {"code": o.code, "label": o.label, "label_en": o.label_en, "score": o.score,
                 **({"group": group_codes.get(o.respondent_group_id)} if q.type == QuestionType.GROUP else {})}
                for o in q.options
            ]
        return out

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": questionnaire.kind.value,
        "title": questionnaire.title,
        "title_en": questionnaire.title_en,
        "intro": questionnaire.intro,
        "intro_en": questionnaire.intro_en,
        "level_scores": list(questionnaire.level_scores),
        "questions": [question_dict(q) for q in questionnaire.questions],
    }


def group_codes(session: Session) -> dict[int, str]:
    return {g.id: g.code for g in session.scalars(select(RespondentGroup))}


def to_json(session: Session, questionnaire: Questionnaire) -> str:
    """The export file's text: UTF-8 JSON, Chinese kept readable, stable key order."""
    data = questionnaire_to_dict(questionnaire, group_codes(session))
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def from_json(session: Session, text: str | bytes) -> Questionnaire:
    """A new draft questionnaire from an export file's text, validated with messages naming the place."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise QuestionnaireError(_("问卷文件应为 UTF-8 编码的 JSON。")) from exc
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise QuestionnaireError(_("不是有效的 JSON：第 %(line)d 行第 %(col)d 列附近有误。",
                                   line=exc.lineno, col=exc.colno)) from exc
    except QuestionnaireError:
        raise
    except ValueError as exc:  # an integer of more digits than Python reads (4300)
        raise QuestionnaireError(_("不是有效的 JSON：其中的数字位数太多。")) from exc
    except RecursionError as exc:
        raise QuestionnaireError(_("JSON 嵌套太深。")) from exc
    return build_questionnaire(session, data)


def _no_constant(name: str) -> float:
    """NaN, Infinity and -Infinity: Python writes them, JSON (and PostgreSQL) has no such numbers."""
    raise QuestionnaireError(_("不是有效的 JSON：%(v)s 不是有限的数字。", v=name))


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent; 1e999 would become infinity."""
    number = float(text)
    if not math.isfinite(number):
        raise QuestionnaireError(_("不是有效的 JSON：%(v)s 不是有限的数字。", v=text[:40]))
    return number
