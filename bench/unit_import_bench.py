"""The unit-list import at a province's scale: read, plan (the preview), apply, and re-plan.

    .venv/bin/python bench/unit_import_bench.py                     # 300 departments × 9 windows = 3000 rows
    .venv/bin/python bench/unit_import_bench.py --departments 1000  # 10,000 rows
    .venv/bin/python bench/unit_import_bench.py --database-url postgresql://postgres@127.0.0.1:5432/bench

Builds an .xlsx with windows listed before their departments (the import must resolve
parents that come later), migrates a fresh database (a temporary SQLite file unless
``--database-url`` names an empty one), and prints the wall time of each step: reading
the spreadsheet, planning every row (what the preview page does), applying the plan in
one transaction with an audit row per unit, and planning again (every row unchanged).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from survey.core import spreadsheets
from survey.extensions import db
from survey.services.units import sheets
from tests.admin.unit_sheets import xlsx_bytes
from tests.conftest import build_app, migrate_to_head


def rows_for(departments: int, windows: int) -> list[list[str]]:
    rows = []
    for d in range(departments):
        rows.append([f"D{d:04d}", f"部门{d}", f"类别{d % 4}", "", "部门", "", "是"])
        rows.extend([f"D{d:04d}-W{w}", f"部门{d}第{w}窗口", "政务服务中心窗口", f"D{d:04d}", "窗口", str(w), "是"]
                    for w in range(windows))
    rows.reverse()  # children before their parents
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, default=300)
    parser.add_argument("--windows", type=int, default=9, help="windows per department")
    parser.add_argument("--database-url", help="an empty database (default: a temporary SQLite file)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="pingyi-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    migrate_to_head(url, folder)
    app = build_app(url, folder / "instance")
    rows = rows_for(args.departments, args.windows)
    data = xlsx_bytes(rows)
    print(f"{len(rows)} rows, {len(data) / 1024:.0f} KB .xlsx, {url.split(':')[0]}")
    with app.app_context():
        started = time.perf_counter()
        table = spreadsheets.read_table(data)
        columns, sheet_rows, _ignored = sheets.sheet_rows(table)
        read = time.perf_counter()
        plan = sheets.plan_import(db.session, columns, sheet_rows)
        planned = time.perf_counter()
        sheets.apply_import(db.session, None, plan, "bench.xlsx")
        db.session.commit()
        applied = time.perf_counter()
        again = sheets.plan_import(db.session, columns, sheet_rows)
        replanned = time.perf_counter()
    print(f"read    {read - started:6.2f} s")
    print(f"plan    {planned - read:6.2f} s   ({plan.count('new')} new, {plan.count('error')} errors)")
    print(f"apply   {applied - planned:6.2f} s   (one transaction, an audit row per unit)")
    print(f"re-plan {replanned - applied:6.2f} s   ({again.count('unchanged')} unchanged)")


if __name__ == "__main__":
    main()
