"""Administrators manage accounts; analysts and unit contacts cannot. Every change is audited."""
from __future__ import annotations

import re

from sqlalchemy import select

from survey.models import AuditLog, Role, User
from survey.services.accounts.users import authenticate
from tests.factories import PASSWORD, csrf_from


def test_only_admins_reach_user_management(client, auth, make):
    target = make.user("analyst", username="target")
    for role in ("analyst", "unit", "desk"):
        auth.login_as(role)
        assert client.get("/admin/users/").status_code == 403
        page = client.get("/desk/" if role == "desk" else "/admin/")
        token = csrf_from(page)
        for path in ("/admin/users/new", f"/admin/users/{target.id}/password", f"/admin/users/{target.id}/role",
                     f"/admin/users/{target.id}/active", f"/admin/users/{target.id}/sign-out"):
            assert client.post(path, data={"csrf_token": token, "role": "admin", "username": "evil",
                                            "password_mode": "manual", "password": PASSWORD}).status_code == 403
        client.post("/logout", data={"csrf_token": token})


def test_admin_creates_a_unit_contact_with_a_one_time_password(client, auth, make, session):
    unit = make.unit(name="市民政局")
    admin = auth.login_as("admin")
    page = client.get("/admin/users/new")
    missing_unit = client.post("/admin/users/new", data={"csrf_token": csrf_from(page), "username": "mzj",
                                                          "role": "unit", "unit": ""})
    assert missing_unit.status_code == 422 and "必须绑定单位" in missing_unit.get_data(as_text=True)
    assert session.scalar(select(User).where(User.username == "mzj")) is None
    created = client.post("/admin/users/new", data={"csrf_token": csrf_from(page), "username": "mzj",
                                                     "display_name": "民政 刘", "role": "unit", "unit": str(unit.id)})
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    password = re.search(r"<code>([^<]+)</code>", created.get_data(as_text=True)).group(1)
    user = authenticate(session, "mzj", password)
    assert user is not None and user.role == Role.UNIT and user.unit_id == unit.id
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "user.create"))
    assert entry.user_id == admin.id and password not in str(entry.detail)


def test_reset_role_change_and_deactivation_log_the_user_out(client, make, session, app):
    make.user("admin", username="boss")
    unit = make.unit()
    victim = make.user("unit", unit=unit, username="li")
    other = app.test_client()
    page = other.get("/login")
    other.post("/login", data={"username": "li", "password": PASSWORD, "csrf_token": csrf_from(page)})
    assert other.get("/admin/").status_code == 200

    page = client.get("/login")
    client.post("/login", data={"username": "boss", "password": PASSWORD, "csrf_token": csrf_from(page)})
    token = csrf_from(client.get(f"/admin/users/{victim.id}"))
    weak = client.post(f"/admin/users/{victim.id}/password", data={"csrf_token": token, "password_mode": "manual",
                                                                  "password": "short"})
    assert weak.status_code == 422 and "至少" in weak.get_data(as_text=True)
    assert other.get("/admin/").status_code == 200  # nothing changed yet
    reset = client.post(f"/admin/users/{victim.id}/password", data={"csrf_token": token, "password_mode": "manual",
                                                                   "password": "another long password"})
    assert reset.status_code == 200
    assert other.get("/admin/").status_code == 302  # signed out everywhere
    session.expire_all()
    assert authenticate(session, "li", "another long password") is not None

    assert client.post(f"/admin/users/{victim.id}/role", data={"csrf_token": token, "role": "analyst"}).status_code == 302
    session.expire_all()
    assert session.get(User, victim.id).role == Role.ANALYST and session.get(User, victim.id).unit_id is None
    assert client.post(f"/admin/users/{victim.id}/active", data={"csrf_token": token, "active": "0"}).status_code == 302
    session.expire_all()
    assert not session.get(User, victim.id).active
    assert authenticate(session, "li", "another long password") is None
    actions = session.scalars(select(AuditLog.action).where(AuditLog.object_id == str(victim.id))).all()
    assert {"user.password", "user.role", "user.deactivate"} <= set(actions)


def test_admin_cannot_lock_themself_out(client, auth, session):
    admin = auth.login_as("admin")
    token = csrf_from(client.get(f"/admin/users/{admin.id}"))
    client.post(f"/admin/users/{admin.id}/active", data={"csrf_token": token, "active": "0"})
    demote = client.post(f"/admin/users/{admin.id}/role", data={"csrf_token": token, "role": "analyst"})
    assert demote.status_code == 422
    session.expire_all()
    me = session.get(User, admin.id)
    assert me.active and me.role == Role.ADMIN
    assert client.get("/admin/users/").status_code == 200
    assert client.get("/admin/users/999999").status_code == 404
