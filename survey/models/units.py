"""考评对象 (units), their categories, and respondent groups (样本类别)."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Base, UTCDateTime, str_enum, utcnow


class UnitKind(str, enum.Enum):
    DEPARTMENT = "department"  # 部门/单位
    SECTION = "section"  # 处室
    WINDOW = "window"  # 窗口
    DISTRICT = "district"  # 市/区/县


class Category(Base):
    """A ranking category (e.g. 政府口机关): units are ranked only against their own category."""

    __tablename__ = "category"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(200))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    units: Mapped[list[Unit]] = relationship(back_populates="category")

    def __repr__(self) -> str:
        return f"<Category {self.code}>"


class Unit(Base):
    """An appraised unit: a department, a section inside it, a service window, or a district.

    Units form a tree (department → section → window). A unit contact bound to a
    unit sees that unit and everything below it.
    """

    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(300))
    kind: Mapped[UnitKind] = mapped_column(str_enum(UnitKind), default=UnitKind.DEPARTMENT)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    window_no: Mapped[str | None] = mapped_column(String(20))  # 窗口号 shown on posters and the desk
    address: Mapped[str | None] = mapped_column(String(300))
    note: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    category: Mapped[Category | None] = relationship(back_populates="units")
    parent: Mapped[Unit | None] = relationship(remote_side="Unit.id", back_populates="children")
    children: Mapped[list[Unit]] = relationship(back_populates="parent")

    def __repr__(self) -> str:
        return f"<Unit {self.code}>"


class RespondentGroup(Base):
    """A respondent group (企业, 群众, 人大代表 …) with its target share / voting weight (投票权).

    Target shares are renormalised over the groups present among a unit's respondents
    when the analysis post-stratifies.
    """

    __tablename__ = "respondent_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(200))
    target_share: Mapped[float] = mapped_column(Float, default=0.0)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def __repr__(self) -> str:
        return f"<RespondentGroup {self.code}>"
