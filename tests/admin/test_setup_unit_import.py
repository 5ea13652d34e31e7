"""Importing the unit list: upload → preview of every row's problem → confirm writes all or nothing.
Exporting gives the same columns back, formulas neutralised."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from survey.core.spreadsheets import read_table
from survey.models import AuditLog, Category, Unit, UnitKind
from survey.services.units import sheets
from tests.admin.unit_sheets import HEADERS, csv_bytes, taizhou_rows, xlsx_bytes
from tests.factories import csrf_from


def upload(client, data: bytes, filename: str = "units.xlsx"):
    token = csrf_from(client.get("/admin/units/import"))
    return client.post("/admin/units/import", data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def preview_url(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return response.headers["Location"]


def confirm(client, url: str):
    page = client.get(url)
    return client.post(url, data={"csrf_token": csrf_from(page)})


def unit_count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Unit.id)))


def test_import_97_units_from_excel_preview_then_confirm(client, auth, session):
    user = auth.login_as("analyst")
    url = preview_url(upload(client, xlsx_bytes(taizhou_rows())))
    html = client.get(url).get_data(as_text=True)
    assert "<strong>97</strong> 新建" in html and "<strong>0</strong> 有错误" in html
    assert "将新建类别：党群口机关、政府口机关、公共服务企业、驻地金融机构" in html
    assert ">确认导入</button>" in html
    assert unit_count(session) == 0  # nothing written before the analyst confirms
    response = confirm(client, url)
    assert response.status_code == 302
    assert unit_count(session) == 97
    categories = {c.name: c for c in session.scalars(select(Category))}
    assert set(categories) == {"党群口机关", "政府口机关", "公共服务企业", "驻地金融机构"}
    counts = dict(session.execute(select(Category.name, func.count(Unit.id)).join(Unit).group_by(Category.name)).all())
    assert counts == {"党群口机关": 21, "政府口机关": 45, "公共服务企业": 14, "驻地金融机构": 17}
    bank = session.scalar(select(Unit).where(Unit.name == "台州银行"))
    assert bank.kind == UnitKind.DEPARTMENT and bank.active and bank.category.name == "驻地金融机构"
    [summary] = session.scalars(select(AuditLog).where(AuditLog.action == "unit.import"))
    assert summary.user_id == user.id and summary.detail["new"] == 97
    assert session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "unit.create")) == 97
    assert "导入完成：新建 97 个单位" in client.get("/admin/units/").get_data(as_text=True)
    # the preview is gone once used
    assert client.get(url).status_code == 302


def test_gbk_csv_with_hierarchy_where_parents_come_after_children(client, auth, session):
    auth.login_as("analyst")
    rows = [
        ["CK-12", "不动产登记窗口", "政务服务中心窗口", "ZRJ-DJ", "窗口", "12", "是"],
        ["ZRJ-DJ", "不动产登记处", "政府口机关", "ZRJ", "处室", "", "是"],
        ["ZRJ", "市自然资源和规划局", "政府口机关", "", "部门", "", "是"],
        ["XQ", "椒江区", "区县", "", "区县", "", "否"],
    ]
    url = preview_url(upload(client, csv_bytes(rows, encoding="gbk"), "units.csv"))
    assert "<strong>4</strong> 新建" in client.get(url).get_data(as_text=True)
    assert confirm(client, url).status_code == 302
    session.expire_all()
    units = {u.code: u for u in session.scalars(select(Unit))}
    assert units["CK-12"].parent.code == "ZRJ-DJ" and units["ZRJ-DJ"].parent.code == "ZRJ"
    assert units["CK-12"].kind == UnitKind.WINDOW and units["CK-12"].window_no == "12"
    assert units["ZRJ-DJ"].kind == UnitKind.SECTION and units["XQ"].kind == UnitKind.DISTRICT
    assert units["XQ"].active is False


def test_preview_lists_every_rows_problem_and_writes_nothing(client, auth, make, session):
    make.category(code="ZF", name="政府口机关")
    make.unit(code="OLD", name="旧名称")
    make.unit(code="LOOP-A")
    make.commit()
    auth.login_as("analyst")
    rows = [
        ["", "没有代码的单位", "政府口机关", "", "", "", ""],           # 2: missing code
        ["DUP", "甲", "ZF", "", "", "", ""],                            # 3: duplicate
        ["DUP", "乙", "ZF", "", "", "", ""],                            # 4: duplicate
        ["ORPHAN", "孤儿", "ZF", "NOBODY", "", "", ""],                  # 5: unknown parent
        ["A", "环甲", "ZF", "B", "", "", ""],                            # 6: cycle
        ["B", "环乙", "ZF", "A", "", "", ""],                            # 7: cycle
        ["NEWCAT", "新类别的单位", "驻地金融机构", "", "", "", ""],      # 8: category will be created
        ["OLD", "新名称", "ZF", "", "", "", ""],                         # 9: changed fields
        ["BADKIND", "类型错", "ZF", "", "科长", "", ""],                 # 10: bad kind
        ["BADACT", "启用错", "ZF", "", "", "", "也许"],                  # 11: bad active
        ["SELF", "自己", "ZF", "SELF", "", "", ""],                      # 12: own parent
        ["", "", "", "", "", "", ""],                                    # blank: skipped
        ["NONAME", "", "ZF", "", "", "", ""],                            # 14: missing name
    ]
    url = preview_url(upload(client, xlsx_bytes(rows)))
    html = client.get(url).get_data(as_text=True)
    assert "请填写代码" in html
    assert "代码 DUP 在文件中重复（第 3、4 行）" in html
    assert "上级代码 NOBODY 在文件和系统中都不存在" in html
    assert "上下级关系成环：A → B → A" in html and "上下级关系成环：B → A → B" in html
    assert "类别“驻地金融机构”不存在，将新建" in html
    assert re.search(r"名称：<del>旧名称</del> → <ins>新名称</ins>", html)
    assert "类型“科长”无效" in html and "启用“也许”无效" in html
    assert "单位不能作自己的上级" in html and "请填写名称" in html
    assert "<strong>10</strong> 有错误" in html and ">确认导入</button>" not in html
    assert "不能导入" in html
    errors_only = client.get(url + "?show=error").get_data(as_text=True)
    assert "新类别的单位" not in errors_only and "孤儿" in errors_only
    # confirming anyway is refused and nothing is written
    before = unit_count(session)
    response = confirm(client, url)
    assert response.status_code == 409
    assert unit_count(session) == before
    assert session.scalar(select(func.count(Category.id))) == 1


def test_cycle_through_units_already_in_the_database_is_found(client, auth, make, session):
    top = make.unit(code="TOP")
    make.unit(code="MID", parent=top)
    make.commit()
    auth.login_as("analyst")
    url = preview_url(upload(client, xlsx_bytes([["TOP", "顶层", "", "MID", "", "", ""]])))
    html = client.get(url).get_data(as_text=True)
    assert "上下级关系成环：TOP → MID → TOP" in html


def test_confirm_revalidates_and_a_conflict_leaves_the_database_unchanged(client, auth, make, session):
    parent = make.unit(code="P", name="上级")
    make.commit()
    auth.login_as("analyst")
    url = preview_url(upload(client, xlsx_bytes([["C", "下级", "", "P", "", "", ""]])))
    page = client.get(url)
    assert "<strong>1</strong> 新建" in page.get_data(as_text=True)
    session.delete(parent)  # meanwhile another analyst deletes the parent
    session.commit()
    response = client.post(url, data={"csrf_token": csrf_from(page)})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "数据在预览之后有变化" in html and "上级代码 P 在文件和系统中都不存在" in html
    assert unit_count(session) == 0
    assert not list(session.scalars(select(AuditLog).where(AuditLog.action == "unit.import")))


def test_a_failure_while_writing_rolls_everything_back(client, auth, session, monkeypatch):
    auth.login_as("analyst")
    url = preview_url(upload(client, xlsx_bytes(taizhou_rows())))
    page = client.get(url)

    def boom(*args, **kwargs):
        raise sheets.DomainError("写入时出错（测试）")

    real = sheets._create_categories

    def categories_then_fail(*args, **kwargs):
        created = real(*args, **kwargs)
        boom()
        return created

    monkeypatch.setattr(sheets, "_create_categories", categories_then_fail)
    response = client.post(url, data={"csrf_token": csrf_from(page)})
    assert response.status_code == 409
    assert unit_count(session) == 0
    assert session.scalar(select(func.count(Category.id))) == 0
    assert session.scalar(select(func.count(AuditLog.id))) == 0


def test_reimporting_the_export_changes_nothing(client, auth, make, session):
    zf = make.category(code="ZF", name="政府口机关")
    dept = make.unit(code="RSJ", name="人社局", category=zf, name_en="HRSS", address="市府大道 1 号")
    make.unit(code="CK-SB", name="=社保窗口", parent=dept, kind=UnitKind.WINDOW, window_no="5", note="-备注")
    make.unit(code="OFF", name="停用单位", active=False)
    make.commit()
    auth.login_as("analyst")
    for fmt in ("xlsx", "csv"):
        exported = client.get(f"/admin/units/export.{fmt}")
        assert exported.status_code == 200
        assert "attachment" in exported.headers["Content-Disposition"]
        url = preview_url(upload(client, exported.data, f"units.{fmt}"))
        html = client.get(url).get_data(as_text=True)
        assert "<strong>3</strong> 不变" in html and "<strong>0</strong> 新建" in html, fmt


def test_export_has_the_import_columns_and_neutralised_formulas(client, auth, make):
    make.unit(code="EVIL", name="=HYPERLINK(\"http://x\")", kind=UnitKind.WINDOW)
    make.commit()
    auth.login_as("analyst")
    sheet = load_workbook(io.BytesIO(client.get("/admin/units/export.xlsx").data)).worksheets[0]
    assert [c.value for c in sheet[1]] == sheets.EXPORT_HEADERS
    assert sheet["B2"].value == "'=HYPERLINK(\"http://x\")" and sheet["F2"].value == "窗口"
    text = client.get("/admin/units/export.csv").data.decode("utf-8")
    assert text.startswith("\ufeff代码,名称") and "'=HYPERLINK" in text
    assert client.get("/admin/units/export.pdf").status_code == 404


def test_english_headers_are_accepted_and_unknown_columns_reported(client, auth, session):
    auth.login_as("analyst")
    data = xlsx_bytes([["E1", "Unit one", "Dept", "12", "yes"]], headers=["Code", "Name", "Category", "Budget", "Active"])
    url = preview_url(upload(client, data))
    html = client.get(url).get_data(as_text=True)
    assert "以下列不认识，将被忽略：Budget" in html and "<strong>1</strong> 新建" in html


@pytest.mark.parametrize("data, message", [
    (xlsx_bytes([["甲"]], headers=["名称"]), "缺少必需的列：代码"),
    (xlsx_bytes([], headers=HEADERS), "只有表头"),
    (b"\xd0\xcf\x11\xe0" + b"\0" * 64, "另存为"),
    (b"", "请选择要上传的文件"),
])
def test_bad_files_are_refused_on_the_upload_page(client, auth, data, message):
    auth.login_as("analyst")
    token = csrf_from(client.get("/admin/units/import"))
    files = {"file": (io.BytesIO(data), "units.xlsx" if data else "")}
    response = client.post("/admin/units/import", data={"csrf_token": token, **files},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


@pytest.fixture
def app_overrides():
    return {"MAX_CONTENT_LENGTH": 64 * 1024}


def test_a_file_above_the_limit_gets_a_friendly_413(client, auth):
    auth.login_as("analyst")
    token = csrf_from(client.get("/admin/units/import"))
    big = io.BytesIO(b"x" * (80 * 1024))
    response = client.post("/admin/units/import", data={"csrf_token": token, "file": (big, "big.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "文件太大：最大 64 KB" in html and 'type="file"' in html


def test_someone_elses_preview_token_is_not_usable(client, auth, make):
    auth.login_as("analyst")
    url = preview_url(upload(client, xlsx_bytes(taizhou_rows()[:2])))
    auth.logout()
    auth.login_as("analyst", username="another")
    response = client.get(url)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/units/import")
    assert client.get("/admin/units/import/..%2f..%2fsecret_key").status_code in (302, 404)


def test_read_table_of_the_generator_matches_the_headers():
    table = read_table(xlsx_bytes(taizhou_rows()))
    assert len(table.rows) == 97 and table.headers == HEADERS


@pytest.mark.parametrize("data,kind", [(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "PDF"),
                                       (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
                                       (b"\x00\x00\x01\x02\x00\x00bin\x00\x00ary\x00", "")])
def test_a_file_that_is_not_a_spreadsheet_is_named_as_such_once(client, auth, session, data, kind):
    """A PDF renamed to .xlsx: "不是 Excel 文件", said once, not two "missing columns" messages."""
    auth.login_as("analyst")
    response = upload(client, data, "单位表.xlsx")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert html.count("不是 Excel 文件") == 1 and "缺少必需的列" not in html
    if kind:
        assert f"看起来是 {kind} 文件" in html
    assert unit_count(session) == 0


def test_read_table_tells_a_renamed_pdf_from_a_csv():
    with pytest.raises(Exception, match="不是 Excel 文件"):
        read_table(b"%PDF-1.4\n1 0 obj\n")
    utf16 = "代码,名称\nA1,人社局\n".encode("utf-16")
    assert read_table(utf16).rows == [["A1", "人社局"]]
