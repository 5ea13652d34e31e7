"""Hostile files and requests on every import and on the JSON API: never a 5xx, never a partial write.

Each import is driven as a browser drives it (the page's CSRF token, a multipart upload, the
preview, the confirmation) with files built by hypothesis: random bytes; CSV in UTF-8 with and
without BOM, GB18030/GBK, UTF-16 with and without BOM, Latin-1 and Big5, with ``,``, ``;`` or tab
and CRLF, LF or CR line ends; valid .xlsx with random cells (huge strings, control characters,
formulas, NUL, numbers and booleans where text is expected, NaN and infinities); truncated,
bit-flipped and member-damaged .xlsx zips; an old .xls; duplicate, missing and unknown headers;
more columns and rows than allowed; wrong file names and MIME types; a missing CSRF token. The
questionnaire import gets mutated and random JSON, the calendar import CSV text, ``flask
import-all`` corrupted archives, and the JSON API random tokens, path segments, query strings
and methods.

For every example: the status is below 500; a refusal shows the app's own message (Chinese)
and leaves the row count of every table as it was; an acceptance wrote exactly what the file
said, and nothing else; a clean file (what a careful person uploads) is accepted. Known hazards
(a damaged .xlsx member, NUL, a lone surrogate, numbers beyond a float, NaN in JSON, old-Mac line
ends, a pasted text beyond the limit, a NUL in an API path) are explicit examples, tried on every run.
"""
from __future__ import annotations

import copy
import csv
import datetime as dt
import hashlib
import io
import json
import math
import re
import secrets
import tarfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import Phase, event, example, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import func, select

from survey.core.spreadsheets import MAX_COLUMNS, MAX_ROWS, XLSX_MIME, decode_text
from survey.models import (
    Channel,
    Holiday,
    HolidayKind,
    Invitation,
    LeaderRating,
    Questionnaire,
    Unit,
)
from survey.services.accounts import api_tokens
from survey.services.ops.backup import export_all, tables
from survey.services.questionnaires.builtin import APPRAISAL, WINDOW_SERVICE
from survey.services.results import component, snapshots
from tests.factories import DEFAULT_GROUPS, csrf_from
from tests.fuzz import fuzz_settings
from tests.results.helpers import fill


def fuzz(examples: int) -> settings:
    """Reproducible runs, no shrinking (each step replays web requests: a failure is reported as found)."""
    return fuzz_settings(examples, phases=[Phase.explicit, Phase.reuse, Phase.generate])


# --- what the database holds -----------------------------------------------------------------------

def row_counts(session) -> dict[str, int]:
    """The row count of every table, in one query (the test's session ends its read at once)."""
    session.expire_all()
    names = [t.name for t in tables()]
    counts = session.execute(select(*(select(func.count()).select_from(t).scalar_subquery().label(t.name)
                                      for t in tables()))).one()
    session.rollback()
    return dict(zip(names, counts, strict=True))


def grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after if after[name] != before[name]}


def error_text(page: str) -> str:
    """What the page shows as errors (for failure messages)."""
    found = re.findall(r'class="(?:error|error-summary|flash[^"]*)"[^>]*>(.*?)</', page, re.DOTALL)
    return " | ".join(f.strip()[:200] for f in found)[:1000]


def assert_refused(response, session, before: dict[str, int], messages: tuple[str, ...]) -> None:
    """A polite refusal: a 4xx (or the page again), the app's message, and not one row changed."""
    assert response.status_code < 500
    page = response.get_data(as_text=True)
    assert any(m in page for m in messages), (response.status_code, error_text(page) or page[:1500])
    assert row_counts(session) == before


@pytest.fixture
def analyst(client, auth):
    """The client, logged in once as an analyst for all of a test's examples."""
    auth.login_as("analyst")
    return client


# --- cells and files ---------------------------------------------------------------------------------

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
NASTY = ["", " ", "\x00", "a\x00b", "\r", "\n", "x\ry", "\r\n", "\t", "\x0b\x0c", "\x1b[31m", "\u202e", "\ufeff",
         "\u3000", "\u200b", "=1+1", '=HYPERLINK("http://evil.example","点我")', "+1", "-1", "@SUM(A1)", "'=1",
         "NaN", "nan", "inf", "-inf", "1e309", "-0", "0x10", "１２", "٣", "99999999999999999999999999", "𝟘", "😀",
         "<script>alert(1)</script>", "' OR 1=1 --", "%00", "%2e%2e%2f", "../../etc/passwd", '"', '""', ",", ";",
         "null", "true", "是", "否", "部门", "窗口", "\ud7ff", "\uffff", "\ufffe"]
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
HUGE = st.builds(lambda ch, n: ch * n, st.sampled_from(["长", "a", "\x00", "😀", ",", '"']),
                 st.sampled_from([201, 300, 2001, 5_000, 40_000, 140_000]))
CELL = st.one_of(TEXT, st.sampled_from(NASTY), HUGE)
XLSX_CELL = st.one_of(CELL, st.integers(-10**20, 10**20), st.floats(), st.booleans(), st.none())
# Text a person would type: no control characters, no characters XML cannot hold.
PLAIN = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn"),
                                       exclude_characters="\ufffe\uffff\ufeff\x85"),
                min_size=1, max_size=40).map(str.strip).filter(bool)
FILENAMES = st.one_of(
    st.sampled_from(["list.xlsx", "list.csv", "名单.CSV", "data.txt", "old.xls", "x.exe", "noext", ".csv",
                     "a\x00b.csv", "../../etc/passwd.csv", "x" * 300 + ".csv", "\u202excsl.xlsx", "a;b=c.csv",
                     'q"uote.csv']),
    PLAIN.map(lambda s: s + ".csv"),
)
MIMETYPES = st.sampled_from([None, "application/octet-stream", "text/csv", XLSX_MIME, "image/png",
                             "text/html; charset=gbk", "application/json", "application/vnd.ms-excel"])


class Formula(str):
    """A cell written to .xlsx as a formula (with no cached value, as openpyxl writes it)."""


def as_read(value: Any) -> str:
    """A cell as the import reads it: text, stripped, the export's neutralising apostrophe undone."""
    if value is None or isinstance(value, Formula):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() else str(value)
    text = str(value).strip()
    if len(text) > 1 and text[0] == "'" and text[1] in TRIGGERS:
        text = text[1:].strip()  # and the import strips every value again
    return text


def for_xlsx(value: Any) -> Any:
    """What openpyxl can store: characters XML 1.0 cannot hold are dropped first."""
    if isinstance(value, str) and not isinstance(value, Formula):
        value = ILLEGAL_CHARACTERS_RE.sub("", value).replace("\ufffe", "").replace("\uffff", "")
        value = value.replace("\r", "")  # XML turns CR into LF; leave line ends out of the oracle
    return value


def xlsx_bytes(rows: list[list[Any]], extra_sheets: int = 0) -> bytes:
    book = Workbook()
    sheet = book.active
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is None:
                continue
            cell = sheet.cell(row=r, column=c, value=value)
            if isinstance(value, str) and not isinstance(value, Formula) and value.startswith("="):
                cell.data_type = "s"  # typed as text, not a formula
    for n in range(extra_sheets):
        book.create_sheet(f"其他{n}").append(["代码", "名称"])
    buffer = io.BytesIO()
    book.save(buffer)
    return _stable_zip(buffer.getvalue())


def _stable_zip(data: bytes) -> bytes:
    """The same workbook bytes on every run (openpyxl stamps the time), so hypothesis can replay a draw."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            body = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2026-01-01T00:00:00Z", zin.read(name)) \
                if name == "docProps/core.xml" else zin.read(name)
            zout.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def csv_text(rows: list[list[Any]], delimiter: str, terminator: str) -> str:
    """CSV as a spreadsheet writes it, any line end; a cell holding CR or LF is quoted whatever the line end."""
    lines = []
    for row in rows:
        buffer = io.StringIO(newline="")
        csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerow(
            ["" if v is None else str(v) for v in row])
        lines.append(buffer.getvalue()[:-2] + terminator)
    return "".join(lines)


@dataclass
class Upload:
    data: bytes
    filename: str
    mimetype: str | None
    kind: str
    sheet: list[list[str]] | None = None  # header and data rows as the import must read them; None: not a table
    good: bool = False  # a readable table whose every data cell was drawn from the field's good values

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # what hypothesis prints
        printer.text(repr(self))

    def __repr__(self) -> str:  # short: hypothesis prints failing examples, and cells can be 140,000 characters
        return (f"Upload({self.kind}, {len(self.data)} bytes, filename={self.filename[:60]!r}, "
                f"mimetype={self.mimetype!r}, good={self.good}, head={self.data[:160]!r})")

    def post(self, client, url: str, token: str | None, **form: str):
        fields = form if token is None else {"csrf_token": token, **form}
        return post_multipart(client, url, fields, (self.data, self.filename, self.mimetype))


def post_multipart(client, url: str, fields: dict[str, str],
                   file: tuple[bytes, str, str | None] | None = None):
    """POST a form as a browser encodes it (the file field named ``file``).

    Built here rather than by the test client, whose encoder leaves a temporary file open for
    bodies above 500 KB (a ResourceWarning, an error under this suite's warning filter)."""
    boundary = "----PingyiFuzz" + secrets.token_hex(12)
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
             + value.encode("utf-8", "surrogatepass") + b"\r\n" for name, value in fields.items()]
    if file is not None:
        data, filename, mimetype = file
        quoted = filename.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
                     f"Content-Type: {mimetype or 'application/octet-stream'}\r\n\r\n".encode("utf-8", "surrogatepass")
                     + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return client.post(url, data=b"".join(parts), content_type=f"multipart/form-data; boundary={boundary}")


def _table_as_read(rows: list[list[Any]]) -> list[list[str]]:
    read = [[as_read(v) for v in row][:MAX_COLUMNS] for row in rows]
    read = [row for row in read if any(row)]
    if not read:
        return []
    header = list(read[0])
    while header and not header[-1]:
        header.pop()
    return [header] + [(row + [""] * len(header))[: len(header)] for row in read[1:]]


def _damage_zip(draw, good: bytes) -> bytes:
    how = draw(st.sampled_from(["truncate", "flip", "member", "junk", "empty_zip"]))
    if how == "truncate":
        return good[: draw(st.integers(4, len(good) - 1))]
    if how == "flip":
        data = bytearray(good)
        for pos, byte in draw(st.lists(st.tuples(st.integers(4, len(good) - 1), st.integers(0, 255)),
                                       min_size=1, max_size=6)):
            data[pos] = byte
        return bytes(data)
    if how == "junk":
        return b"PK\x03\x04" + draw(st.binary(max_size=300))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        if how == "member":  # one member cut short, maybe with junk after it
            names = zin.namelist()
            victim = draw(st.sampled_from(names))
            cut = draw(st.integers(0, 400))
            junk = draw(st.sampled_from([b"", b"<", b"\x00\xff", b"<x>&bogus;</x>", b"<?xml version='1.0'?><a"]))
            for name in names:
                body = zin.read(name)
                zout.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)),
                              body[:cut] + junk if name == victim else body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def first_column(headers: list[str], aliases: tuple[str, ...]) -> int | None:
    """The column an import takes for a field: the first alias present, its first occurrence."""
    lowered = [h.strip().lower() for h in headers]
    for alias in aliases:
        if alias.lower() in lowered:
            return lowered.index(alias.lower())
    return None


Fields = dict[str, tuple[list[str], st.SearchStrategy, st.SearchStrategy]]  # aliases, good values, any values


def header_rows(draw, fields: Fields, required: tuple[str, ...], unique: tuple[str, ...], clean: bool,
                max_rows: int = 8) -> tuple[list[list[Any]], bool]:
    """A header (aliases of some fields, maybe missing or doubled ones, noise columns) and rows whose
    cells come from each field's good values or from hostile ones; ``clean``: a file a careful
    person would upload (required fields, no field twice, good and distinct rows).

    Returns the rows (header first) and whether every data cell was drawn good."""
    names = list(fields)
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    if clean or draw(st.integers(0, 3)):
        chosen = list(dict.fromkeys([*required, *chosen]))
    chosen = draw(st.permutations(chosen))
    columns: list[tuple[str | None, str]] = [(name, draw(st.sampled_from(fields[name][0]))) for name in chosen]
    for _ in range(draw(st.integers(0, 2))):  # noise columns the import ignores
        noise = draw(st.one_of(st.sampled_from(["备用", "预算", "Budget", "", "=SUM(A1)", "x" * 300, "序号"]),
                               TEXT.map(lambda s: "噪声" + s)))
        columns.insert(draw(st.integers(0, len(columns))), (None, noise))
    if columns and not clean and draw(st.integers(0, 5)) == 0:  # a field twice
        twin = draw(st.sampled_from([c for c in columns if c[0] is not None] or columns))
        columns.append((twin[0], draw(st.sampled_from(fields[twin[0]][0])) if twin[0] else twin[1]))
    rows: list[list[Any]] = [[header for _name, header in columns]]
    all_good = True
    seen: set[tuple[str, str]] = set()
    for _ in range(draw(st.integers(1 if clean else 0, max_rows))):
        good = clean or draw(st.integers(0, 3)) > 0
        cells = {}
        row = []
        for name, _header in columns:
            noise = st.one_of(st.just(""), PLAIN if clean else CELL)
            value = draw(noise if name is None else fields[name][1] if good else fields[name][2])
            cells.setdefault(name, value)
            row.append(value)
        keys = {(u, str(cells[u]).strip()) for u in unique if u in cells and str(cells[u]).strip()}
        if clean and keys & seen:
            continue  # a careful person's file has no duplicates
        seen |= keys
        rows.append(row)
        all_good = all_good and good
    if draw(st.integers(0, 6)) == 0:
        rows.insert(draw(st.integers(1, len(rows))), [""] * len(columns))  # a blank line
    return rows, all_good


@st.composite
def uploads(draw, fields: Fields, required: tuple[str, ...], unique: tuple[str, ...] = ()) -> Upload:
    """A hostile upload: a spreadsheet with a header and rows of these fields, or something that is not
    one; a third of them clean files that must be accepted."""
    clean = draw(st.integers(0, 2)) == 0
    rows, good = header_rows(draw, fields, required, unique, clean)
    filename, mimetype = draw(FILENAMES), draw(MIMETYPES)
    kind = draw(st.sampled_from(["csv", "xlsx", "wide"] if clean else
                                ["csv"] * 5 + ["xlsx"] * 3 + ["bytes", "broken_xlsx", "empty", "xls", "tall", "wide"]))
    if kind == "bytes":
        return Upload(draw(st.binary(min_size=1, max_size=3000)), filename, mimetype, kind)
    if kind == "empty":
        return Upload(b"", filename, mimetype, kind)
    if kind == "xls":
        return Upload(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + draw(st.binary(max_size=200)), filename, mimetype, kind)
    if kind == "tall":
        body = "\r\n".join(",".join(map(str, rows[0][:2])) if i == 0 else f"T{i},行{i}" for i in range(MAX_ROWS + 2))
        return Upload(body.encode("utf-8"), filename, mimetype, kind)
    if kind == "wide":
        extra = draw(st.integers(1, 150))
        fillers = draw(st.lists(st.sampled_from(["", "x", "=1"]), min_size=len(rows), max_size=len(rows)))
        rows = [row + [f"多余{i}" if n == 0 else filler if any(row) else "" for i in range(extra)]
                for n, (row, filler) in enumerate(zip(rows, fillers))]
        kind = draw(st.sampled_from(["csv", "xlsx"]))
    if kind in ("xlsx", "broken_xlsx"):
        rows = [[for_xlsx(v) for v in row] for row in rows]
        if not clean:  # numbers, booleans, formulas and blanks where text is expected
            for row in rows[1:]:
                for i in range(len(row)):
                    if draw(st.integers(0, 9)) == 0:
                        good = False
                        row[i] = for_xlsx(draw(st.one_of(XLSX_CELL, st.builds(Formula, st.sampled_from(
                            ["=1+1", "=SUM(A1:A3)", '=HYPERLINK("http://x")'])))))
        book = xlsx_bytes(rows, extra_sheets=draw(st.integers(0, 2)))
        if kind == "broken_xlsx":
            return Upload(_damage_zip(draw, book), filename, mimetype, kind)
        return Upload(book, filename, mimetype, kind, _table_as_read(rows), good)
    delimiter = draw(st.sampled_from([",", ",", "\t", ";"]))
    terminator = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"] if clean else
                                    ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16", "utf-16-le", "latin-1", "big5"]))
    text = csv_text(rows, delimiter, terminator)
    data = text.encode(encoding, errors="replace")
    sheet = None
    try:
        lossless = decode_text(data) == text.lstrip("\ufeff")
    except Exception:  # noqa: BLE001
        lossless = False
    if lossless and delimiter == max((",", "\t", ";"), key=text.split("\n", 1)[0].count):
        sheet = _table_as_read(rows)
    return Upload(data, filename, mimetype, f"csv/{encoding}/{delimiter!r}/{terminator!r}", sheet,
                  good and sheet is not None)


def csv_upload(rows: list[list[str]], filename: str = "list.csv", terminator: str = "\r\n") -> Upload:
    """A UTF-8 CSV file for the explicit examples (known hazards, tried on every run)."""
    data = csv_text(rows, ",", terminator).encode("utf-8")
    return Upload(data, filename, "text/csv", "csv/explicit", _table_as_read(rows))


def xlsx_upload(rows: list[list[str]], member: str | None = None, body: bytes = b"") -> Upload:
    """An .xlsx file; with ``member``, that member replaced by ``body`` (or its compressed data garbled)."""
    data = xlsx_bytes(rows)
    if member is None:
        return Upload(data, "list.xlsx", XLSX_MIME, "xlsx/explicit", _table_as_read(rows))
    if body:
        start = data.index(member.encode()) + len(member)  # the member's data, after its local header
        data = data[:start + 8] + body + data[start + 8 + len(body):]
        return Upload(data, "list.xlsx", XLSX_MIME, f"xlsx/{member} garbled")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            zout.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), b"" if name == member
                          else zin.read(name), zipfile.ZIP_DEFLATED)
    return Upload(out.getvalue(), "list.xlsx", XLSX_MIME, f"xlsx/{member} empty")


SHEET_ERRORS = ("文件是空的", "另存为", "无法读取这个 Excel 文件", "无法识别文件的文字编码", "CSV 文件格式有误",
                "文件超过", "文件里没有表头和数据", "Excel 文件里没有工作表")


# --- the unit list: upload → preview → confirm --------------------------------------------------------

UNIT_ALIASES = {
    "code": ["代码", "单位代码", "Code", " code ", "编码"],
    "name": ["名称", "单位名称", "Name", "名 称"],
    "category": ["类别", "考评类别", "category"],
    "note": ["备注", "说明", "notes"],
    "window_no": ["窗口号", "window"],
    "active": ["启用", "是否启用"],
    "kind": ["类型", "kind"],
    "parent_code": ["上级代码", "parent"],
    "sort_order": ["排序", "order"],
}
UNIT_GOOD = {
    "code": st.one_of(st.from_regex(r"\AU[A-Z0-9_.-]{1,8}\Z"), st.sampled_from(["U-OLD1", "U-OLD2"])),
    "name": PLAIN,
    "category": st.one_of(st.sampled_from(["", "政府口机关", "ZF"]), PLAIN.filter(lambda s: len(s) <= 100)),
    "note": st.one_of(st.just(""), PLAIN),
    "window_no": st.one_of(st.just(""), PLAIN.filter(lambda s: len(s) <= 20)),
    "active": st.sampled_from(["", "是", "否", "1", "0", "yes", "启用", "停用"]),
    "kind": st.sampled_from(["", "部门", "处室", "窗口", "区县", "window"]),
    "parent_code": st.sampled_from(["", "ROOT"]),  # ROOT is never in a file: no cycles from good rows
    "sort_order": st.one_of(st.just(""), st.integers(-1_000_000, 1_000_000).map(str)),
}
UNIT_FIELDS = {k: (UNIT_ALIASES[k], UNIT_GOOD[k], st.one_of(UNIT_GOOD[k], CELL)) for k in UNIT_GOOD}
UNIT_MESSAGES = SHEET_ERRORS + ("请选择要上传的文件", "是同一列", "缺少必需的列", "只有表头", "页面已过期")
KEY_OF_HEADER = {re.sub(r"[\s（）()*:：]", "", alias).lower(): key for key, aliases in UNIT_ALIASES.items()
                 for alias in aliases}


@pytest.fixture
def unit_world(make):
    category = make.category(code="ZF", name="政府口机关")
    root = make.unit(code="ROOT", name="市政府", category=category)
    make.unit(code="U-OLD1", name="旧单位一", parent=root)
    make.unit(code="U-OLD2", name="旧单位二", category=category)
    make.commit()


def _unit_rows(sheet: list[list[str]] | None) -> list[dict[str, str]] | None:
    """The rows by column key, when the header is one the import can use (code and name, no field twice)."""
    if not sheet:
        return None
    keys = [KEY_OF_HEADER.get(re.sub(r"[\s（）()*:：]", "", h).lower()) for h in sheet[0]]
    present = [k for k in keys if k]
    if len(present) != len(set(present)) or not {"code", "name"} <= set(present):
        return None
    return [{k: row[i] for i, k in enumerate(keys) if k} for row in sheet[1:]]


@pytest.mark.slow
@fuzz(50)
@given(upload=uploads(UNIT_FIELDS, ("code", "name"), unique=("code",)), keep_csrf=st.integers(0, 9))
@example(upload=xlsx_upload([["代码", "名称"], ["UX1", "单位"]], member="docProps/core.xml"), keep_csrf=1)
@example(upload=xlsx_upload([["代码", "名称"], ["UX2", "单位"]], member="xl/styles.xml", body=b"\xff" * 16),
         keep_csrf=1)
@example(upload=csv_upload([["代码", "名称", "备注"], ["UNUL", "名\x00称", "\x00"]]), keep_csrf=1)
@example(upload=csv_upload([["代码", "名称"], ["UFILE", "文件名有 NUL 的单位"]], filename="a\x00b.csv"), keep_csrf=1)
def test_unit_import(app, session, analyst, unit_world, upload, keep_csrf):
    client = analyst
    before = row_counts(session)
    existing = set(session.scalars(select(Unit.code)))
    session.rollback()
    rows = _unit_rows(upload.sheet)
    must_accept = upload.good and keep_csrf and rows and len({r["code"] for r in rows}) == len(rows)
    token = csrf_from(client.get("/admin/units/import")) if keep_csrf else None
    response = upload.post(client, "/admin/units/import", token)
    if response.status_code != 302:
        assert not must_accept, (upload.kind, error_text(response.get_data(as_text=True)))
        assert response.status_code in (400, 413, 422)
        assert_refused(response, session, before, UNIT_MESSAGES)
        event("units: refused on upload")
        return
    preview_url = response.headers["Location"]
    page = client.get(preview_url)
    assert page.status_code == 200, error_text(page.get_data(as_text=True))
    preview = page.get_data(as_text=True)
    assert row_counts(session) == before  # nothing written before the analyst confirms
    confirm = client.post(preview_url, data={"csrf_token": csrf_from(page)})
    assert confirm.status_code < 500
    if ">确认导入</button>" not in preview:
        assert not must_accept, (upload.kind, error_text(preview))
        assert confirm.status_code == 409
        assert_refused(confirm, session, before, ("文件中出现了错误", "不能导入"))
        event("units: preview with errors, confirm refused")
        return
    assert confirm.status_code == 302, error_text(confirm.get_data(as_text=True))
    changes = grown(before, row_counts(session))
    assert set(changes) <= {"unit", "category", "audit_log"}, changes
    event("units: imported" + (" and checked row by row" if rows is not None else ""))
    if rows is None:
        return  # a file whose reading the test cannot predict (a lossy encoding): consistent is all we ask
    rows = [r for r in rows if any(r.values())]
    by_code = {u.code: u for u in session.scalars(select(Unit))}
    for row in rows:
        unit = by_code[row["code"]]
        assert unit.name == row["name"]
        if "note" in row:
            assert (unit.note or "") == row["note"]
        if "category" in row:
            category = unit.category
            assert (category is None) if not row["category"] else row["category"] in (category.code, category.name)
    assert changes.get("unit", 0) == len({r["code"] for r in rows} - existing)
    session.rollback()


# --- invitation lists: upload → check → confirm -------------------------------------------------------

INVITE_ALIASES = {
    "label": ("姓名或编号", "姓名", "编号", "name", "label", "name or code"),
    "group": ("样本类别", "类别", "群体", "group", "respondent group"),
    "phone": ("手机", "手机号", "手机号码", "phone", "mobile"),
}
PHONE = st.builds(lambda d, rest, fmt: fmt.format(f"1{d}{rest:09d}"), st.integers(3, 9), st.integers(0, 10**9 - 1),
                  st.sampled_from(["{}", "+86{}", "0086 {}", "{} ", "86{}"]))
INVITE_GOOD = {
    "label": PLAIN.filter(lambda s: len(s) <= 200),
    "group": st.sampled_from(["QY", "SM", "rd", "市民", "企业代表", " FW "]),
    "phone": st.one_of(st.just(""), PHONE),
}
INVITE_BAD = st.sampled_from(["外星人", "1380013800", "１３８００１３８０００", "13８００１３８０００",
                              "+8613800138000", "12345678901", "138-0013-8000"])
INVITE_FIELDS = {k: (list(INVITE_ALIASES[k]) + [INVITE_ALIASES[k][0].upper() + " "], INVITE_GOOD[k],
                     st.one_of(INVITE_GOOD[k], CELL, INVITE_BAD)) for k in INVITE_GOOD}
INVITE_MESSAGES = SHEET_ERRORS + ("请选择要上传的名单文件", "找不到“姓名或编号”列", "找不到“样本类别”列", "行有问题",
                                  "页面已过期")
GROUP_OF = {key.lower(): code for code, name, _share in DEFAULT_GROUPS for key in (code, name)}


@pytest.fixture
def panel(make):
    """A new appraisal with the invitation channel for each example (no mobile number taken yet)."""
    units = [make.unit(name="市教育局"), make.unit(name="市公安局")]
    questionnaire = make.questionnaire(kind="appraisal")

    def new_campaign():
        campaign = make.campaign(units=units, questionnaire=questionnaire,
                                 channels=[Channel.WEB.value, Channel.INVITATION.value])
        make.commit()
        return campaign

    return new_campaign


def _phone(raw: str) -> str | None:
    digits = re.sub(r"[\s\-()（）]", "", unicodedata.normalize("NFKC", raw))
    return digits[-11:] if digits else None


def _invitees(sheet: list[list[str]] | None) -> list[tuple[str, str, str | None]] | None:
    """(label, group code, mobile) per row, when the header names the label and group columns."""
    if not sheet:
        return None
    label, group = first_column(sheet[0], INVITE_ALIASES["label"]), first_column(sheet[0], INVITE_ALIASES["group"])
    phone = first_column(sheet[0], INVITE_ALIASES["phone"])
    if label is None or group is None:
        return None
    return [(r[label], GROUP_OF.get(r[group].lower(), r[group]), _phone(r[phone]) if phone is not None else None)
            for r in sheet[1:]]


@pytest.mark.slow
@fuzz(50)
@given(upload=uploads(INVITE_FIELDS, ("label", "group"), unique=("label", "phone")), keep_csrf=st.integers(0, 9))
@example(upload=xlsx_upload([["姓名或编号", "样本类别"], ["张三", "QY"]], member="xl/worksheets/sheet1.xml"),
         keep_csrf=1)
@example(upload=csv_upload([["姓名或编号", "样本类别"], ["张\x00三", "QY"]]), keep_csrf=1)
@example(upload=csv_upload([["姓名或编号", "样本类别", "手机"], ["李四", "SM", "13８００１３８０００"]]), keep_csrf=1)
def test_invitation_upload(app, session, analyst, panel, upload, keep_csrf):
    client = analyst
    base = f"/admin/distribution/{panel().id}/invitations"
    before = row_counts(session)
    invitees = _invitees(upload.sheet)
    phones = [p for _l, _g, p in invitees or [] if p]
    must_accept = (upload.good and keep_csrf and invitees and len(set(invitees)) == len(invitees)
                   and len(set(phones)) == len(phones))
    page = client.get(base)
    token = csrf_from(page) if keep_csrf else None
    shown = upload.post(client, base + "/preview", token)
    checked = shown.get_data(as_text=True)
    staged = re.search(r'name="staged" value="([^"]+)"', checked)
    if shown.status_code != 200 or not staged:
        assert not must_accept, (upload.kind, error_text(checked))
        assert shown.status_code in (400, 413, 422)
        assert_refused(shown, session, before, INVITE_MESSAGES)
        event("invitations: refused")
        forged = client.post(base + "/confirm", data={"csrf_token": csrf_from(page), "staged": "A" * 32})
        assert_refused(forged, session, before, ("预览已过期或不存在",))
        return
    assert row_counts(session) == before
    done = client.post(base + "/confirm", data={"csrf_token": csrf_from(page), "staged": staged.group(1)})
    assert done.status_code == 302, error_text(done.get_data(as_text=True))
    changes = grown(before, row_counts(session))
    assert set(changes) == {"invitation", "audit_log"} and changes["audit_log"] == 1, changes
    event("invitations: created" + (" and checked row by row" if invitees is not None else ""))
    if invitees is None:
        return  # a file whose reading the test cannot predict (a lossy encoding)
    newest = list(session.scalars(select(Invitation).order_by(Invitation.id.desc()).limit(changes["invitation"])))
    assert sorted((i.label, i.respondent_group.code, i.phone) for i in newest) == sorted(invitees)
    assert all(i.phone is None or re.fullmatch(r"1[3-9][0-9]{9}", i.phone) for i in newest), \
        [i.phone for i in newest]  # an SMS gateway needs ASCII digits
    again = client.post(base + "/confirm", data={"csrf_token": csrf_from(page), "staged": staged.group(1)})
    assert_refused(again, session, row_counts(session), ("预览已过期或不存在",))


# --- leader ratings: upload → preview → confirm --------------------------------------------------------

LEADER_ALIASES = {
    "code": ("单位代码", "代码", "unit_code", "code"),
    "score": ("领导评价得分", "领导评价", "得分", "分数", "score"),
    "name": ("单位名称", "名称", "name"),
    "source": ("来源", "备注", "source"),
}
SCORE = st.one_of(st.integers(0, 100).map(str), st.floats(0, 100).map(repr), st.floats(0, 100).map("{:.2f}".format),
                  st.sampled_from(["100", "0", " 88.5 ", "1e1", "٥٠", "9_0", "+5", "-0"]))
LEADER_GOOD = {
    "code": st.sampled_from(["D1", "D2", "D3"]),
    "score": SCORE,
    "name": st.just(""),
    "source": st.one_of(st.just(""), PLAIN),
}
LEADER_BAD = st.sampled_from(["-1", "101", "NaN", "inf", "-inf", "1e309", "nan", "九十", "D9", "第二局", "100.0001"])
LEADER_FIELDS = {k: (list(LEADER_ALIASES[k]) + [" " + LEADER_ALIASES[k][0] + " "], LEADER_GOOD[k],
                     st.one_of(LEADER_GOOD[k], CELL, LEADER_BAD)) for k in LEADER_GOOD}
LEADER_MESSAGES = SHEET_ERRORS + ("请选择要导入的文件", "表头需要", "文件里没有数据行", "行有问题", "页面已过期",
                                  "文件太大")


@pytest.fixture
def period(make):
    """Period 2026Q4 with units D1–D3 (第1局 …); returns their ids by code."""
    category = make.category(code="ZF", name="政府口机关")
    units = [make.unit(code=f"D{i}", name=f"第{i}局", category=category) for i in range(1, 4)]
    make.campaign(units=units, period="2026Q4")
    make.commit()
    return {u.code: u.id for u in units}


def _ratings(sheet: list[list[str]] | None) -> tuple[list[tuple[str, str]], bool] | None:
    """(code, score text) per row and whether the names given match, when the header has both columns."""
    if not sheet:
        return None
    code, score = first_column(sheet[0], LEADER_ALIASES["code"]), first_column(sheet[0], LEADER_ALIASES["score"])
    name = first_column(sheet[0], LEADER_ALIASES["name"])
    if code is None or score is None:
        return None
    names_ok = name is None or all(r[name] in ("", f"第{r[code][1:]}局") for r in sheet[1:])
    return [(r[code], r[score]) for r in sheet[1:]], names_ok


@pytest.mark.slow
@fuzz(50)
@given(upload=uploads(LEADER_FIELDS, ("code", "score"), unique=("code",)), keep_csrf=st.integers(0, 9))
@example(upload=xlsx_upload([["单位代码", "领导评价得分"], ["D1", "90"]], member="xl/worksheets/sheet1.xml",
                            body=b"\x00\xff" * 8), keep_csrf=1)
@example(upload=csv_upload([["单位代码", "领导评价得分", "来源"], ["D1", "90", "市委\x00考核办"]]), keep_csrf=1)
def test_leader_ratings_import(app, session, analyst, period, upload, keep_csrf):
    client = analyst
    before = row_counts(session)
    expected = _ratings(upload.sheet)
    codes = [c for c, _s in expected[0]] if expected else []
    must_accept = upload.good and keep_csrf and codes and len(set(codes)) == len(codes) and expected[1]
    url = "/admin/results/leader/2026Q4"
    token = csrf_from(client.get(url)) if keep_csrf else None
    shown = upload.post(client, url + "/import", token)
    signed = re.search(r'name="token" value="([^"]+)"', shown.get_data(as_text=True))
    if shown.status_code != 200 or not signed:
        assert not must_accept, (upload.kind, error_text(shown.get_data(as_text=True)))
        assert shown.status_code in (400, 413, 422)
        assert_refused(shown, session, before, LEADER_MESSAGES)
        event("leader ratings: refused")
        return
    assert row_counts(session) == before
    done = client.post(url + "/import/confirm", data={"csrf_token": csrf_from(shown), "token": signed.group(1)})
    assert done.status_code == 303
    assert set(grown(before, row_counts(session))) <= {"leader_rating", "audit_log"}
    event("leader ratings: imported" + (" and checked row by row" if expected is not None else ""))
    if expected is None:
        return  # a file whose reading the test cannot predict (a lossy encoding)
    session.expire_all()
    stored = {r.unit_id: r.score for r in session.scalars(select(LeaderRating).where(LeaderRating.period == "2026Q4"))}
    for code, score in expected[0]:
        assert stored[period[code]] == pytest.approx(float(score), rel=1e-12, abs=1e-12)
    assert set(grown(before, row_counts(session))) <= {"leader_rating", "audit_log"}


# --- questionnaire JSON -------------------------------------------------------------------------------

HOSTILE_JSON = st.one_of(
    st.sampled_from([None, True, False, 0, -1, 2**63, -2**63 - 1, 10**400, -(10**400), 1e308, -1e308, float("nan"),
                     float("inf"), float("-inf"), -0.0, "", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "=1+1",
                     "<script>alert(1)</script>", "service", "appraisal", "satisfaction",
                     "single", "multiple", "group", "text", [], {}, [[[]]], {"": None}, ["Q1"], {"max_choices": 0},
                     {"max_choices": 10**400}, {"nested": [1, {"deep": float("nan")}]}, [0, 1, 2, 3, 4],
                     [0, 25, 50, 75, 10**400], [float("nan")] * 5]),
    TEXT, st.integers(), st.floats(), HUGE,
    st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), TEXT),
                 lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
                 max_leaves=8),
)


def _json_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            paths += _json_paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            paths += _json_paths(inner, prefix + (i,))
    return paths


@dataclass(frozen=True)
class Blob:
    """Bytes with a short repr (what hypothesis prints for a failing example)."""

    data: bytes
    how: str

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(repr(self))

    def __repr__(self) -> str:
        return f"Blob({self.how}, {len(self.data)} bytes, head={self.data[:200]!r})"


@st.composite
def questionnaire_files(draw) -> Blob:
    """(file bytes, how it was made): a built-in template, a mutated one, random JSON or not JSON at all."""
    kind = draw(st.sampled_from(["template", "template", "mutated", "mutated", "mutated", "mutated", "random", "raw",
                                 "bytes"]))
    if kind == "bytes":
        return Blob(draw(st.binary(max_size=2000)), kind)
    if kind == "raw":
        text = draw(st.sampled_from(["", "{", "[" * 100_000, "1" * 5000, '{"title": "\\ud800"}', "null", "[]",
                                     '{"format": "pingyi-questionnaire", "format_version": 1e999}', "\ufeff{}",
                                     '{"questions": ' + "[" * 900 + "]" * 900 + "}"]))
        return Blob(text.encode("utf-8", errors="surrogatepass"), kind)
    data: Any = copy.deepcopy(draw(st.sampled_from([WINDOW_SERVICE, APPRAISAL])))
    data.update(format="pingyi-questionnaire", format_version=1)
    if kind == "random":
        data = draw(HOSTILE_JSON)
    elif kind == "mutated":
        for _ in range(draw(st.integers(1, 4))):
            path = draw(st.sampled_from(_json_paths(data)))
            if not path:
                continue
            parent = data
            for step in path[:-1]:
                parent = parent[step]
            op = draw(st.sampled_from(["alike", "alike", "alike", "set", "delete", "add"]))
            if op == "alike":  # a value of the same type: the structure stays valid, the content is hostile
                parent[path[-1]] = draw(_alike(parent[path[-1]]))
            elif op == "set":
                parent[path[-1]] = draw(HOSTILE_JSON)
            elif op == "delete":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.one_of(TEXT, st.sampled_from(["settings", "options", "weight", "group"])))] = \
                    draw(HOSTILE_JSON)
            else:
                parent.append(draw(HOSTILE_JSON))
    text = json.dumps(data, ensure_ascii=draw(st.booleans()) or _has_surrogate(data), indent=draw(st.sampled_from(
        [None, 2])))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "gbk"]))
    return Blob(text.encode(encoding, errors="replace"), f"{kind}/{encoding}")


def _alike(value: Any) -> st.SearchStrategy:
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, (int, float)):
        return st.one_of(st.integers(-10**6, 10**6), st.floats(), st.sampled_from([10**400, -(10**400), 2**63, 1e308]))
    if isinstance(value, str):
        return st.one_of(PLAIN, TEXT, st.sampled_from(NASTY), HUGE, st.sampled_from(["\ud800", "a\udfffb"]))
    return HOSTILE_JSON


def _has_surrogate(value: Any) -> bool:
    return "\\ud" in json.dumps(value) or "\\ue" in json.dumps(value)  # escapes only: cheap and good enough


def template_json(how: str, **changes: Any) -> Blob:
    """The window-service template with some fields changed (question fields as ``q1_<field>``), as a file."""
    data = copy.deepcopy(WINDOW_SERVICE)
    for key, value in changes.items():
        if key.startswith("q1_"):
            data["questions"][0][key[3:]] = value
        else:
            data[key] = value
    return Blob(json.dumps(data).encode(), how)


QUESTIONNAIRE_TABLES = {"questionnaire", "question", "option", "audit_log"}
QUESTIONNAIRE_MESSAGES = ("请选择要导入的问卷文件", "应为 UTF-8 编码的 JSON", "不是有效的 JSON", "JSON 嵌套太深",
                          "问卷数据应为一个对象", "这不是评议问卷文件", "不受支持", "问卷类型应为", "不能为空",
                          "应为文字", "最长", "应为数字", "应为有限的数字", "等级分值", "至少需要一道题", "最多",
                          "应为一个对象", "未知题型", "重复", "不能为负", "字数上限", "settings 应为",
                          "至少需要两个选项", "没有选项", "选择数", "可选项数", "选项代码应为文字", "样本类别",
                          "true 或 false", "身份", "页面已过期")


@pytest.fixture
def with_groups(make):
    make.groups()
    make.commit()


@pytest.mark.slow
@fuzz(60)
@given(file=questionnaire_files(), filename=FILENAMES, mimetype=MIMETYPES, keep_csrf=st.integers(0, 9))
@example(file=template_json("explicit/weight 10**400", q1_weight=10**400), filename="q.json", mimetype=None,
         keep_csrf=1)
@example(file=template_json("explicit/level score 10**400", level_scores=[0, 1, 2, 3, 10**400]), filename="q.json",
         mimetype=None, keep_csrf=1)
@example(file=Blob(b"1" * 5000, "explicit/a 5000-digit number"), filename="q.json", mimetype=None, keep_csrf=1)
@example(file=template_json("explicit/lone surrogate", title="\ud800问卷"), filename="q.json", mimetype=None,
         keep_csrf=1)
@example(file=template_json("explicit/NUL", title="问\x00卷", q1_text="整体\x00满意度"), filename="q.json",
         mimetype=None, keep_csrf=1)
@example(file=template_json("explicit/NaN in settings", q1_settings={"x": float("nan")}), filename="q.json",
         mimetype=None, keep_csrf=1)
def test_questionnaire_json_import(app, session, analyst, with_groups, file, filename, mimetype, keep_csrf):
    client = analyst
    body, how = file.data, file.how
    before = row_counts(session)
    token = csrf_from(client.get("/admin/questionnaires/")) if keep_csrf else None
    response = Upload(body, filename, mimetype, how).post(client, "/admin/questionnaires/import", token)
    if response.status_code != 302:
        clean_template = how in ("template/utf-8", "template/utf-8-sig") and keep_csrf
        assert not clean_template, error_text(response.get_data(as_text=True))
        assert response.status_code in (400, 422)
        assert_refused(response, session, before, QUESTIONNAIRE_MESSAGES)
        event("questionnaire: refused")
        return
    changes = grown(before, row_counts(session))
    assert set(changes) <= QUESTIONNAIRE_TABLES and changes["questionnaire"] == 1 and changes["audit_log"] == 1
    event(f"questionnaire: imported ({how.split('/')[0]})")
    said = json.loads(body.decode("utf-8-sig"))  # what the file holds
    made = session.scalar(select(Questionnaire).order_by(Questionnaire.id.desc()))
    assert made.title == said["title"].strip()
    assert [(q.code, q.text) for q in made.questions] == [
        ((q.get("code") or f"Q{n}").strip(), q["text"].strip()) for n, q in enumerate(said["questions"], start=1)]
    assert [[o.label for o in q.options] for q in made.questions] == [
        [o["label"].strip() for o in (q.get("options") or [])] for q in said["questions"]]
    assert changes.get("question", 0) == len(said["questions"])
    session.rollback()
    assert client.get(response.headers["Location"]).status_code == 200  # the editor opens it


# --- the working-day calendar -------------------------------------------------------------------------

KIND_WORDS = {HolidayKind.HOLIDAY: ["holiday", "休", "假", "放假", "HOLIDAY", " 节假日 "],
              HolidayKind.WORKDAY: ["workday", "班", "上班", "调休上班", "WorkDay"]}
DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"]


@dataclass(repr=False)
class CalendarRow:
    cells: list[str]
    day: dt.date | None = None  # set for a valid row
    kind: HolidayKind | None = None
    name: str | None = None
    blank: bool | None = False  # None: a hostile row, valid or not

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(repr(self))

    def __repr__(self) -> str:
        return f"CalendarRow({[c if len(c) < 60 else c[:20] + f'…({len(c)})' for c in self.cells]!r})"


@st.composite
def calendar_rows(draw, clean: bool = False) -> CalendarRow:
    """A row of a calendar file: valid, skipped (blank, comment), invalid in a known way, or hostile."""
    shape = draw(st.sampled_from(["good"] * 6 + ["blank", "comment"] if clean else
                                 ["good"] * 6 + ["weekend_holiday", "weekday_workday", "bad_date", "bad_kind", "short",
                                                 "blank", "comment", "hostile"]))
    day = draw(st.dates(dt.date(1900, 1, 1), dt.date(2200, 12, 31)))
    if shape == "hostile":
        return CalendarRow(draw(st.lists(CELL, min_size=1, max_size=4)), blank=None)  # may or may not be valid
    if shape == "blank":
        return CalendarRow(["", " "][: draw(st.integers(0, 2))], blank=True)
    if shape == "comment":
        return CalendarRow(["#" + draw(TEXT), draw(TEXT)], blank=True)
    if shape == "short":
        return CalendarRow([day.isoformat()])
    if shape == "bad_date":
        return CalendarRow(["x" + draw(TEXT), "holiday"])
    if shape == "bad_kind":
        return CalendarRow([day.isoformat(), "?" + draw(TEXT)])
    weekday = day.weekday() < 5
    kind = HolidayKind.HOLIDAY if weekday else HolidayKind.WORKDAY
    if shape in ("weekend_holiday", "weekday_workday"):
        kind = HolidayKind.WORKDAY if weekday else HolidayKind.HOLIDAY
    name = draw(st.one_of(st.just(""), PLAIN, PLAIN.map(lambda s: s * 30)))
    cells = [day.strftime(draw(st.sampled_from(DATE_FORMATS))) if day.year >= 1000 else day.isoformat(),
             draw(st.sampled_from(KIND_WORDS[kind])), name] + draw(st.lists(st.one_of(TEXT, st.sampled_from(NASTY)),
                                                                         max_size=2))
    if shape != "good":
        return CalendarRow(cells)
    return CalendarRow(cells, day, kind, name.strip()[:100] or None)


GOOD_DAY = CalendarRow(["2026-10-01", "holiday", "国庆节"], dt.date(2026, 10, 1), HolidayKind.HOLIDAY, "国庆节")
GOOD_WORKDAY = CalendarRow(["2026/10/10", "班", " 国庆调休 "], dt.date(2026, 10, 10), HolidayKind.WORKDAY, "国庆调休")
CALENDAR_MESSAGES = ("文件是空的", "无法识别文件的文字编码", "文件太大", "一次最多导入", "文件里没有日期行", "行有错误",
                     "CSV 文件格式有误", "页面已过期")


@pytest.mark.slow
@fuzz(60)
@given(rows=st.one_of(st.lists(calendar_rows(), max_size=12), st.lists(calendar_rows(clean=True), max_size=6)),
       header=st.booleans(),
       terminator=st.sampled_from(["\r\n", "\r\n", "\n", "\r"]), extra=st.sampled_from(["", "", "", "nul", "huge"]),
       via=st.sampled_from(["text", "text", "file/utf-8", "file/utf-8-sig", "file/gb18030", "file/utf-16",
                            "file/latin-1"]),
       replace=st.booleans(), keep_csrf=st.integers(0, 9))
@example(rows=[GOOD_DAY, GOOD_WORKDAY], header=True, terminator="\r", extra="", via="file/utf-8", replace=False,
         keep_csrf=1)  # old Mac line ends
@example(rows=[GOOD_DAY], header=False, terminator="\r\n", extra="huge", via="text", replace=False, keep_csrf=1)
@example(rows=[CalendarRow(["2026-10-02", "holiday", "国庆\x00节"], blank=None)], header=False, terminator="\n",
         extra="", via="text", replace=False, keep_csrf=1)
@example(rows=[GOOD_DAY] + [CalendarRow(["#" + "x" * 998, ""], blank=True)] * 263
         + [CalendarRow(["2026-10-09", "?"])], header=False, terminator="\r\n", extra="", via="text",
         replace=False, keep_csrf=1)  # pasted text beyond the limit, with an error in the tail
def test_holiday_calendar_import(app, session, analyst, rows, header, terminator, extra, via, replace, keep_csrf):
    client = analyst
    extra = {"huge": "a" * 140_000, "nul": "\x00"}.get(extra, extra)
    text = csv_text(([["date", "kind", "name"]] if header else []) + [r.cells for r in rows], ",", terminator) + extra
    before = row_counts(session)
    holidays_before = {h.day: (h.kind, h.name) for h in session.scalars(select(Holiday))}
    session.rollback()
    form = {"csrf_token": csrf_from(client.get("/admin/calendar/import"))} if keep_csrf else {}
    lossless, file = True, None
    if via == "text":
        form["text"] = text
    else:
        data = text.encode(via.split("/")[1], errors="replace")
        try:
            lossless = decode_text(data) == text
        except Exception:  # noqa: BLE001
            lossless = False
        file = (data, "holidays.csv", "text/csv")
    dated = [r for r in rows if not r.blank]
    days = [r.day for r in dated]
    predictable = keep_csrf and lossless and all(r.blank is not None for r in rows)
    must_accept = predictable and not extra and dated and None not in days and len(set(days)) == len(days)
    checked = post_multipart(client, "/admin/calendar/import", form, file)
    page = checked.get_data(as_text=True)
    if checked.status_code != 200 or "确认导入" not in page:
        assert not must_accept, error_text(page)
        assert checked.status_code in (400, 413, 422)  # 413: a pasted text above Flask's form memory limit
        assert_refused(checked, session, before, CALENDAR_MESSAGES)
        event("calendar: refused")
        return
    assert not predictable or must_accept, f"accepted a calendar with errors ({len(text)} characters)"
    staged = re.search(r'name="staged" value="([^"]+)"', page).group(1)  # the checked text waits in the staging store
    confirm = {"csrf_token": csrf_from(checked), "confirm": "1", "staged": staged} | ({"replace": "1"} if replace else {})
    done = client.post("/admin/calendar/import", data=confirm)  # the confirm form is url-encoded
    assert done.status_code == 302, error_text(done.get_data(as_text=True))
    changes = grown(before, row_counts(session))
    assert set(changes) <= {"holiday", "audit_log"} and changes["audit_log"] == 1
    event("calendar: imported" + (" and checked day by day" if predictable else ""))
    if not predictable:
        return  # a hostile row turned out valid: the app's own reading is the only oracle left
    wanted = {r.day: (r.kind, r.name) for r in dated}
    years = {d.year for d in wanted}
    expected = {d: v for d, v in holidays_before.items() if not (replace and d.year in years)} | wanted
    assert {h.day: (h.kind, h.name) for h in session.scalars(select(Holiday))} == expected
    session.rollback()


# --- flask import-all with damaged archives ------------------------------------------------------------

def _wipe(session) -> None:
    for table in reversed(tables()):
        session.execute(table.delete())
    session.commit()


@pytest.fixture
def archive(app, session, make, tmp_path) -> tuple[Path, dict[str, list[tuple]]]:
    """A small real backup of this database, and the database emptied for restoring it."""
    category = make.category(code="ZF", name="政府口机关\x01")
    root = make.unit(code="ROOT", name="市政府", category=category, note="备注 <b>")
    make.unit(code="KID", name="=HYPERLINK(\"x\")", parent=root)
    make.user(role="analyst")
    path = tmp_path / "good.tar.gz"
    export_all(session, path)
    content = _content(session)
    _wipe(session)
    return path, content


def _content(session) -> dict[str, list[tuple]]:
    out = {t.name: [tuple(r) for r in session.execute(select(t).order_by(*t.primary_key.columns)).all()]
           for t in tables()}
    session.rollback()
    return out


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


HOSTILE_ROW_VALUES = st.one_of(HOSTILE_JSON, st.sampled_from(["2026-13-45", "2026-01-01T00:00:00+99:00", "not a date",
                                                              "department", "DEPARTMENT", 2**31, 2**63, -1, 1.5]))


@st.composite
def damaged_archives(draw, good: bytes, members: dict[str, bytes]) -> Blob:
    how = draw(st.sampled_from(["truncate", "flip", "junk", "empty", "random", "manifest", "rows", "rows",
                                "member_type", "intact"]))
    if how == "intact":
        return Blob(good, how)
    if how == "truncate":
        return Blob(good[: draw(st.integers(0, len(good) - 1))], how)
    if how == "flip":
        data = bytearray(good)
        for pos, byte in draw(st.lists(st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)), min_size=1,
                                       max_size=4)):
            data[pos] = byte
        return Blob(bytes(data), how)
    if how == "junk":
        return Blob(good + draw(st.binary(min_size=1, max_size=200)), how)
    if how == "empty":
        return Blob(b"", how)
    if how == "random":
        return Blob(draw(st.binary(min_size=1, max_size=2000)), how)
    members = dict(members)
    manifest = json.loads(members.pop("manifest.json"))
    if how == "manifest":
        path = draw(st.sampled_from(_json_paths(manifest)[1:]))
        parent = manifest
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = draw(HOSTILE_JSON)
    elif how == "rows":  # hostile values in a row whose hash and count are made to match
        name = draw(st.sampled_from(sorted(n for n, b in members.items() if n.startswith("tables/") and b)))
        lines = members[name].decode("utf-8").splitlines()
        index = draw(st.integers(0, len(lines) - 1))
        row = json.loads(lines[index])
        column = draw(st.sampled_from(sorted(row)))
        row[column] = draw(HOSTILE_ROW_VALUES)
        lines[index] = json.dumps(row, ensure_ascii=_has_surrogate(row))
        if draw(st.booleans()):
            lines.append(lines[index])  # and a duplicate of it
        body = ("\n".join(lines) + "\n").encode("utf-8", errors="surrogatepass")
        members[name] = body
        table = name.split("/")[1].removesuffix(".jsonl")
        manifest["tables"][table].update(rows=len(lines), sha256=hashlib.sha256(body).hexdigest())
    victim = draw(st.sampled_from(sorted(members) + ["manifest.json"])) if how == "member_type" else None
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, body in [*members.items(), ("manifest.json", json.dumps(manifest, allow_nan=True).encode())]:
            info = tarfile.TarInfo(name)
            if name == victim:
                info.type = draw(st.sampled_from([tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.FIFOTYPE]))
                info.linkname = "../../etc/passwd"
                tar.addfile(info)
                continue
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return Blob(out.getvalue(), how)


@pytest.mark.slow
@fuzz(40)
@given(data=st.data())
def test_import_all_with_damaged_archives(app, session, runner, archive, tmp_path, data):
    good_path, content = archive
    good = good_path.read_bytes()
    damaged = data.draw(damaged_archives(good, _members(good_path)))
    body, how = damaged.data, damaged.how
    path = tmp_path / "damaged.tar.gz"
    path.write_bytes(body)
    empty = {t.name: 0 for t in tables()}
    assert row_counts(session) == empty
    result = runner.invoke(args=["import-all", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (how, result.output)
    if result.exit_code != 0:
        assert re.search(r"Error: .*[\u4e00-\u9fff]", result.output), (how, result.output)
        assert row_counts(session) == empty, how
        event(f"import-all: refused ({how})")
        return
    event(f"import-all: restored ({how})")
    restored = _content(session)
    assert len(restored["audit_log"]) == len(content["audit_log"]) + 1  # and the import's own entry
    if how == "rows":  # hostile values the database took: every row of the archive, nothing less
        with tarfile.open(path) as tar:
            listed = json.loads(tar.extractfile("manifest.json").read())["tables"]
        assert {k: len(v) for k, v in restored.items() if k != "audit_log"} == \
            {k: v["rows"] for k, v in listed.items() if k != "audit_log"}
    else:
        assert {k: v for k, v in restored.items() if k != "audit_log"} == \
            {k: v for k, v in content.items() if k != "audit_log"}, how
    _wipe(session)


# --- the JSON API ------------------------------------------------------------------------------------

@pytest.fixture
def published(session, make, built_once):
    """An official result for 2026Q4 and a live API token (and a revoked one). Built once per worker and
    database, then restored for the other test."""
    return built_once("api fuzz: published period", lambda: _published(session, make))


def _published(session, make):
    category = make.category(code="ZF", name="政府口机关")
    units = [make.unit(code=f"D{i}", name=f"第{i}局", category=category) for i in range(1, 3)]
    campaign = make.campaign(units=units, period="2026Q4")
    groups = make.groups()
    for i, unit in enumerate(units):
        fill(session, campaign, unit, groups, 30, 4, seed=i)
    component.save(session, campaign, None, {"weights": {"survey": "1"}, "points": "20", "grading": "thresholds",
                                             "thresholds": {"excellent": "85", "good": "75", "pass": "60"}})
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    snapshots.publish(session, snapshot, None)
    _token, plaintext = api_tokens.create(session, None, "绩效管理系统")
    revoked, revoked_text = api_tokens.create(session, None, "旧系统")
    api_tokens.revoke(session, None, revoked)
    session.commit()
    return {"token": plaintext, "revoked": revoked_text, "snapshot": snapshot.id, "campaign": campaign.short_code}


SEGMENT = st.one_of(
    st.sampled_from(["2026Q4", "2026", "2026-11", "2026H1", "2026Q4\n", "D1", "d1", "D1 ", "%00", "D1%00", "%2F",
                     "..", "%2e%2e", "0", "-1", "00001", "1e3", "9223372036854775807", "9223372036854775808",
                     "2147483648", "99999999999999999999999999", "%E4%B8%AD", "%FF%FE", "%", "%zz", "a" * 300,
                     "D" * 33, "🙂", "null", "undefined", "[]", "{}", "'", ";DROP TABLE unit;--"]),
    TEXT.map(lambda s: quote(s, safe="")),
    st.integers(-2**70, 2**70).map(str),
)
PATHS = st.sampled_from(["periods", "snapshots", "snapshots/{a}", "periods/{a}/component", "periods/{a}/units/{b}",
                         "periods/2026Q4/units/{b}", "snapshots/{id}", "health", "{a}", "{a}/{b}", "periods/{a}",
                         "snapshots/{a}/{b}"])
QUERY = st.lists(st.tuples(st.sampled_from(["period", "campaign", "page", "limit", "unit", "format", "callback"]),
                           st.one_of(SEGMENT, TEXT)), max_size=4)
LATIN1 = st.text(alphabet=st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=60)


AUTHORIZATIONS = st.one_of(
    st.just(("none", None)), st.tuples(st.just("live"), st.sampled_from(["", " ", "  "])),
    st.tuples(st.just("live"), st.sampled_from(["", " "])), st.just(("revoked", None)),
    st.tuples(st.just("prefix"), LATIN1), st.tuples(st.just("random"), LATIN1),
    st.tuples(st.just("scheme"), st.sampled_from(["bearer ", "Basic ", "Token ", "Bearer:", "BEARER "])),
    st.tuples(st.just("long"), st.integers(90, 5000)),
    st.tuples(st.just("mangled"), st.tuples(st.integers(0, 46), st.sampled_from(["", "A", "\x00", "é", " "]))),
)


def authorization(spec: tuple[str, Any], live: str, revoked: str) -> tuple[str | None, bool]:
    """The Authorization header (or None) a spec stands for, and whether it is the live token."""
    kind, extra = spec
    headers = {
        "none": lambda: None,
        "live": lambda: f"Bearer {live}{extra}",
        "revoked": lambda: f"Bearer {revoked}",
        "prefix": lambda: f"Bearer pyk_{extra}",
        "random": lambda: extra,
        "scheme": lambda: extra + live,
        "long": lambda: "Bearer pyk_" + "x" * (extra or 0),
        "mangled": lambda: "Bearer " + live[:extra[0]] + extra[1] + live[extra[0] + 1:],
    }
    return headers[kind](), kind == "live"


@pytest.mark.xdist_group("api-fuzz")  # one worker builds the published period for both
@fuzz(60)
@given(spec=AUTHORIZATIONS, method=st.sampled_from(["GET"] * 6 + ["HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
       path=PATHS, a=SEGMENT, b=SEGMENT, query=QUERY)
@example(spec=("live", ""), method="GET", path="periods/{a}/units/{b}", a="2026Q4", b="D1%00", query=[])
def test_api_hostile_requests(app, session, client, published, spec, method, path, a, b, query):
    header, live = authorization(spec, published["token"], published["revoked"])
    url = "/api/v1/" + path.format(a=a, b=b, id=published["snapshot"])
    before = row_counts(session)
    response = client.open(url, method=method, query_string=query,
                           headers={"Authorization": header} if header is not None else {})
    assert response.status_code < 500, (method, url, query, header)
    event(f"api: {response.status_code}")
    assert row_counts(session) == before
    if method in ("HEAD", "OPTIONS"):
        return
    assert response.is_json, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json()
    health = path == "health"
    if response.status_code == 200:
        assert live or health, f"served {url} without a valid token"
        return
    assert body["status"] == response.status_code and re.search(r"[\u4e00-\u9fff]", body["message"]), body
    if response.status_code == 401:
        assert not live and "接口令牌" in body["message"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.xdist_group("api-fuzz")  # one worker builds the published period for both
@fuzz(40)
@given(snapshot_id=st.one_of(st.integers(-2**64, 2**80), st.sampled_from([0, 2**31 - 1, 2**31, 2**63 - 1, 2**63])),
       method=st.sampled_from(["GET", "POST", "DELETE"]))
def test_api_ids_out_of_range(app, session, client, published, snapshot_id, method):
    before = row_counts(session)
    response = client.open(f"/api/v1/snapshots/{snapshot_id}", method=method,
                           headers={"Authorization": f"Bearer {published['token']}"})
    assert response.status_code < 500
    assert row_counts(session) == before
    if snapshot_id == published["snapshot"] and method == "GET":
        assert response.status_code == 200 and response.get_json()["snapshot"]["id"] == snapshot_id
    else:
        assert response.status_code in (404, 405) and response.is_json
