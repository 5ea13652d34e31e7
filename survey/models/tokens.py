"""Single-use links: desk transaction codes (一事一评) and panel invitations."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Base, UTCDateTime, utcnow
from survey.models.units import RespondentGroup, Unit


class DeskToken(Base):
    """A code shown at a window for one transaction; it expires, and one use consumes it."""

    __tablename__ = "desk_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The desk device the code was shown on (the random id of its signed desk-device cookie,
    # set when the clerk opens the desk screen): a rating sent from it is flagged.
    device_id: Mapped[str | None] = mapped_column(String(32))

    unit: Mapped[Unit] = relationship()


class Invitation(Base):
    """A personal single-use link for an invited panel member, with the group preset."""

    __tablename__ = "invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(200))  # name or code of the invitee, for the mail merge
    respondent_group_id: Mapped[int | None] = mapped_column(ForeignKey("respondent_group.id"))
    phone: Mapped[str | None] = mapped_column(String(32))  # for the SMS merge only; deleted on schedule
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    respondent_group: Mapped[RespondentGroup | None] = relationship()
