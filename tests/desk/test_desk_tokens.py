"""Desk codes: signed, expiring, consumed exactly once even by two submissions at the same moment."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy.orm import Session

from survey.extensions import db
from survey.models import Channel, DeskToken, utcnow
from survey.services.campaigns import desk_tokens
from survey.services.campaigns.desk_tokens import TokenState


@pytest.fixture
def issued(make, session):
    window = make.unit(name="不动产登记窗口", window_no="12")
    campaign = make.campaign(units=[window], channels=[Channel.DESK.value])
    clerk = make.user(role="desk", unit=window)
    token = desk_tokens.issue(session, campaign.campaign_units[0], clerk, minutes=30)
    session.commit()
    return token


def test_lookup_of_a_fresh_code(app, session, issued):
    signed = desk_tokens.sign(app.config["SECRET_KEY"], issued)
    found = desk_tokens.lookup(session, app.config["SECRET_KEY"], signed)
    assert found.state == TokenState.VALID and found.token.id == issued.id


@pytest.mark.parametrize("mangle", [
    lambda s: s[:-2] + ("AA" if not s.endswith("AA") else "BB"),  # signature broken
    lambda s: "x" + s,
    lambda s: "",
    lambda s: "not-a-token",
])
def test_tampered_codes_are_invalid(app, session, issued, mangle):
    signed = desk_tokens.sign(app.config["SECRET_KEY"], issued)
    assert desk_tokens.lookup(session, app.config["SECRET_KEY"], mangle(signed)).state == TokenState.INVALID


def test_a_code_signed_with_another_secret_is_invalid(app, session, issued):
    forged = desk_tokens.sign("another-secret-" + "x" * 40, issued)
    assert desk_tokens.lookup(session, app.config["SECRET_KEY"], forged).state == TokenState.INVALID


def test_a_well_signed_unknown_nonce_is_invalid(app, session, issued):
    ghost = DeskToken(nonce="nobody-issued-this", campaign_id=issued.campaign_id, unit_id=issued.unit_id,
                      issued_at=utcnow(), expires_at=utcnow())
    signed = desk_tokens.sign(app.config["SECRET_KEY"], ghost)
    assert desk_tokens.lookup(session, app.config["SECRET_KEY"], signed).state == TokenState.INVALID


def test_expiry(app, session, issued):
    signed = desk_tokens.sign(app.config["SECRET_KEY"], issued)
    later = issued.expires_at + dt.timedelta(seconds=1)
    assert desk_tokens.lookup(session, app.config["SECRET_KEY"], signed, now=later).state == TokenState.EXPIRED
    with pytest.raises(desk_tokens.TokenAlreadyUsed):
        desk_tokens.consume(session, issued.id, now=later)
    session.rollback()
    session.expire_all()
    assert session.get(DeskToken, issued.id).used_at is None


def test_consume_once_then_already_used(app, session, issued):
    desk_tokens.consume(session, issued.id)
    session.commit()
    with pytest.raises(desk_tokens.TokenAlreadyUsed):
        desk_tokens.consume(session, issued.id)
    session.rollback()
    signed = desk_tokens.sign(app.config["SECRET_KEY"], issued)
    session.expire_all()
    assert desk_tokens.lookup(session, app.config["SECRET_KEY"], signed).state == TokenState.USED


def test_two_concurrent_consumers_exactly_one_wins(app, session, issued):
    """Each in its own connection and transaction, both past the check before either commits."""
    token_id = issued.id
    barrier = threading.Barrier(2, timeout=20)
    outcomes: list[str] = []

    def consumer() -> None:
        with app.app_context(), Session(db.engine) as own:
            barrier.wait()
            try:
                desk_tokens.consume(own, token_id)
                own.commit()
                outcomes.append("won")
            except desk_tokens.TokenAlreadyUsed:
                own.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=consumer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["refused", "won"]


def test_one_transaction_is_one_code_however_often_it_is_signed(app, session, issued):
    secret = app.config["SECRET_KEY"]
    assert desk_tokens.sign(secret, issued) == desk_tokens.sign(secret, issued)
