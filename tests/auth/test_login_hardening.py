"""Sign-in hardening: rate limits, a fresh session on sign-in, argon2id, logging out everywhere."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from survey.models import User
from survey.services.accounts.users import hash_password, set_password
from tests.factories import PASSWORD, csrf_from


@pytest.fixture
def app_overrides():
    return {"RATELIMIT_ENABLED": True, "RATELIMIT_LOGIN": "3 per minute"}


def _attempt(client, username, password, address="10.0.0.1"):
    page = client.get("/login", environ_base={"REMOTE_ADDR": address})
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_from(page)},
                       environ_base={"REMOTE_ADDR": address})


def test_failed_logins_are_limited_per_address(client, make):
    make.user(username="wang")
    for _ in range(3):
        assert _attempt(client, "wang", "wrong password!").status_code == 200
    blocked = _attempt(client, "wang", PASSWORD)
    assert blocked.status_code == 429 and "操作太频繁" in blocked.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302  # the correct password did not get through either


def test_failed_logins_are_limited_per_account_across_addresses(client, make):
    make.user(username="li")
    for i in range(3):
        assert _attempt(client, "li", "wrong password!", address=f"10.0.1.{i}").status_code == 200
    assert _attempt(client, "LI", PASSWORD, address="10.0.2.99").status_code == 429
    make.user(username="zhao")
    assert _attempt(client, "zhao", PASSWORD, address="10.0.2.100").status_code == 302  # other accounts unaffected


def test_login_limit_counters_hold_no_raw_address(client, make):
    from survey.extensions import limiter

    make.user(username="sun")
    _attempt(client, "sun", "wrong password!", address="10.9.8.7")
    keys = list(limiter.storage.storage.keys())  # the in-memory storage's counters
    assert any("login" in key for key in keys), keys
    assert all("10.9.8.7" not in key for key in keys), keys


class TestRedisDown:
    """With REDIS_URL pointing at a dead Redis, sign-in still works and is still limited (in memory)."""

    @pytest.fixture
    def app_overrides(self):
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_LOGIN": "3 per minute",
                "REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing listens on port 1

    def test_sign_in_works_and_is_still_limited(self, app, client, make, auth):
        assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:1/0"
        make.user(username="qian")
        assert _attempt(client, "qian", PASSWORD).status_code == 302
        auth.logout()
        for _ in range(3):
            assert _attempt(client, "qian", "wrong password!").status_code == 200
        assert _attempt(client, "qian", PASSWORD).status_code == 429


def test_successful_logins_do_not_use_up_the_limit(client, make, auth):
    make.user(username="busy")
    for _ in range(5):
        assert _attempt(client, "busy", PASSWORD).status_code == 302
        auth.logout()


def test_sign_in_starts_a_fresh_session(client, make):
    make.user(username="wang")
    with client.session_transaction() as sess:
        sess["planted"] = "attacker's value"
    page = client.get("/login")
    before = client.get_cookie("pingyi_session").value
    response = client.post("/login", data={"username": "wang", "password": PASSWORD, "csrf_token": csrf_from(page)})
    assert response.status_code == 302
    after = client.get_cookie("pingyi_session").value
    assert after != before
    with client.session_transaction() as sess:
        assert "planted" not in sess and sess.get("_user_id", "").endswith(":1")


def test_passwords_are_argon2id_with_strong_defaults(app, make, session):
    from survey.config import Config

    assert Config.ARGON2_MEMORY_KIB >= 65536 and Config.ARGON2_TIME_COST >= 3  # RFC 9106 second recommendation
    user = make.user(username="hashcheck")
    stored = session.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert hash_password(PASSWORD) != hash_password(PASSWORD)  # salted


def test_password_change_logs_out_other_sessions(client, make, session, auth, app):
    user = make.user(username="moved")
    auth.login("moved")
    assert client.get("/admin/").status_code == 200
    set_password(session, session.get(User, user.id), "a brand new password", actor=None)
    session.commit()
    response = client.get("/admin/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
