"""Results configuration for analysts: weighting settings, the 公众评议 scheme, leader ratings, API tokens.

Every page validates in the service and shows a message per field; nothing is saved
unless everything is valid, and every change is audited there.
"""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from survey.admin import bp
from survey.admin.common import save
from survey.admin.results.forms import (
    form_values_from_scheme,
    form_values_from_settings,
    scheme_from_form,
    settings_from_form,
)
from survey.auth.decorators import roles_required
from survey.core import staging
from survey.core.lookups import get_or_404
from survey.extensions import db
from survey.models import ApiToken, Campaign, Role
from survey.services.accounts import api_tokens
from survey.services.results import component, leader_ratings, snapshots, weighting

ANALYSTS = (Role.ADMIN, Role.ANALYST)
MAX_UPLOAD = 2 * 1024 * 1024
IMPORT_PURPOSE = "leader-ratings"


@bp.route("/results/campaigns/<int:campaign_id>/settings", methods=["GET", "POST"])
@roles_required(*ANALYSTS)
def results_settings(campaign_id: int):
    """加权与计分设置 of one campaign."""
    campaign = get_or_404(Campaign, campaign_id)
    groups = [g for g in weighting.groups_in_order(db.session) if g.active]
    errors: dict[str, str] = {}
    values = form_values_from_settings(weighting.current(campaign), campaign, groups)
    if request.method == "POST":
        raw = settings_from_form(request.form, campaign, groups)
        _done, errors = save(lambda: weighting.save(db.session, campaign, current_user, raw),
                             success=_("加权与计分设置已保存。下次计算时生效；已有的结果不变。"), category="success")
        if not errors:
            return redirect(url_for("admin.results_settings", campaign_id=campaign.id), code=303)
        values = {k: request.form.get(k, "") for k in values}
        values["rake_margins"] = request.form.getlist("rake_margins")
        values["include_flagged"] = request.form.get("include_flagged") == "1"
    return render_template(
        "admin/results/settings.html", campaign=campaign, groups=groups, values=values, errors=errors,
        questions=weighting.index_questions(campaign),
    ), (422 if errors else 200)


@bp.route("/results/campaigns/<int:campaign_id>/scheme", methods=["GET", "POST"])
@roles_required(*ANALYSTS)
def results_scheme(campaign_id: int):
    """公众评议 scheme: sources and weights, points, 功效系数法, grading, ranking."""
    campaign = get_or_404(Campaign, campaign_id)
    errors: dict[str, str] = {}
    values = form_values_from_scheme(component.current(db.session, campaign))
    if request.method == "POST":
        _done, errors = save(lambda: component.save(db.session, campaign, current_user, scheme_from_form(request.form)),
                             success=_("公众评议折算方案已保存。下次计算时生效。"), category="success")
        if not errors:
            return redirect(url_for("admin.results_scheme", campaign_id=campaign.id), code=303)
        values = {k: request.form.get(k, "") for k in values}
        values["service_campaign_ids"] = request.form.getlist("service_campaign_ids")
    others = list(db.session.scalars(select(Campaign).where(Campaign.id != campaign.id)
                                     .order_by(Campaign.period.desc(), Campaign.id)))
    return render_template(
        "admin/results/scheme.html", campaign=campaign, values=values, errors=errors, others=others,
        has_scheme=component.scheme_for(db.session, campaign) is not None, sources=component.SOURCES,
        blocks=component.BLOCKS,
        normalisations=component.NORMALISATIONS, gradings=component.GRADINGS, missing=component.MISSING,
    ), (422 if errors else 200)


@bp.route("/results/campaigns/<int:campaign_id>/override/<int:unit_id>", methods=["POST"])
@roles_required(*ANALYSTS)
def results_override(campaign_id: int, unit_id: int):
    """Grade and rank a unit despite failing the reliability thresholds, with a reason — or lift that."""
    campaign = get_or_404(Campaign, campaign_id)
    lift = request.form.get("action") == "lift"
    reason = None if lift else request.form.get("reason", "")
    save(lambda: weighting.set_override(db.session, campaign, current_user, unit_id, reason),
         success=_("已撤销例外，下次计算时生效。") if lift else _("已记录例外和理由，下次计算时生效。"),
         category="success", flash_errors=True)
    target = request.form.get("next", "")
    if not target.startswith("/admin/results/") or "//" in target:
        target = url_for("admin.results_index")
    return redirect(target, code=303)


def _leader_page(period: str, errors: dict[str, str] | None = None, entered: dict[str, str] | None = None,
                 preview: leader_ratings.Preview | None = None, token: str | None = None, status: int = 200):
    units = leader_ratings.units_for_period(db.session, period) if snapshots.is_period(period) else []
    if not units:
        abort(404)
    ratings = leader_ratings.ratings_for(db.session, period)
    return render_template("admin/results/leader.html", period=period, units=units, ratings=ratings,
                           errors=errors or {}, entered=entered or {}, preview=preview, token=token,
                           periods=leader_ratings.periods(db.session)), status


@bp.route("/results/leader/<period>", methods=["GET", "POST"])
@roles_required(*ANALYSTS)
def results_leader(period: str):
    """领导评价 entry for a period: one score (0–100) per unit; blank removes."""
    if request.method == "GET" or not snapshots.is_period(period):
        return _leader_page(period)
    units = leader_ratings.units_for_period(db.session, period)
    entered = {str(u.id): request.form.get(f"unit_{u.id}", "") for u in units}
    _changed, errors = save(
        lambda: leader_ratings.save_scores(db.session, current_user, period, {u.id: entered[str(u.id)] for u in units}),
        success=lambda changed: _("已保存领导评价（%(n)d 处修改）。", n=changed), category="success")
    if errors:
        return _leader_page(period, errors=errors, entered=entered, status=422)
    return redirect(url_for("admin.results_leader", period=period), code=303)


@bp.route("/results/leader/<period>/import", methods=["POST"])
@roles_required(*ANALYSTS)
def results_leader_import(period: str):
    """Step 1: check an uploaded CSV/xlsx and show every row with its problem; nothing is written."""
    if not snapshots.is_period(period):
        abort(404)
    upload = request.files.get("file")
    data = upload.read(MAX_UPLOAD + 1) if upload else b""
    if not data:
        return _leader_page(period, errors={"file": _("请选择要导入的文件。")}, status=422)
    if len(data) > MAX_UPLOAD:
        return _leader_page(period, errors={"file": _("文件太大（最大 2 MB）。")}, status=422)
    preview = leader_ratings.preview_import(db.session, period, data)
    token = None
    if preview.ok:
        rows = [[r.unit_id, r.score] for r in preview.rows]
        token = staging.stage_json(current_app.instance_path, f"{IMPORT_PURPOSE}:{period}", current_user.id,
                                   {"rows": rows, "source": preview.source})
    return _leader_page(period, preview=preview, token=token, status=200 if preview.ok else 422)


@bp.route("/results/leader/<period>/import/confirm", methods=["POST"])
@roles_required(*ANALYSTS)
def results_leader_confirm(period: str):
    """Step 2: write the checked rows staged by step 1 (its token confirms once)."""
    if not snapshots.is_period(period):
        abort(404)
    payload = staging.take_json(current_app.instance_path, request.form.get("token", ""), f"{IMPORT_PURPOSE}:{period}",
                                current_user.id)
    if payload is None:
        flash(_("导入确认已过期或无效，请重新上传文件。"), "error")
        return redirect(url_for("admin.results_leader", period=period), code=303)
    save(lambda: leader_ratings.apply_import(db.session, current_user, period,
                                             [(int(u), float(s)) for u, s in payload["rows"]], payload.get("source")),
         success=lambda changed: _("已导入领导评价（%(n)d 处修改）。", n=changed), category="success", flash_errors=True)
    return redirect(url_for("admin.results_leader", period=period), code=303)


@bp.route("/results/tokens", methods=["GET", "POST"])
@roles_required(*ANALYSTS)
def results_tokens():
    """API tokens: create (the plaintext is shown once) and revoke."""
    plaintext = None
    error = None
    if request.method == "POST":
        created, errors = save(lambda: api_tokens.create(db.session, current_user, request.form.get("name", "")))
        if errors:
            error = _("；").join(errors.values())
        else:
            _token, plaintext = created
    return render_template("admin/results/tokens.html", tokens=api_tokens.tokens(db.session), plaintext=plaintext,
                           error=error), (422 if error else 200)


@bp.route("/results/tokens/<int:token_id>/revoke", methods=["POST"])
@roles_required(*ANALYSTS)
def results_token_revoke(token_id: int):
    token = get_or_404(ApiToken, token_id)
    api_tokens.revoke(db.session, current_user, token)
    db.session.commit()
    flash(_("令牌“%(n)s”已吊销。", n=token.name), "success")
    return redirect(url_for("admin.results_tokens"), code=303)
