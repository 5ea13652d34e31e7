"""The unit list as a spreadsheet: export it, and import it back in two steps.

Import rules (a 绩效办 keeps its 97 units in Excel):
- step 1 reads the file and plans the import without writing anything: every row gets
  its status (new, changed, unchanged, error) with the reason, and the summary counts;
- step 2 (the analyst confirms) validates the plan again against the database as it is
  then and applies all of it in one transaction, or nothing;
- a row's code finds an existing unit (update) or makes a new one; units missing from
  the file are left alone (never deleted or deactivated by an import);
- a column present in the file is authoritative: an empty cell clears that field, except
  类型, 排序 and 启用, where an empty cell keeps the current value (a new unit gets the default);
- parents may come after their children in the file; a parent must exist in the file or
  the database, and the resulting tree must have no cycle;
- an unknown 类别 is created (the preview says so); 类别 matches a category code or name.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from survey.core.audit import record
from survey.core.errors import GENERAL, Collector, DomainError
from survey.core.spreadsheets import Table
from survey.core.validation import check_characters, clean_code, clean_text, strip_control
from survey.models import Category, Unit, UnitKind, User
from survey.services.units.units import diff, unit_fields, unit_tree


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # the Chinese header written on export
    aliases: tuple[str, ...]
    label: Any  # shown in messages and change lists
    note: Any = ""  # what the column takes, shown on the import page

    @property
    def english(self) -> str:
        """The header an export in English writes: the first English alias, so the file imports again."""
        return next(a for a in self.aliases if a.isascii())

    def headers_shown(self, english: bool) -> tuple[str, tuple[str, ...]]:
        """(header, other accepted headers) for the import page; in English only the English ones."""
        if english:
            return self.english, tuple(a for a in self.aliases if a.isascii() and a != self.english)
        return self.header, self.aliases


COLUMNS: tuple[Column, ...] = (
    Column("code", "代码", ("单位代码", "编码", "code", "unit code", "unit_code"), _l("代码"),
           _l("必填。唯一的单位代码；与系统中已有单位相同则更新该单位，否则新建。")),
    Column("name", "名称", ("单位名称", "name", "unit name", "unit_name"), _l("名称"),
           _l("必填。")),
    Column("name_en", "英文名称", ("英文名", "name_en", "english name", "english_name"), _l("英文名称"),
           _l("选填。")),
    Column("category", "类别", ("类别名称", "类别代码", "分类", "考评类别", "category"), _l("类别"),
           _l("类别代码或名称；系统里没有的类别会新建（预览时会提示）。")),
    Column("parent_code", "上级代码", ("上级单位代码", "上级", "上级单位", "parent", "parent_code", "parent code"),
           _l("上级代码"),
           _l("上级单位的代码（可以是文件里排在后面的单位，也可以是系统里已有的单位）。不能成环。")),
    Column("kind", "类型", ("单位类型", "kind", "type"), _l("类型"),
           _l("部门、处室、窗口 或 区县；空着：新单位为“部门”，已有单位不变。")),
    Column("window_no", "窗口号", ("窗口", "window", "window_no", "window no"), _l("窗口号"),
           _l("窗口号。")),
    Column("address", "地址", ("address",), _l("地址"),
           _l("地址。")),
    Column("sort_order", "排序", ("顺序", "sort", "sort_order", "order"), _l("排序"),
           _l("整数，小的排在前面；空着：新单位按文件顺序，已有单位不变。")),
    Column("active", "启用", ("是否启用", "状态", "active", "enabled"), _l("启用"),
           _l("是/否（也认 1/0、启用/停用）；空着：新单位为“是”，已有单位不变。")),
    Column("note", "备注", ("说明", "note", "notes", "remark", "remarks"), _l("备注"),
           _l("备注。")),
)
EXPORT_HEADERS = [c.header for c in COLUMNS]
# An export asked for in English: English headers, kinds and yes/no, all words the import reads too.
EXPORT_HEADERS_EN = [c.english for c in COLUMNS]

KIND_WORDS = {
    UnitKind.DEPARTMENT: ("部门/单位", "部门", "单位", "机关", "department", "dept", "unit"),
    UnitKind.SECTION: ("处室", "科室", "处", "科", "section"),
    UnitKind.WINDOW: ("窗口", "window"),
    UnitKind.DISTRICT: ("市/区/县", "区县", "县区", "区", "县", "市", "县市区", "district"),
}
KIND_EXPORT = {UnitKind.DEPARTMENT: "部门", UnitKind.SECTION: "处室", UnitKind.WINDOW: "窗口", UnitKind.DISTRICT: "区县"}
KIND_EXPORT_EN = {UnitKind.DEPARTMENT: "department", UnitKind.SECTION: "section", UnitKind.WINDOW: "window",
                  UnitKind.DISTRICT: "district"}
TRUE_WORDS = {"是", "启用", "有效", "1", "true", "yes", "y", "√", "✓", "t"}
FALSE_WORDS = {"否", "停用", "无效", "0", "false", "no", "n", "×", "✗", "f"}
CATEGORY_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def _norm_header(text: str) -> str:
    return re.sub(r"[\s（）()*:：]", "", text).lower()


HEADER_KEYS = {_norm_header(alias): c.key for c in COLUMNS for alias in (c.header, *c.aliases)}
LABELS = {c.key: c.label for c in COLUMNS}


@dataclass
class SheetRow:
    """A row as read from the file: its line in the sheet and its cells by column key."""

    line: int
    cells: dict[str, str]


@dataclass
class PlannedRow:
    line: int
    cells: dict[str, str]
    status: str = "new"  # new / changed / unchanged / error
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    changes: list[tuple[str, object, object]] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportPlan:
    columns: list[str]  # column keys present in the file
    rows: list[PlannedRow]
    ignored_headers: list[str] = field(default_factory=list)
    new_categories: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def summary(self) -> dict[str, int]:
        return {s: self.count(s) for s in ("new", "changed", "unchanged", "error")}

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.count("error")


# ---------------------------------------------------------------- reading


def _example_headers() -> list[str]:
    locale = get_locale()
    return EXPORT_HEADERS_EN if locale is not None and locale.language == "en" else EXPORT_HEADERS


def sheet_rows(table: Table) -> tuple[list[str], list[SheetRow], list[str]]:
    """Map the header row to column keys; return (keys present, rows, ignored headers)."""
    keys: list[str | None] = []
    ignored: list[str] = []
    seen: dict[str, str] = {}
    for header in table.headers:
        key = HEADER_KEYS.get(_norm_header(header))
        if key is None:
            if header:
                ignored.append(header)
            keys.append(None)
            continue
        if key in seen:
            raise DomainError(_("表头“%(a)s”和“%(b)s”是同一列，请删掉一列。", a=seen[key], b=header))
        seen[key] = header
        keys.append(key)
    missing = [str(LABELS[k]) for k in ("code", "name") if k not in seen]
    if missing:
        raise DomainError(_("缺少必需的列：%(cols)s。第一行应是表头，例如：%(example)s。",
                            cols=_("、").join(missing), example=_("、").join(_example_headers())))
    rows = [
        SheetRow(line, {k: cell for k, cell in zip(keys, cells) if k is not None})
        for line, cells in zip(table.lines, table.rows)
    ]
    return [k for k in keys if k is not None], rows, ignored


# ---------------------------------------------------------------- planning


def _parse_kind(text: str) -> UnitKind:
    lowered = text.strip().lower()
    for kind, words in KIND_WORDS.items():
        if lowered in words or lowered == kind.value:
            return kind
    raise ValueError(_("类型“%(v)s”无效，应为 部门、处室、窗口 或 区县。", v=text))


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ValueError(_("启用“%(v)s”无效，应为 是 或 否。", v=text))


def _parse_int(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError as exc:
        raise ValueError(_("排序“%(v)s”应为整数。", v=text)) from exc
    if not -1_000_000 <= value <= 1_000_000:
        raise ValueError(_("排序应在 -1000000 到 1000000 之间。"))
    return value


class _CategoryIndex:
    """Existing categories by code and by name; unknown names become new categories."""

    def __init__(self, session: Session) -> None:
        self.by_code = {c.code: c for c in session.scalars(select(Category))}
        names = Counter(c.name for c in self.by_code.values())
        self.by_name = {c.name: c for c in self.by_code.values() if names[c.name] == 1}
        self.ambiguous = {n for n, k in names.items() if k > 1}

    def find(self, text: str) -> Category | None:
        if text in self.by_code:
            return self.by_code[text]
        if text in self.ambiguous:
            raise ValueError(_("类别名称“%(v)s”对应多个类别，请改填类别代码。", v=text))
        return self.by_name.get(text)


def plan_import(session: Session, columns: list[str], rows: list[SheetRow]) -> ImportPlan:
    """Check every row against the file and the database; write nothing."""
    existing = {u.code: u for u in session.scalars(select(Unit).options(
        joinedload(Unit.category), joinedload(Unit.parent)))}
    categories = _CategoryIndex(session)
    present = set(columns)
    plan = ImportPlan(columns=columns, rows=[PlannedRow(r.line, dict(r.cells)) for r in rows])
    if not plan.rows:
        raise DomainError(_("文件里只有表头，没有单位。"))
    new_categories: dict[str, None] = {}

    for row in plan.rows:
        _plan_fields(row, present, existing, categories, new_categories)

    codes = Counter(r.values.get("code") for r in plan.rows if r.values.get("code"))
    lines_of: dict[str, list[int]] = {}
    for row in plan.rows:
        if row.values.get("code"):
            lines_of.setdefault(row.values["code"], []).append(row.line)
    for row in plan.rows:
        code = row.values.get("code")
        if code and codes[code] > 1:
            row.errors.append(_("代码 %(code)s 在文件中重复（第 %(lines)s 行）。",
                                code=code, lines=_("、").join(str(n) for n in lines_of[code])))

    if "parent_code" in present:
        _plan_parents(plan, existing)

    for row in plan.rows:
        _plan_status(row, present, existing)
    plan.new_categories = list(new_categories)
    return plan


def _plan_fields(row: PlannedRow, present: set[str], existing: dict[str, Unit], categories: _CategoryIndex,
                 new_categories: dict[str, None]) -> None:
    cells, values = row.cells, row.values

    check = Collector()  # the row's problems, in the order found

    code = check.take(GENERAL, clean_code, cells.get("code"), _("代码"))
    values["code"] = code
    current = existing.get(code) if code else None
    values["name"] = check.take(GENERAL, clean_text, cells.get("name"), _("名称"), limit=200, required=True)
    for key, limit in (("name_en", 300), ("window_no", 20), ("address", 300), ("note", 2000)):
        if key in present:
            values[key] = check.take(GENERAL, clean_text, cells.get(key), str(LABELS[key]), limit=limit)
    for key, parser in (("kind", _parse_kind), ("sort_order", _parse_int), ("active", _parse_bool)):
        text = (cells.get(key) or "").strip()
        if key in present and text:
            values[key] = check.take(GENERAL, parser, text)
        elif current is None:
            values[key] = {"kind": UnitKind.DEPARTMENT, "sort_order": row.line, "active": True}[key]
    if "category" in present:
        text = (cells.get("category") or "").strip()
        values["category"] = None
        if len(text) > 100:
            check.add(GENERAL, _("类别最长 100 个字。"))
        elif text:
            try:
                found = categories.find(check_characters(text, str(LABELS["category"])))
            except ValueError as exc:
                check.add(GENERAL, str(exc))
            else:
                if found is not None:
                    values["category"] = found.code
                else:
                    values["category"] = ("new", text)
                    new_categories[text] = None
                    row.notes.append(_("类别“%(v)s”不存在，将新建。", v=text))
    if "parent_code" in present:
        text = (cells.get("parent_code") or "").strip()
        values["parent"] = text or None
    row.errors.extend(check.fields.get(GENERAL, []))


def _plan_parents(plan: ImportPlan, existing: dict[str, Unit]) -> None:
    """Parents must exist (in the file or the database) and the tree must stay free of cycles."""
    parent_of: dict[str, str | None] = {code: (u.parent.code if u.parent else None) for code, u in existing.items()}
    file_codes = {r.values["code"] for r in plan.rows if r.values.get("code")}
    for row in plan.rows:
        code = row.values.get("code")
        if code and "parent" in row.values:
            parent_of[code] = row.values["parent"]
    for row in plan.rows:
        code, parent = row.values.get("code"), row.values.get("parent")
        if not code or not parent:
            continue
        if parent == code:
            row.errors.append(_("单位不能作自己的上级。"))
            continue
        if parent not in file_codes and parent not in existing:
            row.errors.append(_("上级代码 %(code)s 在文件和系统中都不存在。", code=parent))
            continue
        chain = [code]
        current = parent
        while current is not None and current not in chain:
            chain.append(current)
            current = parent_of.get(current)
        if current == code:
            row.errors.append(_("上下级关系成环：%(chain)s。", chain=" → ".join(chain + [code])))


def _plan_status(row: PlannedRow, present: set[str], existing: dict[str, Unit]) -> None:
    if row.errors:
        row.status = "error"
        return
    current = existing.get(row.values["code"])
    if current is None:
        row.status = "new"
        return
    before = unit_fields(current)
    for key, value in row.values.items():
        old = before.get(key)
        new = value.value if isinstance(value, UnitKind) else value
        if isinstance(new, tuple):  # a category still to be created
            new = new[1]
        if old != new:
            label = str(LABELS.get("parent_code" if key == "parent" else key, key))
            row.changes.append((label, _display(old), _display(new)))
    row.status = "changed" if row.changes else "unchanged"


def _display(value: object) -> object:
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, str) and value in {k.value for k in UnitKind}:
        return KIND_EXPORT[UnitKind(value)]
    return "—" if value in (None, "") else value


# ---------------------------------------------------------------- applying


def apply_import(session: Session, user: User | None, plan: ImportPlan, filename: str | None = None) -> dict[str, int]:
    """Write a valid plan in the caller's transaction: categories, then units, then parents."""
    if not plan.ok:
        raise DomainError(_("文件中还有错误，不能导入。"))
    filename = strip_control(filename)  # a file name is only recorded, never refused
    categories = {c.code: c for c in session.scalars(select(Category))}
    created_categories = _create_categories(session, user, plan.new_categories, categories)
    existing = {u.code: u for u in session.scalars(select(Unit))}
    touched: list[tuple[PlannedRow, Unit, dict[str, object] | None]] = []
    for row in plan.rows:
        if row.status == "unchanged":
            continue
        unit = existing.get(row.values["code"])
        before = unit_fields(unit) if unit is not None else None
        if unit is None:
            unit = Unit(code=row.values["code"])
            session.add(unit)
            existing[unit.code] = unit
        for key, value in row.values.items():
            if key == "parent":
                continue
            if key == "category":
                value = created_categories[value[1]] if isinstance(value, tuple) else categories.get(value)
            setattr(unit, key, value)
        touched.append((row, unit, before))
    session.flush()
    for row, unit, _before in touched:
        if "parent" in row.values:
            unit.parent = existing[row.values["parent"]] if row.values["parent"] else None
    session.flush()
    for row, unit, before in touched:
        if before is None:
            record(session, user, "unit.create", unit, f"导入新建单位 {unit.code} {unit.name}", after=unit_fields(unit),
                   source="import")
        else:
            record(session, user, "unit.update", unit, f"导入修改单位 {unit.code} {unit.name}",
                   changes=diff(before, unit_fields(unit)), source="import")
    summary = plan.summary
    record(session, user, "unit.import", None,
           f"导入单位表 {filename or ''}：新建 {summary['new']}，修改 {summary['changed']}，未变 {summary['unchanged']}",
           filename=filename, categories_created=list(created_categories), **summary)
    return summary


def _create_categories(session: Session, user: User | None, names: Iterable[str],
                       categories: dict[str, Category]) -> dict[str, Category]:
    created: dict[str, Category] = {}
    order = session.scalar(select(func.max(Category.sort_order))) or 0
    for name in names:
        order += 1
        code = name if CATEGORY_CODE.match(name) and name not in categories else _free_category_code(categories)
        category = Category(code=code, name=name, sort_order=order)
        session.add(category)
        categories[code] = category
        created[name] = category
        session.flush()
        record(session, user, "category.create", category, f"导入时新建类别 {code} {name}",
               after={"code": code, "name": name}, source="import")
    return created


def _free_category_code(categories: dict[str, Category]) -> str:
    n = len(categories) + 1
    while f"CAT{n}" in categories:
        n += 1
    return f"CAT{n}"


# ---------------------------------------------------------------- exporting


def export_rows(session: Session, english: bool = False) -> list[list[object]]:
    """Every unit (active or not) in tree order, in the import's columns (``english``: kinds and yes/no
    in English, for :data:`EXPORT_HEADERS_EN`)."""
    kinds, yes, no = (KIND_EXPORT_EN, "yes", "no") if english else (KIND_EXPORT, "是", "否")
    categories = list(session.scalars(select(Category)))
    names = Counter(c.name for c in categories)
    rows = []
    for item in unit_tree(session):
        u = item.unit
        category = ""
        if u.category is not None:
            category = u.category.name if names[u.category.name] == 1 else u.category.code
        rows.append([
            u.code, u.name, u.name_en or "", category, u.parent.code if u.parent else "",
            kinds[u.kind], u.window_no or "", u.address or "", u.sort_order,
            yes if u.active else no, u.note or "",
        ])
    return rows


def rows_to_store(columns: list[str], rows: list[SheetRow]) -> dict[str, Any]:
    """The parsed file as plain JSON data, kept between preview and confirmation."""
    return {"columns": columns, "rows": [[r.line, r.cells] for r in rows]}


def rows_from_store(data: dict[str, Any]) -> tuple[list[str], list[SheetRow]]:
    columns = [str(c) for c in data["columns"]]
    rows = [SheetRow(int(line), {str(k): str(v) for k, v in cells.items()}) for line, cells in data["rows"]]
    return columns, rows
