"""Setting up 评议活动 (campaigns): questionnaire, period, units, channels, times, groups, status.

Rules:
- a campaign uses a *published* questionnaire version and keeps it until the analyst
  switches it to a newer published version of the same family; responses keep the
  version they answered;
- the period is YYYY, YYYYQn, YYYYHn or YYYY-MM; it closes after it opens;
- at least one unit and one channel; units are picked one by one or by whole
  categories (optionally only some kinds, e.g. windows); inactive units are never added;
- each campaign unit keeps its short code for good; a unit with responses is never
  removed from its campaign;
- group mode "preset" needs a group; "ask" needs a group question (otherwise a warning);
- open / pause / close change only the status; opening needs units and a closing time
  still ahead;
- every change is audited.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from survey.core.audit import record
from survey.core.errors import Collector, DomainError
from survey.core.labels import label
from survey.core.validation import clean_text
from survey.models import (
    Answer,
    Campaign,
    CampaignStatus,
    CampaignUnit,
    Category,
    Channel,
    GroupMode,
    Questionnaire,
    QuestionnaireKind,
    QuestionnaireStatus,
    RespondentGroup,
    Response,
    ResponseStatus,
    Unit,
    UnitKind,
    User,
    utcnow,
)
from survey.services.campaigns.lookup import campaign_units, unique_short_code
from survey.services.questionnaires import serialise as qio
from survey.services.questionnaires.builtin import BUILTIN_TEMPLATES
from survey.services.questionnaires.editor import as_data, has_group_question
from survey.services.units.groups import ensure_template_groups

PERIOD = re.compile(r"^(?P<year>\d{4})(?:Q(?P<q>[1-4])|H(?P<h>[12])|-(?P<m>0[1-9]|1[0-2]))?$")

TRANSITIONS = {
    "open": ({CampaignStatus.DRAFT, CampaignStatus.PAUSED, CampaignStatus.CLOSED}, CampaignStatus.OPEN),
    "pause": ({CampaignStatus.OPEN}, CampaignStatus.PAUSED),
    "close": ({CampaignStatus.OPEN, CampaignStatus.PAUSED}, CampaignStatus.CLOSED),
}


@dataclass(frozen=True)
class CampaignData:
    """A campaign form's values; times are aware datetimes (the page converts from local time)."""

    title: str | None
    period: str | None
    opens_at: dt.datetime | None
    closes_at: dt.datetime | None
    channels: list[str]
    group_mode: str = GroupMode.ASK.value
    preset_group_id: int | None = None
    title_en: str | None = None
    description: str | None = None
    public_results: bool = False
    category_ids: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # with category_ids: only these unit kinds (none = all)
    unit_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class UnitCount:
    campaign_unit: CampaignUnit
    responses: int
    flagged: int
    last_at: dt.datetime | None

    @property
    def unit(self) -> Unit:
        return self.campaign_unit.unit


@dataclass(frozen=True)
class CampaignRow:
    campaign: Campaign
    units: int
    responses: int


def clean_period(text: str | None) -> str:
    """考评周期: 2026 (year), 2026Q3 (quarter), 2026H1 (half year) or 2026-07 (month)."""
    value = (text or "").strip().upper()
    match = PERIOD.match(value)
    if not match or not 2000 <= int(match["year"]) <= 2100:
        raise ValueError(_("考评周期格式应为 2026、2026Q3、2026H1 或 2026-07。"))
    return value


def resolve_units(session: Session, category_ids: list[int], kinds: list[str], unit_ids: list[int]) -> list[Unit]:
    """Active units of the chosen categories (only the chosen kinds, if any) plus the picked units."""
    chosen: dict[int, Unit] = {}
    if category_ids:
        stmt = select(Unit).where(Unit.category_id.in_(category_ids), Unit.active.is_(True))
        wanted_kinds = [UnitKind(k) for k in kinds if k in {u.value for u in UnitKind}]
        if wanted_kinds:
            stmt = stmt.where(Unit.kind.in_(wanted_kinds))
        chosen.update((u.id, u) for u in session.scalars(stmt))
    if unit_ids:
        picked = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(unit_ids)))}
        missing = set(unit_ids) - set(picked)
        if missing:
            raise ValueError(_("有 %(n)d 个所选单位已不存在，请刷新页面。", n=len(missing)))
        inactive = [u.name for u in picked.values() if not u.active]
        if inactive:
            raise ValueError(_("单位已停用，不能加入评议：%(names)s。", names="、".join(inactive[:10])))
        chosen.update(picked)
    return sorted(chosen.values(), key=lambda u: (u.sort_order, u.code))


def _validated(session: Session, data: CampaignData, questionnaire: Questionnaire | None,
               check: Collector) -> dict[str, object]:
    values: dict[str, object] = {
        "title": check.take("title", clean_text, data.title, _("标题"), limit=200, required=True),
        "title_en": check.take("title_en", clean_text, data.title_en, _("英文标题"), limit=300),
        "description": check.take("description", clean_text, data.description, _("说明"), limit=5000),
        "period": check.take("period", clean_period, data.period),
        "public_results": bool(data.public_results),
    }
    if data.opens_at is None:
        check.add("opens_at", _("请填写开始时间。"))
    if data.closes_at is None:
        check.add("closes_at", _("请填写截止时间。"))
    if data.opens_at and data.closes_at and data.closes_at <= data.opens_at:
        check.add("closes_at", _("截止时间必须晚于开始时间。"))
    values["opens_at"], values["closes_at"] = data.opens_at, data.closes_at
    channels = list(dict.fromkeys(data.channels))
    valid_channels = {c.value for c in Channel}
    if not channels:
        check.add("channels", _("请至少选择一个渠道。"))
    elif any(c not in valid_channels for c in channels):
        check.add("channels", _("渠道无效。"))
    values["channels"] = channels
    try:
        mode = GroupMode(data.group_mode)
    except ValueError:
        mode = None
        check.add("group_mode", _("请选择样本类别的确定方式。"))
    values["group_mode"] = mode
    values["preset_group"] = None
    if mode == GroupMode.PRESET:
        group = session.get(RespondentGroup, data.preset_group_id) if data.preset_group_id else None
        if group is None or not group.active:
            check.add("preset_group_id", _("“统一指定”需要选择一个启用的样本类别。"))
        values["preset_group"] = group
    if questionnaire is not None and questionnaire.status != QuestionnaireStatus.PUBLISHED:
        check.add("questionnaire_id", _("只能使用已发布的问卷。请先发布问卷。"))
    values["units"] = check.take("units", resolve_units, session, data.category_ids, data.kinds, data.unit_ids) or []
    if not values["units"] and "units" not in check.errors:
        check.add("units", _("请至少选择一个单位（整个类别或逐个勾选）。"))
    return values


def warnings_for(campaign: Campaign) -> list[str]:
    """Things worth fixing that do not stop the campaign."""
    found = []
    if campaign.group_mode == GroupMode.ASK and not has_group_question(campaign.questionnaire):
        found.append(_("问卷里没有身份（样本类别）题，答卷将没有样本类别，无法按类别加权。"
                       "请改为“统一指定”样本类别，或使用含身份题的问卷。"))
    if campaign.questionnaire.kind == QuestionnaireKind.SERVICE and not any(
        c in campaign.channels for c in (Channel.WEB.value, Channel.POSTER.value, Channel.DESK.value)
    ):
        found.append(_("窗口服务问卷通常通过海报二维码、网页或窗口评价码收集，当前没有选这些渠道。"))
    return found


def _questionnaire(session: Session, questionnaire_id: int | None, check: Collector) -> Questionnaire | None:
    questionnaire = session.get(Questionnaire, questionnaire_id) if questionnaire_id else None
    if questionnaire is None:
        check.add("questionnaire_id", _("请选择问卷。"))
    return questionnaire


def create_campaign(session: Session, user: User | None, questionnaire_id: int | None,
                    data: CampaignData) -> Campaign:
    """A new campaign (status draft) with a short code for itself and for each unit."""
    check = Collector()
    questionnaire = _questionnaire(session, questionnaire_id, check)
    values = _validated(session, data, questionnaire, check)
    check.raise_if_any()
    return _insert(session, user, questionnaire, values)


def _insert(session: Session, user: User | None, questionnaire: Questionnaire, values: dict[str, object]) -> Campaign:
    units: list[Unit] = values.pop("units")  # type: ignore[assignment]
    campaign = Campaign(short_code=unique_short_code(session), questionnaire=questionnaire,
                        status=CampaignStatus.DRAFT, created_by_id=user.id if user is not None else None, **values)
    session.add(campaign)
    session.flush()
    for unit in units:
        session.add(CampaignUnit(campaign=campaign, unit=unit, short_code=unique_short_code(session)))
    session.flush()
    record(session, user, "campaign.create", campaign, f"新建评议活动 {campaign.title}（{campaign.period}）",
           questionnaire_id=questionnaire.id, units=[u.code for u in units], channels=campaign.channels,
           opens_at=campaign.opens_at.isoformat(), closes_at=campaign.closes_at.isoformat(),
           group_mode=campaign.group_mode.value)
    return campaign


def template_questionnaire(session: Session, user: User | None, template_key: str) -> Questionnaire:
    """The published questionnaire of a built-in template: an unchanged existing one, or a new one.

    Missing respondent groups named by the template are created with the standard shares.
    """
    template = BUILTIN_TEMPLATES.get(template_key)
    if template is None:
        raise DomainError({"template": _("请选择一个问卷模板。")})
    ensure_template_groups(session, user, template_key)
    try:
        fresh = qio.build_questionnaire(session, template)
    except qio.QuestionnaireError as exc:
        raise DomainError({"template": str(exc)}) from exc
    wanted = qio.questionnaire_to_dict(fresh, qio.group_codes(session))
    candidates = session.scalars(select(Questionnaire).where(
        Questionnaire.status == QuestionnaireStatus.PUBLISHED, Questionnaire.title == fresh.title,
        Questionnaire.kind == fresh.kind).order_by(Questionnaire.id.desc()))
    for candidate in candidates:
        if as_data(session, candidate) == wanted:
            return candidate
    fresh.status = QuestionnaireStatus.PUBLISHED
    fresh.published_at = utcnow()
    fresh.created_by_id = user.id if user is not None else None
    session.add(fresh)
    session.flush()
    record(session, user, "questionnaire.create", fresh, f"从模板 {template_key} 新建并发布问卷 {fresh.title}",
           template=template_key)
    record(session, user, "questionnaire.publish", fresh, f"发布问卷 {fresh.title} 第 1 版", version=1)
    return fresh


def create_from_template(session: Session, user: User | None, template_key: str, data: CampaignData) -> Campaign:
    """新建评议：从模板 — the template's questionnaire (published) and the campaign in one step."""
    check = Collector()
    if template_key not in BUILTIN_TEMPLATES:
        check.add("template", _("请选择一个问卷模板。"))
    values = _validated(session, data, None, check)
    check.raise_if_any()
    questionnaire = template_questionnaire(session, user, template_key)
    return _insert(session, user, questionnaire, values)


def update_campaign(session: Session, user: User | None, campaign: Campaign, data: CampaignData) -> None:
    """Change a campaign's settings and units; a unit with responses cannot be removed."""
    check = Collector()
    values = _validated(session, data, None, check)
    wanted = {u.id: u for u in values.pop("units")}  # type: ignore[union-attr]
    current = {cu.unit_id: cu for cu in campaign.campaign_units}
    removed = [cu for unit_id, cu in current.items() if unit_id not in wanted]
    if removed and "units" not in check.errors:
        answered = responses_by_unit(session, campaign, [cu.unit_id for cu in removed])
        kept = [cu.unit.name for cu in removed if answered.get(cu.unit_id)]
        if kept:
            check.add("units", _("这些单位已有答卷，不能移出本次评议：%(names)s。", names="、".join(kept[:10])))
    check.raise_if_any()
    before = _snapshot(campaign)
    for key, value in values.items():
        setattr(campaign, key, value)
    for cu in removed:
        campaign.campaign_units.remove(cu)
    for unit_id, unit in wanted.items():
        if unit_id not in current:
            campaign.campaign_units.append(CampaignUnit(unit=unit, short_code=unique_short_code(session)))
    session.flush()
    after = _snapshot(campaign)
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if changes:
        record(session, user, "campaign.update", campaign, f"修改评议活动 {campaign.title}", changes=changes)


def _snapshot(campaign: Campaign) -> dict[str, object]:
    return {
        "title": campaign.title, "title_en": campaign.title_en, "description": campaign.description,
        "period": campaign.period, "opens_at": campaign.opens_at.isoformat(),
        "closes_at": campaign.closes_at.isoformat(), "channels": list(campaign.channels or []),
        "group_mode": campaign.group_mode.value,
        "preset_group": campaign.preset_group.code if campaign.preset_group else None,
        "public_results": campaign.public_results,
        "units": sorted(cu.unit.code for cu in campaign.campaign_units),
    }


def change_status(session: Session, user: User | None, campaign: Campaign, action: str,
                  now: dt.datetime | None = None) -> None:
    """Open (or reopen), pause or close a campaign."""
    if action not in TRANSITIONS:
        raise DomainError(_("未知的操作。"))
    allowed, target = TRANSITIONS[action]
    if campaign.status not in allowed:
        raise DomainError(_("评议活动当前为“%(s)s”，不能执行此操作。", s=label("campaign_status", campaign.status)))
    if target == CampaignStatus.OPEN:
        now = now or utcnow()
        if not campaign.campaign_units:
            raise DomainError(_("评议活动还没有单位，不能开始。"))
        if campaign.closes_at <= now:
            raise DomainError(_("截止时间已过，请先修改截止时间再开始。"))
        if campaign.questionnaire.status != QuestionnaireStatus.PUBLISHED:
            raise DomainError(_("问卷尚未发布，不能开始。"))
    before = campaign.status
    campaign.status = target
    session.flush()
    record(session, user, f"campaign.{action}", campaign, f"评议活动 {campaign.title}：{before.value} → {target.value}",
           before=before.value, after=target.value)


def newer_version(session: Session, campaign: Campaign) -> Questionnaire | None:
    """The newest published version of the campaign's questionnaire family, if newer than the one in use."""
    newest = session.scalar(select(Questionnaire).where(
        Questionnaire.family == campaign.questionnaire.family,
        Questionnaire.status == QuestionnaireStatus.PUBLISHED,
        Questionnaire.version > campaign.questionnaire.version,
    ).order_by(Questionnaire.version.desc()).limit(1))
    return newest


def switch_questionnaire(session: Session, user: User | None, campaign: Campaign, questionnaire: Questionnaire) -> None:
    """Use another published version of the same questionnaire from now on; stored responses keep theirs."""
    old = campaign.questionnaire
    if questionnaire.family != old.family or questionnaire.status != QuestionnaireStatus.PUBLISHED:
        raise DomainError(_("只能换成同一问卷的已发布版本。"))
    if questionnaire.id == old.id:
        return
    campaign.questionnaire = questionnaire
    session.flush()
    record(session, user, "campaign.switch_questionnaire", campaign,
           f"评议活动 {campaign.title} 改用问卷第 {questionnaire.version} 版（原第 {old.version} 版）",
           before=old.id, after=questionnaire.id)


def responses_by_unit(session: Session, campaign: Campaign, unit_ids: list[int] | None = None) -> dict[int, int]:
    """Responses per unit of a campaign (all statuses): what makes a unit impossible to remove."""
    stmt = (select(Answer.unit_id, func.count(func.distinct(Answer.response_id)))
            .where(Answer.campaign_id == campaign.id, Answer.unit_id.is_not(None)).group_by(Answer.unit_id))
    if unit_ids is not None:
        stmt = stmt.where(Answer.unit_id.in_(unit_ids))
    found = {int(u): int(n) for u, n in session.execute(stmt)}
    direct = (select(Response.unit_id, func.count(Response.id))
              .where(Response.campaign_id == campaign.id, Response.unit_id.is_not(None)).group_by(Response.unit_id))
    if unit_ids is not None:
        direct = direct.where(Response.unit_id.in_(unit_ids))
    for unit_id, n in session.execute(direct):
        found[int(unit_id)] = max(found.get(int(unit_id), 0), int(n))
    return found


def unit_counts(session: Session, campaign: Campaign) -> list[UnitCount]:
    """Live counts per campaign unit, aggregated in SQL (excluded responses left out).

    A service survey counts responses opened for the unit; an appraisal counts responses
    with at least one answer about the unit.
    """
    if campaign.questionnaire.kind == QuestionnaireKind.SERVICE:
        stmt = (
            select(Response.unit_id, func.count(Response.id),
                   func.count(Response.id).filter(Response.status == ResponseStatus.FLAGGED),
                   func.max(Response.submitted_at))
            .where(Response.campaign_id == campaign.id, Response.status != ResponseStatus.EXCLUDED)
            .group_by(Response.unit_id)
        )
    else:
        stmt = (
            select(Answer.unit_id, func.count(func.distinct(Answer.response_id)),
                   func.count(func.distinct(Response.id)).filter(Response.status == ResponseStatus.FLAGGED),
                   func.max(Response.submitted_at))
            .join(Response, Response.id == Answer.response_id)
            .where(Answer.campaign_id == campaign.id, Response.status != ResponseStatus.EXCLUDED,
                   Answer.unit_id.is_not(None))
            .group_by(Answer.unit_id)
        )
    counts = {unit_id: (int(n), int(f), last) for unit_id, n, f, last in session.execute(stmt)}
    rows = []
    for cu in campaign_units(session, campaign, active_only=False):
        n, flagged, last = counts.get(cu.unit_id, (0, 0, None))
        rows.append(UnitCount(cu, n, flagged, last))
    return rows


def response_totals(session: Session, campaign_ids: list[int]) -> dict[int, int]:
    """Responses per campaign, excluded ones left out."""
    if not campaign_ids:
        return {}
    stmt = (select(Response.campaign_id, func.count(Response.id))
            .where(Response.campaign_id.in_(campaign_ids), Response.status != ResponseStatus.EXCLUDED)
            .group_by(Response.campaign_id))
    return {int(c): int(n) for c, n in session.execute(stmt)}


def list_campaigns(session: Session, statuses: set[CampaignStatus] | None = None) -> list[CampaignRow]:
    """Campaigns, newest first, with their number of units and responses."""
    stmt = select(Campaign).options(joinedload(Campaign.questionnaire)).order_by(Campaign.created_at.desc(),
                                                                                  Campaign.id.desc())
    if statuses:
        stmt = stmt.where(Campaign.status.in_(statuses))
    campaigns = list(session.scalars(stmt))
    ids = [c.id for c in campaigns]
    units = dict(session.execute(select(CampaignUnit.campaign_id, func.count(CampaignUnit.id))
                                 .where(CampaignUnit.campaign_id.in_(ids)).group_by(CampaignUnit.campaign_id)).all()) \
        if ids else {}
    totals = response_totals(session, ids)
    return [CampaignRow(c, int(units.get(c.id, 0)), totals.get(c.id, 0)) for c in campaigns]


def categories_with_units(session: Session) -> list[tuple[Category | None, list[Unit]]]:
    """Active units grouped by category (for picking units), categories in display order."""
    units = session.scalars(select(Unit).options(joinedload(Unit.category)).where(Unit.active.is_(True))
                            .outerjoin(Category, Unit.category_id == Category.id)
                            .order_by(Category.sort_order, Unit.sort_order, Unit.code))
    grouped: dict[int | None, tuple[Category | None, list[Unit]]] = {}
    for unit in units:
        grouped.setdefault(unit.category_id, (unit.category, []))[1].append(unit)
    return list(grouped.values())


@dataclass(frozen=True)
class SetupProgress:
    """What an office has set up so far: the analyst's home page guides the next step."""

    units: int
    groups: int
    published_questionnaires: int
    campaigns: int


@dataclass(frozen=True)
class LiveCampaign:
    campaign: Campaign
    units: int
    responses: int
    today: int


def setup_progress(session: Session) -> SetupProgress:
    def count(stmt) -> int:
        return int(session.scalar(stmt) or 0)

    return SetupProgress(
        units=count(select(func.count(Unit.id)).where(Unit.active.is_(True))),
        groups=count(select(func.count(RespondentGroup.id)).where(RespondentGroup.active.is_(True))),
        published_questionnaires=count(select(func.count(Questionnaire.id))
                                       .where(Questionnaire.status == QuestionnaireStatus.PUBLISHED)),
        campaigns=count(select(func.count(Campaign.id))),
    )


def live_campaigns(session: Session, since: dt.datetime) -> list[LiveCampaign]:
    """Open and paused campaigns with their responses in total and since ``since`` (start of today)."""
    rows = list_campaigns(session, {CampaignStatus.OPEN, CampaignStatus.PAUSED})
    ids = [r.campaign.id for r in rows]
    today: dict[int, int] = {}
    if ids:
        stmt = (select(Response.campaign_id, func.count(Response.id))
                .where(Response.campaign_id.in_(ids), Response.status != ResponseStatus.EXCLUDED,
                       Response.submitted_at >= since)
                .group_by(Response.campaign_id))
        today = {int(c): int(n) for c, n in session.execute(stmt)}
    return [LiveCampaign(r.campaign, r.units, r.responses, today.get(r.campaign.id, 0)) for r in rows]
