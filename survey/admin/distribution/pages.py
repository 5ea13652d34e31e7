"""二维码与海报: QR codes, printable posters and response channels per campaign.

Analysts see every campaign and unit; a unit contact only campaigns with their units,
and only their units' codes and posters (anything else is a 404).
"""
from __future__ import annotations

import io

from flask import current_app, render_template, request, send_file
from flask_login import current_user

from survey.admin import bp
from survey.core import settings
from survey.core.lookups import get_or_404
from survey.extensions import db
from survey.models import Campaign, CampaignUnit
from survey.services.accounts.access import visible_unit_ids
from survey.services.campaigns import channel_report, distribution, posters, qr
from survey.services.campaigns import lookup as campaign_service


def _scope() -> set[int] | None:
    return visible_unit_ids(db.session, current_user)


def public_base_url() -> str:
    return qr.base_url_for(settings.public_base_url(), request.host_url)


def download(data: bytes, mimetype: str, name: str, attachment: bool = True):
    response = send_file(io.BytesIO(data), mimetype=mimetype, download_name=name, as_attachment=attachment,
                         max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _pdf(specs: list[posters.PosterSpec], name: str):
    try:
        data = posters.render_pdf(specs, posters.font_path_from(current_app.config))
    except posters.PosterError as exc:
        return render_template("admin/distribution/problem.html", message=str(exc)), 422
    return download(data, "application/pdf", name)


def _anomaly_rule() -> channel_report.AnomalyRule:
    config = current_app.config
    return channel_report.AnomalyRule(float(config.get("DESK_ANOMALY_GAP", 0.5)), int(config.get("DESK_ANOMALY_MIN_N", 20)))


@bp.route("/distribution/")
def distribution_index():
    return render_template("admin/distribution/index.html",
                           campaigns=distribution.visible_campaigns(db.session, _scope()))


@bp.route("/distribution/<int:campaign_id>/")
def distribution_campaign(campaign_id: int):
    campaign = get_or_404(Campaign, campaign_id, scope=_scope())
    scope = _scope()
    base = public_base_url()
    units = [cu for cu in campaign_service.campaign_units(db.session, campaign)
             if scope is None or cu.unit_id in scope]
    return render_template(
        "admin/distribution/campaign.html", campaign=campaign, units=units, base=base,
        short_url=qr.short_url, campaign_url=qr.short_url(base, campaign.short_code),
        channels=channel_report.by_channel(db.session, campaign, scope),
        desk_rows=channel_report.desk_by_window(db.session, campaign, scope, _anomaly_rule()),
        anomaly_rule=_anomaly_rule(),
        configured_base=bool(settings.public_base_url()),
    )


@bp.route("/distribution/<int:campaign_id>/units/<int:cu_id>/qr.png")
def distribution_unit_png(campaign_id: int, cu_id: int):
    campaign = get_or_404(Campaign, campaign_id, scope=_scope())
    cu = get_or_404(CampaignUnit, cu_id, scope=_scope(), within=campaign)
    name = posters.safe_filename(f"{cu.unit.code}-{cu.short_code}") + ".png"
    return download(qr.png(qr.short_url(public_base_url(), cu.short_code)), "image/png", name)


@bp.route("/distribution/<int:campaign_id>/units/<int:cu_id>/qr.svg")
def distribution_unit_svg(campaign_id: int, cu_id: int):
    campaign = get_or_404(Campaign, campaign_id, scope=_scope())
    cu = get_or_404(CampaignUnit, cu_id, scope=_scope(), within=campaign)
    name = posters.safe_filename(f"{cu.unit.code}-{cu.short_code}") + ".svg"
    return download(qr.svg(qr.short_url(public_base_url(), cu.short_code)), "image/svg+xml", name,
                     attachment=request.args.get("inline") != "1")


@bp.route("/distribution/<int:campaign_id>/units/<int:cu_id>/poster.pdf")
def distribution_unit_poster(campaign_id: int, cu_id: int):
    campaign = get_or_404(Campaign, campaign_id, scope=_scope())
    cu = get_or_404(CampaignUnit, cu_id, scope=_scope(), within=campaign)
    specs = posters.poster_specs(db.session, campaign, public_base_url(), {cu.unit_id})
    return _pdf(specs, posters.safe_filename(f"poster-{cu.unit.code}-{cu.short_code}") + ".pdf")


@bp.route("/distribution/<int:campaign_id>/qr.<any(png, svg):fmt>")
def distribution_campaign_code(campaign_id: int, fmt: str):
    """The campaign's own link (the unit list or the appraisal), e.g. for a website or a WeChat post."""
    campaign = get_or_404(Campaign, campaign_id, scope=_scope())
    url = qr.short_url(public_base_url(), campaign.short_code)
    name = posters.safe_filename(f"campaign-{campaign.short_code}") + f".{fmt}"
    if fmt == "png":
        return download(qr.png(url), "image/png", name)
    return download(qr.svg(url), "image/svg+xml", name)


@bp.route("/distribution/<int:campaign_id>/posters.pdf")
def distribution_posters(campaign_id: int):
    """Every poster of the campaign (a unit contact's: their units') in one PDF, to print in one go."""
    campaign = get_or_404(Campaign, campaign_id, scope=_scope())
    specs = posters.poster_specs(db.session, campaign, public_base_url(), _scope())
    return _pdf(specs, posters.safe_filename(f"posters-{campaign.short_code}") + ".pdf")


@bp.route("/distribution/<int:campaign_id>/codes.zip")
def distribution_codes_zip(campaign_id: int):
    campaign = get_or_404(Campaign, campaign_id, scope=_scope())
    specs = posters.poster_specs(db.session, campaign, public_base_url(), _scope())
    try:
        data = posters.codes_zip(specs, campaign.short_code)
    except posters.PosterError as exc:
        return render_template("admin/distribution/problem.html", message=str(exc)), 422
    return download(data, "application/zip", posters.safe_filename(f"qrcodes-{campaign.short_code}") + ".zip")
