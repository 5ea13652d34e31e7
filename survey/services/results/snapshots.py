"""A period's results as immutable snapshots: compute, verify, publish.

Rules:

* computing a campaign stores a *draft* snapshot: its specification (every parameter, the
  data cut-off — newest response id and time — the responses excluded or flagged at that
  moment, the leader ratings and component scheme used, the previous period's snapshot),
  the code version, a SHA-256 digest of the input arrays, and one row per unit;
* excluded responses never count; flagged ones only when the analyst includes them;
* a snapshot never changes (an ORM update of its numbers or parameters is refused at
  flush; only its publication state moves). Verifying recomputes it from its own specification and the
  stored answers and compares every number bit for bit; a changed answer shows up as a
  different digest and different numbers;
* publishing marks a snapshot *official* (the numbers that go to the performance
  system); it is deliberate: callers show :func:`review` (what becomes official, every
  warning) and publish only on an explicit confirmation. Publishing while the campaign
  already has an official snapshot is a *correction*: it needs a reason, the old snapshot
  is superseded but kept, and the new one records which one it corrects and why.
  Publishing, correcting and making a snapshot public are audited; only an official snapshot of a campaign that opted in to
  public results can be public.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, selectinload

from survey import ROOT
from survey.core import settings
from survey.core.audit import record
from survey.core.errors import DomainError
from survey.models import (
    AuditLog,
    Campaign,
    CampaignUnit,
    LeaderRating,
    Questionnaire,
    QuestionType,
    Snapshot,
    SnapshotRow,
    SnapshotStatus,
    Unit,
    User,
    utcnow,
)
from survey.services.accounts.access import subtree_ids
from survey.services.results import component, question_results, weighting
from survey.services.results.breakdowns import FORMAT as BREAKDOWNS_FORMAT
from survey.services.results.evaluation import (
    RANKING,
    ROW_FIELDS,
    SPEC_FORMAT,
    STEPS,
    Evaluation,
    clean,
    evaluate,
)
from survey.services.results.loading import DataError, PairTable, current_cutoff, load_pairs

CODE_FILES = ("analysis/*.py", "survey/services/results/loading.py", "survey/services/results/evaluation.py",
              "survey/services/results/component.py", "survey/services/results/weighting.py",
              "survey/services/results/snapshots.py")
Progress = Callable[[str, int, int], None]  # (phase running now, steps done, STEPS)


class ResultsError(DomainError):
    """The campaign cannot be computed as set up; the message says why (in the user's language)."""


# --- code version -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def code_version() -> str:
    """``git describe`` when the code is a checkout, plus a hash of the files that compute results."""
    h = hashlib.sha256()
    for pattern in CODE_FILES:
        for path in sorted(ROOT.glob(pattern)):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    digest = h.hexdigest()[:12]
    try:
        described = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                                   text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    return f"{described[:40]}+{digest}" if described else f"code+{digest}"


# --- periods ----------------------------------------------------------------------------------

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_HALF = re.compile(r"^(\d{4})H([12])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
PERIOD_SHAPE = re.compile(r"^[0-9A-Za-z-]{1,16}$")  # what a 考评周期 can look like in a URL


def is_period(text: str | None) -> bool:
    """Text that can be a period (2026, 2026Q3, 2026H1, 2026-07): anything else is refused before any query."""
    return bool(PERIOD_SHAPE.match(text or ""))


def previous_period(period: str) -> str | None:
    """2026Q1 → 2025Q4, 2026H1 → 2025H2, 2026-01 → 2025-12, 2026 → 2025; None for another shape."""
    if m := _QUARTER.match(period):
        year, quarter = int(m.group(1)), int(m.group(2))
        return f"{year - 1}Q4" if quarter == 1 else f"{year}Q{quarter - 1}"
    if m := _HALF.match(period):
        year, half = int(m.group(1)), int(m.group(2))
        return f"{year - 1}H2" if half == 1 else f"{year}H1"
    if m := _MONTH.match(period):
        year, month = int(m.group(1)), int(m.group(2))
        return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"
    if m := _YEAR.match(period):
        return str(int(m.group(1)) - 1)
    return None


def previous_snapshot(session: Session, campaign: Campaign) -> Snapshot | None:
    """The previous period of the same series (a campaign with the same questionnaire family):
    its official snapshot, else its newest draft."""
    period = previous_period(campaign.period)
    if period is None:
        return None
    family = campaign.questionnaire.family
    candidates = list(session.scalars(
        select(Snapshot).join(Campaign, Campaign.id == Snapshot.campaign_id)
        .join(Questionnaire, Questionnaire.id == Campaign.questionnaire_id)
        .where(Questionnaire.family == family, Snapshot.period == period, Campaign.id != campaign.id)
        .order_by(Snapshot.id.desc())
    ))
    official = [s for s in candidates if s.status == SnapshotStatus.OFFICIAL]
    return (official or candidates or [None])[0]


# --- building the specification ---------------------------------------------------------------


def _comment_question_ids(campaign: Campaign) -> list[int]:
    return [q.id for q in campaign.questionnaire.questions if q.type == QuestionType.TEXT and q.is_comment]


def _units_of(session: Session, campaign: Campaign, pairs: PairTable) -> list[int]:
    listed = set(session.scalars(select(CampaignUnit.unit_id).where(CampaignUnit.campaign_id == campaign.id)))
    return sorted(listed | set(np.unique(pairs.unit).tolist()))


def _service_spec(session: Session, campaign: Campaign, scheme: dict[str, Any], units: list[int],
                  include_flagged: bool) -> dict[str, Any] | None:
    """The window-service source: which campaigns, which of their units count for which unit."""
    ids = scheme.get("service_campaign_ids") or []
    if not ids or not scheme["weights"].get("service"):
        return None
    campaigns = list(session.scalars(select(Campaign).where(Campaign.id.in_(ids)).order_by(Campaign.id)))
    if len(campaigns) != len(ids):
        raise ResultsError(_("公众评议方案所选的服务对象评价活动已不存在，请重新设置方案。"))
    service_units: set[int] = set()
    for c in campaigns:
        service_units |= set(session.scalars(select(CampaignUnit.unit_id).where(CampaignUnit.campaign_id == c.id)))
    links = []
    for unit_id in units:
        for member in sorted(subtree_ids(session, unit_id) & service_units):
            links.append([member, unit_id])
    first = campaigns[0]
    codes = [q.code for q in weighting.index_questions(first)]
    sources, present_groups, present_channels = [], set(), set()
    for c in campaigns:
        by_code = {q.code: q.id for q in weighting.index_questions(c)}
        cutoff = current_cutoff(session, c.id, include_flagged)
        question_ids = [by_code.get(code, -1) for code in codes]
        pairs = load_pairs(session, cutoff, question_ids, (), sorted({s for s, _t in links}))
        present_groups |= set(np.unique(pairs.group).tolist())
        present_channels |= {weighting.CHANNEL_ORDER[c_] for c_ in np.unique(pairs.channel).tolist() if c_ >= 0}
        sources.append({"campaign_id": c.id, "cutoff": cutoff.to_dict(), "question_ids": question_ids})
    service_settings = weighting.current(first)
    params, layout = weighting.build_params(session, first, service_settings, present_groups, present_channels)
    return {"sources": sources, "links": links, "settings_campaign_id": first.id,
            "params": params.to_dict(), "layout": layout.to_dict(),
            "no_group_code": len(layout.group_ids) if params.method == "none" else None}


def build_spec(session: Session, campaign: Campaign, include_flagged: bool | None = None,
               progress: Progress | None = None) -> tuple[dict[str, Any], PairTable]:
    """Everything the campaign's result depends on now, and the survey answers already loaded."""
    current = weighting.current(campaign)
    if include_flagged is None:
        include_flagged = bool(current["include_flagged"])
    questions = weighting.index_questions(campaign)
    if not questions:
        raise ResultsError(_("问卷没有计入指数的满意度题目，无法计算指数。"))
    if len(questions) > 20:
        raise ResultsError(_("计入指数的题目超过 20 道，请减少题目或把部分题目设为不计入指数。"))
    step = progress or (lambda phase, done, total: None)
    step("load", 0, STEPS)
    cutoff = current_cutoff(session, campaign.id, include_flagged)
    loaded_at = utcnow()
    step("load", 1, STEPS)
    queries = iter((2, 3))
    try:
        pairs = load_pairs(session, cutoff, [q.id for q in questions], _comment_question_ids(campaign),
                           tick=lambda: step("load", next(queries), STEPS))
    except DataError as exc:
        raise ResultsError(_("答卷数据有误，无法计算：%(e)s", e=str(exc))) from exc
    present_groups = set(np.unique(pairs.group).tolist())
    present_channels = {weighting.CHANNEL_ORDER[c] for c in np.unique(pairs.channel).tolist() if c >= 0}
    try:
        params, layout = weighting.build_params(session, campaign, current, present_groups, present_channels)
    except DomainError as exc:
        raise ResultsError(_("加权设置无法用于本活动的答卷：%(e)s", e=str(exc))) from exc
    units = _units_of(session, campaign, pairs)
    unit_rows = session.execute(select(Unit.id, Unit.category_id).where(Unit.id.in_(units))).all()
    scheme_settings = component.current(session, campaign) if component.scheme_for(session, campaign) else None
    leader = None
    if scheme_settings and scheme_settings["weights"].get("leader"):
        leader = [[r.unit_id, r.score] for r in session.scalars(
            select(LeaderRating).where(LeaderRating.period == campaign.period, LeaderRating.unit_id.in_(units))
            .order_by(LeaderRating.unit_id))]
    service = None
    if scheme_settings:
        try:
            service = _service_spec(session, campaign, scheme_settings, units, include_flagged)
        except ResultsError:
            raise
        except DomainError as exc:
            raise ResultsError(_("服务对象评价活动的加权设置无法使用：%(e)s", e=str(exc))) from exc
        except DataError as exc:
            raise ResultsError(_("服务对象评价的答卷数据有误：%(e)s", e=str(exc))) from exc
    previous = previous_snapshot(session, campaign)
    spec = {
        "format": SPEC_FORMAT,
        "campaign_id": campaign.id,
        "period": campaign.period,
        "loaded_at": loaded_at.isoformat(),
        "survey": {
            "cutoff": cutoff.to_dict(), "layout": layout.to_dict(), "params": params.to_dict(),
            "settings": current, "comment_question_ids": _comment_question_ids(campaign),
            "no_group_code": len(layout.group_ids) if params.method == "none" else None,
        },
        "units": units,
        "categories": sorted([[r.id, r.category_id] for r in unit_rows]),
        "leader": leader,
        "service": service,
        "scheme": scheme_settings,
        "ranking": dict(RANKING),
        "overall_rate": "weighted",
        "breakdowns": BREAKDOWNS_FORMAT,
        "previous_snapshot_id": previous.id if previous else None,
        "bad_level_max": int(settings.get(session, settings.BAD_LEVEL_MAX)),
    }
    if items := question_results.item_specs(campaign):  # per-question results of the other question types
        spec["items"] = items
    return spec, pairs


# --- computing and storing --------------------------------------------------------------------


def compute_snapshot(session: Session, campaign: Campaign, user: User | None, include_flagged: bool | None = None,
                     note: str | None = None, timings: dict[str, float] | None = None,
                     progress: Progress | None = None) -> Snapshot:
    """Compute the campaign now and store a draft snapshot (not committed; audited)."""
    started = time.perf_counter()
    spec, pairs = build_spec(session, campaign, include_flagged, progress)
    loaded = time.perf_counter()
    try:
        evaluation = evaluate(session, spec, survey_pairs=pairs, progress=progress)
    except ValueError as exc:
        raise ResultsError(_("计算失败：%(e)s", e=str(exc))) from exc
    computed = time.perf_counter()
    if progress:
        progress("write", 4, STEPS)
    snapshot = _store(session, campaign, user, spec, evaluation, note)
    written = time.perf_counter()
    if timings is not None:
        timings["load"] = loaded - started + evaluation.timings.get("load", 0.0)
        timings["compute"] = computed - loaded - evaluation.timings.get("load", 0.0)
        timings["write"] = written - computed
    if progress:
        progress("write", 5, STEPS)
    return snapshot


#: What a stored snapshot is made of; only its publication state (status, public, published_*) may change.
FROZEN = ("campaign_id", "period", "params", "data_cutoff", "max_response_id", "code_version", "summary",
          "created_at", "created_by_id")


class FrozenSnapshotError(RuntimeError):
    """Something tried to change a stored snapshot's numbers or parameters."""


@event.listens_for(Snapshot, "before_update")
def _snapshot_is_frozen(_mapper: Any, _connection: Any, target: Snapshot) -> None:
    state = inspect(target)
    changed = [name for name in FROZEN if state.attrs[name].history.has_changes()]
    if changed:
        raise FrozenSnapshotError(f"snapshot {target.id} is immutable; refused change of {', '.join(changed)}")


@event.listens_for(SnapshotRow, "before_update")
def _snapshot_row_is_frozen(_mapper: Any, _connection: Any, target: SnapshotRow) -> None:
    raise FrozenSnapshotError(f"snapshot {target.snapshot_id} is immutable; refused change of a row")


def _store(session: Session, campaign: Campaign, user: User | None, spec: dict[str, Any],
           evaluation: Evaluation, note: str | None) -> Snapshot:
    loaded_at = dt.datetime.fromisoformat(spec["loaded_at"])
    snapshot = Snapshot(
        campaign_id=campaign.id, period=campaign.period, status=SnapshotStatus.DRAFT, params=spec,
        data_cutoff=loaded_at, max_response_id=spec["survey"]["cutoff"]["max_response_id"],
        code_version=code_version(), summary=evaluation.summary, created_by_id=getattr(user, "id", None),
        note=(note or "").strip()[:500] or None,
    )
    session.add(snapshot)
    session.flush()
    session.execute(SnapshotRow.__table__.insert(), [dict(row.columns(), snapshot_id=snapshot.id) for row in evaluation.rows])
    record(session, user, "results.compute", snapshot,
           _("计算了“%(t)s”（%(p)s），生成草稿结果 #%(id)d", t=campaign.title, p=campaign.period, id=snapshot.id),
           campaign_id=campaign.id, units=len(evaluation.rows), responses=evaluation.summary.get("responses"),
           digest=evaluation.summary.get("digest"))
    session.expire(snapshot, ["rows"])
    return snapshot


def _canonical(value: Any) -> str:
    return json.dumps(clean(value), sort_keys=True, ensure_ascii=False)


@dataclass
class Verification:
    identical: bool
    digest_matches: bool
    differences: list[str]
    code_version_then: str
    code_version_now: str
    seconds: float


def verify(session: Session, snapshot: Snapshot, user: User | None) -> Verification:
    """Recompute ``snapshot`` from its own specification; compare every stored number (audited)."""
    started = time.perf_counter()
    try:
        evaluation = evaluate(session, snapshot.params)
    except ValueError as exc:
        evaluation = None
        differences = [_("无法复算：%(e)s", e=str(exc))]
    stored = {r.unit_id: r for r in session.scalars(select(SnapshotRow).where(SnapshotRow.snapshot_id == snapshot.id))}
    if evaluation is not None:
        differences = []
        fresh = {r.unit_id: r for r in evaluation.rows}
        for unit_id in sorted(set(stored) | set(fresh)):
            if unit_id not in stored or unit_id not in fresh:
                differences.append(_("单位 %(u)s：行不一致（多出或缺少）", u=unit_id))
                continue
            for name in ROW_FIELDS:
                then, now = getattr(stored[unit_id], name), getattr(fresh[unit_id], name)
                if _canonical(then) != _canonical(now):
                    differences.append(_("单位 %(u)s：%(f)s 原为 %(a)s，复算为 %(b)s", u=unit_id, f=name,
                                         a=_short(then), b=_short(now)))
        for key in sorted(set(snapshot.summary or {}) | set(evaluation.summary)):
            if _canonical((snapshot.summary or {}).get(key)) != _canonical(evaluation.summary.get(key)):
                differences.append(_("汇总 %(k)s：原为 %(a)s，复算为 %(b)s", k=key,
                                     a=_short((snapshot.summary or {}).get(key)), b=_short(evaluation.summary.get(key))))
    digest_then = (snapshot.summary or {}).get("digest")
    digest_now = evaluation.summary.get("digest") if evaluation else None
    result = Verification(
        identical=not differences, digest_matches=digest_then == digest_now, differences=differences,
        code_version_then=snapshot.code_version, code_version_now=code_version(),
        seconds=time.perf_counter() - started,
    )
    record(session, user, "results.verify", snapshot,
           _("复算结果 #%(id)d：%(r)s", id=snapshot.id, r=_("完全一致") if result.identical else _("不一致")),
           identical=result.identical, digest_matches=result.digest_matches, differences=differences[:50],
           n_differences=len(differences), code_version_now=result.code_version_now)
    return result


def _short(value: Any) -> str:
    text = _canonical(value)
    return text if len(text) <= 80 else text[:77] + "…"


def last_verification(session: Session, snapshot: Snapshot) -> AuditLog | None:
    return session.scalar(select(AuditLog).where(AuditLog.action == "results.verify",
                                                 AuditLog.object_type == "Snapshot",
                                                 AuditLog.object_id == str(snapshot.id))
                          .order_by(AuditLog.id.desc()).limit(1))


# --- publication ------------------------------------------------------------------------------


@dataclass
class PublishWarning:
    """One kind of thing the analyst should know before the result becomes official."""

    kind: str  # ungraded, override, sanction, flag, replaces, draft_public_off
    text: str
    units: list[str]


@dataclass
class Review:
    """What publishing a snapshot makes official (and perhaps public), and everything to check first."""

    snapshot: Snapshot
    campaign: Campaign
    units: int
    public_allowed: bool  # the campaign opted in to a public results page
    replaces: Snapshot | None  # the official snapshot this one would correct
    warnings: list[PublishWarning]

    @property
    def is_correction(self) -> bool:
        return self.replaces is not None


#: The scheme's lowest grade: a public sanction.
SANCTION_GRADE = component.GRADES[-1]


def _unit_label(row: SnapshotRow) -> str:
    unit = row.unit
    return _("%(name)s（%(code)s）", name=unit.name, code=unit.code) if unit is not None else str(row.unit_id)


def _overrides(snapshot: Snapshot, row: SnapshotRow) -> Any:
    """An analyst's override of the unit's verdict, if the snapshot stores one (read defensively)."""
    detail = row.detail or {}
    found = detail.get("override") or detail.get("overrides")
    if found:
        return found
    stored = (snapshot.params or {}).get("overrides")
    if isinstance(stored, dict):
        return stored.get(str(row.unit_id)) or stored.get(row.unit_id)
    if isinstance(stored, list):
        return next((o for o in stored if isinstance(o, dict) and o.get("unit_id") == row.unit_id), None)
    return None


def _reason_of(override: Any) -> str:
    if isinstance(override, dict):
        return str(override.get("reason") or "").strip()
    return ""


def review(session: Session, snapshot: Snapshot) -> Review:
    """Everything the publication confirmation lists: what becomes official and every warning."""
    from survey.core import labels

    campaign = session.get(Campaign, snapshot.campaign_id)
    rows = sorted(rows_of(session, snapshot), key=lambda r: (r.unit.code if r.unit else "", r.unit_id))
    scheme = (snapshot.params or {}).get("scheme") or None
    grading = bool(scheme) and (scheme.get("grading") or "none") != "none"
    warnings: list[PublishWarning] = []
    missing = []
    for r in rows:
        lacks = []
        if r.rank is None:
            lacks.append(_("无排名"))
        if grading and r.grade is None:
            lacks.append(_("无等次"))
        if (r.detail or {}).get("unreliable"):
            lacks.append(_("结果不可靠"))
        if lacks:
            why = _("、").join(labels.label("flag", f) for f in (r.flags or []))
            missing.append(_("%(unit)s：%(lacks)s", unit=_unit_label(r), lacks=_("、").join(lacks))
                           + (_("（%(why)s）", why=why) if why else ""))
    if missing:
        warnings.append(PublishWarning("ungraded", ngettext("%(num)d 个单位没有排名或等次，或结果不可靠（样本不足、待定）",
                                                      "%(num)d 个单位没有排名或等次，或结果不可靠（样本不足、待定）", len(missing)),
                                 missing))
    overridden = []
    for r in rows:
        override = _overrides(snapshot, r)
        if override:
            reason = _reason_of(override)
            overridden.append(_unit_label(r) + (_("：%(r)s", r=reason) if reason else ""))
    if overridden:
        warnings.append(PublishWarning("override", ngettext("%(num)d 个单位的结论由分析人员人工改定",
                                                      "%(num)d 个单位的结论由分析人员人工改定", len(overridden)),
                                 overridden))
    sanctioned = [_unit_label(r) for r in rows if r.grade == SANCTION_GRADE]
    if sanctioned:
        warnings.append(PublishWarning("sanction", ngettext("%(num)d 个单位被评为%(g)s（公开的惩戒性等次）",
                                                        "%(num)d 个单位被评为%(g)s（公开的惩戒性等次）", len(sanctioned),
                                                        g=labels.label("grade", SANCTION_GRADE)), sanctioned))
    by_flag: dict[str, list[str]] = {}
    for r in rows:
        for f in r.flags or []:
            by_flag.setdefault(f, []).append(_unit_label(r))
    for f, units in sorted(by_flag.items()):
        warnings.append(PublishWarning("flag", ngettext("标记“%(f)s”：%(num)d 个单位", "标记“%(f)s”：%(num)d 个单位", len(units),
                                                       f=labels.label("flag", f)),
                                 units))
    replaces = None
    if snapshot.status != SnapshotStatus.OFFICIAL:
        replaces = session.scalar(select(Snapshot).where(Snapshot.campaign_id == snapshot.campaign_id,
                                                         Snapshot.status == SnapshotStatus.OFFICIAL,
                                                         Snapshot.id != snapshot.id)
                                  .order_by(Snapshot.id.desc()).limit(1))
    return Review(snapshot=snapshot, campaign=campaign, units=len(rows), public_allowed=bool(campaign.public_results),
                  replaces=replaces, warnings=warnings)


def publish(session: Session, snapshot: Snapshot, user: User | None, public: bool = False,
            reason: str | None = None) -> Snapshot:
    """Make the snapshot the campaign's official result.

    When the campaign already has an official snapshot this is a *correction*: ``reason`` is
    required, stored on the new snapshot (``corrects_id``, ``correction_reason``) and the old
    one is superseded (it stays in the archive). Audited as ``results.publish`` or
    ``results.correct``. Callers show :func:`review` and ask for confirmation first.
    """
    if snapshot.status == SnapshotStatus.SUPERSEDED:
        raise ResultsError(_("已被替代的结果不能再发布，请重新计算。"))
    campaign = session.get(Campaign, snapshot.campaign_id)
    if public and not campaign.public_results:
        raise ResultsError(_("该评议活动未开启“向公众公布结果”，不能公开。"))
    if snapshot.status == SnapshotStatus.OFFICIAL:
        return set_public(session, snapshot, user, public) if public != snapshot.public else snapshot
    replaced = list(session.scalars(select(Snapshot).where(Snapshot.campaign_id == snapshot.campaign_id,
                                                          Snapshot.status == SnapshotStatus.OFFICIAL,
                                                          Snapshot.id != snapshot.id)
                                    .order_by(Snapshot.id.desc())))
    reason = (reason or "").strip()
    if replaced and not reason:
        raise ResultsError(_("本活动已有正式结果 #%(id)d：发布新结果即为更正，必须填写更正原因。", id=replaced[0].id))
    if len(reason) > 1000:
        raise ResultsError(_("更正原因不能超过 1000 字。"))
    was_public = any(other.public for other in replaced)
    for other in replaced:
        other.status = SnapshotStatus.SUPERSEDED
        other.public = False
    snapshot.status = SnapshotStatus.OFFICIAL
    snapshot.published_at = utcnow()
    snapshot.published_by_id = getattr(user, "id", None)
    snapshot.public = bool(public)
    if replaced:
        snapshot.corrects_id = replaced[0].id
        snapshot.correction_reason = reason
        record(session, user, "results.correct", snapshot,
               _("以结果 #%(id)d 更正了“%(t)s”（%(p)s）的正式结果 #%(old)d：%(r)s", id=snapshot.id, t=campaign.title,
                 p=snapshot.period, old=replaced[0].id, r=reason),
               campaign_id=campaign.id, superseded=[o.id for o in replaced], reason=reason, public=bool(public),
               was_public=was_public)
    else:
        record(session, user, "results.publish", snapshot,
               _("发布了“%(t)s”（%(p)s）的结果 #%(id)d 为正式结果", t=campaign.title, p=snapshot.period, id=snapshot.id),
               campaign_id=campaign.id, superseded=[], public=bool(public))
    return snapshot


def corrected_by(session: Session, snapshot: Snapshot) -> Snapshot | None:
    """The snapshot that corrected this one (an official result replaced with a reason), if any."""
    return session.scalar(select(Snapshot).where(Snapshot.corrects_id == snapshot.id)
                          .order_by(Snapshot.id.desc()).limit(1))


def set_public(session: Session, snapshot: Snapshot, user: User | None, public: bool) -> Snapshot:
    """Show or hide an official snapshot on the public results page (campaigns that opted in only)."""
    campaign = session.get(Campaign, snapshot.campaign_id)
    if public and snapshot.status != SnapshotStatus.OFFICIAL:
        raise ResultsError(_("只有正式结果可以向公众公开。"))
    if public and not campaign.public_results:
        raise ResultsError(_("该评议活动未开启“向公众公布结果”，不能公开。"))
    if snapshot.public != public:
        snapshot.public = public
        record(session, user, "results.public" if public else "results.unpublic", snapshot,
               _("结果 #%(id)d %(a)s", id=snapshot.id, a=_("已向公众公开") if public else _("已停止公开")),
               campaign_id=campaign.id)
    return snapshot


# --- reading ----------------------------------------------------------------------------------

def snapshots_of(session: Session, campaign_id: int) -> list[Snapshot]:
    return list(session.scalars(select(Snapshot).where(Snapshot.campaign_id == campaign_id)
                                .order_by(Snapshot.id.desc())))


def rows_of(session: Session, snapshot: Snapshot, unit_ids: set[int] | None = None) -> list[SnapshotRow]:
    stmt = (select(SnapshotRow).options(selectinload(SnapshotRow.unit))
            .where(SnapshotRow.snapshot_id == snapshot.id))
    if unit_ids is not None:
        stmt = stmt.where(SnapshotRow.unit_id.in_(unit_ids or {-1}))
    return list(session.scalars(stmt))




PUBLISHED = (SnapshotStatus.OFFICIAL, SnapshotStatus.SUPERSEDED)


def series(session: Session, campaign: Campaign, drafts: bool = False) -> list[Snapshot]:
    """One snapshot per period of the campaign's series (same questionnaire family), oldest first:
    the official one; with ``drafts`` (analysts and administrators only), else the newest draft.

    Drafts are work in progress: a unit contact's trend table and chart never show one.
    """
    allowed = (SnapshotStatus.OFFICIAL, SnapshotStatus.DRAFT) if drafts else (SnapshotStatus.OFFICIAL,)
    rows = list(session.scalars(
        select(Snapshot).join(Campaign, Campaign.id == Snapshot.campaign_id)
        .join(Questionnaire, Questionnaire.id == Campaign.questionnaire_id)
        .where(Questionnaire.family == campaign.questionnaire.family, Snapshot.status.in_(allowed))
        .order_by(Snapshot.id.desc())
    ))
    chosen: dict[str, Snapshot] = {}
    for s in rows:
        best = chosen.get(s.period)
        if best is None or (s.status == SnapshotStatus.OFFICIAL and best.status != SnapshotStatus.OFFICIAL):
            chosen[s.period] = s
    return sorted(chosen.values(), key=lambda s: s.period)


def compared_with_published(session: Session, snapshot: Snapshot) -> bool:
    """Whether the previous-period comparison stored in ``snapshot`` (each row's ``trend``) was made
    against a published snapshot. Computing falls back to the previous period's newest draft, so a
    comparison with a draft may be stored: only analysts see it, never a unit contact, the API or the
    public."""
    previous_id = (snapshot.params or {}).get("previous_snapshot_id")
    if not previous_id:
        return True  # nothing compared, nothing to hide
    previous = session.get(Snapshot, previous_id)
    return previous is not None and previous.status in PUBLISHED
