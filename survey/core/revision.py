"""What a worker builds from the rows the citizen's pages are made of, kept until they change.

Every change to a campaign, campaign unit, unit, questionnaire, setting or working-day calendar day
(``holiday``) gives the one row of ``site_revision`` a new random token, in the same transaction, by
triggers (migrations 0010 and 0011): every writer counts, the app, the command line and psql alike.
A request reads the token once (one row); :func:`cached` keeps values under the token it was read
with and drops them all as soon as a request reads another. A short code's campaign and unit
(:func:`survey.services.campaigns.lookup.resolve_code`), the stored settings
(:func:`survey.core.settings.current`) and the working-day calendar
(:func:`survey.services.cases.calendar.kept_exceptions`) are kept this way, so that a citizen's page
reads one row instead of five tables and a 差评's deadline reads no calendar.

Why it is right: a token is random, so it names one committed state of those tables; what is cached
under it was read at that state or later, and a request that reads the token after a change committed
reads the new one. A database restored from an older copy brings its older token back together with
the rows it named. No row (a database emptied by hand) or no request: nothing is cached. A request that
changed one of those tables itself calls :func:`forget` and reads the database for the rest of it.

Cached values are shared by the worker's threads: they must be immutable or treated as such (ORM
objects detached from every session, fully loaded, never changed, never lazy-loading).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")

MAX_ENTRIES = 4096  # short codes (and misses) of one revision; the oldest goes first
_TOKEN = "pingyi.revision"
_SQL = "SELECT token FROM site_revision WHERE id = 1"
# PostgreSQL bumps the token at commit: a transaction that has changed those tables itself (marked by a
# statement trigger, local to it) reads no token, so that it never sees a cache older than its own writes.
_SQL_POSTGRESQL = ("SELECT CASE WHEN current_setting('pingyi.site_dirty', true) = 'y' THEN NULL ELSE token END "
                   "FROM site_revision WHERE id = 1")
_UNREAD = object()

#: Where a request keeps what it read once: survey.i18n points this at the request's WSGI environ;
#: None (commands, tests outside a request) means nothing is kept, and nothing cached.
request_store: Callable[[], dict | None] = lambda: None

_lock = threading.Lock()
_seen: int | None = None
_entries: dict[Hashable, Any] = {}


def token(session: Session) -> int | None:
    """This request's site revision, read once per request; None: cache nothing."""
    store = request_store()
    if store is None:
        return None
    value = store.get(_TOKEN, _UNREAD)
    if value is _UNREAD:
        conn = session.connection()
        value = store[_TOKEN] = conn.exec_driver_sql(
            _SQL_POSTGRESQL if conn.dialect.name == "postgresql" else _SQL).scalar()
    return value


def cached(session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """``load()``'s value for ``key`` at this request's revision: built once per worker and revision."""
    global _seen
    current = token(session)
    if current is None:
        return load()
    with _lock:
        if _seen != current:
            _entries.clear()
            _seen = current
        elif key in _entries:
            return _entries[key]
    value = load()
    with _lock:
        if _seen == current:
            _entries[key] = value
            if len(_entries) > MAX_ENTRIES:
                del _entries[next(iter(_entries))]
    return value


def forget() -> None:
    """This request changed what is cached: for the rest of it, read the database."""
    store = request_store()
    if store is not None:
        store[_TOKEN] = None


def clear() -> None:
    """Forget everything cached in this process (tests; never needed for correctness)."""
    global _seen
    with _lock:
        _entries.clear()
        _seen = None
