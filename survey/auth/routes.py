from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError

from survey.auth import bp
from survey.auth.forms import LoginForm
from survey.extensions import db, limiter
from survey.models import Role
from survey.services.accounts.users import authenticate, end_session


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: never redirect to another host after login."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def home_for(user) -> str:
    if user.role == Role.DESK:
        return url_for("desk.index")
    return url_for("admin.index")


def _login_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


def _username_key() -> str:
    """Failed attempts are also counted per account, so guessing from many addresses is slowed too."""
    return "user:" + (request.form.get("username") or "").strip().lower()[:64]


def _failed(response) -> bool:
    """Only failed sign-ins count: a busy office behind one address is never locked out by success."""
    return response.status_code != 302


@bp.errorhandler(CSRFError)
def stale_form(exc: CSRFError):
    """The sign-in or sign-out form left open past its token's lifetime (or sent after the session
    cookie was lost): back to a fresh page with one line saying what to do, not an error page."""
    if request.endpoint == "auth.logout" and current_user.is_authenticated:
        flash(_("页面已过期，请再点一次“退出”。"), "info")
        return redirect(home_for(current_user), code=303)
    if current_user.is_authenticated:
        return redirect(home_for(current_user), code=303)
    flash(_("页面已过期，请重新输入用户名和密码。"), "info")
    return redirect(url_for("auth.login"), code=303)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_login_limit, methods=["POST"], key_func=_username_key, deduct_when=_failed)
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(form.next.data) or home_for(current_user))
    if form.validate_on_submit():
        user = authenticate(db.session, form.username.data, form.password.data)
        if user is None:
            db.session.rollback()
            flash(_("用户名或密码不正确。"), "error")
        else:
            db.session.commit()
            session.clear()  # a fresh session on sign-in: no fixation of an earlier cookie
            login_user(user)
            session.permanent = True
            return redirect(_safe_next(form.next.data) or home_for(user))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    end_session(db.session, current_user._get_current_object())  # a copied cookie is no longer valid
    logout_user()
    session.clear()
    flash(_("您已退出登录。"), "info")
    return redirect(url_for("auth.login"))
