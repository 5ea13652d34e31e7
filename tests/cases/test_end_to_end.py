"""Done when: a 差评 submitted on a phone appears in the unit's queue, is handled through to
回访 within its deadline, and nobody outside that unit and the analysts can see it."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from survey.core.clock import org_today
from survey.models import Case, CaseKind, CaseState, FollowUpContact, Response
from survey.services.cases import workflow as cases_service
from survey.services.responses import submission
from tests.factories import PASSWORD, csrf_from, hidden_from
from tests.public.helpers import filled


@pytest.fixture
def city(make):
    bureau = make.unit(name="市自然资源和规划局")
    window = make.unit(name="不动产登记窗口", parent=bureau)
    elsewhere = make.unit(name="市住房和城乡建设局")
    campaign = make.campaign(units=[window, elsewhere])
    code = next(cu.short_code for cu in campaign.campaign_units if cu.unit_id == window.id)
    make.commit()
    return bureau, window, elsewhere, campaign, code


def _comment_field(campaign) -> str:
    question = next(q for q in campaign.questionnaire.questions if q.is_comment)
    return f"q{question.id}"


def _submit_bad_rating(phone_client, campaign, code, comment: str):
    page = phone_client.get(f"/s/{code}", headers={"User-Agent": "Mozilla/5.0 (Linux; Android 10) MicroMessenger"})
    data = filled(campaign.questionnaire, page, level="1", **{_comment_field(campaign): comment})
    posted = phone_client.post(f"/s/{code}", data=data)
    assert posted.status_code == 303
    return phone_client.get(posted.headers["Location"])


def _staff(app, username: str):
    client = app.test_client()
    page = client.get("/login")
    assert client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": csrf_from(page)}).status_code == 302
    return client


def test_a_bad_rating_from_a_phone_is_handled_by_its_unit_only(app, client, make, session, city):
    bureau, window, elsewhere, campaign, code = city
    make.user("unit", unit=bureau, username="zrj")
    stranger = make.user("unit", unit=elsewhere, username="zjj")
    make.user("desk", unit=window, username="window12")
    make.user("analyst", username="wang")

    thanks = _submit_bad_rating(client, campaign, code, "叫号系统坏了，等了两个小时")
    saved = client.post(f"/thanks/{code}", data={"csrf_token": csrf_from(thanks), "token": hidden_from(thanks, "token"),
                                                 "phone": "138 1234 5678", "consent": "y"})
    assert saved.status_code == 303

    opened = session.scalars(select(Case).order_by(Case.kind)).all()
    # The 差评 and its comment are one case with one deadline.
    assert {(c.kind, c.unit_id, c.state) for c in opened} == {(CaseKind.BAD_RATING, window.id, CaseState.PENDING)}
    bad = next(c for c in opened if c.kind == CaseKind.BAD_RATING)
    assert bad.opened_on == org_today() and bad.due_on > org_today()

    unit_client = _staff(app, "zrj")
    queue = unit_client.get("/admin/cases/").get_data(as_text=True)
    assert "叫号系统坏了" in queue and "138****5678" in queue
    for outsider in ("zjj",):
        other = _staff(app, outsider)
        assert "叫号系统坏了" not in other.get("/admin/cases/?state=").get_data(as_text=True)
        assert other.get(f"/admin/cases/{bad.id}").status_code == 404
    desk = _staff(app, "window12")
    assert desk.get(f"/admin/cases/{bad.id}").status_code == 403
    assert client.get(f"/admin/cases/{bad.id}").status_code == 302  # the citizen's phone is no staff session
    assert "叫号系统坏了" in _staff(app, "wang").get("/admin/cases/").get_data(as_text=True)

    token = csrf_from(unit_client.get(f"/admin/cases/{bad.id}"))
    today = org_today().isoformat()
    for case in opened:
        steps = ["rectify", "close"] if case.kind == CaseKind.BAD_RATING else ["close"]
        unit_client.post(f"/admin/cases/{case.id}/callback", data={"csrf_token": token, "called_on": today,
                                                                   "verdict": "satisfied", "note": "已电话回访"})
        for step in steps:
            answer = unit_client.post(f"/admin/cases/{case.id}/step/{step}", data={
                "csrf_token": token, "rectification": "修复叫号系统，高峰期增开窗口", "note": "已答复"})
            assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    session.expire_all()
    done = session.scalars(select(Case)).all()
    assert all(c.state == CaseState.CLOSED and c.closed_on <= c.due_on for c in done)  # 回访 within the deadline
    assert session.scalar(select(func.count()).select_from(FollowUpContact)) == 0  # the phone number is gone
    assert stranger.id not in {e.user_id for c in done for e in c.events}


def test_opening_cases_is_registered_with_the_submission(app):
    assert cases_service.open_cases_on_submit in submission._AFTER_INSERT


def test_a_failure_to_open_cases_never_loses_the_rating(client, session, city, monkeypatch, caplog, runner):
    _bureau, _window, _elsewhere, campaign, code = city

    def broken(*args, **kwargs):
        raise RuntimeError("calendar unreadable")

    monkeypatch.setattr(cases_service, "due_date", broken)
    with caplog.at_level(logging.ERROR):
        _submit_bad_rating(client, campaign, code, "空调太冷")
    assert session.scalar(select(func.count()).select_from(Response)) == 1
    assert session.scalar(select(func.count()).select_from(Case)) == 0
    assert "opening cases for response" in caplog.text
    monkeypatch.undo()
    assert "新开 1 个处理件" in runner.invoke(args=["cases", "backfill"]).output


def test_a_database_error_after_the_case_row_is_undone_and_the_rating_kept(client, session, city, monkeypatch,
                                                                            caplog, runner):
    """The case row goes in, then its event fails in the database: the case work is undone to its savepoint
    (on PostgreSQL the failed statement would otherwise abort the whole transaction) and the rating is stored."""
    from sqlalchemy import text

    _bureau, _window, _elsewhere, campaign, code = city
    monkeypatch.setattr(cases_service, "_INSERT_EVENT", text("INSERT INTO no_such_table (case_id) VALUES (:case_id)"))
    with caplog.at_level(logging.ERROR):
        _submit_bad_rating(client, campaign, code, "空调太冷")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Response)) == 1
    assert session.scalar(select(func.count()).select_from(Case)) == 0
    assert "opening cases for response" in caplog.text
    monkeypatch.undo()
    assert "新开 1 个处理件" in runner.invoke(args=["cases", "backfill"]).output
