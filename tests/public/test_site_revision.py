"""What a worker keeps per site revision (survey.core.revision): a short code's campaign and unit and the
settings are read once, and every change to them, by any writer, is seen by the next request."""
from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from survey.core import revision, settings
from survey.models import CampaignStatus, CampaignUnit
from survey.services.campaigns import lookup
from tests.public.helpers import SITE_REVISION, statements


def _window(make):
    campaign = make.campaign()
    make.commit()
    return campaign, campaign.campaign_units[0]


def _token(session) -> int | None:
    return session.execute(text("SELECT token FROM site_revision")).scalar()


@pytest.fixture(autouse=True)
def _cold():
    revision.clear()


def test_a_change_by_the_app_is_seen_by_the_next_page(client, make, session):
    campaign, cu = _window(make)
    assert client.get(f"/s/{cu.short_code}").status_code == 200
    with statements() as warm:
        assert client.get(f"/s/{cu.short_code}").status_code == 200
    assert warm == [SITE_REVISION]
    campaign.status = CampaignStatus.PAUSED
    session.commit()
    assert client.get(f"/s/{cu.short_code}").status_code == 503


def test_a_change_by_any_writer_is_seen_raw_sql_included(client, make, session):
    _campaign, cu = _window(make)
    code, cu_id, unit_id = cu.short_code, cu.id, cu.unit_id
    assert "新名字" not in client.get(f"/s/{code}").get_data(as_text=True)
    session.execute(text("UPDATE unit SET name = '新名字的窗口' WHERE id = :id"), {"id": unit_id})
    session.commit()
    assert "新名字的窗口" in client.get(f"/s/{code}").get_data(as_text=True)
    session.execute(text("DELETE FROM campaign_unit WHERE id = :id"), {"id": cu_id})
    session.commit()
    assert client.get(f"/s/{code}").status_code == 404


def test_a_setting_changed_on_its_page_shows_at_once(client, make, session):
    _campaign, cu = _window(make)
    assert "某某市绩效办" not in client.get(f"/s/{cu.short_code}").get_data(as_text=True)
    settings.set_value(session, settings.ORG_NAME, "某某市绩效办", None)
    session.commit()
    assert "某某市绩效办" in client.get(f"/s/{cu.short_code}").get_data(as_text=True)


def test_an_uncommitted_or_rolled_back_change_keeps_the_token_a_commit_changes_it(make, session):
    campaign, _cu = _window(make)
    before = _token(session)
    assert before is not None
    with Session(session.get_bind()) as other:  # a second connection: another worker
        other.get(type(campaign), campaign.id).title = "改了标题"
        other.flush()
        assert _token(session) == before  # the other connection's change is not committed yet
        other.rollback()
        assert _token(session) == before
        other.get(type(campaign), campaign.id).title = "改了标题"
        other.commit()
    assert _token(session) not in (before, None)


def test_without_the_revision_row_nothing_is_kept_and_the_next_change_writes_it(client, make, session):
    campaign, cu = _window(make)
    session.execute(text("DELETE FROM site_revision"))
    session.commit()
    for _ in range(2):
        with statements() as seen:
            assert client.get(f"/s/{cu.short_code}").status_code == 200
        assert any("FROM campaign_unit" in s for s in seen), seen  # read every time
    campaign.status = CampaignStatus.PAUSED
    session.commit()
    assert _token(session) is not None
    assert client.get(f"/s/{cu.short_code}").status_code == 503


def test_kept_objects_are_detached_loaded_and_shared(app, make, session):
    _campaign, cu = _window(make)
    from survey.extensions import db

    found = []
    for _ in range(2):
        with app.test_request_context("/"):
            found.append(lookup.resolve_code(db.session, cu.short_code))
            db.session.remove()
    first, second = found
    assert first is second  # the second request read nothing
    for obj in (first.campaign, first.campaign_unit, first.unit, first.campaign.questionnaire):
        state = inspect(obj)
        assert state.detached and not state.expired_attributes and not state.unloaded - {"campaign_units", "preset_group", "category", "parent", "children", "questions"}
    assert isinstance(first.campaign_unit, CampaignUnit) and first.campaign_unit.unit is first.unit


def test_the_calendar_is_read_once_per_revision_and_a_new_holiday_moves_the_next_deadline(app, make, session):
    """A 差评's deadline counts working days by the kept calendar; a holiday added by any writer (raw SQL
    here) counts for the next case, and a warm 差评 reads no calendar."""
    import datetime as dt

    from sqlalchemy import select

    from survey.core.clock import local_date, org_timezone
    from survey.models import Case, Response, utcnow
    from tests.public.helpers import filled

    campaign, cu = _window(make)

    def bad_rating(n: int) -> tuple[dt.date, list[str]]:
        phone = app.test_client()
        phone.environ_base.update(HTTP_USER_AGENT=f"Phone/{n}", REMOTE_ADDR=f"10.0.0.{n}")
        data = filled(campaign.questionnaire, phone.get(f"/s/{cu.short_code}"), level="1")
        with statements() as seen:
            assert phone.post(f"/s/{cu.short_code}", data=data).status_code == 303
        newest = session.scalar(select(Response.id).order_by(Response.id.desc()).limit(1))
        return session.scalar(select(Case.due_on).where(Case.response_id == newest)), seen

    first, _ = bad_rating(1)
    second, seen = bad_rating(2)
    assert second == first and not any("FROM holiday" in s for s in seen), seen
    today = local_date(utcnow(), org_timezone())
    weekday = next(today + dt.timedelta(days=d) for d in range(1, 8) if (today + dt.timedelta(days=d)).weekday() < 5)
    session.execute(text("INSERT INTO holiday (day, kind, name) VALUES (:day, 'holiday', '临时假日')"), {"day": weekday})
    session.commit()
    third, seen = bad_rating(3)
    assert third > first and any("FROM holiday" in s for s in seen), seen
