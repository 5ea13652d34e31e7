"""Chinese by default, English on request: the catalog is complete for the citizen pages and compiled."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from survey.models import CampaignStatus
from tests.factories import csrf_from, hidden_from
from tests.public.helpers import filled

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "survey" / "translations" / "en" / "LC_MESSAGES"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
# The citizen pages, the error pages, the base layout and the sign-in: every string has its English.
CITIZEN_SOURCES = [
    "survey/public/routes.py", "survey/public/questionnaire.py", "survey/public/forms.py",
    "survey/services/responses/submission.py", "survey/services/responses/follow_up.py", "survey/errors.py",
    "survey/auth/forms.py",
    "templates/base.html", "templates/errors/error.html", "templates/auth/login.html",
    *[f"templates/public/{p.name}" for p in sorted((ROOT / "templates" / "public").glob("*.html"))],
]
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def _catalog():
    with open(CATALOG / "messages.po", "rb") as fh:
        return read_po(fh, locale="en")


def _key(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _translations(catalog) -> dict:
    """msgid → msgstr of every translated, non-fuzzy message (plurals as tuples)."""
    return {_key(m.id): _key(m.string) for m in catalog if m.id and any(_key(m.string) or ()) and not m.fuzzy}


def test_compiled_catalog_is_up_to_date_with_the_po():
    catalog = _catalog()
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    fresh = _translations(read_mo(buffer))
    with open(CATALOG / "messages.mo", "rb") as fh:
        committed = _translations(read_mo(fh))
    assert committed == fresh, "run: pybabel compile -d survey/translations"


@pytest.mark.parametrize("source", CITIZEN_SOURCES)
def test_every_citizen_string_has_its_english(source):
    method = "jinja2" if source.endswith(".html") else "python"
    with open(ROOT / source, "rb"):
        found = [msgid for _line, msgid, _comments, _context in extract_from_file(method, ROOT / source, keywords=KEYWORDS)]
    translations = _translations(_catalog())
    missing = [m for m in found if _key(m) not in translations]
    assert not missing, f"untranslated in {source}: {missing} (run pybabel extract/update, then translate)"


def _no_chinese_chrome(html: str) -> list[str]:
    text = html.replace('lang="zh-CN" hreflang="zh-CN">中文</a>', "")
    return sorted(set(CJK.findall(text)))


@pytest.fixture
def english(client, make):
    """Every text that comes from data has its English, so what is left is the page's own chrome."""
    client.get("/?lang=en")
    cat = make.category(name="政府口机关")
    cat.name_en = "Government departments"
    units = [make.unit(name=f"单位{i}", name_en=f"Department {i}", category=cat, window_no="7") for i in range(2)]
    service = make.campaign(units=units[:1], title="窗口评议", title_en="Window survey")
    appraisal = make.campaign(units=units, kind="appraisal", title="万人评议", title_en="Citizens' appraisal")
    closed = make.campaign(units=units[:1], status=CampaignStatus.CLOSED, title="旧评议", title_en="Old survey")
    for group in make.groups().values():
        group.name_en = group.code
    make.commit()
    return service, appraisal, closed, units


def test_english_citizen_pages_have_no_chinese_chrome(client, english):
    service, appraisal, closed, units = english
    code = service.campaign_units[0].short_code
    pages = {
        "home": client.get("/"),
        "questionnaire": client.get(f"/s/{code}"),
        "unit list": client.get(f"/s/{service.short_code}"),
        "chooser": client.get(f"/s/{appraisal.short_code}"),
        "chooser error": client.get(f"/s/{appraisal.short_code}/rate?step=units"),
        "rating": client.get(f"/s/{appraisal.short_code}/rate?u={units[0].code}&u={units[1].code}"),
        "closed": client.get(f"/s/{closed.short_code}"),
        "not found": client.get("/s/ZZZZZZ"),
    }
    page = pages["questionnaire"]
    first, comment = service.questionnaire.questions[0], service.questionnaire.questions[-1]
    said = {f"q{comment.id}": "Too cold in the hall"}  # what the respondent typed is shown again as typed
    pages["errors"] = client.post(f"/s/{code}", data=filled(service.questionnaire, page, **{f"q{first.id}": []}, **said))
    pages["expired"] = client.post(f"/s/{code}", data=filled(service.questionnaire, page, csrf_token="x", **said))
    posted = client.post(f"/s/{code}", data=filled(service.questionnaire, page, level="1", **said))
    thanks = client.get(posted.headers["Location"])
    pages["thanks + follow-up"] = thanks
    pages["follow-up error"] = client.post(f"/thanks/{code}", data={
        "csrf_token": csrf_from(thanks), "token": hidden_from(thanks, "token"), "phone": "1"})
    pages["already rated"] = client.get(f"/s/{code}")
    for name, response in pages.items():
        html = response.get_data(as_text=True)
        assert 'lang="en"' in html, name
        assert _no_chinese_chrome(html) == [], name
    assert "Very satisfied" in pages["questionnaire"].get_data(as_text=True)
    assert "Question 1: Please answer this question." in pages["errors"].get_data(as_text=True)


def test_language_switch_of_a_posted_appraisal_keeps_its_units(client, make):
    units = [make.unit(name=f"单位{i}") for i in range(2)]
    campaign = make.campaign(units=units, kind="appraisal")
    make.commit()
    rate = f"/s/{campaign.short_code}/rate"
    page = client.get(rate, query_string=[("u", u.code) for u in units])
    sat = next(q for q in campaign.questionnaire.questions if q.per_unit)
    html = client.post(rate, data=filled(campaign.questionnaire, page, units=units, **{f"q{sat.id}_u{units[0].id}": []})).get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)" lang="en"', html).group(1).replace("&amp;", "&")
    first, second = sorted(units, key=lambda u: u.code)  # campaign order: by code ("U100" before "U99")
    assert link == f"{rate}?u={first.code}&u={second.code}&lang=en"
    english = client.get(link).get_data(as_text=True)
    assert 'lang="en"' in english and f'id="u-{units[1].id}"' in english


def test_chinese_by_default_with_lang_attributes(client, make):
    campaign = make.campaign()
    make.commit()
    html = client.get(f"/s/{campaign.campaign_units[0].short_code}").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "非常满意" in html and "提交评价" in html
    assert '<a href="/s/' in html or 'lang="en" hreflang="en">English</a>' in html


@pytest.mark.parametrize("lang, submit, units, escaped", [
    ("zh", "提交评价", "2 个单位的结论由分析人员人工改定", "&lt;b&gt; 排名表"),
    ("en", "Submit", "2 units' verdicts were overridden by an analyst", "&lt;b&gt; "),
])
def test_templates_translate_format_and_escape_with_the_renders_catalogue(app, lang, submit, units, escaped):
    """The templates' _() and ngettext come bound to each render's catalogue (a context processor):
    translated in the page's language, formatted with their arguments, the arguments escaped."""
    from flask import render_template_string

    source = ("{{ _('提交评价') }}|{{ ngettext('%(num)d 个单位的结论由分析人员人工改定', "
              "'%(num)d 个单位的结论由分析人员人工改定', 2) }}|{{ _('%(c)s 排名表', c='<b>') }}|{% trans %}提交评价{% endtrans %}")
    with app.test_request_context(f"/?lang={lang}"):
        first, second, third, fourth = render_template_string(source).split("|")
    assert first == submit == fourth and second == units and third.startswith(escaped) and "<b>" not in third
