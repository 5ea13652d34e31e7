"""A questionnaire sent by the page's script (``?js=1``) is answered with the thank-you page itself; without
the script, a 303 to ``/thanks/<code>`` (post/redirect/get). Either way the same page, the same offer."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from survey.models import Answer, FollowUpContact, Response
from tests.factories import csrf_from, hidden_from
from tests.public.helpers import filled


@pytest.fixture
def window(make):
    campaign = make.campaign()
    make.commit()
    return campaign, campaign.campaign_units[0].short_code


def _send(client, campaign, code, level, script=True, **extra):
    data = filled(campaign.questionnaire, client.get(f"/s/{code}"), level=level, **extra)
    return client.post(f"/s/{code}?js=1" if script else f"/s/{code}", data=data), data


def _count(session, model):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def _same_page(html: str) -> str:
    """A thank-you page without what is each visitor's own (CSRF token, signed submission id)."""
    html = re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", html)
    return re.sub(r'name="token" type="hidden" value="[^"]*"', "", html)


@pytest.mark.parametrize("level, offered", [("5", False), ("2", True)])
def test_the_scripts_submission_is_answered_with_the_thank_you_page(client, window, session, level, offered):
    campaign, code = window
    reply, _ = _send(client, campaign, code, level)
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "Location" not in reply.headers
    assert "感谢您的评价！" in html and ('name="phone"' in html) is offered
    assert reply.headers["Cache-Control"] == "private, no-store"  # never kept: it carries this visitor's token
    assert _count(session, Response) == 1
    # The page's own address, for the script's history.replaceState; its forms and links name it, not the
    # questionnaire's address it was answered at.
    assert f'data-url="/thanks/{code}"' in html
    assert f'href="/thanks/{code}?lang=en"' in html and "/s/" + code + "?js=1&amp;lang" not in html
    if offered:
        assert f'<form method="post" action="/thanks/{code}"' in html


@pytest.mark.parametrize("level", ["5", "1"])
def test_the_same_page_as_after_the_redirect(client, app, window, level):
    """The page answered to the script's submission is the one ``/thanks/<code>`` shows to that browser
    (a reload after ``history.replaceState`` asks for it), the offer included."""
    campaign, code = window
    inline, _ = _send(client, campaign, code, level)
    again = client.get(f"/thanks/{code}")
    assert _same_page(inline.get_data(as_text=True)) == _same_page(again.get_data(as_text=True))
    other = app.test_client()
    redirected, _ = _send(other, campaign, code, level, script=False)
    assert redirected.status_code == 303 and redirected.headers["Location"] == f"/thanks/{code}"
    followed = other.get(redirected.headers["Location"])
    assert _same_page(followed.get_data(as_text=True)) == _same_page(inline.get_data(as_text=True))


def test_the_offer_takes_a_number_for_that_submission(client, window, session):
    campaign, code = window
    thanks, _ = _send(client, campaign, code, "1")
    form = {"csrf_token": csrf_from(thanks), "token": hidden_from(thanks, "token"),
            "phone": "138 1234 5678", "consent": "y"}
    saved = client.post(f"/thanks/{code}", data=form)
    assert saved.status_code == 303 and saved.headers["Location"] == f"/thanks/{code}"
    [contact] = session.scalars(select(FollowUpContact)).all()
    response = session.scalars(select(Response)).one()
    assert contact.response_id == response.id and contact.phone == "13812345678"


def test_a_second_tap_is_stored_once_and_answered_with_the_page_again(client, window, session):
    campaign, code = window
    first, data = _send(client, campaign, code, "2")
    answers = _count(session, Answer)
    second = client.post(f"/s/{code}?js=1", data=data)
    assert second.status_code == 200 and 'name="phone"' in second.get_data(as_text=True)
    assert _count(session, Response) == 1 and _count(session, Answer) == answers
    assert hidden_from(second, "token") and hidden_from(first, "token")


def test_in_english(client, window):
    campaign, code = window
    client.get(f"/s/{code}?lang=en")
    reply, _ = _send(client, campaign, code, "5")
    html = reply.get_data(as_text=True)
    assert "Thank you" in html and f'href="/thanks/{code}?lang=zh"' in html
