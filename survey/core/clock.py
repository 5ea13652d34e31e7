"""The organisation's clock: dates and times in the organisation's time zone (stored times are UTC).

Every time the site shows or exports goes through :func:`format_local` (templates: the
``|local_time`` filter), so pages, the xlsx/CSV exports and the audit trail all read in
the organisation's zone (set on the settings page; default ``PINGYI_TIMEZONE``, Asia/Shanghai); ``zone=True`` names
the zone (“北京时间”, or “Europe/Paris UTC+01:00”) where a reader could doubt it. The API
keeps ISO-8601 but with the organisation's offset (:func:`iso_local`: ``…T08:00:00+08:00``):
the same instant, readable by machines and matching what the pages show.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from babel.dates import format_datetime, get_timezone
from flask_babel import gettext as _

#: Zones whose name in Chinese is “北京时间” (China Standard Time, UTC+08:00, no daylight saving).
BEIJING_ZONES = frozenset({"Asia/Shanghai", "Asia/Chongqing", "Asia/Harbin", "Asia/Urumqi", "PRC"})


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)  # stored naive = UTC


def zone_label(tz_name: str, moment: dt.datetime | None = None) -> str:
    """The zone's name for readers: 北京时间 for China, else the zone and its UTC offset at ``moment``."""
    if tz_name in BEIJING_ZONES:
        from flask_babel import gettext

        return gettext("北京时间")
    local = _aware(moment or dt.datetime.now(dt.UTC)).astimezone(get_timezone(tz_name))
    offset = local.strftime("%z")
    return f"{tz_name} UTC{offset[:3]}:{offset[3:]}"


def format_local(moment: dt.datetime | None, tz_name: str, fmt: str = "yyyy-MM-dd HH:mm", zone: bool = False,
                 locale: Any = None) -> str:
    """A stored (UTC) time as the organisation's wall-clock time, in a Babel pattern; "" for None.

    ``zone=True`` appends the zone's name in parentheses: ``2026-12-07 05:16（北京时间）``.
    """
    if moment is None:
        return ""
    text = format_datetime(_aware(moment), fmt, tzinfo=get_timezone(tz_name), locale=locale or "zh_CN")
    return _("%(time)s（%(zone)s）", time=text, zone=zone_label(tz_name, moment)) if zone else text


def iso_local(moment: dt.datetime | None, tz_name: str) -> str | None:
    """ISO-8601 with the organisation's offset (the API's times); None for None."""
    return _aware(moment).astimezone(get_timezone(tz_name)).isoformat() if moment is not None else None


def local_date(moment: dt.datetime, tz_name: str) -> dt.date:
    """The calendar day of an aware timestamp in the organisation's time zone."""
    return moment.astimezone(get_timezone(tz_name)).date()


def local_moment(day: dt.date, hour: int, tz_name: str) -> dt.datetime:
    """An aware timestamp at ``hour`` o'clock of ``day`` in the organisation's time zone."""
    tz = get_timezone(tz_name)
    naive = dt.datetime.combine(day, dt.time(hour))
    localize = getattr(tz, "localize", None)  # pytz zones need localize(), zoneinfo takes tzinfo=
    return localize(naive) if localize else naive.replace(tzinfo=tz)


def org_timezone() -> str:
    """The organisation's zone: the settings page's (read once per request), else ``PINGYI_TIMEZONE``."""
    from survey.core import settings

    return settings.org_timezone()


def org_today(now: dt.datetime | None = None) -> dt.date:
    from survey.models import utcnow

    return local_date(now or utcnow(), org_timezone())
