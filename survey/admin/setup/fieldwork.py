"""The fieldwork monitor's pages: targets and quotas (analysts), the progress as xlsx (staff, scoped to
their units; a unit contact never sees a draft campaign)."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey.admin import bp
from survey.admin.common import save
from survey.admin.setup.common import analyst_only
from survey.core.errors import DomainError
from survey.core.labels import label
from survey.core.lookups import get_or_404
from survey.core.spreadsheets import XLSX_MIME, to_xlsx
from survey.extensions import db
from survey.models import Campaign, TargetKind
from survey.services.accounts.access import visible_unit_ids
from survey.services.campaigns import fieldwork
from survey.services.results import weighting


def _raw_form(campaign: Campaign) -> tuple[tuple[str, str], dict[int, tuple[str, str]], dict[int, str]]:
    default = (request.form.get("default_kind", ""), request.form.get("default_value", ""))
    units = {cu.unit_id: (request.form.get(f"kind-{cu.unit_id}", ""), request.form.get(f"value-{cu.unit_id}", ""))
             for cu in campaign.campaign_units}
    quotas = {}
    for key in request.form:
        if key.startswith("quota-") and key[6:].isdigit():
            quotas[int(key[6:])] = request.form[key]
    return default, units, quotas


def _stored_form(targets: fieldwork.Targets, campaign: Campaign):
    def pair(t):
        return ("", "") if t is None else (t.kind.value, f"{t.value:g}")
    return (pair(targets.default), {cu.unit_id: pair(targets.units.get(cu.unit_id)) for cu in campaign.campaign_units},
            {g: str(m) for g, m in targets.quotas.items()})


@bp.route("/campaigns/<int:campaign_id>/targets", methods=["GET", "POST"])
@analyst_only
def campaign_targets(campaign_id: int):
    """采集目标: a default for every unit, per-unit overrides, and quotas per respondent group."""
    campaign = get_or_404(Campaign, campaign_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        raw = _raw_form(campaign)
        _done, errors = save(lambda: fieldwork.save_targets(
            db.session, current_user, campaign,
            fieldwork.validate_targets(db.session, campaign, *raw)))
        if not errors:
            flash(_("已保存采集目标。"), "info")
            return redirect(url_for("admin.campaign", campaign_id=campaign_id) + f"#fieldwork-h{campaign_id}")
        values = raw
    else:
        values = _stored_form(fieldwork.load_targets(db.session, campaign), campaign)
    default, units, quotas = values
    groups = [g for g in weighting.groups_in_order(db.session) if g.active or g.id in quotas]
    return render_template(
        "admin/setup/campaigns/targets.html", campaign=campaign, errors=errors, default=default, units=units,
        quotas=quotas, groups=groups, kinds=[(k.value, label("target_kind", k)) for k in TargetKind],
        unit_rows=sorted(campaign.campaign_units, key=lambda cu: (cu.unit.sort_order, cu.unit.code)),
    ), 422 if errors else 200


@bp.route("/campaigns/<int:campaign_id>/fieldwork.xlsx")
def campaign_fieldwork_xlsx(campaign_id: int):
    """The progress per unit as a spreadsheet, furthest behind first (a unit contact: their units only)."""
    visible = visible_unit_ids(db.session, current_user)
    campaign = get_or_404(Campaign, campaign_id, scope=visible)
    try:
        fieldwork.check_visible(campaign, visible)
    except DomainError:
        abort(404)
    result = fieldwork.monitor(db.session, campaign, visible)
    headers, rows = fieldwork.export_rows(result)
    data = to_xlsx(headers, rows, sheet_title=_("采集进度"))
    return current_app.response_class(data, mimetype=XLSX_MIME, headers={
        "Content-Disposition": f"attachment; filename=fieldwork-{campaign.short_code}.xlsx"})
