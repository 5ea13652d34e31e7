"""A campaign's season, step by step: set up → distribute → collect → close → compute → review → publish.

The campaign page shows every step with its state, so an analyst gets from an empty campaign to a
published result by following links. A step is *done* when the data say so (never by a tick the
analyst sets): set up when the campaign has units; distributed once it was opened (posters are
printed before); collected when it is closed or its closing time has passed; closed when 结束评议
was pressed; computed when a result exists; reviewed when no response waits for 核查 and the draft
was re-computed identically (复算核对), or a result is official; published when one is official.
The first step not done is the *current* one: the page points to it as 下一步.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.models import (
    Appeal,
    AppealState,
    AuditLog,
    Campaign,
    CampaignStatus,
    CampaignUnit,
    Case,
    CaseState,
    Holiday,
    Response,
    ResponseStatus,
    Snapshot,
    SnapshotStatus,
)

STEPS = ("setup", "distribute", "collect", "close", "compute", "review", "publish")
DONE, CURRENT, TODO = "done", "current", "todo"


@dataclass(frozen=True)
class Facts:
    """What the steps are decided from (plain values, for the page to show and link)."""

    units: int
    responses: int
    flagged: int
    status: CampaignStatus
    past_closing: bool
    latest_id: int | None  # the newest result (draft or official)
    draft_id: int | None  # the newest draft, to review and publish
    draft_verified: bool
    official_id: int | None
    official_public: bool


@dataclass
class Step:
    key: str
    state: str


@dataclass
class Season:
    facts: Facts
    steps: list[Step] = field(default_factory=list)

    @property
    def current(self) -> Step | None:
        return next((s for s in self.steps if s.state == CURRENT), None)

    @property
    def finished(self) -> bool:
        return all(s.state == DONE for s in self.steps)


def facts(session: Session, campaign: Campaign, now: dt.datetime) -> Facts:
    units = int(session.scalar(select(func.count(CampaignUnit.id)).where(CampaignUnit.campaign_id == campaign.id)) or 0)
    by_status = dict(session.execute(
        select(Response.status, func.count(Response.id)).where(Response.campaign_id == campaign.id)
        .group_by(Response.status)).all())
    snaps = list(session.execute(
        select(Snapshot.id, Snapshot.status, Snapshot.public).where(Snapshot.campaign_id == campaign.id)
        .order_by(Snapshot.id.desc())))
    draft_id = next((sid for sid, status, _public in snaps if status == SnapshotStatus.DRAFT), None)
    official = next(((sid, public) for sid, status, public in snaps if status == SnapshotStatus.OFFICIAL), None)
    verified = draft_id is not None and session.scalar(
        select(func.count(AuditLog.id)).where(AuditLog.action == "results.verify", AuditLog.object_type == "Snapshot",
                                              AuditLog.object_id == str(draft_id))) > 0
    closes_at = campaign.closes_at if campaign.closes_at.tzinfo else campaign.closes_at.replace(tzinfo=dt.UTC)
    return Facts(
        units=units,
        responses=int(by_status.get(ResponseStatus.VALID, 0)) + int(by_status.get(ResponseStatus.FLAGGED, 0)),
        flagged=int(by_status.get(ResponseStatus.FLAGGED, 0)),
        status=campaign.status,
        past_closing=now >= closes_at,
        latest_id=snaps[0][0] if snaps else None,
        draft_id=draft_id,
        draft_verified=bool(verified),
        official_id=official[0] if official else None,
        official_public=bool(official and official[1] and campaign.public_results),
    )


def season(session: Session, campaign: Campaign, now: dt.datetime) -> Season:
    """Every step of the campaign's season with its state; exactly one is current until all are done."""
    f = facts(session, campaign, now)
    closed = f.status == CampaignStatus.CLOSED
    done = {
        "setup": f.units > 0,
        "distribute": f.status != CampaignStatus.DRAFT or f.responses > 0,
        "collect": closed or (f.past_closing and f.status != CampaignStatus.DRAFT),
        "close": closed,
        "compute": f.latest_id is not None,
        "review": f.official_id is not None or (f.flagged == 0 and f.draft_verified),
        "publish": f.official_id is not None,
    }
    result = Season(f)
    current_found = False
    for key in STEPS:
        if done[key]:
            state = DONE
        elif not current_found:
            state, current_found = CURRENT, True
        else:
            state = TODO
        result.steps.append(Step(key, state))
    return result


# --- what needs action, for the analysts' overview ------------------------------------------------


@dataclass
class Attention:
    """Counts on the overview that need an analyst's action; each links to where it is handled."""

    flagged: int = 0  # responses waiting for 核查 (review queue)
    overdue: int = 0  # open cases past their deadline
    appeals: int = 0  # appeals waiting for a decision
    to_close: list[Campaign] = field(default_factory=list)  # open (or paused) past their closing time
    to_compute: list[Campaign] = field(default_factory=list)  # closed, no result yet
    to_publish: list[tuple[Campaign, int]] = field(default_factory=list)  # closed, a draft and nothing official
    years_without_calendar: list[int] = field(default_factory=list)  # open cases fall due in these years

    @property
    def any(self) -> bool:
        return bool(self.flagged or self.overdue or self.appeals or self.to_close or self.to_compute
                    or self.to_publish or self.years_without_calendar)


def attention(session: Session, today: dt.date, now: dt.datetime) -> Attention:
    """What the analysts should do next across every campaign (a handful of aggregate queries)."""
    found = Attention()
    found.flagged = int(session.scalar(select(func.count(Response.id)).where(Response.status == ResponseStatus.FLAGGED)) or 0)
    found.overdue = int(session.scalar(select(func.count(Case.id)).where(Case.state != CaseState.CLOSED,
                                                                        Case.due_on < today)) or 0)
    found.appeals = int(session.scalar(select(func.count(Appeal.id)).where(Appeal.state == AppealState.PENDING)) or 0)
    campaigns = list(session.scalars(select(Campaign).where(Campaign.status != CampaignStatus.DRAFT)
                                     .order_by(Campaign.closes_at, Campaign.id)))
    snaps: dict[int, list[tuple[int, SnapshotStatus]]] = {}
    for cid, sid, status in session.execute(select(Snapshot.campaign_id, Snapshot.id, Snapshot.status)
                                            .order_by(Snapshot.id.desc())):
        snaps.setdefault(cid, []).append((sid, status))
    for campaign in campaigns:
        closes_at = campaign.closes_at if campaign.closes_at.tzinfo else campaign.closes_at.replace(tzinfo=dt.UTC)
        if campaign.status in (CampaignStatus.OPEN, CampaignStatus.PAUSED):
            if now >= closes_at:
                found.to_close.append(campaign)
            continue
        mine = snaps.get(campaign.id, [])
        if not mine:
            found.to_compute.append(campaign)
        elif not any(status == SnapshotStatus.OFFICIAL for _sid, status in mine):
            draft = next((sid for sid, status in mine if status == SnapshotStatus.DRAFT), None)
            if draft is not None:
                found.to_publish.append((campaign, draft))
    found.years_without_calendar = years_without_calendar(session)
    return found


def years_without_calendar(session: Session) -> list[int]:
    """Years in which open cases fall due but the working-day calendar lists no day at all.

    A case opened in late December and due in January counts its working days over a New Year
    that the calendar does not know yet: its deadline is wrong until that year's schedule is in.
    """
    due_years = {d.year for d in session.scalars(select(Case.due_on).where(Case.state != CaseState.CLOSED)
                                                 .group_by(Case.due_on))}
    if not due_years:
        return []
    listed = {d.year for d in session.scalars(select(Holiday.day).where(
        Holiday.day >= dt.date(min(due_years), 1, 1), Holiday.day <= dt.date(max(due_years), 12, 31)))}
    return sorted(due_years - listed)
