"""Results over the API: periods, official snapshots and each unit's 公众评议 component.

Every route needs ``Authorization: Bearer <token>`` (tokens are made on the staff page
/admin/results/tokens). Errors are JSON ``{"error": code, "message": text, "status": n}``:
401 without a valid token, 400 for a malformed parameter, 404 for anything not found or
not published. Drafts are never served.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, jsonify, request
from sqlalchemy import select

from survey.api import bp
from survey.core import codes
from survey.core.validation import is_code
from survey.extensions import db
from survey.models import Campaign
from survey.services.accounts import api_tokens
from survey.services.results import api_payloads, breakdowns
from survey.services.results import snapshots as snapshot_service

CODE = re.compile(r"^[^\s/\\?#%]{1,32}$")  # a campaign's short code (normalised before any query)


def _error(status: int, code: str, message: str):
    response = jsonify({"error": code, "message": message, "status": status})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="pingyi"'
    return response


def token_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        token = api_tokens.authenticate(db.session, request.headers.get("Authorization"))
        if token is None:
            return _error(401, "unauthorized", "需要有效的接口令牌：Authorization: Bearer <token>")
        g.api_token = token
        return view(*args, **kwargs)

    return wrapped


def _period_or_error(period: str):
    return None if snapshot_service.is_period(period) else _error(400, "bad_period", "期次格式无效，例如 2026Q4、2026、2026-11")


@bp.route("/periods")
@token_required
def periods():
    """Every period with its campaigns and their official snapshot ids."""
    return jsonify({"periods": api_payloads.periods(db.session)})


@bp.route("/snapshots")
@token_required
def snapshots():
    """Official and superseded snapshots; filter with ?period= and ?campaign=<short code>."""
    period = request.args.get("period") or None
    if period is not None and (bad := _period_or_error(period)):
        return bad
    campaign = None
    code = request.args.get("campaign")
    if code:
        if not CODE.match(code):
            return _error(400, "bad_campaign", "评议活动代码格式无效")
        campaign = db.session.scalar(select(Campaign).where(Campaign.short_code == (codes.normalise(code) or "")))
        if campaign is None:
            return _error(404, "campaign_not_found", f"没有代码为 {code} 的评议活动")
    return jsonify({"snapshots": api_payloads.list_snapshots(db.session, period, campaign)})


@bp.route("/snapshots/<anyint:snapshot_id>")  # too large: the API's own snapshot_not_found
@token_required
def snapshot(snapshot_id: int):
    """One published snapshot with every unit's figures."""
    found = api_payloads.served_snapshot(db.session, snapshot_id)
    if found is None:
        return _error(404, "snapshot_not_found", f"没有已发布的结果 #{snapshot_id}")
    return jsonify(api_payloads.snapshot_payload(db.session, found))


@bp.route("/snapshots/<anyint:snapshot_id>/breakdowns")
@token_required
def snapshot_breakdowns(snapshot_id: int):
    """A published snapshot's breakdowns (group, channel, category), cross-tabs and change from the previous
    official period."""
    found = api_payloads.served_snapshot(db.session, snapshot_id)
    if found is None:
        return _error(404, "snapshot_not_found", f"没有已发布的结果 #{snapshot_id}")
    return jsonify(breakdowns.api_payload(db.session, found))


@bp.route("/periods/<period>/component")
@token_required
def period_component(period: str):
    """The period's official 公众评议 component of every unit."""
    if bad := _period_or_error(period):
        return bad
    payload = api_payloads.period_component(db.session, period)
    if payload is None:
        return _error(404, "no_official_results", f"{period} 还没有发布的正式结果")
    return jsonify(payload)


@bp.route("/periods/<period>/units/<unit_code>")
@token_required
def period_unit(period: str, unit_code: str):
    """One unit's official figures in the period."""
    if bad := _period_or_error(period):
        return bad
    if not is_code(unit_code):
        return _error(400, "bad_unit", "单位代码格式无效")
    payload = api_payloads.unit_in_period(db.session, period, unit_code)
    if payload is None:
        return _error(404, "unit_not_found", f"没有代码为 {unit_code} 的单位")
    if not payload["results"]:
        return _error(404, "no_official_results", f"{unit_code} 在 {period} 没有发布的正式结果")
    return jsonify(payload)
