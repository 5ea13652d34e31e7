"""Citizen pages rendered once per process: the questionnaire's fresh page and the thank-you page.

Such a page depends only on the published questionnaire version and what :func:`page_once` keys it
by; what is the visitor's own (the CSRF token, a submission id) is put in place of a mark on the way
out (URL-safe tokens and digits: nothing to escape) by :meth:`survey.assets.HoledPage.respond`, which
also sends it compressed without compressing it again."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request, session, url_for

from survey.assets import HoledPage
from survey.i18n import current_language, org_name
from survey.models import Questionnaire
from survey.services.questionnaires import cache as questionnaire_cache

CSRF_MARK = "@@pingyi-csrf@@"


def plain_request() -> bool:
    """A GET with no query and no message waiting for this browser: the page every visitor gets."""
    return request.method == "GET" and not request.args and no_message_waiting()


def no_message_waiting() -> bool:
    """No flashed message waits for this browser (a page that would show one is its own)."""
    return "_flashes" not in session


def page_once(questionnaire: Questionnaire, parts: tuple[Any, ...], build: Callable[[], str],
              path: str | None = None, marks: tuple[str, ...] = ()) -> HoledPage:
    """A citizen's page rendered once per process (per published version) for ``parts`` and what every
    citizen page shows: its path (``path``, by default the request's), the language, the organisation's
    name and the asset URLs. ``marks``: where the visitor's own values go, besides :data:`CSRF_MARK`."""
    key = (path or request.path, current_language(), org_name(), url_for("static", filename="css/app.css"),
           url_for("static", filename="js/questionnaire.js"), *parts)
    return questionnaire_cache.fragment(questionnaire, key, lambda: HoledPage(build(), (CSRF_MARK, *marks)))
