"""One questionnaire page for every way in: poster QR, web link, desk code, invitation.

:func:`questionnaire_view` renders a questionnaire and takes its submission; the public
routes call it, and so do the desk (一事一评) and invitation routes, with their own
channel, preset group, response fields and a ``before_commit`` step that consumes their
single-use code in the same transaction as the response insert. Routes that call it
must be exempt from the global CSRF check (``@csrf.exempt``): the token is checked here,
so that an expired one re-renders the page with every answer kept instead of a bare 400.

Order of a submission: closed campaign → already stored by this browser session
(idempotent: after the rate limit and the CSRF check, straight to the thank-you page) →
units this device has rated → rate limit → CSRF token → answers → fingerprint and burst
rule → one transaction.

Whose submission it is: the page's submission id is signed for the browser session that
opened it (a random key kept in the session, HMAC with ``SECRET_KEY``), and the session
remembers the ids it stored. Only that session gets the "already stored" shortcut, the
thank-you page's follow-up offer and the follow-up form of a stored response. A submission
id it did not make (a guessed one, e.g. of an imported 答卷编号) is replaced by a fresh one:
the answers are taken as a new submission and nothing about the stored one is revealed.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from flask import abort, current_app, make_response, redirect, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from limits import parse_many
from markupsafe import Markup
from sqlalchemy.orm import Session

from survey.core.labels import label
from survey.extensions import client_address, client_key, db, limiter
from survey.i18n import current_language, localized
from survey.models import (
    Campaign,
    Channel,
    Question,
    Questionnaire,
    QuestionnaireKind,
    Response,
    ResponseStatus,
    Unit,
)
from survey.public import thanks as thanks_page
from survey.public.forms import SubmitForm
from survey.public.pages import CSRF_MARK, page_once, plain_request
from survey.public.thanks import ThanksPage
from survey.services.campaigns import lookup as campaign_service
from survey.services.campaigns.lookup import Target
from survey.services.questionnaires import cache as questionnaire_cache
from survey.services.questionnaires import conditions
from survey.services.responses import antiabuse, submission
from survey.services.responses.submission import CampaignState
from survey.services.results import display

log = logging.getLogger(__name__)

LEDGER_COOKIE = "pingyi_rated"
LEDGER_DAYS = 400
THANKS_KEY = "pingyi_thanks"  # the session remembers the last submission for the thank-you page
#: [that submission's id, the lowest satisfaction level it gave or None]: the thank-you page of a response
#: without a 差评 reads nothing about it
THANKS_LOWEST_KEY = "pingyi_thanks_lowest"
SUBMITTER_KEY = "pingyi_submitter"  # this browser session's random key: its pages' submission ids are signed with it
MINE_KEY = "pingyi_mine"  # the submission ids this browser session stored, newest last
MINE_KEEP = 8
_NONCE_CHARS = 16  # a submission id: 16 random characters, then 16 of its signature (32 in all)
CHOOSER_STEP = "units"
CHOOSE_AGAIN = "choose"  # ?choose=1&u=…: back to the chooser with the units ticked
RETRY_AFTER_PAUSED = 3600
MAX_DURATION = 7 * 24 * 3600


@dataclass(frozen=True)
class Item:
    """One question on the page: its form field, its number, and the unit it is about."""

    question: Question
    name: str
    number: int
    unit: Unit | None
    rule: str | None = None  # its display condition as the page's script reads it, if it has one


@dataclass(frozen=True)
class Section:
    unit: Unit | None  # an appraisal's per-unit block has its unit; shared questions none
    items: list[Item]


def sections_for(questionnaire: Questionnaire, questions: list[Question], units: list[Unit]) -> list[Section]:
    """The page's questions in order, numbered, grouped by the unit they rate."""
    plan = submission.layout(questionnaire, questions)
    counter = itertools.count(1)
    unit_ids = [u.id for u in units]
    service_unit = units[0].id if questionnaire.kind == QuestionnaireKind.SERVICE and units else None

    def name_of(question_id: int, unit_id: int | None) -> str:
        return f"q{question_id}" if unit_id is None or unit_id == service_unit else f"q{question_id}_u{unit_id}"

    def items(qs: list[Question], unit: Unit | None) -> list[Item]:
        return [Item(q, submission.field_name(q, unit), next(counter), unit,
                     conditions.client_rule(questionnaire, q, unit.id if unit else service_unit, unit_ids, name_of))
                for q in qs]

    sections = [Section(None, items(plan.before, None))]
    sections += [Section(u, items(plan.per_unit, u)) for u in (units if plan.per_unit else [])]
    sections.append(Section(None, items(plan.after, None)))
    return [s for s in sections if s.items]


def closed_page(target: Target, state: CampaignState) -> ResponseReturnValue:
    """Not open: 403 before it opens, 503 (with Retry-After) while paused, 410 once closed."""
    status = {CampaignState.NOT_YET: 403, CampaignState.PAUSED: 503, CampaignState.CLOSED: 410}[state]
    headers = {"Retry-After": str(RETRY_AFTER_PAUSED)} if state == CampaignState.PAUSED else {}
    published = (display.public_snapshot_of(db.session, target.campaign.id)
                 if state == CampaignState.CLOSED else None)
    html = render_template("public/closed.html", campaign=target.campaign, state=state.value, published=published)
    return html, status, headers


def channel_closed_page(target: Target) -> ResponseReturnValue:
    """A campaign for invited panels or window codes only: its public link takes no answers."""
    return render_template("public/closed.html", campaign=target.campaign, state="channel"), 403


def load_ledger() -> antiabuse.DeviceLedger:
    return antiabuse.DeviceLedger.load(current_app.config["SECRET_KEY"], request.cookies.get(LEDGER_COOKIE))


def store_ledger(response: Any, ledger: antiabuse.DeviceLedger) -> None:
    response.set_cookie(
        LEDGER_COOKIE, ledger.dump(current_app.config["SECRET_KEY"]), max_age=LEDGER_DAYS * 24 * 3600,
        httponly=True, samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"],
    )


def rated_unit_ids(campaign: Campaign) -> set[int]:
    """The campaign's units this device has rated already (its unit list marks them)."""
    return load_ledger().entries.get(campaign.id, set())


def chosen_units(target: Target) -> list[Unit]:
    """The campaign's units named by the request's ``u`` values (unit codes), in campaign order."""
    wanted = set(request.values.getlist("u"))
    return [cu.unit for cu in campaign_service.campaign_units(db.session, target.campaign) if cu.unit.code in wanted]


def render_chooser(target: Target, action: str, *, status: int = 200, none_chosen: bool = False,
                   once_per_device: bool = True) -> ResponseReturnValue:
    """Appraisal, step one: the respondent ticks the units they know (让知情人评知情事)."""
    campaign = target.campaign
    units = campaign_service.campaign_units(db.session, campaign)
    rated = rated_unit_ids(campaign) if once_per_device else set()
    preselected = set(request.values.getlist("u")) or ({target.unit.code} if target.unit else set())
    html = render_template(
        "public/choose_units.html", campaign=campaign, questionnaire=campaign.questionnaire, units=units,
        action=action, step=CHOOSER_STEP, rated=rated, preselected=preselected, none_chosen=none_chosen,
    )
    return html, status, {"Cache-Control": "private, no-cache"}


def issue_submission_id() -> str:
    """A fresh submission id for a page, signed for this browser session (see the module's doc)."""
    key = session.get(SUBMITTER_KEY)
    if not isinstance(key, str):
        key = session[SUBMITTER_KEY] = secrets.token_urlsafe(16)
    nonce = secrets.token_urlsafe(12)
    return nonce + _signature(nonce, key)


def _signature(nonce: str, key: str) -> str:
    message = f"pingyi.submission\x1f{key}\x1f{nonce}".encode()
    mac = hmac.new(current_app.config["SECRET_KEY"].encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:12]).decode()


def made_here(submission_id: str | None) -> bool:
    """Whether this browser session made the submission: it stored it, or the id was issued to it."""
    if not submission.valid_submission_id(submission_id):
        return False
    if submission_id in (session.get(MINE_KEY) or []):
        return True
    key = session.get(SUBMITTER_KEY)
    if not isinstance(key, str) or len(submission_id) != 2 * _NONCE_CHARS:
        return False
    nonce, signature = submission_id[:_NONCE_CHARS], submission_id[_NONCE_CHARS:]
    return hmac.compare_digest(signature, _signature(nonce, key))


def questionnaire_view(
    target: Target,
    units: list[Unit] | None = None,
    *,
    channel: Channel,
    preset_group_id: int | None = None,
    response_extra: dict[str, Any] | None = None,
    before_commit: Callable[[Session, Response], None] | None = None,
    once_per_device: bool = True,
    rate_limit: bool = True,
    flags: Callable[[], list[str]] | None = None,
) -> ResponseReturnValue:
    """Render (GET) or take (POST) the questionnaire of ``target`` for ``units``.

    ``units`` defaults to the target's unit for a service survey, and for an appraisal to
    the units the respondent ticked (``u`` values); with none ticked the unit chooser is
    shown, posting back to this URL. ``once_per_device`` keeps one rating per device per
    campaign and unit (poster and web links); single-use codes turn it off. ``flags`` is the
    caller's own integrity check, run when a valid submission is about to be stored: the reason
    codes it returns store the response flagged (the desk's rules). The burst rules apply to
    poster and web links only.
    """
    campaign = target.campaign
    state = submission.campaign_state(campaign)
    if state != CampaignState.OPEN:
        return closed_page(target, state)
    questionnaire = questionnaire_cache.questionnaire_version(db.session, campaign.questionnaire)
    form = SubmitForm()
    wait: int | None | object = _UNCHECKED
    looked_up: str | None = None  # the submission id found not stored yet in this request
    resubmitted = False  # this browser's stored submission, sent again (refused by the limit or the token)
    if request.method == "POST":
        sid = submission.valid_submission_id(form.submission_id.data)
        stored = submission.stored_response(db.session, sid) if sid else None
        looked_up = sid if stored is None else None
        if stored is not None:
            if stored.campaign_id != campaign.id or not made_here(sid):
                # Not this browser's submission (a guessed id): a submission of its own, nothing revealed.
                form.submission_id.data = issue_submission_id()
            else:  # double tap, retry, back button: still rate-limited and CSRF-checked
                wait = _seconds_to_wait() if rate_limit else None
                if wait is None and form.validate():
                    return _to_thanks(ThanksPage.of(target, questionnaire), stored.submission_id,
                                      {a.unit_id for a in stored.answers}, once_per_device,
                                      lowest_level(stored.answers))
                resubmitted = True  # shown again with the notice, not as "already rated"

    if units is None:
        if questionnaire.kind == QuestionnaireKind.SERVICE:
            if target.unit is None:  # a service survey is always about one unit
                abort(404)
            units = [target.unit]
        else:
            units = chosen_units(target)
            if not units or (request.method == "GET" and CHOOSE_AGAIN in request.args):
                tried = not units and (request.method == "POST" or request.values.get("step") == CHOOSER_STEP)
                return render_chooser(target, request.path, status=422 if tried else 200, none_chosen=tried,
                                      once_per_device=once_per_device)
    dropped: list[Unit] = []
    if once_per_device and not resubmitted:
        ledger = load_ledger()
        dropped = [u for u in units if ledger.has(campaign.id, u.id)]
        units = [u for u in units if u not in dropped]
        if not units:
            status = 409 if request.method == "POST" else 200
            return render_template("public/already.html", campaign=campaign, target=target, units=dropped), status

    questions = submission.visible_questions(questionnaire, campaign, preset_group_id)
    page = _Page(target, questionnaire, questions, units, form, dropped)
    if request.method != "POST":
        form.submission_id.data = issue_submission_id()
        form.started.data = str(int(time.time()))
        return page.render()
    return _take(page, channel, preset_group_id, response_extra, before_commit, once_per_device, rate_limit, wait,
                 flags, looked_up)


_UNCHECKED = object()  # the rate limit has not been counted for this request yet


def _take(page: _Page, channel: Channel, preset_group_id: int | None, response_extra: dict[str, Any] | None,
          before_commit: Callable[[Session, Response], None] | None, once_per_device: bool,
          rate_limit: bool, wait: int | None | object = _UNCHECKED,
          flags: Callable[[], list[str]] | None = None, looked_up: str | None = None) -> ResponseReturnValue:
    """A submitted questionnaire: stored once and off to the thank-you page, or shown again with
    every answer kept and what to do next."""
    target, questionnaire, form = page.target, page.questionnaire, page.form
    campaign = target.campaign
    if rate_limit:
        if wait is _UNCHECKED:
            wait = _seconds_to_wait()
        if isinstance(wait, int):
            return page.render(notice="rate_limited", status=429, wait=wait)
    token_ok = form.validate()
    parsed = submission.parse_answers(questionnaire, page.questions, page.units, request.form)
    step = conditional_step(parsed)
    errors = {name: message for name, message in parsed.errors.items() if name not in step}
    if not token_ok:
        if form.submission_id.errors:  # not one of our pages: start a fresh submission
            form.submission_id.data = issue_submission_id()
        return page.render(errors=errors, notice="expired", status=400, shown=parsed.shown)
    if errors:
        return page.render(errors=errors, status=422, shown=parsed.shown)
    if step:  # without the script: the questions the answers call for, as a short second step
        return page.render(shown=parsed.shown, step=step)
    if page.dropped:  # rated on this device in another tab meanwhile: the answers for them are not taken
        return page.render(notice="dropped", status=409)

    config = current_app.config
    fingerprint = antiabuse.fingerprint(
        config["SECRET_KEY"], client_address(), request.user_agent.string, campaign.id,
        rotation_hours=config["FINGERPRINT_ROTATION_HOURS"],
    )
    address_hash = antiabuse.campaign_address_hash(
        config["SECRET_KEY"], client_address(), campaign.id, rotation_hours=config["FINGERPRINT_ROTATION_HOURS"])
    reasons = list(flags()) if flags is not None else []
    if channel in (Channel.POSTER, Channel.WEB):  # single-use codes are one transaction each: no burst rules
        rule = antiabuse.BurstRule(config["BURST_MAX_RESPONSES"], config["BURST_WINDOW_MINUTES"],
                                   config["ADDRESS_BURST_MAX_RESPONSES"], config["UA_ROTATION_MAX_AGENTS"])
        reasons += antiabuse.burst_reasons(db.session, campaign.id, fingerprint, rule, address_hash)
    status = ResponseStatus.FLAGGED if reasons else ResponseStatus.VALID
    reason = antiabuse.join_reasons(reasons)
    # Read before the commit, which expires every loaded object: no reloads on the way out.
    thanks = ThanksPage.of(target, questionnaire)
    unit_ids = {a.unit_id for a in parsed.answers}
    try:
        submitted = submission.submit_response(
            db.session, campaign, parsed,
            submission_id=form.submission_id.data,
            channel=channel,
            unit=target.unit if questionnaire.kind == QuestionnaireKind.SERVICE else None,
            respondent_group_id=preset_group_id,
            fingerprint=fingerprint,
            status=status,
            status_reason=reason,
            locale=current_language(),
            duration_seconds=_duration(form.started.data),
            extra={"address_hash": address_hash, **(response_extra or {})},
            before_commit=before_commit,
            questions={q.id: q for q in questionnaire.questions},
            known_new=looked_up is not None and looked_up == form.submission_id.data,
        )
    except submission.Refused as refused:
        html = render_template("public/refused.html", campaign=campaign, target=target, message=refused.message)
        return html, refused.status
    sid = form.submission_id.data
    if not submitted.created and not made_here(sid):  # raced with a stored id of someone else's
        return redirect(thanks.url, code=303)
    return _to_thanks(thanks, sid, unit_ids, once_per_device, lowest_level(parsed.answers))


# Where a cached fresh page takes its visitor's values (URL-safe tokens and digits: nothing to escape).
_SID_MARK = "@@pingyi-submission@@"
_STARTED_MARK = "@@pingyi-started@@"

ASKED_FIELD = "asked"  # a conditional question's field name, posted back once the page has shown it
SCRIPT_ARG = "js"  # ?js=1 on the form's action: the page's script showed and hid the questions as answers came


def sent_by_script() -> bool:
    """Whether the page's script sent this form (``?js=1``): it showed and hid the questions in place."""
    return request.args.get(SCRIPT_ARG) == "1"


def conditional_step(parsed: submission.ParseResult) -> list[str]:
    """The conditional questions the answers now call for that the respondent has not been shown yet
    (not asked on a page before, nothing posted for them): without the page's script they come as a
    further short step before anything is stored."""
    if sent_by_script():
        return []
    asked = set(request.form.getlist(ASKED_FIELD))
    given = request.form
    return [name for name, shown in parsed.shown.items()
            if shown and name not in asked and not any(v.strip() for v in given.getlist(name))]


class _Page:
    """The questionnaire page, rendered with whatever the respondent has already given."""

    def __init__(self, target: Target, questionnaire: Questionnaire, questions: list[Question],
                 units: list[Unit], form: SubmitForm, dropped: list[Unit]) -> None:
        self.target = target
        self.questionnaire = questionnaire
        self.questions = questions
        self.units = units
        self.form = form
        self.dropped = dropped

    @cached_property
    def sections(self) -> list[Section]:
        """Built when the page is rendered (a fresh page from the process's cache needs none)."""
        return sections_for(self.questionnaire, self.questions, self.units)

    def render(self, errors: dict[str, str] | None = None, notice: str | None = None, status: int = 200,
               wait: int = 0, shown: dict[str, bool] | None = None, step: list[str] | None = None
               ) -> ResponseReturnValue:
        """The page; ``shown``: which conditional questions the answers call for (none before any answer);
        ``step``: only these questions are asked, every other answer is carried in hidden fields."""
        errors = errors or {}
        shown = shown or {}
        service = self.questionnaire.kind == QuestionnaireKind.SERVICE and self.target.unit is not None
        posted = request.method == "POST"
        values = request.form if posted else None

        def context() -> dict[str, Any]:
            items = [item for section in self.sections for item in section.items
                     if item.rule is None or shown.get(item.name)]
            return {
                "campaign": self.target.campaign,
                "target": self.target,
                "questionnaire": self.questionnaire,
                "service": service,
                "sections": self.sections,
                "units": self.units,
                # the language switch of a posted appraisal page must name its units again
                "lang_keep": [("u", u.code) for u in self.units] if posted and not service else [],
                "dropped": self.dropped,
                "dropped_names": _("、").join(localized(u, "name") for u in self.dropped),
                "change_units_url": request.path + "?" + urlencode([(CHOOSE_AGAIN, "1")] + [("u", u.code) for u in self.units]),
                "wait": wait,
                "errors": errors,
                "error_items": [item for item in items if item.name in errors],
                "total": len(items),
                "notice": notice,
                "step": step or [],
                "question_block": self.question_block(errors, values, shown, step or []),
            }

        if self._fresh_poster_page(errors, notice, shown, step, wait):
            html = self._cached_page(context, service)
        else:
            html = render_template("public/questionnaire.html", csrf_value=None,
                                   sid_value=self.form.submission_id.data or "",
                                   started_value=self.form.started.data or "", **context())
        headers = {"Cache-Control": "private, no-cache"}
        if wait:
            headers["Retry-After"] = str(wait)
        return html, status, headers

    def _fresh_poster_page(self, errors: dict[str, str], notice: str | None, shown: dict[str, bool],
                           step: list[str] | None, wait: int) -> bool:
        """A poster or web link's page as every new visitor gets it: nothing posted, no notice, no message."""
        return (request.endpoint == "public.entry" and plain_request() and not errors and notice is None
                and not shown and not step and not wait and not self.dropped)

    def _cached_page(self, context: Callable[[], dict[str, Any]], service: bool) -> str:
        """The whole fresh page, rendered once per process for everything it shows (see :func:`page_once`;
        here also the questions shown, the campaign's title and the units); only the CSRF token, submission
        id and start time are this visitor's, put in place of their marks."""
        units = tuple((u.id, u.code, u.name, u.name_en, u.window_no) for u in self.units)
        campaign = self.target.campaign
        parts = ("questionnaire", campaign.title, campaign.title_en, units, tuple(q.id for q in self.questions), service)

        def build() -> str:
            return render_template("public/questionnaire.html", csrf_value=CSRF_MARK, sid_value=_SID_MARK,
                                   started_value=_STARTED_MARK, **context())

        page = page_once(self.questionnaire, parts, build, marks=(_SID_MARK, _STARTED_MARK))
        return page.respond({CSRF_MARK: generate_csrf(), _SID_MARK: self.form.submission_id.data,
                             _STARTED_MARK: self.form.started.data})

    def question_block(self, errors: dict[str, str], values: Any, shown: dict[str, bool],
                       step: list[str]) -> Markup:
        """The page's questions. A fresh page's (nothing posted, no errors, no step) depends only on
        the published version, the questions shown, the units and the language: rendered once per
        process (``questionnaire_cache.fragment``; a draft's every time)."""
        def build() -> str:
            return render_template(
                "public/_question_block.html", sections=self.sections, errors=errors, values=values,
                shown=shown, step=step, levels=[(level, label("level", level)) for level in submission.LEVELS],
                DONT_KNOW=submission.DONT_KNOW, text_limit=submission.text_limit,
            )

        if errors or values is not None or shown or step:
            return Markup(build())
        parts = (tuple(q.id for q in self.questions),
                 tuple((u.id, localized(u, "name")) for u in self.units), current_language())
        return Markup(questionnaire_cache.fragment(self.questionnaire, parts, build))


def lowest_level(answers: Iterable[Any]) -> int | None:
    """The lowest satisfaction level among a response's answers (None when it gave none)."""
    return min((a.level for a in answers if a.level is not None), default=None)


def _to_thanks(thanks: ThanksPage, submission_id: str, unit_ids: set[int | None],
               once_per_device: bool, lowest: int | None) -> ResponseReturnValue:
    """The thank-you page: itself when the page's script sent the answers, else a 303 to it
    (:mod:`survey.public.thanks`); the device ledger learns which units the response rated."""
    session[THANKS_KEY] = submission_id
    session[THANKS_LOWEST_KEY] = [submission_id, lowest, thanks.campaign_id]
    mine = [s for s in (session.get(MINE_KEY) or []) if s != submission_id]
    session[MINE_KEY] = (mine + [submission_id])[-MINE_KEEP:]
    if sent_by_script():
        reply = make_response(thanks_page.after_submit(thanks, submission_id, lowest))
    else:
        reply = redirect(thanks.url, code=303)
    if once_per_device:
        ledger = load_ledger()
        ledger.add(thanks.campaign_id, sorted(u for u in unit_ids if u is not None))
        store_ledger(reply, ledger)
    return reply


def _seconds_to_wait() -> int | None:
    """None while this address is inside RATELIMIT_SUBMIT; otherwise the seconds until it may submit.

    Counted by Flask-Limiter's storage (memory, or Redis when REDIS_URL is set) under a
    keyed hash of the address. If that storage is down, submissions go through: losing
    a citizen's answers is worse than a missed count.
    """
    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True):
        return None
    names = [n for n in (config.get("RATELIMIT_KEY_PREFIX"), "public-submit", client_key()) if n]
    try:
        for item in parse_many(config["RATELIMIT_SUBMIT"]):
            if not limiter.limiter.hit(item, *names):
                reset_at = limiter.limiter.get_window_stats(item, *names).reset_time
                return max(1, int(reset_at - time.time()) + 1)
    except Exception:  # a storage outage must not lose a response
        log.warning("rate-limit storage unavailable; submission allowed", exc_info=True)
    return None


def _duration(started: str | None) -> int | None:
    """Seconds from opening the page to submitting it, when the page said when it was opened."""
    if not started or not started.isdecimal() or len(started) > 12:
        return None
    seconds = int(time.time()) - int(started)
    return seconds if 0 <= seconds <= MAX_DURATION else None
