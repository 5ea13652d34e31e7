"""Against ballot stuffing without identifying anyone: device ledger, rate limit, fingerprint, bursts."""
from __future__ import annotations

import datetime as dt

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from survey.models import Response, ResponseStatus, utcnow
from survey.services.responses import antiabuse
from survey.services.responses.antiabuse import LEDGER_SALT, BurstRule, DeviceLedger
from tests.public.helpers import checked, filled

SECRET = "s" * 64


def _responses(session) -> list[Response]:
    session.expire_all()
    return list(session.scalars(select(Response).order_by(Response.id)))


@pytest.fixture
def windows(make):
    """One campaign over three windows: (campaign, [unit codes])."""
    campaign = make.campaign(units=[make.unit(name=f"窗口{i}") for i in range(3)])
    make.commit()
    return campaign, [cu.short_code for cu in campaign.campaign_units]


def _submit(client, campaign, code, **overrides):
    return client.post(f"/s/{code}", data=filled(campaign.questionnaire, client.get(f"/s/{code}"), **overrides))


class TestOncePerDevice:
    def test_second_rating_of_the_same_unit_is_refused_kindly(self, client, windows, session):
        campaign, codes = windows
        assert _submit(client, campaign, codes[0]).status_code == 303
        page = client.get(f"/s/{codes[0]}")
        assert page.status_code == 200 and "您已评价过" in page.get_data(as_text=True)
        assert 'name="submission_id"' not in page.get_data(as_text=True)  # no questionnaire to fill in vain
        # a page opened before the first submission, sent afterwards
        stale = client.get(f"/s/{codes[1]}")
        client.post(f"/s/{codes[1]}", data=filled(campaign.questionnaire, client.get(f"/s/{codes[1]}")))
        late = client.post(f"/s/{codes[1]}", data=filled(campaign.questionnaire, stale))
        assert late.status_code == 409 and "您已评价过" in late.get_data(as_text=True)
        assert len(_responses(session)) == 2

    def test_other_units_stay_open_and_are_marked_in_the_list(self, client, windows, session):
        campaign, codes = windows
        _submit(client, campaign, codes[0])
        assert _submit(client, campaign, codes[1]).status_code == 303
        html = client.get(f"/s/{campaign.short_code}").get_data(as_text=True)
        assert html.count("已评价") == 2
        assert len(_responses(session)) == 2

    def test_the_cookie_holds_only_ids_and_is_signed(self, app, client, windows):
        campaign, codes = windows
        _submit(client, campaign, codes[0])
        cookie = client.get_cookie("pingyi_rated")
        assert cookie.http_only and cookie.same_site == "Lax"
        payload = URLSafeSerializer(app.config["SECRET_KEY"], salt=LEDGER_SALT).loads(cookie.value)
        assert payload == {str(campaign.id): [campaign.campaign_units[0].unit_id]}
        client.set_cookie("pingyi_rated", cookie.value[:-3] + "abc")  # tampered: reads as empty
        assert "您已评价过" not in client.get(f"/s/{codes[0]}").get_data(as_text=True)

    def test_appraisal_units_rated_on_this_device_are_dropped(self, client, make, session):
        units = [make.unit(name=f"部门{i}") for i in range(3)]
        campaign = make.campaign(units=units, kind="appraisal")
        make.commit()
        rate = f"/s/{campaign.short_code}/rate"
        page = client.get(rate, query_string={"u": units[0].code})
        assert client.post(rate, data=filled(campaign.questionnaire, page, units=units[:1])).status_code == 303
        chooser = client.get(f"/s/{campaign.short_code}").get_data(as_text=True)
        assert f'name="u" value="{units[0].code}"' not in chooser and "已评价" in chooser
        both = client.get(rate, query_string=[("u", units[0].code), ("u", units[1].code)])
        html = both.get_data(as_text=True)
        assert "您在本设备上已经评价过：部门0" in html and f'id="u-{units[0].id}"' not in html
        assert client.get(rate, query_string={"u": units[0].code}).get_data(as_text=True).count("您已评价过") >= 1
        # a page for two units, one of which got rated in another tab meanwhile: answers kept, asked again
        stale = client.get(rate, query_string=[("u", units[1].code), ("u", units[2].code)])
        other_tab = client.get(rate, query_string={"u": units[2].code})
        client.post(rate, data=filled(campaign.questionnaire, other_tab, units=units[2:]))
        sent = client.post(rate, data=filled(campaign.questionnaire, stale, units=units[1:], level="5"))
        assert sent.status_code == 409
        html = sent.get_data(as_text=True)
        assert "部门2" in html and "请核对后再次提交" in html
        sat = next(q for q in campaign.questionnaire.questions if q.per_unit)
        assert checked(html, f"q{sat.id}_u{units[1].id}") == ["5"]
        assert len(_responses(session)) == 2

    def test_ledger_survives_many_campaigns_within_cookie_size(self):
        ledger = DeviceLedger()
        for campaign_id in range(1, 200):
            ledger.add(campaign_id, list(range(campaign_id * 100, campaign_id * 100 + 100)))
        value = ledger.dump(SECRET)
        assert len(value) <= antiabuse.LEDGER_MAX_BYTES
        again = DeviceLedger.load(SECRET, value)
        assert again.has(199, 19950) and not again.has(1, 150)  # the newest kept, the oldest dropped

    @pytest.mark.parametrize("raw", [None, "", "garbage", URLSafeSerializer("other", salt=LEDGER_SALT).dumps({"1": [2]}),
                                     URLSafeSerializer(SECRET, salt=LEDGER_SALT).dumps(["not", "a", "dict"]),
                                     URLSafeSerializer(SECRET, salt=LEDGER_SALT).dumps({"x": [1], "2": "y", "3": [True, 4]})])
    def test_unreadable_ledgers_read_as_empty_or_partial(self, raw):
        ledger = DeviceLedger.load(SECRET, raw)
        assert not ledger.has(1, 2)
        assert ledger.entries in ({}, {3: {4}})


class TestFingerprint:
    def test_stored_fingerprint_is_a_keyed_hash_and_no_address_is_stored(self, app, client, windows, session):
        campaign, codes = windows
        _submit(client, campaign, codes[0])
        response = _responses(session)[0]
        expected = antiabuse.fingerprint(app.config["SECRET_KEY"], "127.0.0.1", "Werkzeug/3.1.9", campaign.id)
        assert response.fingerprint == expected
        row = {c.name: getattr(response, c.key) for c in Response.__table__.columns}
        assert not any("127.0.0.1" in str(v) for v in row.values())
        import hashlib

        assert response.fingerprint != hashlib.sha256(b"127.0.0.1").hexdigest()  # not a plain, guessable hash

    def test_fingerprint_rotates_and_differs_per_campaign(self):
        now = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
        base = antiabuse.fingerprint(SECRET, "10.0.0.1", "UA", 7, now)
        assert len(base) == 64 and int(base, 16) >= 0
        assert antiabuse.fingerprint(SECRET, "10.0.0.1", "UA", 7, now + dt.timedelta(hours=1)) == base
        assert antiabuse.fingerprint(SECRET, "10.0.0.1", "UA", 7, now + dt.timedelta(days=1)) != base
        assert antiabuse.fingerprint(SECRET, "10.0.0.1", "UA", 7, now + dt.timedelta(hours=3), rotation_hours=2) != \
            antiabuse.fingerprint(SECRET, "10.0.0.1", "UA", 7, now, rotation_hours=2)
        assert antiabuse.fingerprint(SECRET, "10.0.0.1", "UA", 8, now) != base
        assert antiabuse.fingerprint(SECRET, "10.0.0.2", "UA", 7, now) != base
        assert antiabuse.fingerprint(SECRET, "10.0.0.1", "UA2", 7, now) != base
        assert antiabuse.fingerprint("t" * 64, "10.0.0.1", "UA", 7, now) != base


@pytest.fixture
def app_overrides():
    return {"BURST_MAX_RESPONSES": 2, "BURST_WINDOW_MINUTES": 10}


class TestBursts:
    def test_burst_is_flagged_never_refused(self, app, windows, session):
        campaign, codes = windows
        statuses = []
        for code in codes:  # three windows from one phone on one network within seconds
            client = app.test_client()
            assert _submit(client, campaign, code).status_code == 303
        statuses = [(r.status, r.status_reason) for r in _responses(session)]
        assert [s for s, _ in statuses] == [ResponseStatus.VALID, ResponseStatus.VALID, ResponseStatus.FLAGGED]
        assert statuses[2][1] == "burst_device"

    def test_another_device_is_not_part_of_the_burst(self, app, windows, session):
        campaign, codes = windows
        for i, code in enumerate(codes):
            client = app.test_client()
            client.environ_base["HTTP_USER_AGENT"] = f"Phone/{i}"
            _submit(client, campaign, code)
        assert {r.status for r in _responses(session)} == {ResponseStatus.VALID}

    def test_old_responses_do_not_count(self, session, make):
        campaign = make.campaign()
        make.commit()
        rule = BurstRule(max_responses=1, window_minutes=10)
        now = utcnow()
        session.add(Response(campaign_id=campaign.id, questionnaire_id=campaign.questionnaire_id, channel="web",
                             submission_id="a" * 20, fingerprint="f" * 64, submitted_at=now - dt.timedelta(minutes=11)))
        session.commit()
        assert antiabuse.assess(session, campaign.id, "f" * 64, rule, now) == (ResponseStatus.VALID, None)
        assert antiabuse.assess(session, campaign.id, "f" * 64, rule, now - dt.timedelta(minutes=5))[0] == ResponseStatus.FLAGGED
        assert antiabuse.assess(session, campaign.id + 1, "f" * 64, rule, now - dt.timedelta(minutes=5))[0] == ResponseStatus.VALID
        assert antiabuse.assess(session, campaign.id, None, rule, now)[0] == ResponseStatus.VALID


def _poster_submit(app, campaign, code, agent: str, address: str = "192.168.1.20"):
    """One phone (its own cookie jar) submitting the poster questionnaire from ``address``."""
    phone = app.test_client()
    phone.environ_base.update({"HTTP_USER_AGENT": agent, "REMOTE_ADDR": address})
    return _submit(phone, campaign, code)


class TestFairBursts:
    """Poster and web links: per address and User-Agent rotation; single-use codes: none of it."""

    @pytest.mark.parametrize("app_overrides", [{}])  # the shipped defaults
    def test_a_busy_hall_on_the_poster_with_one_phone_model_is_valid(self, app, windows, session):
        campaign, codes = windows
        for i in range(7):
            assert _poster_submit(app, campaign, codes[i % 3], "Phone/Same-Model").status_code == 303
        assert {(r.status, r.status_reason) for r in _responses(session)} == {(ResponseStatus.VALID, None)}

    @pytest.mark.parametrize("app_overrides", [{}])
    def test_a_script_rotating_user_agents_from_one_address_is_flagged(self, app, windows, session):
        campaign, codes = windows
        for i in range(12):
            assert _poster_submit(app, campaign, codes[0], f"Mozilla/5.0 Bot/{i}").status_code == 303
        responses = _responses(session)
        assert [r.status for r in responses] == [ResponseStatus.VALID] * 8 + [ResponseStatus.FLAGGED] * 4
        assert {r.status_reason for r in responses[8:]} == {"ua_rotation"}
        assert len({r.address_hash for r in responses}) == 1 and len({r.fingerprint for r in responses}) == 12
        # another address is not part of it
        assert _poster_submit(app, campaign, codes[0], "Mozilla/5.0 Bot/99", "10.9.9.9").status_code == 303
        assert _responses(session)[-1].status == ResponseStatus.VALID

    @pytest.mark.parametrize("app_overrides", [{"ADDRESS_BURST_MAX_RESPONSES": 3, "UA_ROTATION_MAX_AGENTS": 50}])
    def test_the_address_burst_rule_is_configurable(self, app, windows, session):
        campaign, codes = windows
        for i in range(5):
            _poster_submit(app, campaign, codes[i % 3], f"Phone/{i % 2}")
        responses = _responses(session)
        assert [r.status for r in responses] == [ResponseStatus.VALID] * 3 + [ResponseStatus.FLAGGED] * 2
        assert {r.status_reason for r in responses[3:]} == {"burst_address"}

    @pytest.mark.parametrize("app_overrides", [{"BURST_MAX_RESPONSES": 1, "ADDRESS_BURST_MAX_RESPONSES": 1,
                                                "UA_ROTATION_MAX_AGENTS": 1}])
    def test_invitations_are_not_flagged_by_the_address_rules(self, app, make, session):
        from survey.models import Channel, Invitation

        units = [make.unit(name=f"部门{i}") for i in range(2)]
        campaign = make.campaign(units=units, kind="appraisal", channels=[Channel.INVITATION.value])
        make.commit()
        for i in range(4):
            session.add(Invitation(campaign_id=campaign.id, code=f"invitation-code-{i:02d}-abcdefghij", label=f"代表{i}"))
        session.commit()
        for i in range(4):
            phone = app.test_client()
            phone.environ_base["HTTP_USER_AGENT"] = "Phone/Same-Model"  # one fingerprint for all four
            path = f"/i/invitation-code-{i:02d}-abcdefghij"
            page = phone.get(path, query_string={"u": units[0].code})
            assert phone.post(path, data=filled(campaign.questionnaire, page, units=units[:1])).status_code == 303
        responses = _responses(session)
        assert len(responses) == 4 and {r.status for r in responses} == {ResponseStatus.VALID}
