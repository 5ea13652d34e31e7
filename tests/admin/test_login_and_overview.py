"""Staff sign-in and the overview of units with their response counts."""
from __future__ import annotations

from survey.models import Answer, Channel, Response
from tests.factories import PASSWORD, csrf_from


def _respond(session, campaign, unit, n: int) -> None:
    question = campaign.questionnaire.questions[0]
    for i in range(n):
        r = Response(campaign_id=campaign.id, questionnaire_id=campaign.questionnaire_id, unit_id=unit.id,
                     channel=Channel.WEB, submission_id=f"s-{unit.id}-{i}")
        r.answers.append(Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=question.id, level=5))
        session.add(r)
    session.commit()


def test_login_required_for_admin(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_wrong_password_is_refused(client, auth, make):
    make.user(username="wang")
    response = auth.login("wang", "not the password")
    assert response.status_code == 200
    assert "用户名或密码不正确" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_rotates_session_and_redirects_safely(client, make):
    make.user(username="wang")
    page = client.get("/login?next=https://evil.example/steal")
    response = client.post("/login", data={"username": "wang", "password": PASSWORD, "csrf_token": csrf_from(page),
                                           "next": "https://evil.example/steal"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    page = client.get("/login?next=/admin/")
    assert client.get("/admin/").status_code == 200


def test_analyst_sees_every_unit_with_counts(client, auth, make, session):
    a, b = make.unit(name="甲单位"), make.unit(name="乙单位")
    campaign = make.campaign(units=[a, b])
    _respond(session, campaign, a, 3)
    _respond(session, campaign, b, 1)
    auth.login_as("analyst")
    html = client.get("/admin/").get_data(as_text=True)
    assert "甲单位" in html and "乙单位" in html
    assert '<td class="num">3</td>' in html and '<td class="num">1</td>' in html
    assert "共 4 份" in html


def test_unit_contact_sees_only_own_unit_and_subunits(client, auth, make, session):
    mine = make.unit(name="自然资源局")
    window = make.unit(name="不动产窗口", parent=mine)
    other = make.unit(name="住建局")
    campaign = make.campaign(units=[mine, window, other])
    _respond(session, campaign, other, 2)
    auth.login_as("unit", unit=mine)
    html = client.get("/admin/").get_data(as_text=True)
    assert "自然资源局" in html and "不动产窗口" in html
    assert "住建局" not in html


def test_desk_staff_cannot_open_admin(client, auth, make):
    auth.login_as("desk")
    assert client.get("/admin/").status_code == 403
    assert client.get("/desk/").status_code == 200


def test_logout_needs_post_with_csrf(client, auth, make):
    auth.login_as("analyst")
    assert client.get("/logout").status_code == 405
    # No (or a stale) CSRF token: still signed in, sent back to a fresh page that says to press again.
    stale = client.post("/logout")
    assert stale.status_code == 303 and stale.headers["Location"].endswith("/admin/")
    page = client.get("/admin/").get_data(as_text=True)
    assert "页面已过期，请再点一次“退出”。" in page
    auth.logout()
    assert client.get("/admin/").status_code == 302


def test_stale_sign_in_form_returns_to_a_fresh_sign_in_page(client, make):
    make.user(username="wang", role="analyst")
    stale = client.post("/login", data={"username": "wang", "password": PASSWORD, "csrf_token": "stale"})
    assert stale.status_code == 303 and stale.headers["Location"].endswith("/login")
    page = client.get("/login").get_data(as_text=True)
    assert "页面已过期，请重新输入用户名和密码。" in page
    assert client.get("/admin/").status_code == 302  # not signed in by the stale form
