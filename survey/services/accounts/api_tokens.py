"""Bearer tokens for the JSON API (the performance-management system pulls results with one).

Rules: a token is shown once, when it is created; only its SHA-256 is stored, with a
short prefix so people can tell tokens apart. A revoked token stops working at once.
Creating and revoking are audited. Authentication compares hashes in constant time and
records when a token was last used (at most once a minute, to spare the database).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.core.audit import record
from survey.core.errors import DomainError
from survey.models import ApiToken, User, utcnow

PREFIX = "pyk_"
SCOPE_RESULTS = "results:read"
MAX_NAME = 100
TOUCH_EVERY = dt.timedelta(minutes=1)


def _hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create(session: Session, user: User | None, name: str) -> tuple[ApiToken, str]:
    """A new token named ``name``; returns it and its plaintext (shown once, never stored)."""
    name = (name or "").strip()
    if not name:
        raise DomainError(_("请填写令牌名称（例如“绩效管理系统”）。"))
    if len(name) > MAX_NAME:
        raise DomainError(_("令牌名称最长 %(n)d 个字。", n=MAX_NAME))
    plaintext = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_hash=_hash(plaintext), prefix=plaintext[:12], scopes=[SCOPE_RESULTS],
                     created_by_id=getattr(user, "id", None))
    session.add(token)
    session.flush()
    record(session, user, "api_token.create", token, _("创建了接口令牌“%(n)s”（%(p)s…）", n=name, p=token.prefix))
    return token, plaintext


def revoke(session: Session, user: User | None, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record(session, user, "api_token.revoke", token, _("吊销了接口令牌“%(n)s”（%(p)s…）", n=token.name, p=token.prefix))


def tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())))


def authenticate(session: Session, header: str | None) -> ApiToken | None:
    """The live token named by an ``Authorization: Bearer …`` header, or None."""
    if not header or not header.startswith("Bearer "):
        return None
    plaintext = header[len("Bearer "):].strip()
    if not plaintext.startswith(PREFIX) or len(plaintext) > 100:
        return None
    digest = _hash(plaintext)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or token.revoked_at is not None or not hmac.compare_digest(token.token_hash, digest):
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        token.last_used_at = now
        session.commit()
    return token
