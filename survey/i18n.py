"""Language: Chinese by default, English on request (``?lang=en``, remembered in a cookie)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from flask import Flask, current_app, has_request_context, request
from flask_babel import get_locale, get_translations
from jinja2 import pass_context
from markupsafe import Markup

from survey.core import clock, labels
from survey.models.base import utcnow

LANG_COOKIE = "pingyi_lang"


def select_locale() -> str:
    if not has_request_context():  # CLI and background work speak the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    languages = current_app.config["LANGUAGES"]
    asked = request.args.get("lang")
    if asked in languages:
        return asked
    remembered = request.cookies.get(LANG_COOKIE)
    if remembered in languages:
        return remembered
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    """Flask-Babel's zone (``get_timezone()``, ``format_datetime``): the organisation's, from the settings page."""
    return clock.org_timezone()


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale else "zh"


def localized(obj: Any, field: str) -> str:
    """The English variant of a stored text when English is selected and one exists."""
    if current_language() == "en":
        english = getattr(obj, f"{field}_en", None)
        if english:
            return english
    return getattr(obj, field) or ""


def language_url(language: str, keep: Iterable[tuple[str, str]] = (), path: str | None = None) -> str:
    """This page in another language: same path and query string, ``lang`` replaced.

    ``keep`` adds parameters a POSTed page needs to be itself again (an appraisal's units); ``path``:
    the page's own address when it answers a request to another (the thank-you page answering a
    submission), without the request's query.
    """
    if path is not None:
        return path + "?" + urlencode([("lang", language)])
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    args += [item for item in keep if item not in args]
    return request.path + "?" + urlencode(args + [("lang", language)])


def local_time_filter(value: Any, fmt: str = "yyyy-MM-dd HH:mm", zone: bool = False) -> str:
    """``{{ snapshot.created_at|local_time }}``: a stored (UTC) time in the organisation's zone;
    ``zone=True`` names the zone. The one way templates show a time."""
    return clock.format_local(value, clock.org_timezone(), fmt, zone=zone, locale=get_locale())


def org_name() -> str | None:
    """The organisation's name for page headers (settings page, default PINGYI_ORG_NAME); None when unset
    or when the database cannot be read (an error page must still render)."""
    from sqlalchemy.exc import SQLAlchemyError

    from survey.core import settings

    try:
        return settings.org_name()
    except SQLAlchemyError:
        return None


@pass_context
def label_filter(_context: Any, value: Any, kind: str) -> str:
    """``{{ campaign.status|label('campaign_status') }}``: the one wording of a coded value.

    It takes the context only so that Jinja cannot fold ``{{ 'pending'|label('grade_note') }}`` into a
    constant when it compiles the template: that would freeze the language of the first page rendered."""
    return labels.label(kind, value)


def template_translations() -> dict[str, Any]:
    """The templates' ``_()``, ``gettext`` and ``ngettext`` bound to this render's catalogue.

    Flask-Babel's installed callables look the catalogue up again (context, locale, cache) at every
    call, and a page makes dozens; a context processor hands each render the catalogue once. They
    behave as Jinja's "newstyle" gettext: the string is escaped by autoescaping and always formatted
    with its keyword arguments. Macros imported without context keep Flask-Babel's callables.
    """
    translations = get_translations()

    @pass_context
    def gettext(context: Any, string: str, /, **variables: Any) -> str:
        text = translations.ugettext(string)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    @pass_context
    def ngettext(context: Any, singular: str, plural: str, num: int, /, **variables: Any) -> str:
        variables.setdefault("num", num)
        text = translations.ungettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return {"gettext": gettext, "ngettext": ngettext}


def _request_store() -> dict | None:
    return request.environ if has_request_context() else None


def register(app: Flask) -> None:
    from survey.core import revision

    revision.request_store = _request_store  # the site settings and short codes are read once per request
    @app.after_request
    def remember_language(response):
        asked = request.args.get("lang")
        if asked in app.config["LANGUAGES"] and request.cookies.get(LANG_COOKIE) != asked:
            response.set_cookie(
                LANG_COOKIE, asked, max_age=365 * 24 * 3600, samesite="Lax",
                secure=app.config["SESSION_COOKIE_SECURE"], httponly=True,
            )
        return response

    # Globals, not a context processor, so imported macros see them too.
    app.jinja_env.globals.update(
        current_language=current_language, loc=localized, now_utc=utcnow, language_url=language_url,
        label_choices=labels.choices, org_name=org_name,
    )
    app.jinja_env.filters["label"] = label_filter
    app.context_processor(template_translations)
    app.jinja_env.filters["local_time"] = local_time_filter
