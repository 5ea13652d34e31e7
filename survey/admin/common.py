"""The one way an admin page changes something: call the service, commit, or roll back and show why.

A service raises :class:`~survey.core.errors.DomainError` when input breaks a rule; nothing it
wrote survives (the whole request is one transaction). A page either shows the messages beside
their fields (``errors``) or flashes them (``flash_errors=True``) and shows the page again.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import flash
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from survey.core.errors import GENERAL, DomainError
from survey.extensions import db

T = TypeVar("T")


def save(action: Callable[[], T], *, success: str | Callable[[T], str] | None = None, category: str = "info",
         flash_errors: bool = False) -> tuple[T | None, dict[str, str]]:
    """Run ``action`` (a service call) and commit; returns its result and no errors.

    On a broken rule (or a row someone else just took), roll back and return None with the
    messages per field ("" = the whole form), flashed too when ``flash_errors``. On success,
    flash ``success`` (a text, or a function of the result) in ``category``.
    """
    try:
        result = action()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return None, _failed(exc.errors or {GENERAL: str(exc)}, flash_errors)
    except IntegrityError:
        db.session.rollback()
        return None, _failed({GENERAL: _("保存失败：数据刚被其他人修改（例如代码已被占用）。请刷新页面后重试。")},
                             flash_errors)
    if success is not None:
        flash(success(result) if callable(success) else success, category)
    return result, {}


def _failed(errors: dict[str, str], flash_errors: bool) -> dict[str, str]:
    if flash_errors:
        flash(_("；").join(errors.values()), "error")
    return errors
