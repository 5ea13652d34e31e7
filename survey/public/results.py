"""The public results page (公开): published rankings with their intervals, satisfaction rates, the
headline scored indicator (e.g. 一次办成率) of reliable units and the state of rectification, for
campaigns that opted in. All from the stored snapshot; no comments, no raw answers."""
from __future__ import annotations

from flask import abort, render_template
from flask_babel import gettext as _

from survey.core import lookups
from survey.extensions import db
from survey.models import Campaign, Snapshot, SnapshotStatus
from survey.public import bp
from survey.services.results import display, question_results


@bp.route("/results/")
def results_list():
    return render_template("public/results_list.html", entries=display.public_snapshots(db.session))


@bp.route("/results/<int:snapshot_id>")
def results_page(snapshot_id: int):
    """One published period: only official snapshots marked public of campaigns with public results."""
    snapshot = lookups.by_id(db.session, Snapshot, snapshot_id)
    campaign = db.session.get(Campaign, snapshot.campaign_id) if snapshot else None
    if (snapshot is None or campaign is None or snapshot.status != SnapshotStatus.OFFICIAL or not snapshot.public
            or not campaign.public_results):
        abort(404)
    tables = display.league(db.session, snapshot)
    charts = [[display.league_chart(
        t, snapshot, _("%(c)s：满意度得分及置信区间", c=t.category.name if t.category else _("其他")),
        _("各单位得分（圆点）及置信区间（横线），按排名排列。区间重叠的单位之间没有明显差别。数据见下表。"),
        _("得分（0–100）"), compact=compact) for compact in (False, True)] for t in tables]
    cases = display.public_case_counts(db.session, snapshot)
    # The headline scored indicator (the window survey's 一次办成率) as stored, shown per unit only where
    # the unit passed the reliability rule; the first scored single-choice question, if there is one.
    blocks = question_results.blocks(db.session, snapshot, [(e.unit, e.detail) for t in tables for e in t.rows])
    headline = next((b for b in blocks if b.scored), None)
    headline_items = {unit.id: item for unit, item in headline.rows} if headline else {}
    return render_template("public/results.html", snapshot=snapshot, campaign=campaign,
                           tables=list(zip(tables, charts)), cases=cases, summary=snapshot.summary or {},
                           headline=headline, headline_items=headline_items)
