"""A phone number for following up a 差评 (回访核实), only with the respondent's explicit consent.

The number is personal information (PIPL): it is asked for only after a 差评, stored
only when the consent box was ticked, kept in its own table (never in an answer), and
carries a deletion date; the case handling deletes it earlier when the case closes.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from survey.models import FollowUpContact, utcnow

_SEPARATORS = re.compile(r"[\s\-()（）－—.]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# Area code 0 + 2–3 digits, then a 7–8 digit local number: 10 to 12 digits in all.
_LANDLINE = re.compile(r"0[1-9][0-9]{8,10}")


def normalise_phone(raw: str | None) -> str | None:
    """A Chinese mobile (13812345678) or landline (0571-87654321, 010-12345678) number, or ``None``.

    Spaces, hyphens, brackets and a +86 / 0086 prefix are forgiven, and full-width digits
    (as Chinese input methods type them) are read as ASCII ones.
    """
    if not raw:
        return None
    digits = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw).strip())
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if _MOBILE.fullmatch(digits):
        return digits
    if _LANDLINE.fullmatch(digits):
        # 010 and 02x are the three-digit area codes (Beijing, Shanghai, Tianjin, Chongqing, …).
        split = 3 if digits[1] in "12" else 4
        local = digits[split:]
        if 7 <= len(local) <= 8:
            return f"{digits[:split]}-{local}"
    return None


def save_contact(session: Session, response_id: int, phone: str, retention_days: int,
                 now: dt.datetime | None = None) -> FollowUpContact:
    """Store (or correct) the consented number for one response; one number per response.

    A double tap that races its twin finds the other's row and updates it.
    """
    now = now or utcnow()
    try:
        return _upsert(session, response_id, phone, now, retention_days)
    except IntegrityError:
        session.rollback()
        return _upsert(session, response_id, phone, now, retention_days)


def _upsert(session: Session, response_id: int, phone: str, now: dt.datetime, retention_days: int) -> FollowUpContact:
    contact = session.scalar(select(FollowUpContact).where(FollowUpContact.response_id == response_id))
    if contact is None:
        contact = FollowUpContact(response_id=response_id)
        session.add(contact)
    contact.phone = phone
    contact.consented_at = now
    contact.delete_after = now + dt.timedelta(days=max(1, retention_days))
    session.commit()
    return contact
