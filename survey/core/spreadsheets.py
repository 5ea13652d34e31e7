"""Tables in and out of spreadsheets, the way a 绩效办 keeps them: .xlsx and .csv.

Reading: the format is recognised by content, not by the file name. CSV may be UTF-8
(with or without BOM), GBK/GB18030 (what Excel in China saves as "CSV") or UTF-16
("Unicode text", tab-separated). Every cell is returned as stripped text.

Reading is bounded in time and memory whatever the file: a CSV is read row by row and stops
at the row limit; an .xlsx (a zip archive) is refused before openpyxl sees it when a member's
declared uncompressed size, the total, or a member's compression ratio is out of bounds, when a
member uses a compression other than stored/deflate, or when reading a member (with a cap, so a
lying header gains nothing) gives more than allowed (the "zip bomb": 5 million shared strings
packed into 220 KB). The limits are the ``XLSX_*`` constants below; docs/operations.md lists them.

Writing: every text cell that a spreadsheet would run as a formula (starting with
= + - @ tab CR or LF) is neutralised with a leading apostrophe (OWASP "CSV injection").
Reading undoes exactly that, so an exported list imports back unchanged.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from survey.core.errors import DomainError

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
MAX_ROWS = 20000
MAX_COLUMNS = 60
BLANK_RUN_ENDS = MAX_ROWS  # this many empty rows in a row end the table (a sheet formatted to the bottom)
SHEET_MAX_ROWS = 1_048_576  # Excel's own limit

# An .xlsx is a zip archive; these bound what unpacking it may cost. A 20,000-row sheet written by
# Excel or openpyxl is 15–40 MB of XML and compresses 10–25 times; a bomb compresses 400 times.
XLSX_MAX_MEMBERS = 1000
XLSX_MAX_MEMBER_BYTES = 64 * 1024 * 1024  # one worksheet's XML
XLSX_MAX_SHARED_STRINGS_BYTES = 16 * 1024 * 1024  # openpyxl keeps every shared string in memory
XLSX_MAX_TOTAL_BYTES = 128 * 1024 * 1024
XLSX_MAX_RATIO = 100  # uncompressed ÷ compressed size, for members larger than XLSX_RATIO_FLOOR
XLSX_RATIO_FLOOR = 1024 * 1024
_READ_CHUNK = 64 * 1024

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"


class SpreadsheetError(DomainError):
    """The file cannot be read as a table; the message says why in the user's language."""


class TooManyRows(SpreadsheetError):
    """More data rows than the caller takes; reading stopped there (``limit`` is that number)."""

    def __init__(self, limit: int) -> None:
        super().__init__(_("文件超过 %(n)d 行，请分批导入。", n=limit))
        self.limit = limit


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


def read_table(data: bytes, max_rows: int = MAX_ROWS) -> Table:
    """The first sheet of an .xlsx file, or a CSV file, as a :class:`Table`.

    Raises :class:`TooManyRows` as soon as the file turns out to hold more than ``max_rows``
    data rows (at most :data:`MAX_ROWS`): the rest is never read.
    """
    max_rows = min(max_rows, MAX_ROWS)
    if not data:
        raise SpreadsheetError(_("文件是空的。"))
    if data.startswith(b"PK\x03\x04"):
        check_xlsx_archive(data)
        raw_rows = _xlsx_rows(data, max_rows)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise SpreadsheetError(_("这是旧版 Excel（.xls）文件，请在 Excel 中“另存为” .xlsx 或 CSV 后再上传。"))
    elif _binary(data):
        raise SpreadsheetError(_("这个文件不是 Excel 文件（.xlsx），也不是 CSV 文本%(what)s。请在 Excel 中打开表格，"
                                 "“另存为” .xlsx 或 CSV 后再上传。", what=_binary_kind(data)))
    else:
        raw_rows = _csv_rows(decode_text(data))
    return _to_table(raw_rows, max_rows)


def check_xlsx_archive(data: bytes) -> None:
    """Refuse an .xlsx whose unpacking would cost more than the ``XLSX_*`` limits allow.

    First the sizes each member declares (cheap: nothing is unpacked), then every member is read
    in chunks with a cap, so an archive whose headers understate the sizes is caught too. Only
    stored and deflated members are accepted (what Excel, WPS and openpyxl write): other methods
    would unpack a whole chunk at once.
    """
    damaged = _("无法读取这个 Excel 文件，请确认是 .xlsx 格式且没有损坏。")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise SpreadsheetError(damaged) from exc
    if len(members) > XLSX_MAX_MEMBERS:
        raise SpreadsheetError(damaged)
    total = 0
    for member in members:
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or member.flag_bits & 0x1:
            raise SpreadsheetError(damaged)  # bzip2/lzma/encrypted: not an .xlsx we read
        limit = _member_limit(member.filename)
        total += member.file_size
        if member.file_size > limit or total > XLSX_MAX_TOTAL_BYTES:
            raise SpreadsheetError(_too_big())
        if member.file_size > XLSX_RATIO_FLOOR and member.file_size > XLSX_MAX_RATIO * max(1, member.compress_size):
            raise SpreadsheetError(_("这个 Excel 文件的压缩比异常（超过 %(r)d 倍），可能已损坏或是特意构造的文件，"
                                     "没有读取。请在 Excel 中重新“另存为” .xlsx 或 CSV 后再上传。", r=XLSX_MAX_RATIO))
    total = 0
    try:
        for member in members:
            limit = _member_limit(member.filename)
            size = 0
            with archive.open(member) as stream:
                while chunk := stream.read(_READ_CHUNK):
                    size += len(chunk)
                    total += len(chunk)
                    if size > limit or total > XLSX_MAX_TOTAL_BYTES:
                        raise SpreadsheetError(_too_big())
    except SpreadsheetError:
        raise
    except Exception as exc:  # a CRC error (a header that lied about the size), a broken stream, …
        raise SpreadsheetError(damaged) from exc


def _member_limit(name: str) -> int:
    return XLSX_MAX_SHARED_STRINGS_BYTES if name.lower().endswith("sharedstrings.xml") else XLSX_MAX_MEMBER_BYTES


def _too_big() -> str:
    return _("这个 Excel 文件解压后太大（超过 %(mb)d MB），没有读取。请删去多余的工作表、空行和格式后再上传，"
             "或另存为 CSV，或分批导入。", mb=XLSX_MAX_TOTAL_BYTES // (1024 * 1024))


# A file's first bytes that say what it really is, whatever its name (a PDF renamed to .xlsx).
_SIGNATURES = ((b"%PDF-", "PDF"), (b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"),
               (b"Rar!", "RAR"), (b"7z\xbc\xaf", "7z"), (b"\x1f\x8b", "gzip"))


def _binary(data: bytes) -> bool:
    """Not text: a known binary signature, or mostly NUL bytes at the start (text with a UTF-16 BOM excepted;
    a stray NUL inside a CSV cell is the cell's problem, reported with its row and column)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    head = data[:4096]
    return any(data.startswith(sig) for sig, _name in _SIGNATURES) or head.count(b"\x00") * 10 > len(head)


def _binary_kind(data: bytes) -> str:
    kind = next((name for sig, name in _SIGNATURES if data.startswith(sig)), None)
    return _("（看起来是 %(kind)s 文件）", kind=kind) if kind else ""


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


def _csv_rows(text: str) -> Iterator[Sequence[Any]]:
    """The rows one by one, as the reader asks for them: the caller stops at its row limit."""
    end = text.find("\n")
    first_line = text[: end if end >= 0 else len(text)]
    delimiter = max((",", "\t", ";"), key=first_line.count)
    reader = csv.reader(_lines(text), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SpreadsheetError(_("CSV 文件格式有误：%(e)s", e=str(exc))) from exc
        yield row[:MAX_COLUMNS]


_LINE_END = re.compile(r"\r\n|\r|\n")


def _lines(text: str) -> Iterator[str]:
    """The text's lines with their endings, one at a time, as ``io.StringIO(text, newline="")``
    gives them (CRLF, LF or a bare CR ends a line), without another copy of the whole text."""
    start = 0
    for match in _LINE_END.finditer(text):
        yield text[start:match.end()]
        start = match.end()
    if start < len(text):
        yield text[start:]


def _xlsx_rows(data: bytes, max_rows: int = MAX_ROWS) -> Iterable[Sequence[Any]]:
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles other tools write
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            if not workbook.worksheets:
                raise SpreadsheetError(_("Excel 文件里没有工作表。"))
            sheet = workbook.worksheets[0]
            rows: list[Sequence[Any]] = []
            filled = blank_run = 0
            for row in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS):
                if any(v is not None and str(v).strip() for v in row):
                    rows.append(row)
                    filled += 1
                    blank_run = 0
                else:  # kept as () so that row numbers stay right; openpyxl pads gaps with empty rows
                    rows.append(())
                    blank_run += 1
                if filled > max_rows + 1 or blank_run > BLANK_RUN_ENDS or len(rows) >= SHEET_MAX_ROWS:
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


def _to_table(raw_rows: Iterable[Sequence[Any]], max_rows: int = MAX_ROWS) -> Table:
    headers: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    blank_run = 0
    for number, raw in enumerate(raw_rows, start=1):
        cells = [_cell_text(v) for v in list(raw)[:MAX_COLUMNS]]
        if not any(cells):
            blank_run += 1
            if blank_run > BLANK_RUN_ENDS:
                break
            continue
        blank_run = 0
        if headers is None:
            while cells and not cells[-1]:
                cells.pop()
            headers = cells
            continue
        if len(rows) >= max_rows:
            raise TooManyRows(max_rows)
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
