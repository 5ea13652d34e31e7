"""The fieldwork monitor (采集进度): each unit's progress towards its target while a campaign runs.

Targets: a default for every unit of the campaign and per-unit overrides, each either a number
of responses or a 95% interval half-width on the 0–100 index (e.g. ±5 points); optional quotas
give the least number of responses of a respondent group every unit should have.

Everything comes from ONE aggregated query, never a snapshot: each response's index answers about
a unit, averaged on the 0–100 scale, counted, summed and summed in squares per (unit, respondent
group). The averages are not recomputed from the answers at every view (seven rows per response: 34 s
on SQLite at a million responses): the monitor keeps a tally, ``response_score``, one narrow row per
(response, unit) with the index answers counted by level, filled for every stored response by the
upgrade that created it (migration 0008, set-based SQL), then by the monitor the first time it meets
a new response (:func:`refresh_scores`; never on the citizen's submit path), and read with the level
scores and statuses of the moment. Excluded responses never count; flagged ones do (as on the campaign page)
until an analyst excludes them.

The half-width is an approximation, stated on the page and in docs/analyst.md: per unit the
respondent groups are strata weighted by their target shares (renormalised over the groups
present), so var = Σ W_g² s_g² / n_g and half-width = 1.96·√var; with no groups (or weighting off)
it is the simple-random-sample 1.96·s/√n. Responses still needed for a half-width target h scale
with (current / h)²; a unit with fewer than two scored responses uses an assumed s of 25 points.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Float, Select, and_, case, cast, exists, func, insert, literal, null, select, true
from sqlalchemy.orm import Session

from survey.core.audit import record
from survey.core.errors import Collector, DomainError
from survey.models import (
    Answer,
    Campaign,
    CampaignStatus,
    FieldworkQuota,
    FieldworkTarget,
    RespondentGroup,
    Response,
    ResponseScore,
    ResponseStatus,
    TargetKind,
    User,
)
from survey.services.campaigns.lookup import campaign_units
from survey.services.results import loading, weighting

Z95 = 1.96
ASSUMED_SD = 25.0  # points on the 0–100 index, for a unit with fewer than two scored responses
MAX_RESPONSES_TARGET = 100_000
HALF_WIDTH_RANGE = (0.5, 50.0)
MAX_QUOTA = 100_000
TALLY_CHUNK = 100_000  # responses tallied per transaction (refresh_scores)
#: Campaigns a unit contact may follow: never a draft.
CONTACT_STATUSES = (CampaignStatus.OPEN, CampaignStatus.PAUSED, CampaignStatus.CLOSED)


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    value: float

    def text(self) -> str:
        if self.kind == TargetKind.RESPONSES:
            return _("%(n)d 份", n=int(self.value))
        return _("±%(h)s 分", h=f"{self.value:g}")


@dataclass(frozen=True)
class Targets:
    """A campaign's default target, per-unit overrides and group quotas (group id → minimum)."""

    default: Target | None
    units: dict[int, Target] = field(default_factory=dict)
    quotas: dict[int, int] = field(default_factory=dict)

    def for_unit(self, unit_id: int) -> Target | None:
        return self.units.get(unit_id, self.default)

    @property
    def any(self) -> bool:
        return self.default is not None or bool(self.units) or bool(self.quotas)


@dataclass(frozen=True)
class Cell:
    """Aggregates of one (unit, group): responses, responses with a score, Σ score, Σ score²."""

    n: int
    scored: int
    total: float
    squares: float

    @property
    def variance(self) -> float | None:
        if self.scored < 2:
            return None
        mean = self.total / self.scored
        return max(0.0, (self.squares - self.scored * mean * mean) / (self.scored - 1))


@dataclass(frozen=True)
class GroupProgress:
    group: RespondentGroup
    n: int
    minimum: int

    @property
    def more(self) -> int:
        return max(0, self.minimum - self.n)

    @property
    def percent(self) -> int:
        return 100 if self.minimum <= 0 else min(100, int(100 * self.n / self.minimum))


@dataclass(frozen=True)
class UnitProgress:
    unit_id: int
    code: str
    name: str
    short_code: str
    n: int
    mean: float | None
    half_width: float | None
    target: Target | None
    needed: int | None  # responses the target asks for in all (None: no target)
    groups: list[GroupProgress]

    @property
    def more(self) -> int:
        """About how many more responses: for the target, and at least what the quotas still lack."""
        more = max(0, (self.needed or 0) - self.n)
        return max(more, sum(g.more for g in self.groups))

    @property
    def percent(self) -> int | None:
        """Responses ÷ (responses + about how many more); None without a target or a quota."""
        if self.target is None and not self.groups:
            return None
        goal = self.n + self.more
        return 100 if goal <= 0 else min(100, int(100 * self.n / goal))

    @property
    def done(self) -> bool:
        return self.more == 0


@dataclass(frozen=True)
class Monitor:
    campaign: Campaign
    targets: Targets
    rows: list[UnitProgress]
    groups: list[RespondentGroup]

    @property
    def behind(self) -> int:
        return sum(1 for r in self.rows if not r.done)


# --- targets ----------------------------------------------------------------------------------


def load_targets(session: Session, campaign: Campaign) -> Targets:
    default, units = None, {}
    for row in session.scalars(select(FieldworkTarget).where(FieldworkTarget.campaign_id == campaign.id)):
        target = Target(row.kind, float(row.value))
        if row.unit_id is None:
            default = target
        else:
            units[row.unit_id] = target
    quotas = {q.group_id: q.minimum for q in session.scalars(
        select(FieldworkQuota).where(FieldworkQuota.campaign_id == campaign.id))}
    return Targets(default, units, quotas)


def _number(raw: Any) -> float | None:
    text = str(raw if raw is not None else "").strip().lstrip("±").replace("，", ".").replace(",", ".")
    if not text:
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError
    return value


def parse_target(kind_raw: Any, value_raw: Any) -> Target | None:
    """A target from a form's kind and value; None when the value is empty. Raises ValueError with the message."""
    try:
        value = _number(value_raw)
    except ValueError:
        raise ValueError(_("目标应为数字。")) from None
    if value is None:
        return None
    try:
        kind = TargetKind(str(kind_raw or ""))
    except ValueError:
        raise ValueError(_("请选择目标类型：答卷数或区间半宽。")) from None
    if kind == TargetKind.RESPONSES:
        if value != int(value) or not 1 <= value <= MAX_RESPONSES_TARGET:
            raise ValueError(_("答卷数目标应为 1 到 %(m)d 之间的整数。", m=MAX_RESPONSES_TARGET))
    elif not HALF_WIDTH_RANGE[0] <= value <= HALF_WIDTH_RANGE[1]:
        raise ValueError(_("区间半宽应在 ±%(a)s 到 ±%(b)s 分之间（0–100 分制）。",
                           a=f"{HALF_WIDTH_RANGE[0]:g}", b=f"{HALF_WIDTH_RANGE[1]:g}"))
    return Target(kind, value)


def validate_targets(session: Session, campaign: Campaign, default: tuple[Any, Any],
                     units: Mapping[int, tuple[Any, Any]], quotas: Mapping[int, Any]) -> Targets:
    """Clean targets from a form: (kind, value) for the default and for each unit id, minimum per group id.

    An empty value means "no target" (for a unit: the default applies). Every problem is reported at once.
    """
    check = Collector()
    default_target = check.take("default", parse_target, *default)
    unit_names = {cu.unit_id: cu.unit.name for cu in campaign.campaign_units}
    unit_targets: dict[int, Target] = {}
    for unit_id, (kind, value) in units.items():
        if unit_id not in unit_names:
            check.add(f"unit-{unit_id}", _("这个单位不在本次评议中。"))
            continue
        try:
            target = parse_target(kind, value)
        except ValueError as exc:
            check.add(f"unit-{unit_id}", f"{unit_names[unit_id]}：{exc}")
            continue
        if target is not None:
            unit_targets[unit_id] = target
    groups = {g.id: g for g in session.scalars(select(RespondentGroup))}
    clean_quotas: dict[int, int] = {}
    for group_id, raw in quotas.items():
        if group_id not in groups:
            check.add(f"quota-{group_id}", _("样本类别不存在。"))
            continue
        try:
            value = _number(raw)
        except ValueError:
            value = -1.0
        if value is None or value == 0:
            continue
        if value != int(value) or not 1 <= value <= MAX_QUOTA:
            check.add(f"quota-{group_id}", _("“%(g)s”的配额应为 0 到 %(m)d 之间的整数（0 或空：不设配额）。",
                                             g=groups[group_id].name, m=MAX_QUOTA))
            continue
        clean_quotas[group_id] = int(value)
    check.raise_if_any()
    return Targets(default_target, unit_targets, clean_quotas)


def _as_dict(targets: Targets) -> dict[str, Any]:
    def one(t: Target | None) -> Any:
        return None if t is None else [t.kind.value, t.value]
    return {"default": one(targets.default), "units": {str(k): one(v) for k, v in sorted(targets.units.items())},
            "quotas": {str(k): v for k, v in sorted(targets.quotas.items())}}


def save_targets(session: Session, user: User | None, campaign: Campaign, targets: Targets) -> None:
    """Replace the campaign's targets and quotas; audited with before and after."""
    before = _as_dict(load_targets(session, campaign))
    for model in (FieldworkTarget, FieldworkQuota):
        for row in session.scalars(select(model).where(model.campaign_id == campaign.id)):
            session.delete(row)
    session.flush()
    store_targets(session, campaign, targets)
    after = _as_dict(targets)
    if before != after:
        record(session, user, "campaign.targets", campaign, f"修改评议活动 {campaign.title} 的采集目标",
               before=before, after=after)


def store_targets(session: Session, campaign: Campaign, targets: Targets) -> None:
    """Add the rows (the campaign has none yet): also used when a campaign is duplicated."""
    if targets.default is not None:
        session.add(FieldworkTarget(campaign_id=campaign.id, unit_id=None, kind=targets.default.kind,
                                    value=targets.default.value))
    for unit_id, target in targets.units.items():
        session.add(FieldworkTarget(campaign_id=campaign.id, unit_id=unit_id, kind=target.kind, value=target.value))
    for group_id, minimum in targets.quotas.items():
        session.add(FieldworkQuota(campaign_id=campaign.id, group_id=group_id, minimum=minimum))
    session.flush()


# --- the monitor ------------------------------------------------------------------------------


def _tally(session: Session, campaign: Campaign, missing: Any) -> None:
    """Tally the responses of ``missing`` (a select of response ids): one row per (response, unit) with its
    index answers counted by level, and one row with no unit for a response with no answer about a unit.

    Two set-based ``INSERT … SELECT`` statements, no Python per row; migration 0008 writes the same
    statements in SQL for the responses stored before it (tests/test_migrations.py checks they agree)."""
    qids = [q.id for q in weighting.index_questions(campaign)]
    index_answer = Answer.question_id.in_(qids)
    levels = [func.sum(case((and_(index_answer, Answer.dont_know.is_(False), Answer.level == level), 1), else_=0))
              for level in range(1, 6)]
    first = func.row_number().over(partition_by=Answer.response_id, order_by=Answer.unit_id) == 1
    rows = (select(Answer.response_id, Answer.campaign_id, Answer.unit_id, Response.respondent_group_id, first, *levels)
            .join(Response, Response.id == Answer.response_id)
            .where(Answer.campaign_id == campaign.id, Answer.unit_id.is_not(None), Answer.response_id.in_(missing))
            .group_by(Answer.response_id, Answer.campaign_id, Answer.unit_id, Response.respondent_group_id))
    # Without index questions (e.g. only choice questions) every answer about a unit counts the response.
    if qids:
        rows = rows.where(index_answer)
    columns = ["response_id", "campaign_id", "unit_id", "group_id", "first", "n1", "n2", "n3", "n4", "n5"]
    session.execute(insert(ResponseScore).from_select(columns, rows))
    tallied = exists().where(ResponseScore.response_id == Response.id)
    bare = (select(Response.id, Response.campaign_id, null(), Response.respondent_group_id, true(),
                   *[literal(0)] * 5)
            .where(Response.campaign_id == campaign.id, Response.id.in_(missing), ~tallied))
    session.execute(insert(ResponseScore).from_select(columns, bare))


def refresh_scores(session: Session, campaign: Campaign) -> int:
    """Tally every response of the campaign not tallied yet; returns how many (0: nothing was written).

    Usually only the newest responses are missing (those above the highest tallied id: migration 0008
    tallied all those stored before it); a response committed out of order, or a tally emptied by
    hand, is found by comparing counts and then by the full anti-join. The newest are tallied
    ``TALLY_CHUNK`` at a time, each chunk committed (a tally emptied by hand at a million responses
    takes tens of seconds to rebuild: every row goes through the indexes and foreign-key checks). The campaign row is locked while
    tallying (PostgreSQL's FOR NO KEY UPDATE,
    which never waits for nor blocks a submission; SQLite serialises writers anyway), so that two
    workers never tally the same response twice.
    """
    def counts() -> tuple[int, int]:
        responses = session.scalar(select(func.count()).select_from(Response)
                                   .where(Response.campaign_id == campaign.id)) or 0
        tallied = session.scalar(select(func.count()).select_from(ResponseScore).where(
            ResponseScore.campaign_id == campaign.id, ResponseScore.first.is_(True))) or 0
        return responses, tallied

    responses, before = counts()
    if responses == before:
        return 0
    while True:  # the newest responses, TALLY_CHUNK at a time
        session.execute(select(Campaign.id).where(Campaign.id == campaign.id).with_for_update(key_share=True))
        highest = session.scalar(select(func.max(ResponseScore.response_id)).where(
            ResponseScore.campaign_id == campaign.id, ResponseScore.first.is_(True))) or 0
        newer = [Response.campaign_id == campaign.id, Response.id > highest]
        cut = session.scalar(select(Response.id).where(*newer).order_by(Response.id)
                             .offset(TALLY_CHUNK - 1).limit(1))
        _tally(session, campaign, select(Response.id).where(*newer, *([] if cut is None else [Response.id <= cut])))
        if cut is None:
            break
        # Keep each chunk: rebuilding a large campaign's tally may outlast the request's time limit, and
        # the next view then goes on from there (the tally is derived data only).
        session.commit()
    responses, tallied = counts()
    if responses != tallied:
        seen = exists().where(ResponseScore.response_id == Response.id, ResponseScore.first.is_(True))
        _tally(session, campaign, select(Response.id).where(Response.campaign_id == campaign.id, ~seen))
        responses, tallied = counts()
    return tallied - before


def aggregate(session: Session, campaign: Campaign, unit_ids: Iterable[int] | None = None
              ) -> dict[tuple[int, int | None], Cell]:
    """Per (unit, group) the responses, those with a score, Σ score and Σ score², from the tally.

    A response's score for a unit is the mean of its index answers on the 0–100 scale (不了解 left
    out), with the campaign's level scores of the moment. Call :func:`refresh_scores` first.
    """
    return {(int(u), None if g is None else int(g)): Cell(int(n), int(c), float(s or 0), float(q or 0))
            for u, g, n, c, s, q in session.execute(aggregate_statement(campaign, unit_ids))}


def aggregate_statement(campaign: Campaign, unit_ids: Iterable[int] | None = None) -> Select:
    """The one query of :func:`aggregate`.

    It reads the covering index ``ix_response_score_cells`` alone, in its order: the rows of a
    (unit, group) are first counted per pattern of level counts (a few hundred patterns, however
    many responses), and each pattern's score is computed once, not once per response. The excluded
    responses (few, found by their status index) are left out by a hashed NOT IN, so that the wide
    response table is never read.
    """
    settings = weighting.current(campaign)
    scores = [float(v) for v in (settings.get("level_scores") or campaign.questionnaire.level_scores)]
    t = ResponseScore
    excluded = select(Response.id).where(Response.campaign_id == campaign.id,
                                         Response.status == ResponseStatus.EXCLUDED)
    levels = [t.n1, t.n2, t.n3, t.n4, t.n5]
    patterns = (select(t.unit_id, t.group_id, *levels, func.count().label("responses"))
                .where(t.campaign_id == campaign.id, t.unit_id.is_not(None), t.response_id.not_in(excluded))
                .group_by(t.unit_id, t.group_id, *levels))
    if unit_ids is not None:
        patterns = patterns.where(t.unit_id.in_(list(unit_ids)))
    p = patterns.subquery()
    counts = [p.c.n1, p.c.n2, p.c.n3, p.c.n4, p.c.n5]
    k = counts[0] + counts[1] + counts[2] + counts[3] + counts[4]
    # Floating point throughout (PostgreSQL would otherwise divide in NUMERIC, several times slower).
    points = sum((literal(score, Float) * cast(n, Float) for score, n in zip(scores, counts, strict=True)),
                 literal(0.0, Float))
    score = case((k > 0, points / cast(k, Float)), else_=None)
    return (select(p.c.unit_id, p.c.group_id, func.sum(p.c.responses), func.sum(case((k > 0, p.c.responses), else_=0)),
                   func.sum(p.c.responses * score), func.sum(p.c.responses * score * score))
            .group_by(p.c.unit_id, p.c.group_id))


def half_width(cells: Mapping[int | None, Cell], shares: Mapping[int, float]) -> tuple[float | None, float | None]:
    """(mean, 95% half-width) of one unit: groups as strata weighted by their shares (renormalised over
    the groups present), or one simple random sample when any scored response has no weighted group."""
    scored = {g: c for g, c in cells.items() if c.scored}
    if not scored:
        return None, None
    total = sum(c.scored for c in scored.values())
    pooled = Cell(total, total, sum(c.total for c in scored.values()), sum(c.squares for c in scored.values()))
    mean_pooled = pooled.total / total
    stratified = all(g is not None and shares.get(g, 0) > 0 for g in scored) and len(scored) > 1
    if not stratified:
        var = pooled.variance
        return mean_pooled, None if var is None else Z95 * math.sqrt(var / total)
    weight_sum = sum(shares[g] for g in scored)  # type: ignore[index]
    mean = sum(shares[g] / weight_sum * c.total / c.scored for g, c in scored.items())  # type: ignore[index]
    var = 0.0
    for g, c in scored.items():
        s2 = c.variance if c.variance is not None else pooled.variance
        if s2 is None:
            return mean, None
        var += (shares[g] / weight_sum) ** 2 * s2 / c.scored  # type: ignore[index]
    return mean, Z95 * math.sqrt(var)


def _needed(target: Target | None, n: int, scored: int, current: float | None) -> int | None:
    if target is None:
        return None
    if target.kind == TargetKind.RESPONSES:
        return int(target.value)
    if current is None or scored < 2:
        return max(n, math.ceil((Z95 * ASSUMED_SD / target.value) ** 2))
    if current <= target.value:
        return n
    return math.ceil(scored * (current / target.value) ** 2) + (n - scored)


def _shares(session: Session, campaign: Campaign) -> dict[int, float]:
    settings = weighting.current(campaign)
    if settings.get("method") not in ("poststratify", "rake"):
        return {}
    overrides = settings.get("group_shares") or {}
    return {g.id: float(overrides.get(g.code, g.target_share) if overrides else g.target_share)
            for g in weighting.groups_in_order(session)}


def keep_up(session: Session, campaign: Campaign) -> tuple[int, bool]:
    """Tally the campaign's responses stored since the last tally and pack their answers for the
    computation, as a monitor view does, without a view: ``flask tally``, from cron while fieldwork
    runs, so that the period's computation finds them packed (a million unpacked cost it 8–12 s more).
    Returns how many were tallied and whether any were packed; committed."""
    tallied = refresh_scores(session, campaign)
    session.commit()
    return tallied, loading.pack_new(session, campaign.id)


def monitor(session: Session, campaign: Campaign, visible: set[int] | None = None) -> Monitor:
    """Each unit's progress (only ``visible`` units when given), the units furthest behind first."""
    if refresh_scores(session, campaign):
        session.commit()  # keep the tally for the next view (it is derived data: nothing else is pending)
        # The computation's packed answers too, a little at a time while fieldwork runs, so that the
        # period's computation does not pack them all at once (its own connection, committed at once).
        loading.pack_new(session, campaign.id)
    targets = load_targets(session, campaign)
    units = [cu for cu in campaign_units(session, campaign, active_only=False)
             if visible is None or cu.unit_id in visible]
    cells = aggregate(session, campaign, None if visible is None else [cu.unit_id for cu in units])
    by_unit: dict[int, dict[int | None, Cell]] = {}
    for (unit_id, group_id), cell in cells.items():
        by_unit.setdefault(unit_id, {})[group_id] = cell
    shares = _shares(session, campaign)
    groups = {g.id: g for g in weighting.groups_in_order(session)}
    quota_groups = [groups[g] for g in groups if g in targets.quotas]
    rows = []
    for cu in units:
        unit_cells = by_unit.get(cu.unit_id, {})
        n = sum(c.n for c in unit_cells.values())
        scored = sum(c.scored for c in unit_cells.values())
        mean, hw = half_width(unit_cells, shares)
        target = targets.for_unit(cu.unit_id)
        quota_rows = [GroupProgress(g, unit_cells[g.id].n if g.id in unit_cells else 0, targets.quotas[g.id])
                      for g in quota_groups]
        rows.append(UnitProgress(cu.unit_id, cu.unit.code, cu.unit.name, cu.short_code, n, mean, hw, target,
                                 _needed(target, n, scored, hw), quota_rows))
    rows.sort(key=lambda r: (101 if r.percent is None else r.percent, -r.more, r.n, r.code))
    return Monitor(campaign, targets, rows, quota_groups)


def monitors_for(session: Session, campaigns: Iterable[Campaign], visible: set[int] | None) -> list[Monitor]:
    """The monitors of the overview: campaigns under way; a unit contact's only for their units, never drafts."""
    found = []
    for campaign in campaigns:
        if visible is not None and campaign.status not in CONTACT_STATUSES:
            continue
        if visible is not None and not any(cu.unit_id in visible for cu in campaign.campaign_units):
            continue
        found.append(monitor(session, campaign, visible))
    return found


def contact_campaigns(session: Session) -> list[Campaign]:
    """Open and paused campaigns (what the overview follows)."""
    return list(session.scalars(select(Campaign).where(
        Campaign.status.in_([CampaignStatus.OPEN, CampaignStatus.PAUSED])).order_by(Campaign.closes_at, Campaign.id)))


def export_rows(result: Monitor) -> tuple[list[str], list[list[Any]]]:
    """The monitor as a table for the xlsx the staff who put up posters work from."""
    headers = [_("单位代码"), _("单位"), _("短码"), _("答卷"), _("目标"), _("进度 %"), _("还需约"),
               _("当前指数"), _("当前区间半宽 ±")]
    headers += [_("%(g)s（答卷/配额）", g=g.name) for g in result.groups]
    rows = []
    for r in result.rows:
        row: list[Any] = [r.code, r.name, r.short_code, r.n, r.target.text() if r.target else "", r.percent, r.more,
                          None if r.mean is None else round(r.mean, 1),
                          None if r.half_width is None else round(r.half_width, 1)]
        row += [f"{g.n}/{g.minimum}" for g in r.groups]
        rows.append(row)
    return headers, rows


def check_visible(campaign: Campaign, visible: set[int] | None) -> None:
    """A unit contact may follow a campaign that is not a draft and has one of their units."""
    if visible is None:
        return
    if campaign.status not in CONTACT_STATUSES or not any(cu.unit_id in visible for cu in campaign.campaign_units):
        raise DomainError(_("没有这个评议活动的访问权限。"))
