"""The staff home page: for analysts, what needs action (each count links to where it is handled),
the campaigns under way and what to set up next; for everyone, the units they may see with their response counts."""
from __future__ import annotations

import datetime as dt

from flask import render_template
from flask_babel import get_timezone
from flask_login import current_user

from survey.admin import bp
from survey.core.clock import org_today
from survey.extensions import db
from survey.models import utcnow
from survey.services.accounts.access import visible_unit_ids
from survey.services.campaigns import fieldwork, season
from survey.services.campaigns.setup import live_campaigns, setup_progress
from survey.services.units.reports import units_with_response_counts


def _start_of_today() -> dt.datetime:
    local = utcnow().astimezone(get_timezone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


@bp.route("/")
def index():
    visible = visible_unit_ids(db.session, current_user)
    rows = units_with_response_counts(db.session, visible)
    total = sum(r.responses for r in rows)
    analyst = current_user.is_staff_analyst
    return render_template(
        "admin/index.html", rows=rows, total=total, analyst=analyst,
        progress=setup_progress(db.session) if analyst else None,
        live=live_campaigns(db.session, _start_of_today()) if analyst else [],
        attention=season.attention(db.session, org_today(), utcnow()) if analyst else None,
        monitors=fieldwork.monitors_for(db.session, fieldwork.contact_campaigns(db.session), visible),
    )
