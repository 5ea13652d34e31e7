"""评议活动 (campaigns): a questionnaire put to the public for a period, over a set of units."""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Base, UTCDateTime, str_enum, utcnow
from survey.models.questionnaires import Questionnaire
from survey.models.units import RespondentGroup, Unit


class Channel(str, enum.Enum):
    """How a response reached us; results can be broken down by it."""

    WEB = "web"  # the site's own links
    POSTER = "poster"  # QR code on a printed poster
    DESK = "desk"  # single-use QR code shown at a window for one transaction (一事一评)
    INVITATION = "invitation"  # personal link sent to a panel member (SMS)
    PHONE = "phone"  # telephone interview, entered by staff
    PAPER = "paper"  # paper questionnaire, entered by staff
    IMPORTED = "imported"  # imported from another tool's export


class CampaignStatus(str, enum.Enum):
    DRAFT = "draft"
    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"


class GroupMode(str, enum.Enum):
    ASK = "ask"  # the questionnaire's respondent-group question decides
    PRESET = "preset"  # every response of the campaign belongs to one group


class Campaign(Base):
    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    short_code: Mapped[str] = mapped_column(String(16), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("questionnaire.id"), index=True)
    period: Mapped[str] = mapped_column(String(16), index=True)  # 2026Q4, 2026, 2026-11
    status: Mapped[CampaignStatus] = mapped_column(str_enum(CampaignStatus), default=CampaignStatus.DRAFT)
    opens_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    channels: Mapped[list[str]] = mapped_column(JSON, default=lambda: [c.value for c in Channel])
    group_mode: Mapped[GroupMode] = mapped_column(str_enum(GroupMode), default=GroupMode.ASK)
    preset_group_id: Mapped[int | None] = mapped_column(ForeignKey("respondent_group.id"))
    public_results: Mapped[bool] = mapped_column(Boolean, default=False)  # opt-in transparency page
    # Weighting and scoring settings for this campaign's indices (see survey.services.results.snapshots).
    analysis_settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    questionnaire: Mapped[Questionnaire] = relationship()
    preset_group: Mapped[RespondentGroup | None] = relationship()
    campaign_units: Mapped[list[CampaignUnit]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan"
    )

    def accepts_responses(self, now: dt.datetime | None = None) -> bool:
        """Open for answers: status open and inside the opening window."""
        now = now or utcnow()
        return self.status == CampaignStatus.OPEN and self.opens_at <= now < self.closes_at

    def allows_channel(self, channel: Channel | str) -> bool:
        value = channel.value if isinstance(channel, Channel) else channel
        return value in (self.channels or [])

    def __repr__(self) -> str:
        return f"<Campaign {self.short_code} {self.period}>"


class CampaignUnit(Base):
    """A unit taking part in a campaign, with the short code its QR codes and posters carry."""

    __tablename__ = "campaign_unit"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    short_code: Mapped[str] = mapped_column(String(16), unique=True)

    campaign: Mapped[Campaign] = relationship(back_populates="campaign_units")
    unit: Mapped[Unit] = relationship()
