"""Every staff and API route, walked as outsiders: nobody sees or changes another unit's data.

The routes come from the app's url_map, so routes other engineers add are checked too.
For each one (every method it accepts) we ask as
  (a) an anonymous visitor: login redirect (admin, desk) or 401 (API), or 403/404/405;
  (b) the contact of unit A: 401/403/404/405, unless the route is in UNIT_MAY_OPEN (pages a
      unit contact legitimately uses for their own unit);
  (c) window staff of A's window: the same, unless the route is in DESK_MAY_OPEN.
URL arguments point at unit B's objects (its case, appeal, imported response, campaign, unit, a
draft snapshot …), so an object-level check that is missing shows as a success. Whatever the answer, it is never a
500 and never contains unit B's data (its name, comment, phone). Afterwards B's data must be
unchanged and the outsiders must have written nothing to the audit log but exports.
Drafts (unpublished results) are for analysts only: the draft snapshot's interval for A's window is
one of the markers, so a trend table, chart or list that shows a draft figure fails the walk.
Object-level rules for A's own objects are tested in tests/test_access_cases.py.
"""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from survey.models import (
    Appeal,
    AuditLog,
    Campaign,
    Case,
    CaseTag,
    Channel,
    DeskToken,
    FollowUpContact,
    Holiday,
    Questionnaire,
    Response,
    ResponseStatus,
    Setting,
    Snapshot,
    SnapshotRow,
    SnapshotStatus,
    Unit,
    User,
    utcnow,
)
from survey.services.accounts.users import load_user_from_session_id
from survey.services.cases.appeals import file_appeal
from survey.services.responses.imports.common import submission_id_for
from survey.services.results import snapshots
from tests.cases.helpers import respond
from tests.conftest import build_app
from tests.factories import PASSWORD, csrf_from

STAFF_BLUEPRINTS = ("admin", "desk", "api")

# Pages a unit contact may open; what they show is limited to their own unit (checked below
# by the absence of unit B's data, and object by object in tests/test_access_cases.py).
UNIT_MAY_OPEN = {
    "admin.index": "overview of own units",
    "admin.cases_list": "own queue",
    "admin.cases_export": "own queue as a spreadsheet",
    "admin.cases_figures": "own handling figures",
    "admin.cases_detail": "own cases only (404 for others)",
    "admin.cases_contact": "own open cases only",
    "admin.cases_step": "own cases only",
    "admin.cases_callback": "own cases only",
    "admin.cases_tags": "own cases only",
    "admin.cases_appeal": "own 差评 only",
    # QR codes and posters (distribution area): scoped to the contact's units by visible_unit_ids.
    # PDFs, PNGs and ZIPs cannot be scanned for unit B's name here; their own tests cover the scope.
    "admin.distribution_index": "own units' posters",
    "admin.distribution_campaign": "own units in a campaign",
    "admin.campaign_fieldwork_xlsx": "own units' fieldwork progress in a campaign (never a draft)",
    "admin.distribution_campaign_code": "a campaign's public QR code",
    "admin.distribution_codes_zip": "own units' QR codes",
    "admin.distribution_posters": "own units' posters",
    "admin.distribution_unit_poster": "own unit's poster (404 for others)",
    "admin.distribution_unit_png": "own unit's QR code (404 for others)",
    "admin.distribution_unit_svg": "own unit's QR code (404 for others)",
    # Results: a contact's own units in official snapshots only (tests/results/test_pages.py).
    "admin.results_index": "own units' official results",
    "admin.results_unit": "own unit's page in an official snapshot (404 for others)",
    # The response browser: responses about own units only, their answers about own units, no device data
    # (tests/results/test_response_browser.py); another unit's response is a 404.
    "admin.responses_list": "own units' responses in a campaign of theirs",
    "admin.responses_detail": "own units' responses only (404 for others)",
    "admin.responses_export": "own units' responses as a spreadsheet",
}
DESK_MAY_OPEN = {
    "desk.index": "own window's desk screen",
    "desk.choose_campaign": "own window's campaigns",
    "desk.change_campaign": "own window's campaigns",
    "desk.next_person": "a code for own window",
    "desk.token_status": "own window's codes only (404 for others)",
}
PUBLIC = {"api.health": "load balancers: no data"}
# Routes of other areas that fail this test: endpoint -> reason (reported, not fixed here).
KNOWN_FAILURES: dict[str, str] = {}

DRAFT_PERIOD = "2027Q1"
DRAFT_FIGURES = "81.2–94.0"  # the draft's interval for A's window, as a results page writes it
MARKERS = ("乙局机密单位", "乙局机密意见", "13955556666", "乙局导入机密意见", DRAFT_FIGURES)
DENIED = {401, 403, 404, 405}


def _staff_rules() -> list[tuple[str, str, tuple[str, ...]]]:
    app = build_app("sqlite://", Path(tempfile.mkdtemp(prefix="pingyi-routes-")))
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in STAFF_BLUEPRINTS:
            methods = tuple(sorted(m for m in rule.methods if m in ("GET", "POST")))
            found.append((rule.endpoint, rule.rule, methods))
    return sorted(found)


RULES = _staff_rules()


def _params():
    for endpoint, rule, methods in RULES:
        marks = [pytest.mark.xfail(reason=KNOWN_FAILURES[endpoint], strict=False)] if endpoint in KNOWN_FAILURES else []
        yield pytest.param(endpoint, rule, methods, id=f"{endpoint}:{rule}", marks=marks)


@pytest.fixture
def world(make, session, built_once):
    """Units A and B (each with a window) in one campaign; B has cases, an appeal, a flagged response, a desk code.
    Built once per worker and database, then restored for each test (the tests only look, or must change nothing)."""
    return built_once("access-routes world", lambda: _build_world(make, session))


def _build_world(make, session):
    a = make.unit(name="甲局")
    a_window = make.unit(name="甲局窗口", parent=a)
    b_category = make.category(name="乙类")
    b = make.unit(name="乙局机密单位", category=b_category)
    b_window = make.unit(name="乙局机密单位窗口", parent=b)
    campaign = make.campaign(units=[a, a_window, b, b_window], title="全市评议")
    a_contact = make.user("unit", unit=a, username="a_contact")
    a_desk = make.user("desk", unit=a_window, username="a_desk")
    b_contact = make.user("unit", unit=b, username="b_contact")
    respond(session, campaign, a_window, levels={"Q1": 1}, comment="甲局自己的意见")
    b_response = respond(session, campaign, b_window, levels={"Q1": 1}, comment="乙局机密意见", phone="13955556666")
    respond(session, campaign, b_window, levels={"Q1": 1}, status=ResponseStatus.FLAGGED)
    b_case = session.scalar(select(Case).where(Case.response_id == b_response.id, Case.kind == "bad_rating"))
    appeal = file_appeal(session, b_case, b_contact, "乙局认为这是恶意差评")
    # A paper questionnaire imported for B's window, under its keyed id, as the import stores it.
    imported = respond(session, campaign, b_window, levels={"Q1": 1}, comment="乙局导入机密意见")
    imported.channel, imported.submission_id = Channel.PAPER, submission_id_for(campaign, "B-0001")
    token = DeskToken(nonce="b-desk-nonce-0001", campaign_id=campaign.id, unit_id=b_window.id,
                      expires_at=utcnow() + dt.timedelta(minutes=30))
    session.add(token)
    session.commit()
    # Results: the campaign's official snapshot, and a draft of the same series in a later period.
    official = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    snapshots.publish(session, official, None)
    session.commit()
    later = make.campaign(units=[a, a_window, b, b_window], questionnaire=campaign.questionnaire,
                          period=DRAFT_PERIOD, title="下期评议")
    for unit in (a_window, b_window):
        respond(session, later, unit, levels={"Q1": 2}, open_cases=False)
    draft = snapshots.compute_snapshot(session, later, None)
    session.commit()
    # Frozen rows refuse an ORM change; the test marks the draft's interval with a plain UPDATE.
    session.execute(update(SnapshotRow).where(SnapshotRow.snapshot_id == draft.id, SnapshotRow.unit_id == a_window.id)
                    .values(index_lo=81.234, index_hi=93.987))  # DRAFT_FIGURES
    session.commit()
    cu = next(c for c in campaign.campaign_units if c.unit_id == b_window.id)
    questionnaire = campaign.questionnaire
    return {
        "a_contact": a_contact, "a_desk": a_desk, "own_units": {a.id, a_window.id}, "a": a.id, "a_window": a_window.id,
        "official_id": official.id, "draft_id": draft.id,
        "ids": {
            "case_id": b_case.id, "appeal_id": appeal.id, "response_id": imported.id, "campaign_id": campaign.id,
            "snapshot_id": draft.id,
            "unit_id": b.id, "user_id": b_contact.id, "cu_id": cu.id, "token_id": token.id,
            "questionnaire_id": questionnaire.id, "question_id": questionnaire.questions[0].id,
            "category_id": b_category.id, "group_id": make.groups()["QY"].id,
        },
        "strings": {"action": "start", "token": "b-desk-nonce-0001", "fmt": "csv", "code": cu.short_code,
                    "period": DRAFT_PERIOD, "unit_code": b.code},
    }


def _snapshot(session, own_units: set[int]) -> dict:
    """Everything outsiders must not change (their own window's new desk codes excepted)."""
    session.expire_all()
    return {
        "cases": sorted((c.id, c.state.value, c.rectification, c.callback_verdict) for c in session.scalars(select(Case))),
        "tags": session.scalar(select(func.count()).select_from(CaseTag)),
        "responses": sorted((r.id, r.status.value) for r in session.scalars(select(Response))),
        "appeals": sorted((a.id, a.state.value) for a in session.scalars(select(Appeal))),
        "contacts": session.scalar(select(func.count()).select_from(FollowUpContact)),
        "users": sorted((u.id, u.role.value, u.active, u.session_version, u.password_hash) for u in session.scalars(select(User))),
        "settings": session.scalar(select(func.count()).select_from(Setting)),
        "campaigns": sorted((c.id, c.status.value, c.title, c.questionnaire_id) for c in session.scalars(select(Campaign))),
        "units": sorted((u.id, u.name, u.active, u.parent_id, u.category_id) for u in session.scalars(select(Unit))),
        "questionnaires": sorted((q.id, q.status.value, q.title, len(q.questions)) for q in session.scalars(select(Questionnaire))),
        "desk_tokens": sorted((t.id, t.used_at is None) for t in session.scalars(select(DeskToken))
                              if t.unit_id not in own_units),
        "holidays": session.scalar(select(func.count()).select_from(Holiday)),
        "snapshots": sorted((n.id, n.status.value, n.public) for n in session.scalars(select(Snapshot))),
    }


def _url(app, endpoint: str, world: dict) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    values = {}
    for name, converter in rule._converters.items():  # the rule's own argument types
        items = getattr(converter, "items", None)
        if items:
            values[name] = min(items)
        elif name in world["ids"]:
            values[name] = world["ids"][name]
        elif name in world["strings"]:
            values[name] = world["strings"][name]
        elif converter.regex == r"\d+":
            values[name] = world["ids"]["case_id"]
        else:
            values[name] = "x"
    return app.url_map.bind("localhost").build(endpoint, values)


def _form(token: str) -> dict:
    """Plausible values for every kind of form, so a missing permission check shows as a change."""
    return {
        "csrf_token": token, "note": "outsider", "rectification": "outsider", "reason": "outsider was here",
        "decision": "approve", "verdict": "satisfied", "called_on": dt.date.today().isoformat(), "tag": "outsider",
        "role": "admin", "active": "0", "password_mode": "manual", "password": "outsider password 1",
        "username": "outsider", "day": "2026-12-31", "kind": "holiday", "name": "outsider", "text": "2026-12-31,holiday,x",
        "confirm": "1", "response": "1", "status": "closed", "title": "outsider", "channel": "paper",
        "staged": "outsider", "filename": "outsider.csv",
    }


def _login(client, username: str) -> str:
    page = client.get("/login")
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf_from(page)})
    assert response.status_code == 302
    return _form_token(client)


def _form_token(client) -> str:
    """The form token the signed-in client's next page would carry (Flask-WTF's ``generate_csrf``),
    without rendering a page for it: the walk signs in twice per route."""
    import hashlib
    import os

    from itsdangerous import URLSafeTimedSerializer

    config = client.application.config
    field = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    with client.session_transaction() as session_data:
        raw = session_data.setdefault(field, hashlib.sha1(os.urandom(64)).hexdigest())
    secret = config.get("WTF_CSRF_SECRET_KEY") or config["SECRET_KEY"]
    return URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(raw)


@pytest.fixture(scope="session")
def _session_cookies() -> dict[tuple, str]:
    return {}


@pytest.fixture
def signed_in(app, _session_cookies):
    """``signed_in(user)``: a new client signed in as ``user`` and its form token. The first sign-in of
    each user per worker, app and database goes through /login; later tests get its session cookie, which
    stays valid because ``world`` is restored with the same ids and session versions (two sign-ins per
    route were half of the walk's time)."""
    name = app.config.get("SESSION_COOKIE_NAME", "session")

    def sign_in(user):
        key = (id(app), app.config["SQLALCHEMY_DATABASE_URI"], user.id, user.session_version, user.username)
        client = app.test_client()
        if key in _session_cookies:
            client.set_cookie(name, _session_cookies[key])
            with client.session_transaction() as data:  # the app's own loader takes it in this database
                assert load_user_from_session_id(data["_user_id"]) == user
            return client, _form_token(client)
        token = _login(client, user.username)
        _session_cookies[key] = client.get_cookie(name).value
        return client, token

    return sign_in


@pytest.mark.parametrize("endpoint, rule, methods", list(_params()))
def test_outsiders_get_nothing(app, session, world, signed_in, endpoint, rule, methods):
    url = _url(app, endpoint, world)
    before = _snapshot(session, world["own_units"])
    blueprint = endpoint.split(".")[0]
    problems = []

    anonymous = app.test_client()
    anon_token = csrf_from(anonymous.get("/login"))
    unit_client, unit_token = signed_in(world["a_contact"])
    desk_client, desk_token = signed_in(world["a_desk"])

    for who, client, token, allowed in (("anonymous", anonymous, anon_token, PUBLIC),
                                        ("other unit's contact", unit_client, unit_token, {**UNIT_MAY_OPEN, **PUBLIC}),
                                        ("desk staff", desk_client, desk_token, {**DESK_MAY_OPEN, **PUBLIC})):
        for method in methods:
            response = client.open(url, method=method, data=_form(token) if method == "POST" else None)
            status, body = response.status_code, response.get_data().decode("utf-8", "replace")
            where = f"{who} {method} {url} → {status}"
            if status >= 500:
                problems.append(f"{where}: server error")
            leaked = [m for m in MARKERS if m in body]
            if leaked:
                problems.append(f"{where}: shows unit B's data {leaked}")
            if endpoint in allowed:
                continue
            if who == "anonymous" and blueprint in ("admin", "desk"):
                if not (status == 302 and "/login" in response.headers.get("Location", "")) and status not in DENIED:
                    problems.append(f"{where}: expected a login redirect")
            elif status not in DENIED:
                problems.append(f"{where}: expected 401/403/404/405")

    after = _snapshot(session, world["own_units"])
    if after != before:
        changed = [key for key in before if before[key] != after[key]]
        problems.append(f"unit B's data or the setup changed: {changed}")
    outsiders = [world["a_contact"].id, world["a_desk"].id]
    written = session.scalars(select(AuditLog.action).where(AuditLog.user_id.in_(outsiders))).all()
    if set(written) - {"case.export", "response.export"}:
        problems.append(f"outsiders wrote audit entries {sorted(set(written))}")
    assert not problems, "\n".join(problems)


def test_the_walk_covers_the_case_routes():
    endpoints = {e for e, _r, _m in RULES}
    mine = {e for e in UNIT_MAY_OPEN if e.startswith("admin.cases_")}
    assert mine <= endpoints and {"admin.users_list", "admin.audit_log", "admin.appeals_decide"} <= endpoints


def test_the_walk_covers_the_response_import_routes():
    """Importing phone/paper responses is for analysts only: none of its routes may be open to a unit contact."""
    imports = {"admin.response_import_page", "admin.response_import_template", "admin.response_import_preview",
               "admin.response_import_confirm"}
    assert imports <= {e for e, _r, _m in RULES}
    assert not imports & (set(UNIT_MAY_OPEN) | set(DESK_MAY_OPEN) | set(KNOWN_FAILURES))


@pytest.mark.parametrize("role", ["unit", "desk", "analyst", "admin"])
def test_drafts_are_for_analysts_only(app, session, make, world, role):
    """Every role against the draft and the official snapshot: a unit contact sees their own unit's
    official page without the draft period in its trend; nobody but analysts and admins reaches a draft."""
    client = app.test_client()
    if role == "unit":
        _login(client, world["a_contact"].username)
    elif role == "desk":
        _login(client, world["a_desk"].username)
    else:
        _login(client, make.user(role).username)
    analyst = role in ("analyst", "admin")
    own_official = client.get(f"/admin/results/snapshots/{world['official_id']}/units/{world['a_window']}")
    own_draft = client.get(f"/admin/results/snapshots/{world['draft_id']}/units/{world['a_window']}")
    draft_page = client.get(f"/admin/results/snapshots/{world['draft_id']}")
    listing = client.get("/admin/results/")
    if analyst:
        html = own_official.get_data(as_text=True)
        assert own_official.status_code == 200 and DRAFT_PERIOD in html and DRAFT_FIGURES in html
        assert own_draft.status_code == 200 and draft_page.status_code == 200
        return
    if role == "unit":
        assert own_official.status_code == 200
        assert listing.status_code == 200 and DRAFT_FIGURES not in listing.get_data(as_text=True)
    html = own_official.get_data(as_text=True)
    assert DRAFT_FIGURES not in html and f"<td>{DRAFT_PERIOD}</td>" not in html
    assert own_draft.status_code in DENIED and draft_page.status_code in DENIED
    session.expire_all()
    assert session.get(Snapshot, world["draft_id"]).status == SnapshotStatus.DRAFT
