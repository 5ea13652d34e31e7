"""Issue 14 item 5: the "already stored" shortcut and the thank-you page's follow-up are honoured only
for the browser session that made the submission, and only after the CSRF check and the rate limit.

Before, anyone who guessed a submission id (an imported response's was an unkeyed hash of the
campaign id and the 答卷编号) reached its thank-you page, learned whether it was a 差评, and could
attach a phone number to the stranger's case.
"""
from __future__ import annotations

import time

import pytest
from flask import current_app
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from survey.models import Answer, Channel, FollowUpContact, Response
from survey.public.thanks import FOLLOW_UP_SALT
from tests.factories import csrf_from
from tests.public.helpers import filled

STRANGERS_ID = "imp-" + "3" * 40  # as an import before issue 14 stored it: computable from the 答卷编号


@pytest.fixture
def window(make):
    campaign = make.campaign()
    make.commit()
    return campaign, campaign.campaign_units[0].short_code


@pytest.fixture
def strangers_complaint(session, window):
    """An imported 差评 (level 1 on every satisfaction question) with a guessable id."""
    campaign, _code = window
    unit = campaign.campaign_units[0].unit
    response = Response(campaign_id=campaign.id, questionnaire_id=campaign.questionnaire_id, unit_id=unit.id,
                        channel=Channel.PAPER, submission_id=STRANGERS_ID)
    response.answers = [Answer(campaign_id=campaign.id, unit_id=unit.id, question_id=q.id, level=1)
                        for q in campaign.questionnaire.questions if q.type.value == "satisfaction"]
    session.add(response)
    session.commit()
    return response.id


def _responses(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Response))


def test_a_guessed_id_reaches_neither_the_thank_you_page_nor_the_follow_up(client, window, session,
                                                                             strangers_complaint):
    campaign, code = window
    page = client.get(f"/s/{code}")
    data = filled(campaign.questionnaire, page, level="5", submission_id=STRANGERS_ID)  # a valid CSRF token
    posted = client.post(f"/s/{code}", data=data)
    # Taken as a submission of its own (the answers are real answers), under a fresh id.
    assert posted.status_code == 303
    assert _responses(session) == 2
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Response).where(Response.submission_id == STRANGERS_ID)) == 1
    thanks = client.get(posted.headers["Location"]).get_data(as_text=True)
    assert "感谢您的评价" in thanks
    assert 'name="phone"' not in thanks  # the stranger's 差评 is not revealed: no follow-up offer


def test_a_follow_up_token_for_a_strangers_response_attaches_nothing(app, client, window, session,
                                                                      strangers_complaint):
    _campaign, code = window
    page = client.get(f"/s/{code}")  # any page of ours gives this session a CSRF token
    with app.app_context():
        token = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=FOLLOW_UP_SALT).dumps(STRANGERS_ID)
    form = {"csrf_token": csrf_from(page), "token": token, "phone": "13812345678", "consent": "y"}
    assert client.post(f"/thanks/{code}", data=form).status_code == 404
    assert session.scalar(select(func.count()).select_from(FollowUpContact)) == 0


def test_a_guessed_id_of_another_campaign_is_not_remembered(client, make, session, strangers_complaint, window):
    _campaign, code = window
    other = make.campaign()
    make.commit()
    other_code = other.campaign_units[0].short_code
    data = filled(other.questionnaire, client.get(f"/s/{other_code}"), level="5", submission_id=STRANGERS_ID)
    assert client.post(f"/s/{other_code}", data=data).status_code == 303
    assert 'name="phone"' not in client.get(f"/thanks/{code}").get_data(as_text=True)


def test_the_submitter_still_gets_the_follow_up(client, window, session):
    campaign, code = window
    page = client.get(f"/s/{code}")
    data = filled(campaign.questionnaire, page, level="1")
    assert client.post(f"/s/{code}", data=data).status_code == 303
    again = client.post(f"/s/{code}", data=data)  # double tap
    assert again.status_code == 303 and _responses(session) == 1
    assert 'name="phone"' in client.get(again.headers["Location"]).get_data(as_text=True)


def test_the_shortcut_runs_after_the_csrf_check(client, window, session, monkeypatch):
    campaign, code = window
    data = filled(campaign.questionnaire, client.get(f"/s/{code}"))
    assert client.post(f"/s/{code}", data=data).status_code == 303
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) + 7200)  # token expired
    late = client.post(f"/s/{code}", data=data)
    assert late.status_code != 303 and _responses(session) == 1


class TestRateLimited:
    @pytest.fixture
    def app_overrides(self):
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_SUBMIT": "1 per minute"}

    def test_the_shortcut_runs_after_the_rate_limit(self, client, window, session):
        campaign, code = window
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"))
        assert client.post(f"/s/{code}", data=data).status_code == 303
        limited = client.post(f"/s/{code}", data=data)  # the same submission, over the limit
        assert limited.status_code == 429 and _responses(session) == 1


def test_a_used_desk_code_replayed_by_another_browser_is_only_already_rated(app, session, make):
    """The desk link's own retry check is for the browser that used the code, too."""
    from survey.services.campaigns import desk_tokens
    from tests.desk.answers import form_for

    campaign = make.campaign()
    make.commit()
    window = campaign.campaign_units[0].unit
    clerk = make.user("desk", unit=window)
    token = desk_tokens.issue(session, campaign.campaign_units[0], clerk, minutes=30)
    session.commit()
    path = f"/d/{desk_tokens.sign(app.config['SECRET_KEY'], token)}"
    phone = app.test_client()
    data = form_for(phone.get(path), campaign.questionnaire, [window])
    assert phone.post(path, data=data).status_code == 303
    assert phone.post(path, data=data).status_code == 303  # the same phone's double tap
    stranger = app.test_client()
    stranger.get("/")
    replay = stranger.post(path, data=data)
    assert replay.status_code == 410 and _responses(session) == 1
