"""The session cookie's signing serializer is built once per set of keys, and a key change still counts."""
from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface

from survey.security import SessionCookies


def test_the_signing_serializer_is_built_once_for_many_requests(app, client, make, monkeypatch):
    campaign = make.campaign()
    make.commit()
    code = campaign.campaign_units[0].short_code
    built = []
    parent = SecureCookieSessionInterface.get_signing_serializer
    monkeypatch.setattr(SecureCookieSessionInterface, "get_signing_serializer",
                        lambda self, app_: built.append(1) or parent(self, app_))
    assert isinstance(app.session_interface, SessionCookies)
    seen = set()
    for _ in range(3):  # each page opens the session and saves it (its CSRF token)
        assert client.get(f"/s/{code}").status_code == 200
        seen.add(id(app.session_interface.get_signing_serializer(app)))
    assert len(built) <= 1 and len(seen) == 1
    assert client.get_cookie(app.config["SESSION_COOKIE_NAME"]) is not None


def test_a_new_secret_key_refuses_the_old_cookie_unless_it_is_a_fallback(app, client, monkeypatch):
    with client.session_transaction() as kept:
        kept["probe"] = "signed with the first key"
    first = app.config["SECRET_KEY"]
    monkeypatch.setitem(app.config, "SECRET_KEY", first + "-rotated")
    with client.session_transaction() as opened:
        assert "probe" not in opened  # signed with another key: an empty session
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [first])
    with client.session_transaction() as opened:
        assert opened["probe"] == "signed with the first key"
