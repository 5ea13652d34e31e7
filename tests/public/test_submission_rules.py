"""Nothing lost, nothing doubled: expired tokens, double taps, retries, closed campaigns."""
from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from survey.models import Campaign, CampaignStatus, Channel, Response, utcnow
from survey.services.responses import submission
from tests.factories import csrf_from
from tests.public.helpers import checked, filled


def _count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Response))


@pytest.fixture
def window(make):
    campaign = make.campaign()
    make.commit()
    return campaign, campaign.campaign_units[0].short_code


class TestIdempotency:
    def test_double_tap_stores_one_response(self, client, window, session):
        campaign, code = window
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"))
        first = client.post(f"/s/{code}", data=data)
        second = client.post(f"/s/{code}", data=data)
        assert first.status_code == second.status_code == 303
        assert first.headers["Location"] == second.headers["Location"]
        assert _count(session) == 1

    def test_retry_from_another_connection_stores_one(self, app, window, session):
        """The response to the first POST was lost on the network: the browser still has the cookies
        it had before (none came back), and the retry is the same submission."""
        campaign, code = window
        first_client = app.test_client()
        data = filled(campaign.questionnaire, first_client.get(f"/s/{code}"))
        cookie_before = first_client.get_cookie("pingyi_session").value
        assert first_client.post(f"/s/{code}", data=data).status_code == 303
        retry = app.test_client()
        retry.set_cookie("pingyi_session", cookie_before)  # the answer with its new cookies was lost
        response = retry.post(f"/s/{code}", data=data)
        assert response.status_code == 303 and "/thanks/" in response.headers["Location"]
        assert _count(session) == 1

    def test_another_browser_replaying_the_form_gets_nothing_of_the_stored_submission(self, app, window, session):
        """Issue 14: the "already stored" shortcut is for the browser session that made the submission."""
        campaign, code = window
        first_client = app.test_client()
        data = filled(campaign.questionnaire, first_client.get(f"/s/{code}"))
        assert first_client.post(f"/s/{code}", data=data).status_code == 303
        stranger = app.test_client()
        stranger.get(f"/s/{code}")  # a session of its own: the copied form's token fails its CSRF check
        response = stranger.post(f"/s/{code}", data=data)
        assert response.status_code == 400 and _count(session) == 1
        html = response.get_data(as_text=True)
        assert data["submission_id"] not in html  # a fresh submission id of its own
        assert re.search(r'name="submission_id" type="hidden" value="[A-Za-z0-9_-]{32}"', html)

    def test_back_button_and_submit_again_is_not_refused_as_a_second_rating(self, client, window, session):
        campaign, code = window
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"))
        client.post(f"/s/{code}", data=data)
        assert client.get_cookie("pingyi_rated") is not None  # the device now counts as having rated
        again = client.post(f"/s/{code}", data=data)  # the page from the history, same submission id
        assert again.status_code == 303 and "/thanks/" in again.headers["Location"]
        assert _count(session) == 1

    def test_two_racing_inserts_store_one(self, app, window, session, monkeypatch):
        """Both requests passed the "already stored?" check before either committed."""
        campaign, _code = window
        parsed = submission.ParseResult()
        sid = submission.new_submission_id()
        first = submission.submit_response(session, campaign, parsed, sid, channel=Channel.POSTER)
        monkeypatch.setattr(submission, "stored_response", _none_then_real(submission.stored_response))
        second = submission.submit_response(session, campaign, parsed, sid, channel=Channel.POSTER)
        assert first.created and not second.created and second.response.id == first.response.id
        assert _count(session) == 1

    def test_a_forged_submission_id_is_replaced_not_stored(self, client, window, session):
        campaign, code = window
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), submission_id="x")
        response = client.post(f"/s/{code}", data=data)
        assert response.status_code == 400 and _count(session) == 0
        assert re.search(r'name="submission_id" type="hidden" value="[A-Za-z0-9_-]{32}"', response.get_data(as_text=True))


def _none_then_real(real):
    calls = {"n": 0}

    def fake(session, submission_id):
        calls["n"] += 1
        return None if calls["n"] == 1 else real(session, submission_id)

    return fake


class TestExpiredToken:
    def test_expired_token_keeps_every_answer_and_asks_to_submit_again(self, client, window, session, monkeypatch):
        campaign, code = window
        page = client.get(f"/s/{code}")
        q = campaign.questionnaire.questions
        data = filled(campaign.questionnaire, page, level="2", **{f"q{q[-1].id}": "等了两个小时"})
        later = int(time.time()) + 2 * 3600  # the phone was put away for two hours
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)
        response = client.post(f"/s/{code}", data=data)
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert "请再提交一次" in html and "您填写的内容都保留着" in html
        assert checked(html, f"q{q[0].id}") == ["2"] and "等了两个小时</textarea>" in html
        assert _count(session) == 0
        fresh = csrf_from(response)
        assert fresh != data["csrf_token"]
        data["csrf_token"] = fresh
        again = client.post(f"/s/{code}", data=data)
        assert again.status_code == 303 and _count(session) == 1

    def test_missing_token_is_the_same_friendly_page(self, client, window, session):
        campaign, code = window
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"))
        del data["csrf_token"]
        response = client.post(f"/s/{code}", data=data)
        assert response.status_code == 400 and "请再提交一次" in response.get_data(as_text=True)
        assert _count(session) == 0

    def test_expired_token_and_a_missing_answer_show_both(self, client, window, monkeypatch):
        campaign, code = window
        q = campaign.questionnaire.questions
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), **{f"q{q[0].id}": []})
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) + 7200)
        html = client.post(f"/s/{code}", data=data).get_data(as_text=True)
        assert "请再提交一次" in html and "请回答此题" in html


class TestCampaignState:
    @pytest.mark.parametrize(
        "kwargs, status, text",
        [
            ({"status": CampaignStatus.CLOSED}, 410, "已经结束"),
            ({"closes_at": utcnow() - dt.timedelta(minutes=1)}, 410, "已经结束"),
            ({"opens_at": utcnow() + dt.timedelta(days=2)}, 403, "将于"),
            ({"status": CampaignStatus.DRAFT}, 403, "请留意开始时间的通知"),
            ({"status": CampaignStatus.PAUSED}, 503, "暂停"),
            ({"channels": ["desk", "invitation"]}, 403, "此链接不接受评价"),
        ],
    )
    def test_friendly_page_with_the_right_status(self, client, make, kwargs, status, text):
        campaign = make.campaign(**kwargs)
        make.commit()
        for code in (campaign.short_code, campaign.campaign_units[0].short_code):
            response = client.get(f"/s/{code}")
            assert response.status_code == status and text in response.get_data(as_text=True)
            assert "查看正在进行的评议" in response.get_data(as_text=True)
        if status == 503:
            assert response.headers["Retry-After"] == "3600"

    def test_appraisal_rating_step_of_a_closed_campaign(self, client, make):
        campaign = make.campaign(kind="appraisal", status=CampaignStatus.CLOSED)
        make.commit()
        assert client.get(f"/s/{campaign.short_code}/rate?u={campaign.campaign_units[0].unit.code}").status_code == 410

    def test_campaign_closing_while_the_page_is_open_stores_nothing(self, client, window, session):
        campaign, code = window
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"))
        session.get(Campaign, campaign.id).status = CampaignStatus.CLOSED
        session.commit()
        response = client.post(f"/s/{code}", data=data)
        assert response.status_code == 410 and _count(session) == 0

    @pytest.mark.parametrize("path", ["/s/ZZZZZZ", "/s/not-a-code!", "/s/" + "A" * 40, "/thanks/ZZZZZZ", "/s/ZZZZZZ/rate"])
    def test_unknown_links_are_a_friendly_404(self, client, path):
        response = client.get(path)
        assert response.status_code == 404
        html = response.get_data(as_text=True)
        assert "页面不存在" in html and 'action="/go"' in html  # with the box to type a poster code

    def test_typed_code_box_finds_poster_code(self, client, window):
        _campaign, code = window
        response = client.get("/go", query_string={"code": f" {code.lower()} "})
        assert response.status_code == 302 and response.headers["Location"].endswith(f"/s/{code}")
        missing = client.get("/go", query_string={"code": "NOPE00"}, follow_redirects=True)
        assert "没有找到这个短码" in missing.get_data(as_text=True)
