"""Reading and writing spreadsheets: encodings Excel in China produces, and formula neutralising."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from survey.core.spreadsheets import SpreadsheetError, read_table, safe_cell, to_csv, to_xlsx, unsafe_cell
from tests.admin.unit_sheets import csv_bytes, xlsx_bytes


@pytest.mark.parametrize("value, expected", [
    ("=HYPERLINK(\"http://evil\",\"点我\")", "'=HYPERLINK(\"http://evil\",\"点我\")"),
    ("+86 138", "'+86 138"),
    ("-1+2", "'-1+2"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tcmd", "'\tcmd"),
    ("\rx", "'\rx"),
    ("\nx", "'\nx"),
    ("市教育局", "市教育局"),
    ("a=b", "a=b"),
    ("", ""),
    (-5, -5),
    (3.5, 3.5),
    (None, None),
])
def test_safe_cell_neutralises_what_a_spreadsheet_would_run(value, expected):
    assert safe_cell(value) == expected


def test_unsafe_cell_undoes_exactly_what_safe_cell_did():
    for text in ("=1+1", "+x", "-y", "@z", "plain", "'quoted", "'"):
        assert unsafe_cell(safe_cell(text)) == text


def test_exports_neutralise_formulas_in_csv_and_xlsx():
    rows = [["=cmd|' /C calc'!A0", "市教育局", 7]]
    text = to_csv(["代码", "名称", "排序"], rows).decode("utf-8")
    assert text.startswith("\ufeff代码,名称,排序\r\n")
    assert "'=cmd|' /C calc'!A0" in text
    sheet = load_workbook(io.BytesIO(to_xlsx(["代码", "名称", "排序"], rows))).worksheets[0]
    assert sheet["A2"].value == "'=cmd|' /C calc'!A0" and sheet["A2"].data_type == "s"
    assert sheet["C2"].value == 7


def test_exported_cells_read_back_unchanged():
    rows = [["=A1", "+86", "普通"]]
    for data in (to_csv(["a", "b", "c"], rows), to_xlsx(["a", "b", "c"], rows)):
        assert read_table(data).rows == [["=A1", "+86", "普通"]]


ROWS = [["TZ-01", "市教育局", "政府口机关", "", "部门", "", "是"], ["TZ-02", "市公安局", "政府口机关", "", "部门", "", "是"]]


@pytest.mark.parametrize("data", [
    csv_bytes(ROWS, encoding="gbk"),
    csv_bytes(ROWS, encoding="gb18030"),
    csv_bytes(ROWS, encoding="utf-8"),
    csv_bytes(ROWS, encoding="utf-8-sig"),
    csv_bytes(ROWS, encoding="utf-16"),
    xlsx_bytes(ROWS),
], ids=["gbk", "gb18030", "utf8", "utf8-bom", "utf16", "xlsx"])
def test_every_encoding_excel_produces_reads_the_same(data):
    table = read_table(data)
    assert table.headers == ["代码", "名称", "类别", "上级代码", "类型", "窗口号", "启用"]
    assert table.rows == ROWS
    assert table.lines == [2, 3]


def test_tab_separated_and_semicolon_files_are_read():
    text = "代码\t名称\r\nA\t甲\r\n".encode()
    assert read_table(text).rows == [["A", "甲"]]
    assert read_table("代码;名称\nB;乙\n".encode()).rows == [["B", "乙"]]


def test_blank_rows_are_skipped_and_short_rows_padded():
    data = "代码,名称,类别\n\nA,甲\n,,\nB,乙,类\n".encode()
    table = read_table(data)
    assert table.rows == [["A", "甲", ""], ["B", "乙", "类"]]
    assert table.lines == [3, 5]


def test_numbers_in_excel_cells_become_plain_text():
    table = read_table(xlsx_bytes([[101, "甲", 3.0, 2.5, True]], headers=["代码", "名称", "排序", "x", "y"]))
    assert table.rows == [["101", "甲", "3", "2.5", "true"]]


@pytest.mark.parametrize("data, message", [
    (b"", "空的"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "另存为"),
    (b"PK\x03\x04garbage", "无法读取这个 Excel"),
    (b"\n\n,,\n", "没有表头"),
    (bytes([0x81, 0x30, 0x81]) + b"\xff\xfe\xfd", "编码"),
])
def test_unreadable_files_get_a_clear_message(data, message):
    with pytest.raises(SpreadsheetError, match=message):
        read_table(data)


def test_too_many_rows_are_refused(monkeypatch):
    from survey.core import spreadsheets

    monkeypatch.setattr(spreadsheets, "MAX_ROWS", 3)
    data = ("代码,名称\n" + "".join(f"U{i},单位{i}\n" for i in range(5))).encode()
    with pytest.raises(SpreadsheetError, match="超过 3 行"):
        read_table(data)
