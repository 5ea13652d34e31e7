"""Desk integrity: a clerk rating their own window is flagged and visible per clerk; an honest busy
hall is not; a rating is never lost to an expired code or an idle desk screen."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from survey.models import AuditLog, Channel, DeskToken, Response, ResponseStatus, utcnow
from survey.services.campaigns import channel_report, desk_tokens
from tests.desk.answers import form_for
from tests.desk.test_desk_page import desk_logout, press_next
from tests.factories import csrf_from


@pytest.fixture
def app_overrides():
    # Tight poster burst rules: they must still not touch single-use desk codes.
    return {"BURST_MAX_RESPONSES": 2, "ADDRESS_BURST_MAX_RESPONSES": 3, "UA_ROTATION_MAX_AGENTS": 2,
            "DESK_ANOMALY_MIN_N": 3}


@pytest.fixture
def window(make):
    return make.unit(code="CK-BDC", name="不动产登记窗口", window_no="12")


@pytest.fixture
def campaign(make, window):
    campaign = make.campaign(units=[window], title="政务服务满意度评议",
                             channels=[Channel.POSTER.value, Channel.DESK.value])
    make.commit()
    return campaign


@pytest.fixture
def clerk(client, auth, session, window, campaign):
    user = auth.login_as("desk", unit=window)
    user.display_name = "王小明"
    session.commit()
    return user


def next_code(app, client, session, *, answered_after: int | None = None) -> tuple[str, DeskToken]:
    """The clerk presses 下一位; the code's path. ``answered_after``: pretend the code was issued that many
    seconds ago (the citizen took that long to answer)."""
    assert press_next(client).status_code == 302
    session.expire_all()
    token = session.scalars(select(DeskToken).order_by(DeskToken.id.desc())).first()
    if answered_after is not None:
        token.issued_at = utcnow() - dt.timedelta(seconds=answered_after)
        session.commit()
    return "/d/" + desk_tokens.sign(app.config["SECRET_KEY"], token), token


def rate(phone, path, campaign, window, level=5):
    page = phone.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    return phone.post(path, data=form_for(page, campaign.questionnaire, [window], level=level))


def stored(session) -> list[Response]:
    session.expire_all()
    return list(session.scalars(select(Response).order_by(Response.id)))


def test_a_clerk_gaming_the_desk_is_flagged_and_visible_per_clerk(app, client, session, window, campaign, clerk, auth):
    own_phone = app.test_client()
    for _ in range(3):  # press 下一位, scan the screen with one's own phone, 非常满意: about 3 s
        path, _token = next_code(app, client, session)
        assert rate(own_phone, path, campaign, window).status_code == 303
    path, _token = next_code(app, client, session, answered_after=60)
    assert rate(client, path, campaign, window).status_code == 303  # from the desk screen's own browser
    responses = stored(session)
    assert [r.status for r in responses] == [ResponseStatus.FLAGGED] * 4
    reasons = [set(r.status_reason.split(";")) for r in responses]
    assert reasons[0] == {"desk_fast"}
    assert reasons[1] == reasons[2] == {"desk_fast", "desk_repeat"}
    assert "desk_device" in reasons[3] and "desk_fast" not in reasons[3]
    # Poster ratings of the same window are lower: the clerk's mean stands out.
    for level in (3, 2, 3):
        phone = app.test_client()
        phone.environ_base["HTTP_USER_AGENT"] = f"Phone/{level}-{id(phone)}"
        phone.environ_base["REMOTE_ADDR"] = f"10.0.0.{len(stored(session))}"
        code = campaign.campaign_units[0].short_code
        assert phone.post(f"/s/{code}", data=form_for(phone.get(f"/s/{code}"), campaign.questionnaire, [window],
                                                       level=level)).status_code == 303
    [row] = channel_report.desk_by_window(session, campaign, rule=channel_report.AnomalyRule(0.5, 3))
    assert (row.staff_name, row.issued, row.used, row.responses, row.valid, row.flagged) == ("王小明", 4, 4, 4, 0, 4)
    assert row.median_seconds is not None and row.median_seconds < 8
    assert row.clerk_mean == 5.0 and round(row.poster_mean, 2) == 2.67 and row.anomalous
    # The analyst sees it, in words, with the flagged count linking to the review.
    desk_logout(client)
    auth.login_as("analyst")
    html = client.get(f"/admin/distribution/{campaign.id}/").get_data(as_text=True)
    assert "王小明" in html and "异常：明显高于海报评价" in html
    assert f"/admin/review/?campaign={campaign.id}&amp;unit={window.id}" in html
    review = client.get(f"/admin/review/?campaign={campaign.id}").get_data(as_text=True)
    assert "出码到提交用时过短" in review and "同一部手机再次评价同一窗口" in review and "从窗口工作人员的设备" in review
    assert "王小明" in review and "窗口一事一评" in review


def test_an_honest_busy_hall_is_all_valid(app, client, session, window, campaign, clerk):
    """Seven phones of one model behind the hall's Wi-Fi, each scanning its own fresh code within 2 minutes."""
    for i in range(7):
        path, _token = next_code(app, client, session, answered_after=40 + 10 * i)
        phone = app.test_client()  # same User-Agent, same address as every other phone
        assert rate(phone, path, campaign, window, level=4 if i % 2 else 5).status_code == 303
    responses = stored(session)
    assert len(responses) == 7
    assert [(r.status, r.status_reason) for r in responses] == [(ResponseStatus.VALID, None)] * 7
    assert len({r.fingerprint for r in responses}) == 1 and len({r.address_hash for r in responses}) == 1
    assert len({r.device_hash for r in responses}) == 7
    [row] = channel_report.desk_by_window(session, campaign)
    assert (row.issued, row.used, row.valid, row.flagged) == (7, 7, 7, 0)
    assert row.median_seconds >= 40 and not row.anomalous


def test_a_code_expiring_while_the_form_is_open_is_taken_within_the_grace_period(app, client, session, window,
                                                                                   campaign, clerk):
    path, token = next_code(app, client, session, answered_after=31 * 60)
    phone = app.test_client()
    page = phone.get(path)
    token = session.get(DeskToken, token.id)
    token.expires_at = utcnow() - dt.timedelta(minutes=1)  # "等了一个小时…" took a while to write
    session.commit()
    assert phone.post(path, data=form_for(page, campaign.questionnaire, [window], level=1)).status_code == 303
    [response] = stored(session)
    assert (response.status, response.channel, response.staff_user_id) == (ResponseStatus.VALID, Channel.DESK, clerk.id)
    assert session.get(DeskToken, token.id).used_at is not None
    assert client.get(f"/desk/token/{token.id}/status").json["state"] == "used"


def _past_grace(app, client, session):
    path, token = next_code(app, client, session, answered_after=3 * 3600)
    phone = app.test_client()
    page = phone.get(path)
    token = session.get(DeskToken, token.id)
    token.expires_at = utcnow() - dt.timedelta(minutes=app.config["DESK_GRACE_MINUTES"] + 5)
    session.commit()
    return path, token, phone, page


def test_past_the_grace_period_the_answers_go_through_the_windows_own_link_in_one_tap(app, client, session, window,
                                                                                    campaign, clerk):
    path, _token, phone, page = _past_grace(app, client, session)
    answers = form_for(page, campaign.questionnaire, [window], level=1)
    comment = next(q.id for q in campaign.questionnaire.questions if q.is_comment)
    answers[f"q{comment}"] = "等了一个小时，窗口人员态度差"
    kept = phone.post(path, data=answers)
    assert kept.status_code == 200 and stored(session) == []  # not stored yet: nothing lost either
    html = kept.get_data(as_text=True)
    cu = next(c for c in campaign.campaign_units if c.unit_id == window.id)
    assert f'action="/s/{cu.short_code}"' in html and "等了一个小时，窗口人员态度差" in html
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    assert {k: v for k, v in hidden.items() if k != "csrf_token"} == {k: str(v) for k, v in answers.items()
                                                                      if k != "csrf_token"}
    sent = phone.post(f"/s/{cu.short_code}", data=hidden)  # the one tap
    assert sent.status_code == 303, sent.get_data(as_text=True)[:500]
    [response] = stored(session)
    assert (response.status, response.channel, response.unit_id) == (ResponseStatus.VALID, Channel.POSTER, window.id)
    assert {a.level for a in response.answers if a.level} == {1}
    assert "等了一个小时，窗口人员态度差" in {a.text for a in response.answers if a.text}
    # Merely opening an expired code is still "expired".
    path2, token2 = next_code(app, client, session)
    token2 = session.get(DeskToken, token2.id)
    token2.expires_at = utcnow() - dt.timedelta(seconds=1)
    session.commit()
    assert app.test_client().get(path2).status_code == 410


def test_past_the_grace_period_without_a_poster_channel_the_rating_is_kept_flagged(app, client, session, window,
                                                                                  campaign, clerk):
    campaign.channels = [Channel.DESK.value]
    session.commit()
    path, _token, phone, page = _past_grace(app, client, session)
    reply = phone.post(path, data=form_for(page, campaign.questionnaire, [window], level=1))
    assert reply.status_code == 303
    [response] = stored(session)
    assert (response.status, response.status_reason) == (ResponseStatus.FLAGGED, "desk_late")
    assert response.answers and {a.level for a in response.answers if a.level} == {1}
    # A second submission of the same code is still refused (single use).
    again = phone.post(path, data=dict(form_for(page, campaign.questionnaire, [window]),
                                       submission_id="another-submission-id-0123456789"))
    assert again.status_code == 410 and len(stored(session)) == 1


def test_a_stale_next_press_recovers_to_the_desk(app, client, session, clerk):
    page = client.get("/desk/")
    reply = client.post("/desk/next", data={"csrf_token": "stale-" + csrf_from(page)[6:]})
    assert reply.status_code == 303 and reply.headers["Location"].endswith("/desk/")
    again = client.get("/desk/")
    assert "页面已自动刷新，请再按一次" in again.get_data(as_text=True)
    assert press_next(client).status_code == 302  # the fresh token works


def test_the_desk_screen_refreshes_itself_without_javascript_only_while_a_code_waits(app, client, session, window,
                                                                                       campaign, clerk):
    idle = client.get("/desk/").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in idle
    assert 'data-reload-seconds="1200"' in idle  # with JavaScript: reloaded long before the form token expires
    path, _token = next_code(app, client, session, answered_after=60)
    html = client.get("/desk/").get_data(as_text=True)
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    rate(app.test_client(), path, campaign, window)
    assert 'http-equiv="refresh"' not in client.get("/desk/").get_data(as_text=True)


def test_the_desk_device_is_recorded_on_its_codes(app, client, session, clerk, campaign):
    client.get("/desk/")
    assert client.get_cookie("pingyi_desk_device").http_only
    _path, token = next_code(app, client, session)
    assert token.device_id and len(token.device_id) == 32


def test_review_records_the_reason_in_the_audit_log(app, client, session, window, campaign, clerk, auth):
    path, _token = next_code(app, client, session)
    rate(app.test_client(), path, campaign, window)
    [response] = stored(session)
    assert response.status == ResponseStatus.FLAGGED
    desk_logout(client)
    auth.login_as("analyst")
    page = client.get(f"/admin/review/?campaign={campaign.id}")
    html = page.get_data(as_text=True)
    assert "checked" not in html.split('class="review">')[1]  # nothing selected to start with
    no_reason = client.post(f"/admin/review/{campaign.id}", data={
        "csrf_token": csrf_from(page), "response": str(response.id), "decision": "valid"}, follow_redirects=True)
    assert "请填写" in no_reason.get_data(as_text=True)
    assert stored(session)[0].status == ResponseStatus.FLAGGED
    client.post(f"/admin/review/{campaign.id}", data={
        "csrf_token": csrf_from(page), "response": str(response.id), "decision": "valid",
        "reason": "已电话核实，确为群众本人评价"})
    assert stored(session)[0].status == ResponseStatus.VALID
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "response.validate")).one()
    assert "已电话核实" in str(entry.detail)
