"""Cases (意见建议 and 差评): the unit's queue, the analysts' search, a case's handling."""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from survey.admin import bp
from survey.admin.common import save
from survey.core import audit, settings
from survey.core.clock import org_timezone, org_today
from survey.core.lookups import get_or_404
from survey.core.spreadsheets import CSV_MIME, XLSX_MIME, to_csv, to_xlsx
from survey.extensions import db
from survey.models import Answer, Campaign, Case, CaseState, Question, Response, Unit
from survey.services.accounts.access import visible_unit_ids
from survey.services.cases import figures, queries, reasons
from survey.services.cases.appeals import appeals_for_case, file_appeal, may_appeal
from survey.services.cases.workflow import (
    STEPS,
    available_steps,
    closed_late,
    contact_for,
    is_analyst,
    is_overdue,
    mask_phone,
    may_handle,
    may_see_phone,
    reclassify,
    record_callback,
    set_tags,
    sibling_cases,
    transition,
)

# The workflow's buttons; every coded value is shown with the |label filter (survey/core/labels.py).
LABELS = {"steps": {k: s.label for k, s in STEPS.items()}}


@bp.route("/cases/")
def cases_list():
    f = queries.CaseFilter.from_args(request.args)
    if not request.args and not is_analyst(current_user):
        f.state = "open"  # a unit contact starts with the open queue
    today = org_today()
    page = queries.search_cases(db.session, current_user, f, today)
    counts = queries.queue_counts(db.session, current_user, today)
    return render_template("admin/cases/list.html", page=page, f=f, counts=counts, today=today,
                           choices=queries.filter_choices(db.session, current_user), labels=LABELS,
                           analyst=is_analyst(current_user))


@bp.route("/cases/export.<fmt>")
def cases_export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    f = queries.CaseFilter.from_args(request.args)
    rows = queries.export_rows(db.session, current_user, f, org_today(), org_timezone())
    stamp = org_today().strftime("%Y%m%d")
    if fmt == "csv":
        data, mime = to_csv(queries.EXPORT_HEADER, rows), CSV_MIME
    else:
        data, mime = to_xlsx(queries.EXPORT_HEADER, rows, sheet_title=_("处理件")), XLSX_MIME
    audit.record(db.session, current_user, "case.export", None, f"导出处理件 {len(rows)} 条", filter=f.as_args(),
                 format=fmt)
    db.session.commit()
    return current_app.response_class(data, mimetype=mime, headers={
        "Content-Disposition": f"attachment; filename=cases-{stamp}.{fmt}"})


@bp.route("/cases/figures")
def cases_figures():
    period = (request.args.get("period") or "").strip()[:16] or None
    scope = visible_unit_ids(db.session, current_user)
    rows = figures.case_figures(db.session, org_today(), org_timezone(), unit_ids=scope, period=period)
    periods = sorted(set(db.session.scalars(select(Campaign.period))), reverse=True)
    return render_template("admin/cases/figures.html", rows=rows, total=figures.totals(rows), period=period,
                           periods=periods)


def _response_answers(case) -> list[tuple[Question, Answer]]:
    """The response's answers about the case's unit (and the unit-less ones), in question order."""
    answers = db.session.scalars(
        select(Answer).where(Answer.response_id == case.response_id)
        .where((Answer.unit_id == case.unit_id) | (Answer.unit_id.is_(None)))
    ).all()
    questions = {q.id: q for q in db.session.scalars(
        select(Question).where(Question.id.in_({a.question_id for a in answers})))}
    pairs = [(questions[a.question_id], a) for a in answers if a.question_id in questions]
    return sorted(pairs, key=lambda p: (p[0].position, p[1].id))


def _detail(case, status: int = 200, show_phone: bool = False):
    today = org_today()
    contact = contact_for(db.session, case) if case.state != CaseState.CLOSED else None
    phone = None
    if contact is not None:
        phone = contact.phone if show_phone and may_see_phone(db.session, current_user, case) else mask_phone(contact.phone)
    response = db.session.get(Response, case.response_id)
    campaign = db.session.get(Campaign, case.campaign_id)
    users = {e.user_id for e in case.events if e.user_id}
    appeals = appeals_for_case(db.session, case)
    users |= {a.requested_by_id for a in appeals if a.requested_by_id} | {a.decided_by_id for a in appeals if a.decided_by_id}
    from survey.models import User

    names = {u.id: (u.display_name or u.username) for u in db.session.scalars(select(User).where(User.id.in_(users)))}
    return render_template(
        "admin/cases/detail.html", case=case, labels=LABELS, today=today, overdue=is_overdue(case, today),
        late=closed_late(case), steps=available_steps(db.session, current_user, case),
        can_handle=may_handle(db.session, current_user, case), contact=contact, phone=phone,
        phone_revealed=show_phone and contact is not None and may_see_phone(db.session, current_user, case),
        can_reveal=contact is not None and may_see_phone(db.session, current_user, case),
        response=response, campaign=campaign, answers=_response_answers(case), names=names, appeals=appeals,
        can_appeal=may_appeal(db.session, current_user, case), siblings=sibling_cases(db.session, case, current_user),
        tag_suggestions=settings.get(db.session, settings.TAG_SUGGESTIONS), analyst=is_analyst(current_user),
        unit=db.session.get(Unit, case.unit_id), kind_source=_kind_source(case),
        reasons=reasons.reasons_for_cases(db.session, [case]).get(case.id),
    ), status


def _kind_source(case: Case) -> str | None:
    """Who said what the comment is: "analyst" (changed on this page), "citizen" or "rule"."""
    if case.comment_kind is None:
        return None
    if any(e.action == "reclassify" for e in case.events):
        return "analyst"
    answer = db.session.get(Answer, case.answer_id) if case.answer_id is not None else None
    return "citizen" if answer is not None and answer.comment_kind is not None else "rule"


@bp.route("/cases/<bigid:case_id>")
def cases_detail(case_id: int):
    return _detail(get_or_404(Case, case_id, scope=visible_unit_ids(db.session, current_user)))


@bp.route("/cases/<bigid:case_id>/contact", methods=["POST"])
def cases_contact(case_id: int):
    """Show the respondent's full phone number to the responsible unit (each look is audited)."""
    case = get_or_404(Case, case_id, scope=visible_unit_ids(db.session, current_user))
    if contact_for(db.session, case) is None or not may_see_phone(db.session, current_user, case):
        abort(403)
    audit.record(db.session, current_user, "case.contact_view", case, f"查看处理件 #{case.id} 的回访电话",
                 unit_id=case.unit_id)
    db.session.commit()
    return _detail(case, show_phone=True)


@bp.route("/cases/<bigid:case_id>/step/<action>", methods=["POST"])
def cases_step(case_id: int, action: str):
    case = get_or_404(Case, case_id, scope=visible_unit_ids(db.session, current_user))
    if action not in STEPS:
        abort(404)
    if not may_handle(db.session, current_user, case):
        abort(403)
    _done, errors = save(lambda: transition(db.session, case, action, current_user, note=request.form.get("note"),
                                            rectification=request.form.get("rectification")),
                         success=_("已%(step)s。", step=STEPS[action].label), flash_errors=True)
    if errors:
        return _detail(get_or_404(Case, case_id, scope=visible_unit_ids(db.session, current_user)), status=422)
    return redirect(url_for("admin.cases_detail", case_id=case.id))


@bp.route("/cases/<bigid:case_id>/callback", methods=["POST"])
def cases_callback(case_id: int):
    case = get_or_404(Case, case_id, scope=visible_unit_ids(db.session, current_user))
    if not may_handle(db.session, current_user, case):
        abort(403)
    try:
        called_on = dt.date.fromisoformat((request.form.get("called_on") or "").strip())
    except ValueError:
        flash(_("请填写回访日期（如 2026-11-20）。"), "error")
        return _detail(case, status=422)
    _done, errors = save(lambda: record_callback(db.session, case, current_user, called_on,
                                                 request.form.get("verdict", ""), request.form.get("note"),
                                                 today=org_today()),
                         success=_("已登记回访。"), flash_errors=True)
    if errors:
        return _detail(get_or_404(Case, case_id, scope=visible_unit_ids(db.session, current_user)), status=422)
    return redirect(url_for("admin.cases_detail", case_id=case.id))


@bp.route("/cases/<bigid:case_id>/tags", methods=["POST"])
def cases_tags(case_id: int):
    case = get_or_404(Case, case_id, scope=visible_unit_ids(db.session, current_user))
    if not may_handle(db.session, current_user, case):
        abort(403)
    tags = ",".join(request.form.getlist("tag") + [request.form.get("new_tags", "")])
    _done, errors = save(lambda: set_tags(db.session, case, tags, current_user),
                         success=_("标签已保存。"), flash_errors=True)
    if errors:
        return _detail(get_or_404(Case, case_id, scope=visible_unit_ids(db.session, current_user)), status=422)
    return redirect(url_for("admin.cases_detail", case_id=case.id))


@bp.route("/cases/<bigid:case_id>/kind", methods=["POST"])
def cases_kind(case_id: int):
    """An analyst changes a comment's kind (投诉/建议/表扬); a 表扬 has no deadline."""
    case = get_or_404(Case, case_id, scope=visible_unit_ids(db.session, current_user))
    if not is_analyst(current_user):
        abort(403)
    _done, errors = save(lambda: reclassify(db.session, case, request.form.get("comment_kind", ""), current_user,
                                            note=request.form.get("note")),
                         success=_("意见类别已更改。"), flash_errors=True)
    if errors:
        return _detail(get_or_404(Case, case_id, scope=visible_unit_ids(db.session, current_user)), status=422)
    return redirect(url_for("admin.cases_detail", case_id=case.id))


@bp.route("/cases/<bigid:case_id>/appeal", methods=["POST"])
def cases_appeal(case_id: int):
    case = get_or_404(Case, case_id, scope=visible_unit_ids(db.session, current_user))
    if not may_appeal(db.session, current_user, case):
        abort(403)
    _done, errors = save(lambda: file_appeal(db.session, case, current_user, request.form.get("reason", "")),
                         success=_("申诉已提交，等待绩效办复核。"), flash_errors=True)
    if errors:
        return _detail(get_or_404(Case, case_id, scope=visible_unit_ids(db.session, current_user)), status=422)
    return redirect(url_for("admin.cases_detail", case_id=case.id))
