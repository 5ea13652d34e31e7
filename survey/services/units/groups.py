"""Respondent groups (样本类别) and their target shares / voting weights (投票权).

Rules: every active group's share is a positive number; shares need not sum to 1 —
they are saved as entered and normalised (share ÷ sum over active groups) wherever
they are used, and the pages say so and show the normalised percentages. A group that
answers, options, campaigns or invitations point at is deactivated, never deleted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.core.audit import record
from survey.core.errors import Collector, DomainError
from survey.core.references import references
from survey.core.validation import clean_code, clean_text
from survey.models import RespondentGroup, User
from survey.services.questionnaires.builtin import BUILTIN_TEMPLATES, STANDARD_GROUPS, template_group_codes

SUM_TOLERANCE = 1e-6
MAX_SHARE = 1_000_000.0


@dataclass(frozen=True)
class GroupData:
    code: str | None
    name: str | None
    name_en: str | None
    target_share: str | float | None
    active: bool = True
    sort_order: int | None = None


@dataclass(frozen=True)
class GroupRow:
    group: RespondentGroup
    normalised: float | None  # share of the active groups' total; None for inactive groups


@dataclass(frozen=True)
class GroupOverview:
    rows: list[GroupRow]
    total: float  # sum of the active groups' shares as entered

    @property
    def needs_normalising(self) -> bool:
        """Shares that are neither fractions summing to 1 nor percentages summing to 100 (the page warns)."""
        return bool(self.rows) and abs(self.total - 1.0) > SUM_TOLERANCE and not self.percentages

    @property
    def percentages(self) -> bool:
        """Shares typed as percentages (25, 30, …) summing to 100, as the page's hint allows: accepted as such."""
        return bool(self.rows) and abs(self.total - 100.0) <= SUM_TOLERANCE * 100


def _share(value: str | float | None, label: str) -> float:
    text = "" if value is None else str(value).strip().rstrip("%")
    try:
        share = float(text)
    except ValueError as exc:
        raise ValueError(_("%(label)s的目标占比应为数字。", label=label)) from exc
    if not math.isfinite(share) or share <= 0:
        raise ValueError(_("%(label)s的目标占比应为正数。", label=label))
    if share > MAX_SHARE:
        raise ValueError(_("%(label)s的目标占比太大。", label=label))
    return share


def overview(session: Session) -> GroupOverview:
    groups = list(session.scalars(select(RespondentGroup).order_by(RespondentGroup.sort_order, RespondentGroup.code)))
    total = sum(g.target_share for g in groups if g.active)
    rows = [GroupRow(g, (g.target_share / total) if g.active and total > 0 else None) for g in groups]
    return GroupOverview(rows, total)


def normalised_shares(session: Session) -> dict[int, float]:
    """Active groups' target shares scaled to sum to 1 (what the analysis uses)."""
    return {r.group.id: r.normalised for r in overview(session).rows if r.normalised is not None}


def create_group(session: Session, user: User | None, data: GroupData) -> RespondentGroup:
    check = Collector()
    code = check.take("code", clean_code, data.code, _("代码"))
    name = check.take("name", clean_text, data.name, _("名称"), limit=100, required=True)
    name_en = check.take("name_en", clean_text, data.name_en, _("英文名称"), limit=200)
    share = check.take("target_share", _share, data.target_share, name or _("新样本类别"))
    if code and session.scalar(select(RespondentGroup.id).where(RespondentGroup.code == code)):
        check.add("code", _("代码 %(code)s 已被使用。", code=code))
    check.raise_if_any()
    order = (session.scalar(select(func.max(RespondentGroup.sort_order))) or 0) + 1
    group = RespondentGroup(code=code, name=name, name_en=name_en, target_share=share, sort_order=order, active=True)
    session.add(group)
    session.flush()
    record(session, user, "group.create", group, f"新建样本类别 {code} {name}",
           after={"code": code, "name": name, "target_share": share})
    return group


def update_groups(session: Session, user: User | None, edits: dict[int, GroupData]) -> int:
    """Save every group's name, share, order and active flag together, or none if any is invalid.

    Returns the number of groups changed. At least one group must stay active.
    """
    groups = {g.id: g for g in session.scalars(select(RespondentGroup))}
    check = Collector()
    planned: dict[int, dict[str, object]] = {}
    for group_id, data in edits.items():
        group = groups.get(group_id)
        if group is None:
            check.add("", _("样本类别已被删除，请刷新页面。"))
            continue
        prefix = f"g{group_id}-"
        name = check.take(prefix + "name", clean_text, data.name, _("名称"), limit=100, required=True)
        values = {
            "name": name,
            "name_en": check.take(prefix + "name_en", clean_text, data.name_en, _("英文名称"), limit=200),
            "active": bool(data.active),
            "sort_order": data.sort_order if data.sort_order is not None else group.sort_order,
        }
        if data.active:
            values["target_share"] = check.take(prefix + "target_share", _share, data.target_share, name or group.name)
        else:  # an inactive group keeps its share (it may come back); a blank is allowed
            raw = "" if data.target_share is None else str(data.target_share).strip()
            values["target_share"] = check.take(prefix + "target_share", _share, raw, name or group.name) if raw \
                else group.target_share
        planned[group_id] = values
    if groups and not any(
        planned.get(g.id, {}).get("active", g.active) for g in groups.values()
    ):
        check.add("", _("至少要保留一个启用的样本类别。"))
    check.raise_if_any()
    changed = 0
    for group_id, values in planned.items():
        group = groups[group_id]
        before = {k: getattr(group, k) for k in values}
        if before == values:
            continue
        for key, value in values.items():
            setattr(group, key, value)
        changed += 1
        record(session, user, "group.update", group, f"修改样本类别 {group.code} {group.name}",
               changes={k: [before[k], values[k]] for k in values if before[k] != values[k]})
    session.flush()
    return changed


def delete_group(session: Session, user: User | None, group: RespondentGroup) -> None:
    """Delete a group nothing points at; a used group can only be deactivated."""
    used = references(session, "respondent_group", group.id)
    if used:
        raise DomainError(_("“%(name)s”已被问卷选项、答卷或评议活动使用，不能删除，只能停用。", name=group.name))
    record(session, user, "group.delete", group, f"删除样本类别 {group.code} {group.name}",
           before={"code": group.code, "name": group.name, "target_share": group.target_share})
    session.delete(group)
    session.flush()


def missing_template_groups(session: Session, template_key: str) -> list[dict[str, object]]:
    """The standard groups a built-in template needs that this office has not got yet."""
    template = BUILTIN_TEMPLATES.get(template_key)
    if template is None:
        return []
    existing = set(session.scalars(select(RespondentGroup.code)))
    wanted = set(template_group_codes(template))
    return [g for g in STANDARD_GROUPS if g["code"] in wanted and g["code"] not in existing]


def ensure_template_groups(session: Session, user: User | None, template_key: str) -> list[RespondentGroup]:
    """Create the groups a template's 身份 question names, if missing, with the standard shares."""
    created = []
    order = session.scalar(select(func.max(RespondentGroup.sort_order))) or 0
    for spec in missing_template_groups(session, template_key):
        order += 1
        group = RespondentGroup(**spec, sort_order=order, active=True)
        session.add(group)
        session.flush()
        record(session, user, "group.create", group, f"按模板新建样本类别 {group.code} {group.name}",
               after=dict(spec), template=template_key)
        created.append(group)
    return created
