"""考评对象 (units): create, edit, move in the tree, deactivate.

Rules:
- a unit's code is unique and stable (links, imports and exports use it);
- units form a tree (department → section → window; districts); a unit is never moved
  below itself or one of its own sub-units;
- a unit that anything points at (answers, campaigns, users, cases, results, sub-units)
  is deactivated, never deleted, so every stored response keeps its unit;
- every change is written to the audit log with the fields before and after.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.core.audit import record
from survey.core.errors import Collector, DomainError
from survey.core.labels import label
from survey.core.references import references
from survey.core.validation import clean_code, clean_text
from survey.models import Category, Unit, UnitKind, User
from survey.services.accounts.access import subtree_ids


@dataclass(frozen=True)
class UnitData:
    """A unit's fields as a form or an import row gives them (parent by code)."""

    code: str | None
    name: str | None
    kind: str | UnitKind = UnitKind.DEPARTMENT
    name_en: str | None = None
    category_id: int | None = None
    parent_code: str | None = None
    window_no: str | None = None
    address: str | None = None
    note: str | None = None
    sort_order: int | None = None


@dataclass(frozen=True)
class TreeRow:
    unit: Unit
    depth: int


def unit_fields(unit: Unit) -> dict[str, object]:
    """A unit as plain values for the audit log and change lists (category and parent by code)."""
    return {
        "code": unit.code,
        "name": unit.name,
        "name_en": unit.name_en,
        "kind": unit.kind.value if unit.kind else None,
        "category": unit.category.code if unit.category else None,
        "parent": unit.parent.code if unit.parent else None,
        "window_no": unit.window_no,
        "address": unit.address,
        "note": unit.note,
        "sort_order": unit.sort_order,
        "active": unit.active,
    }


def diff(before: dict[str, object], after: dict[str, object]) -> dict[str, list[object]]:
    return {k: [before.get(k), after[k]] for k in after if before.get(k) != after[k]}


def unit_tree(session: Session) -> list[TreeRow]:
    """Every unit in tree order: top-level units by category and order, sub-units below their parent."""
    units = list(session.scalars(select(Unit).outerjoin(Category, Unit.category_id == Category.id)
                                 .order_by(Category.sort_order, Unit.sort_order, Unit.code)))
    by_id = {u.id: u for u in units}
    children: dict[int | None, list[Unit]] = defaultdict(list)
    for unit in units:
        parent = unit.parent_id if unit.parent_id in by_id else None
        children[parent].append(unit)
    rows: list[TreeRow] = []
    seen: set[int] = set()

    def walk(unit: Unit, depth: int) -> None:
        if unit.id in seen:
            return
        seen.add(unit.id)
        rows.append(TreeRow(unit, depth))
        for child in sorted(children.get(unit.id, ()), key=lambda u: (u.sort_order, u.code)):
            walk(child, depth + 1)

    for root in children[None]:
        walk(root, 0)
    for unit in units:  # a cycle in old data: still list every unit
        if unit.id not in seen:
            walk(unit, 0)
    return rows


def _validated(session: Session, data: UnitData, current: Unit | None) -> dict[str, object]:
    check = Collector()
    code = check.take("code", clean_code, data.code, _("单位代码"))
    name = check.take("name", clean_text, data.name, _("单位名称"), limit=200, required=True)
    values: dict[str, object] = {
        "code": code,
        "name": name,
        "name_en": check.take("name_en", clean_text, data.name_en, _("英文名称"), limit=300),
        "window_no": check.take("window_no", clean_text, data.window_no, _("窗口号"), limit=20),
        "address": check.take("address", clean_text, data.address, _("地址"), limit=300),
        "note": check.take("note", clean_text, data.note, _("备注"), limit=2000),
    }
    try:
        values["kind"] = UnitKind(data.kind)
    except ValueError:
        check.add("kind", _("请选择单位类型。"))
    if data.sort_order is not None and not -1_000_000 <= data.sort_order <= 1_000_000:
        check.add("sort_order", _("排序应在 -1000000 到 1000000 之间。"))
    values["sort_order"] = data.sort_order if data.sort_order is not None else (
        current.sort_order if current is not None else _next_sort_order(session))
    category = None
    if data.category_id:
        category = session.get(Category, data.category_id)
        if category is None:
            check.add("category_id", _("所选类别不存在。"))
    values["category"] = category
    if code:
        taken = session.scalar(select(Unit).where(Unit.code == code))
        if taken is not None and taken is not current:
            check.add("code", _("单位代码 %(code)s 已被“%(name)s”使用。", code=code, name=taken.name))
    values["parent"] = _checked_parent(session, data.parent_code, current, check)
    check.raise_if_any()
    return values


def _checked_parent(session: Session, parent_code: str | None, current: Unit | None, check: Collector) -> Unit | None:
    code = (parent_code or "").strip()
    if not code:
        return None
    parent = session.scalar(select(Unit).where(Unit.code == code))
    if parent is None:
        check.add("parent_code", _("上级单位代码 %(code)s 不存在。", code=code))
        return None
    if current is not None and current.id is not None:
        if parent.id == current.id:
            check.add("parent_code", _("单位不能作自己的上级。"))
            return None
        if parent.id in subtree_ids(session, current.id):
            check.add("parent_code", _("不能移到自己的下级单位“%(name)s”之下：上下级关系会成环。", name=parent.name))
            return None
    return parent


def _next_sort_order(session: Session) -> int:
    return (session.scalar(select(func.max(Unit.sort_order))) or 0) + 1


def create_unit(session: Session, user: User | None, data: UnitData) -> Unit:
    values = _validated(session, data, None)
    unit = Unit(**values)
    session.add(unit)
    session.flush()
    record(session, user, "unit.create", unit, f"新建单位 {unit.code} {unit.name}", after=unit_fields(unit))
    return unit


def update_unit(session: Session, user: User | None, unit: Unit, data: UnitData) -> Unit:
    """Edit a unit, including moving it under another parent (never below itself)."""
    values = _validated(session, data, unit)
    before = unit_fields(unit)
    for key, value in values.items():
        setattr(unit, key, value)
    session.flush()
    changes = diff(before, unit_fields(unit))
    if changes:
        action = "unit.move" if set(changes) == {"parent"} else "unit.update"
        record(session, user, action, unit, f"修改单位 {unit.code} {unit.name}", changes=changes)
    return unit


def set_unit_active(session: Session, user: User | None, unit: Unit, active: bool) -> None:
    """Deactivate (停用) or reactivate a unit. A deactivated unit keeps its data but is offered nowhere."""
    if unit.active == active:
        return
    unit.active = active
    session.flush()
    record(session, user, "unit.activate" if active else "unit.deactivate", unit,
           f"{'启用' if active else '停用'}单位 {unit.code} {unit.name}")


def unit_references(session: Session, unit: Unit) -> dict[str, int]:
    return references(session, "unit", unit.id)


def delete_unit(session: Session, user: User | None, unit: Unit) -> None:
    """Delete a unit nothing points at (e.g. a mistaken entry); anything used is deactivated instead."""
    used = unit_references(session, unit)
    if used:
        what = "、".join(f"{label('reference', t)} {n}" for t, n in used.items())
        raise DomainError(_("“%(name)s”已被使用（%(what)s），不能删除，只能停用。", name=unit.name, what=what))
    record(session, user, "unit.delete", unit, f"删除单位 {unit.code} {unit.name}", before=unit_fields(unit))
    session.delete(unit)
    session.flush()
