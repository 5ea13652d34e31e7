"""Who may see which unit: analysts and admins everything, a unit contact their unit and below."""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.models import Role, Unit, User


def subtree_ids(session: Session, root_id: int) -> set[int]:
    """The unit and all units below it (departments → sections → windows)."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for unit_id, parent_id in session.execute(select(Unit.id, Unit.parent_id)):
        children[parent_id].append(unit_id)
    seen: set[int] = set()
    stack = [root_id]
    while stack:
        current = stack.pop()
        if current in seen:
            continue  # a cycle in bad data must not hang the request
        seen.add(current)
        stack.extend(children.get(current, ()))
    return seen


def visible_unit_ids(session: Session, user: User) -> set[int] | None:
    """None means every unit; otherwise the set the user may see. Unbound contacts see nothing."""
    if user.role in (Role.ADMIN, Role.ANALYST):
        return None
    if user.unit_id is None:
        return set()
    return subtree_ids(session, user.unit_id)
