"""Units: create, edit, move (never below itself), deactivate (never delete a used unit),
categories; every change audited; a refused edit changes nothing."""
from __future__ import annotations

from sqlalchemy import func, select

from survey.models import Answer, AuditLog, Category, Channel, Response, Unit, UnitKind
from tests.factories import csrf_from


def _post(client, url: str, data: dict, page: str | None = None):
    token = csrf_from(client.get(page or url))
    return client.post(url, data={"csrf_token": token, **data})


def _unit_form(**values) -> dict:
    form = {"code": "", "name": "", "name_en": "", "kind": "department", "category_id": "", "parent_code": "",
            "window_no": "", "address": "", "sort_order": "", "note": ""}
    form.update(values)
    return form


def _audit(session, action: str) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_analyst_creates_a_unit_and_it_is_audited(client, auth, make, session):
    category = make.category(code="ZF", name="政府口机关")
    make.commit()
    user = auth.login_as("analyst")
    response = _post(client, "/admin/units/new", _unit_form(code="FGW", name="市发展和改革委员会", name_en="DRC",
                                                            category_id=str(category.id), sort_order="3"))
    assert response.status_code == 302
    session.expire_all()
    unit = session.scalar(select(Unit).where(Unit.code == "FGW"))
    assert (unit.name, unit.name_en, unit.category_id, unit.sort_order, unit.active) == (
        "市发展和改革委员会", "DRC", category.id, 3, True)
    [entry] = _audit(session, "unit.create")
    assert entry.user_id == user.id and entry.object_id == str(unit.id)
    assert entry.detail["after"]["category"] == "ZF"


def test_bad_unit_input_gets_messages_beside_the_fields_and_nothing_is_written(client, auth, make, session):
    make.unit(code="FGW")
    make.commit()
    auth.login_as("analyst")
    response = _post(client, "/admin/units/new", _unit_form(code="FGW", name="", sort_order="abc"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "排序应为整数" in html
    response = _post(client, "/admin/units/new", _unit_form(code="FGW", name="", parent_code="NOPE"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "单位代码 FGW 已被" in html and "请填写单位名称" in html and "上级单位代码 NOPE 不存在" in html
    response = _post(client, "/admin/units/new", _unit_form(code="有 空格", name="x"))
    assert "不能含空格" in response.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count(Unit.id))) == 1
    assert not _audit(session, "unit.create")


def test_moving_a_unit_below_its_own_window_is_refused(client, auth, make, session):
    dept = make.unit(code="ZRJ", name="自然资源局")
    section = make.unit(code="ZRJ-DJ", name="登记处", parent=dept, kind=UnitKind.SECTION)
    window = make.unit(code="CK-12", name="不动产窗口", parent=section, kind=UnitKind.WINDOW)
    other = make.unit(code="ZJJ", name="住建局")
    make.commit()
    auth.login_as("analyst")
    url = f"/admin/units/{dept.id}/edit"
    for parent in ("CK-12", "ZRJ-DJ", "ZRJ"):
        response = _post(client, url, _unit_form(code="ZRJ", name="自然资源局", parent_code=parent))
        assert response.status_code == 422
        assert "成环" in response.get_data(as_text=True) or "不能作自己的上级" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Unit, dept.id).parent_id is None
    # a legitimate move: the window goes under another department
    response = _post(client, f"/admin/units/{window.id}/edit",
                     _unit_form(code="CK-12", name="不动产窗口", kind="window", parent_code="ZJJ", sort_order="1"),
                     page=f"/admin/units/{window.id}/edit")
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Unit, window.id).parent_id == other.id
    [move] = _audit(session, "unit.move") or _audit(session, "unit.update")
    assert move.detail["changes"]["parent"] == ["ZRJ-DJ", "ZJJ"]


def test_edit_form_shows_the_current_values(client, auth, make):
    category = make.category(code="CK", name="窗口")
    parent = make.unit(code="RSJ")
    unit = make.unit(code="CK-SB", name="社保窗口", parent=parent, kind=UnitKind.WINDOW, category=category,
                     window_no="5")
    make.commit()
    auth.login_as("analyst")
    html = client.get(f"/admin/units/{unit.id}/edit").get_data(as_text=True)
    assert 'value="CK-SB"' in html and 'value="RSJ"' in html and 'value="5"' in html
    assert f'<option selected value="{category.id}">' in html or f'value="{category.id}" selected' in html
    assert '<option selected value="window">' in html or 'value="window" selected' in html


def _respond(session, campaign, unit) -> None:
    response = Response(campaign_id=campaign.id, questionnaire_id=campaign.questionnaire_id, unit_id=unit.id,
                        channel=Channel.WEB, submission_id=f"s-{unit.id}")
    response.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id,
                                   question_id=campaign.questionnaire.questions[0].id, level=4))
    session.add(response)
    session.commit()


def test_a_unit_with_responses_is_deactivated_never_deleted(client, auth, make, session):
    unit = make.unit(code="GJ", name="公交集团")
    campaign = make.campaign(units=[unit])
    _respond(session, campaign, unit)
    auth.login_as("analyst")
    page = f"/admin/units/{unit.id}/edit"
    html = client.get(page).get_data(as_text=True)
    assert "不能删除，只能停用" in html and "删除此单位" not in html
    response = _post(client, f"/admin/units/{unit.id}/delete", {}, page=page)
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Unit, unit.id) is not None
    response = _post(client, f"/admin/units/{unit.id}/active", {"value": "0"}, page=page)
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Unit, unit.id).active is False
    assert session.scalar(select(func.count(Response.id))) == 1
    assert len(_audit(session, "unit.deactivate")) == 1
    _post(client, f"/admin/units/{unit.id}/active", {"value": "1"}, page=page)
    session.expire_all()
    assert session.get(Unit, unit.id).active is True


def test_an_unused_unit_can_be_deleted(client, auth, make, session):
    unit_id = make.unit(code="TYPO").id
    make.commit()
    auth.login_as("analyst")
    page = f"/admin/units/{unit_id}/edit"
    assert _post(client, f"/admin/units/{unit_id}/delete", {}, page=page).status_code == 302
    session.expire_all()
    assert session.scalar(select(Unit).where(Unit.id == unit_id)) is None
    [entry] = _audit(session, "unit.delete")
    assert entry.detail["before"]["code"] == "TYPO"


def test_unit_list_shows_the_tree_and_filters(client, auth, make):
    zf = make.category(code="ZF", name="政府口机关")
    dept = make.unit(code="RSJ", name="人社局", category=zf)
    make.unit(code="CK-SB", name="社保窗口", parent=dept, kind=UnitKind.WINDOW)
    make.unit(code="GJ", name="公交集团", active=False)
    make.commit()
    auth.login_as("analyst")
    html = client.get("/admin/units/").get_data(as_text=True)
    assert html.index("人社局") < html.index("社保窗口")
    assert 'class="depth-1">社保窗口' in html
    html = client.get("/admin/units/?status=inactive").get_data(as_text=True)
    assert "公交集团" in html and "人社局" not in html
    html = client.get("/admin/units/?q=社保").get_data(as_text=True)
    assert "社保窗口" in html and "公交集团" not in html
    html = client.get(f"/admin/units/?category={zf.id}").get_data(as_text=True)
    assert "人社局" in html and "公交集团" not in html


def test_categories_create_rename_reorder_and_delete_when_empty(client, auth, make, session):
    used = make.category(code="ZF", name="政府口机关")
    make.unit(category=used)
    make.commit()
    auth.login_as("analyst")
    response = _post(client, "/admin/categories/", {"code": "JR", "name": "驻地金融机构", "name_en": ""})
    assert response.status_code == 302
    response = _post(client, "/admin/categories/", {"code": "JR", "name": "重复", "name_en": ""})
    assert response.status_code == 422 and "已被" in response.get_data(as_text=True)
    session.expire_all()
    jr = session.scalar(select(Category).where(Category.code == "JR"))
    _post(client, f"/admin/categories/{jr.id}/edit", {"code": "JR", "name": "金融机构", "name_en": "Banks"},
          page=f"/admin/categories/{jr.id}/edit")
    _post(client, f"/admin/categories/{jr.id}/move", {"value": "up"}, page="/admin/categories/")
    session.expire_all()
    ordered = list(session.scalars(select(Category).order_by(Category.sort_order)))
    assert [c.code for c in ordered] == ["JR", "ZF"] and ordered[0].name == "金融机构"
    _post(client, f"/admin/categories/{used.id}/delete", {}, page="/admin/categories/")
    _post(client, f"/admin/categories/{jr.id}/delete", {}, page="/admin/categories/")
    session.expire_all()
    assert [c.code for c in session.scalars(select(Category))] == ["ZF"]
    actions = [a.action for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["category.create", "category.update", "category.reorder", "category.delete"]
