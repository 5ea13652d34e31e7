"""A citizen scans the desk's code: the window's questionnaire, channel desk, once per code."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from survey.models import Channel, DeskToken, Response, utcnow
from survey.services.campaigns import desk_tokens
from tests.desk.answers import form_for
from tests.desk.test_desk_page import press_next, qr_url_on


@pytest.fixture
def window(make):
    return make.unit(code="CK-BDC", name="不动产登记窗口", window_no="12")


@pytest.fixture
def other_window(make):
    return make.unit(code="CK-SB", name="社保医保窗口", window_no="5")


@pytest.fixture
def campaign(make, window, other_window):
    campaign = make.campaign(units=[window, other_window], title="政务服务满意度评议",
                             channels=[Channel.POSTER.value, Channel.DESK.value])
    make.commit()
    return campaign


@pytest.fixture
def shown_code(app, client, auth, window, campaign):
    """The clerk at window 12 presses "next person"; the path of the code on screen."""
    clerk = auth.login_as("desk", unit=window)
    press_next(client)
    url = qr_url_on(client.get("/desk/"))
    return url.replace("http://localhost", ""), clerk


def responses(session) -> list[Response]:
    session.expire_all()
    return list(session.scalars(select(Response)))


def test_the_scripts_submission_is_answered_with_the_thank_you_page(app, session, window, campaign, shown_code):
    """As on a poster's page: the phone's script sends ``?js=1`` and gets the thank-you page, no redirect;
    the code is used, the rating stored once."""
    path, clerk = shown_code
    phone = app.test_client()
    page = phone.get(path)
    reply = phone.post(path + "?js=1", data=form_for(page, campaign.questionnaire, [window]))
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "感谢您的评价！" in html
    assert 'data-url="/thanks/' in html
    [stored] = responses(session)
    assert stored.channel == Channel.DESK and stored.staff_user_id == clerk.id
    assert session.scalars(select(DeskToken)).one().used_at is not None


def test_scan_rate_and_the_desk_notices(app, client, session, window, campaign, shown_code):
    path, clerk = shown_code
    phone = app.test_client()
    page = phone.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "不动产登记窗口" in html and "社保医保窗口" not in html
    reply = phone.post(path, data=form_for(page, campaign.questionnaire, [window]))
    assert reply.status_code in (302, 303), reply.get_data(as_text=True)[:400]
    [stored] = responses(session)
    token = session.scalars(select(DeskToken)).one()
    assert stored.channel == Channel.DESK
    assert (stored.unit_id, stored.staff_user_id, stored.desk_token_id) == (window.id, clerk.id, token.id)
    assert stored.campaign_id == campaign.id
    assert token.used_at is not None
    assert {a.unit_id for a in stored.answers} == {window.id}
    # The desk's poll sees it.
    assert client.get(f"/desk/token/{token.id}/status").json["state"] == "used"


def test_a_used_code_cannot_be_used_again(app, session, window, campaign, shown_code):
    path, _clerk = shown_code
    phone = app.test_client()
    page = phone.get(path)
    first = form_for(page, campaign.questionnaire, [window])
    assert phone.post(path, data=first).status_code in (302, 303)
    again = app.test_client().get(path)
    assert again.status_code == 410 and "已经评价过了" in again.get_data(as_text=True)
    # The same phone posting a second, different submission: refused, nothing stored.
    second = dict(first, submission_id="another-submission-id-0123456789")
    refused = phone.post(path, data=second)
    assert refused.status_code == 410
    assert len(responses(session)) == 1


def test_a_double_tap_on_submit_goes_to_the_thank_you_page(app, session, window, campaign, shown_code):
    path, _clerk = shown_code
    phone = app.test_client()
    data = form_for(phone.get(path), campaign.questionnaire, [window])
    assert phone.post(path, data=data).status_code in (302, 303)
    repeat = phone.post(path, data=data)
    assert repeat.status_code in (302, 303) and "/thanks/" in repeat.headers["Location"]
    assert len(responses(session)) == 1


def test_each_transaction_may_be_rated_from_the_same_phone(app, client, session, window, campaign, shown_code):
    """The one-rating-per-device rule of poster codes does not apply to desk codes."""
    path, _clerk = shown_code
    phone = app.test_client()
    assert phone.post(path, data=form_for(phone.get(path), campaign.questionnaire, [window])).status_code in (302, 303)
    press_next(client)
    second_path = qr_url_on(client.get("/desk/")).replace("http://localhost", "")
    assert second_path != path
    page = phone.get(second_path)
    assert page.status_code == 200
    assert phone.post(second_path, data=form_for(page, campaign.questionnaire, [window])).status_code in (302, 303)
    assert len(responses(session)) == 2


def test_an_expired_code(app, session, window, campaign, shown_code):
    path, _clerk = shown_code
    token = session.scalars(select(DeskToken)).one()
    token.expires_at = utcnow() - dt.timedelta(seconds=1)
    session.commit()
    page = app.test_client().get(path)
    assert page.status_code == 410 and "已过期" in page.get_data(as_text=True)


# A code that expires while its questionnaire is open: tests/desk/test_desk_integrity.py (grace period).


@pytest.mark.parametrize("path", ["/d/garbage", "/d/", "/d/eyJhIjoxfQ.AAAA.BBBB"])
def test_forged_codes_are_not_found(client, path):
    assert client.get(path).status_code == 404


def test_two_phones_submitting_the_same_code_at_once_store_exactly_one(app, session, window, campaign, shown_code):
    path, _clerk = shown_code
    phones = [app.test_client(), app.test_client()]
    forms = [form_for(p.get(path), campaign.questionnaire, [window]) for p in phones]
    assert forms[0]["submission_id"] != forms[1]["submission_id"]
    barrier = threading.Barrier(2, timeout=20)
    statuses: list[int] = []

    def submit(i: int) -> None:
        barrier.wait()
        statuses.append(phones[i].post(path, data=forms[i]).status_code)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) in ([303, 409], [303, 410], [302, 409], [302, 410]), statuses
    assert session.scalar(select(func.count()).select_from(Response)) == 1


def test_a_window_taken_out_of_the_campaign_voids_its_codes(app, session, window, campaign, shown_code):
    path, _clerk = shown_code
    cu = next(cu for cu in campaign.campaign_units if cu.unit_id == window.id)
    session.delete(cu)
    session.commit()
    assert app.test_client().get(path).status_code == 404


def test_the_signed_token_is_bound_to_the_secret(app, session, shown_code):
    path, _clerk = shown_code
    token = session.scalars(select(DeskToken)).one()
    assert desk_tokens.lookup(session, "other" * 10, path.rsplit("/", 1)[1]).state.value == "invalid"
    assert desk_tokens.lookup(session, app.config["SECRET_KEY"], path.rsplit("/", 1)[1]).token.id == token.id


def test_codes_stop_working_when_the_campaign_drops_the_desk_channel(app, session, campaign, shown_code):
    path, _clerk = shown_code
    campaign.channels = [Channel.POSTER.value]
    session.commit()
    page = app.test_client().get(path)
    assert page.status_code == 403 and "不再收集" in page.get_data(as_text=True)


def test_a_closed_campaign_takes_no_desk_rating(app, session, campaign, shown_code):
    from survey.models import CampaignStatus

    path, _clerk = shown_code
    campaign.status = CampaignStatus.CLOSED
    session.commit()
    assert app.test_client().get(path).status_code == 410
