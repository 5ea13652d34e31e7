"""Invited panels: personal single-use links for 人大代表, 政协委员, 企业代表 … (SMS mail merge).

An analyst uploads a list (name or code, respondent group, optional mobile number);
every row is checked first and nothing is written unless the whole list is valid.
Each invitee then gets one link with an unguessable code (128 bits); the response
made through it carries the invitee's group without asking, the channel
``invitation`` and the invitation's id, and consumes the link in the same
transaction, so it can be used once.

Mobile numbers are the analyst's, for the SMS merge only: they are never shown to
unit contacts, never joined to answers, and a retention job deletes them.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from survey.core import audit, spreadsheets
from survey.core.clock import format_local, org_timezone
from survey.core.errors import DomainError
from survey.core.validation import bad_character
from survey.models import (
    Campaign,
    CampaignStatus,
    Channel,
    GroupMode,
    Invitation,
    QuestionnaireKind,
    RespondentGroup,
    User,
    utcnow,
)
from survey.services.campaigns import lookup as campaign_service
from survey.services.campaigns import qr
from survey.services.campaigns.lookup import Target

LABEL_MAX = 200
COLUMNS = {
    "label": ("姓名或编号", "姓名", "编号", "name", "label", "name or code"),
    "group": ("样本类别", "类别", "群体", "group", "respondent group"),
    "phone": ("手机", "手机号", "手机号码", "phone", "mobile"),
}
EXPORT_HEADERS = [_l("姓名或编号"), _l("样本类别"), _l("手机"), _l("个人链接"), _l("状态"), _l("生成时间")]
_PHONE = re.compile(r"1[3-9][0-9]{9}")  # ASCII digits only: an SMS gateway needs them


class InvitationError(DomainError):
    """The list cannot be imported for this campaign; the message says why."""


class InvitationAlreadyUsed(Exception):
    """The link was used by another submission first."""


@dataclass(frozen=True)
class Invitee:
    line: int
    label: str
    group: RespondentGroup
    phone: str | None


@dataclass
class Preview:
    """The checked list: rows ready to create, and every problem with its line number."""

    rows: list[Invitee] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    total: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)

    def by_group(self) -> list[tuple[RespondentGroup, int]]:
        counts = Counter(row.group.id for row in self.rows)
        groups = {row.group.id: row.group for row in self.rows}
        return sorted(((groups[g], n) for g, n in counts.items()), key=lambda item: item[0].sort_order)


def campaign_problem(campaign: Campaign) -> str | None:
    """Why this campaign cannot take invitations, or None.

    Invitations need the invitation channel, a campaign that is not closed, and a
    questionnaire an invitee can answer from one link: an appraisal, or a one-unit survey.
    """
    if campaign.questionnaire.kind == QuestionnaireKind.SERVICE and len(campaign.campaign_units) != 1:
        return _("邀请链接用于万人评议类问卷（一人评多个单位），或只有一个单位的服务评价活动。")
    if not campaign.allows_channel(Channel.INVITATION):
        return _("本评议活动没有开通“邀请链接”渠道，请先在活动设置中开通。")
    if campaign.status == CampaignStatus.CLOSED:
        return _("本评议活动已经结束，不能再生成邀请链接。")
    return None


def check_campaign(campaign: Campaign) -> None:
    problem = campaign_problem(campaign)
    if problem is not None:
        raise InvitationError(problem)


def normalise_phone(raw: str) -> str | None:
    """An 11-digit mainland mobile number, with +86/0086, spaces and dashes forgiven; else None.

    Full-width digits (１３８…, as Chinese input methods type them) are read as ASCII digits;
    other scripts' digits (٥, ५) are not phone numbers.
    """
    digits = re.sub(r"[\s\-()（）]", "", unicodedata.normalize("NFKC", raw))
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
            break
    return digits if _PHONE.fullmatch(digits) else None


def _column_index(headers: list[str]) -> dict[str, int]:
    lowered = [h.strip().lower() for h in headers]
    found = {}
    for key, names in COLUMNS.items():
        for name in names:
            if name.lower() in lowered:
                found[key] = lowered.index(name.lower())
                break
    return found


def preview(session: Session, campaign: Campaign, data: bytes) -> Preview:
    """Read and check an uploaded list (.xlsx or CSV); nothing is written."""
    check_campaign(campaign)
    try:
        table = spreadsheets.read_table(data)
    except spreadsheets.SpreadsheetError as exc:
        raise InvitationError(str(exc)) from exc
    columns = _column_index(table.headers)
    preset = campaign.preset_group if campaign.group_mode == GroupMode.PRESET else None
    if "label" not in columns:
        raise InvitationError(_("找不到“姓名或编号”列。表头应为：姓名或编号、样本类别、手机（可选）。"))
    if "group" not in columns and preset is None:
        raise InvitationError(_("找不到“样本类别”列。表头应为：姓名或编号、样本类别、手机（可选）。"))

    groups = list(session.scalars(select(RespondentGroup).where(RespondentGroup.active.is_(True))))
    by_key: dict[str, RespondentGroup] = {}
    for group in groups:
        for key in (group.code, group.name, group.name_en):
            if key:
                by_key.setdefault(key.strip().lower(), group)
    known_phones = set(session.scalars(
        select(Invitation.phone).where(Invitation.campaign_id == campaign.id, Invitation.phone.is_not(None))
    ))

    result = Preview(total=len(table.rows))
    seen_phone: dict[str, int] = {}
    seen_row: dict[tuple[str, int, str | None], int] = {}
    for line, cells in zip(table.lines, table.rows, strict=True):
        label = cells[columns["label"]].strip()
        group_raw = cells[columns["group"]].strip() if "group" in columns else ""
        phone_raw = cells[columns["phone"]].strip() if "phone" in columns else ""
        problems = []
        if not label:
            problems.append(_("缺少姓名或编号"))
        elif len(label) > LABEL_MAX:
            problems.append(_("姓名或编号超过 %(n)d 个字", n=LABEL_MAX))
        elif char := bad_character(label):
            problems.append(_("姓名或编号含有控制字符或无效字符（%(char)s）", char=char))
        group = by_key.get(group_raw.lower()) if group_raw else preset
        if group is None:
            problems.append(_("样本类别“%(g)s”不存在", g=group_raw) if group_raw else _("缺少样本类别"))
        elif preset is not None and group.id != preset.id:
            problems.append(_("本活动的样本类别固定为“%(g)s”", g=preset.name))
        phone = None
        if phone_raw:
            phone = normalise_phone(phone_raw)
            if phone is None:
                problems.append(_("手机号“%(p)s”不是 11 位手机号码", p=phone_raw))
            elif phone in known_phones:
                problems.append(_("手机号 %(p)s 已有本活动的邀请链接", p=phone))
            elif phone in seen_phone:
                problems.append(_("手机号与第 %(n)d 行重复", n=seen_phone[phone]))
        if not problems and group is not None:
            key = (label, group.id, phone)
            if key in seen_row:
                problems.append(_("与第 %(n)d 行重复", n=seen_row[key]))
            seen_row.setdefault(key, line)
        if phone:
            seen_phone.setdefault(phone, line)
        if problems:
            result.errors.append((line, _("；").join(problems)))
        else:
            result.rows.append(Invitee(line, label, group, phone))
    if not table.rows:
        result.errors.append((1, _("文件里只有表头，没有邀请对象。")))
    return result


def create(session: Session, campaign: Campaign, checked: Preview, user: User) -> list[Invitation]:
    """One invitation per row of a fully valid list, in one transaction, audited."""
    check_campaign(campaign)
    if not checked.ok:
        raise InvitationError(_("名单还有错误，没有生成任何邀请链接。"))
    now = utcnow()
    created = [
        Invitation(campaign_id=campaign.id, code=new_code(), label=row.label, respondent_group_id=row.group.id,
                   phone=row.phone, created_at=now)
        for row in checked.rows
    ]
    session.add_all(created)
    audit.record(session, user, "invitation.import", campaign,
                 f"为“{campaign.title}”生成 {len(created)} 个邀请链接", count=len(created),
                 groups={g.code: n for g, n in checked.by_group()})
    session.commit()
    return created


def new_code() -> str:
    """128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Summary:
    total: int
    used: int
    with_phone: int
    by_group: list[tuple[str, int, int]]  # group name, invitations, used


def summary(session: Session, campaign: Campaign) -> Summary:
    rows = session.execute(
        select(RespondentGroup.name, func.count(Invitation.id), func.count(Invitation.used_at),
               func.count(Invitation.phone))
        .select_from(Invitation)
        .outerjoin(RespondentGroup, RespondentGroup.id == Invitation.respondent_group_id)
        .where(Invitation.campaign_id == campaign.id)
        .group_by(RespondentGroup.name, RespondentGroup.sort_order)
        .order_by(RespondentGroup.sort_order)
    ).all()
    return Summary(
        total=sum(r[1] for r in rows), used=sum(r[2] for r in rows), with_phone=sum(r[3] for r in rows),
        by_group=[(name or "—", n, used) for name, n, used, _phones in rows],
    )


def export_rows(session: Session, campaign: Campaign, base_url: str) -> list[list[object]]:
    """The mail-merge table: name or code, group, mobile, personal link, used or not, created."""
    invitations = session.scalars(
        select(Invitation).options(joinedload(Invitation.respondent_group))
        .where(Invitation.campaign_id == campaign.id).order_by(Invitation.id)
    )
    return [
        [inv.label, inv.respondent_group.name if inv.respondent_group else "", inv.phone or "",
         qr.invitation_url(base_url, inv.code), _("已使用") if inv.used_at else _("未使用"),
         _local_time(inv.created_at)]
        for inv in invitations
    ]


def _local_time(value: dt.datetime) -> str:
    return format_local(value, org_timezone())


def target_for(session: Session, invitation: Invitation) -> Target | None:
    """What an invitation opens: an appraisal's whole campaign, or a one-unit survey's unit."""
    campaign = session.get(Campaign, invitation.campaign_id)
    if campaign is None:
        return None
    if campaign.questionnaire.kind == QuestionnaireKind.APPRAISAL:
        return Target(campaign, None)
    units = campaign_service.campaign_units(session, campaign)
    return Target(campaign, units[0]) if len(units) == 1 else None


def find(session: Session, code: str) -> Invitation | None:
    """The invitation behind a personal link (codes are case-sensitive and exact)."""
    if not code or len(code) > 40:
        return None
    return session.scalar(
        select(Invitation).options(joinedload(Invitation.respondent_group)).where(Invitation.code == code)
    )


def consume(session: Session, invitation_id: int, now: dt.datetime | None = None) -> None:
    """Mark the link used in the caller's transaction, or raise :class:`InvitationAlreadyUsed`."""
    result = session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.used_at.is_(None))
        .values(used_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise InvitationAlreadyUsed(invitation_id)
