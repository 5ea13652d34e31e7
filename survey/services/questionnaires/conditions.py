"""Display conditions: a question shown only when earlier answers call for it.

``Question.show_if`` is NULL (always shown) or ``{"any": [cond, ...]}``: the question is shown
when at least one cond holds. A cond is ``{"question": code, "op": op, "value": v}`` on an
*earlier* question (by position; never itself or a later one, so there are no cycles):

- a satisfaction question: ``le`` / ``ge`` a level 1 … 5 (5 = 非常满意, 1 = 非常不满意);
- a 0–10 rating: ``le`` / ``ge`` a number 0 … 10;
- a single, multiple or respondent-group question: ``chosen`` / ``not_chosen`` an option code.

No answer (skipped, 不了解, or the referenced question itself not shown) makes no cond hold,
``not_chosen`` included: it holds only for an answered question whose choices leave the option out.

In an appraisal a per-unit question's cond on another per-unit question is evaluated for the
same rated unit; a once-per-response question with a cond on a per-unit question holds when it
holds for any rated unit; a per-unit question with a cond on a once question uses that answer.

A question not shown is *structurally missing*: the response stores one answer row for it (per
unit, as its answers would carry it) with ``not_shown`` set and no value; answers posted for it
are discarded and it is never required. The respondent-group question takes no condition (the
group weights every answer). This module is the one place that validates a condition and
evaluates it; a published version's conditions are compiled once (:func:`plan`).
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask_babel import gettext as _

from survey.core.errors import DomainError
from survey.models import Question, Questionnaire, QuestionnaireKind, QuestionType

OPS_BY_TYPE: dict[QuestionType, tuple[str, ...]] = {
    QuestionType.SATISFACTION: ("le", "ge"),
    QuestionType.RATING: ("le", "ge"),
    QuestionType.SINGLE: ("chosen", "not_chosen"),
    QuestionType.MULTIPLE: ("chosen", "not_chosen"),
    QuestionType.GROUP: ("chosen", "not_chosen"),
}
RANGES = {QuestionType.SATISFACTION: (1, 5), QuestionType.RATING: (0, 10)}
MAX_CONDS = 20
BAD_REASONS = "bad_reasons"  # settings["role"] of the multiple-choice question holding a 差评's reasons


class ConditionError(DomainError):
    """A display condition that breaks a rule; the message names the question."""


# --- validation -------------------------------------------------------------------------------

def _value(ref: Question, op: str, raw: Any, where: str) -> int | str:
    """The cond's value checked against the referenced question: a level, a number or an option code."""
    if ref.type in RANGES:
        low, high = RANGES[ref.type]
        if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
            if ref.type == QuestionType.SATISFACTION:
                raise ConditionError(_("%(where)s：满意度等级应为 1（非常不满意）到 5（非常满意）之间的整数。", where=where))
            raise ConditionError(_("%(where)s：分数应为 0 到 10 之间的整数。", where=where))
        return raw
    code = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(code, str) or code not in {o.code for o in ref.options}:
        raise ConditionError(_("%(where)s：题目 %(ref)s 没有代码为 %(v)s 的选项。", where=where, ref=ref.code, v=raw))
    return code


def check_show_if(question: Question, show_if: Any, questions: Sequence[Question]) -> dict[str, Any] | None:
    """``show_if`` of ``question`` validated against the questionnaire's ``questions`` (in order), normalised.

    Only earlier questions may be referenced: a reference to the question itself (a cycle), to a later
    question or to one that does not exist (deleted) is refused with a message naming both.
    """
    if show_if is None or show_if == {} or show_if == {"any": []}:
        return None
    where = _("%(code)s 的显示条件", code=question.code)
    if not isinstance(show_if, dict) or set(show_if) != {"any"} or not isinstance(show_if["any"], list):
        raise ConditionError(_("%(where)s：应为 {\"any\": [条件, …]}。", where=where))
    conds = show_if["any"]
    if len(conds) > MAX_CONDS:
        raise ConditionError(_("%(where)s：最多 %(n)d 个条件。", where=where, n=MAX_CONDS))
    if question.type == QuestionType.GROUP:
        raise ConditionError(_("%(code)s 是身份题，不能设置显示条件（样本类别用于加权每一份答卷）。", code=question.code))
    position = {q.code: i for i, q in enumerate(questions)}
    own = next((i for i, q in enumerate(questions) if q is question), position.get(question.code, len(questions)))
    out = []
    for cond in conds:
        if not isinstance(cond, dict) or set(cond) != {"question", "op", "value"}:
            raise ConditionError(_("%(where)s：每个条件应有 question、op、value 三项。", where=where))
        code = cond["question"]
        if not isinstance(code, str) or code not in position:
            raise ConditionError(_("%(code)s 的显示条件引用了不存在的题目 %(ref)s。", code=question.code, ref=code))
        if position[code] == own:
            raise ConditionError(_("%(code)s 的显示条件引用了它自己（循环）。", code=question.code))
        if position[code] > own:
            raise ConditionError(_("%(code)s 的显示条件引用了后面的题目 %(ref)s。", code=question.code, ref=code))
        ref = questions[position[code]]
        ops = OPS_BY_TYPE.get(ref.type)
        if ops is None:
            raise ConditionError(_("%(code)s 的显示条件不能引用文字题 %(ref)s。", code=question.code, ref=code))
        if cond["op"] not in ops:
            raise ConditionError(_("%(where)s：题目 %(ref)s 的条件只能是 %(ops)s。", where=where, ref=code,
                                   ops=" / ".join(ops)))
        out.append({"question": code, "op": cond["op"], "value": _value(ref, cond["op"], cond["value"], where)})
    return {"any": out}


def check_questions(questions: Sequence[Question]) -> None:
    """Every question's condition valid against the others (what the editor, import and publish require),
    and at most one question marked as the 差评 reasons (a multiple-choice one)."""
    reasons = [q for q in questions if (q.settings or {}).get("role") == BAD_REASONS]
    for q in reasons:
        if q.type != QuestionType.MULTIPLE:
            raise ConditionError(_("%(code)s：只有多选题可以作为差评原因题（settings.role = bad_reasons）。", code=q.code))
    if len(reasons) > 1:
        raise ConditionError(_("只能有一道差评原因题，现在有 %(codes)s。", codes="、".join(q.code for q in reasons)))
    unknown = {(q.settings or {}).get("role") for q in questions} - {None, BAD_REASONS}
    if unknown:
        raise ConditionError(_("settings.role 只能是 bad_reasons，不认识 %(r)s。", r=", ".join(map(str, unknown))))
    for question in questions:
        question.show_if = check_show_if(question, question.show_if, questions)


def dependents(questions: Iterable[Question], code: str) -> list[str]:
    """The codes of the questions whose condition refers to ``code``."""
    return [q.code for q in questions
            if q.show_if and any(c.get("question") == code for c in q.show_if.get("any", []))]


def refuse_delete(questions: Sequence[Question], question: Question) -> None:
    if names := dependents(questions, question.code):
        raise ConditionError(_("不能删除 %(code)s：%(others)s 的显示条件引用了它，请先修改这些条件。",
                               code=question.code, others="、".join(names)))


def refuse_order(order: Sequence[Question], moved: Question) -> None:
    """A new order of the questions is refused when a condition would then look forwards."""
    position = {q.code: i for i, q in enumerate(order)}
    for q in order:
        for cond in (q.show_if or {}).get("any", []):
            ref = cond.get("question")
            if ref in position and position[ref] >= position[q.code]:
                raise ConditionError(_("不能这样移动 %(code)s：%(q)s 的显示条件引用了 %(ref)s，被引用的题目必须在前。",
                                       code=moved.code, q=q.code, ref=ref))


def refuse_code_change(questions: Sequence[Question], question: Question, new_code: str) -> None:
    if new_code != question.code and (names := dependents(questions, question.code)):
        raise ConditionError(_("不能修改 %(code)s 的题号：%(others)s 的显示条件引用了它。",
                               code=question.code, others="、".join(names)))


def from_rows(rows: Iterable[Mapping[str, str]], questions: Sequence[Question]) -> dict[str, Any] | None:
    """The editor's condition rows (question code, op, value as typed or chosen) as ``show_if``: a
    level or score becomes a number when the referenced question takes one; empty rows are left out.
    Checked afterwards like any other condition."""
    types = {q.code: q.type for q in questions}
    conds = []
    for row in rows:
        code, op, value = ((row.get(k) or "").strip() for k in ("question", "op", "value"))
        if not (code or value):
            continue
        numeric = types.get(code) in RANGES and value.isascii() and value.isdigit() and len(value) <= 3
        conds.append({"question": code, "op": op, "value": int(value) if numeric else value})
    return {"any": conds} if conds else None


def rows_of(show_if: dict[str, Any] | None) -> list[dict[str, str]]:
    """``show_if`` as the editor's rows (the reverse of :func:`from_rows`)."""
    return [{"question": str(c.get("question", "")), "op": str(c.get("op", "")), "value": str(c.get("value", ""))}
            for c in (show_if or {}).get("any", [])]


# --- evaluation -------------------------------------------------------------------------------

class AnswerLike(Protocol):
    level: int | None
    dont_know: bool
    option_id: int | None
    number: float | None


@dataclass(frozen=True)
class Cond:
    ref_id: int
    ref_per_unit: bool
    op: str
    value: float | int  # a level, a number, or an option id

    def holds(self, answers: Sequence[AnswerLike]) -> bool:
        if self.op in ("le", "ge"):
            got = [a.level if a.level is not None else a.number for a in answers if not a.dont_know]
            got = [g for g in got if g is not None]
            if not got:
                return False
            return got[0] <= self.value if self.op == "le" else got[0] >= self.value
        chosen = {a.option_id for a in answers if a.option_id is not None}
        if self.op == "chosen":
            return self.value in chosen
        return bool(chosen) and self.value not in chosen


@dataclass(frozen=True)
class Rule:
    """One conditional question's compiled condition."""

    question_id: int
    per_unit: bool
    conds: tuple[Cond, ...]

    def refs(self) -> set[int]:
        return {c.ref_id for c in self.conds}


@dataclass
class Plan:
    """A questionnaire version's conditions, compiled: question id → rule (only conditional questions)."""

    rules: dict[int, Rule] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)  # every question id, by position

    def __bool__(self) -> bool:
        return bool(self.rules)

    def shown(self, question_id: int, unit_id: int | None, unit_ids: Sequence[int | None],
              kept: Mapping[tuple[int, int | None], Sequence[AnswerLike]], once_unit: int | None) -> bool:
        """Whether the question is shown for ``unit_id`` given the answers ``kept`` so far (by (question, unit)).

        ``unit_ids``: the rated units (an appraisal's per-unit answers); ``once_unit``: the unit a
        once-per-response answer carries (the service unit, or None in an appraisal).
        """
        rule = self.rules.get(question_id)
        if rule is None:
            return True
        for cond in rule.conds:
            if not cond.ref_per_unit:
                candidates: Sequence[int | None] = [once_unit]
            elif rule.per_unit:
                candidates = [unit_id]
            else:
                candidates = unit_ids
            if any(cond.holds(kept.get((cond.ref_id, u), ())) for u in candidates):
                return True
        return False


def _per_unit(questionnaire: Questionnaire, question: Question) -> bool:
    return questionnaire.kind == QuestionnaireKind.APPRAISAL and question.per_unit


def compile_plan(questionnaire: Questionnaire) -> Plan:
    """Stored conditions as ids; a cond naming something that no longer exists never holds (dropped)."""
    by_code = {q.code: q for q in questionnaire.questions}
    result = Plan(order=[q.id for q in questionnaire.questions])
    for question in questionnaire.questions:
        raw = (question.show_if or {}).get("any") if isinstance(question.show_if, dict) else None
        if not raw:
            continue
        conds = []
        for cond in raw:
            ref = by_code.get(cond.get("question")) if isinstance(cond, dict) else None
            if ref is None or ref.position >= question.position:
                continue
            op, value = cond.get("op"), cond.get("value")
            if op in ("chosen", "not_chosen"):
                option = next((o for o in ref.options if o.code == str(value)), None)
                if option is None:
                    continue
                value = option.id
            elif op not in ("le", "ge") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            conds.append(Cond(ref.id, _per_unit(questionnaire, ref), op, value))
        result.rules[question.id] = Rule(question.id, _per_unit(questionnaire, question), tuple(conds))
    return result


_plans: weakref.WeakKeyDictionary[Questionnaire, Plan] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def plan(questionnaire: Questionnaire) -> Plan:
    """The compiled conditions of a loaded questionnaire, compiled once per loaded object (a cached
    published version keeps its plan as long as the cache keeps it; a draft is compiled per request)."""
    if not questionnaire.is_published:  # a draft changes under the editor: never kept
        return compile_plan(questionnaire)
    found = _plans.get(questionnaire)
    if found is None:
        found = compile_plan(questionnaire)
        with _lock:
            _plans[questionnaire] = found
    return found


def client_rule(questionnaire: Questionnaire, question: Question, unit_id: int | None,
                unit_ids: Sequence[int], name_of: Any) -> str | None:
    """The question's condition as the page's script reads it, short to keep the page light: conds
    joined by ",", each "op value field …" — the form fields to look at (any of them) and the value as
    the inputs carry it (a level, a number or an option id). E.g. ``le 2 q11 q12,chosen 52 q14``."""
    rule = plan(questionnaire).rules.get(question.id)
    if rule is None:
        return None
    merged: dict[tuple[str, str], list[str]] = {}  # conds alike on several questions: one cond, any field
    for cond in rule.conds:
        if not cond.ref_per_unit:
            fields = [name_of(cond.ref_id, None)]
        elif rule.per_unit:
            fields = [name_of(cond.ref_id, unit_id)]
        else:
            fields = [name_of(cond.ref_id, u) for u in unit_ids]
        value = str(int(cond.value)) if float(cond.value).is_integer() else repr(float(cond.value))
        merged.setdefault((cond.op, value), []).extend(fields)
    return ",".join(" ".join([op, value, *fields]) for (op, value), fields in merged.items()) or "never"


def bad_reasons_question(questionnaire: Questionnaire) -> Question | None:
    """The multiple-choice question whose chosen options are a 差评's reasons, if the questionnaire has one."""
    return next((q for q in questionnaire.questions if (q.settings or {}).get("role") == BAD_REASONS), None)
