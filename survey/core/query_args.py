"""Reading list filters from query-string arguments: anything malformed is ignored, never an error.

The one way a filter (the case list, the response browser) reads its arguments and writes them back
into links.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any


def int_arg(args: Mapping[str, Any], name: str, max_digits: int = 11) -> int | None:
    """A non-negative whole number of at most ``max_digits`` digits, else None."""
    raw = (args.get(name) or "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= max_digits else None


def choice_arg(args: Mapping[str, Any], name: str, allowed: Collection[str]) -> str | None:
    """One of ``allowed``, else None."""
    value = args.get(name) or None
    return value if value in allowed else None


def day_arg(args: Mapping[str, Any], name: str) -> dt.date | None:
    """An ISO date between the years 1900 and 2999 (year 1 or 9999 would overflow in a time zone)."""
    try:
        value = dt.date.fromisoformat((args.get(name) or "").strip()[:10])
    except ValueError:
        return None
    return value if 1900 <= value.year <= 2999 else None


def text_arg(args: Mapping[str, Any], name: str, max_length: int) -> str | None:
    """Trimmed text cut to ``max_length``; blank is None."""
    return (args.get(name) or "").strip()[:max_length] or None


def page_arg(args: Mapping[str, Any]) -> int:
    return max(int_arg(args, "page") or 1, 1)


def link_args(values: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments worth writing into a link: the ones that are set."""
    return {k: v for k, v in values.items() if v not in (None, "")}
