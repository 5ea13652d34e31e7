"""The two plug-in points other parts use: ``questionnaire_view`` for their own links (desk codes,
invitations) and ``submission.after_insert`` for work done with every new response (cases)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from survey.extensions import csrf, db
from survey.models import Answer, Channel, QuestionType, Response
from survey.public.questionnaire import questionnaire_view
from survey.services.campaigns import lookup as campaign_service
from survey.services.responses import submission
from tests.public.helpers import filled

pytestmark = pytest.mark.own_app  # adds a route to the app


def _count(session, model=Response) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def desk_route(app, make):
    """A stand-in for the desk's single-use code route: the code may be used once."""
    groups = make.groups()
    staff = make.user(role="desk")
    campaign = make.campaign(units=[staff.unit])
    make.commit()
    used: list[int] = []

    def consume(session, response):
        if used:
            raise submission.Refused("这个评价码已经使用过。")
        used.append(response.id)

    @csrf.exempt
    def desk_code(code: str):
        target = campaign_service.resolve_code(db.session, code)
        return questionnaire_view(
            target, channel=Channel.DESK, preset_group_id=groups["FW"].id,
            response_extra={"staff_user_id": staff.id}, before_commit=consume, once_per_device=False,
        )

    app.add_url_rule("/test-desk/<code>", "test_desk", desk_code, methods=["GET", "POST"])
    return campaign, staff, groups["FW"], used


def test_plugged_route_renders_the_same_questionnaire_and_stores_its_fields(client, desk_route, session):
    campaign, staff, group, used = desk_route
    url = f"/test-desk/{campaign.campaign_units[0].short_code}"
    page = client.get(url)
    html = page.get_data(as_text=True)
    group_q = next(q for q in campaign.questionnaire.questions if q.type == QuestionType.GROUP)
    assert page.status_code == 200 and f'name="q{group_q.id}"' not in html  # the group is known: not asked
    assert f'action="{url}"' in html
    posted = client.post(url, data=filled(campaign.questionnaire, page))
    assert posted.status_code == 303
    assert client.get_cookie("pingyi_rated") is None  # single-use codes keep no device ledger
    response = session.scalar(select(Response))
    assert response.channel == Channel.DESK and response.staff_user_id == staff.id
    assert response.respondent_group_id == group.id and used == [response.id]


def test_before_commit_refusal_stores_nothing_and_explains(client, desk_route, session):
    campaign, _staff, _group, _used = desk_route
    url = f"/test-desk/{campaign.campaign_units[0].short_code}"
    first, second = client.get(url), client.get(url)  # two phones scanned the same code
    assert client.post(url, data=filled(campaign.questionnaire, first)).status_code == 303
    refused = client.post(url, data=filled(campaign.questionnaire, second))
    assert refused.status_code == 409 and "这个评价码已经使用过" in refused.get_data(as_text=True)
    assert _count(session) == 1 and _count(session, Answer) == len(
        [q for q in campaign.questionnaire.questions if q.type != QuestionType.GROUP])
    # the first phone's double tap is still a success, not a refusal
    assert client.post(url, data=filled(campaign.questionnaire, first)).status_code == 303


def test_after_insert_hooks_run_once_per_new_response_in_its_transaction(session, make, monkeypatch):
    monkeypatch.setattr(submission, "_AFTER_INSERT", [])
    campaign = make.campaign()
    make.commit()
    seen: list[tuple[int, int]] = []

    @submission.after_insert
    def count_answers(sess, response):
        seen.append((response.id, len(response.answers)))

    submission.after_insert(count_answers)  # registering twice runs it once
    parsed = submission.ParseResult(answers=[submission.ParsedAnswer(campaign.questionnaire.questions[0].id, None, level=1)])
    sid = submission.new_submission_id()
    stored = submission.submit_response(session, campaign, parsed, sid, Channel.WEB)
    submission.submit_response(session, campaign, parsed, sid, Channel.WEB)  # a retry: no second run
    assert seen == [(stored.response.id, 1)]

    @submission.after_insert
    def broken(sess, response):
        raise RuntimeError("case service down")

    with pytest.raises(RuntimeError):
        submission.submit_response(session, campaign, parsed, submission.new_submission_id(), Channel.WEB)
    assert _count(session) == 1  # the response of the failed run was rolled back with its answers
    assert _count(session, Answer) == 1


def test_the_hooks_get_the_new_response_persistent_with_every_column_loaded(session, make, monkeypatch):
    """The object the after-insert steps get is the session's, flushed, every column set (reading one runs
    no query), and what they change is stored like any other change."""
    from sqlalchemy import inspect

    from survey.models import ResponseStatus, utcnow
    from tests.public.helpers import statements

    monkeypatch.setattr(submission, "_AFTER_INSERT", [])
    campaign = make.campaign()
    make.commit()
    seen: dict[str, object] = {}

    @submission.after_insert
    def look(sess, response):
        seen["persistent"] = inspect(response).persistent and response in sess
        with statements() as queries:
            seen["values"] = {prop.key: getattr(response, prop.key) for prop in Response.__mapper__.column_attrs}
        seen["queries"] = queries
        seen["levels"] = [a.level for a in response.answers]
        response.status = ResponseStatus.FLAGGED

    parsed = submission.ParseResult(answers=[submission.ParsedAnswer(campaign.questionnaire.questions[0].id, None, level=4)])
    before = utcnow()
    stored = submission.submit_response(session, campaign, parsed, submission.new_submission_id(), Channel.WEB,
                                        locale="zh", duration_seconds=42, extra={"address_hash": "a" * 64})
    values = seen["values"]
    assert stored.created and seen["persistent"] and seen["queries"] == [] and seen["levels"] == [4]
    assert values["id"] == stored.response.id and values["campaign_id"] == campaign.id
    assert values["channel"] == Channel.WEB and values["status"] == ResponseStatus.VALID
    assert values["locale"] == "zh" and values["duration_seconds"] == 42 and values["address_hash"] == "a" * 64
    assert values["staff_user_id"] is None and before <= values["submitted_at"] <= utcnow()
    session.expire_all()
    assert session.get(Response, stored.response.id).status == ResponseStatus.FLAGGED


def test_a_submission_id_stored_meanwhile_by_another_worker_gives_that_response(session, make):
    """A race the look-up could not see (``known_new``): the unique index refuses the second row and the
    one stored first is returned, nothing duplicated."""
    campaign = make.campaign()
    make.commit()
    parsed = submission.ParseResult(answers=[submission.ParsedAnswer(campaign.questionnaire.questions[0].id, None, level=5)])
    sid = submission.new_submission_id()
    first = submission.submit_response(session, campaign, parsed, sid, Channel.WEB)
    again = submission.submit_response(session, campaign, parsed, sid, Channel.WEB, known_new=True)
    assert not again.created and again.response.id == first.response.id
    assert _count(session) == 1 and _count(session, Answer) == 1
