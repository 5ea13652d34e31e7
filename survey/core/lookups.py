"""The one scoped lookup: a row by its id from a URL, or a 404.

A page never tells "does not exist" from "not yours": a row outside the user's units, a
child of another parent, and an id no column can hold (a URL like /results/99999999999999999999)
are all the same 404, never a 403 that confirms the row exists, never a 500.
"""
from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Any, TypeVar

from flask import abort
from sqlalchemy import BigInteger, inspect
from sqlalchemy.orm import Session

from survey.extensions import db

MAX_ID = 2**31 - 1  # an INTEGER id column (PostgreSQL refuses larger values in a comparison)
MAX_BIG_ID = 2**63 - 1

T = TypeVar("T")


def fits(model: type, ident: int) -> bool:
    """Whether ``ident`` can be an id of ``model`` (positive, within its id column's range)."""
    big = isinstance(model.__table__.c.id.type, BigInteger)
    return 0 < ident <= (MAX_BIG_ID if big else MAX_ID)


def by_id(session: Session, model: type[T], ident: int) -> T | None:
    """The row of ``model`` with this id, or None — also for ids its id column cannot hold."""
    return session.get(model, ident) if fits(model, ident) else None


def _belongs(row: Any, parent: Any) -> bool:
    """Whether ``row`` hangs from ``parent`` through a many-to-one relationship of its model."""
    parent_mapper = inspect(type(parent))
    for rel in inspect(type(row)).relationships:
        if rel.direction.name == "MANYTOONE" and parent_mapper.isa(rel.mapper):
            local = [getattr(row, inspect(type(row)).get_property_by_column(c).key) for c in rel.local_columns]
            return local == list(parent_mapper.primary_key_from_instance(parent))
    raise TypeError(f"{type(row).__name__} has no many-to-one relationship to {type(parent).__name__}")


def _units_of(row: Any) -> set[int]:
    """The units a row belongs to: its unit, a Unit itself, or every unit of a campaign."""
    if hasattr(row, "unit_id"):
        return {row.unit_id}
    if hasattr(row, "campaign_units"):
        return {cu.unit_id for cu in row.campaign_units}
    return {row.id}


def get_or_404(model: type[T], ident: int, *, scope: AbstractSet[int] | None = None, within: Any = None,
               session: Session | None = None) -> T:
    """The row of ``model`` with id ``ident``, or a 404.

    ``scope`` is the set of unit ids the user may see (``None``: every unit, as
    ``visible_unit_ids`` gives analysts); a row whose unit (its ``unit_id``, a Unit's own id) is
    outside it is a 404, and so is a campaign none of whose units is inside it. ``within`` is a parent row the row must belong to (a question of this
    questionnaire); a row of another parent is a 404.
    """
    row = by_id(session or db.session, model, ident)
    if row is None:
        abort(404)
    if scope is not None and not _units_of(row) & set(scope):
        abort(404)
    if within is not None and not _belongs(row, within):
        abort(404)
    return row
