"""Citizens' routes: home, a short code's questionnaire (poster QR or web link), thank-you page."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from itsdangerous import BadSignature

from survey.core import settings
from survey.extensions import csrf, db
from survey.models import Channel, QuestionnaireKind, Response
from survey.public import bp
from survey.public import thanks as thanks_page
from survey.public.forms import FollowUpForm
from survey.public.questionnaire import (
    THANKS_KEY,
    THANKS_LOWEST_KEY,
    channel_closed_page,
    closed_page,
    made_here,
    questionnaire_view,
    rated_unit_ids,
    render_chooser,
)
from survey.public.thanks import ThanksPage
from survey.services.campaigns import lookup as campaign_service
from survey.services.campaigns.lookup import Target
from survey.services.responses import follow_up, submission
from survey.services.responses.submission import CampaignState


def _target_or_404(code: str) -> Target:
    target = campaign_service.resolve_code(db.session, code)
    if target is None:
        abort(404)
    return target


@bp.route("/")
def index():
    return render_template("public/index.html", campaigns=campaign_service.open_public_campaigns(db.session))


def _public_channel(target: Target) -> tuple[Channel | None, ResponseReturnValue | None]:
    """The channel a public link records, or the page explaining why it takes no answers now."""
    state = submission.campaign_state(target.campaign)
    if state != CampaignState.OPEN:
        return None, closed_page(target, state)
    channel = submission.public_channel(target.campaign, via_unit_code=target.unit is not None)
    if channel is None:
        return None, channel_closed_page(target)
    return channel, None


@bp.route("/s/<code>", methods=["GET", "POST"])
@csrf.exempt
def entry(code: str):
    """A scanned or typed short code: one unit's questionnaire, the appraisal's unit chooser, or
    the campaign's list of units."""
    target = _target_or_404(code)
    channel, refusal = _public_channel(target)
    if refusal is not None:
        return refusal
    campaign = target.campaign
    if campaign.questionnaire.kind == QuestionnaireKind.APPRAISAL:
        if request.method == "POST":
            return redirect(url_for("public.rate", code=code), code=307)
        return render_chooser(target, url_for("public.rate", code=code))
    if target.unit is None:
        units = campaign_service.campaign_units(db.session, campaign)
        return render_template("public/unit_list.html", campaign=campaign, units=units, rated=rated_unit_ids(campaign))
    return questionnaire_view(target, channel=channel)


@bp.route("/s/<code>/rate", methods=["GET", "POST"])
@csrf.exempt
def rate(code: str):
    """Appraisal, step two: rate only the units the respondent said they know."""
    target = _target_or_404(code)
    if target.campaign.questionnaire.kind != QuestionnaireKind.APPRAISAL:
        return redirect(url_for("public.entry", code=code))
    channel, refusal = _public_channel(target)
    if refusal is not None:
        return refusal
    return questionnaire_view(target, channel=channel)


@bp.route("/thanks/<code>", methods=["GET", "POST"])
@csrf.exempt  # the follow-up form checks its own token: an expired one keeps the number typed
def thanks(code: str):
    """Thank you; after a 差评, an optional phone number for follow-up, only with consent."""
    target = _target_or_404(code)
    if request.method == "POST":
        return _leave_phone(target, FollowUpForm())
    page = ThanksPage.of(target)
    bad_level = settings.site(settings.BAD_LEVEL_MAX)
    sid = session.get(THANKS_KEY)
    noted = _noted_bad_rating(sid, bad_level, target.campaign.id)
    if noted is False:
        return thanks_page.render(page, None)
    if noted is None:  # not noted (a session from before the note): the stored answers say
        response = _last_submission(target)
        if response is None or not submission.has_bad_rating(db.session, response.id, bad_level):
            return thanks_page.render(page, None)
        sid = response.submission_id
    return thanks_page.render(page, FollowUpForm, token=thanks_page.follow_up_tokens().dumps(sid))


def _noted_bad_rating(sid: str | None, bad_level: int, campaign_id: int) -> bool | None:
    """Whether this browser's last submission to the campaign gave a level at or below ``bad_level``,
    known from the signed session alone: its lowest level and campaign are noted when it is stored,
    so the thank-you page reads nothing about it. None: not known (a session from before the note,
    or a note about another submission)."""
    if not sid:
        return False
    note = session.get(THANKS_LOWEST_KEY)
    if not isinstance(note, list) or len(note) not in (2, 3) or note[0] != sid:
        return None
    lowest = note[1]
    if lowest is None or (isinstance(lowest, int) and lowest > bad_level):
        return False
    if len(note) == 3 and note[2] == campaign_id and isinstance(lowest, int):
        return True
    return None  # a bad rating noted without its campaign (or for another): the stored response says


def _last_submission(target: Target) -> Response | None:
    """The response this browser just submitted to the target's campaign, if any."""
    sid = session.get(THANKS_KEY)
    response = submission.stored_response(db.session, sid) if sid else None
    return response if response is not None and response.campaign_id == target.campaign.id else None


def _leave_phone(target: Target, form: FollowUpForm) -> ResponseReturnValue:
    try:
        sid = thanks_page.follow_up_tokens().loads(form.token.data or "",
                                                   max_age=thanks_page.FOLLOW_UP_HOURS * 3600)
    except BadSignature:
        flash(_("回访登记已过期。如需回访，请拨打本单位服务电话。"), "error")
        return redirect(url_for("public.thanks", code=target.short_code), code=303)
    response = submission.stored_response(db.session, sid)
    if response is None or response.campaign_id != target.campaign.id or not made_here(sid):
        abort(404)  # a number is attached only by the browser session that made the submission
    if not form.validate():
        expired = bool(form.csrf_token.errors)
        return thanks_page.render(ThanksPage.of(target), form, expired=expired), 400 if expired else 422
    follow_up.save_contact(db.session, response.id, form.phone.data, current_app.config["FOLLOW_UP_RETENTION_DAYS"])
    session.pop(THANKS_KEY, None)
    flash(_("已收到您的电话。相关单位核实后将与您联系，事项办结后号码即删除。"), "success")
    return redirect(url_for("public.thanks", code=target.short_code), code=303)


@bp.route("/go")
def go():
    """The code box on the home page: a typed poster code, in any case, spaces and dashes ignored."""
    target = campaign_service.resolve_code(db.session, request.args.get("code", ""))
    if target is None:
        flash(_("没有找到这个短码，请核对海报上的字母和数字。"), "error")
        return redirect(url_for("public.index"))
    return redirect(url_for("public.entry", code=target.short_code))
