"""The questionnaire editor and its versions.

Rules:
- a draft is editable; publishing freezes it (validated in full first);
- a published version is never changed: "edit" makes the next version of the same
  family as a draft copy, leaving the published one, its campaigns and its responses
  untouched (a response keeps the questionnaire_id it answered);
- a family has at most one draft at a time;
- level scores are five strictly increasing numbers, question weights are ≥ 0,
  a respondent-group question's options each name a respondent group;
- a display condition looks only at earlier questions: a question others' conditions refer to
  cannot be deleted, renumbered or moved behind them (``conditions``);
- every change is audited.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.core.audit import record
from survey.core.errors import DomainError
from survey.core.references import references
from survey.models import (
    Campaign,
    Option,
    Question,
    Questionnaire,
    QuestionnaireKind,
    QuestionnaireStatus,
    QuestionType,
    RespondentGroup,
    Response,
    User,
    utcnow,
)
from survey.services.questionnaires import conditions
from survey.services.questionnaires import serialise as qio
from survey.services.questionnaires.builtin import BUILTIN_TEMPLATES
from survey.services.units.groups import ensure_template_groups


@dataclass
class Family:
    """All versions of one questionnaire, newest first."""

    versions: list[Questionnaire]
    campaigns: dict[int, int] = field(default_factory=dict)  # questionnaire id → campaigns using it

    @property
    def latest(self) -> Questionnaire:
        return self.versions[0]

    @property
    def draft(self) -> Questionnaire | None:
        return next((q for q in self.versions if q.status == QuestionnaireStatus.DRAFT), None)

    @property
    def published(self) -> Questionnaire | None:
        return next((q for q in self.versions if q.status == QuestionnaireStatus.PUBLISHED), None)


def _error(exc: qio.QuestionnaireError) -> DomainError:
    return DomainError(str(exc))


def ensure_draft(questionnaire: Questionnaire) -> None:
    if questionnaire.status != QuestionnaireStatus.DRAFT:
        raise DomainError(_("“%(t)s”第 %(v)d 版已发布，不能再修改。请点“修改（生成新版本）”。",
                            t=questionnaire.title, v=questionnaire.version))


def families(session: Session) -> list[Family]:
    """Every questionnaire family, most recently created first."""
    by_family: dict[str, list[Questionnaire]] = {}
    for q in session.scalars(select(Questionnaire).order_by(Questionnaire.version.desc())):
        by_family.setdefault(q.family, []).append(q)
    used = dict(session.execute(select(Campaign.questionnaire_id, func.count(Campaign.id))
                                .group_by(Campaign.questionnaire_id)).all())
    result = [Family(versions, {q.id: int(used.get(q.id, 0)) for q in versions}) for versions in by_family.values()]
    result.sort(key=lambda f: max(q.created_at for q in f.versions), reverse=True)
    return result


def family_of(session: Session, questionnaire: Questionnaire) -> Family:
    versions = list(session.scalars(select(Questionnaire).where(Questionnaire.family == questionnaire.family)
                                    .order_by(Questionnaire.version.desc())))
    return Family(versions)


def usage(session: Session, questionnaire: Questionnaire) -> tuple[list[Campaign], int]:
    """Campaigns using this version, and responses that answered it."""
    campaigns = list(session.scalars(select(Campaign).where(Campaign.questionnaire_id == questionnaire.id)
                                     .order_by(Campaign.created_at.desc())))
    responses = session.scalar(select(func.count(Response.id)).where(Response.questionnaire_id == questionnaire.id)) or 0
    return campaigns, int(responses)


def as_data(session: Session, questionnaire: Questionnaire) -> dict[str, Any]:
    return qio.questionnaire_to_dict(questionnaire, qio.group_codes(session))


def _add(session: Session, user: User | None, questionnaire: Questionnaire, action: str, summary: str,
         **detail: Any) -> Questionnaire:
    questionnaire.created_by_id = user.id if user is not None else None
    session.add(questionnaire)
    session.flush()
    record(session, user, action, questionnaire, summary, **detail)
    return questionnaire


def create_from_template(session: Session, user: User | None, template_key: str) -> Questionnaire:
    """A draft copy of a built-in template (window-service survey or 万人评议 appraisal).

    The respondent groups its 身份 question names are created first if the office has none yet.
    """
    template = BUILTIN_TEMPLATES.get(template_key)
    if template is None:
        raise DomainError({"template": _("请选择一个问卷模板。")})
    ensure_template_groups(session, user, template_key)
    try:
        questionnaire = qio.build_questionnaire(session, template)
    except qio.QuestionnaireError as exc:
        raise _error(exc) from exc
    return _add(session, user, questionnaire, "questionnaire.create",
                f"从模板 {template_key} 新建问卷 {questionnaire.title}", template=template_key)


def create_blank(session: Session, user: User | None, kind: str, title: str | None) -> Questionnaire:
    try:
        fields = qio.questionnaire_fields({"kind": kind, "title": title})
    except qio.QuestionnaireError as exc:
        raise _error(exc) from exc
    return _add(session, user, Questionnaire(**fields), "questionnaire.create", f"新建空白问卷 {fields['title']}")


def import_json(session: Session, user: User | None, text: str | bytes, filename: str | None = None) -> Questionnaire:
    """A draft from an exported file; invalid files change nothing and name the question at fault."""
    try:
        questionnaire = qio.from_json(session, text)
    except qio.QuestionnaireError as exc:
        raise DomainError({"file": str(exc)}) from exc
    return _add(session, user, questionnaire, "questionnaire.import",
                f"导入问卷 {questionnaire.title}", filename=filename)


def export_json(session: Session, questionnaire: Questionnaire) -> str:
    return qio.to_json(session, questionnaire)


def update_meta(session: Session, user: User | None, questionnaire: Questionnaire, data: dict[str, Any]) -> None:
    """Titles, introductions and level scores of a draft."""
    ensure_draft(questionnaire)
    try:
        fields = qio.questionnaire_fields({**data, "kind": questionnaire.kind.value})
    except qio.QuestionnaireError as exc:
        raise _error(exc) from exc
    fields.pop("kind")
    before = {k: getattr(questionnaire, k) for k in fields}
    for key, value in fields.items():
        setattr(questionnaire, key, value)
    session.flush()
    changes = {k: [before[k], fields[k]] for k in fields if before[k] != fields[k]}
    if changes:
        record(session, user, "questionnaire.update", questionnaire, f"修改问卷 {questionnaire.title}", changes=changes)


def _free_code(questionnaire: Questionnaire) -> str:
    taken = {q.code for q in questionnaire.questions}
    n = len(questionnaire.questions) + 1
    while f"Q{n}" in taken:
        n += 1
    return f"Q{n}"


def _renumber(questionnaire: Questionnaire) -> None:
    for position, question in enumerate(questionnaire.questions, start=1):
        question.position = position


def add_question(session: Session, user: User | None, questionnaire: Questionnaire, qtype: str,
                 text: str | None) -> Question:
    """A new question at the end, with sensible defaults for its type (options to be edited next)."""
    ensure_draft(questionnaire)
    try:
        kind = QuestionType(qtype)
    except ValueError as exc:
        raise DomainError({"type": _("请选择题型。")}) from exc
    if not (text or "").strip():
        raise DomainError({"text": _("请填写题目。")})
    raw: dict[str, Any] = {"code": _free_code(questionnaire), "type": kind.value, "text": text}
    if kind in (QuestionType.SINGLE, QuestionType.MULTIPLE):
        raw["options"] = [{"code": str(n), "label": _("选项 %(n)d", n=n)} for n in (1, 2)]
    elif kind == QuestionType.GROUP:
        groups = list(session.scalars(select(RespondentGroup).where(RespondentGroup.active.is_(True))
                                      .order_by(RespondentGroup.sort_order, RespondentGroup.code)))
        if len(groups) < 2:
            raise DomainError({"type": _("身份题需要至少两个启用的样本类别，请先在“样本类别”中建立。")})
        raw["options"] = [{"code": g.code, "label": g.name, "label_en": g.name_en, "group": g.code} for g in groups]
    elif kind == QuestionType.TEXT:
        raw.update(required=False, max_length=500, is_comment=True)
    position = len(questionnaire.questions) + 1
    try:
        question = qio.build_question(raw, position, questionnaire.kind, qio.group_index(session),
                                      {q.code for q in questionnaire.questions})
        qio.check_group_questions([*questionnaire.questions, question])
    except qio.QuestionnaireError as exc:
        raise _error(exc) from exc
    questionnaire.questions.append(question)
    session.flush()
    record(session, user, "questionnaire.question.add", questionnaire,
           f"问卷 {questionnaire.title} 新增第 {position} 题 {question.code}", question=question.code, type=kind.value)
    return question


def question_data(session: Session, question: Question) -> dict[str, Any]:
    """One question in the export shape (what the edit form shows and sends back)."""
    data = as_data(session, question.questionnaire)
    return next(q for q in data["questions"] if q["code"] == question.code)


def update_question(session: Session, user: User | None, question: Question, data: dict[str, Any]) -> None:
    """Replace a draft question's fields and options with ``data`` (export shape), validated first."""
    questionnaire = question.questionnaire
    ensure_draft(questionnaire)
    data = {**data, "type": question.type.value}
    others = {q.code for q in questionnaire.questions if q is not question}
    before = question_data(session, question)
    try:
        built = qio.build_question(data, question.position, questionnaire.kind, qio.group_index(session), others)
        conditions.refuse_code_change(questionnaire.questions, question, built.code)
        qio.check_conditions([built if q is question else q for q in questionnaire.questions])
    except qio.QuestionnaireError as exc:
        raise _error(exc) from exc
    for name in ("code", "text", "text_en", "help", "help_en", "required", "allow_dont_know", "weight",
                 "in_index", "per_unit", "max_length", "is_comment", "settings", "show_if"):
        setattr(question, name, getattr(built, name))
    existing = list(question.options)
    for option in existing:  # free the codes first: the new list may reuse them in another order
        option.code = f"~{option.id}"
    session.flush()
    for index, new in enumerate(built.options):
        if index < len(existing):
            option = existing[index]
        else:
            option = Option()
            question.options.append(option)
        for name in ("position", "code", "label", "label_en", "score", "respondent_group_id"):
            setattr(option, name, getattr(new, name))
    for option in existing[len(built.options):]:
        question.options.remove(option)
    session.flush()
    after = question_data(session, question)
    if after != before:
        record(session, user, "questionnaire.question.update", questionnaire,
               f"问卷 {questionnaire.title} 修改第 {question.position} 题 {question.code}",
               before=before, after=after)


def move_question(session: Session, user: User | None, question: Question, step: int) -> None:
    questionnaire = question.questionnaire
    ensure_draft(questionnaire)
    questions = list(questionnaire.questions)
    index = questions.index(question)
    target = index + (1 if step > 0 else -1)
    if not 0 <= target < len(questions):
        return
    questions[index], questions[target] = questions[target], questions[index]
    conditions.refuse_order(questions, question)
    for position, item in enumerate(questions, start=1):
        item.position = position
    session.flush()
    session.expire(questionnaire, ["questions"])
    record(session, user, "questionnaire.question.move", questionnaire,
           f"问卷 {questionnaire.title} 调整题目顺序", order=[q.code for q in questions])


def delete_question(session: Session, user: User | None, question: Question) -> None:
    questionnaire = question.questionnaire
    ensure_draft(questionnaire)
    conditions.refuse_delete(questionnaire.questions, question)
    before = question_data(session, question)
    questionnaire.questions.remove(question)
    _renumber(questionnaire)
    session.flush()
    record(session, user, "questionnaire.question.delete", questionnaire,
           f"问卷 {questionnaire.title} 删除题目 {before['code']}", before=before)


def validate_complete(session: Session, questionnaire: Questionnaire) -> None:
    """The whole questionnaire passes the same checks as an import (what publishing requires)."""
    try:
        qio.build_questionnaire(session, as_data(session, questionnaire))
    except qio.QuestionnaireError as exc:
        raise _error(exc) from exc


def publish(session: Session, user: User | None, questionnaire: Questionnaire) -> None:
    """Freeze a draft: from now on it can be used by campaigns and never changes."""
    ensure_draft(questionnaire)
    validate_complete(session, questionnaire)
    questionnaire.status = QuestionnaireStatus.PUBLISHED
    questionnaire.published_at = utcnow()
    session.flush()
    record(session, user, "questionnaire.publish", questionnaire,
           f"发布问卷 {questionnaire.title} 第 {questionnaire.version} 版", version=questionnaire.version)


def new_version(session: Session, user: User | None, questionnaire: Questionnaire) -> Questionnaire:
    """The family's draft: the existing one, or a copy of this version numbered after the newest."""
    if questionnaire.status == QuestionnaireStatus.DRAFT:
        return questionnaire
    family = family_of(session, questionnaire)
    if family.draft is not None:
        return family.draft
    try:
        copy = qio.build_questionnaire(session, as_data(session, questionnaire))
    except qio.QuestionnaireError as exc:
        raise _error(exc) from exc
    copy.family = questionnaire.family
    copy.version = family.latest.version + 1
    return _add(session, user, copy, "questionnaire.new_version",
                f"问卷 {copy.title} 生成第 {copy.version} 版草稿（复制自第 {questionnaire.version} 版）",
                source_id=questionnaire.id, version=copy.version)


def delete_draft(session: Session, user: User | None, questionnaire: Questionnaire) -> None:
    ensure_draft(questionnaire)
    used = {t: n for t, n in references(session, "questionnaire", questionnaire.id).items() if t != "question"}
    if used:
        raise DomainError(_("这个草稿已被使用，不能删除。"))
    record(session, user, "questionnaire.delete", questionnaire,
           f"删除问卷草稿 {questionnaire.title} 第 {questionnaire.version} 版", before=as_data(session, questionnaire))
    session.delete(questionnaire)
    session.flush()


def published_choices(session: Session, kind: QuestionnaireKind | None = None) -> list[Questionnaire]:
    """Published versions campaigns may use, newest first."""
    stmt = select(Questionnaire).where(Questionnaire.status == QuestionnaireStatus.PUBLISHED)
    if kind is not None:
        stmt = stmt.where(Questionnaire.kind == kind)
    return list(session.scalars(stmt.order_by(Questionnaire.created_at.desc(), Questionnaire.version.desc())))


def has_group_question(questionnaire: Questionnaire) -> bool:
    return any(q.type == QuestionType.GROUP for q in questionnaire.questions)
