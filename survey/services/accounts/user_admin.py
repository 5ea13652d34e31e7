"""Administrators manage staff accounts: create, deactivate, reset passwords, change roles.

Every change is audited. Deactivating, resetting a password, changing a role or unit,
and "sign out everywhere" bump the account's session version, so every cookie issued
before stops working at once. An administrator cannot deactivate or demote themself
(the site must keep someone who can manage accounts).
"""
from __future__ import annotations

import secrets

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.core import audit
from survey.core.errors import DomainError
from survey.models import Role, Unit, User
from survey.services.accounts.users import set_password

GENERATED_LENGTH = 14
# Without 0/O, 1/l/I: a one-time password is read off a screen and typed in.
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"


def generate_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_LENGTH))


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.active.desc(), User.role, User.username)))


def _check_not_self(user: User, actor: User, what: str) -> None:
    if user.id == actor.id:
        raise DomainError(_("不能%(what)s自己的账号。", what=what))


def _admins_left(session: Session, without: User) -> int:
    return session.scalar(
        select(func.count()).select_from(User)
        .where(User.role == Role.ADMIN, User.active.is_(True), User.id != without.id)
    ) or 0


def set_active(session: Session, user: User, active: bool, actor: User) -> None:
    if user.active == active:
        return
    if not active:
        _check_not_self(user, actor, _("停用"))
    user.active = active
    user.session_version += 1
    audit.record(session, actor, "user.activate" if active else "user.deactivate", user,
                 f"{'启用' if active else '停用'}用户 {user.username}")


def reset_password(session: Session, user: User, actor: User, password: str | None = None) -> str:
    """Set the given password, or a generated one shown once to the administrator."""
    password = password or generate_password()
    set_password(session, user, password, actor=actor)  # checks strength, bumps the version, audits
    return password


def change_role(session: Session, user: User, role: Role | str, unit_id: int | None, actor: User) -> None:
    """Change role and unit together: unit contacts and desk staff need a unit, the others none."""
    try:
        role = Role(role)
    except ValueError as exc:
        raise DomainError(_("未知角色。")) from exc
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    if role in (Role.UNIT, Role.DESK):
        if unit is None:
            raise DomainError(_("单位联络员和窗口人员必须绑定单位。"))
    else:
        unit = None
    if user.role == role and user.unit_id == (unit.id if unit else None):
        return
    if user.id == actor.id:
        raise DomainError(_("不能修改自己的角色。"))
    if user.role == Role.ADMIN and role != Role.ADMIN and _admins_left(session, user) == 0:
        raise DomainError(_("这是最后一个管理员账号，不能改为其他角色。"))
    before = (user.role.value, user.unit.code if user.unit else None)
    user.role = role
    user.unit = unit
    user.session_version += 1
    audit.record(session, actor, "user.role", user, f"用户 {user.username} 改为 {role.value}",
                 before={"role": before[0], "unit": before[1]}, after={"role": role.value, "unit": unit.code if unit else None})


def sign_out_everywhere(session: Session, user: User, actor: User) -> None:
    user.session_version += 1
    audit.record(session, actor, "user.sign_out", user, f"使用户 {user.username} 在所有设备上退出登录")
