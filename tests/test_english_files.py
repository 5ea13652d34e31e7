"""Files asked for in English: English headers and words, and the ones made for import read back in.

The units export and the response-import template are file formats: asked for in English they use
the English header names (and kinds, yes/no, satisfaction words) that the import reads as well, so
a file downloaded in English goes back in unchanged. Exports made for reading (cases, audit log,
results) simply follow the language; in Chinese every file is as before.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re

from openpyxl import load_workbook
from sqlalchemy import select

from survey.models import Answer, Channel, Response, UnitKind, utcnow
from survey.services.responses.imports import common
from survey.services.units import sheets
from tests.cases.helpers import respond
from tests.factories import csrf_from, hidden_from
from tests.test_i18n_walk import _chinese, _data_strings

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_units_export_in_english_has_english_headers_and_imports_again_unchanged(client, auth, make):
    category = make.category(code="GOV", name="Government departments")
    dept = make.unit(code="HR", name="Human resources", category=category, address="1 Main Street")
    make.unit(code="HR-W5", name="Pensions window", parent=dept, kind=UnitKind.WINDOW, window_no="5")
    make.unit(code="OFF", name="Closed office", active=False)
    make.commit()
    auth.login_as("analyst")
    for fmt in ("csv", "xlsx"):
        exported = client.get(f"/admin/units/export.{fmt}?lang=en")
        if fmt == "csv":
            rows = _csv_rows(exported.data)
        else:
            rows = [list(r) for r in load_workbook(io.BytesIO(exported.data)).worksheets[0].iter_rows(values_only=True)]
        assert rows[0] == sheets.EXPORT_HEADERS_EN == ["code", "name", "name_en", "category", "parent", "kind",
                                                       "window", "address", "sort", "active", "note"]
        by_code = {r[0]: r for r in rows[1:]}
        assert by_code["HR-W5"][5] == "window" and by_code["HR"][9] == "yes" and by_code["OFF"][9] == "no"
        assert not CJK.search(str(rows)), rows
        page = client.get("/admin/units/import")
        staged = client.post("/admin/units/import", data={"csrf_token": csrf_from(page),
                                                          "file": (io.BytesIO(exported.data), f"units.{fmt}")},
                             content_type="multipart/form-data")
        assert staged.status_code == 302, staged.get_data(as_text=True)[:300]
        english = client.get(staged.headers["Location"] + "?lang=en").get_data(as_text=True)
        assert "<strong>3</strong>" in english and not CJK.search(english.replace(">中文</a>", "")), fmt
        html = client.get(staged.headers["Location"] + "?lang=zh").get_data(as_text=True)
        assert "<strong>3</strong> 不变" in html and "<strong>0</strong> 新建" in html, fmt
        client.get("/admin/?lang=en")
    # Chinese stays the default file format.
    client.get("/admin/?lang=zh")
    assert _csv_rows(client.get("/admin/units/export.csv").data)[0] == sheets.EXPORT_HEADERS


def test_units_import_page_in_english_lists_the_english_headers(client, auth):
    auth.login_as("analyst")
    html = client.get("/admin/units/import?lang=en").get_data(as_text=True)
    assert "<strong>code</strong></td><td>unit code, unit_code</td>" in html
    assert "单位代码" not in html


def test_response_template_in_english_fills_in_english_and_imports(client, auth, session, make):
    units = [make.unit(code="W01", name="Window one"), make.unit(code="W02", name="Window two")]
    campaign = make.campaign(units=units, title="Window survey", opens_at=utcnow() - dt.timedelta(days=14))
    make.commit()
    auth.login_as("analyst")
    template = client.get(f"/admin/distribution/{campaign.id}/responses/template.xlsx?lang=en")
    book = load_workbook(io.BytesIO(template.data))
    headers = [c.value for c in book.worksheets[0][1]]
    assert headers[:5] == ["respondent_id", "unit_code", "group", "channel", "submitted_at"]
    assert book.sheetnames == ["Responses", "Description"], book.sheetnames
    notes = [r for r in book["Description"].iter_rows(values_only=True)]
    assert any("5 very satisfied" in (r[2] or "") for r in notes)
    sheet = book.worksheets[0]
    sheet.append(["P001", "W01", "SM", "phone", None, "Very satisfied", "satisfied", "Fairly satisfied", "4",
                  "don't know", "1", "", "", "More weekend hours"])
    sheet.append(["P002", "W02", "QY", "paper", None, "dissatisfied", "DK", "5", "5", "5", "2", "4", "",
                  None])  # the 不满意 calls for the reason (Q9)
    out = io.BytesIO()
    book.save(out)

    page = client.get(f"/admin/distribution/{campaign.id}/responses/import")
    preview = client.post(f"/admin/distribution/{campaign.id}/responses/import/preview",
                          data={"csrf_token": csrf_from(page), "channel": "paper",
                                "file": (io.BytesIO(out.getvalue()), "responses.xlsx")},
                          content_type="multipart/form-data")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    assert "2 rows, 2 responses, all valid: 2 will be imported" in html
    done = client.post(f"/admin/distribution/{campaign.id}/responses/import/confirm",
                       data={"csrf_token": csrf_from(preview), "staged": hidden_from(preview, "staged"),
                             "channel": hidden_from(preview, "channel"), "filename": hidden_from(preview, "filename")})
    assert done.status_code == 302, done.get_data(as_text=True)[:500]
    session.expire_all()
    found = {r.submission_id: r for r in session.scalars(select(Response))}
    first = found[common.submission_id_for(campaign, "P001")]
    second = found[common.submission_id_for(campaign, "P002")]
    assert (first.channel, second.channel) == (Channel.PHONE, Channel.PAPER)
    codes = {q.id: q.code for q in campaign.questionnaire.questions}

    def levels(response):
        return {codes[a.question_id]: ("dk" if a.dont_know else a.level)
                for a in session.scalars(select(Answer).where(Answer.response_id == response.id))
                if codes[a.question_id] in ("Q1", "Q2", "Q3", "Q4", "Q5")}

    assert levels(first) == {"Q1": 5, "Q2": 4, "Q3": 3, "Q4": 4, "Q5": "dk"}
    assert levels(second) == {"Q1": 2, "Q2": "dk", "Q3": 5, "Q4": 5, "Q5": 5}


def test_reading_exports_follow_the_language(client, auth, session, make):
    unit = make.unit(code="D1", name="Department 1")
    campaign = make.campaign(units=[unit], title="Window survey")
    make.commit()
    respond(session, campaign, unit, levels={"Q1": 1}, comment="Far too slow")
    auth.login_as("analyst")
    english = _csv_rows(client.get("/admin/cases/export.csv?lang=en").data)
    assert english[0][:4] == ["No.", "Unit code", "Unit", "Campaign"] and not CJK.search(str(english[0]))
    audit = _csv_rows(client.get("/admin/audit/export.csv").data)
    assert audit[0] == ["No.", "Time", "User", "Action", "Object type", "Object ID", "Summary", "Details"]
    chinese = _csv_rows(client.get("/admin/cases/export.csv?lang=zh").data)
    assert chinese[0][:4] == ["编号", "单位代码", "单位", "评议活动"]


def test_response_import_problems_in_english_name_the_english_columns(client, auth, make, session):
    unit = make.unit(code="W01", name="Window one")
    campaign = make.campaign(units=[unit], title="Window survey", opens_at=utcnow() - dt.timedelta(days=14))
    make.commit()
    auth.login_as("analyst")
    page = client.get(f"/admin/distribution/{campaign.id}/responses/import?lang=en")
    data = b"respondent_id,unit_code,group,Q1\n,W01,SM,5\nP2,ZZ,SM,very satisfied\n"
    preview = client.post(f"/admin/distribution/{campaign.id}/responses/import/preview",
                          data={"csrf_token": csrf_from(page), "channel": "paper",
                                "file": (io.BytesIO(data), "responses.csv")}, content_type="multipart/form-data")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 422
    assert "respondent_id" in html and "unit_code" in html
    assert _chinese(html, _data_strings(session)) == []  # the built-in questions and options are data
