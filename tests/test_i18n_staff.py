"""English for the staff side: every extracted message has its English, and staff pages speak it.

The msgids are Chinese; English (``?lang=en``) is the translation. (a) extracts every message from
survey/ and templates/ at test time, exactly as babel.cfg tells pybabel to, and asks the committed
catalog for a translation that is neither empty nor fuzzy; (b) renders the staff pages in English
and looks for Chinese characters that are not user data (unit names, questions, case texts …).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlalchemy import select

from survey.core import settings as settings_service
from survey.models import AuditLog, Case, Option, Question, Questionnaire, RespondentGroup
from tests.cases.helpers import respond
from tests.factories import csrf_from

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "survey" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
# As documented for pybabel extract: the defaults (_, gettext, ngettext, pgettext …) plus the lazy ones.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
# The link back to Chinese is named in Chinese on purpose: a language is offered in its own name.
LANGUAGE_LINKS = re.compile(r'<a [^>]*(?:lang="zh-CN"|lang=zh)[^>]*>中文</a>')


def _catalog():
    with open(CATALOG, "rb") as fh:
        return read_po(fh, locale="en")


def _extracted() -> dict[tuple[str | tuple, str | None], list[str]]:
    """Every message of survey/**.py and templates/**.html, found the way babel.cfg says, with where."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[tuple[str | tuple, str | None], list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        key = tuple(message) if isinstance(message, (list, tuple)) else message
        found.setdefault((key, context), []).append(f"{filename}:{lineno}")
    return found


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return not message.fuzzy and all(s.strip() for s in strings)


def test_extraction_sees_the_whole_product():
    found = _extracted()
    files = {where.rsplit(":", 1)[0] for places in found.values() for where in places}
    assert any(f.startswith("survey/admin/") for f in files) and any(f.startswith("templates/admin/") for f in files)
    assert any(f.startswith("survey/services/") for f in files) and "templates/desk/index.html" in files
    assert not any(f.startswith(("tests/", "analysis/", "bench/", ".venv/")) for f in files)
    assert len(found) > 1000


def test_every_extracted_message_has_its_english():
    catalog = _catalog()
    missing = []
    for (msgid, context), places in sorted(_extracted().items(), key=lambda item: item[1][0]):
        message = catalog.get(msgid, context=context)
        if message is None or not _translated(message):
            missing.append(f"{places[0]}: {msgid!r}" + (f" (context {context})" if context else ""))
    assert not missing, (
        f"{len(missing)} messages without English — run the pybabel extract/update commands, translate, compile:\n"
        + "\n".join(missing[:40]))


def test_catalog_has_no_fuzzy_or_empty_entries_and_placeholders_match():
    catalog = _catalog()
    bad = [m.id for m in catalog if m.id and not _translated(m)]
    assert bad == []
    assert [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()] == []
    for message in catalog:  # babel lets a translation drop a placeholder; only a singular may ("one unit")
        if not message.id or "python-format" not in message.flags:
            continue
        names = set(re.findall(r"%\((\w+)\)", message.id if isinstance(message.id, str) else message.id[0]))
        if isinstance(message.string, (list, tuple)):
            assert set(re.findall(r"%\((\w+)\)", message.string[0])) <= names, message.id
            assert all(set(re.findall(r"%\((\w+)\)", s)) == names for s in message.string[1:]), message.id
        else:
            assert set(re.findall(r"%\((\w+)\)", message.string)) == names, message.id


# --- staff pages in English ---------------------------------------------------------------------

def _data_strings(session) -> list[str]:
    """Texts that come from stored data (questions, groups, case summaries, default tags …), longest first."""
    texts: set[str] = set(settings_service.DEFAULT_TAGS)
    for model, fields in [(Question, ("text", "hint")), (Option, ("label",)), (RespondentGroup, ("name",)),
                          (Questionnaire, ("title", "intro")), (Case, ("summary",)), (AuditLog, ("summary",))]:
        for row in session.scalars(select(model)):
            texts.update(v for f in fields if (v := getattr(row, f, None)))
    return sorted(texts, key=len, reverse=True)


def _chinese_chrome(html: str, data: list[str]) -> list[str]:
    """The Chinese left once data is removed, each with a little context to find it by."""
    text = LANGUAGE_LINKS.sub("", html)
    for value in data:
        text = text.replace(value, "")
    return [re.sub(r"\s+", " ", text[max(0, m.start() - 50):m.end() + 20]) for m in CJK.finditer(text)]


@pytest.fixture
def office(make, session):
    """A small English-named world: a category, two units, a service survey, an appraisal, a case."""
    category = make.category(code="GOV", name="Government departments")
    units = [make.unit(code=f"D{i}", name=f"Department {i}", category=category, window_no=str(i)) for i in (1, 2)]
    service = make.campaign(units=units, title="Window survey")
    appraisal = make.campaign(units=units, kind="appraisal", title="Citizens' appraisal")
    make.commit()
    respond(session, service, units[0], levels={"Q1": 1}, comment="Far too slow", phone="13700001234")
    session.commit()
    case = session.scalars(select(Case).order_by(Case.id)).first()
    return category, units, service, appraisal, case


def _assert_english(client, session, urls: list[str]) -> None:
    data = _data_strings(session)
    problems = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert '<html lang="en">' in html, url
        if leftovers := _chinese_chrome(html, data):
            problems[url] = leftovers[:5]
    assert problems == {}


@pytest.mark.sqlite_only  # the language of the page chrome (reads only), as in test_i18n_walk
def test_analyst_pages_in_english_have_no_chinese_chrome(client, auth, session, office):
    _category, units, service, appraisal, case = office
    auth.login_as("analyst")
    assert client.get("/admin/?lang=en").status_code == 200  # remembered in a cookie from here on
    questionnaire = service.questionnaire
    _assert_english(client, session, [
        "/admin/", "/admin/units/", f"/admin/units/{units[0].id}/edit", "/admin/units/new", "/admin/categories/",
        "/admin/groups/", "/admin/questionnaires/", f"/admin/questionnaires/{questionnaire.id}",
        f"/admin/questionnaires/{questionnaire.id}/questions/{questionnaire.questions[0].id}",
        "/admin/campaigns/", f"/admin/campaigns/{service.id}", f"/admin/campaigns/{service.id}/edit",
        "/admin/campaigns/new-from-template", "/admin/distribution/", f"/admin/distribution/{service.id}/",
        f"/admin/distribution/{appraisal.id}/invitations", "/admin/cases/", f"/admin/cases/{case.id}",
        "/admin/cases/figures", "/admin/appeals/", "/admin/review/", "/admin/audit/", "/admin/settings/",
        "/admin/calendar/", "/admin/results/", "/admin/results/leader/2026Q4", "/admin/results/tokens",
    ])
    html = client.get("/admin/cases/").get_data(as_text=True)
    assert "Comments and poor ratings" in html and "Poor rating" in html and "Due within 3 days" in html


@pytest.mark.sqlite_only  # the language of the page chrome (reads only), as in test_i18n_walk
def test_admin_unit_contact_and_desk_pages_in_english(client, auth, session, office):
    _category, units, _service, _appraisal, case = office
    auth.login_as("admin")
    client.get("/admin/users/?lang=en")
    _assert_english(client, session, ["/admin/users/", "/admin/users/new"])
    auth.logout()
    auth.login_as("unit", unit=units[0])
    _assert_english(client, session, ["/admin/", "/admin/cases/", f"/admin/cases/{case.id}", "/admin/results/"])
    auth.logout()
    auth.login_as("desk", unit=units[0])
    _assert_english(client, session, ["/desk/"])
    assert "Choose this window's campaign" in client.get("/desk/").get_data(as_text=True)


def test_flash_messages_and_service_errors_come_in_english(client, auth, office):
    auth.login_as("analyst")
    page = client.get("/admin/categories/?lang=en")
    created = client.post("/admin/categories/", data={"csrf_token": csrf_from(page), "code": "FO",
                                                      "name": "Front office"}, follow_redirects=True)
    assert "Category “Front office” created." in created.get_data(as_text=True)
    taken = client.post("/admin/categories/", data={"csrf_token": csrf_from(page), "code": "GOV", "name": "Again"})
    html = taken.get_data(as_text=True)
    assert taken.status_code == 422
    assert "Category code GOV is already used by “Government departments”." in html
    assert not CJK.search(LANGUAGE_LINKS.sub("", html))
