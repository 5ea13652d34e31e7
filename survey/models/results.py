"""Computed results: immutable snapshots with the parameters that produced them, and leader ratings."""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Base, BigID, UTCDateTime, str_enum, utcnow
from survey.models.units import Unit


class SnapshotStatus(str, enum.Enum):
    DRAFT = "draft"  # computed, not yet official
    OFFICIAL = "official"  # published: the numbers that go into performance scores
    SUPERSEDED = "superseded"  # an earlier official snapshot replaced by a newer one


class Snapshot(Base):
    """A period's computed results, frozen with parameters, data cut-off and code version.

    Recomputing a snapshot from the stored data with its stored parameters reproduces it.
    """

    __tablename__ = "snapshot"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"), index=True)
    period: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[SnapshotStatus] = mapped_column(str_enum(SnapshotStatus), default=SnapshotStatus.DRAFT)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    data_cutoff: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    max_response_id: Mapped[int | None] = mapped_column(BigID)
    code_version: Mapped[str] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    # A correction: this snapshot replaced the official ``corrects_id`` for ``correction_reason``.
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("snapshot.id"))
    correction_reason: Mapped[str | None] = mapped_column(Text)

    rows: Mapped[list[SnapshotRow]] = relationship(back_populates="snapshot", cascade="all, delete-orphan")


class SnapshotRow(Base):
    """One unit's figures in a snapshot; ``detail`` keeps per-question and per-group breakdowns."""

    __tablename__ = "snapshot_row"
    __table_args__ = (UniqueConstraint("snapshot_id", "unit_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshot.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))
    n: Mapped[int] = mapped_column(Integer, default=0)
    n_eff: Mapped[float | None] = mapped_column(Float)
    index: Mapped[float | None] = mapped_column(Float)
    index_se: Mapped[float | None] = mapped_column(Float)
    index_lo: Mapped[float | None] = mapped_column(Float)
    index_hi: Mapped[float | None] = mapped_column(Float)
    satisfied_rate: Mapped[float | None] = mapped_column(Float)
    satisfied_rate_se: Mapped[float | None] = mapped_column(Float)
    component_points: Mapped[float | None] = mapped_column(Float)  # 公众评议 points
    grade: Mapped[str | None] = mapped_column(String(16))
    rank: Mapped[int | None] = mapped_column(Integer)
    rank_lo: Mapped[int | None] = mapped_column(Integer)
    rank_hi: Mapped[int | None] = mapped_column(Integer)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    snapshot: Mapped[Snapshot] = relationship(back_populates="rows")
    unit: Mapped[Unit] = relationship()


class LeaderRating(Base):
    """领导评价: a score for a unit in a period, entered on a page or imported."""

    __tablename__ = "leader_rating"
    __table_args__ = (UniqueConstraint("period", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(16), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    score: Mapped[float] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(String(100))
    entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


class ComponentScheme(Base):
    """How a campaign's results become each unit's 公众评议 component (one scheme per survey campaign).

    ``settings`` holds the validated scheme of :mod:`survey.services.results.component`: source
    weights (民意调查 = this campaign's index, 领导评价, window-service index of other
    campaigns), the component's points, 功效系数法 or not, grading by thresholds or quotas,
    and the ranking's interval level. A snapshot copies the settings it used.
    """

    __tablename__ = "component_scheme"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
