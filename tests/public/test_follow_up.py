"""After a 差评: an optional phone number for follow-up, only with consent, kept apart from the answers."""
from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from survey.models import Answer, FollowUpContact, Response
from survey.services.responses.follow_up import normalise_phone
from tests.factories import csrf_from, hidden_from
from tests.public.helpers import filled


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("0571-87654321", "0571-87654321"),
        ("(0571) 8765 4321", "0571-87654321"),
        ("010-12345678", "010-12345678"),
        ("02112345678", "021-12345678"),
        ("0898-1234567", "0898-1234567"),
        ("12812345678", None),  # no mobile numbers start 12
        ("1381234567", None),
        ("138123456789", None),
        ("87654321", None),  # a landline needs its area code
        ("abc", None),
        ("", None),
        (None, None),
        ("０１０-12345678", "010-12345678"),  # full-width digits, as Chinese input methods type them
        ("١٣٨١٢٣٤٥٦٧٨", None),  # other scripts' digits are not phone numbers
    ],
)
def test_phone_numbers(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.fixture
def window(make):
    campaign = make.campaign()
    make.commit()
    return campaign, campaign.campaign_units[0].short_code


def _rate(client, campaign, code, level):
    posted = client.post(f"/s/{code}", data=filled(campaign.questionnaire, client.get(f"/s/{code}"), level=level))
    assert posted.status_code == 303
    return client.get(posted.headers["Location"])


@pytest.mark.parametrize("level, offered", [("5", False), ("3", False), ("2", True), ("1", True)])
def test_offer_only_after_a_bad_rating(client, window, level, offered):
    campaign, code = window
    html = _rate(client, campaign, code, level).get_data(as_text=True)
    assert "感谢您的评价" in html
    assert ('name="phone"' in html) is offered
    if offered:
        assert 'type="tel"' in html and 'autocomplete="tel"' in html and 'name="consent"' in html


def test_the_organisations_bad_rating_level_decides(client, window, session):
    """With 差评 set to 非常不满意 only (the setting cases use too), 不满意 gets no offer."""
    from survey.core import settings

    settings.set_value(session, settings.BAD_LEVEL_MAX, 1, actor=None)
    session.commit()
    campaign, code = window
    assert 'name="phone"' not in _rate(client, campaign, code, "2").get_data(as_text=True)


def test_the_setting_of_the_moment_decides_not_the_one_at_submission(client, window, session):
    """The thank-you page of a response without a 差评 reads nothing about it (its lowest level is noted in the
    session); the note is compared with the setting when the page is shown."""
    from survey.core import settings

    campaign, code = window
    assert 'name="phone"' not in _rate(client, campaign, code, "3").get_data(as_text=True)
    settings.set_value(session, settings.BAD_LEVEL_MAX, 3, actor=None)
    session.commit()
    thanks = client.get(f"/thanks/{code}").get_data(as_text=True)
    assert 'name="phone"' in thanks


def test_a_session_without_the_note_still_reads_the_stored_answers(client, window):
    """A session from before the note (or with a note about another submission) falls back to the database."""
    from survey.public.questionnaire import THANKS_LOWEST_KEY

    campaign, code = window
    assert 'name="phone"' in _rate(client, campaign, code, "1").get_data(as_text=True)
    with client.session_transaction() as browser:
        browser.pop(THANKS_LOWEST_KEY)
    assert 'name="phone"' in client.get(f"/thanks/{code}").get_data(as_text=True)
    with client.session_transaction() as browser:
        browser[THANKS_LOWEST_KEY] = ["another-submission-id", 5]
    assert 'name="phone"' in client.get(f"/thanks/{code}").get_data(as_text=True)


def test_one_dont_know_among_good_levels_is_no_bad_rating(client, window):
    campaign, code = window
    sat = campaign.questionnaire.questions[1]
    page = client.get(f"/s/{code}")
    posted = client.post(f"/s/{code}", data=filled(campaign.questionnaire, page, **{f"q{sat.id}": "dk"}))
    assert 'name="phone"' not in client.get(posted.headers["Location"]).get_data(as_text=True)


def test_phone_stored_apart_with_consent(client, window, session):
    campaign, code = window
    thanks = _rate(client, campaign, code, "1")
    form = {"csrf_token": csrf_from(thanks), "token": hidden_from(thanks, "token"),
            "phone": "138 1234 5678", "consent": "y"}
    saved = client.post(f"/thanks/{code}", data=form)
    assert saved.status_code == 303
    after = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "已收到您的电话" in after and 'name="phone"' not in after
    contact = session.scalar(select(FollowUpContact))
    response = session.scalar(select(Response))
    assert contact.response_id == response.id and contact.phone == "13812345678"
    assert contact.delete_after - contact.consented_at == dt.timedelta(days=90)
    assert not any("1381234" in (a.text or "") for a in session.scalars(select(Answer)))
    # a double tap (or a corrected number) keeps one row
    form["phone"] = "0571-87654321"
    assert client.post(f"/thanks/{code}", data=form).status_code == 303
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(FollowUpContact)) == 1
    assert session.scalar(select(FollowUpContact.phone)) == "0571-87654321"


@pytest.mark.parametrize(
    "phone, consent, message",
    [
        ("13812345678", None, "请勾选同意"),
        ("", "y", "请填写电话号码"),
        ("12345", "y", "请填写有效的手机号码"),
        ("1" * 40, "y", "电话号码太长"),
    ],
)
def test_nothing_stored_without_consent_or_a_valid_number(client, window, session, phone, consent, message):
    campaign, code = window
    thanks = _rate(client, campaign, code, "2")
    form = {"csrf_token": csrf_from(thanks), "token": hidden_from(thanks, "token"), "phone": phone}
    if consent:
        form["consent"] = consent
    response = client.post(f"/thanks/{code}", data=form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and f'value="{phone}"' in html  # what was typed is kept
    assert session.scalar(select(func.count()).select_from(FollowUpContact)) == 0


def test_forged_or_foreign_token_stores_nothing(client, window, make, session):
    campaign, code = window
    thanks = _rate(client, campaign, code, "1")
    form = {"csrf_token": csrf_from(thanks), "token": "forged", "phone": "13812345678", "consent": "y"}
    refused = client.post(f"/thanks/{code}", data=form, follow_redirects=True)
    assert "回访登记已过期" in refused.get_data(as_text=True)
    other = make.campaign()
    make.commit()
    form["token"] = hidden_from(thanks, "token")
    assert client.post(f"/thanks/{other.campaign_units[0].short_code}", data=form).status_code == 404
    assert session.scalar(select(func.count()).select_from(FollowUpContact)) == 0


def test_expired_csrf_on_the_follow_up_keeps_the_number(client, window, session, monkeypatch):
    campaign, code = window
    thanks = _rate(client, campaign, code, "1")
    form = {"csrf_token": csrf_from(thanks), "token": hidden_from(thanks, "token"), "phone": "13812345678", "consent": "y"}
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) + 7200)
    response = client.post(f"/thanks/{code}", data=form)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "安全校验已过期" in html and 'value="13812345678"' in html
    form["csrf_token"] = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    assert client.post(f"/thanks/{code}", data=form).status_code == 303
    assert session.scalar(select(func.count()).select_from(FollowUpContact)) == 1


def test_thanks_page_without_a_submission_offers_nothing(client, window):
    _campaign, code = window
    html = client.get(f"/thanks/{code}").get_data(as_text=True)
    assert "感谢您的评价" in html and 'name="phone"' not in html


def test_each_offer_has_its_own_tokens_and_reads_nothing_about_the_response(app, window, session):
    """The offer is rendered once per process; each 差评's page gets its own CSRF token and signed
    submission id in place of their marks, and the number is attached to that browser's response."""
    from tests.public.helpers import statements

    campaign, code = window
    pages, phones = [], []
    for i in range(2):
        phone = app.test_client()
        phone.environ_base["HTTP_USER_AGENT"] = f"Phone/{i}"
        posted = phone.post(f"/s/{code}", data=filled(campaign.questionnaire, phone.get(f"/s/{code}"), level="1"))
        with statements() as seen:
            page = phone.get(posted.headers["Location"])
        assert page.status_code == 200 and 'name="phone"' in page.get_data(as_text=True)
        assert not any("FROM response" in s or "FROM answer" in s for s in seen), seen
        pages.append(page)
        phones.append(phone)
    tokens = [(csrf_from(p), hidden_from(p, "token")) for p in pages]
    assert tokens[0][0] != tokens[1][0] and tokens[0][1] != tokens[1][1]
    assert all("@@" not in p.get_data(as_text=True) for p in pages)
    shown = [p.get_data(as_text=True).replace(c, "C").replace(t, "T") for p, (c, t) in zip(pages, tokens, strict=True)]
    assert shown[0] == shown[1]  # one page but for the two tokens
    for phone, (csrf, token), number in zip(phones, reversed(tokens), ("13812345678", "13912345678"), strict=True):
        # the other browser's offer is refused: a number is attached only by the session that made the response
        assert phone.post(f"/thanks/{code}", data={"csrf_token": csrf, "token": token, "phone": number,
                                                   "consent": "y"}).status_code in (400, 404)
    for phone, (csrf, token), number in zip(phones, tokens, ("13812345678", "13912345678"), strict=True):
        assert phone.post(f"/thanks/{code}", data={"csrf_token": csrf, "token": token, "phone": number,
                                                   "consent": "y"}).status_code == 303
    responses = session.scalars(select(Response).order_by(Response.id)).all()
    contacts = {c.response_id: c.phone for c in session.scalars(select(FollowUpContact))}
    assert contacts == {responses[0].id: "13812345678", responses[1].id: "13912345678"}


def test_a_warm_offer_builds_no_form(app, window, monkeypatch):
    """The offer's page comes from the worker's cache: the form is built for the first 差评 only."""
    from survey.public import forms

    campaign, code = window
    built = []
    original = forms.FollowUpForm.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(forms.FollowUpForm, "__init__", counting)
    pages = []
    for i in range(3):
        phone = app.test_client()
        phone.environ_base["HTTP_USER_AGENT"] = f"Phone/{i}"
        pages.append(_rate(phone, campaign, code, "1"))
    assert len(built) == 1
    assert all('name="phone"' in p.get_data(as_text=True) and "@@" not in p.get_data(as_text=True) for p in pages)
    assert len({hidden_from(p, "token") for p in pages}) == 3 and len({csrf_from(p) for p in pages}) == 3


def test_a_bad_rating_noted_for_another_campaign_reads_the_stored_answers(client, window, make):
    """The note names its campaign: the thank-you page of another campaign does not trust it."""
    from survey.public.questionnaire import THANKS_KEY, THANKS_LOWEST_KEY

    campaign, code = window
    other = make.campaign()
    make.commit()
    assert 'name="phone"' in _rate(client, campaign, code, "1").get_data(as_text=True)
    with client.session_transaction() as browser:
        note = browser[THANKS_LOWEST_KEY]
        assert note[0] == browser[THANKS_KEY] and note[2] == campaign.id
    # The same browser's note, shown on the other campaign's thank-you page: its last submission is not there.
    assert 'name="phone"' not in client.get(f"/thanks/{other.campaign_units[0].short_code}").get_data(as_text=True)
