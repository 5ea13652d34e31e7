"""The response browser: filters in SQL (both databases), one query per page, one response opened
with its answers and no personal data, the filtered set exported, and unit contacts kept to their units."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select

from survey.extensions import db
from survey.models import Answer, AuditLog, Channel, Response, ResponseStatus
from survey.services.responses import browser
from tests.cases.helpers import question, respond
from tests.factories import csrf_from


@pytest.fixture
def world(make, session):
    a = make.unit(name="甲局窗口", code="A01")
    b = make.unit(name="乙局窗口", code="B01")
    campaign = make.campaign(units=[a, b], title="窗口评议")
    groups = make.groups()
    r1 = respond(session, campaign, a, levels={"Q1": 5}, submitted_on=dt.date(2026, 11, 2), open_cases=False)
    r2 = respond(session, campaign, a, levels={"Q1": 1}, comment="甲局排队太久", phone="13900001111",
                 submitted_on=dt.date(2026, 11, 10), open_cases=False)
    r3 = respond(session, campaign, b, levels={"Q1": 2}, comment="乙局机密意见", submitted_on=dt.date(2026, 11, 20),
                 status=ResponseStatus.FLAGGED, open_cases=False)
    r3.status_reason, r3.fingerprint, r3.address_hash, r3.device_hash = "burst_device", "f" * 64, "a" * 64, "d" * 64
    r2.respondent_group_id, r2.channel = groups["QY"].id, Channel.PAPER
    session.commit()
    return {"a": a, "b": b, "campaign": campaign, "r": (r1, r2, r3), "groups": groups}


def _ids(session, make, world, **args):
    f = browser.ResponseFilter.from_args(args)
    page = browser.search(session, make.user("analyst"), world["campaign"], f, "Asia/Shanghai")
    return [row.response.id for row in page.rows], page.total


def test_filters(session, make, world):
    r1, r2, r3 = world["r"]
    a, b = world["a"], world["b"]
    assert _ids(session, make, world) == ([r3.id, r2.id, r1.id], 3)  # newest first
    assert _ids(session, make, world, unit=str(a.id))[0] == [r2.id, r1.id]
    assert _ids(session, make, world, unit=str(b.id))[0] == [r3.id]
    assert _ids(session, make, world, group=str(world["groups"]["QY"].id))[0] == [r2.id]
    assert _ids(session, make, world, channel="paper")[0] == [r2.id]
    assert _ids(session, make, world, status="flagged")[0] == [r3.id]
    assert _ids(session, make, world, status="valid")[0] == [r2.id, r1.id]
    assert _ids(session, make, world, **{"from": "2026-11-10", "to": "2026-11-10"})[0] == [r2.id]
    assert _ids(session, make, world, **{"from": "2026-11-03"})[0] == [r3.id, r2.id]
    assert _ids(session, make, world, bad="1")[0] == [r3.id, r2.id]  # levels 1 and 2 (差评 ≤ 2 by default)
    assert _ids(session, make, world, comment="1")[0] == [r3.id, r2.id]
    assert _ids(session, make, world, comment="1", bad="1", unit=str(a.id))[0] == [r2.id]
    # Malformed input is ignored, never an error.
    assert _ids(session, make, world, unit="x", status="nope", channel="fax", **{"from": "2026-13-45"})[1] == 3
    assert _ids(session, make, world, **{"from": "0001-01-01", "to": "9999-12-31"})[1] == 3


def test_a_page_is_one_query_and_pages_split(app, session, make, world):
    user = make.user("analyst")
    for _i in range(5):
        respond(session, world["campaign"], world["a"], levels={"Q1": 3}, open_cases=False)
    campaign = world["campaign"]
    _loaded = (user.role, campaign.id)  # nothing left expired by the commits above
    statements = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = browser.search(session, user, campaign, browser.ResponseFilter(page=2), "Asia/Shanghai",
                              per_page=3)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1, statements
    assert (page.total, page.pages, page.page, len(page.rows)) == (8, 3, 2, 3)
    last = browser.search(session, user, world["campaign"], browser.ResponseFilter(page=99), "Asia/Shanghai",
                          per_page=3)
    assert (last.page, len(last.rows)) == (3, 2)
    # Only the newest max_listed matches are listed: the page says so; the rows are still the newest.
    capped = browser.search(session, user, campaign, browser.ResponseFilter(), "Asia/Shanghai", per_page=3,
                            max_listed=4)
    newest = browser.search(session, user, campaign, browser.ResponseFilter(), "Asia/Shanghai", per_page=3)
    assert capped.capped and not newest.capped and (capped.total, capped.pages) == (4, 2)
    assert [r.response.id for r in capped.rows] == [r.response.id for r in newest.rows]


def test_a_capped_list_says_so(client, auth, world, monkeypatch):
    monkeypatch.setattr(browser, "MAX_LISTED", 2)
    auth.login_as("analyst")
    html = client.get(f"/admin/campaigns/{world['campaign'].id}/responses/").get_data(as_text=True)
    assert "符合条件的答卷超过 2 份，只列出最新的 2 份" in html


def test_pages_for_an_analyst(client, auth, session, world):
    _r1, r2, r3 = world["r"]
    auth.login_as("analyst")
    listing = client.get(f"/admin/campaigns/{world['campaign'].id}/responses/?status=flagged")
    html = listing.get_data(as_text=True)
    assert listing.status_code == 200 and f"#{r3.id}" in html and f"#{r2.id}<" not in html
    detail = client.get(f"/admin/responses/{r3.id}")
    html = detail.get_data(as_text=True)
    assert detail.status_code == 200 and "乙局机密意见" in html and "待核查" in html
    assert "短时集中提交" in html  # the flag reason in words, for analysts
    assert "f" * 64 not in html and "a" * 64 not in html and "d" * 64 not in html
    detail = client.get(f"/admin/responses/{r2.id}")
    assert "13900001111" not in detail.get_data(as_text=True)
    assert client.get("/admin/responses/999999999").status_code == 404
    assert client.get(f"/admin/campaigns/{world['campaign'].id}/responses/export.pdf").status_code == 404


def test_export_labels_and_codes(client, auth, session, world):
    r1, r2, _r3 = world["r"]
    auth.login_as("analyst")
    csv_data = client.get(f"/admin/campaigns/{world['campaign'].id}/responses/export.csv?bad=1")
    text = csv_data.get_data().decode("utf-8-sig")
    lines = text.strip().split("\r\n")
    assert len(lines) == 3  # header + r2 + r3
    header = lines[0].split(",")
    assert header[:10] == ["答卷编号", "提交时间", "单位名称", "单位代码", "样本类别", "样本类别代码", "渠道", "渠道代码",
                           "状态", "状态代码"]
    first = dict(zip(header, lines[1].split(",")))
    assert first["答卷编号"] == str(r2.id) and first["渠道"] == "纸质问卷" and first["渠道代码"] == "paper"
    assert first["样本类别代码"] == "QY" and first["Q1代码"] == "1" and first["状态"] == "有效"
    assert "非常不满意" in lines[1] and "13900001111" not in text and "f" * 64 not in text
    second = dict(zip(header, lines[2].split(",")))
    assert second["核查原因代码"] == "burst_device" and second["状态代码"] == "flagged"
    book = load_workbook(io.BytesIO(client.get(
        f"/admin/campaigns/{world['campaign'].id}/responses/export.xlsx?unit={world['a'].id}").data))
    rows = list(book.active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == [r1.id, r2.id]
    assert session.scalar(select(AuditLog).where(AuditLog.action == "response.export")) is not None


def test_neutralised_cells(client, auth, session, world, make):
    respond(session, world["campaign"], world["a"], levels={"Q1": 4}, comment="=HYPERLINK(\"x\")", open_cases=False)
    auth.login_as("analyst")
    text = client.get(f"/admin/campaigns/{world['campaign'].id}/responses/export.csv?comment=1").get_data().decode(
        "utf-8-sig")
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


def test_unit_contacts_see_only_their_units(client, auth, session, world):
    r1, r2, r3 = world["r"]
    auth.login_as("unit", unit=world["a"])
    listing = client.get(f"/admin/campaigns/{world['campaign'].id}/responses/")
    html = listing.get_data(as_text=True)
    assert listing.status_code == 200 and f"#{r1.id}" in html and f"#{r2.id}" in html
    assert f"#{r3.id}" not in html and "乙局窗口" not in html
    # Another unit's response is a 404, even by filter.
    assert client.get(f"/admin/responses/{r3.id}").status_code == 404
    html = client.get(f"/admin/campaigns/{world['campaign'].id}/responses/?unit={world['b'].id}").get_data(
        as_text=True)
    assert f"#{r3.id}" not in html
    own = client.get(f"/admin/responses/{r2.id}")
    html = own.get_data(as_text=True)
    assert own.status_code == 200 and "甲局排队太久" in html
    assert "核查原因" not in html and "答题用时" not in html and "13900001111" not in html
    text = client.get(f"/admin/campaigns/{world['campaign'].id}/responses/export.csv").get_data().decode("utf-8-sig")
    assert "乙局机密意见" not in text and "核查原因" not in text and str(r1.id) in text


def test_a_contact_of_a_unit_outside_the_campaign_gets_404(client, auth, make, world):
    other = make.unit(name="丙局")
    auth.login_as("unit", unit=other)
    assert client.get(f"/admin/campaigns/{world['campaign'].id}/responses/").status_code == 404
    assert client.get(f"/admin/campaigns/{world['campaign'].id}/responses/export.csv").status_code == 404


def test_linked_from_the_campaign_page(client, auth, world):
    auth.login_as("analyst")
    html = client.get(f"/admin/campaigns/{world['campaign'].id}").get_data(as_text=True)
    assert f"/admin/campaigns/{world['campaign'].id}/responses/" in html


def test_an_appraisal_shows_a_contact_only_their_units_answers(client, auth, session, make):
    """One person rates several units: the contact of A finds the response, sees A's answers, never B's."""
    a, b = make.unit(name="甲局", code="JA"), make.unit(name="乙局机密单位", code="YB")
    campaign = make.campaign(units=[a, b], kind="appraisal", title="万人评议")
    groups = make.groups()
    response = Response(campaign_id=campaign.id, questionnaire_id=campaign.questionnaire_id, unit_id=None,
                        channel=Channel.WEB, submission_id="appraisal-1", respondent_group_id=groups["SM"].id)
    group_question = question(campaign, "G1")
    response.answers = [
        Answer(campaign_id=campaign.id, unit_id=None, question_id=group_question.id,
               option_id=next(o.id for o in group_question.options if o.code == "SM")),
        Answer(campaign_id=campaign.id, unit_id=a.id, question_id=question(campaign, "A4").id, level=4),
        Answer(campaign_id=campaign.id, unit_id=a.id, question_id=question(campaign, "A5").id, text="甲局很好"),
        Answer(campaign_id=campaign.id, unit_id=b.id, question_id=question(campaign, "A4").id, level=1),
        Answer(campaign_id=campaign.id, unit_id=b.id, question_id=question(campaign, "A5").id, text="乙局机密意见"),
    ]
    session.add(response)
    session.commit()
    # An analyst: the whole response; the list says it rated two units; the export has a row per unit rated.
    auth.login_as("analyst")
    listing = client.get(f"/admin/campaigns/{campaign.id}/responses/?bad=1").get_data(as_text=True)
    assert f"#{response.id}" in listing and "2 个单位" in listing and "非常不满意" in listing
    html = client.get(f"/admin/responses/{response.id}").get_data(as_text=True)
    assert "甲局很好" in html and "乙局机密意见" in html and "一人评多个单位" in html
    rows = list(csv.reader(io.StringIO(client.get(f"/admin/campaigns/{campaign.id}/responses/export.csv")
                                       .get_data().decode("utf-8-sig"))))
    assert [r[3] for r in rows[1:]] == ["JA", "YB"]
    assert all(r[5] == "SM" for r in rows[1:])  # the group, general to the response, on each row
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/admin/"))})
    # A's contact: the response, A's answers only; B's 差评 does not make it a 差评 for A.
    auth.login_as("unit", unit=a)
    listing = client.get(f"/admin/campaigns/{campaign.id}/responses/").get_data(as_text=True)
    assert f"#{response.id}" in listing and "1 个单位" in listing and "乙局机密单位" not in listing
    assert f"#{response.id}" not in client.get(f"/admin/campaigns/{campaign.id}/responses/?bad=1").get_data(
        as_text=True)
    html = client.get(f"/admin/responses/{response.id}").get_data(as_text=True)
    assert "甲局很好" in html and "乙局机密意见" not in html and "乙局机密单位" not in html
    text = client.get(f"/admin/campaigns/{campaign.id}/responses/export.csv").get_data().decode("utf-8-sig")
    assert "甲局很好" in text and "乙局机密" not in text and "YB" not in text


def test_linked_from_the_results_pages(client, auth, computed):
    auth.login_as("analyst")
    url = f"/admin/campaigns/{computed.campaign.id}/responses/"
    assert url in client.get("/admin/results/").get_data(as_text=True)
    assert url in client.get(f"/admin/results/snapshots/{computed.snapshot.id}").get_data(as_text=True)
    unit = computed.units[0]
    assert f"{url}?unit={unit.id}" in client.get(
        f"/admin/results/snapshots/{computed.snapshot.id}/units/{unit.id}").get_data(as_text=True)
