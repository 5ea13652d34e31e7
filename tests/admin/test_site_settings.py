"""Settings without a restart: the public address for QR codes and posters, the organisation's name and
its time zone, set on /admin/settings/ and read on the next request; the environment stays the default."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from survey.core import clock, settings
from survey.models import AuditLog, Setting
from tests.factories import csrf_from

SITE = {settings.PUBLIC_BASE_URL: "", settings.ORG_NAME: "", settings.TIMEZONE: ""}


def _save(client, **values):
    page = client.get("/admin/settings/")
    data = {"csrf_token": csrf_from(page), **SITE}
    data.update({getattr(settings, k): v for k, v in values.items()})
    return client.post("/admin/settings/", data=data)


@pytest.fixture
def campaign(make):
    campaign = make.campaign()
    make.commit()
    return campaign


def test_public_address_is_set_on_the_page_and_printed_at_once(client, auth, session, campaign):
    auth.login_as("analyst")
    dist = f"/admin/distribution/{campaign.id}/"
    html = client.get(dist).get_data(as_text=True)
    assert "data-base-unset" in html and "http://localhost/s/" in html
    assert "公开网址未设置" in client.get(f"/admin/campaigns/{campaign.id}").get_data(as_text=True)
    assert _save(client, PUBLIC_BASE_URL="https://pingyi.city.gov.cn/").status_code == 302
    assert session.get(Setting, settings.PUBLIC_BASE_URL).value == "https://pingyi.city.gov.cn"
    html = client.get(dist).get_data(as_text=True)
    assert "data-base-unset" not in html and f"https://pingyi.city.gov.cn/s/{campaign.short_code}" in html
    assert "公开网址未设置" not in client.get(f"/admin/campaigns/{campaign.id}").get_data(as_text=True)
    zipped = client.get(f"/admin/distribution/{campaign.id}/codes.zip")
    assert zipped.status_code == 200
    audit = session.scalar(select(AuditLog).where(AuditLog.action == "setting.change"))
    assert audit.detail["after"] == "https://pingyi.city.gov.cn"
    # Cleared: back to the default (here unset), the row removed.
    assert _save(client).status_code == 302
    assert session.get(Setting, settings.PUBLIC_BASE_URL) is None
    assert "data-base-unset" in client.get(dist).get_data(as_text=True)


@pytest.mark.parametrize("app_overrides", [{"PUBLIC_BASE_URL": "https://env.example.gov.cn"}])
def test_the_environment_variable_stays_the_default(client, auth, session, campaign):
    auth.login_as("analyst")
    page = client.get("/admin/settings/").get_data(as_text=True)
    assert 'placeholder="https://env.example.gov.cn"' in page
    assert "https://env.example.gov.cn/s/" in client.get(f"/admin/distribution/{campaign.id}/").get_data(as_text=True)
    _save(client, PUBLIC_BASE_URL="https://page.example.gov.cn")
    assert "https://page.example.gov.cn/s/" in client.get(f"/admin/distribution/{campaign.id}/").get_data(as_text=True)


@pytest.mark.parametrize("field,value,message", [
    ("PUBLIC_BASE_URL", "pingyi.city.gov.cn", "公开网址须形如"),
    ("PUBLIC_BASE_URL", "ftp://x.cn", "公开网址须形如"),
    ("PUBLIC_BASE_URL", "https://x.cn/?a=1", "公开网址须形如"),
    ("PUBLIC_BASE_URL", "http://[::1", "公开网址须形如"),
    ("TIMEZONE", "../etc/passwd", "无法识别时区"),
    ("TIMEZONE", "Mars/Olympus", "无法识别时区"),
    ("ORG_NAME", "市" * 101, "最多 100 个字"),
    ("ORG_NAME", "绩效办\x07", "控制字符"),
])
def test_bad_values_are_refused_with_a_message(client, auth, session, field, value, message):
    auth.login_as("analyst")
    refused = _save(client, **{field: value})
    assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Setting)) == 0


def test_organisation_name_shows_in_the_header_and_on_the_home_page(client, auth):
    assert "某某市绩效管理办公室" not in client.get("/").get_data(as_text=True)
    auth.login_as("analyst")
    _save(client, ORG_NAME="  某某市绩效管理办公室 ")
    assert 'class="org">某某市绩效管理办公室<' in client.get("/admin/").get_data(as_text=True)
    auth.logout()
    assert 'class="org-line">某某市绩效管理办公室<' in client.get("/").get_data(as_text=True)


def test_time_zone_takes_effect_on_the_next_request(client, auth, session, make):
    moment = dt.datetime(2026, 12, 31, 20, 30, tzinfo=dt.UTC)  # 2027-01-01 04:30 in Beijing
    make.campaign(title="时区评议", closes_at=moment)
    make.commit()
    auth.login_as("analyst")
    assert "2027-01-01" in client.get("/").get_data(as_text=True)  # the home page shows the closing day
    _save(client, TIMEZONE="Europe/Paris")
    assert settings.get(session, settings.TIMEZONE) == "Europe/Paris"
    html = client.get("/").get_data(as_text=True)
    assert "2026-12-31" in html and "2027-01-01" not in html
    with client.application.test_request_context("/"):
        assert clock.org_timezone() == "Europe/Paris"
        assert clock.org_today(moment) == dt.date(2026, 12, 31)
    _save(client, TIMEZONE="")
    assert "2027-01-01" in client.get("/").get_data(as_text=True)


def test_the_zone_is_read_once_per_request(app, session):
    settings.set_value(session, settings.TIMEZONE, "Asia/Urumqi", None)
    session.commit()
    with app.test_request_context("/"):
        assert clock.org_timezone() == "Asia/Urumqi"
        session.get(Setting, settings.TIMEZONE).value = "Europe/Paris"  # changed behind the cache's back
        session.flush()
        assert clock.org_timezone() == "Asia/Urumqi"
    with app.test_request_context("/"):
        assert clock.org_timezone() == "Europe/Paris"
    session.rollback()


def test_all_settings_are_read_in_one_query_per_request(app, session):
    """The page header, the case rules and the thank-you page share one read; a change made during the
    request is seen at once; another session (a command's) is never served the request's copy."""
    from sqlalchemy import event

    from survey.extensions import db

    settings.set_value(session, settings.ORG_NAME, "某市绩效办", None)
    settings.set_value(session, settings.BAD_LEVEL_MAX, 1, None)
    session.commit()
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with app.test_request_context("/"):
            assert settings.org_name() == "某市绩效办"
            assert settings.site(settings.BAD_LEVEL_MAX) == 1
            assert settings.current(session, settings.DEADLINE_DAYS, settings.BAD_LEVEL_MAX) == [
                settings.get(session, settings.DEADLINE_DAYS), 1]
            assert sum("FROM setting" in s for s in seen) == 2  # one cached read, one plain get()
            settings.set_value(session, settings.BAD_LEVEL_MAX, 3, None)
            assert settings.site(settings.BAD_LEVEL_MAX) == 3
            with db.engine.connect() as other_connection:
                from sqlalchemy.orm import Session

                other = Session(bind=other_connection)
                assert settings.current(other, settings.BAD_LEVEL_MAX) == [1]  # not the request's copy
                other.close()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    session.rollback()
    assert settings.get(session, settings.BAD_LEVEL_MAX) == 1


def test_case_settings_page_still_saves_without_the_site_fields(client, auth, session):
    """A form that sends only the case settings leaves the site settings alone."""
    auth.login_as("analyst")
    _save(client, ORG_NAME="绩效办")
    page = client.get("/admin/settings/")
    ok = client.post("/admin/settings/", data={"csrf_token": csrf_from(page), settings.DEADLINE_DAYS: "7",
                                                settings.BAD_LEVEL_MAX: "2", settings.TAG_SUGGESTIONS: "服务态度"})
    assert ok.status_code == 302 and settings.get(session, settings.ORG_NAME) == "绩效办"
