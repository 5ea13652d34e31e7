"""Fieldwork targets (采集目标): how many responses, or how precise an index, each unit of a campaign
should reach, and optional quotas per respondent group. Set by the analyst, read by the monitor."""
from __future__ import annotations

import enum

from sqlalchemy import Float, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base, str_enum


class TargetKind(str, enum.Enum):
    RESPONSES = "responses"  # a number of responses per unit
    HALF_WIDTH = "half_width"  # a 95% interval half-width on the 0–100 index (e.g. ±5 points)


class FieldworkTarget(Base):
    """A campaign's target: ``unit_id`` NULL is the default for every unit, a unit id overrides it."""

    __tablename__ = "fieldwork_target"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    kind: Mapped[TargetKind] = mapped_column(str_enum(TargetKind, 16))
    value: Mapped[float] = mapped_column(Float)


class FieldworkQuota(Base):
    """At least ``minimum`` responses of one respondent group for every unit of the campaign."""

    __tablename__ = "fieldwork_quota"
    __table_args__ = (UniqueConstraint("campaign_id", "group_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("respondent_group.id"))
    minimum: Mapped[int] = mapped_column(Integer)
