"""The response browser: a campaign's responses filtered and paged, one response opened, the filtered set exported.

Analysts see every response; a unit contact only responses about their units (another unit's
response is a 404), only the answers about those units, and no device-derived metadata.
"""
from __future__ import annotations

from flask import abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from survey.admin import bp
from survey.core import audit
from survey.core.clock import org_timezone, org_today
from survey.core.lookups import get_or_404
from survey.core.spreadsheets import CSV_MIME, XLSX_MIME, to_csv, to_xlsx
from survey.extensions import db
from survey.models import Campaign, Response
from survey.services.accounts.access import visible_unit_ids
from survey.services.responses import browser


def _campaign(campaign_id: int) -> Campaign:
    return get_or_404(Campaign, campaign_id, scope=visible_unit_ids(db.session, current_user))


@bp.route("/campaigns/<int:campaign_id>/responses/")
def responses_list(campaign_id: int):
    campaign = _campaign(campaign_id)
    f = browser.ResponseFilter.from_args(request.args)
    page = browser.search(db.session, current_user, campaign, f, org_timezone())
    return render_template("admin/results/responses.html", campaign=campaign, f=f, page=page,
                           choices=browser.filter_choices(db.session, current_user, campaign),
                           analyst=current_user.is_staff_analyst)


@bp.route("/responses/<bigid:response_id>")
def responses_detail(response_id: int):
    response = get_or_404(Response, response_id)
    if not browser.may_open(db.session, current_user, response):
        abort(404)
    campaign = db.session.get(Campaign, response.campaign_id)
    return render_template("admin/results/response.html", response=response, campaign=campaign,
                           answers=browser.answers_of(db.session, current_user, response),
                           metadata=browser.metadata(db.session, current_user, response, org_timezone()))


@bp.route("/campaigns/<int:campaign_id>/responses/export.<fmt>")
def responses_export(campaign_id: int, fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    campaign = _campaign(campaign_id)
    f = browser.ResponseFilter.from_args(request.args)
    headers, rows = browser.export_table(db.session, current_user, campaign, f, org_timezone())
    if fmt == "csv":
        data, mime = to_csv(headers, rows), CSV_MIME
    else:
        data, mime = to_xlsx(headers, rows, sheet_title=_("答卷")), XLSX_MIME
    audit.record(db.session, current_user, "response.export", campaign, f"导出答卷 {len(rows)} 行",
                 filter=f.as_args(), format=fmt)
    db.session.commit()
    stamp = org_today().strftime("%Y%m%d")
    return current_app.response_class(data, mimetype=mime, headers={
        "Content-Disposition": f"attachment; filename=responses-{campaign.short_code}-{stamp}.{fmt}"})
