"""Flask extensions, created unbound here and bound to the app in ``create_app``."""
from __future__ import annotations

import time
from typing import ClassVar

from flask import current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from limits.storage import MemoryStorage

from survey.models.base import Base


def client_address() -> str:
    """The address rate limits count by: the peer, or the first proxy hop we trust (ProxyFix)."""
    return request.remote_addr or "unknown"


def client_key() -> str:
    """What rate limits count by: a keyed, rotating hash of the client address, never the address.

    So neither the limiter's memory nor Redis ever holds a raw IP address.
    """
    from survey.services.responses import antiabuse

    config = current_app.config
    return antiabuse.address_key(config["SECRET_KEY"], client_address(),
                                 rotation_hours=config["FINGERPRINT_ROTATION_HOURS"])


class SweptMemoryStorage(MemoryStorage):
    """The limiter's in-process counters, with expired keys swept at most once a second, inline.

    ``limits``' own memory storage starts a ``threading.Timer`` after every hit whose previous
    timer has ended, and each timer sweeps every key (one per client address): under load that
    was a thread start and a full sweep per submission, ≈ 9 % of a worker's time. Counting is
    unchanged (a key read after its expiry is empty either way); only the housekeeping moves.
    ``RATELIMIT_STORAGE_URI`` defaults to ``pingyi-memory://``, this class; ``memory://`` still
    selects the library's own.
    """

    STORAGE_SCHEME: ClassVar[list[str]] = ["pingyi-memory"]
    SWEEP_SECONDS = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        self._next_sweep = 0.0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    # ``MemoryStorage`` calls ``self.__schedule_expiry()`` (name-mangled to this) outside its key
    # locks before every incr/decr/acquire; tests/public/test_rate_limit.py fails if a release
    # of ``limits`` renames it.
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_SECONDS
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
limiter = Limiter(key_func=client_key, default_limits=[])


@limiter.request_filter
def _citizen_pages() -> bool:
    """The citizens' pages declare no limits (the submit limit is counted where a questionnaire is taken,
    :func:`survey.public.questionnaire._seconds_to_wait`): the limiter passes them at once instead of
    resolving the limits of every request (about 3 % of a phone's time)."""
    return request.blueprint == "public"
