"""Object-level access to cases: a unit and its sub-units, never a sibling or the parent."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from survey.models import Case, CaseState
from tests.cases.helpers import respond
from tests.factories import csrf_from


@pytest.fixture
def tree(make, session):
    bureau = make.unit(name="市自然资源和规划局")
    window = make.unit(name="不动产登记窗口", parent=bureau)
    sibling = make.unit(name="市住房和城乡建设局")
    campaign = make.campaign(units=[bureau, window, sibling])
    cases = {}
    for unit, text in ((bureau, "局机关的意见"), (window, "窗口的意见"), (sibling, "住建局的意见")):
        response = respond(session, campaign, unit, comment=text)
        cases[unit.name] = session.scalar(select(Case).where(Case.response_id == response.id))
    return bureau, window, sibling, cases


def _can_open(client, case) -> bool:
    status = client.get(f"/admin/cases/{case.id}").status_code
    assert status in (200, 404)
    return status == 200


def test_department_contact_sees_its_windows_but_not_a_sibling(client, auth, tree):
    bureau, _window, _sibling, cases = tree
    auth.login_as("unit", unit=bureau)
    assert _can_open(client, cases["市自然资源和规划局"]) and _can_open(client, cases["不动产登记窗口"])
    assert not _can_open(client, cases["市住房和城乡建设局"])
    for path in ("/admin/cases/?state=", "/admin/cases/figures", "/admin/cases/export.csv"):
        body = client.get(path).data.decode("utf-8-sig")
        assert "住建局的意见" not in body and "市住房和城乡建设局" not in body, path


def test_window_contact_does_not_see_the_parent(client, auth, tree):
    _bureau, window, _sibling, cases = tree
    auth.login_as("unit", unit=window)
    assert _can_open(client, cases["不动产登记窗口"])
    assert not _can_open(client, cases["市自然资源和规划局"]) and not _can_open(client, cases["市住房和城乡建设局"])
    html = client.get("/admin/cases/?state=").get_data(as_text=True)
    assert "窗口的意见" in html and "局机关的意见" not in html


def test_sibling_contact_cannot_act_on_a_case(client, auth, tree, session):
    _bureau, _window, sibling, cases = tree
    auth.login_as("unit", unit=sibling)
    token = csrf_from(client.get("/admin/cases/"))
    target = cases["不动产登记窗口"]
    for path, data in ((f"/admin/cases/{target.id}/step/close", {"note": "关掉"}),
                       (f"/admin/cases/{target.id}/step/start", {}),
                       (f"/admin/cases/{target.id}/tags", {"new_tags": "乱标"}),
                       (f"/admin/cases/{target.id}/contact", {}),
                       (f"/admin/cases/{target.id}/appeal", {"reason": "别人家的差评"})):
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 404, path
    session.expire_all()
    assert session.get(Case, target.id).state == CaseState.PENDING and session.get(Case, target.id).tags == []


def test_unbound_contact_sees_nothing_and_analyst_sees_everything(client, auth, tree, make, session):
    bureau, _window, _sibling, cases = tree
    lost = make.user("unit", unit=bureau)
    lost.unit_id = None
    session.commit()
    auth.login(lost.username)
    html = client.get("/admin/cases/?state=").get_data(as_text=True)
    assert "意见" not in html.split("<tbody>")[1]
    assert not _can_open(client, cases["不动产登记窗口"])
    auth.logout()
    auth.login_as("analyst")
    assert all(_can_open(client, case) for case in cases.values())


def test_desk_staff_have_no_case_pages(client, auth, tree):
    _bureau, window, _sibling, cases = tree
    auth.login_as("desk", unit=window)
    assert client.get("/admin/cases/").status_code == 403
    assert client.get(f"/admin/cases/{cases['不动产登记窗口'].id}").status_code == 403
