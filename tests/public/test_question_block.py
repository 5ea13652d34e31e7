"""Issue 17: a fresh questionnaire page's question block is rendered once per published version,
questions, units and language, and served from the process's cache after that — never for a
draft, never across languages or units, never with a visitor's answers or errors in it."""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import template_rendered

from survey.services.questionnaires import cache as questionnaire_cache
from survey.services.questionnaires import editor
from tests.public.helpers import filled, page_fields

BLOCK = "public/_question_block.html"


@contextmanager
def block_renders(app) -> Iterator[list[dict]]:
    """The contexts the question block was rendered with inside the ``with``."""
    seen: list[dict] = []

    def record(_sender, template, context, **_extra) -> None:
        if template.name == BLOCK:
            seen.append(context)

    template_rendered.connect(record, app)
    try:
        yield seen
    finally:
        template_rendered.disconnect(record, app)


def _fieldsets(html: str) -> list[str]:
    """Every question's opening tag, with its display-condition attributes."""
    return re.findall(r'<fieldset class="q [^>]*>', html)


@pytest.fixture(autouse=True)
def _empty_cache():
    questionnaire_cache.clear()
    yield
    questionnaire_cache.clear()


def test_a_published_page_is_rendered_once_and_each_visitor_keeps_their_own_token(app, client, make):
    campaign = make.campaign()
    make.commit()
    code = campaign.campaign_units[0].short_code
    with block_renders(app) as renders:
        first = client.get(f"/s/{code}")
        second = app.test_client().get(f"/s/{code}")
    assert first.status_code == second.status_code == 200
    assert len(renders) == 1
    one, two = first.get_data(as_text=True), second.get_data(as_text=True)
    assert _fieldsets(one) == _fieldsets(two) and len(_fieldsets(one)) == len(campaign.questionnaire.questions)
    assert any("data-if=" in tag for tag in _fieldsets(one))  # display conditions kept as they were
    a, b = page_fields(first), page_fields(second)
    assert a["csrf_token"] and b["csrf_token"] and a["csrf_token"] != b["csrf_token"]
    assert a["submission_id"] != b["submission_id"] and a["started"]


def test_a_draft_is_rendered_every_time(app, client, make, session):
    questionnaire = make.questionnaire(published=False)
    campaign = make.campaign(questionnaire=questionnaire)
    make.commit()
    code = campaign.campaign_units[0].short_code
    with block_renders(app) as renders:
        assert client.get(f"/s/{code}").status_code == 200
        question = questionnaire.questions[0]
        editor.update_question(session, None, question, {**editor.question_data(session, question), "text": "草稿又改了"})
        session.commit()
        html = client.get(f"/s/{code}").get_data(as_text=True)
    assert len(renders) == 2 and "草稿又改了" in html


def test_each_language_has_its_own_block(app, client, make):
    campaign = make.campaign()
    make.commit()
    code = campaign.campaign_units[0].short_code
    with block_renders(app) as renders:
        chinese = client.get(f"/s/{code}").get_data(as_text=True)
        english = client.get(f"/s/{code}?lang=en").get_data(as_text=True)
        again = client.get(f"/s/{code}?lang=en").get_data(as_text=True)
    assert len(renders) == 2
    assert "非常满意" in chinese and "非常满意" not in english and "Very satisfied" in english
    assert again.count("Very satisfied") == english.count("Very satisfied") > 0


def test_each_choice_of_units_has_its_own_block(app, client, make, session):
    units = [make.unit(name=f"单位{i}") for i in range(3)]
    campaign = make.campaign(units=units, kind="appraisal")
    make.commit()
    rate = f"/s/{campaign.short_code}/rate"

    def page(*chosen) -> str:
        return client.get(rate, query_string=[("u", u.code) for u in chosen]).get_data(as_text=True)

    with block_renders(app) as renders:
        first = page(units[0], units[1])
        other = page(units[2])
        assert len(renders) == 2
        assert "单位0" in first and "单位1" in first and "单位2" not in first
        assert "单位2" in other and "单位0" not in other and f"_u{units[0].id}" not in other
        assert page(units[0], units[1]).count('<section class="unit-block"') == 2
        assert len(renders) == 2  # the same units again: from the cache
        units[2].name = "改名后的单位"  # a renamed unit is not shown under its old name
        session.commit()
        renamed = page(units[2])
    assert len(renders) == 3 and "改名后的单位" in renamed and "单位2" not in renamed


def test_a_page_with_answers_or_errors_is_never_from_the_cache(app, client, make):
    campaign = make.campaign()
    make.commit()
    code = campaign.campaign_units[0].short_code
    questionnaire = campaign.questionnaire
    first = client.get(f"/s/{code}")
    comment = next(q for q in questionnaire.questions if q.type.value == "text" and not q.show_if)
    data = {**page_fields(first), f"q{comment.id}": "窗口很干净"}
    with block_renders(app) as renders:
        reply = client.post(f"/s/{code}", data=data)
    html = reply.get_data(as_text=True)
    assert reply.status_code == 422 and len(renders) == 1
    assert "窗口很干净" in html and 'class="error-summary"' in html and "has-error" in html
    fresh = app.test_client().get(f"/s/{code}").get_data(as_text=True).split("</head>", 1)[1]  # not the stylesheet
    assert "窗口很干净" not in fresh and "has-error" not in fresh


@contextmanager
def page_renders(app) -> Iterator[list[str]]:
    """The templates rendered inside the ``with`` (a cached fresh page renders none)."""
    seen: list[str] = []

    def record(_sender, template, context, **_extra) -> None:
        seen.append(template.name)

    template_rendered.connect(record, app)
    try:
        yield seen
    finally:
        template_rendered.disconnect(record, app)


MARKS = re.compile(r"@@pingyi-[a-z]+@@")


class TestTheWholeFreshPage:
    """A poster link's fresh page is rendered once per process for what it shows; each visitor gets their
    own CSRF token, submission id and start time in it, and anything that changes the page renders it again."""

    def _code(self, make):
        campaign = make.campaign()
        make.commit()
        return campaign, campaign.campaign_units[0].short_code

    def test_served_again_without_rendering_each_visitor_with_their_own_values(self, app, make):
        campaign, code = self._code(make)
        first, second = app.test_client(), app.test_client()
        one = first.get(f"/s/{code}")
        with page_renders(app) as renders:
            two = second.get(f"/s/{code}")
        assert renders == []
        a, b = page_fields(one), page_fields(two)
        for name in ("csrf_token", "submission_id", "started"):
            assert a[name] and b[name] and not MARKS.search(a[name] + b[name])
        assert a["csrf_token"] != b["csrf_token"] and a["submission_id"] != b["submission_id"]
        html_one, html_two = one.get_data(as_text=True), two.get_data(as_text=True)
        assert not MARKS.search(html_one) and not MARKS.search(html_two)
        assert html_one.replace(a["csrf_token"], "").replace(a["submission_id"], "").replace(a["started"], "") == \
            html_two.replace(b["csrf_token"], "").replace(b["submission_id"], "").replace(b["started"], "")
        # Each visitor's page takes their answers; another visitor's token is refused.
        assert second.post(f"/s/{code}", data=filled(campaign.questionnaire, two, level="5")).status_code == 303
        stolen = filled(campaign.questionnaire, one, level="5")
        stolen["csrf_token"] = b["csrf_token"]
        assert first.post(f"/s/{code}", data=stolen).status_code == 400

    def test_a_new_title_unit_name_or_organisation_name_shows_at_once(self, app, client, make, session):
        from survey.core import settings

        campaign, code = self._code(make)
        client.get(f"/s/{code}")
        campaign.title = "二〇二六年第四季度窗口服务评议（改）"
        campaign.campaign_units[0].unit.name = "新的窗口名称"
        settings.set_value(session, settings.ORG_NAME, "某市政务服务中心", None)
        session.commit()
        html = app.test_client().get(f"/s/{code}").get_data(as_text=True)
        assert "二〇二六年第四季度窗口服务评议（改）" in html and "新的窗口名称" in html and "某市政务服务中心" in html
        english = app.test_client().get(f"/s/{code}?lang=en").get_data(as_text=True)
        assert 'lang="en"' in english and "Submit" in english

    def test_a_flashed_message_or_a_query_renders_the_page(self, app, client, make):
        _campaign, code = self._code(make)
        client.get(f"/s/{code}")
        with client.session_transaction() as browser:
            browser["_flashes"] = [("error", "一条只给这位访客的提示")]
        with page_renders(app) as renders:
            html = client.get(f"/s/{code}").get_data(as_text=True)
        assert "public/questionnaire.html" in renders and "一条只给这位访客的提示" in html
        with page_renders(app) as renders:
            client.get(f"/s/{code}?utm=poster")
        assert "public/questionnaire.html" in renders


def test_the_thank_you_page_without_an_offer_is_rendered_once(app, make):
    campaign = make.campaign()
    make.commit()
    code = campaign.campaign_units[0].short_code
    pages = []
    for _ in range(2):
        phone = app.test_client()
        posted = phone.post(f"/s/{code}", data=filled(campaign.questionnaire, phone.get(f"/s/{code}"), level="5"))
        with page_renders(app) as renders:
            pages.append(phone.get(posted.headers["Location"]))
        assert pages[-1].status_code == 200 and "感谢您的评价" in pages[-1].get_data(as_text=True)
    assert renders == [] and pages[0].get_data() == pages[1].get_data()
    bad = app.test_client()
    posted = bad.post(f"/s/{code}", data=filled(campaign.questionnaire, bad.get(f"/s/{code}"), level="1"))
    assert 'name="phone"' in bad.get(posted.headers["Location"]).get_data(as_text=True)  # never the cached page
