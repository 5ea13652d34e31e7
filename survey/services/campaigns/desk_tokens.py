"""Single-use transaction codes for the window desk (一事一评).

A clerk's "next person" issues a :class:`DeskToken` row (campaign, window, staff member,
issued and expiry time, a random nonce). The QR code carries the nonce signed with the
site's secret (itsdangerous, own salt), so codes cannot be guessed or forged, and the
row decides the rest: a code expires after ``DESK_TOKEN_MINUTES`` (default 30), and the
first response consumes it in the same transaction as the response insert, so a
second scan, or two phones submitting at once, store exactly one rating.
"""
from __future__ import annotations

import datetime as dt
import enum
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from survey.models import Campaign, CampaignUnit, DeskToken, User, utcnow

SALT = "pingyi.desk-token"


class TokenState(str, enum.Enum):
    VALID = "valid"  # waiting for the citizen's rating
    USED = "used"  # rated: a second use gets "already rated"
    EXPIRED = "expired"
    INVALID = "invalid"  # not ours: bad signature, unknown nonce


class TokenAlreadyUsed(Exception):
    """The code was consumed (or expired) between opening the questionnaire and submitting it."""


@dataclass(frozen=True)
class Lookup:
    state: TokenState
    token: DeskToken | None = None


class _IssuedAtSigner(TimestampSigner):
    """Stamps the code's issue time rather than "now": one transaction's code is one string,
    however often the desk page is refreshed."""

    def __init__(self, *args: object, issued_at: int = 0, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._issued_at = issued_at

    def get_timestamp(self) -> int:
        return self._issued_at


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def sign(secret_key: str, token: DeskToken) -> str:
    """The URL-safe string the QR code carries: the nonce and issue time, signed with the site's secret."""
    serializer = URLSafeTimedSerializer(secret_key, salt=SALT, signer=_IssuedAtSigner,
                                        signer_kwargs={"issued_at": int(token.issued_at.timestamp())})
    return serializer.dumps(token.nonce)


def issue(session: Session, campaign_unit: CampaignUnit, staff: User, minutes: int,
          now: dt.datetime | None = None, device_id: str | None = None) -> DeskToken:
    """A fresh code for the next transaction at ``campaign_unit``'s window, served by ``staff``
    on the desk device ``device_id``."""
    now = now or utcnow()
    token = DeskToken(
        nonce=secrets.token_urlsafe(16),
        campaign_id=campaign_unit.campaign_id,
        unit_id=campaign_unit.unit_id,
        staff_user_id=staff.id,
        issued_at=now,
        expires_at=now + dt.timedelta(minutes=max(1, minutes)),
        device_id=device_id,
    )
    session.add(token)
    session.flush()
    return token


def state_of(token: DeskToken, now: dt.datetime | None = None) -> TokenState:
    now = now or utcnow()
    if token.used_at is not None:
        return TokenState.USED
    if token.expires_at <= now:
        return TokenState.EXPIRED
    return TokenState.VALID


def lookup(session: Session, secret_key: str, signed: str, now: dt.datetime | None = None) -> Lookup:
    """What a scanned code is: a valid, used, expired or foreign token."""
    try:
        nonce = _serializer(secret_key).loads(signed)
    except BadSignature:
        return Lookup(TokenState.INVALID)
    if not isinstance(nonce, str):
        return Lookup(TokenState.INVALID)
    token = session.scalar(
        select(DeskToken).options(joinedload(DeskToken.unit)).where(DeskToken.nonce == nonce)
    )
    if token is None:
        return Lookup(TokenState.INVALID)
    return Lookup(state_of(token, now), token)


def consume(session: Session, token_id: int, now: dt.datetime | None = None, *,
            any_expiry: bool = False) -> None:
    """Mark the code used inside the caller's transaction, or raise :class:`TokenAlreadyUsed`.

    A conditional UPDATE, so of two concurrent submissions exactly one sees its row
    change: the other's transaction is rolled back by the caller and stores nothing.
    ``any_expiry``: an expired code is consumed too (a questionnaire opened before the code
    expired is never lost; the desk link flags it when it comes past the grace period).
    """
    now = now or utcnow()
    conditions = [DeskToken.id == token_id, DeskToken.used_at.is_(None)]
    if not any_expiry:
        conditions.append(DeskToken.expires_at > now)
    result = session.execute(
        update(DeskToken)
        .where(*conditions)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise TokenAlreadyUsed(token_id)


def campaign_unit_of(session: Session, token: DeskToken) -> CampaignUnit | None:
    """The campaign's entry for the code's window (None if the window has left the campaign)."""
    return session.scalar(
        select(CampaignUnit).options(joinedload(CampaignUnit.campaign), joinedload(CampaignUnit.unit))
        .where(CampaignUnit.campaign_id == token.campaign_id, CampaignUnit.unit_id == token.unit_id)
    )


def latest_for(session: Session, staff: User, campaign: Campaign) -> DeskToken | None:
    """The code this clerk issued last for this campaign: what the desk screen shows."""
    return session.scalar(
        select(DeskToken)
        .where(DeskToken.staff_user_id == staff.id, DeskToken.campaign_id == campaign.id)
        .order_by(DeskToken.issued_at.desc(), DeskToken.id.desc())
        .limit(1)
    )


def owned_by(session: Session, token_id: int, staff: User) -> DeskToken | None:
    """A token only its issuer may watch (the status poll); anyone else gets nothing."""
    token = session.get(DeskToken, token_id)
    if token is None or token.staff_user_id != staff.id:
        return None
    return token
