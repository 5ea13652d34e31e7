"""申诉复核 and the review of flagged responses: analysts decide which responses count."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from survey.admin import bp
from survey.admin.common import save
from survey.auth.decorators import roles_required
from survey.core.lookups import get_or_404
from survey.extensions import db
from survey.models import Appeal, AppealState, Campaign, Case, Response, ResponseStatus, Role, Unit, User
from survey.services.cases.appeals import (
    decide_appeal,
    pending_appeals,
    restore_response,
    review_flagged,
)
from survey.services.responses import review

ANALYSTS = (Role.ADMIN, Role.ANALYST)


@bp.route("/appeals/")
@roles_required(*ANALYSTS)
def appeals_list():
    raw = request.args.get("state", "pending")
    state = None if raw == "all" else AppealState(raw) if raw in {s.value for s in AppealState} else AppealState.PENDING
    appeals = pending_appeals(db.session, state)
    cases = {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_({a.case_id for a in appeals if a.case_id})))}
    units = {u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_({a.unit_id for a in appeals})))}
    user_ids = {a.requested_by_id for a in appeals} | {a.decided_by_id for a in appeals}
    names = {u.id: (u.display_name or u.username)
             for u in db.session.scalars(select(User).where(User.id.in_({i for i in user_ids if i})))}
    excluded = list(db.session.scalars(
        select(Response).where(Response.status == ResponseStatus.EXCLUDED).order_by(Response.id.desc()).limit(200)))
    return render_template("admin/cases/appeals/list.html", appeals=appeals, cases=cases, units=units, names=names,
                           state=raw if state is None else state.value, excluded=excluded)


@bp.route("/appeals/<int:appeal_id>/decide", methods=["POST"])
@roles_required(*ANALYSTS)
def appeals_decide(appeal_id: int):
    appeal = get_or_404(Appeal, appeal_id)
    decision = request.form.get("decision")
    if decision not in ("approve", "reject"):
        flash(_("请选择“通过”或“驳回”。"), "error")
        return redirect(url_for("admin.appeals_list"))
    save(lambda: decide_appeal(db.session, appeal, current_user, decision == "approve", request.form.get("note")),
         success=_("申诉已通过，该答卷已从评分中剔除。") if decision == "approve" else _("申诉已驳回。"),
         flash_errors=True)
    return redirect(url_for("admin.appeals_list"))


@bp.route("/responses/<bigid:response_id>/restore", methods=["POST"])
@roles_required(*ANALYSTS)
def appeals_restore(response_id: int):
    response = get_or_404(Response, response_id)
    save(lambda: restore_response(db.session, response, current_user, request.form.get("reason", "")),
         success=_("答卷 #%(id)d 已恢复计分。", id=response_id), flash_errors=True)
    return redirect(url_for("admin.appeals_list"))


@bp.route("/review/")
@roles_required(*ANALYSTS)
def appeals_review():
    """Flagged responses of one campaign (about one unit, with ``unit``), grouped into bursts with their
    answers, for the analyst to mark valid or excluded with a reason."""
    counts = dict(db.session.execute(
        select(Response.campaign_id, func.count()).where(Response.status == ResponseStatus.FLAGGED)
        .group_by(Response.campaign_id)).all())
    campaigns = list(db.session.scalars(select(Campaign).order_by(Campaign.opens_at.desc())))
    raw = request.args.get("campaign", "")
    campaign = db.session.get(Campaign, int(raw)) if raw.isdigit() and len(raw) < 12 else None
    raw_unit = request.args.get("unit", "")
    unit = db.session.get(Unit, int(raw_unit)) if raw_unit.isdigit() and len(raw_unit) < 12 else None
    if campaign is None:
        with_flagged = [c for c in campaigns if counts.get(c.id)]
        if unit is not None:
            with_flagged = [c for c in with_flagged if review.review_groups(db.session, c.id, unit.id, limit=1)]
        campaign = next(iter(with_flagged), None)
    groups = review.review_groups(db.session, campaign.id, unit.id if unit else None,
                                  int(current_app.config.get("BURST_WINDOW_MINUTES", 10))) if campaign else []
    return render_template("admin/cases/appeals/review.html", campaigns=campaigns, counts=counts, campaign=campaign,
                           unit=unit, groups=groups, total=sum(len(g.items) for g in groups))


@bp.route("/review/<int:campaign_id>", methods=["POST"])
@roles_required(*ANALYSTS)
def appeals_review_decide(campaign_id: int):
    get_or_404(Campaign, campaign_id)
    values = request.form.getlist("response") + [v for g in request.form.getlist("group") for v in g.split(",")]
    ids = sorted({int(v) for v in values if v.isdigit() and len(v) < 12})
    save(lambda: review_flagged(db.session, campaign_id, ids, request.form.get("decision", ""), current_user,
                                request.form.get("reason")),
         success=lambda result: _("已处理 %(n)d 份答卷，新开 %(m)d 个处理件。", n=result.changed, m=result.cases_opened),
         flash_errors=True)
    unit = request.form.get("unit", "")
    return redirect(url_for("admin.appeals_review", campaign=campaign_id,
                            **({"unit": unit} if unit.isdigit() and len(unit) < 12 else {})))
