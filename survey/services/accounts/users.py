"""Staff accounts: argon2id password hashes, roles, and the unit a contact is bound to."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.core import audit
from survey.core.errors import DomainError
from survey.extensions import db
from survey.models import Role, Unit, User, utcnow

MIN_PASSWORD_LENGTH = 10


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(
        time_cost=cfg["ARGON2_TIME_COST"],
        memory_cost=cfg["ARGON2_MEMORY_KIB"],
        parallelism=cfg["ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


# A fixed hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH: dict[tuple[int, int, int], str] = {}


def _dummy_hash() -> str:
    hasher = _hasher()
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _DUMMY_HASH:
        _DUMMY_HASH[key] = hasher.hash("not a real password")
    return _DUMMY_HASH[key]


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(_("密码至少需要 %(n)d 个字符。", n=MIN_PASSWORD_LENGTH))
    if password.strip() != password:
        raise DomainError(_("密码首尾不能是空格。"))


def create_user(
    session: Session,
    username: str,
    password: str,
    role: Role | str,
    unit_code: str | None = None,
    display_name: str | None = None,
    actor: User | None = None,
) -> User:
    """Create a staff account. Unit contacts and desk staff must be bound to a unit."""
    username = username.strip()
    if not username or len(username) > 64 or any(ch.isspace() for ch in username):
        raise DomainError(_("用户名不能为空、不能含空格，最长 64 个字符。"))
    try:
        role = Role(role)
    except ValueError as exc:
        raise DomainError(_("未知角色：%(role)s（可选 admin、analyst、unit、desk）", role=role)) from exc
    check_password_strength(password)
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise DomainError(_("用户名 %(name)s 已存在。", name=username))
    unit = None
    if role in (Role.UNIT, Role.DESK):
        if not unit_code:
            raise DomainError(_("单位联络员和窗口人员必须绑定单位。"))
        unit = session.scalar(select(Unit).where(Unit.code == unit_code))
        if unit is None:
            raise DomainError(_("没有代码为 %(code)s 的单位。", code=unit_code))
    elif unit_code:
        raise DomainError(_("只有单位联络员和窗口人员绑定单位。"))
    user = User(
        username=username,
        display_name=display_name,
        password_hash=hash_password(password),
        role=role,
        unit=unit,
        password_changed_at=utcnow(),
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", user, f"创建用户 {username}（{role.value}）", role=role.value,
                 unit=unit_code)
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this username and password, or None (same cost either way)."""
    user = session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
    hasher = _hasher()
    if user is None or not user.active:
        try:
            hasher.verify(_dummy_hash(), password)
        except VerificationError:
            pass
        return None
    try:
        hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def load_user_from_session_id(session_id: str) -> User | None:
    """Flask-Login loader: ``id:session_version``; a bumped version logs old sessions out."""
    try:
        raw_id, raw_version = session_id.split(":", 1)
        user_id, version = int(raw_id), int(raw_version)
    except (ValueError, AttributeError):
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.session_version != version:
        return None
    return user


def end_session(session: Session, user: User) -> None:
    """Signing out: every session cookie of ``user`` stops working, also a copy of this one.

    Flask's session lives in a signed cookie, so forgetting it in the browser alone would leave a
    copied cookie valid until it expires. Bumping ``session_version`` makes the loader refuse every
    cookie issued before; the user signs in again on each device (one sign-out ends them all).
    """
    user.session_version += 1
    session.commit()


def set_password(session: Session, user: User, password: str, actor: User | None = None) -> None:
    check_password_strength(password)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.session_version += 1
    audit.record(session, actor, "user.password", user, f"修改用户 {user.username} 的密码")
