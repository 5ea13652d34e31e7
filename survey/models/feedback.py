"""Comments and 差评 as cases for the rated unit, their handling (整改), appeals and the calendar."""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Base, BigID, UTCDateTime, str_enum, utcnow
from survey.models.responses import CommentKind
from survey.models.units import Unit


class CaseKind(str, enum.Enum):
    COMMENT = "comment"  # 意见建议
    BAD_RATING = "bad_rating"  # 差评: a bottom-two level on any question


class CaseState(str, enum.Enum):
    PENDING = "pending"  # 待处理
    IN_PROGRESS = "in_progress"  # 处理中
    RECTIFIED = "rectified"  # 已整改
    CLOSED = "closed"  # 已回访/关闭


class AppealState(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class HolidayKind(str, enum.Enum):
    HOLIDAY = "holiday"  # 法定节假日: a weekday off
    WORKDAY = "workday"  # 调休上班: a weekend day that is a working day


class Case(Base):
    """A comment or 差评 to be handled by the rated unit, due in N working days."""

    __tablename__ = "feedback_case"
    __table_args__ = (Index("ix_feedback_case_unit_state", "unit_id", "state"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id"), index=True)
    # The comment answer a 意见建议 case was opened for; for a 差评 case, the first comment merged into it.
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answer.id", ondelete="SET NULL"))
    # "bad:<response>:<unit>" or "comment:<answer>": opening cases twice opens nothing new.
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[CaseKind] = mapped_column(str_enum(CaseKind))
    # The comment's kind (投诉/建议/表扬): the citizen's choice, else the rule's; NULL for a 差评 without comment.
    comment_kind: Mapped[CommentKind | None] = mapped_column(str_enum(CommentKind, 16))
    state: Mapped[CaseState] = mapped_column(str_enum(CaseState), default=CaseState.PENDING)
    summary: Mapped[str] = mapped_column(Text)  # the comment, or which questions got a 差评
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    opened_on: Mapped[dt.date] = mapped_column(Date)  # local day the deadline counts from (submission day)
    due_on: Mapped[dt.date | None] = mapped_column(Date, index=True)  # NULL: praise, no deadline
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    rectification: Mapped[str | None] = mapped_column(Text)  # what the unit did (整改情况)
    rectified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    callback_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # 回访
    callback_verdict: Mapped[str | None] = mapped_column(String(32))
    callback_note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)  # local day, compared with due_on (按期办结)

    unit: Mapped[Unit] = relationship()
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.at")
    tags: Mapped[list[CaseTag]] = relationship(back_populates="case", cascade="all, delete-orphan")


class CaseTag(Base):
    __tablename__ = "case_tag"
    __table_args__ = (UniqueConstraint("case_id", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("feedback_case.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(40), index=True)

    case: Mapped[Case] = relationship(back_populates="tags")


class CaseEvent(Base):
    """Who moved a case, from which state to which, when, and why."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("feedback_case.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="events")


class Appeal(Base):
    """申诉复核: a unit asks for a malicious or mistaken 差评 to be excluded; an analyst decides.

    An approved appeal excludes the response from scores by status; nothing is deleted.
    """

    __tablename__ = "appeal"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_case.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[AppealState] = mapped_column(str_enum(AppealState), default=AppealState.PENDING)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)


class Holiday(Base):
    """The working-day calendar's exceptions: public holidays and 调休 working weekends."""

    __tablename__ = "holiday"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, unique=True)
    kind: Mapped[HolidayKind] = mapped_column(str_enum(HolidayKind), default=HolidayKind.HOLIDAY)
    name: Mapped[str | None] = mapped_column(String(100))


class Setting(Base):
    """Organisation-wide settings editable by analysts (deadline days, 差评 levels …)."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


class SiteRevision(Base):
    """One row whose token changes, in the same transaction, with every change to a campaign, campaign
    unit, unit, questionnaire, setting or calendar day: set by triggers (migrations 0010, 0011), read by
    :mod:`survey.core.revision`. Not data: backups leave it out, and no code writes it."""

    __tablename__ = "site_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)
