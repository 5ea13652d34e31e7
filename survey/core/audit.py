"""The audit trail: every change of setup, weighting, publication, cases and users is recorded.

Rows are only ever added; analysts read them filtered and export them.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from survey.models import AuditLog, User


def record(
    session: Session,
    user: User | None,
    action: str,
    obj: Any = None,
    summary: str | None = None,
    **detail: Any,
) -> AuditLog:
    """Add an audit row in the caller's transaction (so it commits or rolls back with the change)."""
    entry = AuditLog(
        user_id=user.id if user is not None and getattr(user, "id", None) else None,
        action=action,
        object_type=type(obj).__name__ if obj is not None else None,
        object_id=str(getattr(obj, "id", "")) if obj is not None else None,
        summary=summary,
        detail=detail,
    )
    session.add(entry)
    return entry


# --- reading the trail (analysts' audit page and export) -------------------------------------

PER_PAGE = 100
EXPORT_LIMIT = 100_000


@dataclass
class AuditFilter:
    """What the analyst is looking for; dates are local days in the organisation's time zone."""

    action: str | None = None  # exact action, or a prefix ending in "." (e.g. "case.")
    user_id: int | None = None
    object_type: str | None = None
    object_id: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> AuditFilter:
        """Read the filter from query arguments; malformed values are ignored, never an error."""
        def day(name: str) -> dt.date | None:
            try:
                return dt.date.fromisoformat((args.get(name) or "").strip())
            except ValueError:
                return None

        user = (args.get("user") or "").strip()
        page = (args.get("page") or "").strip()
        return cls(
            action=(args.get("action") or "").strip()[:64] or None,
            user_id=int(user) if user.isdigit() and len(user) < 12 else None,
            object_type=(args.get("object_type") or "").strip()[:40] or None,
            object_id=(args.get("object_id") or "").strip()[:64] or None,
            date_from=day("from"), date_to=day("to"),
            page=int(page) if page.isdigit() and 0 < len(page) < 7 and int(page) > 0 else 1,
        )

    def as_args(self, **changes: Any) -> dict[str, Any]:
        values = {"action": self.action, "user": self.user_id, "object_type": self.object_type,
                  "object_id": self.object_id, "from": self.date_from.isoformat() if self.date_from else None,
                  "to": self.date_to.isoformat() if self.date_to else None}
        values.update(changes)
        return {k: v for k, v in values.items() if v not in (None, "")}


def _query(f: AuditFilter, tz_name: str) -> Select:
    from survey.core.clock import local_moment

    stmt = select(AuditLog)
    if f.action:
        if f.action.endswith("."):
            stmt = stmt.where(AuditLog.action.startswith(f.action, autoescape=True))
        else:
            stmt = stmt.where(AuditLog.action == f.action)
    if f.user_id is not None:
        stmt = stmt.where(AuditLog.user_id == f.user_id)
    if f.object_type:
        stmt = stmt.where(AuditLog.object_type == f.object_type)
    if f.object_id:
        stmt = stmt.where(AuditLog.object_id == f.object_id)
    if f.date_from:
        stmt = stmt.where(AuditLog.at >= local_moment(f.date_from, 0, tz_name))
    if f.date_to:
        stmt = stmt.where(AuditLog.at < local_moment(f.date_to + dt.timedelta(days=1), 0, tz_name))
    return stmt.order_by(AuditLog.at.desc(), AuditLog.id.desc())


@dataclass
class AuditPage:
    entries: list[AuditLog]
    users: dict[int, User]
    total: int
    page: int
    pages: int


def search(session: Session, f: AuditFilter, tz_name: str, per_page: int = PER_PAGE) -> AuditPage:
    stmt = _query(f, tz_name)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(f.page, pages)
    entries = list(session.scalars(stmt.offset((page - 1) * per_page).limit(per_page)))
    ids = {e.user_id for e in entries if e.user_id is not None}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return AuditPage(entries, users, total, page, pages)


def known_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action)))


def known_object_types(session: Session) -> list[str]:
    return [t for t in session.scalars(select(AuditLog.object_type).distinct().order_by(AuditLog.object_type)) if t]


EXPORT_HEADER = [_l("编号"), _l("时间"), _l("用户"), _l("操作"), _l("对象类型"), _l("对象编号"), _l("摘要"), _l("详情")]


def export_rows(session: Session, f: AuditFilter, tz_name: str) -> list[list[Any]]:
    """The filtered trail as rows, times in the organisation's time zone, details as JSON."""
    from survey.core.clock import format_local

    entries = list(session.scalars(_query(f, tz_name).limit(EXPORT_LIMIT)))
    ids = {e.user_id for e in entries if e.user_id is not None}
    names = dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all()) if ids else {}
    return [
        [e.id, format_local(e.at, tz_name, "yyyy-MM-dd HH:mm:ss"), names.get(e.user_id, "") if e.user_id else "",
         e.action, e.object_type or "", e.object_id or "", e.summary or "",
         json.dumps(e.detail or {}, ensure_ascii=False, sort_keys=True, default=str)]
        for e in entries
    ]
