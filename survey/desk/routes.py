"""The desk screen: a large single-use QR code per transaction, facing the citizen."""
from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from survey.core import settings
from survey.desk import bp
from survey.extensions import db
from survey.services.campaigns import desk as desk_service
from survey.services.campaigns import desk_integrity, desk_tokens, qr

CHOICE_KEY = "desk_campaign_id"
POLL_SECONDS = 3
REFRESH_SECONDS = 5  # without JavaScript, the page reloads itself this often while a code is waiting


def _desk_device() -> str | None:
    """This desk device's id (its signed cookie), or None before the desk screen has set it."""
    return desk_integrity.read_device(current_app.config["SECRET_KEY"],
                                      request.cookies.get(desk_integrity.DESK_DEVICE_COOKIE), desk_integrity.DESK_SALT)


def _reload_seconds() -> int:
    """With JavaScript, an idle desk reloads itself at a third of the form token's lifetime (20 min by default)."""
    limit = current_app.config.get("WTF_CSRF_TIME_LIMIT") or 3600
    return max(60, int(limit) // 3)


@bp.errorhandler(CSRFError)
def stale_form(exc: CSRFError):
    """A press of 下一位 (or any desk button) on a page left open past the form token's lifetime:
    back to the desk screen, with a fresh token, instead of a dead-end error page."""
    flash(_("页面已自动刷新，请再按一次。"), "info")
    return redirect(url_for("desk.index"), code=303)


def _base_url() -> str:
    return qr.base_url_for(settings.public_base_url(), request.host_url)


@bp.route("/")
def index():
    screen = desk_service.screen(db.session, current_user, session.get(CHOICE_KEY))
    code_url = image = None
    if screen.token is not None and screen.state == desk_tokens.TokenState.VALID:
        code_url = qr.desk_url(_base_url(), desk_tokens.sign(current_app.config["SECRET_KEY"], screen.token))
        image = qr.svg_data_uri(code_url)
    fallback_url = qr.short_url(_base_url(), screen.current.short_code) if screen.current else None
    html = render_template(
        "desk/index.html", screen=screen, code_url=code_url, image=image, fallback_url=fallback_url,
        poll_seconds=POLL_SECONDS, refresh_seconds=REFRESH_SECONDS, reload_seconds=_reload_seconds(),
        TokenState=desk_tokens.TokenState,
    )
    reply = make_response(html)
    reply.headers["Cache-Control"] = "no-store"  # the back button must never bring back an old code
    if _desk_device() is None:  # the clerk signs in at this screen: from now on it is a known desk device
        secret = current_app.config["SECRET_KEY"]
        reply.set_cookie(
            desk_integrity.DESK_DEVICE_COOKIE,
            desk_integrity.sign_device(secret, desk_integrity.new_device_id(), desk_integrity.DESK_SALT),
            max_age=desk_integrity.COOKIE_DAYS * 24 * 3600, httponly=True, samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    return reply


@bp.route("/campaign", methods=["POST"])
def choose_campaign():
    """Remember which of the window's campaigns this desk collects for (in the clerk's session)."""
    raw = request.form.get("campaign_id", "")
    if not raw.isdigit() or not desk_service.choosable(db.session, current_user, int(raw)):
        flash(_("请选择本窗口正在进行的评议活动。"), "error")
    else:
        session[CHOICE_KEY] = int(raw)
    return redirect(url_for("desk.index"))


@bp.route("/change", methods=["POST"])
def change_campaign():
    session.pop(CHOICE_KEY, None)
    return redirect(url_for("desk.index"))


@bp.route("/next", methods=["POST"])
def next_person():
    """"下一位": a fresh code for the next transaction (the previous one stays valid until it expires)."""
    minutes = int(current_app.config.get("DESK_TOKEN_MINUTES", 30))
    token = desk_service.next_code(db.session, current_user, session.get(CHOICE_KEY), minutes,
                                   device_id=_desk_device())
    if token is None:
        flash(_("本窗口目前没有可以生成评价码的评议活动。"), "error")
    return redirect(url_for("desk.index"))


@bp.route("/token/<int:token_id>/status")
def token_status(token_id: int):
    """The desk page's poll: has the citizen rated yet? Only the clerk who issued the code may ask."""
    token = desk_tokens.owned_by(db.session, token_id, current_user)
    if token is None:
        abort(404)
    state = desk_tokens.state_of(token)
    messages = {
        desk_tokens.TokenState.VALID: _("请扫码评价"),
        desk_tokens.TokenState.USED: _("已评价，谢谢！"),
        desk_tokens.TokenState.EXPIRED: _("已过期，请点“下一位”生成新码"),
    }
    response = jsonify({
        "id": token.id,
        "state": state.value,
        "message": messages[state],
        "expires_at": token.expires_at.isoformat(),
    })
    response.headers["Cache-Control"] = "no-store"
    return response
