"""The questionnaire page: both shapes, every question type rendered, validated and stored."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from survey.models import Answer, Channel, QuestionType, Response, ResponseStatus
from tests.public.helpers import ALL_TYPES, checked, filled, page_fields


def _count(session, model=Response) -> int:
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def all_types(make):
    """An open campaign over one window with the every-type questionnaire; returns (campaign, code, questions)."""
    unit = make.unit(name="不动产登记窗口", name_en="Property registration", window_no="12")
    questionnaire = make.questionnaire(data=ALL_TYPES)
    campaign = make.campaign(units=[unit], questionnaire=questionnaire)
    make.commit()
    questions = {q.code: q for q in questionnaire.questions}
    return campaign, campaign.campaign_units[0].short_code, questions


def test_home_lists_open_public_campaigns_only(client, make):
    import datetime as dt

    from survey.models import CampaignStatus, utcnow

    open_ = make.campaign(title="开放的评议")
    make.campaign(title="已结束的评议", status=CampaignStatus.CLOSED)
    make.campaign(title="未开始的评议", opens_at=utcnow() + dt.timedelta(days=3))
    make.campaign(title="只限窗口的评议", channels=["desk"])
    make.commit()
    html = client.get("/").get_data(as_text=True)
    assert "开放的评议" in html and f"/s/{open_.short_code}" in html
    for hidden in ("已结束的评议", "未开始的评议", "只限窗口的评议"):
        assert hidden not in html


def test_every_question_type_renders_as_fieldset_with_legend(client, all_types):
    _campaign, code, q = all_types
    page = client.get(f"/s/{code}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "不动产登记窗口" in html and "12号窗口" in html
    assert html.count('<fieldset class="q ') == len(q)
    comment_boxes = sum(1 for question in q.values() if question.is_comment)  # each with its 投诉/建议/表扬 choice
    assert html.count('<fieldset class="comment-kind"') == comment_boxes == 1
    assert html.count("<legend") == len(q) + comment_boxes
    # five levels plus 不了解 where allowed, in order from 非常满意 to 非常不满意
    s1 = re.findall(rf'name="q{q["S1"].id}" id="[^"]+" value="(\w+)"', html)
    assert s1 == ["5", "4", "3", "2", "1", "dk"]
    assert re.findall(rf'name="q{q["S2"].id}" id="[^"]+" value="(\w+)"', html) == ["5", "4", "3", "2", "1"]
    assert re.findall(rf'name="q{q["R1"].id}" id="[^"]+" value="(\w+)"', html) == [str(n) for n in range(11)]
    assert html.count(f'type="checkbox" name="q{q["M1"].id}"') == 3
    assert html.count(f'type="radio" name="q{q["C1"].id}"') == 2
    assert html.count(f'type="radio" name="q{q["G1"].id}"') == 2
    assert f'name="q{q["T1"].id}" id="q{q["T1"].id}-1" rows="3" maxlength="20"' in html
    assert "最多选择" not in html and "可多选，最多 2 项" in html
    # the idempotency key and the CSRF token travel with the form; the script is deferred and local
    page_fields(page)
    assert re.search(r'<script src="/static/js/questionnaire\.[0-9a-f]{10}\.js" defer></script>', html)
    assert "style=" not in html and "onclick" not in html and "<script>" not in html


def test_service_survey_stores_every_type(client, all_types, session):
    campaign, code, q = all_types
    page = client.get(f"/s/{code.lower()}")  # codes are case-insensitive
    data = filled(campaign.questionnaire, page, **{f"q{q['S1'].id}": "dk", f"q{q['T1'].id}": "  窗口\r\n人少  "})
    posted = client.post(f"/s/{code}", data=data)
    assert posted.status_code == 303 and posted.headers["Location"].endswith(f"/thanks/{code}")
    response = session.scalar(select(Response))
    assert response.channel == Channel.POSTER and response.unit_id == campaign.campaign_units[0].unit_id
    assert response.status == ResponseStatus.VALID and response.locale == "zh"
    assert response.respondent_group_id == q["G1"].options[0].respondent_group_id
    assert response.duration_seconds is not None and 0 <= response.duration_seconds < 60
    assert len(response.fingerprint) == 64
    answers: dict[int, list[Answer]] = {}
    for a in session.scalars(select(Answer)):
        answers.setdefault(a.question_id, []).append(a)
    assert all(a.unit_id == response.unit_id and a.campaign_id == campaign.id for al in answers.values() for a in al)
    s1 = answers[q["S1"].id][0]
    assert s1.dont_know and s1.level is None  # 不了解 is item nonresponse, never a low score
    assert answers[q["S2"].id][0].level == 4
    assert answers[q["C1"].id][0].option_id == q["C1"].options[0].id and answers[q["C1"].id][0].number == 100
    assert sorted(a.option_id for a in answers[q["M1"].id]) == [o.id for o in q["M1"].options[:2]]
    assert answers[q["R1"].id][0].number == 8.0
    assert answers[q["T1"].id][0].text == "窗口\n人少"
    assert client.get(posted.headers["Location"]).status_code == 200


def test_optional_questions_may_stay_empty(client, all_types, session):
    campaign, code, q = all_types
    page = client.get(f"/s/{code}")
    data = filled(campaign.questionnaire, page, **{f"q{q['M1'].id}": [], f"q{q['T1'].id}": "   "})
    assert client.post(f"/s/{code}", data=data).status_code == 303
    stored = {a.question_id for a in session.scalars(select(Answer))}
    assert q["M1"].id not in stored and q["T1"].id not in stored


@pytest.mark.parametrize(
    "question, value, message",
    [
        ("S1", [], "请回答此题"),
        ("S1", ["6"], "请选择一个有效的选项"),
        ("S1", ["0"], "请选择一个有效的选项"),
        ("S1", ["5", "4"], "请只选择一项"),
        ("S1", ["²"], "请选择一个有效的选项"),  # a digit Python's int() refuses
        ("S2", ["dk"], "请选择一个有效的选项"),  # 不了解 not offered on this question
        ("C1", ["999999"], "请选择一个有效的选项"),
        ("C1", ["abc"], "请选择一个有效的选项"),
        ("C1", ["9" * 5000], "请选择一个有效的选项"),
        ("M1", ["OPTIONS_ALL"], "最多选择 2 项，您选了 3 项"),
        ("M1", ["-1"], "请选择有效的选项"),
        ("R1", ["11"], "请选择 0 到 10 之间的分数"),
        ("R1", ["-1"], "请选择 0 到 10 之间的分数"),
        ("R1", ["7.5"], "请选择 0 到 10 之间的分数"),
        ("G1", [], "请回答此题"),
        ("T1", ["很" * 21], "最多 20 个字，您写了 21 个字"),
    ],
)
def test_bad_answers_get_a_message_next_to_the_question(client, all_types, session, question, value, message):
    campaign, code, q = all_types
    page = client.get(f"/s/{code}")
    target = q[question]
    if value == ["OPTIONS_ALL"]:
        value = [str(o.id) for o in target.options]
    other = q["S2"] if question != "S2" else q["S1"]
    data = filled(campaign.questionnaire, page, level="2", **{f"q{target.id}": value})
    data.setlist(f"q{other.id}", ["1"])
    response = client.post(f"/s/{code}", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    # the message sits inside the question's fieldset, tied to it, and in the summary at the top
    fieldset = re.search(rf'<fieldset class="q [^"]*has-error" id="f-q{target.id}"[^>]*>(.*?)</fieldset>', html, re.DOTALL)
    assert fieldset is not None and message in fieldset.group(1)
    assert f'aria-describedby="e-q{target.id}' in html
    assert 'id="error-summary"' in html and f'href="#q{target.id}-1"' in html
    # every other answer already given is kept
    assert checked(html, f"q{other.id}") == ["1"]
    assert checked(html, f"q{q['R1'].id}") == ["8"] or question == "R1"
    assert _count(session) == 0


def test_text_with_control_characters_is_cleaned_not_refused(client, all_types, session):
    campaign, code, q = all_types
    page = client.get(f"/s/{code}")
    data = filled(campaign.questionnaire, page, **{f"q{q['T1'].id}": "好\x00评\x07\t!"})
    assert client.post(f"/s/{code}", data=data).status_code == 303
    assert session.scalar(select(Answer.text).where(Answer.question_id == q["T1"].id)) == "好评\t!"


def test_text_answer_is_escaped_when_shown_again(client, all_types):
    campaign, code, q = all_types
    page = client.get(f"/s/{code}")
    data = filled(campaign.questionnaire, page, **{f"q{q['T1'].id}": "<b>x</b>", f"q{q['S1'].id}": []})
    html = client.post(f"/s/{code}", data=data).get_data(as_text=True)
    assert "&lt;b&gt;x&lt;/b&gt;</textarea>" in html and "<b>x</b>" not in html


def test_questions_keep_the_questionnaires_order(client, make):
    """The window survey asks its group question seventh, so the page does too."""
    campaign = make.campaign()
    make.commit()
    html = client.get(f"/s/{campaign.campaign_units[0].short_code}").get_data(as_text=True)
    ids = [int(i) for i in re.findall(r'<fieldset class="q [^"]*" id="f-q(\d+)"', html)]
    assert ids == [q.id for q in campaign.questionnaire.questions]


def test_preset_group_campaign_does_not_ask_the_group(client, make, session):
    from survey.models import GroupMode

    groups = make.groups()
    campaign = make.campaign(group_mode=GroupMode.PRESET, preset_group=groups["RD"])
    make.commit()
    code = campaign.campaign_units[0].short_code
    page = client.get(f"/s/{code}")
    group_q = next(q for q in campaign.questionnaire.questions if q.type == QuestionType.GROUP)
    assert f'name="q{group_q.id}"' not in page.get_data(as_text=True)
    assert client.post(f"/s/{code}", data=filled(campaign.questionnaire, page)).status_code == 303
    assert session.scalar(select(Response.respondent_group_id)) == groups["RD"].id


def test_service_campaign_code_lists_its_units(client, make):
    units = [make.unit(name="甲窗口", window_no="3"), make.unit(name="乙窗口")]
    campaign = make.campaign(units=units)
    make.commit()
    html = client.get(f"/s/{campaign.short_code}").get_data(as_text=True)
    for cu in campaign.campaign_units:
        assert f'href="/s/{cu.short_code}"' in html
    assert "甲窗口 · 3号窗口" in html


def test_campaign_code_records_web_and_unit_code_poster(client, make, session):
    campaign = make.campaign(channels=["web"])
    make.commit()
    code = campaign.campaign_units[0].short_code
    page = client.get(f"/s/{code}")
    client.post(f"/s/{code}", data=filled(campaign.questionnaire, page))
    assert session.scalar(select(Response.channel)) == Channel.WEB  # no poster channel: the web one


class TestAppraisal:
    @pytest.fixture
    def appraisal(self, make):
        cat = make.category(name="政府口机关")
        units = [make.unit(name=f"单位{i}", category=cat) for i in range(3)]
        campaign = make.campaign(units=units, kind="appraisal")
        make.commit()
        return campaign, units

    def test_chooser_lists_units_by_category(self, client, appraisal):
        campaign, units = appraisal
        page = client.get(f"/s/{campaign.short_code}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "政府口机关" in html
        assert f'action="/s/{campaign.short_code}/rate"' in html and 'method="get"' in html
        for u in units:
            assert f'name="u" value="{u.code}"' in html
        assert "让知情人评知情事" in html

    def test_choosing_nothing_says_so(self, client, appraisal):
        campaign, _units = appraisal
        response = client.get(f"/s/{campaign.short_code}/rate?step=units")
        assert response.status_code == 422
        assert "请至少选择一个您了解的单位" in response.get_data(as_text=True)
        assert client.get(f"/s/{campaign.short_code}/rate").status_code == 200  # no step: just the chooser

    def test_unit_code_of_an_appraisal_preselects_that_unit(self, client, appraisal):
        campaign, units = appraisal
        cu = next(cu for cu in campaign.campaign_units if cu.unit_id == units[1].id)
        html = client.get(f"/s/{cu.short_code}").get_data(as_text=True)
        assert re.findall(r'name="u" value="([^"]+)"[^>]*checked', html) == [units[1].code]

    def test_rates_only_chosen_units(self, client, appraisal, session):
        campaign, units = appraisal
        chosen = [units[0], units[2]]
        page = client.get(f"/s/{campaign.short_code}/rate", query_string=[("step", "units")] + [("u", u.code) for u in chosen])
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "单位0" in html and "单位2" in html and "单位1" not in html
        assert html.count('<section class="unit-block"') == 2
        questionnaire = campaign.questionnaire
        per_unit = [q for q in questionnaire.questions if q.per_unit]
        for u in chosen:
            for q in per_unit:
                assert f'id="f-q{q.id}_u{u.id}"' in html
        data = filled(questionnaire, page, units=chosen)
        sat = next(q for q in per_unit if q.type == QuestionType.SATISFACTION)
        data.setlist(f"q{sat.id}_u{units[2].id}", ["dk"])
        posted = client.post(f"/s/{campaign.short_code}/rate", data=data)
        assert posted.status_code == 303, posted.get_data(as_text=True)[:2000]
        response = session.scalar(select(Response))
        assert response.unit_id is None and response.channel == Channel.WEB
        rated = set(session.scalars(select(Answer.unit_id).where(Answer.level.is_not(None))))
        assert rated == {units[0].id, units[2].id}
        group_answer = session.scalar(
            select(Answer).join(Answer.response).where(Answer.unit_id.is_(None))
        )
        assert group_answer is not None and group_answer.option_id is not None  # asked once, about no unit

    def test_errors_in_one_units_block_keep_the_others(self, client, appraisal, session):
        campaign, units = appraisal
        page = client.get(f"/s/{campaign.short_code}/rate", query_string=[("u", units[0].code), ("u", units[1].code)])
        questionnaire = campaign.questionnaire
        sat = next(q for q in questionnaire.questions if q.type == QuestionType.SATISFACTION)
        data = filled(questionnaire, page, units=units[:2], level="5", **{f"q{sat.id}_u{units[1].id}": []})
        response = client.post(f"/s/{campaign.short_code}/rate", data=data)
        html = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "（单位1）" in html  # the summary names the unit
        assert checked(html, f"q{sat.id}_u{units[0].id}") == ["5"]
        assert f'name="u" value="{units[0].code}"' in html and f'name="u" value="{units[1].code}"' in html
        assert _count(session) == 0

    def test_units_outside_the_campaign_are_ignored(self, client, appraisal, make):
        campaign, _units = appraisal
        stranger = make.unit(name="别家单位")
        make.commit()
        html = client.get(f"/s/{campaign.short_code}/rate?u={stranger.code}&step=units").get_data(as_text=True)
        assert "别家单位" not in html and "请至少选择一个" in html

    def test_change_units_link_returns_to_the_chooser_with_them_ticked(self, client, appraisal):
        campaign, units = appraisal
        page = client.get(f"/s/{campaign.short_code}/rate?u={units[1].code}")
        link = re.search(r'<a href="([^"]+)">修改所选单位</a>', page.get_data(as_text=True)).group(1)
        chooser = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
        assert re.findall(r'name="u" value="([^"]+)"[^>]*checked', chooser) == [units[1].code]

    def test_post_to_the_chooser_url_goes_to_the_rating_step(self, client, appraisal):
        campaign, units = appraisal
        page = client.get(f"/s/{campaign.short_code}/rate?u={units[0].code}")
        response = client.post(f"/s/{campaign.short_code}", data=MultiDict(filled(campaign.questionnaire, page, units=units[:1])))
        assert response.status_code == 307 and response.headers["Location"].endswith("/rate")
