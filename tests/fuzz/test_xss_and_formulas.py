"""Script and formula payloads in every free-text field: shown escaped on every page, neutralised
in every export.

The demo is loaded, then payloads are written into unit and category names, a campaign
title, question texts, comments (answers and their cases), case notes and rectification
reports, a group name and invitation labels; a fresh results snapshot is computed. Then
every page reachable by links from the analyst's and the unit contact's home pages, the
public pages, and every CSV/Excel export linked from them is fetched.
"""
from __future__ import annotations

import csv
import io
import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import openpyxl
import pytest
from sqlalchemy import select

from survey.models import (
    Answer,
    Campaign,
    CampaignStatus,
    Case,
    CaseEvent,
    Category,
    Invitation,
    Question,
    QuestionType,
    RespondentGroup,
    Role,
    Unit,
    User,
)
from survey.services.demo.seed import seed_demo
from tests.factories import PASSWORD, csrf_from

# sqlite_only: escaping happens in the templates and neutralising in the export writer, after the query; the
# PostgreSQL leg walks every route with its data in tests/test_access_routes.py.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only, pytest.mark.xdist_group("xss-world")]
SCRIPT = "<script>alert(1)</script>"
ATTR = '"><img src=x onerror=alert(1)>'
FORMULAS = ['=HYPERLINK("http://evil.example","点我")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "\n=1"]
RAW_MARKERS = ("<script>alert(1)", "<img src=x onerror")
ESCAPED_MARKERS = ("&lt;script&gt;alert(1)", "&lt;img src=x onerror")
LINK = re.compile(r'href="([^"#]+)"')
MAX_PAGES = 220
SKIP = re.compile(r"/(logout|static/)|\.(png|svg|pdf|zip|json)(\?|$)|/qr\b|/posters?\b")


def _inject(session) -> dict[str, str]:
    """Payloads into every free-text field; returns which field got which payload."""
    payload = {}
    units = list(session.scalars(select(Unit).order_by(Unit.id)))
    units[0].name = "市发改委" + SCRIPT
    units[1].name = "教育局" + ATTR
    units[2].name = FORMULAS[0]
    category = session.scalar(select(Category).order_by(Category.id))
    category.name = "党群口" + SCRIPT
    group = session.scalar(select(RespondentGroup).order_by(RespondentGroup.id))
    group.name = "企业" + ATTR
    for n, question in enumerate(session.scalars(select(Question).order_by(Question.id))):
        if question.type == QuestionType.SATISFACTION and n < 3:
            question.text = question.text + (SCRIPT if n % 2 == 0 else ATTR)
    campaigns = list(session.scalars(select(Campaign).order_by(Campaign.id)))
    for campaign in campaigns:
        campaign.title = campaign.title + ATTR
        campaign.public_results = True
    texts = [SCRIPT, ATTR, *FORMULAS]
    # The payloads in the free text of every campaign, formulas first: a campaign with few comments
    # (how many depends on the demo's random draws) still puts a formula in its results' exports.
    for campaign in campaigns:
        answers = session.scalars(select(Answer).where(Answer.campaign_id == campaign.id, Answer.text.is_not(None))
                                  .order_by(Answer.id).limit(len(texts)))
        for n, answer in enumerate(answers):
            answer.text = [*FORMULAS, SCRIPT, ATTR][n] + " 窗口太慢"
    for n, case in enumerate(session.scalars(select(Case).order_by(Case.id).limit(20))):
        case.summary = texts[n % len(texts)] + " 意见"
        case.rectification = texts[(n + 1) % len(texts)]
    for n, event in enumerate(session.scalars(select(CaseEvent).order_by(CaseEvent.id).limit(20))):
        event.note = texts[n % len(texts)]
    open_campaign = next(c for c in campaigns if c.status == CampaignStatus.OPEN)
    panel = [c for c in campaigns if c.status == CampaignStatus.OPEN and c.allows_channel("invitation")]
    for n, text in enumerate(texts):
        session.add(Invitation(campaign_id=panel[-1].id, code=f"XSSINV{n:04d}", label=text, phone="13900000000"))
    payload["code"] = open_campaign.short_code
    session.commit()
    return payload


@pytest.fixture
def world(app, session, runner, built_once):
    """The demo with hostile text everywhere and published results: built once per worker and database
    (both tests of this module run on one worker, ``xdist_group``), restored for the second."""
    def build():
        seed_demo(session, responses=120)
        payload = _inject(session)
        for campaign in session.scalars(select(Campaign).where(Campaign.status == CampaignStatus.CLOSED)):
            result = runner.invoke(args=["compute", "--campaign", campaign.short_code, "--publish", "--public",
                                         "--yes", "--reason", "fuzz: recomputed"])
            assert result.exit_code == 0, result.output
        return payload

    payload = built_once("xss world", build)
    session.expire_all()
    return payload


def _login(client, session, role: Role) -> None:
    from survey.services.accounts.users import hash_password

    user = session.scalar(select(User).where(User.role == role).order_by(User.id))
    user.password_hash = hash_password(PASSWORD)
    session.commit()
    page = client.get("/login")
    reply = client.post("/login", data={"username": user.username, "password": PASSWORD, "csrf_token": csrf_from(page)})
    assert reply.status_code == 302


def _crawl(client, starts: list[str]) -> tuple[dict[str, str], list[str]]:
    """GET every same-site page linked from ``starts``: (HTML by path, export links)."""
    pages: dict[str, str] = {}
    exports: list[str] = []
    queue = deque(starts)
    seen = set(starts)
    while queue and len(pages) < MAX_PAGES:
        path = queue.popleft()
        response = client.get(path)
        assert response.status_code < 500, f"{path} answered {response.status_code}"
        if not response.mimetype.startswith("text/html"):
            response.close()
            continue
        html = response.get_data(as_text=True)
        pages[path] = html
        for href in LINK.findall(html):
            href = href.replace("&amp;", "&")
            target = urljoin(path, href)
            parts = urlsplit(target)
            if parts.netloc or SKIP.search(parts.path) or target in seen:
                continue
            seen.add(target)
            if re.search(r"\.(csv|xlsx)$", parts.path):
                exports.append(target)
            elif not re.search(r"[?&]page=\d{2,}", target):
                queue.append(target)
    return pages, exports


def _assert_escaped(pages: dict[str, str]) -> int:
    shown = 0
    for path, html in pages.items():
        for marker in RAW_MARKERS:
            assert marker not in html, f"unescaped payload on {path}"
        shown += any(marker in html for marker in ESCAPED_MARKERS)
    return shown


def _cells(path: str, body: bytes) -> list[str]:
    if urlsplit(path).path.endswith(".csv"):
        text = body.decode("utf-8-sig")
        return [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for c in row]
    book.close()
    return [c for c in cells if isinstance(c, str)]


def _assert_neutralised(client, exports: list[str]) -> set[str]:
    found = set()
    for path in exports:
        response = client.get(path)
        assert response.status_code == 200, f"{path} answered {response.status_code}"
        assert not response.mimetype.startswith("text/html"), f"{path} answered a page, not a file"
        for cell in _cells(path, response.get_data()):
            assert not (cell and cell[0] in "=+-@\t\r\n"), f"{path}: formula cell {cell!r}"
            if any(cell.startswith("'" + f) or ("'" + f) in cell for f in FORMULAS):
                found.add(path)
    return found


def test_analyst_pages_escape_and_exports_neutralise(app, client, session, world):
    _login(client, session, Role.ANALYST)
    pages, exports = _crawl(client, ["/admin/", "/admin/units/", "/admin/cases/", "/admin/audit/", "/admin/results/",
                                     "/admin/questionnaires/", "/admin/campaigns/", "/admin/distribution/",
                                     "/admin/categories/", "/admin/groups/", "/admin/appeals/", "/admin/review/"])
    assert len(pages) > 40
    assert _assert_escaped(pages) > 10  # the payloads are shown, escaped
    exports += ["/admin/units/export.csv", "/admin/units/export.xlsx", "/admin/cases/export.csv",
                "/admin/cases/export.xlsx", "/admin/audit/export.csv", "/admin/audit/export.xlsx"]
    neutralised = _assert_neutralised(client, sorted(set(exports)))
    kinds = {re.sub(r"\d+", "N", p) for p in neutralised}
    assert any("/units/export" in k for k in kinds) and any("/cases/export" in k for k in kinds)
    assert any("invitations" in k for k in kinds), (sorted(set(exports)), sorted(p for p in pages if "distrib" in p))
    assert any("/results/" in k for k in kinds), sorted(exports)


def test_unit_contact_and_public_pages_escape(app, client, session, world):
    public, _ = _crawl(app.test_client(), ["/", f"/s/{world['code']}"])
    assert _assert_escaped(public) >= 1
    _login(client, session, Role.UNIT)
    pages, exports = _crawl(client, ["/admin/", "/admin/cases/"])
    _assert_escaped(pages)
    _assert_neutralised(client, exports)
