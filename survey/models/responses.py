"""Responses and answers. The unit sits on the answer: an appraisal rates many units."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, SmallInteger, String, Text, false
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Base, BigID, UTCDateTime, str_enum, utcnow
from survey.models.campaigns import Channel


class ResponseStatus(str, enum.Enum):
    VALID = "valid"
    FLAGGED = "flagged"  # suspicious (e.g. a burst from one device); analysts decide
    EXCLUDED = "excluded"  # left out of every score, never deleted (e.g. an approved appeal)


class Response(Base):
    """One submitted questionnaire.

    Nothing here identifies the respondent: ``fingerprint`` is a keyed hash with a
    rotating key, used only to spot ballot stuffing; no raw IP address is stored.
    """

    __tablename__ = "response"
    __table_args__ = (
        Index("ix_response_campaign_status", "campaign_id", "status"),
        # The burst, address and desk-device rules: "this hash, this campaign, since T" (migration 0006).
        Index("ix_response_fingerprint_recent", "fingerprint", "campaign_id", "submitted_at"),
        Index("ix_response_address_recent", "address_hash", "campaign_id", "submitted_at"),
        Index("ix_response_device_recent", "device_hash", "campaign_id", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("questionnaire.id"))
    # The unit the questionnaire was opened for (service survey / desk window); NULL for an appraisal.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    respondent_group_id: Mapped[int | None] = mapped_column(ForeignKey("respondent_group.id"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    status: Mapped[ResponseStatus] = mapped_column(str_enum(ResponseStatus), default=ResponseStatus.VALID)
    status_reason: Mapped[str | None] = mapped_column(String(200))
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Idempotency key carried by the form: a double tap or a retry stores one response.
    submission_id: Mapped[str] = mapped_column(String(64), unique=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    # Keyed, rotating hash of the client address alone (per campaign): the per-address burst and
    # User-Agent rotation rules of poster and web links. Cleared with the fingerprint.
    address_hash: Mapped[str | None] = mapped_column(String(64))
    # Keyed hash (per campaign) of the random id in the phone's device cookie: the desk's
    # "same phone rates the same window again" rule. Cleared with the fingerprint.
    device_hash: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(8))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    # Desk transactions (一事一评): who served at which window.
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    desk_token_id: Mapped[int | None] = mapped_column(ForeignKey("desk_token.id"))
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitation.id"))
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # paper / phone entry

    answers: Mapped[list[Answer]] = relationship(back_populates="response", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<Response {self.id} {self.status.value}>"


class CommentKind(str, enum.Enum):
    """What a comment is, said by the citizen beside the comment box or by the analysts' rule."""

    COMPLAINT = "complaint"  # 投诉: a case with a deadline
    SUGGESTION = "suggestion"  # 建议: a case with a deadline
    PRAISE = "praise"  # 表扬: recorded and visible, no deadline


class Answer(Base):
    """One answer to one question about one unit.

    A satisfaction answer has ``level`` 1 … 5 (5 = 非常满意), or ``dont_know`` for 不了解,
    which is item nonresponse, not a low score. A multiple-choice answer is one row per
    option chosen. A question whose display condition did not hold gets one row with
    ``not_shown`` set and every value NULL: structurally missing, neither 不了解 nor skipped.
    """

    __tablename__ = "answer"
    __table_args__ = (
        Index("ix_answer_campaign_unit", "campaign_id", "unit_id"),
        # The response browser's 意见 filter: "has this response a comment" is answered from a small
        # partial index (comment answers only), never by reading the response's answer rows (migration 0008).
        Index("ix_answer_comment", "response_id", "unit_id",
              postgresql_where=sql_text("text IS NOT NULL AND text <> ''"),
              sqlite_where=sql_text("text IS NOT NULL AND text <> ''")),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"))  # copied from the response for aggregation
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    question_id: Mapped[int] = mapped_column(ForeignKey("question.id"), index=True)
    level: Mapped[int | None] = mapped_column(SmallInteger)
    dont_know: Mapped[bool] = mapped_column(Boolean, default=False)
    option_id: Mapped[int | None] = mapped_column(ForeignKey("option.id"))
    number: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    # A comment's kind as the citizen chose it (NULL: not chosen, the rule decides on the case).
    comment_kind: Mapped[CommentKind | None] = mapped_column(str_enum(CommentKind, 16))
    not_shown: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    response: Mapped[Response] = relationship(back_populates="answers")


class FollowUpContact(Base):
    """A phone number left for follow-up of a 差评, only with explicit consent.

    Kept apart from the answers, and deleted when the case closes or its retention ends.
    """

    __tablename__ = "follow_up_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"), unique=True)
    phone: Mapped[str] = mapped_column(String(32))
    consented_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delete_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
