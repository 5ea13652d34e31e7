"""The JSON the performance-management system pulls: official snapshots and each unit's 公众评议 component.

Only official (and, for history, superseded) snapshots are served; drafts are work in
progress and never leave the office. Numbers are plain JSON numbers (null when not
estimable), rates are fractions (0.95 = 95 %), scores are on the 0–100 scale and
``points`` on the component's own scale (``points_max``).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, selectinload

from survey.core import clock
from survey.core.lookups import by_id
from survey.core.validation import is_code
from survey.models import Campaign, Category, Snapshot, SnapshotRow, SnapshotStatus, Unit
from survey.services.results import question_sheets
from survey.services.results.component import GRADE_CODES
from survey.services.results.evaluation import overall_rates
from survey.services.results.snapshots import compared_with_published

SERVED = (SnapshotStatus.OFFICIAL, SnapshotStatus.SUPERSEDED)


def _iso(moment: Any) -> str | None:
    """ISO-8601 with the organisation's offset (e.g. ``2026-12-07T05:16:00+08:00``), like the pages."""
    return clock.iso_local(moment, clock.org_timezone()) if moment else None


def _correction(snapshot: Snapshot) -> dict[str, Any]:
    """Whether this result corrects an earlier official one, or was itself corrected: when and why."""
    out: dict[str, Any] = {"corrects": None, "corrected_by": None}
    if snapshot.corrects_id:
        out["corrects"] = {"id": snapshot.corrects_id, "reason": snapshot.correction_reason,
                           "corrected_at": _iso(snapshot.published_at)}
    session = object_session(snapshot)
    newer = session.scalar(select(Snapshot).where(Snapshot.corrects_id == snapshot.id)
                           .order_by(Snapshot.id.desc()).limit(1)) if session is not None else None
    if newer is not None and newer.status in SERVED:
        out["corrected_by"] = {"id": newer.id, "reason": newer.correction_reason,
                               "corrected_at": _iso(newer.published_at)}
    return out


def snapshot_meta(snapshot: Snapshot, campaign: Campaign) -> dict[str, Any]:
    scheme = (snapshot.params or {}).get("scheme")
    summary = snapshot.summary or {}
    return {
        "id": snapshot.id,
        "period": snapshot.period,
        "status": snapshot.status.value,
        "campaign": {"code": campaign.short_code, "title": campaign.title},
        "published_at": _iso(snapshot.published_at),
        "computed_at": _iso(snapshot.created_at),
        "data_cutoff": _iso(snapshot.data_cutoff),
        "max_response_id": snapshot.max_response_id,
        "code_version": snapshot.code_version,
        "input_digest": (summary.get("digest") or {}).get("survey"),
        "responses": summary.get("responses"),
        "overall_satisfied_rate": overall_rates(summary)[0],
        "overall_satisfied_rate_unweighted": overall_rates(summary)[1],
        "points_max": scheme["points"] if scheme else None,
        "confidence": snapshot.params["survey"]["params"]["confidence"],
        "rank_level": scheme["rank_level"] if scheme else 0.9,
        **_correction(snapshot),
    }


def unit_row(row: SnapshotRow, unit: Unit, category: Category | None, snapshot: Snapshot,
             trend_published: bool = True) -> dict[str, Any]:
    """One unit's row; ``trend_published`` False drops a comparison made against a draft snapshot."""
    d = row.detail or {}
    scheme = (snapshot.params or {}).get("scheme")
    trend = d.get("trend") if trend_published else None
    service = d.get("service") or {}
    return {
        "unit_code": unit.code,
        "unit_name": unit.name,
        "category_code": category.code if category else None,
        "category_name": category.name if category else None,
        "points": row.component_points,
        "points_max": scheme["points"] if scheme else None,
        "grade": row.grade,
        "grade_code": GRADE_CODES.get(row.grade) if row.grade else None,
        "grade_note": d.get("grade_note"),
        # reliability before verdict: no grade and no rank for want of reliability, and the analyst's exception
        "withheld": bool(d.get("withheld")),
        "override_reason": d.get("override"),
        "rank": row.rank,
        "rank_low": row.rank_lo,
        "rank_high": row.rank_hi,
        "ranked_in_category": d.get("n_ranked"),
        "p_bottom": d.get("p_bottom"),
        "score": d.get("score"),
        "score_ci": d.get("score_ci"),
        "index": row.index,
        "index_se": row.index_se,
        "index_ci": [row.index_lo, row.index_hi],
        "satisfied_rate": row.satisfied_rate,
        "satisfied_rate_se": row.satisfied_rate_se,
        "satisfied_rate_ci": d.get("satisfied_rate_ci"),
        "n": row.n,
        "n_eff": row.n_eff,
        "leader_score": d.get("leader"),
        "service_index": service.get("index"),
        "flags": row.flags or [],
        "questions": question_sheets.api_unit_questions(d),  # single/multiple choice, 0–10, text (docs/api.md)
        "trend": None if not trend else {
            "previous_index": trend["previous_index"], "difference": trend["difference"],
            "ci": trend["ci"], "p_value": trend["p_value"],
        },
    }


def periods(session: Session) -> list[dict[str, Any]]:
    official = {s.campaign_id: s.id for s in session.scalars(
        select(Snapshot).where(Snapshot.status == SnapshotStatus.OFFICIAL).order_by(Snapshot.id))}
    out: dict[str, list[dict[str, Any]]] = {}
    for c in session.scalars(select(Campaign).order_by(Campaign.period.desc(), Campaign.id)):
        out.setdefault(c.period, []).append({"code": c.short_code, "title": c.title,
                                             "official_snapshot": official.get(c.id)})
    return [{"period": p, "campaigns": cs} for p, cs in out.items()]


def list_snapshots(session: Session, period: str | None, campaign: Campaign | None) -> list[dict[str, Any]]:
    stmt = select(Snapshot, Campaign).join(Campaign, Campaign.id == Snapshot.campaign_id).where(
        Snapshot.status.in_(SERVED))
    if period:
        stmt = stmt.where(Snapshot.period == period)
    if campaign is not None:
        stmt = stmt.where(Snapshot.campaign_id == campaign.id)
    return [snapshot_meta(s, c) for s, c in session.execute(stmt.order_by(Snapshot.id.desc()))]


def served_snapshot(session: Session, snapshot_id: int) -> Snapshot | None:
    snapshot = by_id(session, Snapshot, snapshot_id)
    return snapshot if snapshot is not None and snapshot.status in SERVED else None


def _rows(session: Session, snapshot: Snapshot, unit_id: int | None = None) -> list[dict[str, Any]]:
    stmt = (select(SnapshotRow).options(selectinload(SnapshotRow.unit))
            .where(SnapshotRow.snapshot_id == snapshot.id))
    if unit_id is not None:
        stmt = stmt.where(SnapshotRow.unit_id == unit_id)
    rows = list(session.scalars(stmt))
    categories = {c.id: c for c in session.scalars(select(Category))}
    rows.sort(key=lambda r: (categories[r.category_id].sort_order if r.category_id in categories else 1 << 30,
                             r.rank if r.rank is not None else 1 << 30, r.unit.code))
    trend_published = compared_with_published(session, snapshot)
    return [unit_row(r, r.unit, categories.get(r.category_id), snapshot, trend_published) for r in rows]


def snapshot_payload(session: Session, snapshot: Snapshot) -> dict[str, Any]:
    campaign = session.get(Campaign, snapshot.campaign_id)
    return {"snapshot": snapshot_meta(snapshot, campaign), "units": _rows(session, snapshot),
            "questions": question_sheets.api_questions(session, snapshot)}


def period_component(session: Session, period: str) -> dict[str, Any] | None:
    """Every unit's component in the period's official snapshots (one per campaign)."""
    snapshots = list(session.scalars(select(Snapshot).where(Snapshot.period == period,
                                                            Snapshot.status == SnapshotStatus.OFFICIAL)
                                     .order_by(Snapshot.id)))
    if not snapshots:
        return None
    units = []
    metas = []
    for snapshot in snapshots:
        campaign = session.get(Campaign, snapshot.campaign_id)
        metas.append(snapshot_meta(snapshot, campaign))
        for row in _rows(session, snapshot):
            units.append(dict(row, campaign_code=campaign.short_code, snapshot_id=snapshot.id))
    return {"period": period, "snapshots": metas, "units": units}


def unit_in_period(session: Session, period: str, unit_code: str) -> dict[str, Any] | None:
    """One unit's official rows in the period; None for a code no unit can have (never a query with a NUL)."""
    if not is_code(unit_code):
        return None
    unit = session.scalar(select(Unit).where(Unit.code == unit_code))
    if unit is None:
        return None
    results = []
    for snapshot in session.scalars(select(Snapshot).where(Snapshot.period == period,
                                                           Snapshot.status == SnapshotStatus.OFFICIAL)
                                    .order_by(Snapshot.id)):
        campaign = session.get(Campaign, snapshot.campaign_id)
        for row in _rows(session, snapshot, unit.id):
            results.append(dict(row, campaign_code=campaign.short_code, snapshot_id=snapshot.id))
    return {"period": period, "unit": {"code": unit.code, "name": unit.name}, "results": results}
