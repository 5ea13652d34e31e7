"""Issue 14 item 5: signing out ends the session on the server, not only in the browser."""
from __future__ import annotations

from survey.models import User
from survey.services.accounts import user_admin

COOKIE = "pingyi_session"


def _signed_in(client) -> bool:
    response = client.get("/admin/")
    return response.status_code == 200


def test_a_copied_session_cookie_is_dead_after_sign_out(app, client, auth):
    auth.login_as("analyst")
    copied = client.get_cookie(COOKIE).value
    thief = app.test_client()
    thief.set_cookie(COOKIE, copied)
    assert _signed_in(thief)  # the copy works while the owner is signed in …

    assert auth.logout().status_code == 302
    assert not _signed_in(client)
    replay = thief.get("/admin/")
    assert replay.status_code == 302 and "/login" in replay.headers["Location"]  # … and not after sign-out


def test_signing_in_again_after_sign_out_works(client, auth):
    user = auth.login_as("unit")
    auth.logout()
    assert auth.login(user.username).status_code == 302
    assert _signed_in(client)


def test_a_password_change_ends_other_sessions(app, client, auth, session):
    user = auth.login_as("analyst")
    other = app.test_client()
    other.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    admin = session.get(User, user.id)
    user_admin.reset_password(session, admin, actor=admin, password="Another-long-passphrase-42")
    session.commit()
    assert not _signed_in(other)
    assert not _signed_in(client)
