"""Respondent groups: target shares positive; not summing to 1 is saved and shown normalised
with a visible note; all groups are saved together or not at all; used groups are never deleted."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from survey.models import AuditLog, RespondentGroup
from survey.services.units import groups as group_service
from tests.factories import csrf_from


def _form(groups: list[RespondentGroup], **overrides) -> dict:
    data = {}
    for g in groups:
        p = f"g{g.id}-"
        data.setdefault("group_id", []).append(str(g.id))
        data[p + "name"] = g.name
        data[p + "name_en"] = g.name_en or ""
        data[p + "target_share"] = f"{g.target_share:g}"
        data[p + "sort_order"] = str(g.sort_order)
        if g.active:
            data[p + "active"] = "1"
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def _save(client, data: dict):
    token = csrf_from(client.get("/admin/groups/"))
    return client.post("/admin/groups/", data={"csrf_token": token, **data})


def _shares(session) -> dict[str, float]:
    session.expire_all()
    return {g.code: g.target_share for g in session.scalars(select(RespondentGroup))}


def test_groups_page_shows_shares_and_normalised_percentages(client, auth, make):
    make.groups()
    make.commit()
    auth.login_as("analyst")
    html = client.get("/admin/groups/").get_data(as_text=True)
    assert "企业代表" in html and "25.0%" in html and "30.0%" in html
    assert "不等于 1" not in html


def test_shares_not_summing_to_one_are_saved_with_a_visible_note(client, auth, make, session):
    groups = list(make.groups().values())
    make.commit()
    auth.login_as("analyst")
    qy = next(g for g in groups if g.code == "QY")
    sm = next(g for g in groups if g.code == "SM")
    data = _form(groups, **{f"g{qy.id}-target_share": "50", f"g{sm.id}-target_share": "30%"})
    response = _save(client, data)
    assert response.status_code == 302
    assert _shares(session)["QY"] == 50 and _shares(session)["SM"] == 30
    html = client.get("/admin/groups/").get_data(as_text=True)
    assert html.count("目标占比合计为 80.45，不等于 1") == 1  # 50 + 30 + 0.2 + 0.15 + 0.1: said once, not twice
    assert f"{50 / 80.45 * 100:.1f}%" in html
    normalised = group_service.normalised_shares(session)
    assert sum(normalised.values()) == pytest.approx(1.0)
    [entry] = session.scalars(select(AuditLog).where(AuditLog.action == "group.update",
                                                     AuditLog.object_id == str(qy.id)))
    assert entry.detail["changes"]["target_share"] == [0.25, 50.0]


@pytest.mark.parametrize("bad, message", [("0", "应为正数"), ("-0.2", "应为正数"), ("abc", "应为数字"),
                                          ("", "应为数字"), ("nan", "应为正数"), ("inf", "应为正数")])
def test_invalid_shares_are_refused_and_nothing_is_saved(client, auth, make, session, bad, message):
    groups = list(make.groups().values())
    make.commit()
    auth.login_as("analyst")
    before = _shares(session)
    first, second = groups[0], groups[1]
    data = _form(groups, **{f"g{first.id}-name": "改了名字", f"g{second.id}-target_share": bad})
    response = _save(client, data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _shares(session) == before
    assert session.get(RespondentGroup, first.id).name != "改了名字"
    assert not session.scalar(select(func.count(AuditLog.id)))


def test_an_inactive_group_is_left_out_of_the_normalisation(client, auth, make, session):
    groups = list(make.groups().values())
    make.commit()
    auth.login_as("analyst")
    rd = next(g for g in groups if g.code == "RD")
    _save(client, _form(groups, **{f"g{rd.id}-active": None}))
    session.expire_all()
    assert session.get(RespondentGroup, rd.id).active is False
    normalised = group_service.normalised_shares(session)
    assert rd.id not in normalised and sum(normalised.values()) == pytest.approx(1.0)
    assert normalised[next(g.id for g in groups if g.code == "SM")] == pytest.approx(0.30 / 0.85)


def test_at_least_one_group_stays_active(client, auth, make, session):
    groups = list(make.groups().values())
    make.commit()
    auth.login_as("analyst")
    data = _form(groups, **{f"g{g.id}-active": None for g in groups})
    response = _save(client, data)
    assert response.status_code == 422 and "至少要保留一个启用的样本类别" in response.get_data(as_text=True)
    session.expire_all()
    assert all(g.active for g in session.scalars(select(RespondentGroup)))


def test_create_a_group_and_delete_only_an_unused_one(client, auth, make, session):
    make.groups()
    make.questionnaire()  # its group question uses QY … ZZ
    make.commit()
    auth.login_as("analyst")
    token = csrf_from(client.get("/admin/groups/"))
    response = client.post("/admin/groups/new", data={"csrf_token": token, "new-code": "HY", "new-name": "行业代表",
                                                      "new-name_en": "", "new-target_share": "0.05"})
    assert response.status_code == 302
    response = client.post("/admin/groups/new", data={"csrf_token": token, "new-code": "HY", "new-name": "",
                                                      "new-name_en": "", "new-target_share": "-1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "已被使用" in html and "请填写名称" in html and "应为正数" in html
    session.expire_all()
    hy = session.scalar(select(RespondentGroup).where(RespondentGroup.code == "HY"))
    qy = session.scalar(select(RespondentGroup).where(RespondentGroup.code == "QY"))
    client.post(f"/admin/groups/{qy.id}/delete", data={"csrf_token": token})
    client.post(f"/admin/groups/{hy.id}/delete", data={"csrf_token": token})
    session.expire_all()
    codes = {g.code for g in session.scalars(select(RespondentGroup))}
    assert "QY" in codes and "HY" not in codes
    actions = [a.action for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["group.create", "group.delete"]


def test_standard_groups_are_added_in_one_click(client, auth, session):
    auth.login_as("analyst")
    page = client.get("/admin/groups/")
    assert "添加常用样本类别" in page.get_data(as_text=True)
    response = client.post("/admin/groups/standard", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert _shares(session) == {"QY": 0.25, "SM": 0.30, "FW": 0.20, "RD": 0.15, "ZZ": 0.10}
    html = client.get("/admin/groups/").get_data(as_text=True)
    assert "已添加常用样本类别：企业代表、市民" in html and "添加常用样本类别</button>" not in html
    client.post("/admin/groups/standard", data={"csrf_token": csrf_from(page)})
    assert session.scalar(select(func.count(RespondentGroup.id))) == 5
    assert session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "group.create")) == 5


def test_percentages_summing_to_100_are_accepted_without_a_warning(client, auth, make, session):
    """The hint allows percentages: 25, 30, 20, 15, 10 are taken as such, with one plain note and no warning."""
    groups = list(make.groups().values())
    make.commit()
    auth.login_as("analyst")
    data = _form(groups, **{f"g{g.id}-target_share": f"{g.target_share * 100:g}" for g in groups})
    page = client.post("/admin/groups/", data={"csrf_token": csrf_from(client.get("/admin/groups/")), **data},
                       follow_redirects=True)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "已保存 5 个样本类别的修改" in html
    assert "不等于 1" not in html and html.count("按百分数填写，合计 100%") == 1
    assert _shares(session)["QY"] == 25 and "25.0%" in html
    qy = next(g for g in groups if g.code == "QY")
    assert group_service.normalised_shares(session)[qy.id] == pytest.approx(0.25)


def test_votes_not_summing_to_one_warn_once_after_saving(client, auth, make):
    groups = list(make.groups().values())
    make.commit()
    auth.login_as("analyst")
    data = _form(groups, **{f"g{g.id}-target_share": str(i + 1) for i, g in enumerate(groups)})
    page = client.post("/admin/groups/", data={"csrf_token": csrf_from(client.get("/admin/groups/")), **data},
                       follow_redirects=True)
    html = page.get_data(as_text=True)
    assert html.count("不等于 1") == 1 and "目标占比合计为 15" in html
