"""The organisation's clock: dates and times in the organisation's time zone (stored times are UTC)."""
from __future__ import annotations

import datetime as dt

from babel.dates import get_timezone


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
    from flask import current_app

    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def org_today(now: dt.datetime | None = None) -> dt.date:
    from survey.models import utcnow

    return local_date(now or utcnow(), org_timezone())
