"""Per-campaign weighting settings (``Campaign.analysis_settings``) and the engine parameters they give.

Rules:

* method 加权方法: ``poststratify`` by respondent group (default), ``rake`` on group and
  channel margins, or ``none`` (every respondent counts once);
* group shares (投票权) default to the respondent groups' target shares; an analyst may
  override them for one campaign. Shares need not sum to 1: the engine renormalises them
  over the groups present among each unit's respondents;
* channel shares are needed only for raking on the channel margin, one per channel the
  campaign collects on;
* level scores default to the questionnaire's (0/25/50/75/100), question weights to the
  questions' own weights; only satisfaction questions counted in the index are used;
* trimming (cap at k × median weight) and the reliability thresholds are optional.

Everything is validated before anything is saved; a refused value comes back with a
message per field. Saving is audited with the old and new settings.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis import Params
from survey.core import labels
from survey.core.audit import record
from survey.models import Campaign, Channel, Question, QuestionType, RespondentGroup, User

CHANNEL_ORDER = [c.value for c in Channel]
DEFAULTS: dict[str, Any] = {
    "method": "poststratify",
    "group_shares": None,
    "channel_shares": None,
    "rake_margins": ["group", "channel"],
    "trim_k": None,
    "level_scores": None,
    "question_weights": None,
    "confidence": 0.95,
    "min_n": 30,
    "min_n_eff": 30.0,
    "max_rse": 0.30,
    "max_dont_know": 0.5,
    "include_flagged": False,
}


class SettingsError(ValueError):
    """Refused settings; ``errors`` maps a field name to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("；".join(errors.values()))


@dataclass(frozen=True)
class Layout:
    """How database ids become the engine's codes: question codes 0… are ``question_ids``
    in order, group codes ``group_ids``, channel codes ``channels``."""

    question_ids: tuple[int, ...]
    question_codes: tuple[str, ...]
    group_ids: tuple[int, ...]
    channels: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"question_ids": list(self.question_ids), "question_codes": list(self.question_codes),
                "group_ids": list(self.group_ids), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Layout:
        return cls(tuple(int(v) for v in data["question_ids"]), tuple(str(v) for v in data["question_codes"]),
                   tuple(int(v) for v in data["group_ids"]), tuple(str(v) for v in data["channels"]))


def index_questions(campaign: Campaign) -> list[Question]:
    """The questionnaire's satisfaction questions that count towards the index, in order."""
    return [q for q in campaign.questionnaire.questions if q.type == QuestionType.SATISFACTION and q.in_index]


def groups_in_order(session: Session) -> list[RespondentGroup]:
    return list(session.scalars(select(RespondentGroup).order_by(RespondentGroup.sort_order, RespondentGroup.code)))


def current(campaign: Campaign) -> dict[str, Any]:
    """The campaign's settings with defaults filled in."""
    stored = campaign.analysis_settings or {}
    return {key: stored.get(key, default) for key, default in DEFAULTS.items()}


def _number(value: Any, label: str, low: float | None = None, high: float | None = None,
            low_open: bool = False) -> float:
    text = "" if value is None else str(value).strip().rstrip("%")
    try:
        number = float(text)
    except ValueError as exc:
        raise ValueError(_("%(label)s应为数字。", label=label)) from exc
    if not math.isfinite(number):
        raise ValueError(_("%(label)s应为有限的数字。", label=label))
    if low is not None and (number <= low if low_open else number < low):
        raise ValueError(_("%(label)s应大于%(eq)s %(n)s。", label=label, eq="" if low_open else _("或等于"), n=_fmt(low)))
    if high is not None and number > high:
        raise ValueError(_("%(label)s不能超过 %(n)s。", label=label, n=_fmt(high)))
    return number


def _fmt(value: float) -> str:
    return f"{value:g}"


def _blank(value: Any) -> bool:
    return value is None or str(value).strip() == ""


def validate(session: Session, campaign: Campaign, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Clean settings from a form or a stored dict; raises :class:`SettingsError` with every problem."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}

    def take(field: str, func, *args: Any) -> Any:
        try:
            return func(*args)
        except ValueError as exc:
            errors[field] = str(exc)
            return None

    method = str(raw.get("method") or "poststratify")
    if method not in labels.values("weighting_method"):
        errors["method"] = _("请选择加权方法。")
    out["method"] = method

    groups = [g for g in groups_in_order(session) if g.active]
    shares_raw = raw.get("group_shares") or {}
    shares: dict[str, float] = {}
    if any(not _blank(v) for v in shares_raw.values()):
        for group in groups:
            value = shares_raw.get(group.code)
            if _blank(value):
                errors[f"group_{group.code}"] = _("请为“%(g)s”填写占比，或把全部占比留空以沿用样本类别的设置。", g=group.name)
                continue
            share = take(f"group_{group.code}", _number, value, group.name, 0.0, 1_000_000.0, True)
            if share is not None:
                shares[group.code] = share
        unknown = sorted(set(shares_raw) - {g.code for g in groups})
        if unknown:
            errors["group_shares"] = _("未知的样本类别：%(c)s", c="、".join(unknown))
    out["group_shares"] = shares or None
    if method in ("poststratify", "rake") and not shares and not any(g.target_share > 0 for g in groups):
        errors["group_shares"] = _("按样本类别加权需要各类别的目标占比，请在“样本类别”中设置或在此填写。")

    margins = [m for m in (raw.get("rake_margins") or []) if m in labels.values("rake_margin")]
    channel_raw = raw.get("channel_shares") or {}
    channel_shares: dict[str, float] = {}
    if method == "rake":
        if not margins:
            errors["rake_margins"] = _("迭代加权至少需要一个维度。")
        if "channel" in margins:
            for channel in campaign.channels or []:
                value = channel_raw.get(channel)
                label = labels.label("channel", channel)
                if _blank(value):
                    errors[f"channel_{channel}"] = _("按渠道加权时，请填写“%(c)s”的目标占比。", c=label)
                    continue
                share = take(f"channel_{channel}", _number, value, label, 0.0, 1_000_000.0, True)
                if share is not None:
                    channel_shares[channel] = share
    out["rake_margins"] = margins or list(DEFAULTS["rake_margins"])
    out["channel_shares"] = channel_shares or None

    out["trim_k"] = None if _blank(raw.get("trim_k")) else take("trim_k", _number, raw.get("trim_k"),
                                                                 _("权数截尾倍数"), 1.0, 1000.0)

    scores_raw = raw.get("level_scores")
    out["level_scores"] = None
    if isinstance(scores_raw, (list, tuple)) and any(not _blank(v) for v in scores_raw):
        if len(scores_raw) != 5 or any(_blank(v) for v in scores_raw):
            errors["level_scores"] = _("请填写全部五个等级的分值，或全部留空以沿用问卷的分值。")
        else:
            values = [take("level_scores", _number, v, _("等级分值"), 0.0, 1000.0) for v in scores_raw]
            if "level_scores" not in errors:
                if any(b <= a for a, b in itertools.pairwise(values)):
                    errors["level_scores"] = _("等级分值应从“非常不满意”到“非常满意”逐级升高。")
                else:
                    out["level_scores"] = values

    weights_raw = raw.get("question_weights") or {}
    questions = index_questions(campaign)
    weights: dict[str, float] = {}
    if any(not _blank(v) for v in weights_raw.values()):
        for q in questions:
            value = weights_raw.get(q.code)
            if _blank(value):
                errors[f"weight_{q.code}"] = _("请为 %(c)s 填写权重，或全部留空以沿用问卷的权重。", c=q.code)
                continue
            weight = take(f"weight_{q.code}", _number, value, _("题目权重"), 0.0, 1000.0)
            if weight is not None:
                weights[q.code] = weight
        if weights and len(weights) == len(questions) and not any(w > 0 for w in weights.values()):
            errors["question_weights"] = _("至少一道题的权重应大于 0。")
    if not questions:
        errors["question_weights"] = _("问卷没有计入指数的满意度题目，无法计算指数。")
    out["question_weights"] = weights or None

    confidence = take("confidence", _number, raw.get("confidence", 0.95), _("置信水平"), 0.5, 0.999)
    out["confidence"] = confidence
    min_n = take("min_n", _number, raw.get("min_n", 30), _("最少样本量"), 0.0, 1_000_000.0)
    if min_n is not None and min_n != int(min_n):
        errors["min_n"] = _("最少样本量应为整数。")
    out["min_n"] = int(min_n) if min_n is not None else None
    out["min_n_eff"] = take("min_n_eff", _number, raw.get("min_n_eff", 30), _("最少有效样本量"), 0.0, 1_000_000.0)
    out["max_rse"] = take("max_rse", _number, raw.get("max_rse", 0.3), _("相对标准误上限"), 0.0, 10.0)
    out["max_dont_know"] = take("max_dont_know", _number, raw.get("max_dont_know", 0.5), _("“不了解”比例上限"), 0.0, 1.0)
    out["include_flagged"] = bool(raw.get("include_flagged"))
    if errors:
        raise SettingsError(errors)
    return out


def save(session: Session, campaign: Campaign, user: User | None, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and store the campaign's settings; audited with before and after."""
    clean = validate(session, campaign, raw)
    before = current(campaign)
    if clean == before:
        return clean
    campaign.analysis_settings = clean
    record(session, user, "results.settings", campaign, _("修改了“%(t)s”的加权与计分设置", t=campaign.title),
           before=before, after=clean)
    return clean


def build_params(
    session: Session, campaign: Campaign, settings: Mapping[str, Any], present_group_ids: set[int],
    present_channels: set[str],
) -> tuple[Params, Layout]:
    """The engine's parameters for this campaign and the id ↔ code layout.

    Group codes cover the active groups and any other group that has respondents; a group
    with respondents but no positive share cannot be weighted, which is an error here,
    never a silent drop. Raises :class:`SettingsError`.
    """
    questions = index_questions(campaign)
    if not questions:
        raise SettingsError({"question_weights": _("问卷没有计入指数的满意度题目，无法计算指数。")})
    q_weights = settings.get("question_weights") or {}
    weights = tuple(float(q_weights.get(q.code, q.weight)) for q in questions)
    if not any(w > 0 for w in weights) or any(w < 0 for w in weights):
        raise SettingsError({"question_weights": _("题目权重应非负，且至少一道题大于 0。")})
    scores = tuple(float(v) for v in (settings.get("level_scores") or campaign.questionnaire.level_scores))

    all_groups = groups_in_order(session)
    groups = [g for g in all_groups if g.active or g.id in present_group_ids]
    overrides = settings.get("group_shares") or {}
    method = settings.get("method", "poststratify")
    targets: dict[str, tuple[float, ...]] = {}
    errors: dict[str, str] = {}
    if method in ("poststratify", "rake"):
        shares = [float(overrides.get(g.code, g.target_share) if overrides else g.target_share) for g in groups]
        bad = [g.name for g, s in zip(groups, shares) if not s > 0 and g.id in present_group_ids]
        if bad:
            errors["group_shares"] = _("样本类别“%(g)s”有答卷，但目标占比不是正数，无法加权。", g="、".join(bad))
        kept = [(g, s) for g, s in zip(groups, shares) if s > 0 or g.id in present_group_ids]
        groups = [g for g, _s in kept]
        targets["group"] = tuple(s for _g, s in kept)
    channels = [c for c in CHANNEL_ORDER if c in present_channels or c in (campaign.channels or [])]
    margins = list(settings.get("rake_margins") or ["group"])
    if method == "rake" and "channel" in margins:
        channel_shares = settings.get("channel_shares") or {}
        missing = [labels.label("channel", c) for c in channels if c in present_channels
                   and not float(channel_shares.get(c, 0)) > 0]
        if missing:
            errors["channel_shares"] = _("渠道“%(c)s”有答卷，但没有设定目标占比，无法按渠道加权。", c="、".join(missing))
        channels = [c for c in channels if float(channel_shares.get(c, 0)) > 0]
        targets["channel"] = tuple(float(channel_shares[c]) for c in channels)
    if errors:
        raise SettingsError(errors)
    params = Params(
        method=method,
        scores=scores,
        question_weights=weights,
        targets=targets,
        rake_margins=tuple(margins) if method == "rake" else None,
        trim_k=settings.get("trim_k"),
        confidence=float(settings.get("confidence") or 0.95),
        min_n=int(settings.get("min_n") if settings.get("min_n") is not None else 30),
        min_n_eff=float(settings.get("min_n_eff") if settings.get("min_n_eff") is not None else 30.0),
        max_rse=float(settings.get("max_rse") if settings.get("max_rse") is not None else 0.3),
        max_dont_know=float(settings.get("max_dont_know") if settings.get("max_dont_know") is not None else 0.5),
    )
    layout = Layout(tuple(q.id for q in questions), tuple(q.code for q in questions),
                    tuple(g.id for g in groups), tuple(channels))
    return params, layout
