"""Counts for the staff pages, aggregated in SQL."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.models import Answer, Category, Response, ResponseStatus, Unit


@dataclass(frozen=True)
class UnitCount:
    unit: Unit
    category: Category | None
    responses: int  # responses with at least one answer about the unit, excluded ones left out
    flagged: int


def units_with_response_counts(session: Session, unit_ids: set[int] | None = None) -> list[UnitCount]:
    """Every unit (or those in ``unit_ids``) with its number of responses across all campaigns."""
    per_unit = (
        select(
            Answer.unit_id.label("unit_id"),
            func.count(func.distinct(Answer.response_id)).label("responses"),
            func.count(func.distinct(Response.id)).filter(Response.status == ResponseStatus.FLAGGED).label("flagged"),
        )
        .join(Response, Response.id == Answer.response_id)
        .where(Response.status != ResponseStatus.EXCLUDED, Answer.unit_id.is_not(None))
        .group_by(Answer.unit_id)
        .subquery()
    )
    stmt = (
        select(Unit, Category, func.coalesce(per_unit.c.responses, 0), func.coalesce(per_unit.c.flagged, 0))
        .outerjoin(Category, Unit.category_id == Category.id)
        .outerjoin(per_unit, per_unit.c.unit_id == Unit.id)
        .order_by(Category.sort_order, Unit.sort_order, Unit.code)
    )
    if unit_ids is not None:
        stmt = stmt.where(Unit.id.in_(unit_ids))
    return [UnitCount(u, c, int(n), int(f)) for u, c, n, f in session.execute(stmt)]
