"""Results pages: compute and publish snapshots, the league table, a unit's page, exports.

Analysts and admins see everything. A unit contact sees only the official results of
their own unit and the units below it (``visible_unit_ids``): other units' pages are
404, the league table and every action 403.
"""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user

from analysis.ci import z_value
from survey.admin import bp
from survey.admin.common import save
from survey.auth.decorators import roles_required
from survey.core.clock import org_today
from survey.core.lookups import fits, get_or_404
from survey.core.spreadsheets import CSV_MIME, XLSX_MIME
from survey.extensions import db
from survey.models import Campaign, Role, Snapshot, SnapshotStatus, Unit
from survey.services.accounts.access import visible_unit_ids
from survey.services.results import breakdowns, display, exports, question_results, question_sheets, snapshots
from survey.services.results.component import SOURCES
from survey.services.results.evaluation import ranking_settings

ANALYSTS = (Role.ADMIN, Role.ANALYST)


@bp.route("/results/")
def results_index():
    """Analysts: every campaign by period with its snapshots. Unit contacts: their official results."""
    if current_user.is_staff_analyst:
        return render_template("admin/results/index.html", periods=display.campaigns_by_period(db.session))
    scope = visible_unit_ids(db.session, current_user) or set()
    return render_template("admin/results/mine.html", entries=display.contact_results(db.session, scope))


@bp.route("/results/campaigns/<int:campaign_id>/compute", methods=["POST"])
@roles_required(*ANALYSTS)
def results_compute(campaign_id: int):
    campaign = get_or_404(Campaign, campaign_id)
    include = request.form.get("include_flagged")
    snapshot, errors = save(
        lambda: snapshots.compute_snapshot(db.session, campaign, current_user,
                                           include_flagged=None if include is None else include == "1",
                                           note=request.form.get("note")),
        success=lambda new: _("已计算，生成草稿结果 #%(id)d。核对无误后可发布为正式结果。", id=new.id),
        category="success", flash_errors=True)
    if errors:
        return redirect(url_for("admin.results_index"), code=303)
    return redirect(url_for("admin.results_snapshot", snapshot_id=snapshot.id), code=303)


@bp.route("/results/snapshots/<int:snapshot_id>")
@roles_required(*ANALYSTS)
def results_snapshot(snapshot_id: int):
    snapshot = get_or_404(Snapshot, snapshot_id)
    campaign = db.session.get(Campaign, snapshot.campaign_id)
    tables = display.league(db.session, snapshot)
    charts = [display.league_chart(
        t, snapshot, _("%(c)s：得分及置信区间", c=t.category.name if t.category else _("未分类")),
        _("按排名列出各单位的得分（圆点）和置信区间（横线）；空心虚线为样本不足或未排名的单位。数据见下表。"),
        _("得分（0–100）")) for t in tables]
    return render_template(
        "admin/results/snapshot.html", snapshot=snapshot, campaign=campaign, tables=list(zip(tables, charts)),
        overview=display.overview(db.session, snapshot), verification=snapshots.last_verification(db.session, snapshot),
        previous=db.session.get(Snapshot, snapshot.params.get("previous_snapshot_id") or 0),
        others=snapshots.snapshots_of(db.session, campaign.id), sources=SOURCES,
        corrected_by=snapshots.corrected_by(db.session, snapshot),
        Status=SnapshotStatus,
        group_names=display.group_targets(db.session, snapshot.params),
        z_value=z_value(snapshot.params["survey"]["params"]["confidence"]),
        ranking=ranking_settings(snapshot.params),
        qblocks=question_results.snapshot_blocks(db.session, snapshot),
        breakdowns=breakdowns.view(db.session, snapshot, request.args.get("xq"), request.args.get("xby")),
    )


@bp.route("/results/snapshots/<int:snapshot_id>/publish", methods=["GET", "POST"])
@roles_required(*ANALYSTS)
def results_publish(snapshot_id: int):
    """Publishing is deliberate: GET shows what becomes official and every warning; only a POST with
    ``confirm=1`` publishes (with a reason when it corrects an official result). Anything else publishes nothing."""
    snapshot = get_or_404(Snapshot, snapshot_id)
    here = url_for("admin.results_publish", snapshot_id=snapshot.id)
    if snapshot.status != SnapshotStatus.DRAFT:
        flash(_("结果 #%(id)d 不是草稿，不能发布。", id=snapshot.id), "error")
        return redirect(url_for("admin.results_snapshot", snapshot_id=snapshot.id), code=303)
    if request.method == "GET":
        return render_template("admin/results/publish.html", review=snapshots.review(db.session, snapshot),
                               snapshot=snapshot, campaign=db.session.get(Campaign, snapshot.campaign_id))
    if request.form.get("confirm") != "1":
        flash(_("没有发布：请先核对下列内容，再勾选“我已核对”并确认发布。"), "error")
        return redirect(here, code=303)
    _done, errors = save(
        lambda: snapshots.publish(db.session, snapshot, current_user, public=request.form.get("public") == "1",
                                  reason=request.form.get("reason")),
        success=lambda done: (_("结果 #%(id)d 已发布为正式结果，更正了 #%(old)d。", id=done.id, old=done.corrects_id)
                              if done.corrects_id else _("结果 #%(id)d 已发布为正式结果。", id=done.id)),
        category="success", flash_errors=True)
    if errors:
        return redirect(here, code=303)
    return redirect(url_for("admin.results_snapshot", snapshot_id=snapshot.id), code=303)


@bp.route("/results/snapshots/<int:snapshot_id>/public", methods=["POST"])
@roles_required(*ANALYSTS)
def results_public(snapshot_id: int):
    snapshot = get_or_404(Snapshot, snapshot_id)
    public = request.form.get("public") == "1"
    save(lambda: snapshots.set_public(db.session, snapshot, current_user, public),
         success=_("已向公众公开。") if public else _("已停止公开。"), category="success", flash_errors=True)
    return redirect(url_for("admin.results_snapshot", snapshot_id=snapshot.id), code=303)


@bp.route("/results/snapshots/<int:snapshot_id>/verify", methods=["POST"])
@roles_required(*ANALYSTS)
def results_verify(snapshot_id: int):
    snapshot = get_or_404(Snapshot, snapshot_id)
    outcome = snapshots.verify(db.session, snapshot, current_user)
    db.session.commit()
    if outcome.identical:
        flash(_("复算完成：与保存的结果逐位一致（用时 %(s).1f 秒）。", s=outcome.seconds), "success")
    else:
        flash(_("复算结果与保存的结果不一致：%(n)d 处差异，详见页面。", n=len(outcome.differences)), "error")
    return redirect(url_for("admin.results_snapshot", snapshot_id=snapshot.id) + "#verification", code=303)


@bp.route("/results/snapshots/<int:snapshot_id>/units/<int:unit_id>")
def results_unit(snapshot_id: int, unit_id: int):
    snapshot = get_or_404(Snapshot, snapshot_id)
    if not current_user.is_staff_analyst:
        scope = visible_unit_ids(db.session, current_user) or set()
        if unit_id not in scope or snapshot.status != SnapshotStatus.OFFICIAL:
            abort(404)
    page = (display.unit_page(db.session, snapshot, unit_id, drafts=current_user.is_staff_analyst)
            if fits(Unit, unit_id) else None)
    if page is None:
        abort(404)
    chart = display.trend_chart(
        page, _("%(u)s：各期满意度指数", u=page.row.unit.name),
        _("各期指数（圆点）及其置信区间（竖线）；数据见下表。"), _("满意度指数"))
    return render_template("admin/results/unit.html", page=page, chart=chart,
                           sources=SOURCES, Status=SnapshotStatus, analyst=current_user.is_staff_analyst,
                           trend_wording=display.trend_wording,
                           z_value=z_value(snapshot.params["survey"]["params"]["confidence"]),
                           index_formula=display.index_formula(page),
                           qblocks=question_results.blocks(db.session, snapshot, [(page.row.unit, page.detail)]),
                           unit_change=breakdowns.unit_change(db.session, snapshot, unit_id))


def _filename(snapshot: Snapshot, suffix: str) -> str:
    stamp = org_today().strftime("%Y%m%d")
    return f"pingyi-results-{snapshot.period}-{snapshot.id}-{stamp}.{suffix}"


@bp.route("/results/snapshots/<int:snapshot_id>/export.xlsx")
@roles_required(*ANALYSTS)
def results_export_xlsx(snapshot_id: int):
    snapshot = get_or_404(Snapshot, snapshot_id)
    data = exports.workbook(db.session, snapshot)
    return Response(data, mimetype=XLSX_MIME,
                    headers={"Content-Disposition": f'attachment; filename="{_filename(snapshot, "xlsx")}"'})


@bp.route("/results/snapshots/<int:snapshot_id>/export.csv")
@roles_required(*ANALYSTS)
def results_export_csv(snapshot_id: int):
    snapshot = get_or_404(Snapshot, snapshot_id)
    return Response(exports.unit_csv(db.session, snapshot), mimetype=CSV_MIME,
                    headers={"Content-Disposition": f'attachment; filename="{_filename(snapshot, "csv")}"'})


@bp.route("/results/snapshots/<int:snapshot_id>/questions.csv")
@roles_required(*ANALYSTS)
def results_export_questions(snapshot_id: int):
    """Every other question (single/multiple choice, 0–10, text) per unit and statistic, long format."""
    snapshot = get_or_404(Snapshot, snapshot_id)
    name = _filename(snapshot, "csv").replace("results", "questions")
    return Response(question_sheets.questions_csv(db.session, snapshot), mimetype=CSV_MIME,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/results/snapshots/<int:snapshot_id>/raw.csv")
@roles_required(*ANALYSTS)
def results_export_raw(snapshot_id: int):
    """Anonymised raw answers of the snapshot (wide, or long for ``python -m analysis``); text on request."""
    snapshot = get_or_404(Snapshot, snapshot_id)
    long = request.args.get("format") == "long"
    with_text = request.args.get("text") == "1" and not long
    lines = exports.raw_rows(db.session, snapshot, long=long, with_text=with_text)
    name = _filename(snapshot, "csv").replace("results", "raw-long" if long else "raw")
    return Response(stream_with_context(line.encode("utf-8") for line in lines), mimetype=CSV_MIME,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/results/snapshots/<int:snapshot_id>/params.json")
@roles_required(*ANALYSTS)
def results_export_params(snapshot_id: int):
    """Every setting of the snapshot: with the long raw export, ``python -m analysis indices --params`` reproduces it."""
    snapshot = get_or_404(Snapshot, snapshot_id)
    return Response(exports.params_json(db.session, snapshot), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="params-{snapshot.id}.json"'})


@bp.route("/results/snapshots/<int:snapshot_id>/targets.json")
@roles_required(*ANALYSTS)
def results_export_targets(snapshot_id: int):
    """The target shares, for recomputing the long raw export with ``python -m analysis indices``."""
    snapshot = get_or_404(Snapshot, snapshot_id)
    return Response(exports.targets_json(db.session, snapshot), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="targets-{snapshot.id}.json"'})
