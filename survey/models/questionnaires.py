"""Questionnaires, their versioned questions and options.

A questionnaire row is one *version*: versions of the same questionnaire share a
``family``. A published version is immutable; editing it creates the next version,
and every response keeps pointing at the version it answered.
"""
from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Base, UTCDateTime, str_enum, utcnow

DEFAULT_LEVEL_SCORES: list[float] = [0.0, 25.0, 50.0, 75.0, 100.0]  # level 1 … 5


class QuestionnaireKind(str, enum.Enum):
    SERVICE = "service"  # about one unit (window QR)
    APPRAISAL = "appraisal"  # 万人评议: one respondent rates many units


class QuestionnaireStatus(str, enum.Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class QuestionType(str, enum.Enum):
    SATISFACTION = "satisfaction"  # 非常满意 … 非常不满意 (5 … 1), plus 不了解
    SINGLE = "single"
    MULTIPLE = "multiple"
    RATING = "rating"  # 0–10
    TEXT = "text"
    GROUP = "group"  # which respondent group are you in?


class Questionnaire(Base):
    __tablename__ = "questionnaire"
    __table_args__ = (UniqueConstraint("family", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    family: Mapped[str] = mapped_column(String(36), default=lambda: str(uuid.uuid4()), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[QuestionnaireKind] = mapped_column(str_enum(QuestionnaireKind))
    status: Mapped[QuestionnaireStatus] = mapped_column(
        str_enum(QuestionnaireStatus), default=QuestionnaireStatus.DRAFT
    )
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str | None] = mapped_column(String(300))
    intro: Mapped[str | None] = mapped_column(Text)
    intro_en: Mapped[str | None] = mapped_column(Text)
    # Score of satisfaction levels 1 … 5 (default linear 0–100).
    level_scores: Mapped[list[float]] = mapped_column(JSON, default=lambda: list(DEFAULT_LEVEL_SCORES))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    questions: Mapped[list[Question]] = relationship(
        back_populates="questionnaire", order_by="Question.position", cascade="all, delete-orphan"
    )

    @property
    def is_published(self) -> bool:
        return self.status != QuestionnaireStatus.DRAFT

    def __repr__(self) -> str:
        return f"<Questionnaire {self.title!r} v{self.version}>"


class Question(Base):
    """One question of one questionnaire version.

    In an appraisal, ``per_unit`` questions are asked for every unit the respondent
    chose; the others (respondent group, a closing comment) once per response.
    """

    __tablename__ = "question"
    __table_args__ = (UniqueConstraint("questionnaire_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("questionnaire.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[str] = mapped_column(String(32))  # Q1, Q2 … stable across versions
    type: Mapped[QuestionType] = mapped_column(str_enum(QuestionType))
    text: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str | None] = mapped_column(Text)
    help: Mapped[str | None] = mapped_column(Text)
    help_en: Mapped[str | None] = mapped_column(Text)
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_dont_know: Mapped[bool] = mapped_column(Boolean, default=True)  # 不了解, satisfaction only
    weight: Mapped[float] = mapped_column(Float, default=1.0)  # question weight in the composite index
    in_index: Mapped[bool] = mapped_column(Boolean, default=True)  # counts towards the composite index
    per_unit: Mapped[bool] = mapped_column(Boolean, default=True)
    max_length: Mapped[int | None] = mapped_column(Integer)  # free text
    is_comment: Mapped[bool] = mapped_column(Boolean, default=False)  # free text that opens a 意见建议 case
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Display condition on earlier answers (NULL: always shown); shape and rules in
    # survey.services.questionnaires.conditions.
    show_if: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    questionnaire: Mapped[Questionnaire] = relationship(back_populates="questions")
    options: Mapped[list[Option]] = relationship(
        back_populates="question", order_by="Option.position", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Question {self.code} {self.type.value}>"


class Option(Base):
    """A choice of a single/multiple-choice or respondent-group question, with its score."""

    __tablename__ = "option"
    __table_args__ = (UniqueConstraint("question_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("question.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(300))
    label_en: Mapped[str | None] = mapped_column(String(400))
    score: Mapped[float | None] = mapped_column(Float)
    respondent_group_id: Mapped[int | None] = mapped_column(ForeignKey("respondent_group.id"))

    question: Mapped[Question] = relationship(back_populates="options")

    def __repr__(self) -> str:
        return f"<Option {self.code}>"
