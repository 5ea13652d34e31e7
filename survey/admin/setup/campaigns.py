"""Setup pages: campaigns (评议活动) — create (from a questionnaire or a template), edit,
open/pause/close, switch questionnaire version, live response counts per unit."""
from __future__ import annotations

import datetime as dt

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from survey.admin import bp
from survey.admin.common import save
from survey.admin.setup.common import (
    analyst_only,
    flash_created_groups,
    form_int,
    form_ints,
    local_to_utc,
    utc_to_local_input,
)
from survey.admin.setup.forms import CampaignForm, choices
from survey.core import settings
from survey.core.clock import format_local, org_timezone
from survey.core.errors import DomainError
from survey.core.labels import label
from survey.core.lookups import get_or_404
from survey.extensions import db
from survey.models import Campaign, Category, Channel, Questionnaire, RespondentGroup, utcnow
from survey.services.campaigns import fieldwork, season
from survey.services.campaigns import setup as service
from survey.services.questionnaires.editor import published_choices
from survey.services.units.groups import missing_template_groups

DEFAULT_CHANNELS = (Channel.POSTER.value, Channel.DESK.value, Channel.WEB.value)


def _current_period(now: dt.datetime) -> str:
    return f"{now.year}Q{(now.month - 1) // 3 + 1}"


def _prefill(form: CampaignForm) -> None:
    from flask_babel import get_timezone

    now = utcnow().astimezone(get_timezone())
    form.period.data = _current_period(now)
    form.opens_at.data = now.strftime("%Y-%m-%dT%H:%M")
    form.closes_at.data = (now + dt.timedelta(days=30)).strftime("%Y-%m-%dT23:59")


def _choices(form: CampaignForm) -> None:
    form.questionnaire_id.choices = choices([("", _("（请选择已发布的问卷）"))] + [
        (q.id, f"{q.title} · {_('第 %(v)d 版', v=q.version)}") for q in published_choices(db.session)])
    groups = db.session.scalars(select(RespondentGroup).where(RespondentGroup.active.is_(True))
                                .order_by(RespondentGroup.sort_order)).all()
    form.preset_group_id.choices = choices([("", _("（请选择）"))] + [(g.id, g.name) for g in groups])


def _data(form: CampaignForm) -> service.CampaignData:
    errors: dict[str, str] = {}
    times = {}
    for name in ("opens_at", "closes_at"):
        try:
            times[name] = local_to_utc(form[name].data)
        except ValueError as exc:
            errors[name] = str(exc)
            times[name] = None
    if errors:
        raise DomainError(errors)
    return service.CampaignData(
        title=form.title.data, title_en=form.title_en.data, description=form.description.data,
        period=form.period.data, opens_at=times["opens_at"], closes_at=times["closes_at"],
        channels=request.form.getlist("channels"), group_mode=form.group_mode.data,
        preset_group_id=form_int("preset_group_id"), public_results=bool(form.public_results.data),
        category_ids=form_ints("category_ids"), kinds=request.form.getlist("kinds"), unit_ids=form_ints("unit_ids"),
    )


def _form_page(form: CampaignForm, mode: str, errors: dict[str, str], campaign: Campaign | None = None,
               picked: set[int] | None = None, status: int = 200):
    if request.method == "POST":
        channels = set(request.form.getlist("channels"))
        chosen_categories = set(form_ints("category_ids"))
        kinds = set(request.form.getlist("kinds"))
        picked = set(form_ints("unit_ids"))
    else:
        channels = set(campaign.channels if campaign else DEFAULT_CHANNELS)
        chosen_categories, kinds = set(), set()
        picked = picked or set()
    categories = db.session.scalars(select(Category).order_by(Category.sort_order, Category.code)).all()
    return render_template(
        "admin/setup/campaigns/form.html", form=form, mode=mode, errors=errors, campaign=campaign,
        channels=channels, categories=categories, chosen_categories=chosen_categories, kinds=kinds, picked=picked,
        unit_groups=service.categories_with_units(db.session),
    ), status


@bp.route("/campaigns/")
@analyst_only
def campaigns():
    return render_template("admin/setup/campaigns/list.html", rows=service.list_campaigns(db.session))


@bp.route("/campaigns/new", methods=["GET", "POST"])
@analyst_only
def campaign_new():
    """A campaign for a published questionnaire (preselected with ?questionnaire=<id>)."""
    form = CampaignForm()
    _choices(form)
    if request.method == "GET":
        _prefill(form)
        form.questionnaire_id.data = request.args.get("questionnaire", "")
        return _form_page(form, "questionnaire", {})
    campaign, errors = _create(form, lambda data: service.create_campaign(
        db.session, current_user, form_int("questionnaire_id"), data))
    if errors:
        return _form_page(form, "questionnaire", errors, status=422)
    return _created(campaign)


@bp.route("/campaigns/new-from-template", methods=["GET", "POST"])
@analyst_only
def campaign_from_template():
    """新建评议：从模板 — the built-in questionnaire and the campaign in one step."""
    form = CampaignForm()
    _choices(form)
    if request.method == "GET":
        _prefill(form)
        if request.args.get("template") in {c.value for c in form.template.choices}:
            form.template.data = request.args["template"]
        return _form_page(form, "template", {})
    missing = missing_template_groups(db.session, form.template.data)
    campaign, errors = _create(form, lambda data: service.create_from_template(
        db.session, current_user, form.template.data, data))
    if errors:
        return _form_page(form, "template", errors, status=422)
    response = _created(campaign)
    flash_created_groups(missing)
    return response


def _create(form: CampaignForm, create):
    if not form.validate_on_submit():
        return None, {"": _("表单已过期，请重试。")}
    try:
        data = _data(form)
    except DomainError as exc:
        return None, exc.errors
    return save(lambda: create(data))


def _created(campaign: Campaign):
    flash(_("已建立评议活动“%(t)s”（草稿）。检查单位和链接后，点“开始评议”。", t=campaign.title), "info")
    for warning in service.warnings_for(campaign):
        flash(warning, "warning")
    return redirect(url_for("admin.campaign", campaign_id=campaign.id))


def public_link(code: str) -> str:
    """The address printed on posters: the settings page's public address (default PINGYI_PUBLIC_BASE_URL)
    when set, else this site's."""
    base = settings.public_base_url()
    path = url_for("public.entry", code=code)
    return base.rstrip("/") + path if base else url_for("public.entry", code=code, _external=True)


@bp.route("/campaigns/<int:campaign_id>")
@analyst_only
def campaign(campaign_id: int):
    """The campaign with each unit's public link and live response count."""
    campaign = get_or_404(Campaign, campaign_id)
    counts = service.unit_counts(db.session, campaign)
    return render_template(
        "admin/setup/campaigns/detail.html", campaign=campaign, counts=counts, total=sum(c.responses for c in counts),
        warnings=service.warnings_for(campaign), newer=service.newer_version(db.session, campaign),
        public_link=public_link, now=utcnow(), season=season.season(db.session, campaign, utcnow()),
        base_configured=bool(settings.public_base_url()), fw=fieldwork.monitor(db.session, campaign),
    )


@bp.route("/campaigns/<int:campaign_id>/counts.json")
@analyst_only
def campaign_counts(campaign_id: int):
    """The live counts, for the page to refresh itself without reloading."""
    campaign = get_or_404(Campaign, campaign_id)
    counts = service.unit_counts(db.session, campaign)
    return jsonify({
        "total": sum(c.responses for c in counts),
        "units": {str(c.campaign_unit.id): {
            "n": c.responses, "flagged": c.flagged,
            "last": format_local(c.last_at, org_timezone(), "MM-dd HH:mm") if c.last_at else None,
        } for c in counts},
    })


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@analyst_only
def campaign_edit(campaign_id: int):
    campaign = get_or_404(Campaign, campaign_id)
    form = CampaignForm(obj=campaign) if request.method == "GET" else CampaignForm()
    _choices(form)
    if request.method == "GET":
        form.opens_at.data = utc_to_local_input(campaign.opens_at)
        form.closes_at.data = utc_to_local_input(campaign.closes_at)
        form.group_mode.data = campaign.group_mode.value
        form.preset_group_id.data = str(campaign.preset_group_id or "")
        return _form_page(form, "edit", {}, campaign, picked={cu.unit_id for cu in campaign.campaign_units})
    _done, errors = _create(form, lambda data: service.update_campaign(db.session, current_user, campaign, data))
    if errors:
        return _form_page(form, "edit", errors, campaign, status=422)
    flash(_("已保存评议活动的修改。"), "info")
    for warning in service.warnings_for(campaign):
        flash(warning, "warning")
    return redirect(url_for("admin.campaign", campaign_id=campaign_id))


@bp.route("/campaigns/<int:campaign_id>/status", methods=["POST"])
@analyst_only
def campaign_status(campaign_id: int):
    """开始 / 暂停 / 结束 (open, pause, close); reopening a closed campaign is allowed and audited."""
    campaign = get_or_404(Campaign, campaign_id)
    action = request.form.get("value", "")
    _done, errors = save(lambda: service.change_status(db.session, current_user, campaign, action))
    if errors:
        flash(next(iter(errors.values())), "error")
    elif action == "close":
        flash(_("评议已结束，不再接受答卷。下一步：核对加权与计分，然后计算（见下方“评议流程”）。"), "info")
        return redirect(url_for("admin.campaign", campaign_id=campaign_id) + "#season-h")
    else:
        flash(_("评议活动现在的状态：%(s)s。", s=label("campaign_status", campaign.status)), "info")
    return redirect(url_for("admin.campaign", campaign_id=campaign_id))


@bp.route("/campaigns/<int:campaign_id>/switch", methods=["POST"])
@analyst_only
def campaign_switch(campaign_id: int):
    """Use a newer published version of the questionnaire from now on."""
    campaign = get_or_404(Campaign, campaign_id)
    target = db.session.get(Questionnaire, form_int("questionnaire_id") or 0)
    if target is None:
        flash(_("所选问卷不存在。"), "error")
        return redirect(url_for("admin.campaign", campaign_id=campaign_id))
    _done, errors = save(lambda: service.switch_questionnaire(db.session, current_user, campaign, target))
    if errors:
        flash(next(iter(errors.values())), "error")
    else:
        flash(_("本次评议已改用第 %(v)d 版问卷。之前的答卷仍按它们作答时的版本保存。", v=target.version), "info")
    return redirect(url_for("admin.campaign", campaign_id=campaign_id))

