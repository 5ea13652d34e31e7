"""Display conditions on the citizen's page: hidden questions stored as not_shown, never required,
their answers discarded; without the script the dependent questions come as a short second step."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from survey.models import Answer, Question, Response
from survey.services.questionnaires import conditions
from survey.services.questionnaires.builtin import APPRAISAL, WINDOW_SERVICE
from tests.factories import hidden_from
from tests.public.helpers import filled


def _count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Response))


def _by_code(campaign, code: str) -> Question:
    return next(q for q in campaign.questionnaire.questions if q.code == code)


def _answers(session, question: Question) -> list[Answer]:
    session.expire_all()
    return list(session.scalars(select(Answer).where(Answer.question_id == question.id).order_by(Answer.id)))


@pytest.fixture
def window(make):
    campaign = make.campaign()
    make.commit()
    return campaign, campaign.campaign_units[0].short_code


def _option(question: Question, code: str) -> str:
    return str(next(o.id for o in question.options if o.code == code))


class TestWindowTemplate:
    def test_reasons_question_is_marked_and_hidden_on_the_first_page(self, client, window):
        campaign, code = window
        reasons = conditions.bad_reasons_question(campaign.questionnaire)
        assert reasons is not None and reasons.code == "Q9" and reasons.type.value == "multiple"
        assert [o.label for o in reasons.options] == ["服务态度", "办事效率", "材料与流程", "等候时间", "环境设施",
                                                       "其他（请说明）"]
        html = client.get(f"/s/{code}").get_data(as_text=True)
        q1, q2 = _by_code(campaign, "Q1"), _by_code(campaign, "Q2")
        assert f'id="f-q{reasons.id}" data-required data-if="le 2 q{q1.id} q{q2.id} ' in html
        assert f'data-if="le 2 q{q1.id}' in html and 'hidden>' in html
        assert "共 8 题" in html  # the two conditional questions are not counted before they are called for

    def test_satisfied_citizen_gets_not_shown_rows_and_what_was_posted_for_them_is_discarded(
            self, client, window, session):
        campaign, code = window
        reasons, other = _by_code(campaign, "Q9"), _by_code(campaign, "Q10")
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), level="4")
        assert data.getlist(f"q{reasons.id}")  # the helper answers everything, as a forged post could
        assert client.post(f"/s/{code}", data=data).status_code == 303
        for question in (reasons, other):
            [row] = _answers(session, question)
            assert row.not_shown is True
            assert (row.level, row.dont_know, row.option_id, row.number, row.text) == (None, False, None, None, None)
            assert row.unit_id == campaign.campaign_units[0].unit_id
        assert not _answers(session, _by_code(campaign, "Q1"))[0].not_shown

    def test_a_hidden_required_question_is_not_required(self, client, window, session):
        campaign, code = window
        reasons = _by_code(campaign, "Q9")
        assert reasons.required
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), level="5", **{f"q{reasons.id}": []})
        assert client.post(f"/s/{code}", data=data).status_code == 303
        assert _count(session) == 1

    def test_with_the_script_a_shown_required_question_must_be_answered(self, client, window, session):
        campaign, code = window
        reasons = _by_code(campaign, "Q9")
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), level="5", **{f"q{reasons.id}": []})
        data[f"q{_by_code(campaign, 'Q3').id}"] = "1"
        reply = client.post(f"/s/{code}?js=1", data=data)
        assert reply.status_code == 422 and "请回答此题" in reply.get_data(as_text=True)
        assert _count(session) == 0

    def test_reasons_and_other_text_are_stored_when_shown(self, client, window, session):
        campaign, code = window
        reasons, other = _by_code(campaign, "Q9"), _by_code(campaign, "Q10")
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), level="5",
                      **{f"q{reasons.id}": [_option(reasons, "waiting"), _option(reasons, "other")],
                         f"q{other.id}": "停车位太少", f"q{_by_code(campaign, 'Q2').id}": "2"})
        reply = client.post(f"/s/{code}?js=1", data=data)  # the script's post: the thank-you page itself
        assert reply.status_code == 200 and "感谢您的评价！" in reply.get_data(as_text=True)
        assert sorted(a.option_id for a in _answers(session, reasons)) == sorted(
            [int(_option(reasons, "waiting")), int(_option(reasons, "other"))])
        [text] = _answers(session, other)
        assert text.text == "停车位太少" and not text.not_shown


class TestSecondStepWithoutScript:
    def _first_post(self, client, campaign, code):
        reasons, other = _by_code(campaign, "Q9"), _by_code(campaign, "Q10")
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), level="5",
                      **{f"q{reasons.id}": [], f"q{other.id}": [], f"q{_by_code(campaign, 'Q3').id}": "1"})
        return data, client.post(f"/s/{code}", data=data)

    def test_a_dissatisfied_citizen_is_asked_the_reason_then_stored_once(self, client, window, session):
        campaign, code = window
        reasons, other = _by_code(campaign, "Q9"), _by_code(campaign, "Q10")
        data, step = self._first_post(client, campaign, code)
        html = step.get_data(as_text=True)
        assert step.status_code == 200 and _count(session) == 0  # nothing stored before the step is answered
        assert "根据您的回答，还有 1 道题" in html
        assert f'id="f-q{reasons.id}"' in html and f'id="f-q{other.id}"' not in html  # only the new question
        q3 = _by_code(campaign, "Q3")
        assert f'<input type="hidden" name="q{q3.id}" value="1">' in html  # earlier answers carried
        assert f'<input type="hidden" name="asked" value="q{reasons.id}">' in html
        assert hidden_from(step, "submission_id") == data["submission_id"]  # same submission: idempotent
        second = {**{k: v for k, v in _carried(html).items()}, f"q{reasons.id}": [_option(reasons, "attitude")]}
        done = client.post(f"/s/{code}", data=second)
        assert done.status_code == 303
        again = client.post(f"/s/{code}", data=second)  # a double tap on the step
        assert again.status_code == 303 and _count(session) == 1
        assert [a.option_id for a in _answers(session, reasons)] == [int(_option(reasons, "attitude"))]
        assert [a.not_shown for a in _answers(session, other)] == [True]
        assert _answers(session, q3)[0].level == 1

    def test_choosing_other_brings_a_further_step_for_the_optional_text(self, client, window, session):
        campaign, code = window
        reasons, other = _by_code(campaign, "Q9"), _by_code(campaign, "Q10")
        _data, step = self._first_post(client, campaign, code)
        second = {**_carried(step.get_data(as_text=True)), f"q{reasons.id}": [_option(reasons, "other")]}
        step2 = client.post(f"/s/{code}", data=second)
        html = step2.get_data(as_text=True)
        assert step2.status_code == 200 and f'id="f-q{other.id}"' in html and _count(session) == 0
        third = _carried(html)  # left empty: the text is optional
        assert client.post(f"/s/{code}", data=third).status_code == 303
        assert [a.not_shown for a in _answers(session, other)] == []  # shown, not answered: no row
        assert [a.option_id for a in _answers(session, reasons)] == [int(_option(reasons, "other"))]

    def test_a_satisfied_citizen_gets_no_step(self, client, window, session):
        campaign, code = window
        reasons = _by_code(campaign, "Q9")
        data = filled(campaign.questionnaire, client.get(f"/s/{code}"), level="4", **{f"q{reasons.id}": []})
        assert client.post(f"/s/{code}", data=data).status_code == 303

    def test_an_expired_token_on_the_step_keeps_every_answer(self, client, window, session):
        campaign, code = window
        reasons = _by_code(campaign, "Q9")
        _data, step = self._first_post(client, campaign, code)
        second = {**_carried(step.get_data(as_text=True)), f"q{reasons.id}": [_option(reasons, "waiting")],
                  "csrf_token": "expired"}
        reply = client.post(f"/s/{code}", data=second)
        html = reply.get_data(as_text=True)
        assert reply.status_code == 400 and "请再提交一次" in html and _count(session) == 0
        assert f'value="{_option(reasons, "waiting")}" checked' in html  # shown again, answered


def _carried(html: str) -> dict[str, list[str]]:
    """Every hidden field of the page (the carried answers, token, submission id)."""
    import re
    out: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        out.setdefault(name, []).append(value)
    for name, value in re.findall(r'<input id="[^"]+" name="([^"]+)" type="hidden" value="([^"]*)"', html):
        out.setdefault(name, []).append(value)
    return out


APPRAISAL_WITH_REASON = copy.deepcopy(APPRAISAL)
APPRAISAL_WITH_REASON["questions"][5:5] = [
    {"code": "A6", "type": "multiple", "text": "问题在哪里", "text_en": "Where", "in_index": False,
     "show_if": {"any": [{"question": "A4", "op": "le", "value": 2}]},
     "options": [{"code": "a", "label": "作风"}, {"code": "b", "label": "效率"}]},
]
APPRAISAL_WITH_REASON["questions"].append(
    {"code": "Z1", "type": "text", "text": "您给了差评，愿意多说几句吗", "required": False, "per_unit": False,
     "in_index": False, "show_if": {"any": [{"question": "A4", "op": "le", "value": 2}]}})


class TestAppraisal:
    def test_per_unit_conditions_follow_each_rated_unit_and_once_questions_any_unit(self, client, make, session):
        units = [make.unit(code="TA"), make.unit(code="TB")]  # in this order on the page (by code: not "U9", "U10")
        campaign = make.campaign(units=units, questionnaire=make.questionnaire(APPRAISAL_WITH_REASON))
        make.commit()
        good, bad = units
        url = f"/s/{campaign.short_code}/rate"
        page = client.get(url, query_string=[("u", u.code) for u in units])
        html = page.get_data(as_text=True)
        a4, a6, z1 = (_by_code(campaign, c) for c in ("A4", "A6", "Z1"))
        assert f'data-if="le 2 q{a4.id}_u{good.id} q{a4.id}_u{bad.id}"' in html  # once: any unit
        assert f'data-if="le 2 q{a4.id}_u{bad.id}"' in html  # per unit: its own unit
        data = filled(campaign.questionnaire, page, units, level="4",
                      **{f"q{a4.id}_u{bad.id}": "1", f"q{a6.id}_u{good.id}": [_option(a6, "a")],
                         f"q{a6.id}_u{bad.id}": [_option(a6, "b")], f"q{z1.id}": "太慢了"})
        assert client.post(f"{url}?js=1", data=data).status_code == 200  # answered with the thank-you page
        rows = {(a.unit_id, a.not_shown, a.option_id) for a in _answers(session, a6)}
        assert rows == {(good.id, True, None), (bad.id, False, int(_option(a6, "b")))}
        [comment] = _answers(session, z1)
        assert comment.unit_id is None and comment.text == "太慢了"

    def test_once_question_not_shown_when_no_unit_is_rated_low(self, client, make, session):
        units = [make.unit(), make.unit()]
        campaign = make.campaign(units=units, questionnaire=make.questionnaire(APPRAISAL_WITH_REASON))
        make.commit()
        url = f"/s/{campaign.short_code}/rate"
        page = client.get(url, query_string=[("u", u.code) for u in units])
        z1 = _by_code(campaign, "Z1")
        data = filled(campaign.questionnaire, page, units, level="5", **{f"q{z1.id}": "不该保存"})
        assert client.post(url, data=data).status_code == 303
        [row] = _answers(session, z1)
        assert row.not_shown and row.text is None and row.unit_id is None


def test_the_window_template_round_trips_through_the_parser(make, session):
    questionnaire = make.questionnaire(copy.deepcopy(WINDOW_SERVICE))
    plan = conditions.plan(questionnaire)
    reasons = conditions.bad_reasons_question(questionnaire)
    assert set(plan.rules) == {reasons.id, next(q.id for q in questionnaire.questions if q.code == "Q10")}
    assert conditions.plan(questionnaire) is plan  # a published version compiles once


SEMANTICS = {
    "kind": "service", "title": "条件语义",
    "questions": [
        {"code": "S1", "type": "satisfaction", "text": "满意度", "required": False},
        {"code": "C1", "type": "single", "text": "单选", "required": False, "in_index": False,
         "options": [{"code": "a", "label": "甲"}, {"code": "b", "label": "乙"}]},
        {"code": "R1", "type": "rating", "text": "评分", "required": False, "in_index": False},
        {"code": "T1", "type": "text", "text": "低分时问", "show_if": {"any": [{"question": "S1", "op": "le", "value": 2}]}},
        {"code": "T2", "type": "text", "text": "没选甲时问",
         "show_if": {"any": [{"question": "C1", "op": "not_chosen", "value": "a"}]}},
        {"code": "T3", "type": "text", "text": "高分时问", "show_if": {"any": [{"question": "R1", "op": "ge", "value": 9}]}},
        {"code": "T4", "type": "text", "text": "满分或选乙时问", "required": False,
         "show_if": {"any": [{"question": "S1", "op": "ge", "value": 5}, {"question": "C1", "op": "chosen", "value": "b"}]}},
    ],
}


@pytest.mark.parametrize("s1, c1, r1, shown", [
    ("", "", "", set()),  # no answer: no cond holds, not_chosen included
    ("dk", "", "", set()),  # 不了解 is no level
    ("2", "a", "9", {"T1", "T3"}),
    ("3", "b", "8", {"T2", "T4"}),
    ("5", "", "10", {"T3", "T4"}),
])
def test_what_holds_when(make, s1, c1, r1, shown):
    from werkzeug.datastructures import MultiDict

    from survey.services.responses import submission

    questionnaire = make.questionnaire(SEMANTICS)
    unit = make.unit()
    qs = {q.code: q for q in questionnaire.questions}
    form = MultiDict({f"q{qs['S1'].id}": s1, f"q{qs['R1'].id}": r1,
                      f"q{qs['C1'].id}": str(_by_option(qs["C1"], c1)) if c1 else ""})
    for code in ("T1", "T2", "T3", "T4"):
        form[f"q{qs[code].id}"] = "说明"
    parsed = submission.parse_answers(questionnaire, questionnaire.questions, [unit], form)
    assert parsed.ok, parsed.errors  # a shown T is answered; a hidden one is not required
    assert {code for code in ("T1", "T2", "T3", "T4") if parsed.shown[f"q{qs[code].id}"]} == shown
    texts = {a.question_id: a for a in parsed.answers if a.question_id in {qs[c].id for c in ("T1", "T2", "T3", "T4")}}
    for code in ("T1", "T2", "T3", "T4"):
        answer = texts[qs[code].id]
        assert (answer.text, answer.not_shown) == (("说明", False) if code in shown else (None, True))


def _by_option(question: Question, code: str) -> int:
    return next(o.id for o in question.options if o.code == code)
