"""复制 (duplicate): a campaign for the next period, and a questionnaire as a new draft.

A copied campaign keeps the units (active ones: a unit stopped since is left out and named),
the questionnaire version, the channels, the group mode, the weighting settings (group shares
included), the public-results choice and the fieldwork targets and quotas; it gets the title,
period and times confirmed on the form, new short codes for itself and every unit, and starts
as a draft. A copied questionnaire is a new questionnaire (its own family, version 1, a draft)
with the same questions, options, scores and settings. Both are audited.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from survey.core.audit import record
from survey.core.errors import Collector
from survey.core.validation import clean_text
from survey.models import Campaign, CampaignStatus, CampaignUnit, Questionnaire, QuestionnaireStatus, User
from survey.services.campaigns import fieldwork
from survey.services.campaigns.lookup import unique_short_code
from survey.services.campaigns.setup import PERIOD, clean_period
from survey.services.questionnaires import editor
from survey.services.questionnaires import serialise as qio


@dataclass(frozen=True)
class NextPeriod:
    """What the confirm form proposes: the next period, the title with the period replaced, shifted times."""

    title: str
    period: str
    opens_at: dt.datetime
    closes_at: dt.datetime


def _months(period: str) -> int:
    match = PERIOD.match(period or "")
    if not match:
        return 0
    if match["q"]:
        return 3
    if match["h"]:
        return 6
    if match["m"]:
        return 1
    return 12


def next_period(period: str) -> str:
    """2026Q3 → 2026Q4, 2026Q4 → 2027Q1, 2026H2 → 2027H1, 2026-12 → 2027-01, 2026 → 2027; else unchanged."""
    match = PERIOD.match(period or "")
    if not match:
        return period
    year = int(match["year"])
    if match["q"]:
        q = int(match["q"]) % 4 + 1
        return f"{year + (q == 1)}Q{q}"
    if match["h"]:
        h = int(match["h"]) % 2 + 1
        return f"{year + (h == 1)}H{h}"
    if match["m"]:
        m = int(match["m"]) % 12 + 1
        return f"{year + (m == 1)}-{m:02d}"
    return str(year + 1)


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day and time ``months`` later (the last day of a shorter month)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def proposal(campaign: Campaign) -> NextPeriod:
    """The form's defaults for the next period's copy."""
    period = next_period(campaign.period)
    title = campaign.title.replace(campaign.period, period) if campaign.period in campaign.title else campaign.title
    months = _months(campaign.period)
    if months:
        opens, closes = add_months(campaign.opens_at, months), add_months(campaign.closes_at, months)
    else:
        length = campaign.closes_at - campaign.opens_at
        opens, closes = campaign.closes_at, campaign.closes_at + length
    title = re.sub(r"\s+", " ", title).strip()
    return NextPeriod(title, period, opens, closes)


def duplicate_campaign(session: Session, user: User | None, source: Campaign, title: str | None,
                       period: str | None, opens_at: dt.datetime | None, closes_at: dt.datetime | None
                       ) -> tuple[Campaign, list[str]]:
    """The copy (a draft) and the names of the units left out because they are no longer active."""
    check = Collector()
    clean_title = check.take("title", clean_text, title, _("标题"), limit=200, required=True)
    clean = check.take("period", clean_period, period)
    if opens_at is None:
        check.add("opens_at", _("请填写开始时间。"))
    if closes_at is None:
        check.add("closes_at", _("请填写截止时间。"))
    if opens_at and closes_at and closes_at <= opens_at:
        check.add("closes_at", _("截止时间必须晚于开始时间。"))
    kept = [cu for cu in source.campaign_units if cu.unit.active]
    if not kept:
        check.add("", _("原评议的单位都已停用，无法复制。"))
    check.raise_if_any()
    copy = Campaign(
        short_code=unique_short_code(session), title=clean_title, title_en=source.title_en,
        description=source.description, questionnaire=source.questionnaire, period=clean,
        status=CampaignStatus.DRAFT, opens_at=opens_at, closes_at=closes_at, channels=list(source.channels or []),
        group_mode=source.group_mode, preset_group_id=source.preset_group_id, public_results=source.public_results,
        analysis_settings=dict(source.analysis_settings or {}), created_by_id=user.id if user is not None else None,
    )
    session.add(copy)
    session.flush()
    for cu in kept:
        session.add(CampaignUnit(campaign=copy, unit=cu.unit, short_code=unique_short_code(session)))
    session.flush()
    targets = fieldwork.load_targets(session, source)
    kept_ids = {cu.unit_id for cu in kept}
    fieldwork.store_targets(session, copy, fieldwork.Targets(
        targets.default, {u: t for u, t in targets.units.items() if u in kept_ids}, dict(targets.quotas)))
    left_out = [cu.unit.name for cu in source.campaign_units if not cu.unit.active]
    record(session, user, "campaign.duplicate", copy,
           f"复制评议活动 {source.title}（{source.period}）为 {copy.title}（{copy.period}）",
           source_id=source.id, units=[cu.unit.code for cu in kept], left_out=left_out,
           questionnaire_id=source.questionnaire_id, opens_at=copy.opens_at.isoformat(),
           closes_at=copy.closes_at.isoformat())
    return copy, left_out


def duplicate_questionnaire(session: Session, user: User | None, source: Questionnaire) -> Questionnaire:
    """A new questionnaire (its own family, version 1, a draft) with the same questions, options, scores and settings."""
    copy = qio.build_questionnaire(session, editor.as_data(session, source))  # its errors are DomainErrors
    copy.title = _("%(t)s（副本）", t=source.title)[:200]
    if source.title_en:
        copy.title_en = f"{source.title_en} (copy)"[:300]
    copy.status = QuestionnaireStatus.DRAFT
    copy.version = 1
    copy.created_by_id = user.id if user is not None else None
    session.add(copy)
    session.flush()
    record(session, user, "questionnaire.duplicate", copy,
           f"复制问卷 {source.title} 第 {source.version} 版为新问卷草稿", source_id=source.id,
           source_version=source.version)
    return copy
