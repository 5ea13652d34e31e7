"""The thank-you page: the answer to a submission sent by the page's script, and ``/thanks/<code>``.

A questionnaire sent by the page's script (``?js=1`` on the form's action) is answered with the
thank-you page itself, not a redirect to it: on a phone's network the redirect costs a new
connection and a round trip before anything shows. The page's script then puts the page's own
address (``data-url``) in the address bar (``history.replaceState``), so that reloading it asks
for ``/thanks/<code>`` and never sends the answers again. A form sent without the script goes on
to that address by a redirect (303, post/redirect/get), as before.

After a 差评 the page offers the follow-up form: an optional phone number, bound to the response by
its submission id signed into the form (:func:`follow_up_tokens`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, current_app, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf
from itsdangerous import URLSafeTimedSerializer

from survey.assets import HoledPage
from survey.core import settings
from survey.models import Questionnaire
from survey.public.forms import FollowUpForm
from survey.public.pages import CSRF_MARK, no_message_waiting, page_once, plain_request
from survey.services.campaigns.lookup import Target
from survey.services.responses import submission
from survey.services.responses.submission import CampaignState

FOLLOW_UP_SALT = "pingyi.follow-up"
FOLLOW_UP_HOURS = 24
_TOKEN_MARK = "@@pingyi-follow-up@@"  # where a cached offer takes its signed submission id (URL-safe)


@dataclass(frozen=True)
class ThanksPage:
    """What a target's thank-you page shows, read while the target's objects are loaded (a submission's
    commit expires them: the page is then made without reading them again)."""

    url: str  # the page's own address, /thanks/<code>
    campaign_id: int
    questionnaire: Questionnaire  # the published version (the key of the page's cached copy)
    others: str | None  # where to rate another unit, if the campaign takes public ratings now

    @classmethod
    def of(cls, target: Target, questionnaire: Questionnaire | None = None) -> ThanksPage:
        campaign = target.campaign
        return cls(url_for("public.thanks", code=target.short_code), campaign.id,
                   questionnaire or campaign.questionnaire, _others_url(target))


def follow_up_tokens() -> URLSafeTimedSerializer:
    """Signs the submission id into the follow-up form, binding the number to that response."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=FOLLOW_UP_SALT)


def is_bad(lowest: int | None) -> bool:
    """Whether a response whose lowest level is ``lowest`` is a 差评 (the site's setting)."""
    return lowest is not None and lowest <= settings.site(settings.BAD_LEVEL_MAX)


def after_submit(page: ThanksPage, submission_id: str, lowest: int | None) -> ResponseReturnValue:
    """The thank-you page as the answer to a stored submission (see the module's doc): the follow-up
    offer after a 差评, for that submission."""
    cached = no_message_waiting()
    if is_bad(lowest):
        html = render(page, FollowUpForm, token=follow_up_tokens().dumps(submission_id), cached=cached)
    else:
        html = render(page, None, cached=cached)
    return html, 200, {"Cache-Control": "private, no-store"}


def render(page: ThanksPage, form: FollowUpForm | Callable[[], FollowUpForm] | None, expired: bool = False,
           token: str | None = None, cached: bool | None = None) -> str | Response:
    """The thank-you page; with ``form``, the follow-up offer (``token``: a new offer's signed submission id).

    A new offer passes the form's class: it is built only when the page is rendered, not when it is
    served from the worker's cache. ``cached``: whether the page may come from the worker's cache
    (default: a plain GET, :func:`plain_request`)."""
    if cached is None:
        cached = plain_request()

    def build(form: FollowUpForm | None = None) -> str:
        return render_template("public/thanks.html", page=page, form=form, expired=expired)

    def once(kind: str, make: Callable[[], str]) -> HoledPage:
        return page_once(page.questionnaire, (kind, page.others), make, path=page.url, marks=(_TOKEN_MARK,))

    if form is None:
        return once("thanks", build).respond({}) if cached else build()
    if not isinstance(form, FollowUpForm):
        if cached and token is not None:
            # The same page for every 差评 but for the CSRF token and the signed submission id, which are put
            # in place of their marks (both URL-safe: nothing to escape).
            offer = once("thanks-offer", lambda: build(_marked(form())))
            return offer.respond({CSRF_MARK: generate_csrf(), _TOKEN_MARK: token})
        form = form()
    if token is not None:
        form.token.data = token
    return build(form)


def _marked(form: FollowUpForm) -> FollowUpForm:
    """``form`` with marks in place of its CSRF token and signed submission id, for a cached page."""
    form.token.data = _TOKEN_MARK
    form.csrf_token.current_token = CSRF_MARK
    return form


def _others_url(target: Target) -> str | None:
    """Where to rate another unit: the campaign's public list, if it takes public ratings now."""
    campaign = target.campaign
    if submission.campaign_state(campaign) != CampaignState.OPEN:
        return None
    if submission.public_channel(campaign, via_unit_code=False) is None:
        return None
    return url_for("public.entry", code=campaign.short_code)
