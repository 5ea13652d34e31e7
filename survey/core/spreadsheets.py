"""Tables in and out of spreadsheets, the way a 绩效办 keeps them: .xlsx and .csv.

Reading: the format is recognised by content, not by the file name. CSV may be UTF-8
(with or without BOM), GBK/GB18030 (what Excel in China saves as "CSV") or UTF-16
("Unicode text", tab-separated). Every cell is returned as stripped text.

Writing: every text cell that a spreadsheet would run as a formula (starting with
= + - @ tab CR or LF) is neutralised with a leading apostrophe (OWASP "CSV injection").
Reading undoes exactly that, so an exported list imports back unchanged.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from survey.core.errors import DomainError

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
MAX_ROWS = 20000
MAX_COLUMNS = 60

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"


class SpreadsheetError(DomainError):
    """The file cannot be read as a table; the message says why in the user's language."""


@dataclass
class Table:
    """A sheet's header row and data rows (text, padded to the header's width).

    ``lines`` holds each data row's row number in the sheet as Excel shows it.
    """

    headers: list[str]
    rows: list[list[str]]
    lines: list[int]


def safe_cell(value: Any) -> Any:
    """A value that cannot run as a formula: text starting with = + - @ tab CR LF gets a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def unsafe_cell(text: str) -> str:
    """Undo :func:`safe_cell` on a value read back from an exported file."""
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_TRIGGERS:
        return text[1:]
    return text


def read_table(data: bytes) -> Table:
    """The first sheet of an .xlsx file, or a CSV file, as a :class:`Table`."""
    if not data:
        raise SpreadsheetError(_("文件是空的。"))
    if data.startswith(b"PK\x03\x04"):
        raw_rows = _xlsx_rows(data)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise SpreadsheetError(_("这是旧版 Excel（.xls）文件，请在 Excel 中“另存为” .xlsx 或 CSV 后再上传。"))
    else:
        raw_rows = _csv_rows(decode_text(data))
    return _to_table(raw_rows)


def decode_text(data: bytes) -> str:
    """Text of a CSV file: UTF-16 with BOM, UTF-8 (BOM optional), else GB18030 (a superset of GBK)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise SpreadsheetError(_("无法识别文件的文字编码。")) from exc
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SpreadsheetError(_("无法识别文件的文字编码，请保存为 UTF-8 或 GBK 编码的 CSV，或 .xlsx。"))


def _csv_rows(text: str) -> Iterable[Sequence[Any]]:
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first_line.count)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise SpreadsheetError(_("CSV 文件格式有误：%(e)s", e=str(exc))) from exc
    return rows


def _xlsx_rows(data: bytes) -> Iterable[Sequence[Any]]:
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles other tools write
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            if not workbook.worksheets:
                raise SpreadsheetError(_("Excel 文件里没有工作表。"))
            sheet = workbook.worksheets[0]
            rows = []
            for row in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS):
                rows.append(row)
                if len(rows) > MAX_ROWS + 1:
                    break
            workbook.close()
            return rows
    except SpreadsheetError:
        raise
    except Exception as exc:  # a damaged file makes openpyxl, zipfile, zlib or the XML parser fail in any way
        raise SpreadsheetError(_("无法读取这个 Excel 文件，请确认是 .xlsx 格式且没有损坏。")) from exc


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    return unsafe_cell(str(value).strip())


def _to_table(raw_rows: Iterable[Sequence[Any]]) -> Table:
    headers: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    for number, raw in enumerate(raw_rows, start=1):
        cells = [_cell_text(v) for v in list(raw)[:MAX_COLUMNS]]
        if not any(cells):
            continue
        if headers is None:
            while cells and not cells[-1]:
                cells.pop()
            headers = cells
            continue
        if len(rows) >= MAX_ROWS:
            raise SpreadsheetError(_("文件超过 %(n)d 行，请分批导入。", n=MAX_ROWS))
        cells = (cells + [""] * len(headers))[: len(headers)]
        rows.append(cells)
        lines.append(number)
    if headers is None:
        raise SpreadsheetError(_("文件里没有表头和数据。"))
    return Table(headers=headers, rows=rows, lines=lines)


def to_xlsx(headers: Sequence[str], rows: Iterable[Sequence[Any]], sheet_title: str = "Sheet1") -> bytes:
    """An .xlsx file with a bold, frozen header row; text cells neutralised with :func:`safe_cell`."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    headers = [str(h) for h in headers]  # lazy (translated) headers become text in the current language
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title[:31])
    sheet.freeze_panes = "A2"
    for index, header in enumerate(headers, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(10, min(40, len(header) * 3))
    bold = Font(bold=True)
    header_cells = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=safe_cell(header))
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        sheet.append([safe_cell(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def to_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """CSV in UTF-8 with a BOM (so Excel opens Chinese text correctly), CRLF line ends."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(str(h)) for h in headers])
    for row in rows:
        writer.writerow(["" if v is None else safe_cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
