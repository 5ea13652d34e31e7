"""Ranking categories (e.g. 党群口机关, 政府口机关): units are ranked only within their category.

A category's code is unique; it can be renamed and reordered at any time, and deleted
only while no unit belongs to it. Every change is audited.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.core.audit import record
from survey.core.errors import Collector, DomainError
from survey.core.validation import clean_code, clean_text
from survey.models import Category, SnapshotRow, Unit, User


@dataclass(frozen=True)
class CategoryData:
    code: str | None
    name: str | None
    name_en: str | None = None


@dataclass(frozen=True)
class CategoryRow:
    category: Category
    units: int
    active_units: int


def list_categories(session: Session) -> list[CategoryRow]:
    """Categories in display order with how many units (and active units) they hold."""
    counts = (
        select(
            Unit.category_id,
            func.count(Unit.id).label("n"),
            func.count(Unit.id).filter(Unit.active.is_(True)).label("active"),
        )
        .group_by(Unit.category_id)
        .subquery()
    )
    stmt = (
        select(Category, func.coalesce(counts.c.n, 0), func.coalesce(counts.c.active, 0))
        .outerjoin(counts, counts.c.category_id == Category.id)
        .order_by(Category.sort_order, Category.code)
    )
    return [CategoryRow(c, int(n), int(a)) for c, n, a in session.execute(stmt)]


def _validated(session: Session, data: CategoryData, current: Category | None) -> tuple[str, str, str | None]:
    check = Collector()
    code = check.take("code", clean_code, data.code, _("类别代码"))
    name = check.take("name", clean_text, data.name, _("类别名称"), limit=100, required=True)
    name_en = check.take("name_en", clean_text, data.name_en, _("英文名称"), limit=200)
    if code:
        taken = session.scalar(select(Category).where(Category.code == code))
        if taken is not None and taken is not current:
            check.add("code", _("类别代码 %(code)s 已被“%(name)s”使用。", code=code, name=taken.name))
    check.raise_if_any()
    return code, name, name_en


def create_category(session: Session, user: User | None, data: CategoryData) -> Category:
    code, name, name_en = _validated(session, data, None)
    last = session.scalar(select(func.max(Category.sort_order))) or 0
    category = Category(code=code, name=name, name_en=name_en, sort_order=last + 1)
    session.add(category)
    session.flush()
    record(session, user, "category.create", category, f"新建类别 {code} {name}", after={"code": code, "name": name})
    return category


def update_category(session: Session, user: User | None, category: Category, data: CategoryData) -> Category:
    code, name, name_en = _validated(session, data, category)
    before = {"code": category.code, "name": category.name, "name_en": category.name_en}
    after = {"code": code, "name": name, "name_en": name_en}
    if before == after:
        return category
    category.code, category.name, category.name_en = code, name, name_en
    session.flush()
    record(session, user, "category.update", category, f"修改类别 {code} {name}", before=before, after=after)
    return category


def move_category(session: Session, user: User | None, category: Category, step: int) -> None:
    """Swap a category with its neighbour above (step −1) or below (+1); renumber densely."""
    ordered = list(session.scalars(select(Category).order_by(Category.sort_order, Category.code)))
    index = ordered.index(category)
    target = index + (1 if step > 0 else -1)
    if not 0 <= target < len(ordered):
        return
    ordered[index], ordered[target] = ordered[target], ordered[index]
    for position, item in enumerate(ordered, start=1):
        item.sort_order = position
    session.flush()
    record(session, user, "category.reorder", category, f"调整类别顺序 {category.code}",
           order=[c.code for c in ordered])


def delete_category(session: Session, user: User | None, category: Category) -> None:
    """Only an empty category can be deleted; otherwise move its units first."""
    n = session.scalar(select(func.count(Unit.id)).where(Unit.category_id == category.id)) or 0
    if n:
        raise DomainError(_("类别“%(name)s”下还有 %(n)d 个单位，不能删除。请先把这些单位改到其他类别。",
                            name=category.name, n=n))
    if session.scalar(select(SnapshotRow.id).where(SnapshotRow.category_id == category.id).limit(1)):
        raise DomainError(_("类别“%(name)s”已用于计算结果，不能删除。", name=category.name))
    record(session, user, "category.delete", category, f"删除类别 {category.code} {category.name}",
           before={"code": category.code, "name": category.name})
    session.delete(category)
    session.flush()
