"""The citizen's questionnaire in headless Chromium at a phone's size (390×844), with and without JavaScript."""
from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner
from playwright.sync_api import expect
from sqlalchemy import select

from survey.models import Response

pytestmark = pytest.mark.browser


def _responses(session) -> list[Response]:
    session.expire_all()
    return list(session.scalars(select(Response)))


@pytest.fixture
def window(make):
    unit = make.unit(name="不动产登记窗口", window_no="12")
    campaign = make.campaign(units=[unit])
    make.commit()
    return campaign, campaign.campaign_units[0].short_code


@pytest.fixture
def appraisal(make):
    cat = make.category(name="政府口机关")
    names = ("市发展和改革委员会", "市教育局", "市公安局", "市民政局", "市财政局", "市审计局", "市统计局", "市水利局",
             "市林业局", "市商务局")
    units = [make.unit(name=name, category=cat, sort_order=i) for i, name in enumerate(names)]
    campaign = make.campaign(units=units, kind="appraisal")
    make.commit()
    return campaign, units


def _answer_window(page, levels=("非常满意", "满意", "满意", "基本满意", "不满意")) -> None:
    questions = page.locator("fieldset.q")
    for i, label in enumerate(levels):
        questions.nth(i).get_by_role("radio", name=label, exact=True).check()
    questions.nth(5).get_by_role("radio", name="一次办成").check()
    questions.nth(6).get_by_role("radio", name="市民").check()
    reasons = page.locator("fieldset.q-multiple")  # 主要问题: shown in place after a 不满意 (with the script)
    if reasons.is_visible():
        reasons.get_by_role("checkbox", name="办事效率").check()
    page.locator("textarea").last.fill("叫号屏幕看不清")


def test_service_survey_on_a_phone(live_server, phone, window, session):
    campaign, code = window
    phone.goto(f"{live_server}/s/{code}")
    assert phone.locator("h1").inner_text().startswith("不动产登记窗口")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    _answer_window(phone)
    expect(phone.locator(".progress")).to_have_text("已答 9 / 9 题")  # with 主要问题, called for by the 不满意
    expect(phone.locator("textarea + .count").last).to_have_text("还可输入 493 字")
    phone.get_by_role("button", name="提交评价").click()
    phone.wait_for_url(f"**/thanks/{code}")
    assert "感谢您的评价" in phone.locator("h1").inner_text()
    assert phone.get_by_label("联系电话").is_visible()  # a 差评 (不满意) was given: follow-up offered
    (response,) = _responses(session)
    answers = {a.question_id: a for a in response.answers}
    questions = campaign.questionnaire.questions
    assert [answers[q.id].level for q in questions[:5]] == [5, 4, 4, 3, 2]
    assert answers[next(q.id for q in questions if q.code == "Q8")].text == "叫号屏幕看不清"
    # the draft kept against a reload is forgotten once the thank-you page is seen
    assert phone.evaluate("Object.keys(sessionStorage).filter(k => k.startsWith('pingyi:draft:')).length") == 0


def test_the_thank_you_page_comes_in_the_answer_and_a_reload_sends_nothing_again(live_server, phone, window, session):
    """With the script, the submission is answered with the thank-you page (one round trip, no redirect);
    the script puts the page's own address in the address bar, so a reload asks for it with a GET."""
    _campaign, code = window
    phone.goto(f"{live_server}/s/{code}")
    _answer_window(phone)
    with phone.expect_response(lambda r: r.request.method == "POST") as posted:
        phone.get_by_role("button", name="提交评价").click()
    assert posted.value.status == 200 and posted.value.url.endswith(f"/s/{code}?js=1")
    phone.wait_for_url(f"**/thanks/{code}")
    expect(phone.get_by_label("联系电话")).to_be_visible()
    assert len(_responses(session)) == 1
    with phone.expect_response(lambda r: r.url.endswith(f"/thanks/{code}")) as reloaded:
        phone.reload()
    assert reloaded.value.request.method == "GET" and reloaded.value.status == 200
    assert "感谢您的评价" in phone.locator("h1").inner_text()
    expect(phone.get_by_label("联系电话")).to_be_visible()  # the offer still there, from the session
    assert len(_responses(session)) == 1
    phone.get_by_role("link", name="English").click()
    phone.wait_for_url(f"**/thanks/{code}?lang=en")
    assert "Thank you" in phone.locator("h1").inner_text()


def test_leaving_a_phone_number_after_a_bad_rating(live_server, phone, window, session):
    from survey.models import FollowUpContact

    _campaign, code = window
    phone.goto(f"{live_server}/s/{code}")
    _answer_window(phone, levels=("非常不满意",) * 5)
    phone.get_by_role("button", name="提交评价").click()
    phone.wait_for_url(f"**/thanks/{code}")
    phone.get_by_label("联系电话").fill("138 1234 5678")
    phone.get_by_role("button", name="留下电话").click()
    assert "请勾选同意" in phone.locator("form.follow-up").inner_text()  # no consent, nothing stored
    assert phone.get_by_label("联系电话").input_value() == "13812345678"  # kept (tidied)
    phone.get_by_role("checkbox").check()
    phone.get_by_role("button", name="留下电话").click()
    expect(phone.locator(".flash")).to_contain_text("已收到您的电话")
    session.expire_all()
    assert session.scalar(select(FollowUpContact.phone)) == "13812345678"


def test_appraisal_choose_then_rate(live_server, phone, appraisal, session):
    campaign, units = appraisal
    phone.goto(f"{live_server}/s/{campaign.short_code}")
    phone.get_by_label("按名称查找单位").fill("教育")  # ten units: the filter is offered
    assert phone.locator("label.opt:visible").count() == 1
    phone.get_by_role("checkbox", name="市教育局").check()
    phone.get_by_label("按名称查找单位").fill("")
    phone.get_by_role("checkbox", name="市统计局").check()
    expect(phone.locator(".chosen")).to_have_text("已选 2 个单位")
    phone.get_by_role("button", name="下一步：评价所选单位").click()
    # An assertion that waits: the click returns once the next page starts loading, before its blocks are there
    # (``all_inner_texts()`` read none of them in one CI run).
    expect(phone.locator("section.unit-block h2")).to_have_text(["市教育局", "市统计局"])
    phone.locator("fieldset.q").first.get_by_role("radio", name="企业代表").check()
    for block in phone.locator("section.unit-block").all():
        for fieldset in block.locator("fieldset.q-satisfaction").all():
            fieldset.get_by_role("radio", name="满意", exact=True).check()
    phone.get_by_role("button", name="提交评价").click()
    phone.wait_for_url("**/thanks/*")
    rated = {a.unit_id for r in _responses(session) for a in r.answers if a.level}
    assert rated == {units[1].id, units[6].id}


def test_validation_error_and_recovery_with_javascript(live_server, phone, window, session):
    campaign, code = window
    phone.goto(f"{live_server}/s/{code}")
    questions = phone.locator("fieldset.q")
    questions.nth(0).get_by_role("radio", name="满意", exact=True).check()
    phone.get_by_role("button", name="提交评价").click()
    summary = phone.locator("#error-summary")
    assert summary.is_visible() and "有 6 处需要补充或修改" in summary.inner_text()
    assert phone.evaluate("document.activeElement.id") == "error-summary"
    assert _responses(session) == []  # checked in the browser: nothing was sent
    summary.get_by_role("link").first.click()
    assert phone.evaluate("document.activeElement.name") == f"q{campaign.questionnaire.questions[1].id}"
    _answer_window(phone)
    assert questions.nth(1).get_attribute("class") == "q q-satisfaction"  # the mark goes once answered
    phone.get_by_role("button", name="提交评价").click()
    phone.wait_for_url(f"**/thanks/{code}")
    assert len(_responses(session)) == 1


def test_server_validation_error_and_recovery_without_javascript(live_server, phone_nojs, window, session):
    campaign, code = window
    phone = phone_nojs
    phone.goto(f"{live_server}/s/{code}")
    phone.locator("fieldset.q").nth(0).get_by_role("radio", name="非常满意").check()
    phone.locator("textarea").last.fill("很好")
    phone.get_by_role("button", name="提交评价").click()
    summary = phone.locator("#error-summary")
    assert "有 6 处需要补充或修改" in summary.inner_text()
    assert phone.locator("fieldset.q").nth(0).get_by_role("radio", name="非常满意").is_checked()  # kept
    assert phone.locator("textarea").last.input_value() == "很好"
    summary.get_by_role("link").nth(1).click()  # 第 3 题
    assert phone.evaluate("document.activeElement.name") == f"q{campaign.questionnaire.questions[2].id}"
    _answer_window(phone)
    phone.get_by_role("button", name="提交评价").click()
    phone.get_by_role("checkbox", name="办事效率").check()  # the 不满意's reason, asked as a second step
    phone.get_by_role("button", name="提交评价").click()
    phone.wait_for_url(f"**/thanks/{code}")
    assert len(_responses(session)) == 1


def test_service_survey_without_javascript(live_server, phone_nojs, window, session):
    _campaign, code = window
    phone_nojs.goto(f"{live_server}/s/{code}")
    assert phone_nojs.locator(".progress").count() == 0  # the enhancements are simply absent
    _answer_window(phone_nojs)
    phone_nojs.get_by_role("button", name="提交评价").click()
    assert "还有 1 道题" in phone_nojs.locator("#step-notice").inner_text()  # the 不满意 calls for 主要问题
    phone_nojs.get_by_role("checkbox", name="办事效率").check()
    phone_nojs.get_by_role("button", name="提交评价").click()
    phone_nojs.wait_for_url(f"**/thanks/{code}")
    assert len(_responses(session)) == 1
    phone_nojs.goto(f"{live_server}/s/{code}")
    assert "您已评价过" in phone_nojs.locator("h1").inner_text()


def test_appraisal_without_javascript(live_server, phone_nojs, appraisal, session):
    campaign, units = appraisal
    phone = phone_nojs
    phone.goto(f"{live_server}/s/{campaign.short_code}")
    phone.get_by_role("button", name="下一步：评价所选单位").click()
    assert "请至少选择一个您了解的单位" in phone.locator("#e-units").inner_text()
    phone.get_by_role("checkbox", name="市公安局").check()
    phone.get_by_role("button", name="下一步：评价所选单位").click()
    phone.locator("fieldset.q").first.get_by_role("radio", name="市民").check()
    for fieldset in phone.locator("fieldset.q-satisfaction").all():
        fieldset.get_by_role("radio", name="不了解").check()
    phone.get_by_role("button", name="提交评价").click()
    phone.wait_for_url("**/thanks/*")
    (response,) = _responses(session)
    assert {a.unit_id for a in response.answers if a.dont_know} == {units[2].id}


def test_reload_restores_answers_and_double_tap_stores_one(live_server, phone, window, session):
    _campaign, code = window
    phone.goto(f"{live_server}/s/{code}")
    phone.locator("fieldset.q").nth(0).get_by_role("radio", name="基本满意").check()
    phone.locator("textarea").last.fill("自助机坏了")
    sid = phone.locator('input[name="submission_id"]').input_value()
    phone.reload()
    assert "已恢复" in phone.locator("p.notice").inner_text()
    assert phone.locator("fieldset.q").nth(0).get_by_role("radio", name="基本满意").is_checked()
    assert phone.locator("textarea").last.input_value() == "自助机坏了"
    assert phone.locator('input[name="submission_id"]').input_value() == sid  # the same submission, if it was stored
    _answer_window(phone)
    button = phone.get_by_role("button", name="提交评价")
    phone.evaluate("document.querySelector('form.questionnaire').addEventListener('submit', () => {"
                   " document.querySelector('button.primary').click(); })")  # a second tap while sending
    button.click()
    phone.wait_for_url(f"**/thanks/{code}")
    assert len(_responses(session)) == 1


def test_expired_token_in_the_browser_loses_nothing(live_server, phone, window, session, monkeypatch):
    _campaign, code = window
    phone.goto(f"{live_server}/s/{code}")
    _answer_window(phone)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) + 2 * 3600)
    phone.get_by_role("button", name="提交评价").click()
    assert "请再提交一次" in phone.locator(".notice.warn").inner_text()
    assert phone.locator("textarea").last.input_value() == "叫号屏幕看不清"
    assert phone.locator("fieldset.q").nth(4).get_by_role("radio", name="不满意", exact=True).is_checked()
    assert _responses(session) == []
    phone.get_by_role("button", name="提交评价").click()
    phone.wait_for_url(f"**/thanks/{code}")
    assert len(_responses(session)) == 1


@pytest.mark.parametrize("width", [360, 390])
def test_touch_targets_focus_and_weight(live_server, new_page, window, width):
    _campaign, code = window
    page = new_page(width=width)
    page.goto(f"{live_server}/s/{code}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    small = page.evaluate("""() => [...document.querySelectorAll('main .opt > span, main button, main textarea, header a')]
        .filter(e => !e.closest('[hidden]'))
        .map(e => [e.textContent.trim(), e.getBoundingClientRect()])
        .filter(([, r]) => r.height < 44 || r.width < 44).map(([t, r]) => `${t}: ${r.width}x${r.height}`)""")
    assert small == []
    page.keyboard.press("Tab")  # skip link
    page.keyboard.press("Tab")  # brand
    page.keyboard.press("Tab")  # language
    page.keyboard.press("Tab")  # first answer of question 1
    outline = page.evaluate("getComputedStyle(document.activeElement.nextElementSibling).outlineStyle")
    assert outline == "solid"
    sizes = page.evaluate("""() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
        .map(e => e.encodedBodySize)""")
    assert 0 < sum(sizes) < 60_000  # HTML, CSS and script together, uncompressed
    page.screenshot(path=str(_shots() / f"questionnaire-{width}.png"), full_page=True)


def _shots():
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.gettempdir()) / "pingyi-browser-shots"
    folder.mkdir(exist_ok=True)
    return folder
