"""Organisation-wide settings over the Setting table, each with a default and a validator.

Analysts change them on the settings page; every change is audited and takes effect on the
next request, without a restart. Unknown keys are refused, so a typo never creates a setting
nobody reads. The site settings (public address, organisation name, time zone) default to
their environment variables; clearing one on the page returns to that default.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.core import audit, revision
from survey.core.errors import DomainError
from survey.models import Setting, User, utcnow

DEADLINE_DAYS = "case.deadline_working_days"
BAD_LEVEL_MAX = "case.bad_level_max"
BAD_LEVEL_HIGHEST = 3  # the highest value BAD_LEVEL_MAX may take: a level above it is never a 差评
TAG_SUGGESTIONS = "case.tag_suggestions"
COMMENT_KIND_RULE = "case.comment_kind_rule"
PUBLIC_BASE_URL = "site.public_base_url"
ORG_NAME = "site.org_name"
TIMEZONE = "site.timezone"
SITE_KEYS = (PUBLIC_BASE_URL, ORG_NAME, TIMEZONE)
CASE_KEYS = (DEADLINE_DAYS, BAD_LEVEL_MAX, TAG_SUGGESTIONS, COMMENT_KIND_RULE)
MAX_ORG_NAME = 100

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


def clean_base_url(value: Any) -> str | None:
    """``https://host[/prefix]`` without a trailing slash (as the QR codes need it); blank means unset."""
    from urllib.parse import urlsplit

    text = str(value or "").strip()
    if not text:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = urlsplit("")
    if (parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment
            or any(c.isspace() for c in text) or len(text) > 200):
        raise DomainError(_("公开网址须形如 https://pingyi.example.gov.cn（http 或 https，不带问号或 #）。"))
    return text.rstrip("/")


def clean_org_name(value: Any) -> str | None:
    from survey.core.validation import check_characters

    text = " ".join(str(value or "").split())
    if not text:
        return None
    if len(text) > MAX_ORG_NAME:
        raise DomainError(_("名称太长，最多 %(n)d 个字。", n=MAX_ORG_NAME))
    try:
        return check_characters(text, _("组织名称"))
    except ValueError as exc:
        raise DomainError(str(exc)) from exc


def clean_timezone(value: Any) -> str | None:
    """An IANA zone name (Asia/Shanghai, Asia/Urumqi, Europe/Paris); blank means the default."""
    from babel.dates import get_timezone

    text = str(value or "").strip()
    if not text:
        return None
    try:
        get_timezone(text)
    except (LookupError, ValueError) as exc:
        raise DomainError(_("无法识别时区“%(z)s”，请填写如 Asia/Shanghai 的时区名。", z=text[:40])) from exc
    return text


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
        _int_between(1, BAD_LEVEL_HIGHEST),
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
    PUBLIC_BASE_URL: Spec(
        _l("公开网址"),
        _l("印在二维码、海报和邀请链接里的网址，群众须能访问，如 https://pingyi.example.gov.cn。留空则用环境变量 PINGYI_PUBLIC_BASE_URL；两者都未设置时暂用当前访问地址。"),
        lambda: current_app.config.get("PUBLIC_BASE_URL") or None,
        clean_base_url,
    ),
    ORG_NAME: Spec(
        _l("组织名称"),
        _l("显示在页面顶部和公众首页，如“某某市绩效管理办公室”。留空则用环境变量 PINGYI_ORG_NAME。"),
        lambda: current_app.config.get("ORG_NAME") or None,
        clean_org_name,
    ),
    TIMEZONE: Spec(
        _l("时区"),
        _l("页面和导出中的时间、整改期限的“今天”按此时区计算，如 Asia/Shanghai。留空则用环境变量 PINGYI_TIMEZONE。"),
        lambda: current_app.config["BABEL_DEFAULT_TIMEZONE"],
        clean_timezone,
    ),
}


def get(session: Session, key: str) -> Any:
    """The stored value, or the default when nothing (or something no longer valid) is stored."""
    row = session.get(Setting, key)
    return _value(key, _MISSING if row is None else row.value)


def get_many(session: Session, *keys: str) -> list[Any]:
    """Several settings in one query (see :func:`current` for the request's cached copy)."""
    stored = _stored(session, keys)
    return [_value(key, stored.get(key, _MISSING)) for key in keys]


def _stored(session: Session, keys: Iterable[str]) -> dict[str, Any]:
    return dict(session.execute(select(Setting.key, Setting.value).where(Setting.key.in_(tuple(keys)))).all())


_MISSING = object()  # no row stored for the key


def _value(key: str, stored: Any) -> Any:
    spec = SPECS[key]
    if stored is _MISSING:
        return spec.default()
    try:
        value = spec.clean(stored)
    except DomainError:
        return spec.default()
    return spec.default() if value is None else value


def set_value(session: Session, key: str, value: Any, actor: User | None) -> Any:
    """Validate and store one setting; audited with the value before and after.

    A blank value (``None`` once cleaned) removes the stored one, so the default applies again.
    """
    if key not in SPECS:
        raise DomainError(_("未知设置项：%(k)s", k=key))
    clean = SPECS[key].clean(value)
    before = get(session, key)
    row = session.get(Setting, key)
    forget_cached()
    if clean is None:
        if row is not None:
            session.delete(row)
            session.flush()
            audit.record(session, actor, "setting.change", None, f"恢复默认设置 {key}", key=key, before=before,
                         after=None)
        return get(session, key)
    if clean == before and row is not None:
        return clean
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


def stored(session: Session, key: str) -> Any:
    """What the page stores for ``key`` (None when the default applies): the form shows this, not the default."""
    row = session.get(Setting, key)
    if row is None:
        return None
    try:
        return SPECS[key].clean(row.value)
    except DomainError:
        return None


# --- per-request cache of the settings ---------------------------------------------------------
# Every page reads the time zone (each time shown) and the organisation name, the submit path the
# case rules, the thank-you page the 差评 level: the stored settings are read once per worker and site
# revision (survey.core.revision: a setting's change gives a new one), each cleaned once per request.
# Outside a request (commands) nothing is cached, so a command always reads the stored value. A change
# made during a request clears the cache, and that request reads the database from then on.

_CACHE = "pingyi.settings"
_STORED = ("settings",)  # the key of the stored values in the worker's cache
_ALL_STORED = select(Setting.key, Setting.value)  # a dozen rows; built once (a statement costs to build)


def current(session: Session, *keys: str) -> list[Any]:
    """Settings as :func:`get_many` reads them, from the request's cache when ``session`` is the request's."""
    from survey.extensions import db

    store = revision.request_store()
    if store is None or (session is not db.session and session is not db.session()):
        return get_many(session, *keys)
    cache = store.get(_CACHE)
    if cache is None:  # the stored values, as read; each one cleaned (or defaulted) when first asked for
        stored = revision.cached(session, _STORED, lambda: dict(session.execute(_ALL_STORED).all()))
        cache = store[_CACHE] = (stored, {})
    stored, values = cache
    for key in keys:
        if key not in values:
            values[key] = _value(key, stored.get(key, _MISSING))
    return [values[key] for key in keys]


def site(key: str) -> Any:
    """A setting, read once per request (with every other setting)."""
    from survey.extensions import db

    return current(db.session, key)[0]


def forget_cached() -> None:
    from flask import has_app_context
    from flask_babel import refresh

    store = revision.request_store()
    if store is not None:
        store.pop(_CACHE, None)
    revision.forget()
    if has_app_context():
        refresh()  # Flask-Babel keeps the time zone (and language) in the context too


def public_base_url() -> str | None:
    """The public address for QR codes and posters: the settings page's, else PINGYI_PUBLIC_BASE_URL, else None."""
    return site(PUBLIC_BASE_URL)


def org_name() -> str | None:
    return site(ORG_NAME)


def org_timezone() -> str:
    return site(TIMEZONE)
