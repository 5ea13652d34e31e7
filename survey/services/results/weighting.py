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
* trimming (cap at k × median weight) and the reliability thresholds are optional;
* reliability before verdict (``withhold_unreliable``, on): a unit failing the thresholds
  gets no grade and no rank (component.py); ``overrides`` (unit id → the analyst's
  reason) grade and rank such a unit anyway. Both go into each snapshot's specification;
  an override is set or lifted by :func:`set_override`, audited;
* thin cells: within a unit, a respondent group with fewer than ``min_cell_n``
  respondents (default 5, :data:`analysis.cells.DEFAULT_MIN_CELL_N`) is weighted together
  with the group the analyst designates here (``collapse_into``: group code → group
  code), or else pooled with the smallest other groups; a unit left with one cell is
  estimated unweighted and flagged. The rule goes into the snapshot with the other
  engine parameters.

Everything is validated before anything is saved; a refused value comes back with a
message per field. Saving is audited with the old and new settings.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis import Params
from analysis.cells import DEFAULT_MIN_CELL_N
from survey.core import labels
from survey.core.audit import record
from survey.core.errors import Collector, DomainError
from survey.models import Campaign, CampaignUnit, Channel, Question, QuestionType, RespondentGroup, User

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
    "min_cell_n": DEFAULT_MIN_CELL_N,
    "collapse_into": None,
    "withhold_unreliable": True,
    "overrides": {},
}
#: Longest reason an analyst may give for grading an unreliable unit anyway.
MAX_REASON = 500


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
    """Clean settings from a form or a stored dict; raises :class:`DomainError` with every problem."""
    check = Collector()
    method = str(raw.get("method") or "poststratify")
    if method not in labels.values("weighting_method"):
        check.add("method", _("请选择加权方法。"))
    groups = [g for g in groups_in_order(session) if g.active]
    group_shares = _group_shares(raw, groups, method, check)
    margins, channel_shares = _rake(raw, campaign, method, check)
    out = {
        "method": method,
        "group_shares": group_shares,
        "rake_margins": margins,
        "channel_shares": channel_shares,
        "trim_k": None if _blank(raw.get("trim_k")) else check.take(
            "trim_k", _number, raw.get("trim_k"), _("权数截尾倍数"), 1.0, 1000.0),
        "level_scores": _level_scores(raw, check),
        "question_weights": _question_weights(raw, campaign, check),
        **_limits(raw, check),
        "include_flagged": bool(raw.get("include_flagged")),
        **_cells(raw, groups, check),
        "withhold_unreliable": bool(raw.get("withhold_unreliable", True)),
        "overrides": dict(raw["overrides"]) if isinstance(raw.get("overrides"), Mapping)
        else dict(current(campaign)["overrides"] or {}),
    }
    check.raise_if_any()
    return out


def _shares(raw: Mapping[str, Any], wanted: list[tuple[str, str]], field: str, missing: Callable[[str], str],
            check: Collector) -> dict[str, float]:
    """Positive target shares for every ``(code, label)`` wanted; a blank one is ``missing(label)``."""
    shares: dict[str, float] = {}
    for code, label in wanted:
        value = raw.get(code)
        if _blank(value):
            check.add(f"{field}_{code}", missing(label))
            continue
        share = check.take(f"{field}_{code}", _number, value, label, 0.0, 1_000_000.0, True)
        if share is not None:
            shares[code] = share
    return shares


def _group_shares(raw: Mapping[str, Any], groups: list[RespondentGroup], method: str,
                  check: Collector) -> dict[str, float] | None:
    """Target shares typed here for every group, or none (the groups' own shares are used)."""
    shares_raw = raw.get("group_shares") or {}
    shares: dict[str, float] = {}
    problem = None
    if any(not _blank(v) for v in shares_raw.values()):
        shares = _shares(shares_raw, [(g.code, g.name) for g in groups], "group",
                         lambda g: _("请为“%(g)s”填写占比，或把全部占比留空以沿用样本类别的设置。", g=g), check)
        unknown = sorted(set(shares_raw) - {g.code for g in groups})
        if unknown:
            problem = _("未知的样本类别：%(c)s", c="、".join(unknown))
    if method in ("poststratify", "rake") and not shares and not any(g.target_share > 0 for g in groups):
        problem = _("按样本类别加权需要各类别的目标占比，请在“样本类别”中设置或在此填写。")
    if problem:
        check.add("group_shares", problem)
    return shares or None


def _rake(raw: Mapping[str, Any], campaign: Campaign, method: str,
          check: Collector) -> tuple[list[str], dict[str, float] | None]:
    """The raking margins (at least one) and, when raking by channel, every channel's target share."""
    margins = [m for m in (raw.get("rake_margins") or []) if m in labels.values("rake_margin")]
    channel_shares: dict[str, float] = {}
    if method == "rake":
        if not margins:
            check.add("rake_margins", _("迭代加权至少需要一个维度。"))
        if "channel" in margins:
            wanted = [(c, labels.label("channel", c)) for c in campaign.channels or []]
            channel_shares = _shares(raw.get("channel_shares") or {}, wanted, "channel",
                                     lambda c: _("按渠道加权时，请填写“%(c)s”的目标占比。", c=c), check)
    return margins or list(DEFAULTS["rake_margins"]), channel_shares or None


def _level_scores(raw: Mapping[str, Any], check: Collector) -> list[float] | None:
    """Five rising scores from 非常不满意 to 非常满意, or none (the questionnaire's own are used)."""
    scores_raw = raw.get("level_scores")
    if not isinstance(scores_raw, (list, tuple)) or all(_blank(v) for v in scores_raw):
        return None
    if len(scores_raw) != 5 or any(_blank(v) for v in scores_raw):
        check.add("level_scores", _("请填写全部五个等级的分值，或全部留空以沿用问卷的分值。"))
        return None
    problems = Collector()
    values = [problems.take("level_scores", _number, v, _("等级分值"), 0.0, 1000.0) for v in scores_raw]
    if problems:
        check.add("level_scores", problems.fields["level_scores"][-1])  # the last bad score is named
        return None
    if any(b <= a for a, b in itertools.pairwise(values)):
        check.add("level_scores", _("等级分值应从“非常不满意”到“非常满意”逐级升高。"))
        return None
    return values


def _question_weights(raw: Mapping[str, Any], campaign: Campaign, check: Collector) -> dict[str, float] | None:
    """A weight for every index question, at least one positive, or none (the questionnaire's own)."""
    weights_raw = raw.get("question_weights") or {}
    questions = index_questions(campaign)
    weights: dict[str, float] = {}
    if any(not _blank(v) for v in weights_raw.values()):
        for q in questions:
            value = weights_raw.get(q.code)
            if _blank(value):
                check.add(f"weight_{q.code}", _("请为 %(c)s 填写权重，或全部留空以沿用问卷的权重。", c=q.code))
                continue
            weight = check.take(f"weight_{q.code}", _number, value, _("题目权重"), 0.0, 1000.0)
            if weight is not None:
                weights[q.code] = weight
        if weights and len(weights) == len(questions) and not any(w > 0 for w in weights.values()):
            check.add("question_weights", _("至少一道题的权重应大于 0。"))
    if not questions:
        check.add("question_weights", _("问卷没有计入指数的满意度题目，无法计算指数。"))
    return weights or None


def _limits(raw: Mapping[str, Any], check: Collector) -> dict[str, Any]:
    """The confidence level and the sample rules that decide whether a unit is ranked."""
    confidence = check.take("confidence", _number, raw.get("confidence", 0.95), _("置信水平"), 0.5, 0.999)
    min_n = check.take("min_n", _number, raw.get("min_n", 30), _("最少样本量"), 0.0, 1_000_000.0)
    if min_n is not None and min_n != int(min_n):
        check.add("min_n", _("最少样本量应为整数。"))
    return {
        "confidence": confidence,
        "min_n": int(min_n) if min_n is not None else None,
        "min_n_eff": check.take("min_n_eff", _number, raw.get("min_n_eff", 30), _("最少有效样本量"), 0.0, 1_000_000.0),
        "max_rse": check.take("max_rse", _number, raw.get("max_rse", 0.3), _("相对标准误上限"), 0.0, 10.0),
        "max_dont_know": check.take("max_dont_know", _number, raw.get("max_dont_know", 0.5),
                                    _("“不了解”比例上限"), 0.0, 1.0),
    }


def _cells(raw: Mapping[str, Any], groups: list[RespondentGroup], check: Collector) -> dict[str, Any]:
    """The thin-cell rule: the minimum respondents of a weighting cell, and group → group designations."""
    value = raw.get("min_cell_n")
    min_cell_n = DEFAULT_MIN_CELL_N if _blank(value) else check.take(
        "min_cell_n", _number, value, _("每个加权单元的最少人数"), 1.0, 1000.0)
    if min_cell_n is not None and min_cell_n != int(min_cell_n):
        check.add("min_cell_n", _("每个加权单元的最少人数应为整数。"))
    codes = {g.code: g.name for g in groups}
    into: dict[str, str] = {}
    for source, target in (raw.get("collapse_into") or {}).items():
        if _blank(target):
            continue
        source, target = str(source), str(target).strip()
        if source not in codes or target not in codes:
            check.add(f"collapse_{source}", _("请选择有效的样本类别。"))
        elif source == target:
            check.add(f"collapse_{source}", _("“%(g)s”不能并入它自己。", g=codes[source]))
        else:
            into[source] = target
    return {"min_cell_n": int(min_cell_n) if min_cell_n is not None else DEFAULT_MIN_CELL_N,
            "collapse_into": into or None}


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


def set_override(session: Session, campaign: Campaign, user: User | None, unit_id: int,
                 reason: str | None) -> bool:
    """Grade and rank a unit of the campaign despite failing the reliability thresholds (``reason`` given),
    or lift that (``reason`` None). Takes effect at the next computation; audited. Returns whether it changed."""
    if session.scalar(select(CampaignUnit.id).where(CampaignUnit.campaign_id == campaign.id,
                                                    CampaignUnit.unit_id == unit_id)) is None:
        raise DomainError({"reason": _("该单位不在本评议活动中。")})
    settings = current(campaign)
    overrides = {str(k): v for k, v in (settings["overrides"] or {}).items()}
    key = str(unit_id)
    if reason is None:
        if key not in overrides:
            return False
        before = overrides.pop(key)
        summary = _("撤销了对单位 #%(u)s 的样本不足例外", u=unit_id)
    else:
        reason = reason.strip()
        if not reason:
            raise DomainError({"reason": _("请写明仍要评定等次和排名的理由。")})
        if len(reason) > MAX_REASON:
            raise DomainError({"reason": _("理由不能超过 %(n)d 个字。", n=MAX_REASON)})
        before = overrides.get(key)
        if before == reason:
            return False
        overrides[key] = reason
        summary = _("对单位 #%(u)s 作出样本不足例外：仍评定等次和排名", u=unit_id)
    campaign.analysis_settings = {**settings, "overrides": overrides}
    record(session, user, "results.override", campaign, summary, unit_id=unit_id, before=before, reason=reason)
    return True


def build_params(
    session: Session, campaign: Campaign, settings: Mapping[str, Any], present_group_ids: set[int],
    present_channels: set[str],
) -> tuple[Params, Layout]:
    """The engine's parameters for this campaign and the id ↔ code layout.

    Group codes cover the active groups and any other group that has respondents; a group
    with respondents but no positive share cannot be weighted, which is an error here,
    never a silent drop. Raises :class:`DomainError`.
    """
    questions = index_questions(campaign)
    if not questions:
        raise DomainError({"question_weights": _("问卷没有计入指数的满意度题目，无法计算指数。")})
    q_weights = settings.get("question_weights") or {}
    weights = tuple(float(q_weights.get(q.code, q.weight)) for q in questions)
    if not any(w > 0 for w in weights) or any(w < 0 for w in weights):
        raise DomainError({"question_weights": _("题目权重应非负，且至少一道题大于 0。")})
    scores = tuple(float(v) for v in (settings.get("level_scores") or campaign.questionnaire.level_scores))

    all_groups = groups_in_order(session)
    groups = [g for g in all_groups if g.active or g.id in present_group_ids]
    overrides = settings.get("group_shares") or {}
    method = settings.get("method", "poststratify")
    targets: dict[str, tuple[float, ...]] = {}
    check = Collector()
    if method in ("poststratify", "rake"):
        shares = [float(overrides.get(g.code, g.target_share) if overrides else g.target_share) for g in groups]
        bad = [g.name for g, s in zip(groups, shares) if not s > 0 and g.id in present_group_ids]
        if bad:
            check.add("group_shares", _("样本类别“%(g)s”有答卷，但目标占比不是正数，无法加权。", g="、".join(bad)))
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
            check.add("channel_shares", _("渠道“%(c)s”有答卷，但没有设定目标占比，无法按渠道加权。", c="、".join(missing)))
        channels = [c for c in channels if float(channel_shares.get(c, 0)) > 0]
        targets["channel"] = tuple(float(channel_shares[c]) for c in channels)
    check.raise_if_any()
    collapse_into: dict[str, dict[int, int]] = {}
    if method in ("poststratify", "rake") and settings.get("collapse_into"):
        position = {g.code: k for k, g in enumerate(groups)}
        collapse_into["group"] = {position[a]: position[b] for a, b in settings["collapse_into"].items()
                                  if a in position and b in position}
    min_cell_n = settings.get("min_cell_n")
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
        min_cell_n=int(min_cell_n) if min_cell_n is not None else DEFAULT_MIN_CELL_N,
        collapse_into={k: v for k, v in collapse_into.items() if v},
    )
    layout = Layout(tuple(q.id for q in questions), tuple(q.code for q in questions),
                    tuple(g.id for g in groups), tuple(channels))
    return params, layout
