"""导入答卷: analysts bring in telephone interviews, paper questionnaires and other tools' exports.

Template download, then upload → preview (every problem, nothing written) → confirm
(everything in one transaction, or nothing). Analysts only: a unit contact gets 403.
"""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey.admin import bp
from survey.admin.common import save
from survey.admin.distribution.pages import download
from survey.auth.decorators import roles_required
from survey.core import spreadsheets, staging
from survey.core.lookups import get_or_404
from survey.core.validation import strip_control
from survey.extensions import db
from survey.models import Campaign, Role
from survey.services.campaigns import posters
from survey.services.responses import submission
from survey.services.responses.imports import common, reader, template, writer

PURPOSE = "response-import"
FILENAME_MAX = 200
SHOWN_PROBLEMS = 500


def _page(campaign: Campaign, status: int = 200, **context):
    channels = common.allowed_channels(campaign)
    chosen = context.pop("channel", None) or (channels[0].value if channels else "")
    return render_template(
        "admin/distribution/response_import.html", campaign=campaign,
        problem=common.campaign_problem(campaign),
        closed=submission.campaign_state(campaign) == submission.CampaignState.CLOSED,
        channels=channels, chosen_channel=chosen,
        counts=common.imported_counts(db.session, campaign),
        notes=_sections(template.template_notes(db.session, campaign)),
        max_rows=common.WEB_MAX_ROWS,
        max_mb=(current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024),
        shown_problems=SHOWN_PROBLEMS,
        **context,
    ), status


def _sections(rows: list[list[str]]) -> list[list[list[str]]]:
    """The 说明 sheet's rows as tables (an empty row separates them; each table's first row is its header)."""
    sections: list[list[list[str]]] = [[]]
    for row in rows:
        if row:
            sections[-1].append([cell for cell in row if cell] if len(sections) > 1 else row)
        else:
            sections.append([])
    return [s for s in sections if s]


def _filename(raw: str | None) -> str:
    return (strip_control(raw or "") or "")[:FILENAME_MAX]


@bp.route("/distribution/<int:campaign_id>/responses/import")
@roles_required(Role.ADMIN, Role.ANALYST)
def response_import_page(campaign_id: int):
    return _page(get_or_404(Campaign, campaign_id))


@bp.route("/distribution/<int:campaign_id>/responses/template.<any(csv, xlsx):fmt>")
@roles_required(Role.ADMIN, Role.ANALYST)
def response_import_template(campaign_id: int, fmt: str):
    """The template made from the campaign's questionnaire; every cell neutralised against formula injection."""
    campaign = get_or_404(Campaign, campaign_id)
    name = posters.safe_filename(f"responses-template-{campaign.short_code}") + f".{fmt}"
    if fmt == "csv":
        return download(template.template_csv(db.session, campaign), spreadsheets.CSV_MIME, name)
    return download(template.template_xlsx(db.session, campaign), spreadsheets.XLSX_MIME, name)


@bp.route("/distribution/<int:campaign_id>/responses/import/preview", methods=["POST"])
@roles_required(Role.ADMIN, Role.ANALYST)
def response_import_preview(campaign_id: int):
    """Step one: read the file and show every problem with its row and column; nothing is written."""
    campaign = get_or_404(Campaign, campaign_id)
    channel = request.form.get("channel", "")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(campaign, 422, channel=channel, error=_("请选择要上传的答卷文件（.xlsx 或 .csv）。"))
    data = upload.read()
    filename = _filename(upload.filename)
    try:
        checked = reader.preview(db.session, campaign, data, channel, filename=filename,
                                          max_rows=common.WEB_MAX_ROWS)
    except common.ResponseImportError as exc:
        return _page(campaign, 422, channel=channel, error=str(exc))
    staged = staging.stage(current_app.instance_path, f"{PURPOSE}:{campaign.id}", current_user.id, data) \
        if checked.ok else None
    return _page(campaign, 200 if checked.ok else 422, channel=channel, checked=checked, staged=staged)


@bp.route("/distribution/<int:campaign_id>/responses/import/confirm", methods=["POST"])
@roles_required(Role.ADMIN, Role.ANALYST)
def response_import_confirm(campaign_id: int):
    """Step two: check the staged file again and store every new response, or none."""
    campaign = get_or_404(Campaign, campaign_id)
    token = request.form.get("staged", "")
    channel = request.form.get("channel", "")
    data = staging.take(current_app.instance_path, token, f"{PURPOSE}:{campaign.id}", current_user.id)
    if data is None:
        return _page(campaign, 422, channel=channel, error=_("预览已过期或不存在，请重新上传答卷文件。"))

    def store() -> tuple[reader.Preview, int | None]:
        checked = reader.preview(db.session, campaign, data, channel, filename=_filename(request.form.get("filename")),
                                 max_rows=common.WEB_MAX_ROWS)
        return checked, (writer.write(db.session, campaign, checked, current_user) if checked.ok else None)

    result, errors = save(store)
    if errors:
        return _page(campaign, 422, channel=channel, error=_("；").join(errors.values()))
    checked, stored = result
    if stored is None:
        return _page(campaign, 422, channel=channel, checked=checked)
    message = _("已导入 %(n)d 份答卷。", n=stored)
    if checked.skipped:
        message += " " + _("%(n)d 份此前已导入，已跳过。", n=len(checked.skipped))
    flash(message, "success")
    return redirect(url_for("admin.response_import_page", campaign_id=campaign.id))
