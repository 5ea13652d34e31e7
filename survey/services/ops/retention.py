"""Retention: personal and device data kept no longer than their purpose needs (PIPL).

Run daily (``flask retention`` from cron). What goes, and when:

* a consented follow-up phone number (``FollowUpContact``): when its ``delete_after``
  day has passed, or as soon as every case of its response is closed (case handling
  deletes it at that moment; this catches what was missed, e.g. cases closed by an
  approved appeal or a bulk action);
* a response's ``fingerprint``, ``address_hash`` and ``device_hash`` (the keyed hashes used to
  spot bursts and a clerk rating their own window): cleared
  ``PINGYI_FINGERPRINT_RETENTION_DAYS`` (30) days after submission — the burst rule
  looks back minutes, an analyst's review of a flagged burst a few weeks at most. The
  response, its status and the reason it was flagged stay;
* an invitation's phone number (kept for the SMS mail merge only): deleted
  ``PINGYI_INVITATION_PHONE_DAYS`` (30) days after its campaign's closing time (a
  campaign closed early counts from its planned closing time). The invitation and its
  label stay.

Every run that deletes anything is written to the audit log. ``dry_run`` counts without
changing anything.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from survey.core import audit
from survey.models import Campaign, Case, CaseState, FollowUpContact, Invitation, Response, utcnow


@dataclass(frozen=True)
class RetentionPolicy:
    fingerprint_days: int = 30
    invitation_phone_days: int = 30


@dataclass(frozen=True)
class RetentionResult:
    contacts_expired: int
    contacts_of_closed_cases: int
    fingerprints_cleared: int
    invitation_phones_deleted: int
    dry_run: bool

    @property
    def total(self) -> int:
        return (self.contacts_expired + self.contacts_of_closed_cases + self.fingerprints_cleared
                + self.invitation_phones_deleted)


def _expired_contacts(now: dt.datetime):
    return and_(FollowUpContact.delete_after.is_not(None), FollowUpContact.delete_after <= now)


def _contacts_of_closed_cases():
    """Contacts whose response has cases and none of them open."""
    has_case = exists().where(Case.response_id == FollowUpContact.response_id)
    has_open = exists().where(Case.response_id == FollowUpContact.response_id, Case.state != CaseState.CLOSED)
    return and_(has_case, ~has_open)


def _old_fingerprints(now: dt.datetime, days: int):
    return and_(or_(Response.fingerprint.is_not(None), Response.address_hash.is_not(None),
                    Response.device_hash.is_not(None)),
                Response.submitted_at < now - dt.timedelta(days=max(1, days)))


def _closed_campaign_ids(now: dt.datetime, days: int):
    """Campaigns whose closing time lies more than ``days`` back. One closed early by an analyst
    counts from its planned closing time: later than needed, never too early."""
    return select(Campaign.id).where(Campaign.closes_at <= now - dt.timedelta(days=max(0, days)))


def _count(session: Session, model: type, condition) -> int:
    return session.scalar(select(func.count()).select_from(model).where(condition)) or 0


def apply_retention(session: Session, policy: RetentionPolicy, now: dt.datetime | None = None,
                    dry_run: bool = False) -> RetentionResult:
    """Delete what has outlived its purpose (see the module docstring); the caller commits."""
    now = now or utcnow()
    expired = _expired_contacts(now)
    closed = and_(~expired, _contacts_of_closed_cases())
    fingerprints = _old_fingerprints(now, policy.fingerprint_days)
    phones = and_(Invitation.phone.is_not(None),
                  Invitation.campaign_id.in_(_closed_campaign_ids(now, policy.invitation_phone_days)))
    if dry_run:
        return RetentionResult(_count(session, FollowUpContact, expired), _count(session, FollowUpContact, closed),
                               _count(session, Response, fingerprints), _count(session, Invitation, phones), True)
    sync = {"synchronize_session": False}
    result = RetentionResult(
        contacts_expired=session.execute(delete(FollowUpContact).where(expired).execution_options(**sync)).rowcount,
        contacts_of_closed_cases=session.execute(
            delete(FollowUpContact).where(closed).execution_options(**sync)).rowcount,
        fingerprints_cleared=session.execute(
            update(Response).where(fingerprints).values(fingerprint=None, address_hash=None, device_hash=None).execution_options(**sync)).rowcount,
        invitation_phones_deleted=session.execute(
            update(Invitation).where(phones).values(phone=None).execution_options(**sync)).rowcount,
        dry_run=False,
    )
    if result.total:
        audit.record(
            session, None, "retention.apply", None,
            f"数据保留期清理：回访电话 {result.contacts_expired + result.contacts_of_closed_cases} 个，"
            f"设备指纹 {result.fingerprints_cleared} 个，邀请手机号 {result.invitation_phones_deleted} 个",
            contacts_expired=result.contacts_expired, contacts_of_closed_cases=result.contacts_of_closed_cases,
            fingerprints_cleared=result.fingerprints_cleared,
            invitation_phones_deleted=result.invitation_phones_deleted,
            fingerprint_days=policy.fingerprint_days, invitation_phone_days=policy.invitation_phone_days,
        )
    return result
