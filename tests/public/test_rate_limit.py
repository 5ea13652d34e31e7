"""The per-address submit limit (Flask-Limiter): friendly 429 with the answers kept, no raw address kept."""
from __future__ import annotations

import socket
import uuid

import pytest
from sqlalchemy import func, select

from survey.extensions import limiter
from survey.models import Response
from tests.public.helpers import checked, filled


@pytest.fixture
def app_overrides():
    return {"RATELIMIT_ENABLED": True, "RATELIMIT_SUBMIT": "2 per minute"}


def test_over_the_limit_rerenders_with_answers_and_retry_after(client, make, session):
    campaign = make.campaign(units=[make.unit() for _ in range(3)])
    make.commit()
    codes = [cu.short_code for cu in campaign.campaign_units]
    for code in codes[:2]:
        page = client.get(f"/s/{code}")
        assert client.post(f"/s/{code}", data=filled(campaign.questionnaire, page)).status_code == 303
    page = client.get(f"/s/{codes[2]}")  # reading is never limited
    assert page.status_code == 200
    first = campaign.questionnaire.questions[0]
    limited = client.post(f"/s/{codes[2]}", data=filled(campaign.questionnaire, page, level="1"))
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    html = limited.get_data(as_text=True)
    assert "提交太频繁" in html and "您填写的内容都保留着" in html
    assert checked(html, f"q{first.id}") == ["1"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Response)) == 2


def test_limiter_storage_never_sees_the_raw_address(client, make):
    campaign = make.campaign()
    make.commit()
    code = campaign.campaign_units[0].short_code
    client.post(f"/s/{code}", data=filled(campaign.questionnaire, client.get(f"/s/{code}")))
    keys = list(limiter.storage.storage.keys())  # the in-memory storage's counters
    assert keys and all("127.0.0.1" not in key for key in keys)


def test_storage_outage_lets_the_response_through(client, make, session, monkeypatch):
    campaign = make.campaign()
    make.commit()
    code = campaign.campaign_units[0].short_code
    page = client.get(f"/s/{code}")

    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(limiter.limiter, "hit", broken)
    assert client.post(f"/s/{code}", data=filled(campaign.questionnaire, page)).status_code == 303
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Response)) == 1


def test_the_default_storage_sweeps_inline_and_starts_no_thread_per_hit(monkeypatch):
    """limits' own memory storage starts a threading.Timer per hit; ours sweeps once a second, inline."""
    from limits.storage import memory

    from survey.extensions import SweptMemoryStorage

    assert isinstance(limiter.storage, SweptMemoryStorage)  # what the app runs with by default
    started = []

    class Counted(memory.threading.Timer):
        def start(self):
            started.append(self)
            super().start()

    monkeypatch.setattr(memory.threading, "Timer", Counted)
    storage = SweptMemoryStorage()
    assert len(started) == 1  # the library's constructor starts one
    storage.timer.join()  # and it has swept before we count
    storage.incr("old", expiry=0.05)
    for n in range(200):
        assert storage.incr(f"address-{n % 20}", expiry=60) == n // 20 + 1
    assert len(started) == 1  # and no hit starts another
    assert storage.get("address-3") == 10
    import time

    time.sleep(0.06)
    assert storage.get("old") == 0  # expired: a read sees nothing, swept or not
    storage.incr("other", expiry=0.05)
    time.sleep(0.06)
    storage._next_sweep = 0.0  # a second has passed
    storage.incr("address-0", expiry=60)
    assert "other" not in storage.storage and "other" not in storage.expirations  # swept inline
    assert storage.get("address-0") == 11  # live counts untouched
    assert len(started) == 1


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


REDIS_PREFIX = f"pingyi-test-{uuid.uuid4().hex[:8]}"


@pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")
class TestRedis:
    @pytest.fixture
    def app_overrides(self):
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_SUBMIT": "1 per minute", "REDIS_URL": "redis://127.0.0.1:6379/15",
                "RATELIMIT_KEY_PREFIX": f"{REDIS_PREFIX}-{uuid.uuid4().hex[:6]}"}

    def test_counts_in_redis_when_redis_url_is_set(self, app, client, make):
        import redis

        assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/15"
        campaign = make.campaign(units=[make.unit(), make.unit()])
        make.commit()
        first, second = (cu.short_code for cu in campaign.campaign_units)
        assert client.post(f"/s/{first}", data=filled(campaign.questionnaire, client.get(f"/s/{first}"))).status_code == 303
        page = client.get(f"/s/{second}")
        assert client.post(f"/s/{second}", data=filled(campaign.questionnaire, page)).status_code == 429
        connection = redis.Redis(host="127.0.0.1", port=6379, db=15)
        keys = [k.decode() for k in connection.scan_iter(f"LIMITS:LIMITER/{app.config['RATELIMIT_KEY_PREFIX']}/*")]
        try:
            assert keys and all("127.0.0.1" not in k for k in keys)
        finally:
            if keys:
                connection.delete(*keys)
            connection.close()


def test_the_limiter_passes_citizen_pages_at_once_and_still_checks_the_login(client, make, monkeypatch):
    """The citizens' pages declare no limits: the limiter does not resolve any for them (its request filter),
    while the sign-in page's declared limits are still looked up."""
    campaign = make.campaign()
    make.commit()
    resolved: list[str | None] = []
    manager = limiter.limit_manager
    original = manager.resolve_limits

    def counting(app, endpoint, *args, **kwargs):
        resolved.append(endpoint)
        return original(app, endpoint, *args, **kwargs)

    monkeypatch.setattr(manager, "resolve_limits", counting)
    assert client.get(f"/s/{campaign.campaign_units[0].short_code}").status_code == 200
    assert client.get("/").status_code == 200
    assert resolved == []
    assert client.get("/login").status_code == 200
    assert "auth.login" in resolved
