"""Several gunicorn instances sharing one PostgreSQL and one Redis behave as one site.

Two real gunicorn instances (separate processes and ports, one worker each, separate
instance folders) run on one fresh PostgreSQL database and one Redis database, with the
same ``SECRET_KEY`` and the same settings, passed explicitly so neither instance falls
back to a secret of its own. A load balancer may send any request to either, so:

* a questionnaire opened on A is submitted to B (CSRF token and cookies are valid on
  every instance) and stored once; the same submission sent again to the other
  instance, or to both at the same moment, stores nothing new;
* one rating per device: after a rating through A, the same phone gets the "already
  rated" page on B;
* a staff sign-in on A is a sign-in on B; signing out on B signs the browser out on A,
  and an administrator's "sign out everywhere" on one instance ends the session on the
  other (the session version lives in the database);
* a desk (一事一评) code shown by A opens the questionnaire on B, a second use on A gets
  "already rated", and the desk's poll on either instance reports it used;
* the per-address submit limit is counted in Redis: with 3 per minute, submissions
  alternating between A and B are refused (429) from the fourth on, whichever instance
  gets them.

The instances and the database are shared by the tests of this module (starting them is
the slow part); each test builds its own campaign and accounts and counts only its own
rows, and Redis is emptied before each test, so no test depends on another. PostgreSQL
only (SQLite is one host's file): skipped without ``TEST_DATABASE_URL``, or when
PostgreSQL or Redis cannot be reached.
"""
from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from survey.config import normalise_database_url
from survey.extensions import db
from survey.models import Channel, DeskToken, Response, Unit
from tests.conftest import PG_URL, _admin_engine
from tests.desk.test_desk_page import qr_url_on
from tests.factories import PASSWORD, Factory, csrf_from
from tests.ops.databases import Fresh
from tests.ops.servers import HIDDEN, RADIO, Gunicorn, Phone, launch_gunicorn

# One worker runs the whole module, so the site (two gunicorn instances) is started once per run.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("multi-instance"),
              pytest.mark.skipif(not PG_URL, reason="multi-instance needs PostgreSQL: TEST_DATABASE_URL not set")]

REDIS_URL = "redis://127.0.0.1:6379/14"  # a database number of our own, emptied by the tests
SITE_ADDRESS = "http://pingyi.test"  # the one public address behind the load balancer
SUBMIT_LIMIT = 3  # per minute and address; no test but the rate-limit one submits more often
# Whatever two instances share, two workers of one instance share the same way (a worker is a process with
# the instance's settings): one worker each keeps every check across processes and saves two boots of the app.
WORKERS = 1
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) test-office"


def shared_settings(secret: str, database_url: str) -> dict[str, str]:
    """What every instance of one site must be given alike (see survey/config.py).

    SECRET_KEY signs sessions, CSRF tokens, desk codes and the device-ledger cookie, and
    keys the fingerprint and the rate-limit address hash, which also depend on the
    rotation period; REDIS_URL holds the rate-limit counters.
    """
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret,
        "REDIS_URL": REDIS_URL,
        "PINGYI_PUBLIC_BASE_URL": SITE_ADDRESS,
        "PINGYI_FINGERPRINT_ROTATION_HOURS": "24",
        "PINGYI_RATELIMIT_ENABLED": "1",
        "PINGYI_RATELIMIT_SUBMIT": f"{SUBMIT_LIMIT} per minute",
        "PINGYI_SECURE_COOKIES": "0",  # plain http on loopback
        # The test accounts' hashes are cheap; the same cost everywhere, so no login rehashes them.
        "PINGYI_ARGON2_TIME_COST": "1",
        "PINGYI_ARGON2_MEMORY_KIB": "1024",
        "PINGYI_ARGON2_PARALLELISM": "1",
    }


@dataclass
class Site:
    a: Gunicorn
    b: Gunicorn
    instances: tuple[Path, Path]
    app: Flask  # on the site's database, to build test data
    engine: Engine  # to read what the instances stored
    redis: redis.Redis

    def responses(self, *conditions) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count(Response.id)).where(*conditions))


def _reachable_postgresql() -> None:
    admin, _url = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL at TEST_DATABASE_URL is not reachable: {exc.orig}")
    finally:
        admin.dispose()


def _reachable_redis() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5, decode_responses=True)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        client.close()
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    return client


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, request) -> Iterator[Site]:
    _reachable_postgresql()
    store = _reachable_redis()
    store.flushdb()
    folder = tmp_path_factory.mktemp("multi-instance")
    fresh = Fresh(folder, sqlite_template, lambda: request.getfixturevalue("pg_template"))
    servers: list[Gunicorn] = []
    engine = None
    try:
        app = fresh("postgresql")
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        settings = shared_settings(uuid.uuid4().hex * 2, url)
        instances = (folder / "instance-a", folder / "instance-b")
        for name, instance in zip("ab", instances):  # both boot at once
            servers.append(launch_gunicorn({**settings, "PINGYI_INSTANCE_PATH": str(instance)},
                                           folder / f"gunicorn-{name}.log", workers=WORKERS))
        for server in servers:
            server.wait_ready(WORKERS)
        engine = create_engine(normalise_database_url(url))
        yield Site(servers[0], servers[1], instances, app, engine, store)
    finally:
        for server in servers:  # both shut down at once
            server.terminate()
        for server in servers:
            server.stop()
        if engine is not None:
            engine.dispose()
        fresh.close()
        store.flushdb()
        store.close()


@pytest.fixture(autouse=True)
def empty_redis(site: Site) -> None:
    site.redis.flushdb()


@dataclass(frozen=True)
class Window:
    campaign_id: int
    unit_id: int
    code: str  # the window's poster code


def _window(site: Site, channels: list[Channel] | None = None) -> Window:
    """An open window-service campaign of its own, with one window."""
    with site.app.app_context():
        make = Factory(db.session)
        unit = make.unit(name="不动产登记窗口", window_no="12")
        campaign = make.campaign(units=[unit], channels=[c.value for c in channels] if channels else None)
        window = Window(campaign.id, unit.id, campaign.campaign_units[0].short_code)
        db.session.commit()
        db.session.remove()
        return window


def _account(site: Site, role: str, unit_id: int | None = None) -> tuple[int, str]:
    with site.app.app_context():
        make = Factory(db.session)
        unit = db.session.get(Unit, unit_id) if unit_id else None
        user = make.user(role=role, unit=unit)
        found = (user.id, user.username)
        db.session.remove()
        return found


class _Html:
    """A fetched page, shaped like a Flask test response for the shared page helpers."""

    def __init__(self, html: str) -> None:
        self.html = html

    def get_data(self, as_text: bool = False) -> str:
        return self.html


def via(phone: Phone, server: Gunicorn) -> Phone:
    """The load balancer sends this device's next requests to ``server`` (same cookies)."""
    phone.base = server.base
    return phone


def copy_of(phone: Phone, server: Gunicorn) -> Phone:
    """Another connection carrying this device's cookies as they are now."""
    twin = Phone(server.base)
    twin.opener.addheaders = list(phone.opener.addheaders)
    for cookie in phone.jar:
        twin.jar.set_cookie(cookie)
    return twin


def answers_at(phone: Phone, path: str) -> dict[str, str]:
    """Open a questionnaire page and answer it: the first choice of every question."""
    status, html, _ = phone.request(path)
    assert status == 200, f"GET {path} answered {status}"
    fields = dict(HIDDEN.findall(html))
    for name, value in RADIO.findall(html):
        fields.setdefault(name, value)
    return fields


def sign_in(phone: Phone, username: str) -> str:
    """Sign in through the login form; the page it sends us to."""
    _, html, _ = phone.request("/login")
    status, body, headers = phone.request(
        "/login", {"username": username, "password": PASSWORD, "csrf_token": csrf_from(_Html(html))})
    assert status == 302, body[:500]
    return headers["Location"]


def test_each_instance_runs_on_the_shared_settings_not_on_files_of_its_own(site):
    for instance in site.instances:
        assert not (instance / "secret_key").exists(), "an instance generated a secret of its own"
        assert not (instance / "pingyi.db").exists()


def test_a_page_opened_on_one_instance_is_submitted_to_the_other(site):
    window = _window(site)
    phone = Phone(site.a.base)
    fields = answers_at(phone, f"/s/{window.code}")

    status, body, headers = via(phone, site.b).request(f"/s/{window.code}", fields)

    assert status == 303, body[:500]
    assert headers["Location"].endswith(f"/thanks/{window.code}")
    assert site.responses(Response.submission_id == fields["submission_id"]) == 1
    assert site.responses(Response.campaign_id == window.campaign_id) == 1
    # The thank-you page on A knows the submission B stored for this browser's session.
    status, html, _ = via(phone, site.a).request(f"/thanks/{window.code}")
    assert status == 200, html[:500]


def test_the_same_submission_sent_again_to_the_other_instance_stores_nothing_new(site):
    window = _window(site)
    phone = Phone(site.a.base)
    fields = answers_at(phone, f"/s/{window.code}")
    assert phone.request(f"/s/{window.code}", fields)[0] == 303
    assert site.responses(Response.campaign_id == window.campaign_id) == 1

    for server in (site.b, site.a):  # the retry lands elsewhere, then back
        status, body, headers = via(phone, server).request(f"/s/{window.code}", fields)
        assert status == 303, body[:500]
        assert headers["Location"].endswith(f"/thanks/{window.code}")

    assert site.responses(Response.campaign_id == window.campaign_id) == 1
    assert site.responses(Response.submission_id == fields["submission_id"]) == 1


def test_the_same_submission_reaching_both_instances_at_once_is_stored_once(site):
    window = _window(site)
    phone = Phone(site.a.base)
    fields = answers_at(phone, f"/s/{window.code}")
    copies = [copy_of(phone, site.a), copy_of(phone, site.b)]
    start = threading.Barrier(len(copies))
    statuses: list[int] = []

    def post(copy: Phone) -> None:
        start.wait(timeout=10)
        statuses.append(copy.request(f"/s/{window.code}", fields)[0])

    threads = [threading.Thread(target=post, args=(copy,)) for copy in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses) == [303, 303]
    assert site.responses(Response.campaign_id == window.campaign_id) == 1


def test_a_device_that_rated_on_one_instance_has_rated_on_the_other(site):
    window = _window(site)
    phone = Phone(site.a.base)
    fields = answers_at(phone, f"/s/{window.code}")
    assert phone.request(f"/s/{window.code}", fields)[0] == 303

    status, html, _ = via(phone, site.b).request(f"/s/{window.code}")
    assert status == 200
    assert "您已评价过" in html and "不动产登记窗口" in html
    assert 'name="submission_id"' not in html  # no questionnaire to fill again

    # Answers kept from before, under a new submission id, are refused on B too.
    again = {**fields, "submission_id": "again-" + uuid.uuid4().hex}
    status, html, _ = phone.request(f"/s/{window.code}", again)
    assert status == 409 and "您已评价过" in html
    assert site.responses(Response.campaign_id == window.campaign_id) == 1

    # The rule is per device, not per site: another phone may still rate on B.
    assert 'name="submission_id"' in Phone(site.b.base).request(f"/s/{window.code}")[1]


def test_a_staff_sign_in_holds_on_every_instance_and_so_does_signing_out(site):
    _analyst_id, analyst = _account(site, "analyst")
    browser = Phone(site.a.base, DESKTOP)
    assert sign_in(browser, analyst).endswith("/admin/")

    status, html, _ = via(browser, site.b).request("/admin/")
    assert status == 200, html[:500]
    assert analyst in html

    status, _, headers = browser.request("/logout", {"csrf_token": csrf_from(_Html(html))})
    assert status == 302 and "/login" in headers["Location"]
    status, _, headers = via(browser, site.a).request("/admin/")
    assert status == 302 and "/login" in headers["Location"]


def test_sign_out_everywhere_on_one_instance_ends_the_session_on_the_other(site):
    analyst_id, analyst = _account(site, "analyst")
    _admin_id, admin = _account(site, "admin")
    office = Phone(site.b.base, DESKTOP)
    sign_in(office, analyst)
    assert office.request("/admin/")[0] == 200

    administrator = Phone(site.a.base, DESKTOP)
    sign_in(administrator, admin)
    status, page, _ = administrator.request(f"/admin/users/{analyst_id}")
    assert status == 200
    status, _, _ = administrator.request(f"/admin/users/{analyst_id}/sign-out", {"csrf_token": csrf_from(_Html(page))})
    assert status == 302

    for server in (site.b, site.a):
        status, _, headers = via(office, server).request("/admin/")
        assert status == 302 and "/login" in headers["Location"]


def test_a_desk_code_shown_by_one_instance_is_used_once_across_both(site):
    window = _window(site, channels=[Channel.POSTER, Channel.DESK])
    clerk_id, clerk = _account(site, "desk", unit_id=window.unit_id)
    desk = Phone(site.a.base, DESKTOP)
    assert sign_in(desk, clerk).endswith("/desk/")
    page = desk.request("/desk/")[1]
    assert desk.request("/desk/next", {"csrf_token": csrf_from(_Html(page))})[0] == 302
    status, page, _ = desk.request("/desk/")
    assert status == 200
    code_url = qr_url_on(_Html(page))
    assert code_url.startswith(SITE_ADDRESS + "/d/"), code_url  # the site's address, not an instance's
    path = code_url[len(SITE_ADDRESS):]
    poll = re.search(r'data-status-url="([^"]+)"', page).group(1)
    assert json.loads(desk.request(poll)[1])["state"] == "valid"

    citizen = Phone(site.b.base)
    fields = answers_at(citizen, path)
    status, body, _ = citizen.request(path, fields)
    assert status == 303, body[:500]

    status, html, _ = Phone(site.a.base).request(path)  # the code scanned again, served by A
    assert status == 410 and "已经评价过了" in html
    assert via(citizen, site.a).request(path, fields)[0] == 303  # the same phone's retry: no new row

    with site.engine.connect() as conn:
        stored = conn.execute(select(Response.channel, Response.staff_user_id, Response.desk_token_id)
                              .where(Response.campaign_id == window.campaign_id)).all()
        token_id = conn.scalar(select(DeskToken.id).where(DeskToken.staff_user_id == clerk_id))
    assert stored == [(Channel.DESK, clerk_id, token_id)]
    assert poll == f"/desk/token/{token_id}/status"
    for server in (site.a, site.b):
        status, body, _ = via(desk, server).request(poll)
        assert status == 200 and json.loads(body)["state"] == "used", body


def test_the_submit_rate_limit_is_counted_in_redis_across_instances(site):
    window = _window(site)
    statuses: list[int] = []
    refused: list[tuple[str, dict[str, str]]] = []
    for server in (site.a, site.b, site.a, site.b, site.a):  # one address, every submission a new phone
        phone = Phone(server.base)
        fields = answers_at(phone, f"/s/{window.code}")
        status, html, headers = phone.request(f"/s/{window.code}", fields)
        statuses.append(status)
        if status == 429:
            refused.append((html, headers))

    assert statuses == [303] * SUBMIT_LIMIT + [429, 429]
    assert site.responses(Response.campaign_id == window.campaign_id) == SUBMIT_LIMIT
    for html, headers in refused:  # the page keeps the answers and says how long to wait
        assert "提交太频繁" in html
        assert 0 < int(headers["Retry-After"]) <= 61

    [key] = site.redis.keys("*public-submit*")
    assert "127.0.0.1" not in key  # counted under a keyed hash of the address
    assert key.endswith(f"/{SUBMIT_LIMIT}/1/minute")
    assert int(site.redis.get(key)) == len(statuses)
    assert 0 < site.redis.ttl(key) <= 60
