"""Retention: follow-up phones, fingerprints and invitation phones go on schedule, nothing else does."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from survey.models import (
    AuditLog,
    Case,
    CaseKind,
    CaseState,
    Channel,
    FollowUpContact,
    Invitation,
    Response,
    ResponseStatus,
    utcnow,
)
from survey.services.ops.retention import RetentionPolicy, apply_retention

NOW = dt.datetime(2026, 12, 1, 4, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
POLICY = RetentionPolicy(fingerprint_days=30, invitation_phone_days=30)


def _response(session, campaign, n: int, submitted_at: dt.datetime) -> Response:
    response = Response(campaign_id=campaign.id, questionnaire_id=campaign.questionnaire_id, channel=Channel.WEB,
                        status=ResponseStatus.FLAGGED, status_reason="burst", submission_id=f"retention-test-{n:08d}",
                        fingerprint=f"{n:064x}", address_hash=f"{n:064x}", device_hash=f"{n:064x}",
                        submitted_at=submitted_at)
    session.add(response)
    session.flush()
    return response


def _case(session, response: Response, unit, state: CaseState, now: dt.datetime) -> Case:
    case = Case(unit_id=unit.id, campaign_id=response.campaign_id, response_id=response.id,
                dedup_key=f"bad:{response.id}:{unit.id}", kind=CaseKind.BAD_RATING, state=state, summary="差评",
                opened_on=now.date(), due_on=now.date())
    session.add(case)
    return case


def _world(session, make, now: dt.datetime = NOW):
    unit = make.unit()
    live = make.campaign(units=[unit], opens_at=now - 90 * DAY, closes_at=now + 10 * DAY)
    old = make.campaign(units=[unit], opens_at=now - 120 * DAY, closes_at=now - 31 * DAY)
    recent = make.campaign(units=[unit], opens_at=now - 60 * DAY, closes_at=now - 29 * DAY)
    r_old = _response(session, live, 1, now - 31 * DAY)  # fingerprint past 30 days
    r_new = _response(session, live, 2, now - 29 * DAY)  # still within
    r_closed = _response(session, live, 3, now - 2 * DAY)
    r_open = _response(session, live, 4, now - 2 * DAY)
    r_nocase = _response(session, live, 5, now - 2 * DAY)
    _case(session, r_closed, unit, CaseState.CLOSED, now)
    _case(session, r_open, unit, CaseState.CLOSED, now)
    _case(session, r_open, make.unit(), CaseState.IN_PROGRESS, now)  # one of its two cases is still open
    contacts = {
        "expired": FollowUpContact(response_id=r_old.id, phone="13800000001", delete_after=now - DAY),
        "kept": FollowUpContact(response_id=r_new.id, phone="13800000002", delete_after=now + DAY),
        "closed": FollowUpContact(response_id=r_closed.id, phone="13800000003", delete_after=now + 60 * DAY),
        "open": FollowUpContact(response_id=r_open.id, phone="13800000004", delete_after=now + 60 * DAY),
        "nocase": FollowUpContact(response_id=r_nocase.id, phone="13800000005", delete_after=now + 60 * DAY),
    }
    session.add_all(contacts.values())
    invitations = [Invitation(campaign_id=c.id, code=f"INV{c.id}X{i}", label=f"代表{i}", phone=f"1390000000{i}")
                   for i, c in enumerate([live, old, recent])]
    session.add_all(invitations)
    session.commit()
    return {"responses": [r_old, r_new], "invitations": invitations, "campaigns": (live, old, recent)}


def _phones(session) -> set[str]:
    return set(session.scalars(select(FollowUpContact.phone)))


def test_dry_run_counts_and_changes_nothing(session, make):
    _world(session, make)
    result = apply_retention(session, POLICY, now=NOW, dry_run=True)
    session.rollback()
    assert (result.contacts_expired, result.contacts_of_closed_cases, result.fingerprints_cleared,
            result.invitation_phones_deleted) == (1, 1, 1, 1)
    assert len(_phones(session)) == 5
    assert session.scalar(select(func.count(Response.id)).where(Response.fingerprint.is_(None))) == 0
    assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "retention.apply")) == 0


def test_retention_deletes_exactly_what_is_due_and_is_audited(session, make):
    world = _world(session, make)
    result = apply_retention(session, POLICY, now=NOW)
    session.commit()
    session.expire_all()
    assert result.total == 4
    assert _phones(session) == {"13800000002", "13800000004", "13800000005"}
    old, new = world["responses"]
    assert session.get(Response, old.id).fingerprint is None
    assert (session.get(Response, old.id).address_hash, session.get(Response, old.id).device_hash) == (None, None)
    assert session.get(Response, old.id).status_reason == "burst"  # the response and its flag stay
    assert session.get(Response, new.id).fingerprint == f"{2:064x}"
    assert session.get(Response, new.id).address_hash == session.get(Response, new.id).device_hash == f"{2:064x}"
    live, closed_long_ago, closed_recently = world["campaigns"]
    phones = {i.campaign_id: i.phone for i in session.scalars(select(Invitation))}
    assert phones[live.id] is not None and phones[closed_recently.id] is not None
    assert phones[closed_long_ago.id] is None
    assert session.scalar(select(func.count(Invitation.id))) == 3  # invitations themselves stay
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "retention.apply"))
    assert entry.detail["fingerprints_cleared"] == 1 and entry.detail["contacts_of_closed_cases"] == 1

    again = apply_retention(session, POLICY, now=NOW)  # a second run the same day finds nothing
    session.commit()
    assert again.total == 0
    assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "retention.apply")) == 1


def test_time_moves_things_past_their_retention(session, make):
    _world(session, make)
    later = NOW + 61 * DAY
    result = apply_retention(session, POLICY, now=later)
    session.commit()
    assert result.invitation_phones_deleted == 3 and result.fingerprints_cleared == 5
    assert _phones(session) == set()  # every delete_after has passed


def test_cli_runs_from_cron(app, runner, session, make):
    _world(session, make, now=utcnow())
    dry = runner.invoke(args=["retention", "--dry-run"])
    assert dry.exit_code == 0 and "将删除" in dry.output
    session.expire_all()
    assert len(_phones(session)) == 5
    done = runner.invoke(args=["retention"])
    assert done.exit_code == 0 and "已删除" in done.output, done.output
    session.expire_all()
    assert _phones(session) == {"13800000002", "13800000004", "13800000005"}
