"""Hostile forms on every way a citizen submits: never a 5xx, never a partial write.

Each example starts from the real form of a freshly opened page (a new device) and
mutates it: fields dropped, replaced, duplicated or added, with arbitrary Unicode, NUL,
control characters, huge strings, numbers of every shape, a missing or foreign CSRF
token and foreign submission ids. Afterwards either nothing was stored, or exactly one
response with all its answers and a 303 to the thank-you page.
"""
from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from survey.models import Answer, FollowUpContact, Invitation, Response
from survey.services.campaigns import desk_tokens
from tests.factories import csrf_from, hidden_from
from tests.fuzz import fuzz_settings

FUZZ = fuzz_settings(50)
FIELD = re.compile(r'name="([^"]+)"')
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
VALUES = st.one_of(
    TEXT,
    st.sampled_from(["5", "4", "1", "0", "6", "dk", "DK", "-1", "1e3", "NaN", "inf", "00005", "٣", "５", "",
                     " ", "\x00", "5\x00", "\r\n", "<script>alert(1)</script>", "=HYPERLINK(\"http://x\")",
                     "999999999999999999999", "1" * 40]),
    st.integers(min_value=-2**63, max_value=2**63).map(str),
    st.builds(lambda ch, n: ch * n, st.sampled_from(["长", "a", "\x00", "😀"]), st.integers(300, 60_000)),
)
MUTATION = st.one_of(
    st.tuples(st.just("drop"), st.integers(0, 200)),
    st.tuples(st.just("set"), st.integers(0, 200), VALUES),
    st.tuples(st.just("dup"), st.integers(0, 200), VALUES),
    st.tuples(st.just("add"), st.one_of(TEXT, st.sampled_from(["csrf_token", "submission_id", "started", "u",
                                                                "step", "q999999", "q1_u999"])), VALUES),
)


def mutate(fields: list[tuple[str, str]], mutations: list[tuple]) -> list[tuple[str, str]]:
    fields = list(fields)
    for op in mutations:
        if op[0] == "add":
            fields.append((op[1], op[2]))
        elif fields:
            i = op[1] % len(fields)
            if op[0] == "drop":
                fields.pop(i)
            elif op[0] == "set":
                fields[i] = (fields[i][0], op[2])
            else:
                fields.insert(i, (fields[i][0], op[2]))
    return fields


def valid_fields(html: str) -> list[tuple[str, str]]:
    """What a person would send: every hidden field, the first choice of every radio group,
    one tick per checkbox question, a comment."""
    fields: list[tuple[str, str]] = []
    seen: set[str] = set()
    for tag in re.findall(r"<(?:input|textarea)\b[^>]*>", html):
        name = FIELD.search(tag)
        if not name:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        key = name.group(1)
        if 'type="hidden"' in tag:
            fields.append((key, value.group(1) if value else ""))
        elif ('type="radio"' in tag or 'type="checkbox"' in tag) and key not in seen and value:
            fields.append((key, value.group(1)))
            seen.add(key)
        elif tag.startswith("<textarea"):
            fields.append((key, "窗口服务很好"))
    return fields


def counts(session) -> tuple[int, int]:
    session.expire_all()
    return (session.scalar(select(func.count(Response.id))), session.scalar(select(func.count(Answer.id))))


def assert_all_or_nothing(session, before: tuple[int, int], status: int) -> None:
    assert status < 500
    after = counts(session)
    if after == before:
        return
    assert after[0] == before[0] + 1, "more than one response stored from one POST"
    newest = session.scalar(select(Response).order_by(Response.id.desc()))
    assert after[1] - before[1] == len(newest.answers) > 0, "answers written without their response, or vice versa"
    assert status == 303


@pytest.fixture
def service(make):
    campaign = make.campaign(units=[make.unit(name="不动产登记窗口")])
    make.commit()
    return campaign


@pytest.fixture
def appraisal(make):
    campaign = make.campaign(units=[make.unit(), make.unit(), make.unit()], kind="appraisal")
    make.commit()
    return campaign


@FUZZ
@given(mutations=st.lists(MUTATION, max_size=8), keep_csrf=st.booleans())
def test_poster_questionnaire(app, session, service, mutations, keep_csrf):
    code = service.campaign_units[0].short_code
    client = app.test_client()
    page = client.get(f"/s/{code}")
    fields = mutate(valid_fields(page.get_data(as_text=True)), mutations)
    if not keep_csrf:
        fields = [(k, v) for k, v in fields if k != "csrf_token"]
    before = counts(session)
    assert_all_or_nothing(session, before, client.post(f"/s/{code}", data=MultiDict(fields)).status_code)


@FUZZ
@given(mutations=st.lists(MUTATION, max_size=8), chosen=st.lists(st.integers(0, 2), min_size=1, max_size=3))
def test_appraisal_rate_page(app, session, appraisal, mutations, chosen):
    client = app.test_client()
    units = [appraisal.campaign_units[i].unit.code for i in sorted(set(chosen))]
    page = client.get(f"/s/{appraisal.short_code}/rate", query_string=[("u", u) for u in units])
    fields = mutate(valid_fields(page.get_data(as_text=True)) + [("u", u) for u in units], mutations)
    before = counts(session)
    response = client.post(f"/s/{appraisal.short_code}/rate", data=MultiDict(fields))
    assert_all_or_nothing(session, before, response.status_code)


@FUZZ
@given(mutations=st.lists(MUTATION, max_size=6), twice=st.booleans())
def test_desk_code(app, session, make, service, mutations, twice):
    staff = make.user(role="desk", unit=service.campaign_units[0].unit)
    token = desk_tokens.issue(session, service.campaign_units[0], staff, minutes=30)
    session.commit()
    signed = desk_tokens.sign(app.config["SECRET_KEY"], token)
    client = app.test_client()
    page = client.get(f"/d/{signed}")
    fields = mutate(valid_fields(page.get_data(as_text=True)), mutations)
    before = counts(session)
    assert_all_or_nothing(session, before, client.post(f"/d/{signed}", data=MultiDict(fields)).status_code)
    if twice:  # a second device with the same code: stored at most once in all
        other = app.test_client()
        again = other.get(f"/d/{signed}")
        again_fields = valid_fields(again.get_data(as_text=True))
        before = counts(session)
        assert_all_or_nothing(session, before, other.post(f"/d/{signed}", data=MultiDict(again_fields)).status_code)
        session.expire_all()
        assert session.scalar(select(func.count(Response.id)).where(Response.desk_token_id == token.id)) <= 1


@FUZZ
@given(mutations=st.lists(MUTATION, max_size=6), garbage=st.one_of(st.none(), TEXT))
def test_invitation_link(app, session, appraisal, mutations, garbage):
    invitation = Invitation(campaign_id=appraisal.id, code=f"FUZZ{uuid.uuid4().hex}", label="代表")
    session.add(invitation)
    session.commit()
    code = invitation.code if garbage is None else garbage.replace("/", "")
    client = app.test_client()
    page = client.get(f"/i/{code}")
    assert page.status_code < 500
    units = [cu.unit.code for cu in appraisal.campaign_units]
    rate = client.get(f"/i/{code}", query_string=[("u", u) for u in units])
    fields = mutate(valid_fields(rate.get_data(as_text=True)) + [("u", u) for u in units], mutations)
    before = counts(session)
    assert_all_or_nothing(session, before, client.post(f"/i/{code}", data=MultiDict(fields)).status_code)


@FUZZ
@given(phone=VALUES, consent=st.one_of(st.none(), VALUES), keep_token=st.booleans(), extra=st.lists(MUTATION, max_size=4))
def test_follow_up_form_after_a_bad_rating(app, session, service, phone, consent, keep_token, extra):
    code = service.campaign_units[0].short_code
    client = app.test_client()
    page = client.get(f"/s/{code}")
    html = page.get_data(as_text=True)
    satisfaction = re.search(r'name="(q\d+)" id="[^"]+" value="dk"', html).group(1)
    fields = [(k, "1" if k == satisfaction else v) for k, v in valid_fields(html)]  # a 差评
    assert client.post(f"/s/{code}", data=MultiDict(fields)).status_code == 303
    thanks = client.get(f"/thanks/{code}")
    html = thanks.get_data(as_text=True)
    form: list[tuple[str, Any]] = [("phone", phone)]
    if consent is not None:
        form.append(("consent", consent))
    if keep_token and 'name="token"' in html:
        form += [("token", hidden_from(thanks, "token")), ("csrf_token", csrf_from(thanks))]
    form = mutate(form, extra)
    session.expire_all()
    contacts = session.scalar(select(func.count(FollowUpContact.id)))
    reply = client.post(f"/thanks/{code}", data=MultiDict(form))
    assert reply.status_code < 500
    session.expire_all()
    added = session.scalar(select(func.count(FollowUpContact.id))) - contacts
    assert added in (0, 1)
    if added:
        stored = session.scalar(select(FollowUpContact).order_by(FollowUpContact.id.desc()))
        assert re.fullmatch(r"1[3-9]\d{9}|0\d{2,3}-\d{7,8}", stored.phone)
