"""Desk integrity (一事一评): which desk ratings look like a clerk rating their own window.

Two devices are known, each by a random id in a signed, long-lived cookie that identifies
nobody:

* the **desk device**: set when the clerk opens the desk screen; each code records the
  device it was shown on (``DeskToken.device_id``);
* the citizen's **phone**: set when a desk code is opened; the response stores only a
  keyed hash of it per campaign (``Response.device_hash``).

A desk rating is stored *flagged* (never refused) with every reason that applies:

* ``desk_device``: sent from a desk device (any desk screen's cookie, or a signed-in desk clerk);
* ``desk_repeat``: the same phone already rated the same window in this campaign within
  ``DESK_REPEAT_HOURS`` (default 24);
* ``desk_fast``: less than ``DESK_MIN_SECONDS`` (default 8) between issuing the code and the
  submission: a clerk scanning their own screen and tapping 非常满意 takes about 3 s;
* ``desk_late``: sent more than ``DESK_GRACE_MINUTES`` (default 30) after the code expired
  (within the grace period a late rating is an ordinary one).

The per-address burst rules of poster links do not apply: each code is one transaction,
however many phones share a hall's Wi-Fi.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.models import Channel, DeskToken, Response, ResponseStatus, utcnow

DESK_DEVICE_COOKIE = "pingyi_desk_device"
PHONE_COOKIE = "pingyi_phone"
COOKIE_DAYS = 400
DESK_SALT = "pingyi.desk-device"
PHONE_SALT = "pingyi.phone-device"

DESK_DEVICE = "desk_device"
DESK_REPEAT = "desk_repeat"
DESK_FAST = "desk_fast"
DESK_LATE = "desk_late"


def new_device_id() -> str:
    return secrets.token_hex(16)


def sign_device(secret: str, device_id: str, salt: str) -> str:
    return URLSafeSerializer(secret, salt=salt).dumps(device_id)


def read_device(secret: str, raw: str | None, salt: str) -> str | None:
    """The device id in a signed cookie, or None (absent, tampered with, not ours)."""
    if not raw or len(raw) > 200:
        return None
    try:
        value = URLSafeSerializer(secret, salt=salt).loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, str) and len(value) == 32 else None


def device_hash(secret: str, device_id: str | None, campaign_id: int) -> str | None:
    """What a response stores of the phone's id: a keyed hash, different in every campaign."""
    if not device_id:
        return None
    return hmac.new(secret.encode(), f"pingyi.phone|{device_id}|{campaign_id}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class DeskRules:
    min_seconds: int = 8
    repeat_hours: int = 24
    grace_minutes: int = 30

    @classmethod
    def from_config(cls, config: dict) -> DeskRules:
        return cls(int(config.get("DESK_MIN_SECONDS", 8)), int(config.get("DESK_REPEAT_HOURS", 24)),
                   int(config.get("DESK_GRACE_MINUTES", 30)))


def past_grace(token: DeskToken, rules: DeskRules, now: dt.datetime | None = None) -> bool:
    """Whether the code expired longer ago than the grace period."""
    return (now or utcnow()) > token.expires_at + dt.timedelta(minutes=max(0, rules.grace_minutes))


def reasons(session: Session, token: DeskToken, rules: DeskRules, *, phone_hash: str | None,
            from_desk_device: bool, now: dt.datetime | None = None) -> list[str]:
    """The desk rules a rating on ``token`` breaks (reason codes; empty: an ordinary rating)."""
    now = now or utcnow()
    found = []
    if from_desk_device:
        found.append(DESK_DEVICE)
    if phone_hash:
        earlier = session.scalar(
            select(func.count(Response.id)).where(
                Response.campaign_id == token.campaign_id, Response.unit_id == token.unit_id,
                Response.channel == Channel.DESK, Response.device_hash == phone_hash,
                Response.status != ResponseStatus.EXCLUDED,
                Response.submitted_at >= now - dt.timedelta(hours=max(1, rules.repeat_hours)),
            )
        ) or 0
        if earlier:
            found.append(DESK_REPEAT)
    if (now - token.issued_at).total_seconds() < rules.min_seconds:
        found.append(DESK_FAST)
    if past_grace(token, rules, now):
        found.append(DESK_LATE)
    return found
