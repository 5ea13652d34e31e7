"""Staff accounts, for administrators only: create, change role or unit, reset, deactivate."""
from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from survey.admin import bp
from survey.admin.common import save
from survey.auth.decorators import roles_required
from survey.core.lookups import get_or_404
from survey.extensions import db
from survey.models import Role, Unit, User
from survey.services.accounts import user_admin
from survey.services.accounts.users import create_user


def _units() -> list[Unit]:
    return list(db.session.scalars(select(Unit).where(Unit.active.is_(True)).order_by(Unit.sort_order, Unit.code)))


def _password_page(user: User, password: str | None):
    """The one-time password is shown once and must not stay in any cache."""
    response = make_response(render_template("admin/accounts/users/password_shown.html", user=user, password=password))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/users/")
@roles_required(Role.ADMIN)
def users_list():
    return render_template("admin/accounts/users/list.html", users=user_admin.list_users(db.session))


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def users_new():
    form = request.form
    if request.method == "POST":
        unit = db.session.get(Unit, int(form["unit"])) if form.get("unit", "").isdigit() else None
        generated = form.get("password_mode") != "manual"
        password = user_admin.generate_password() if generated else form.get("password", "")
        user, errors = save(lambda: create_user(
            db.session, form.get("username", ""), password, form.get("role", ""), unit_code=unit.code if unit else None,
            display_name=(form.get("display_name") or "").strip()[:100] or None, actor=current_user), flash_errors=True)
        if errors:
            return render_template("admin/accounts/users/new.html", form=form, units=_units()), 422
        return _password_page(user, password if generated else None)
    return render_template("admin/accounts/users/new.html", form=form, units=_units())


@bp.route("/users/<int:user_id>")
@roles_required(Role.ADMIN)
def users_edit(user_id: int):
    return render_template("admin/accounts/users/edit.html", user=get_or_404(User, user_id), units=_units())


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@roles_required(Role.ADMIN)
def users_role(user_id: int):
    user = get_or_404(User, user_id)
    raw_unit = request.form.get("unit", "")
    _done, errors = save(lambda: user_admin.change_role(db.session, user, request.form.get("role", ""),
                                                        int(raw_unit) if raw_unit.isdigit() else None, current_user),
                         success=_("已保存。该用户需重新登录。"), flash_errors=True)
    if errors:
        return render_template("admin/accounts/users/edit.html", user=get_or_404(User, user_id), units=_units()), 422
    return redirect(url_for("admin.users_edit", user_id=user.id))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@roles_required(Role.ADMIN)
def users_active(user_id: int):
    user = get_or_404(User, user_id)
    save(lambda: user_admin.set_active(db.session, user, request.form.get("active") == "1", current_user),
         success=lambda _done: _("已启用。") if user.active else _("已停用，该用户已被登出。"), flash_errors=True)
    return redirect(url_for("admin.users_edit", user_id=user.id))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@roles_required(Role.ADMIN)
def users_password(user_id: int):
    user = get_or_404(User, user_id)
    generated = request.form.get("password_mode") != "manual"
    password, errors = save(lambda: user_admin.reset_password(db.session, user, current_user,
                                                              None if generated else request.form.get("password", "")),
                            flash_errors=True)
    if errors:
        return render_template("admin/accounts/users/edit.html", user=get_or_404(User, user_id), units=_units()), 422
    return _password_page(user, password if generated else None)


@bp.route("/users/<int:user_id>/sign-out", methods=["POST"])
@roles_required(Role.ADMIN)
def users_sign_out(user_id: int):
    user = get_or_404(User, user_id)
    user_admin.sign_out_everywhere(db.session, user, current_user)
    db.session.commit()
    flash(_("该用户已在所有设备上退出登录。"), "info")
    return redirect(url_for("admin.users_edit", user_id=user.id))
