"""Single-use links: a window's per-transaction code (一事一评, ``/d/<token>``) and a panel
member's personal invitation (``/i/<code>``).

Both show the same questionnaire as a poster code, through
:func:`survey.public.questionnaire.questionnaire_view`, with their own channel and
response fields, without the one-rating-per-device rule (every transaction may be rated;
a shared phone may answer two invitations), and consume the code in the same
transaction as the response: a second use, or the loser of two simultaneous
submissions, gets the "already used" page and nothing is stored.
"""
from __future__ import annotations

from flask import abort, current_app, make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import Session

from survey.extensions import csrf, db
from survey.models import Channel, Invitation, Response, Role
from survey.public import bp
from survey.public.questionnaire import made_here, questionnaire_view
from survey.services.campaigns import desk_integrity, desk_tokens, invitations
from survey.services.campaigns.desk_tokens import TokenState
from survey.services.campaigns.lookup import Target
from survey.services.responses import submission


def _gone(title: str, message: str, status: int = 410) -> ResponseReturnValue:
    return render_template("links/gone.html", title=title, message=message), status, {
        "Cache-Control": "private, no-store"}


def _already_rated() -> ResponseReturnValue:
    return _gone(_("已经评价过了"), _("这个评价码已经使用过，每次办事只能评价一次。感谢您的参与！"))


def _retry_of(response_field: str, row_id: int) -> bool:
    """A POST repeating a submission this link already stored (double tap, retry, back button),
    from the browser session that made it."""
    if request.method != "POST":
        return False
    sid = submission.valid_submission_id(request.form.get("submission_id"))
    stored = submission.stored_response(db.session, sid) if sid and made_here(sid) else None
    return stored is not None and getattr(stored, response_field) == row_id


@bp.route("/d/<token>", methods=["GET", "POST"])
@csrf.exempt  # questionnaire_view checks the form's CSRF token itself and keeps the answers when it expired
def desk_entry(token: str) -> ResponseReturnValue:
    """A code scanned at a window: rate this one transaction, once.

    A code that expires while its questionnaire is open is still taken within the grace period
    as an ordinary rating. Later, the answers come back on a page that sends them, in one tap,
    through the window's own (poster) link; where the campaign takes no poster ratings they are
    stored flagged (``desk_late``) for an analyst. Either way nothing the citizen wrote is lost. The desk's integrity rules (:mod:`survey.services.campaigns.desk_integrity`)
    flag a rating that looks like the clerk's own.
    """
    config = current_app.config
    secret = config["SECRET_KEY"]
    found = desk_tokens.lookup(db.session, secret, token)
    if found.state == TokenState.INVALID:
        abort(404)
    desk_token = found.token
    if found.state == TokenState.USED and not _retry_of("desk_token_id", desk_token.id):
        return _already_rated()
    if found.state == TokenState.EXPIRED and request.method != "POST":
        return _gone(_("评价码已过期"), _("这个评价码已经过期。如需评价，请窗口工作人员点“下一位”重新出示二维码。"))
    cu = desk_tokens.campaign_unit_of(db.session, desk_token)
    if cu is None:  # the window was taken out of the campaign after the code was shown
        abort(404)
    if not cu.campaign.allows_channel(Channel.DESK):
        return _gone(_("窗口评价已停止"), _("本次评议活动已不再收集窗口“一事一评”评价。感谢您的参与！"), 403)
    rules = desk_integrity.DeskRules.from_config(config)
    if found.state == TokenState.EXPIRED and request.method == "POST" and desk_integrity.past_grace(desk_token, rules):
        window_link = _window_link(cu)
        if window_link is not None:
            return _send_through_window_link(window_link)
    phone = desk_integrity.read_device(secret, request.cookies.get(desk_integrity.PHONE_COOKIE),
                                       desk_integrity.PHONE_SALT)
    phone_hash = desk_integrity.device_hash(secret, phone, desk_token.campaign_id)
    desk_device = desk_integrity.read_device(secret, request.cookies.get(desk_integrity.DESK_DEVICE_COOKIE),
                                             desk_integrity.DESK_SALT)
    from_desk = desk_device is not None or (current_user.is_authenticated and current_user.role == Role.DESK)

    def flags() -> list[str]:
        return desk_integrity.reasons(db.session, desk_token, rules, phone_hash=phone_hash, from_desk_device=from_desk)

    reply = make_response(questionnaire_view(
        Target(cu.campaign, cu),
        channel=Channel.DESK,
        response_extra={"staff_user_id": desk_token.staff_user_id, "desk_token_id": desk_token.id,
                        "device_hash": phone_hash},
        before_commit=_consume_desk_token(desk_token.id),
        once_per_device=False,
        rate_limit=False,
        flags=flags,
    ))
    if phone is None:  # this phone's own id, so a second rating of the same window is noticed
        reply.set_cookie(desk_integrity.PHONE_COOKIE,
                         desk_integrity.sign_device(secret, desk_integrity.new_device_id(), desk_integrity.PHONE_SALT),
                         max_age=desk_integrity.COOKIE_DAYS * 24 * 3600, httponly=True, samesite="Lax",
                         secure=config["SESSION_COOKIE_SECURE"])
    return reply


def _window_link(cu) -> str | None:
    """The window's own (poster) link, when the campaign takes ratings through it."""
    if submission.public_channel(cu.campaign, via_unit_code=True) != Channel.POSTER:
        return None
    return url_for("public.entry", code=cu.short_code)


def _send_through_window_link(window_link: str) -> ResponseReturnValue:
    """A desk code past its grace period: the answers as they were sent, ready to go through the
    window's own link in one tap (stored there as a poster rating, under the poster's rules)."""
    fields = [(name, value) for name, value in request.form.items(multi=True) if name != "csrf_token"]
    return render_template("links/desk_late.html", action=window_link, fields=fields), 200, {
        "Cache-Control": "private, no-store"}


def _consume_desk_token(token_id: int):
    def consume(session: Session, response: Response) -> None:
        try:
            desk_tokens.consume(session, token_id, any_expiry=True)
        except desk_tokens.TokenAlreadyUsed as exc:
            raise submission.Refused(_("这个评价码已经使用过，您的这次评价没有保存。感谢您的参与！"),
                                     status=409) from exc

    return consume


@bp.route("/i/<code>", methods=["GET", "POST"])
@csrf.exempt  # as above: the questionnaire view checks the CSRF token
def invitation_entry(code: str) -> ResponseReturnValue:
    """A panel member's personal link: their group is known, so it is not asked; usable once."""
    invitation = invitations.find(db.session, code)
    if invitation is None:
        abort(404)
    if invitation.used_at is not None and not _retry_of("invitation_id", invitation.id):
        return _gone(_("已经提交过了"), _("这个邀请链接已经使用过，每个链接只能提交一次。感谢您的参与！"))
    target = invitations.target_for(db.session, invitation)
    if target is None:
        abort(404)
    if not target.campaign.allows_channel(Channel.INVITATION):
        return _gone(_("邀请已停止"), _("本次评议活动已不再通过邀请链接收集评价。感谢您的参与！"), 403)
    return questionnaire_view(
        target,
        channel=Channel.INVITATION,
        preset_group_id=invitation.respondent_group_id,
        response_extra={"invitation_id": invitation.id},
        before_commit=_consume_invitation(invitation),
        once_per_device=False,
        rate_limit=False,
    )


def _consume_invitation(invitation: Invitation):
    invitation_id = invitation.id

    def consume(session: Session, response: Response) -> None:
        try:
            invitations.consume(session, invitation_id)
        except invitations.InvitationAlreadyUsed as exc:
            message = _("这个邀请链接已经使用过，您的这次填写没有保存。感谢您的参与！")
            raise submission.Refused(message, status=409) from exc

    return consume
