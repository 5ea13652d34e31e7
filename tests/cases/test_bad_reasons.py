"""The reasons behind a 差评 on its case: shown on the case page and in the list, filterable, exported,
and a unit contact sees only their own unit's."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from survey.models import Case, CaseKind
from tests.cases.helpers import respond
from tests.factories import answer_bad_reasons, window_with_bad_reasons


@pytest.fixture
def world(make, session):
    window = make.unit(name="不动产登记窗口", code="CK-BDC")
    other = make.unit(name="社保窗口", code="CK-SB")
    campaign = make.campaign(units=[window, other], questionnaire=window_with_bad_reasons(make), period="2026Q4")

    def bad(unit, levels, reasons, other_text=None, comment=None):
        response = respond(session, campaign, unit, levels=levels, comment=comment)
        answer_bad_reasons(campaign, response, unit, reasons, other_text)
        session.commit()
        return session.scalar(select(Case).where(Case.response_id == response.id, Case.kind == CaseKind.BAD_RATING))

    cases = {
        "waiting": bad(window, {"Q1": 1}, ("waiting", "other"), "叫号机坏了一上午"),
        "attitude": bad(window, {"Q1": 2, "Q3": 1}, ("attitude",)),
        "elsewhere": bad(other, {"Q1": 1}, ("waiting",)),
        "skipped": bad(window, {"Q2": 2}, ()),
    }
    praise = respond(session, campaign, window, levels={"Q1": 5}, comment="很满意")
    answer_bad_reasons(campaign, praise, window, None)
    session.commit()
    return window, other, campaign, cases, praise


def _ids(html: str) -> set[str]:
    import re

    return set(re.findall(r'/admin/cases/(\d+)"', html))


def test_case_page_shows_the_reasons_and_the_other_text(client, auth, world):
    _window, _other, _campaign, cases, _praise = world
    auth.login_as("analyst")
    html = client.get(f"/admin/cases/{cases['waiting'].id}").get_data(as_text=True)
    box = html[html.index('class="bad-reasons"'):html.index("</div>", html.index('class="bad-reasons"'))]
    assert "<li>等候时间</li>" in box and "<li>其他（请说明）</li>" in box and "叫号机坏了一上午" in box
    assert "服务态度" not in box
    english = client.get(f"/admin/cases/{cases['waiting'].id}?lang=en").get_data(as_text=True)
    assert "<li>Waiting time</li>" in english and "<li>Other (please say)</li>" in english
    # a 差评 whose citizen skipped the question has no reasons box
    assert 'class="bad-reasons"' not in client.get(f"/admin/cases/{cases['skipped'].id}").get_data(as_text=True)


def test_not_shown_answers_are_labelled_on_the_case_page(client, auth, world, session):
    _window, _other, _campaign, _cases, praise = world
    comment_case = session.scalar(select(Case).where(Case.response_id == praise.id))
    auth.login_as("analyst")
    html = client.get(f"/admin/cases/{comment_case.id}").get_data(as_text=True)
    assert "未显示（不符合显示条件）" in html and 'class="bad-reasons"' not in html


def test_case_list_filters_by_reason(client, auth, world):
    _window, _other, _campaign, cases, _praise = world
    auth.login_as("analyst")
    waiting = _ids(client.get("/admin/cases/?reason=waiting").get_data(as_text=True))
    assert waiting == {str(cases["waiting"].id), str(cases["elsewhere"].id)}
    attitude = client.get("/admin/cases/?reason=attitude").get_data(as_text=True)
    assert _ids(attitude) == {str(cases["attitude"].id)}
    assert '<option value="attitude" selected>服务态度</option>' in attitude
    assert "差评原因：服务态度" in attitude  # the list row names the reasons
    # the filter keeps the others (links and exports carry it)
    assert "reason=attitude" in attitude
    # an unknown or oversized reason matches nothing, never an error
    for junk in ("nonsense", "x" * 500, "%27%20OR%201%3D1"):
        response = client.get(f"/admin/cases/?reason={junk}")
        assert response.status_code == 200 and _ids(response.get_data(as_text=True)) == set()


def test_unit_contact_sees_only_their_units_reasons(client, auth, world):
    window, other, _campaign, cases, _praise = world
    auth.login_as("unit", unit=window)
    html = client.get("/admin/cases/?reason=waiting").get_data(as_text=True)
    assert _ids(html) == {str(cases["waiting"].id)}
    assert client.get(f"/admin/cases/{cases['elsewhere'].id}").status_code == 404
    assert "叫号机坏了一上午" in client.get(f"/admin/cases/{cases['waiting'].id}").get_data(as_text=True)
    snooping = client.get(f"/admin/cases/?reason=waiting&unit={other.id}").get_data(as_text=True)
    assert _ids(snooping) == set()


def test_export_carries_the_reasons(client, auth, world):
    _window, _other, _campaign, cases, _praise = world
    auth.login_as("analyst")
    book = load_workbook(io.BytesIO(client.get("/admin/cases/export.xlsx?reason=waiting").data))
    rows = [[c.value for c in r] for r in book.active.iter_rows()]
    header = rows[0]
    by_id = {r[0]: r for r in rows[1:]}
    assert set(by_id) == {cases["waiting"].id, cases["elsewhere"].id}
    row = by_id[cases["waiting"].id]
    assert row[header.index("差评原因")] == "等候时间、其他（请说明）"
    assert row[header.index("其他原因说明")] == "叫号机坏了一上午"
