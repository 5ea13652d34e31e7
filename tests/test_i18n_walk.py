"""English everywhere: every page, chart and export of the URL map, asked for in English as each role.

The routes come from the app's url_map (as in tests/test_access_routes.py), so pages other engineers
add are walked too. Each role (admin, analyst, a unit's contact, window staff, an anonymous citizen)
asks every GET route it may open with ``?lang=en``; every answer that is a page, an SVG chart, a CSV,
JSON or an Excel workbook must hold no Chinese but the data: the world is built with Latin names and
the texts that still come from the database in Chinese (the built-in questions, case summaries, the
audit log …) are removed before looking. PDFs, PNGs and ZIPs are not read here (posters are printed
for citizens in Chinese; see tests/test_posters.py).
"""
from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from survey.core import labels
from survey.core import settings as settings_service
from survey.core.clock import org_today
from survey.models import (
    AuditLog,
    CampaignStatus,
    Case,
    CaseEvent,
    DeskToken,
    Holiday,
    Invitation,
    Option,
    Question,
    Questionnaire,
    RespondentGroup,
    ResponseStatus,
    SnapshotRow,
    UnitKind,
    utcnow,
)
from survey.services.cases.appeals import file_appeal
from survey.services.cases.workflow import record_callback, transition
from survey.services.results import component, snapshots
from tests.cases.helpers import respond
from tests.conftest import build_app
from tests.factories import DEFAULT_GROUPS
from tests.results.helpers import add_response, fill

# The language of a page does not depend on the database behind it; every route is walked on
# PostgreSQL too by tests/test_access_routes.py.
pytestmark = pytest.mark.sqlite_only

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")
# The link back to Chinese is named in Chinese on purpose: a language is offered in its own name.
LANGUAGE_LINKS = re.compile(r'<a [^>]*(?:lang="zh-CN"|lang=zh)[^>]*>中文</a>')
WALKED = ("admin", "desk", "auth", "public", "api")
# Answers not read for text: binary files whose words are checked elsewhere or are for citizens.
BINARY = ("application/pdf", "image/png", "application/zip")
# Routes the analyst's walk does not read, and why.
NOT_READ = {
    "admin.users_list": "admins only (read in the admin's walk)",
    "admin.users_edit": "admins only",
    "admin.users_new": "admins only",
    "api.periods": "the API takes a token, not a session (JSON for machines)",
    "api.period_component": "the API takes a token",
    "api.period_unit": "the API takes a token",
    "api.snapshots": "the API takes a token",
    "api.snapshot": "the API takes a token",
    "api.snapshot_breakdowns": "the API takes a token",
    "desk.index": "window staff only (read in the desk walk)",
    "desk.token_status": "window staff only",
    "static": "files",
    "auth.login": "a signed-in user is sent on (read in the citizen's walk)",
    "public.desk_entry": "a window's code leads on to the questionnaire (a redirect)",
    "public.go": "a redirect to a campaign's page",
    "admin.units_import_preview": "needs an uploaded file (tests/test_english_files.py reads one in English)",
}
ROLES = ("admin", "analyst", "unit", "desk", "anonymous")
LATIN_GROUPS = {"QY": "Businesses", "SM": "Residents", "FW": "Service users", "RD": "Deputies", "ZZ": "Associations"}


def _get_rules() -> list[tuple[str, str]]:
    app = build_app("sqlite://", Path(tempfile.mkdtemp(prefix="pingyi-english-")))
    return sorted((r.endpoint, r.rule) for r in app.url_map.iter_rules()
                  if r.endpoint.split(".")[0] in WALKED and "GET" in r.methods)


RULES = _get_rules()


@pytest.fixture
def world(make, session, built_once):
    return built_once("english walk world", lambda: _build_world(make, session))


def _build_world(make, session) -> dict:
    for order, (code, _name, share) in enumerate(DEFAULT_GROUPS):
        session.add(RespondentGroup(code=code, name=LATIN_GROUPS[code], target_share=share, sort_order=order))
    session.flush()
    category = make.category(code="GOV", name="Government departments")
    units = [make.unit(code=f"D{i}", name=f"Department {i}", category=category) for i in range(1, 4)]
    window = make.unit(code="W1", name="Window one", parent=units[0], kind=UnitKind.WINDOW, window_no="1")
    service = make.campaign(units=[*units, window], title="Window survey", period="2026Q4", public_results=True)
    appraisal = make.campaign(units=units, kind="appraisal", title="Citizens' appraisal", period="2026Q3")
    groups = make.groups()
    for i, unit in enumerate(units):
        fill(session, service, unit, groups, 45, 4 - (i == 2), seed=10 + i)
    add_response(session, service, {units[0]: [5, 5, 5, 5, 5]}, groups["SM"], comments={units[0]: "Very kind"})
    session.commit()
    respond(session, service, window, levels={"Q1": 1}, comment="Far too slow", phone="13700001234")
    case = session.scalars(select(Case).order_by(Case.id)).first()
    contact = make.user("unit", unit=units[0], username="unit_contact")
    make.user("desk", unit=window, username="window_staff")
    make.user("admin", username="the_admin")
    analyst = make.user("analyst", username="the_analyst")
    appeal = file_appeal(session, case, contact, "A malicious rating")
    # A second case taken through every step, so its page shows a full history and a callback.
    respond(session, service, units[1], levels={"Q1": 2}, comment="Rude staff", phone="13700004321")
    handled = session.scalars(select(Case).order_by(Case.id.desc())).first()
    transition(session, handled, "start", analyst, note="On it")
    transition(session, handled, "rectify", analyst, rectification="Staff trained")
    record_callback(session, handled, analyst, org_today(), "satisfied", note="Happy now")
    respond(session, service, units[2], levels={"Q1": 1}, status=ResponseStatus.FLAGGED)
    session.commit()
    component.save(session, service, None, {"weights": {"survey": "1"}, "points": "20", "grading": "thresholds",
                                            "thresholds": {"excellent": "85", "good": "75", "pass": "60"}})
    session.commit()
    official = snapshots.compute_snapshot(session, service, analyst)
    session.commit()
    snapshots.publish(session, official, analyst, public=True)
    draft = snapshots.compute_snapshot(session, service, analyst)
    invitation = Invitation(campaign_id=appraisal.id, code="english-invitation-0001", label="Panel member 1",
                            respondent_group_id=groups["QY"].id)
    closed = make.campaign(units=units[:1], title="Last year's survey", status=CampaignStatus.CLOSED, period="2025Q4")
    session.add(invitation)
    token = DeskToken(nonce="english-desk-nonce", campaign_id=service.id, unit_id=window.id,
                      expires_at=utcnow() + dt.timedelta(minutes=30))
    session.add(token)
    session.add(Holiday(day=dt.date(2026, 10, 1), kind="holiday", name="National Day"))
    session.commit()
    cu = next(c for c in service.campaign_units if c.unit_id == units[0].id)
    questionnaire = service.questionnaire
    return {
        "ids": {"case_id": case.id, "handled_id": handled.id, "appeal_id": appeal.id, "campaign_id": service.id, "unit_id": units[0].id,
                "user_id": contact.id, "cu_id": cu.id, "token_id": token.id, "questionnaire_id": questionnaire.id,
                "question_id": questionnaire.questions[0].id, "category_id": category.id,
                "snapshot_id": official.id, "draft_id": draft.id, "appraisal_id": appraisal.id},
        "codes": [appraisal.short_code, service.short_code, closed.short_code,
                  *(c.short_code for c in appraisal.campaign_units)],
        "invitation": invitation.code,
        "strings": {"period": "2026Q4", "unit_code": "D1", "token": token.nonce, "code": cu.short_code,
                    "fmt": "csv", "filename": "app.css"},
    }


def _data_strings(session) -> re.Pattern:
    """Texts that come from stored data and are Chinese by nature here, longest first (the built-in
    questionnaire, case summaries quoting it, audit summaries and case-history notes: all stored text)."""
    texts: set[str] = set(settings_service.DEFAULT_TAGS)
    for model, fields in [(Question, ("text", "hint")), (Option, ("label",)), (Questionnaire, ("title", "intro")),
                          (Case, ("summary",)), (AuditLog, ("summary",)),
                          (CaseEvent, ("note",))]:  # stored in the language of whoever wrote it
        for row in session.scalars(select(model)):
            texts.update(v for f in fields if (v := getattr(row, f, None)))
    expanded = set(texts)
    for text in texts:  # as the page may show them: escaped, or cut short
        expanded.add(text.replace("“", "&#34;").replace("”", "&#34;"))
        expanded.update(part for part in re.split(r"[\n\r]+", text) if part)
    # One pattern, longest first, with only the texts that hold Chinese (the rest cannot matter).
    wanted = sorted((t for t in expanded if CJK.search(t)), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, wanted)) or r"(?!)")


def _chinese(text: str, data: re.Pattern) -> list[str]:
    text = data.sub("", LANGUAGE_LINKS.sub("", text))
    found: dict[str, str] = {}  # each run of Chinese once, with a little context to find it by
    for m in CJK.finditer(text):
        found.setdefault(m.group(), re.sub(r"\s+", " ", text[max(0, m.start() - 30):m.end() + 15]))
    return list(found.values())


def _url(app, endpoint: str, rule: str, world: dict) -> str:
    rule_obj = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint and r.rule == rule)
    ids, strings = world["ids"], world["strings"]
    values = {}
    for name, converter in rule_obj._converters.items():
        items = getattr(converter, "items", None)
        if items:
            values[name] = min(items)
        elif name in ids:
            values[name] = ids[name]
        elif name in strings:
            values[name] = strings[name]
        elif converter.regex == r"\d+":  # a new kind of id: a number, so the route is at least asked
            values[name] = 1
        else:
            values[name] = "x"
    return app.url_map.bind("localhost").build(endpoint, values)


def _login(client, username: str) -> None:
    from tests.factories import PASSWORD, csrf_from

    page = client.get("/login?lang=en")
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf_from(page)})
    assert response.status_code == 302, username


def _text_of(response) -> str | None:
    kind = response.mimetype or ""
    if kind.startswith(BINARY):
        return None
    if "spreadsheetml" in kind:
        book = load_workbook(io.BytesIO(response.get_data()), read_only=True)
        return "\n".join([*book.sheetnames, *(str(cell) for sheet in book.worksheets
                                               for row in sheet.iter_rows(values_only=True)
                                               for cell in row if cell is not None)])
    if kind == "application/json":
        import json

        return json.dumps(response.get_json(), ensure_ascii=False)
    return response.get_data(as_text=True)


def _walk(app, client, world: dict, session, urls: list[str]) -> tuple[dict, list[str], list[str]]:
    """(problems by url, urls read for text, urls answered 200 at all)."""
    problems: dict[str, list[str]] = {}
    seen, answered = [], []
    data = _data_strings(session)
    for url in urls:
        response = client.get(url)
        if response.status_code >= 500:
            problems[url] = [f"server error {response.status_code}"]
            continue
        if response.status_code != 200:
            continue
        answered.append(url)
        text = _text_of(response)
        if text is None:
            continue
        seen.append(url)
        if (leftovers := _chinese(text, data)) and (leftovers := _chinese(text, data := _data_strings(session))):
            problems[url] = leftovers[:12]  # (read again with the data as it is now: an export adds to the audit log)
    return problems, seen, answered


def _urls(app, world: dict) -> list[str]:
    urls = []
    for endpoint, rule in RULES:
        url = _url(app, endpoint, rule, world)
        urls.append(url + ("&" if "?" in url else "?") + "lang=en")
        if "snapshot_id" in rule:  # the draft too: its page differs from the official one
            draft = url.replace(f"/snapshots/{world['ids']['snapshot_id']}", f"/snapshots/{world['ids']['draft_id']}")
            if draft != url:
                urls.append(draft + "?lang=en")
        if endpoint == "public.invitation_entry":
            urls[-1] = f"/i/{world['invitation']}?lang=en"
        if endpoint in ("public.entry", "public.rate", "public.thanks"):  # the campaigns' and appraisal's codes too
            urls += [url.replace(world["strings"]["code"], code) + "?lang=en" for code in world["codes"]]
        if "case_id" in rule:  # the handled case too: its history, callback and closing
            urls.append(url.replace(f"/{world['ids']['case_id']}", f"/{world['ids']['handled_id']}", 1) + "?lang=en")
        if "campaign_id" in rule and endpoint.startswith("admin."):
            other = url.replace(f"/{world['ids']['campaign_id']}", f"/{world['ids']['appraisal_id']}", 1)
            if other != url:
                urls.append(other + "?lang=en")
    return urls


@pytest.mark.parametrize("role", ROLES)
def test_every_page_chart_and_export_speaks_english(app, client, session, world, role):
    usernames = {"admin": "the_admin", "analyst": "the_analyst", "unit": "unit_contact", "desk": "window_staff"}
    if role != "anonymous":
        _login(client, usernames[role])
    urls = _urls(app, world)
    problems, seen, answered = _walk(app, client, world, session, urls)
    assert not problems, "\n".join(f"{url}: {found}" for url, found in problems.items())
    # The walk reached the pages that matter for this role (a broken fixture must not pass silently).
    expected = {
        "admin": ["/admin/users/?lang=en"],
        "analyst": [f"/admin/results/snapshots/{world['ids']['snapshot_id']}?lang=en",
                    f"/admin/results/snapshots/{world['ids']['snapshot_id']}/export.xlsx?lang=en",
                    f"/admin/campaigns/{world['ids']['campaign_id']}?lang=en", "/admin/cases/?lang=en"],
        "unit": ["/admin/cases/?lang=en", "/admin/results/?lang=en"],
        "desk": ["/desk/?lang=en"],
        "anonymous": ["/?lang=en", "/results/?lang=en", f"/results/{world['ids']['snapshot_id']}?lang=en",
                      "/login?lang=en"],
    }[role]
    assert set(expected) <= set(seen), sorted(seen)
    if role == "analyst":  # every page of the map was read, but those the world cannot open
        adapter = app.url_map.bind("localhost")
        reached = {adapter.match(url.split("?")[0])[0] for url in answered}
        unread = {e for e, _r in RULES} - reached - set(NOT_READ)
        assert not unread, f"routes the walk could not read (give the world what they need): {sorted(unread)}"


def test_results_name_grades_flags_and_the_pass_line_in_english(app, client, session, world):
    """The words the walk cannot miss by accident: the chart's pass line, the grades and flags shown."""
    _login(client, "the_analyst")
    snapshot_id = world["ids"]["snapshot_id"]
    rows = list(session.scalars(select(SnapshotRow).where(SnapshotRow.snapshot_id == snapshot_id)))
    grades = {r.grade for r in rows if r.grade}
    flags = {f for r in rows for f in (r.flags or [])}
    assert grades and flags  # the world has graded units and flagged ones
    # a context of its own, as a request has: the fixtures' context may already hold the Chinese locale
    with app.app_context(), app.test_request_context("/?lang=en"):
        english_grades = {labels.label("grade", g) for g in grades}
        english_flags = {labels.label("flag", f) for f in flags}
    assert not CJK.search("".join(english_grades | english_flags))
    assert ">Pass line</text>" in client.get(f"/results/{snapshot_id}?lang=en").get_data(as_text=True)
    html = client.get(f"/admin/results/snapshots/{snapshot_id}?lang=en").get_data(as_text=True)
    assert ">Pass line</text>" in html
    assert all(f"<strong>{g}</strong>" in html for g in english_grades), english_grades
    assert all(f in html for f in english_flags), english_flags


def test_a_label_of_a_constant_follows_the_language_of_each_page(app):
    """Jinja folds a filter on a constant when it compiles a template; a label folded so would keep the
    language of the first page rendered in the process (Chinese on every English page, or the reverse)."""
    template = app.jinja_env.from_string("{{ 'public'|label('source_block') }}|{{ 'renormalise'|label('missing_source') }}")
    with app.app_context(), app.test_request_context("/?lang=zh"):  # each its own app context, as a request has
        chinese = template.render()
    with app.app_context(), app.test_request_context("/?lang=en"):
        english = template.render()
    assert chinese.startswith("民意调查|") and english.startswith("Opinion survey|")
    assert not CJK.search(english)
