"""Setup pages: the questionnaire editor, versions, JSON export/import and the phone preview."""
from __future__ import annotations

import math
import re
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from survey.admin import bp
from survey.admin.common import save
from survey.admin.setup.common import analyst_only, flash_created_groups
from survey.admin.setup.forms import (
    MetaForm,
    NewQuestionForm,
    NewQuestionnaireForm,
    QuestionForm,
    TemplateForm,
    UploadForm,
)
from survey.core.errors import DomainError
from survey.core.lookups import get_or_404
from survey.core.validation import strip_control
from survey.extensions import db
from survey.models import Question, Questionnaire, QuestionType, RespondentGroup
from survey.services.questionnaires import conditions
from survey.services.questionnaires import editor as service
from survey.services.units.groups import missing_template_groups

BLANK_OPTION_ROWS = 3
LEVEL_FIELDS = ("score_1", "score_2", "score_3", "score_4", "score_5")


def _list_page(errors: dict[str, str] | None = None, status: int = 200):
    return render_template(
        "admin/setup/questionnaires/list.html", families=service.families(db.session),
        template_form=TemplateForm(formdata=None), blank_form=NewQuestionnaireForm(formdata=None),
        upload_form=UploadForm(formdata=None), errors=errors or {},
    ), status


@bp.route("/questionnaires/")
@analyst_only
def questionnaires():
    return _list_page()


@bp.route("/questionnaires/new", methods=["POST"])
@analyst_only
def questionnaire_new():
    """A draft from a built-in template, or a blank draft of a kind."""
    missing: list = []
    if "template" in request.form:
        form = TemplateForm()
        missing = missing_template_groups(db.session, form.template.data)
        questionnaire, errors = save(lambda: service.create_from_template(db.session, current_user, form.template.data))
    else:
        blank = NewQuestionnaireForm()
        questionnaire, errors = save(lambda: service.create_blank(db.session, current_user, blank.kind.data,
                                                                  blank.title.data))
    if errors:
        return _list_page(errors, 422)
    flash(_("已新建问卷草稿“%(t)s”。", t=questionnaire.title), "info")
    flash_created_groups(missing)
    return redirect(url_for("admin.questionnaire", questionnaire_id=questionnaire.id))


@bp.route("/questionnaires/import", methods=["POST"])
@analyst_only
def questionnaire_import():
    """A draft from an exported JSON file; a bad file changes nothing and says which question is wrong."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _list_page({"file": _("请选择要导入的问卷文件（.json）。")}, 422)
    content = upload.read()
    filename = strip_control(upload.filename)[:200]  # only recorded in the audit trail: never refused
    questionnaire, errors = save(lambda: service.import_json(db.session, current_user, content, filename))
    if errors:
        return _list_page({"file": next(iter(errors.values()))}, 422)
    flash(_("已导入问卷草稿“%(t)s”。检查无误后请发布。", t=questionnaire.title), "info")
    return redirect(url_for("admin.questionnaire", questionnaire_id=questionnaire.id))


def _meta_form(questionnaire: Questionnaire) -> MetaForm:
    form = MetaForm(formdata=None, obj=questionnaire)
    for name, score in zip(LEVEL_FIELDS, questionnaire.level_scores):
        form[name].data = f"{score:g}"
    return form


def _editor_page(questionnaire: Questionnaire, meta_form: MetaForm | None = None, new_form: NewQuestionForm | None = None,
                 errors: dict[str, str] | None = None, status: int = 200):
    family = service.family_of(db.session, questionnaire)
    campaigns, responses = service.usage(db.session, questionnaire)
    problem = None
    if questionnaire.status.value == "draft" and questionnaire.questions:
        try:
            service.validate_complete(db.session, questionnaire)
        except DomainError as exc:
            problem = next(iter(exc.errors.values()))
    db.session.rollback()
    return render_template(
        "admin/setup/questionnaires/editor.html", q=questionnaire, family=family, campaigns=campaigns,
        responses=responses, meta_form=meta_form or _meta_form(questionnaire),
        new_form=new_form or NewQuestionForm(formdata=None), errors=errors or {}, problem=problem,
        group_names={g.id: g.name for g in db.session.scalars(
            select(RespondentGroup))},
    ), status


@bp.route("/questionnaires/<int:questionnaire_id>")
@analyst_only
def questionnaire(questionnaire_id: int):
    return _editor_page(get_or_404(Questionnaire, questionnaire_id))


def _whole(raw: str) -> int | None:
    """ASCII digits as a number (a huge one as 10**9, beyond every limit here); None for anything else.

    Not ``str.isdigit``: it takes "²" and "١", which ``int`` then refuses or reads."""
    if not re.fullmatch(r"[0-9]+", raw):
        return None
    return int(raw) if len(raw) <= 9 else 10**9


def _number(text: str | None, field: str, label: str, default: float | None = None) -> float | None:
    raw = (text or "").strip()
    if not raw:
        if default is None:
            raise DomainError({field: _("请填写%(label)s。", label=label)})
        return default
    try:
        value = float(raw)
    except ValueError:
        raise DomainError({field: _("%(label)s应为数字。", label=label)}) from None
    if not math.isfinite(value):
        raise DomainError({field: _("%(label)s应为有限的数字。", label=label)})
    return value


@bp.route("/questionnaires/<int:questionnaire_id>/meta", methods=["POST"])
@analyst_only
def questionnaire_meta(questionnaire_id: int):
    """Titles, introductions and the five level scores of a draft."""
    questionnaire = get_or_404(Questionnaire, questionnaire_id)
    form = MetaForm()

    def update() -> None:
        scores = [_number(form[name].data, name, str(form[name].label.text)) for name in LEVEL_FIELDS]
        service.update_meta(db.session, current_user, questionnaire, {
            "title": form.title.data, "title_en": form.title_en.data, "intro": form.intro.data,
            "intro_en": form.intro_en.data, "level_scores": scores,
        })

    _done, errors = save(update)
    if errors:
        return _editor_page(questionnaire, meta_form=form, errors=errors, status=422)
    flash(_("已保存问卷信息。"), "info")
    return redirect(url_for("admin.questionnaire", questionnaire_id=questionnaire_id))


@bp.route("/questionnaires/<int:questionnaire_id>/questions", methods=["POST"])
@analyst_only
def question_add(questionnaire_id: int):
    questionnaire = get_or_404(Questionnaire, questionnaire_id)
    form = NewQuestionForm()
    question, errors = save(lambda: service.add_question(db.session, current_user, questionnaire, form.type.data,
                                                         form.text.data))
    if errors:
        return _editor_page(questionnaire, new_form=form, errors=errors, status=422)
    if question.type in (QuestionType.SINGLE, QuestionType.MULTIPLE):
        flash(_("已添加题目。请填写选项。"), "info")
        return redirect(url_for("admin.question_edit", questionnaire_id=questionnaire_id, question_id=question.id))
    flash(_("已添加题目。"), "info")
    return redirect(url_for("admin.questionnaire", questionnaire_id=questionnaire_id, _anchor=f"q-{question.id}"))


def _question_form(question: Question, data: dict[str, Any]) -> QuestionForm:
    form = QuestionForm(formdata=None)
    for name in ("code", "text", "text_en", "help", "help_en", "required", "allow_dont_know", "in_index",
                 "per_unit", "is_comment"):
        form[name].data = data.get(name)
    form.weight.data = f"{data['weight']:g}" if data.get("weight") is not None else ""
    form.max_length.data = str(data["max_length"]) if data.get("max_length") else ""
    max_choices = (data.get("settings") or {}).get("max_choices")
    form.max_choices.data = str(max_choices) if max_choices else ""
    return form


def _option_rows(form_values: Any | None, data: dict[str, Any]) -> list[dict[str, str]]:
    """The options table: stored options (or the submitted rows) plus blank rows to add more."""
    if form_values is not None:
        count = _whole(str(form_values.get("option_count", ""))) or 0
        return [{k: form_values.get(f"opt-{i}-{k}", "") for k in ("code", "label", "label_en", "score", "group")}
                for i in range(min(count, 200))]
    rows = [{"code": o["code"], "label": o["label"], "label_en": o.get("label_en") or "",
             "score": "" if o.get("score") is None else f"{o['score']:g}", "group": o.get("group") or ""}
            for o in data.get("options", [])]
    return rows + [{"code": "", "label": "", "label_en": "", "score": "", "group": ""}
                   for _i in range(BLANK_OPTION_ROWS)]


BLANK_CONDITION_ROWS = 2


def _condition_rows(form_values: Any | None, data: dict[str, Any]) -> list[dict[str, str]]:
    """The display-condition rows (question, op, value): stored or submitted, plus blank rows to add more."""
    if form_values is not None:
        count = _whole(str(form_values.get("cond_count", ""))) or 0
        return [{k: form_values.get(f"cond-{i}-{k}", "") for k in ("question", "op", "value")}
                for i in range(min(count, 50))]
    return conditions.rows_of(data.get("show_if")) + [{"question": "", "op": "", "value": ""}
                                                      for _i in range(BLANK_CONDITION_ROWS)]


def _question_page(question: Question, form: QuestionForm, options: list[dict[str, str]],
                   errors: dict[str, str], status: int = 200, conds: list[dict[str, str]] | None = None):
    groups = db.session.scalars(select(RespondentGroup).order_by(RespondentGroup.sort_order)).all()
    earlier = [q for q in question.questionnaire.questions
               if q.position < question.position and q.type in conditions.OPS_BY_TYPE]
    return render_template("admin/setup/questionnaires/question.html", q=question.questionnaire, question=question,
                           form=form, options=options, groups=groups, errors=errors, conds=conds or [],
                           earlier=earlier), status


def _submitted_question(question: Question, form: QuestionForm, options: list[dict[str, str]],
                        conds: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The edit form as question data (export shape); number fields checked here, the rest by the service."""
    qtype, appraisal = question.type, question.questionnaire.kind.value == "appraisal"

    def flag(name: str, shown: bool) -> bool:
        """A checkbox the page shows for this type; a hidden one keeps its stored value."""
        return bool(form[name].data) if shown else bool(getattr(question, name))

    data: dict[str, Any] = {
        "code": form.code.data, "text": form.text.data, "text_en": form.text_en.data, "help": form.help.data,
        "help_en": form.help_en.data, "required": bool(form.required.data),
        "allow_dont_know": flag("allow_dont_know", qtype == QuestionType.SATISFACTION),
        "in_index": flag("in_index", qtype != QuestionType.GROUP),
        "per_unit": flag("per_unit", appraisal and qtype != QuestionType.GROUP),
        "is_comment": flag("is_comment", qtype == QuestionType.TEXT),
        "weight": _number(form.weight.data, "weight", _("题目权重"), default=1.0),
        "settings": {k: v for k, v in (question.settings or {}).items() if k != "max_choices"},
        "show_if": conditions.from_rows(conds or [], question.questionnaire.questions),
    }
    if question.type == QuestionType.TEXT:
        raw = (form.max_length.data or "").strip()
        if raw and _whole(raw) is None:
            raise DomainError({"max_length": _("字数上限应为整数。")})
        data["max_length"] = _whole(raw) if raw else None
    if question.type == QuestionType.MULTIPLE:
        raw = (form.max_choices.data or "").strip()
        if raw and _whole(raw) is None:
            raise DomainError({"max_choices": _("最多可选项数应为整数。")})
        if raw:
            data["settings"]["max_choices"] = _whole(raw)
    if question.type in (QuestionType.SINGLE, QuestionType.MULTIPLE, QuestionType.GROUP):
        data["options"] = []
        for number, row in enumerate(options, start=1):
            if not any((row.get(k) or "").strip() for k in ("code", "label", "label_en", "score")):
                continue
            option: dict[str, Any] = {"code": (row.get("code") or "").strip() or None, "label": row.get("label"),
                                      "label_en": row.get("label_en")}
            score = (row.get("score") or "").strip()
            if score:
                option["score"] = _number(score, f"opt-{number}", _("第 %(n)d 行选项的分值", n=number))
            if question.type == QuestionType.GROUP:
                option["group"] = row.get("group") or None
            data["options"].append(option)
    return data


@bp.route("/questionnaires/<int:questionnaire_id>/questions/<int:question_id>", methods=["GET", "POST"])
@analyst_only
def question_edit(questionnaire_id: int, question_id: int):
    """Edit a draft question: texts in both languages, required, weight, index, options and their scores."""
    questionnaire = get_or_404(Questionnaire, questionnaire_id)
    question = get_or_404(Question, question_id, within=questionnaire)
    stored = service.question_data(db.session, question)
    if request.method == "GET":
        return _question_page(question, _question_form(question, stored), _option_rows(None, stored), {},
                              conds=_condition_rows(None, stored))
    form = QuestionForm()
    options = _option_rows(request.form, stored)
    conds = _condition_rows(request.form, stored)
    action = request.form.get("action", "save")
    index = _whole(action.split("-", 1)[1]) if "-" in action else None
    if action.startswith(("up-", "down-")) and index is not None:
        target = index - 1 if action.startswith("up-") else index + 1
        if 0 <= index < len(options) and 0 <= target < len(options):
            options[index], options[target] = options[target], options[index]
    elif action.startswith("remove-") and index is not None and 0 <= index < len(options):
        options.pop(index)

    def update() -> None:
        service.update_question(db.session, current_user, question,
                                _submitted_question(question, form, options, conds))

    _done, errors = save(update)
    if errors:
        return _question_page(question, form, options, errors, 422, conds=conds)
    if action != "save":
        return redirect(url_for("admin.question_edit", questionnaire_id=questionnaire_id, question_id=question_id))
    flash(_("已保存第 %(n)d 题。", n=question.position), "info")
    return redirect(url_for("admin.questionnaire", questionnaire_id=questionnaire_id, _anchor=f"q-{question.id}"))


@bp.route("/questionnaires/<int:questionnaire_id>/questions/<int:question_id>/move", methods=["POST"])
@analyst_only
def question_move(questionnaire_id: int, question_id: int):
    questionnaire = get_or_404(Questionnaire, questionnaire_id)
    question = get_or_404(Question, question_id, within=questionnaire)
    step = -1 if request.form.get("value") == "up" else 1
    _done, errors = save(lambda: service.move_question(db.session, current_user, question, step))
    if errors:
        flash(next(iter(errors.values())), "error")
    return redirect(url_for("admin.questionnaire", questionnaire_id=questionnaire_id, _anchor=f"q-{question_id}"))


@bp.route("/questionnaires/<int:questionnaire_id>/questions/<int:question_id>/delete", methods=["POST"])
@analyst_only
def question_delete(questionnaire_id: int, question_id: int):
    questionnaire = get_or_404(Questionnaire, questionnaire_id)
    question = get_or_404(Question, question_id, within=questionnaire)
    _done, errors = save(lambda: service.delete_question(db.session, current_user, question))
    flash(next(iter(errors.values())) if errors else _("已删除题目。"), "error" if errors else "info")
    return redirect(url_for("admin.questionnaire", questionnaire_id=questionnaire_id))


@bp.route("/questionnaires/<int:questionnaire_id>/publish", methods=["POST"])
@analyst_only
def questionnaire_publish(questionnaire_id: int):
    questionnaire = get_or_404(Questionnaire, questionnaire_id)
    _done, errors = save(lambda: service.publish(db.session, current_user, questionnaire))
    if errors:
        return _editor_page(questionnaire, errors=errors, status=422)
    flash(_("已发布第 %(v)d 版。发布后不能再修改；要修改请生成新版本。", v=questionnaire.version), "info")
    return redirect(url_for("admin.questionnaire", questionnaire_id=questionnaire_id))


@bp.route("/questionnaires/<int:questionnaire_id>/new-version", methods=["POST"])
@analyst_only
def questionnaire_new_version(questionnaire_id: int):
    """“Edit” a published questionnaire: the family's draft (a copy), the published one untouched."""
    questionnaire = get_or_404(Questionnaire, questionnaire_id)
    draft, errors = save(lambda: service.new_version(db.session, current_user, questionnaire))
    if errors:
        flash(next(iter(errors.values())), "error")
        return redirect(url_for("admin.questionnaire", questionnaire_id=questionnaire_id))
    flash(_("这是第 %(v)d 版草稿。已发布的版本和它的答卷不受影响。", v=draft.version), "info")
    return redirect(url_for("admin.questionnaire", questionnaire_id=draft.id))


@bp.route("/questionnaires/<int:questionnaire_id>/delete", methods=["POST"])
@analyst_only
def questionnaire_delete(questionnaire_id: int):
    questionnaire = get_or_404(Questionnaire, questionnaire_id)
    title = questionnaire.title
    _done, errors = save(lambda: service.delete_draft(db.session, current_user, questionnaire))
    if errors:
        flash(next(iter(errors.values())), "error")
        return redirect(url_for("admin.questionnaire", questionnaire_id=questionnaire_id))
    flash(_("已删除草稿“%(t)s”。", t=title), "info")
    return redirect(url_for("admin.questionnaires"))


@bp.route("/questionnaires/<int:questionnaire_id>/export.json")
@analyst_only
def questionnaire_export(questionnaire_id: int):
    """The questionnaire as a JSON file other offices can import (groups by code)."""
    questionnaire = get_or_404(Questionnaire, questionnaire_id)
    body = service.export_json(db.session, questionnaire)
    filename = f"questionnaire-{questionnaire.id}-v{questionnaire.version}.json"
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f"attachment; filename={filename}", "Cache-Control": "no-store"})
