"""Configuration from the environment.

Every setting the site reads is listed here and documented, with every other environment
variable, in docs/configuration.md (several hosts: docs/operations.md). Nothing secret has a
fallback literal: the secret key is taken from ``SECRET_KEY`` or generated once into the
instance folder.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import ClassVar


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:  # a typo in the environment must stop start-up loudly
        raise RuntimeError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise RuntimeError(f"environment variable {name} must be a number, got {raw!r}") from exc


def load_or_create_secret(instance_path: str, name: str = "secret_key") -> str:
    """Return the secret stored in the instance folder, creating it (mode 0600) on first run."""
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if path.exists():
        value = path.read_text(encoding="ascii").strip()
        if len(value) >= 32:
            return value
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value + "\n")
    return value


def normalise_database_url(url: str) -> str:
    """Accept the URLs hosting platforms hand out (postgres://, postgresql://) and use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    """Production defaults; every value may be overridden by the environment."""

    ENV_NAME = os.environ.get("PINGYI_ENV", "development")
    SECRET_KEY: str | None = os.environ.get("SECRET_KEY") or None
    SQLALCHEMY_DATABASE_URI: str | None = os.environ.get("DATABASE_URL") or None
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {}
    REDIS_URL: str | None = os.environ.get("REDIS_URL") or None

    # Sessions and cookies. Secure cookies whenever the site is served over TLS.
    SECURE_COOKIES = _bool(os.environ.get("PINGYI_SECURE_COOKIES"), default=ENV_NAME == "production")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_NAME = "pingyi_session"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = _int("PINGYI_SESSION_HOURS", 12) * 3600

    # Forms: a questionnaire may stay open on a phone for a long time; an expired
    # token is handled gracefully by the public blueprint, never a bare 400.
    WTF_CSRF_TIME_LIMIT = _int("PINGYI_CSRF_SECONDS", 3600)

    # Language and time.
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = os.environ.get("PINGYI_TIMEZONE", "Asia/Shanghai")
    LANGUAGES = ("zh", "en")

    # Password hashing: argon2id (RFC 9106 second recommended option by default).
    ARGON2_TIME_COST = _int("PINGYI_ARGON2_TIME_COST", 3)
    ARGON2_MEMORY_KIB = _int("PINGYI_ARGON2_MEMORY_KIB", 65536)
    ARGON2_PARALLELISM = _int("PINGYI_ARGON2_PARALLELISM", 4)

    # Rate limits (Flask-Limiter); Redis when REDIS_URL is set, else per process memory.
    RATELIMIT_ENABLED = _bool(os.environ.get("PINGYI_RATELIMIT_ENABLED"), default=True)
    RATELIMIT_SUBMIT = os.environ.get("PINGYI_RATELIMIT_SUBMIT", "30 per minute;300 per hour")
    RATELIMIT_LOGIN = os.environ.get("PINGYI_RATELIMIT_LOGIN", "10 per minute;50 per hour")
    RATELIMIT_HEADERS_ENABLED = True
    # Redis down: staff login keeps a per-process limit in memory instead of failing with a 500.
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True

    # Ballot stuffing (survey.services.responses.antiabuse): the fingerprint's key rotates every so many
    # hours; more than BURST_MAX_RESPONSES from one fingerprint to one campaign within
    # BURST_WINDOW_MINUTES are stored flagged for analysts (never refused or deleted).
    # These rules apply to poster and web links only; single-use desk codes and invitations have their
    # own (README, "Anti-abuse"). Sized for a busy hall behind one Wi-Fi: identical phone models share
    # a fingerprint, so the per-fingerprint rule allows 10, the per-address rule 30, and more than 8
    # different User-Agents from one address within the window is a script rotating them.
    FINGERPRINT_ROTATION_HOURS = _int("PINGYI_FINGERPRINT_ROTATION_HOURS", 24)
    BURST_MAX_RESPONSES = _int("PINGYI_BURST_MAX_RESPONSES", 10)
    BURST_WINDOW_MINUTES = _int("PINGYI_BURST_WINDOW_MINUTES", 10)
    ADDRESS_BURST_MAX_RESPONSES = _int("PINGYI_ADDRESS_BURST_MAX_RESPONSES", 30)
    UA_ROTATION_MAX_AGENTS = _int("PINGYI_UA_ROTATION_MAX_AGENTS", 8)
    # Days a consented follow-up phone number is kept at most (deleted earlier when its case closes).
    FOLLOW_UP_RETENTION_DAYS = _int("PINGYI_FOLLOW_UP_DAYS", 90)
    # Retention (``flask retention``, daily from cron; docs/operations.md): response fingerprints are
    # cleared after so many days (enough to review a burst); invitation phone numbers (SMS merge only) are
    # deleted so many days after their campaign closes.
    FINGERPRINT_RETENTION_DAYS = _int("PINGYI_FINGERPRINT_RETENTION_DAYS", 30)
    INVITATION_PHONE_RETENTION_DAYS = _int("PINGYI_INVITATION_PHONE_DAYS", 30)

    # Public base URL printed in QR codes and posters, e.g. https://pingyi.example.gov.cn
    # (Default only: analysts may set it on /admin/settings/ without a restart.)
    PUBLIC_BASE_URL: str | None = os.environ.get("PINGYI_PUBLIC_BASE_URL") or None
    # The organisation's name in page headers and on the public home page (default; also on /admin/settings/).
    ORG_NAME: str | None = os.environ.get("PINGYI_ORG_NAME") or None

    # The window desk's single-use codes (一事一评).
    DESK_TOKEN_MINUTES = _int("PINGYI_DESK_TOKEN_MINUTES", 30)
    # Desk integrity (README, "Anti-abuse"): a rating sent less than DESK_MIN_SECONDS after its code was
    # issued, or by a phone that rated the same window within DESK_REPEAT_HOURS, is flagged; a code that
    # expires while its questionnaire is open is still accepted DESK_GRACE_MINUTES after expiry (later:
    # stored flagged, never dropped).
    DESK_MIN_SECONDS = _int("PINGYI_DESK_MIN_SECONDS", 8)
    DESK_REPEAT_HOURS = _int("PINGYI_DESK_REPEAT_HOURS", 24)
    DESK_GRACE_MINUTES = _int("PINGYI_DESK_GRACE_MINUTES", 30)
    # The per-clerk anomaly rule: the clerk's mean satisfaction level (1-5) at a window exceeds the same
    # window's poster ratings by more than DESK_ANOMALY_GAP, each side with at least DESK_ANOMALY_MIN_N ratings.
    DESK_ANOMALY_GAP = _float("PINGYI_DESK_ANOMALY_GAP", 0.5)
    DESK_ANOMALY_MIN_N = _int("PINGYI_DESK_ANOMALY_MIN_N", 20)
    # Working days a unit has to handle a 差评 or comment.
    CASE_DEADLINE_WORKING_DAYS = _int("PINGYI_CASE_DEADLINE_DAYS", 15)

    # Largest request body (uploaded unit lists, questionnaire files); larger gets a friendly 413.
    MAX_CONTENT_LENGTH = _int("PINGYI_UPLOAD_MAX_MB", 10) * 1024 * 1024

    TESTING = False


class TestConfig(Config):
    """Used by the test suite: its own database per test, cheap password hashing."""

    TESTING = True
    ENV_NAME = "test"
    SECURE_COOKIES = False
    RATELIMIT_ENABLED = False
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_KIB = 1024  # 0.5 ms a hash (8 MiB: 5 ms, for every account the tests make and sign in)
    ARGON2_PARALLELISM = 1
