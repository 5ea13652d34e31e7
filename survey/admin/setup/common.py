"""Helpers shared by the setup pages: the analyst-only decorator (saving is ``survey.admin.common.save``),
reading lists from forms, and local times (the office's time zone) ⇄ stored UTC."""
from __future__ import annotations

import datetime as dt

from flask import flash, request
from flask_babel import get_timezone
from flask_babel import gettext as _

from survey.auth.decorators import roles_required
from survey.models import Role

analyst_only = roles_required(Role.ADMIN, Role.ANALYST)
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def form_ints(name: str) -> list[int]:
    """All integer values of a repeated form field (checkboxes); anything else is ignored."""
    values = []
    for raw in request.form.getlist(name):
        raw = raw.strip()
        if raw.isdigit() and len(raw) < 18:
            values.append(int(raw))
    return values


def form_int(name: str) -> int | None:
    values = form_ints(name)
    return values[0] if values else None


def local_to_utc(text: str | None) -> dt.datetime | None:
    """A datetime-local value in the office's time zone as an aware UTC datetime; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    for fmt in (LOCAL_INPUT, LOCAL_INPUT + ":%S", "%Y-%m-%d %H:%M"):
        try:
            naive = dt.datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    else:
        raise ValueError(_("时间格式应为 年-月-日 时:分，例如 2026-07-01 08:00。"))
    local = get_timezone().localize(naive)
    return local.astimezone(dt.UTC)


def utc_to_local_input(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(get_timezone()).strftime(LOCAL_INPUT)


def flash_created_groups(created: list[dict]) -> None:
    """Say which standard respondent groups a template brought along, and where to adjust them."""
    if created:
        flash(_("已按模板建立样本类别：%(names)s。目标占比可在“样本类别”中调整。",
                names=_("、").join(str(g["name"]) for g in created)), "info")
