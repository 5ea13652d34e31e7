"""What still points at a row: the rule "deactivate, never delete, what has been used" relies on it.

The references are found from the schema's foreign keys, so a table added later is
counted without changing this module.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.models import Base


def references(session: Session, table_name: str, row_id: int) -> dict[str, int]:
    """Rows of other tables (and of the same table) whose foreign keys point at ``row_id``."""
    found: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name != table_name or fk.column.name != "id":
                continue
            n = session.scalar(select(func.count()).select_from(table).where(fk.parent == row_id)) or 0
            if n:
                found[table.name] = found.get(table.name, 0) + int(n)
    return found
