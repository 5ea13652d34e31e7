"""邀请名单: analysts upload a panel list, check it, then create and export personal links."""
from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey.admin import bp
from survey.admin.common import save
from survey.admin.distribution.pages import download, public_base_url
from survey.auth.decorators import roles_required
from survey.core import spreadsheets, staging
from survey.core.lookups import get_or_404
from survey.extensions import db
from survey.models import Campaign, Role
from survey.services.campaigns import invitations, posters

PURPOSE = "invitations"


def _page(campaign: Campaign, status: int = 200, **context):
    return render_template(
        "admin/distribution/invitations.html", campaign=campaign,
        summary=invitations.summary(db.session, campaign), problem=invitations.campaign_problem(campaign), **context,
    ), status


@bp.route("/distribution/<int:campaign_id>/invitations")
@roles_required(Role.ADMIN, Role.ANALYST)
def invitations_page(campaign_id: int):
    return _page(get_or_404(Campaign, campaign_id))


@bp.route("/distribution/<int:campaign_id>/invitations/preview", methods=["POST"])
@roles_required(Role.ADMIN, Role.ANALYST)
def invitations_preview(campaign_id: int):
    """Step one: read and check the list, show every problem; nothing is written."""
    campaign = get_or_404(Campaign, campaign_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(campaign, 422, error=_("请选择要上传的名单文件（.xlsx 或 .csv）。"))
    data = upload.read()
    try:
        checked = invitations.preview(db.session, campaign, data)
    except invitations.InvitationError as exc:
        return _page(campaign, 422, error=str(exc))
    staged = staging.stage(current_app.instance_path, f"{PURPOSE}:{campaign.id}", current_user.id, data) \
        if checked.ok else None
    return _page(campaign, 200 if checked.ok else 422, checked=checked, staged=staged,
                 filename=upload.filename)


@bp.route("/distribution/<int:campaign_id>/invitations/confirm", methods=["POST"])
@roles_required(Role.ADMIN, Role.ANALYST)
def invitations_confirm(campaign_id: int):
    """Step two: create every link of the checked list, or none."""
    campaign = get_or_404(Campaign, campaign_id)
    token = request.form.get("staged", "")
    data = staging.take(current_app.instance_path, token, f"{PURPOSE}:{campaign.id}", current_user.id)
    if data is None:
        return _page(campaign, 422, error=_("预览已过期或不存在，请重新上传名单。"))
    _created, errors = save(
        lambda: invitations.create(db.session, campaign, invitations.preview(db.session, campaign, data), current_user),
        success=lambda created: _("已生成 %(n)d 个邀请链接。请下载名单用于短信群发。", n=len(created)), category="success")
    if errors:
        return _page(campaign, 422, error=_("；").join(errors.values()))
    return redirect(url_for("admin.invitations_page", campaign_id=campaign.id))


@bp.route("/distribution/<int:campaign_id>/invitations.<any(csv, xlsx):fmt>")
@roles_required(Role.ADMIN, Role.ANALYST)
def invitations_export(campaign_id: int, fmt: str):
    """The links for an SMS mail merge, every cell neutralised against formula injection."""
    campaign = get_or_404(Campaign, campaign_id)
    rows = invitations.export_rows(db.session, campaign, public_base_url())
    name = posters.safe_filename(f"invitations-{campaign.short_code}") + f".{fmt}"
    if fmt == "csv":
        return download(spreadsheets.to_csv(invitations.EXPORT_HEADERS, rows), spreadsheets.CSV_MIME, name)
    return download(spreadsheets.to_xlsx(invitations.EXPORT_HEADERS, rows, _("邀请链接")), spreadsheets.XLSX_MIME, name)
