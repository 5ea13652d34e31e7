"""Organisation-wide settings over the Setting table, each with a default and a validator.

Analysts change them on the settings page; every change is audited. Unknown keys are
refused, so a typo never creates a setting nobody reads.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.core import audit
from survey.core.errors import DomainError
from survey.models import Setting, User, utcnow

DEADLINE_DAYS = "case.deadline_working_days"
BAD_LEVEL_MAX = "case.bad_level_max"
TAG_SUGGESTIONS = "case.tag_suggestions"
COMMENT_KIND_RULE = "case.comment_kind_rule"

#: What a comment is when the citizen did not say (the rule): "by_rating" = 投诉 when the same
#: response gave the unit a 差评, else 建议; or always one kind.
COMMENT_KIND_RULES = ("by_rating", "complaint", "suggestion", "praise")

DEFAULT_TAGS = ["服务态度", "办事效率", "材料要求", "环境设施", "系统故障", "政策咨询", "表扬"]
MAX_TAG_LENGTH = 40


@dataclass(frozen=True)
class Spec:
    label: Any
    help: Any
    default: Callable[[], Any]
    clean: Callable[[Any], Any]
    choices: tuple[tuple[str, Any], ...] = ()  # for a setting picked from a list: (value, label)


def _int_between(low: int, high: int) -> Callable[[Any], int]:
    def clean(value: Any) -> int:
        try:
            number = int(str(value).strip())
        except (TypeError, ValueError) as exc:
            raise DomainError(_("请输入 %(a)d 到 %(b)d 之间的整数。", a=low, b=high)) from exc
        if not low <= number <= high:
            raise DomainError(_("请输入 %(a)d 到 %(b)d 之间的整数。", a=low, b=high))
        return number

    return clean


def clean_tags(value: Any) -> list[str]:
    """One tag per line (or comma separated); blanks and repeats dropped, at most 40 characters each."""
    if isinstance(value, str):
        parts = value.replace("，", ",").replace("\n", ",").split(",")
    else:
        parts = list(value or [])
    tags: list[str] = []
    for part in parts:
        tag = str(part).strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise DomainError(_("标签“%(t)s…”太长，最多 %(n)d 个字。", t=tag[:10], n=MAX_TAG_LENGTH))
        if tag not in tags:
            tags.append(tag)
    if len(tags) > 50:
        raise DomainError(_("最多 50 个常用标签。"))
    return tags


def _one_of(allowed: tuple[str, ...]) -> Callable[[Any], str]:
    def clean(value: Any) -> str:
        text = str(value or "").strip()
        if text not in allowed:
            raise DomainError(_("请从列表中选择一项。"))
        return text

    return clean


SPECS: dict[str, Spec] = {
    DEADLINE_DAYS: Spec(
        _l("整改期限（工作日）"),
        _l("意见建议和差评须在提交后的第几个工作日内办结（周末和节假日不计）。"),
        lambda: int(current_app.config["CASE_DEADLINE_WORKING_DAYS"]),
        _int_between(1, 60),
    ),
    BAD_LEVEL_MAX: Spec(
        _l("差评的满意度等级上限"),
        _l("任一题的满意度等级不高于此值即为差评：2 = 不满意和非常不满意（默认），1 = 仅非常不满意。"),
        lambda: 2,
        _int_between(1, 3),
    ),
    COMMENT_KIND_RULE: Spec(
        _l("意见类别的默认规则"),
        _l("答题人在意见框旁可选投诉、建议或表扬；未选时按此规则归类。表扬只登记、可查看，不设办结期限；"
           "同一答卷对同一单位既有差评又有意见时只生成一件。"),
        lambda: "by_rating",
        _one_of(COMMENT_KIND_RULES),
        (("by_rating", _l("按评价：有差评为投诉，否则为建议")), ("complaint", _l("一律为投诉")),
         ("suggestion", _l("一律为建议")), ("praise", _l("一律为表扬（不设期限）"))),
    ),
    TAG_SUGGESTIONS: Spec(
        _l("常用分类标签"),
        _l("处理件可选的分类标签，每行一个。"),
        lambda: list(DEFAULT_TAGS),
        clean_tags,
    ),
}


def get(session: Session, key: str) -> Any:
    """The stored value, or the default when nothing (or something no longer valid) is stored."""
    return _value(key, session.get(Setting, key))


def get_many(session: Session, *keys: str) -> list[Any]:
    """Several settings in one query (the submit path reads two on every response)."""
    rows = {row.key: row for row in session.scalars(select(Setting).where(Setting.key.in_(keys)))}
    return [_value(key, rows.get(key)) for key in keys]


def _value(key: str, row: Setting | None) -> Any:
    spec = SPECS[key]
    if row is None:
        return spec.default()
    try:
        return spec.clean(row.value)
    except DomainError:
        return spec.default()


def set_value(session: Session, key: str, value: Any, actor: User | None) -> Any:
    """Validate and store one setting; audited with the value before and after."""
    if key not in SPECS:
        raise DomainError(_("未知设置项：%(k)s", k=key))
    clean = SPECS[key].clean(value)
    before = get(session, key)
    if clean == before and session.get(Setting, key) is not None:
        return clean
    row = session.get(Setting, key)
    if row is None:
        row = Setting(key=key, value=clean)
        session.add(row)
    else:
        row.value = clean
    row.updated_at = utcnow()
    row.updated_by_id = actor.id if actor is not None else None
    session.flush()
    audit.record(session, actor, "setting.change", None, f"修改设置 {key}", key=key, before=before, after=clean)
    return clean


def all_values(session: Session) -> dict[str, Any]:
    return {key: get(session, key) for key in SPECS}
