"""What the results pages show, assembled from snapshots (plain objects; no request objects here).

* the period overview: responses counted, the overall 满意率 (share of all valid answers
  at 基本满意 or above, unweighted — the figure offices report), comments and 差评 in the
  snapshot, and the live handling of cases (from the cases service);
* the league table per category: ranked units by rank, then units that could not be
  ranked, each with its interval; a unit whose interval overlaps the one of the unit
  ranked just above it is marked "≈" (not clearly ordered), in text, not only by colour;
* a unit's page: its row, trend over the periods of the series, per-question, per-group
  and per-channel breakdowns, recent comments.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.core.clock import org_timezone, org_today
from survey.models import (
    Answer,
    Campaign,
    Category,
    ComponentScheme,
    Question,
    QuestionType,
    RespondentGroup,
    Response,
    ResponseStatus,
    Snapshot,
    SnapshotRow,
    SnapshotStatus,
    Unit,
)
from survey.services.cases import figures
from survey.services.results import charts, snapshots

RECENT_COMMENTS = 20


@dataclass
class LeagueRow:
    row: SnapshotRow
    unit: Unit
    detail: dict[str, Any]
    clearly_below_previous: bool = False  # the interval lies wholly below the unit ranked just above
    overlaps_above: bool = False  # ranked below a unit whose interval overlaps: the order is not clear

    @property
    def score(self) -> float | None:
        return self.detail.get("score")

    @property
    def marked(self) -> bool:
        return bool(self.detail.get("unreliable")) or self.row.rank is None


@dataclass
class CategoryTable:
    category: Category | None
    ranked: list[LeagueRow] = field(default_factory=list)
    unranked: list[LeagueRow] = field(default_factory=list)

    @property
    def rows(self) -> list[LeagueRow]:
        return self.ranked + self.unranked


def league(session: Session, snapshot: Snapshot, unit_ids: set[int] | None = None) -> list[CategoryTable]:
    """Rows per category in category order; ranked units by rank (ties by code), unranked after."""
    rows = snapshots.rows_of(session, snapshot, unit_ids)
    categories = {c.id: c for c in session.scalars(select(Category))}
    tables: dict[int | None, CategoryTable] = {}
    for row in rows:
        table = tables.setdefault(row.category_id, CategoryTable(categories.get(row.category_id)))
        entry = LeagueRow(row, row.unit, row.detail or {})
        (table.ranked if row.rank is not None else table.unranked).append(entry)
    for table in tables.values():
        table.ranked.sort(key=lambda e: (e.row.rank, e.detail.get("expected_rank") or 0, e.unit.code))
        table.unranked.sort(key=lambda e: (e.unit.sort_order, e.unit.code))
        for above, below in zip(table.ranked, table.ranked[1:]):
            lo_above = (above.detail.get("score_ci") or [None, None])[0]
            hi_below = (below.detail.get("score_ci") or [None, None])[1]
            below.clearly_below_previous = lo_above is not None and hi_below is not None and hi_below < lo_above
            below.overlaps_above = not below.clearly_below_previous
    return sorted(tables.values(), key=lambda t: (t.category is None, t.category.sort_order if t.category else 0))


def league_chart(table: CategoryTable, snapshot: Snapshot, title: str, desc: str, axis: str,
                 compact: bool = False) -> Any:
    """The category's interval plot in league order (``compact``: the phone layout)."""
    scheme = (snapshot.params or {}).get("scheme")
    lines = []
    if scheme and scheme.get("grading") == "thresholds":
        lines = [(scheme["thresholds"]["pass"], _("达标线"))]
    items = []
    for entry in table.rows:
        lo, hi = (entry.detail.get("score_ci") or [None, None])
        note = "⚠" if entry.detail.get("unreliable") else ""
        if entry.row.rank is None:
            note = _("未排名")
        items.append(charts.Interval(entry.unit.name, entry.score, lo, hi, note, entry.marked))
    return charts.interval_plot(items, title, desc, axis, lines, compact=compact)


@dataclass
class Overview:
    summary: dict[str, Any]
    cases: figures.Figures | None


def overview(session: Session, snapshot: Snapshot, unit_ids: set[int] | None = None) -> Overview:
    found = figures.case_figures(session, org_today(), org_timezone(), unit_ids=unit_ids, period=snapshot.period)
    campaign_units = set(snapshot.params.get("units") or [])
    found = [f for f in found if f.unit.id in campaign_units]
    return Overview(snapshot.summary or {}, figures.totals(found))


@dataclass
class UnitPage:
    snapshot: Snapshot
    campaign: Campaign
    row: SnapshotRow
    detail: dict[str, Any]
    questions: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    channels: list[tuple[str, int]]
    trend: list[tuple[Snapshot, SnapshotRow | None]]
    comments: list[Answer]
    cases: figures.Figures | None


def unit_page(session: Session, snapshot: Snapshot, unit_id: int, drafts: bool = False) -> UnitPage | None:
    """One unit's results in ``snapshot``. ``drafts`` (analysts and administrators only) lets the trend
    show other periods' draft snapshots and a comparison made against one; otherwise only published
    figures appear."""
    row = session.scalar(select(SnapshotRow).where(SnapshotRow.snapshot_id == snapshot.id,
                                                   SnapshotRow.unit_id == unit_id))
    if row is None:
        return None
    campaign = session.get(Campaign, snapshot.campaign_id)
    detail = row.detail or {}
    if not drafts and detail.get("trend") and not snapshots.compared_with_published(session, snapshot):
        detail = {k: v for k, v in detail.items() if k != "trend"}  # compared with a draft
    texts = {q.id: q for q in session.scalars(select(Question).where(
        Question.id.in_([q["id"] for q in detail.get("questions", [])] or [-1])))}
    questions = [dict(q, question=texts.get(q["id"])) for q in detail.get("questions", [])]
    group_ids = [g["id"] for g in detail.get("groups", []) if g.get("id") is not None]
    names = {g.id: g for g in session.scalars(select(RespondentGroup).where(RespondentGroup.id.in_(group_ids or [-1])))}
    groups = [dict(g, group=names.get(g["id"])) for g in detail.get("groups", []) if g.get("n")]
    channels = sorted((detail.get("channels") or {}).items(), key=lambda kv: -kv[1])
    trend = [(s, session.scalar(select(SnapshotRow).where(SnapshotRow.snapshot_id == s.id,
                                                          SnapshotRow.unit_id == unit_id)))
             for s in snapshots.series(session, campaign, drafts=drafts) if s.period != snapshot.period]
    trend.append((snapshot, row))
    trend.sort(key=lambda pair: pair[0].period)
    comment_questions = [q.id for q in campaign.questionnaire.questions if q.type == QuestionType.TEXT and q.is_comment]
    comments = list(session.scalars(
        select(Answer).join(Response, Response.id == Answer.response_id)
        .where(Answer.campaign_id == campaign.id, Answer.unit_id == unit_id,
               Answer.question_id.in_(comment_questions or [-1]), Answer.text.is_not(None), Answer.text != "",
               Response.status != ResponseStatus.EXCLUDED,
               Answer.response_id <= (snapshot.max_response_id or 0))
        .order_by(Answer.response_id.desc()).limit(RECENT_COMMENTS)
    ))
    found = figures.case_figures(session, org_today(), org_timezone(), unit_ids={unit_id},
                                 period=snapshot.period)
    return UnitPage(snapshot, campaign, row, detail, questions, groups, channels, trend, comments,
                    found[0] if found else None)


def trend_chart(page: UnitPage, title: str, desc: str, axis: str) -> Any:
    points = []
    for s, r in page.trend:
        if r is None:
            points.append(charts.TrendPoint(s.period, None, None, None, s.status == SnapshotStatus.OFFICIAL))
        else:
            points.append(charts.TrendPoint(s.period, r.index, r.index_lo, r.index_hi,
                                            s.status == SnapshotStatus.OFFICIAL))
    return charts.trend_plot(points, title, desc, axis)


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class CampaignEntry:
    campaign: Campaign
    responses: int
    snapshots: list[Snapshot]
    has_scheme: bool

    @property
    def official(self) -> Snapshot | None:
        return next((s for s in self.snapshots if s.status == SnapshotStatus.OFFICIAL), None)


def campaigns_by_period(session: Session) -> list[tuple[str, list[CampaignEntry]]]:
    """Every campaign, newest period first, with its response count and snapshots (newest first)."""
    counts = dict(session.execute(select(Response.campaign_id, func.count()).group_by(Response.campaign_id)).all())
    schemes = set(session.scalars(select(ComponentScheme.campaign_id)))
    snapshots: dict[int, list[Snapshot]] = {}
    for s in session.scalars(select(Snapshot).order_by(Snapshot.id.desc())):
        snapshots.setdefault(s.campaign_id, []).append(s)
    periods: dict[str, list[CampaignEntry]] = {}
    for c in session.scalars(select(Campaign).order_by(Campaign.period.desc(), Campaign.id)):
        periods.setdefault(c.period, []).append(
            CampaignEntry(c, int(counts.get(c.id, 0)), snapshots.get(c.id, []), c.id in schemes))
    return sorted(periods.items(), key=lambda kv: kv[0], reverse=True)


def contact_results(session: Session, unit_ids: set[int]) -> list[tuple[Snapshot, Campaign, list[SnapshotRow]]]:
    """Official snapshots with rows of the contact's units, newest first."""
    if not unit_ids:
        return []
    rows = list(session.scalars(
        select(SnapshotRow).join(Snapshot, Snapshot.id == SnapshotRow.snapshot_id)
        .where(Snapshot.status == SnapshotStatus.OFFICIAL, SnapshotRow.unit_id.in_(unit_ids))
        .order_by(Snapshot.id.desc())
    ))
    out: dict[int, tuple[Snapshot, Campaign, list[SnapshotRow]]] = {}
    for row in rows:
        if row.snapshot_id not in out:
            snapshot = row.snapshot
            out[row.snapshot_id] = (snapshot, session.get(Campaign, snapshot.campaign_id), [])
        out[row.snapshot_id][2].append(row)
    return list(out.values())



def trend_wording(trend: dict[str, Any] | None) -> str:
    """How a change against the previous period is described: never more than the test supports."""
    if not trend or not finite(trend.get("difference")):
        return ""
    d, p = trend["difference"], trend.get("p_value")
    low, high = trend["ci"]
    if finite(p) and p < 0.05:
        direction = _("提高") if d > 0 else _("下降")
        return _("比上期%(dir)s %(d).1f 分（95%% 置信区间 %(lo).1f 至 %(hi).1f，p = %(p).3f），变化超出抽样误差。",
                 dir=direction, d=abs(d), lo=low, hi=high, p=p)
    return _("与上期相差 %(d)+.1f 分（95%% 置信区间 %(lo).1f 至 %(hi).1f，p = %(p).2f），在抽样误差范围内，不能认为有变化。",
             d=d, lo=low, hi=high, p=p if finite(p) else 1.0)


def group_targets(session: Session, spec: dict[str, Any]) -> list[str]:
    """“name=share” of each group target the snapshot weighted to."""
    layout = spec["survey"]["layout"]
    shares = spec["survey"]["params"].get("targets", {}).get("group") or []
    names = {g.id: g.name for g in session.scalars(select(RespondentGroup))}
    return [f"{names.get(g, g)}={share:g}" for g, share in zip(layout["group_ids"], shares)]


def index_formula(page: UnitPage) -> str:
    """The index of the unit page as arithmetic: (a₁×R₁ + …) ÷ Σa = I, over the questions with a mean."""
    weights = page.snapshot.params["survey"]["params"]["question_weights"]
    terms = [(weights[k], q["mean"]) for k, q in enumerate(page.questions) if finite(q.get("mean"))]
    if not terms or not finite(page.row.index):
        return "—"
    total = sum(w for w, _m in terms)
    body = " + ".join(f"{w:g}×{m:.2f}" for w, m in terms)
    return f"({body}) ÷ {total:g} = {page.row.index:.2f}"


def public_case_counts(session: Session, snapshot: Snapshot) -> dict[int, figures.Figures]:
    """Live rectification counts per unit of the snapshot's period (for the public page: counts only)."""
    units = set(snapshot.params.get("units") or [])
    found = figures.case_figures(session, org_today(), org_timezone(), unit_ids=units, period=snapshot.period)
    return {f.unit.id: f for f in found}


# --- what the public may see ----------------------------------------------------------------------


def _public_stmt():
    return (select(Snapshot, Campaign).join(Campaign, Campaign.id == Snapshot.campaign_id)
            .where(Snapshot.status == SnapshotStatus.OFFICIAL, Snapshot.public.is_(True),
                   Campaign.public_results.is_(True)))


def public_snapshots(session: Session) -> list[tuple[Snapshot, Campaign]]:
    """Official results marked public, of campaigns that publish their results, newest period first."""
    stmt = _public_stmt().order_by(Snapshot.period.desc(), Snapshot.id.desc())
    return [(s, c) for s, c in session.execute(stmt)]


def public_snapshot_of(session: Session, campaign_id: int) -> Snapshot | None:
    """The campaign's published result the public may read (the newest), for its closed page to link."""
    row = session.execute(_public_stmt().where(Campaign.id == campaign_id).order_by(Snapshot.id.desc()).limit(1)).first()
    return row[0] if row else None
