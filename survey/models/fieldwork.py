"""Fieldwork targets (采集目标): how many responses, or how precise an index, each unit of a campaign
should reach, and optional quotas per respondent group. Set by the analyst, read by the monitor."""
from __future__ import annotations

import enum

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, SmallInteger, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base, BigID, str_enum


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


class ResponseScore(Base):
    """The monitor's tally of one response about one unit: how many of its index answers gave each level.

    Derived data, written by the fieldwork monitor (never on the citizen's submit path) the first time
    it meets a response, and read instead of the answers: a response's answers never change once it
    is stored, its status is read live, and the level scores are applied when reading. A response
    with no answer about any unit gets one row with ``unit_id`` NULL; ``first`` marks exactly one row
    per response, so that counting them says whether every response of the campaign is tallied.
    """

    __tablename__ = "response_score"
    __table_args__ = (
        UniqueConstraint("response_id", "unit_id"),
        Index("ix_response_score_campaign_first", "campaign_id", "first", "response_id"),
        # The monitor's aggregate reads this index alone, already in its GROUP BY order.
        Index("ix_response_score_cells", "campaign_id", "unit_id", "group_id", "n1", "n2", "n3", "n4", "n5",
              "response_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("respondent_group.id"))  # the response's, fixed
    first: Mapped[bool] = mapped_column(Boolean)
    n1: Mapped[int] = mapped_column(SmallInteger)
    n2: Mapped[int] = mapped_column(SmallInteger)
    n3: Mapped[int] = mapped_column(SmallInteger)
    n4: Mapped[int] = mapped_column(SmallInteger)
    n5: Mapped[int] = mapped_column(SmallInteger)


class AnswerPack(Base):
    """One response's answers about one unit as the results loader reads them: the index answers packed
    three bits per question, the check number that exposes a question answered twice, the comments.

    Derived data (migration 0009), written by the results loader for the responses it meets untallied
    (never on the citizen's submit path), on a connection of its own: a response's answers never change
    once stored, nor do the response's group, channel and whether it rates several units, which each
    row repeats (so that the loader reads this table alone). ``layout`` says which packing (a key of the index questions in order and the comment
    questions, :func:`survey.services.results.loading.layout_key`); a response with nothing to pack gets
    one row with ``unit_id`` NULL, so that every tallied response has a row. Emptying it is always safe:
    the next computation reads the answers again and rebuilds it.
    """

    __tablename__ = "answer_pack"
    __table_args__ = (
        # The loader reads this index alone, in response order.
        Index("ix_answer_pack_read", "campaign_id", "layout", "response_id", "unit_id", "packed", "answered",
              "comments", "group_id", "channel"),
        Index("ix_answer_pack_response_id", "response_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    # No foreign key to the campaign: the response's (deleting a campaign deletes its responses) is enough,
    # and each costs every packed row a check when the loader catches up a large import.
    campaign_id: Mapped[int] = mapped_column(Integer)
    layout: Mapped[int] = mapped_column(BigInteger)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"))
    unit_id: Mapped[int | None] = mapped_column(Integer)
    packed: Mapped[int] = mapped_column(BigInteger)
    answered: Mapped[int] = mapped_column(BigInteger)  # 2^k + 2^24 per index answer (loading.COUNT_SHIFT)
    comments: Mapped[int] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(Integer)  # the response's respondent group
    channel: Mapped[int] = mapped_column(SmallInteger)  # the response's channel code, + 100 when it rates several units
