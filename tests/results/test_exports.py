"""Excel, CSV and raw exports: formatted, Chinese, anonymised, and safe against formula injection."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from survey.models import Channel, Response
from survey.services.results import exports, snapshots
from tests.results.helpers import add_response

PAYLOADS = ['=HYPERLINK("http://evil.example","点我")', "+1", "-1", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


@pytest.fixture
def hostile(session, make):
    """Units whose names, and comments whose text, start like spreadsheet formulas."""
    category = make.category(name="=类别")
    units = [make.unit(code=f"X{i}", name=payload, category=category) for i, payload in enumerate(PAYLOADS)]
    campaign = make.campaign(units=units)
    groups = make.groups()
    for unit, payload in zip(units, PAYLOADS):
        for k in range(3):
            add_response(session, campaign, {unit: [4, 5, 3, 4, 5]}, groups["SM"], channel=Channel.WEB,
                         comments={unit: payload} if k == 0 else None)
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    return snapshot, units


def _every_text_cell(book) -> list[str]:
    return [c.value for sheet in book.worksheets for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]


def test_workbook_has_a_formatted_sheet_per_table(session, computed):
    book = load_workbook(io.BytesIO(exports.workbook(session, computed.snapshot)))
    assert book.sheetnames[:4] == ["图表", "单位得分", "分题目", "分样本类别"] and book.sheetnames[-1] == "参数"
    # then a sheet per other question of the window template: Q6 (跑了几次), the conditional
    # Q9 (主要问题) and Q10 (其他问题), Q8 (意见建议), the 差评 reasons per unit, then the breakdowns
    assert [name.split()[0] for name in book.sheetnames[4:-3]] == ["Q6", "Q9", "Q10", "Q8", "差评原因"]
    assert book.sheetnames[-3:-1] == ["分组结果", "交叉表"]
    units = book["单位得分"]
    header = [c.value for c in units[1]]
    assert header[:5] == ["类别", "排名", "排名区间", "单位代码", "单位名称"] and "公众评议得分" in header
    assert units.freeze_panes == "A2" and units[1][0].font.bold
    points_col = header.index("公众评议得分") + 1
    rate_col = header.index("满意率") + 1
    assert units.cell(row=2, column=points_col).number_format == "0.00"
    assert units.cell(row=2, column=rate_col).number_format == "0.0%"
    assert units.column_dimensions["E"].width >= 8
    by_code = {row[3].value: row for row in units.iter_rows(min_row=2)}
    stored = {r.unit.code: r for r in computed.snapshot.rows}
    for code, row in by_code.items():
        assert row[points_col - 1].value == pytest.approx(stored[code].component_points, abs=1e-12)
    se_col = header.index("满意率标准误") + 1
    assert se_col == rate_col + 1 and units.cell(row=2, column=se_col).number_format == "0.00%"
    for code, row in by_code.items():
        assert row[se_col - 1].value == pytest.approx(stored[code].satisfied_rate_se, rel=1e-15)
    assert any(0 < row[se_col - 1].value < 0.5 for row in by_code.values())
    assert book["分题目"].max_row == 1 + 3 * 5
    params = {row[0].value: row[1].value for row in book["参数"].iter_rows(min_row=2)}
    assert params["最大答卷编号"] == computed.snapshot.max_response_id
    assert json.loads(params["完整参数（JSON）"])["survey"]["params"]["method"] == "poststratify"


def test_every_exported_cell_is_neutralised(session, hostile):
    snapshot, _units = hostile
    book = load_workbook(io.BytesIO(exports.workbook(session, snapshot)))
    texts = _every_text_cell(book)
    assert not [t for t in texts if t[:1] in ("=", "+", "-", "@", "\t", "\r", "\n")]
    names = [row[4].value for row in book["单位得分"].iter_rows(min_row=2)]
    # XML turns a stored CR into LF on reading; what matters is the leading apostrophe
    assert sorted(names) == sorted("'" + p.replace("\r", "\n") for p in PAYLOADS)
    csv_text = exports.unit_csv(session, snapshot).decode("utf-8")
    assert csv_text.startswith("\ufeff类别,排名")
    assert "满意率标准误" in csv_text.splitlines()[0]
    for record in list(csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))))[1:]:
        assert all(not cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in record)
    raw = "".join(exports.raw_rows(session, snapshot, with_text=True))
    for record in list(csv.reader(io.StringIO(raw.lstrip("\ufeff"))))[1:]:
        assert all(not cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in record)
    assert "'=HYPERLINK(" in raw and "'@SUM(A1:A9)" in raw


def test_raw_export_is_anonymised_and_text_is_optional(session, computed, client, auth):
    auth.login_as("analyst")
    url = f"/admin/results/snapshots/{computed.snapshot.id}/raw.csv"
    plain = client.get(url)
    text = plain.get_data(as_text=True)
    assert plain.status_code == 200 and text.startswith("\ufeff序号,单位代码,单位名称")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 1 + computed.snapshot.summary["rated_pairs"]
    assert sorted(int(r[0]) for r in rows[1:]) == list(range(1, len(rows)))
    for response in session.scalars(select(Response)):
        assert response.submission_id not in text
    assert "窗口服务好" not in text and "意见建议" not in rows[0]
    with_text = client.get(url + "?text=1").get_data(as_text=True)
    assert "窗口服务好" in with_text and "意见建议" in with_text.splitlines()[0]


def test_long_export_recomputes_with_the_analysis_cli(session, computed, tmp_path):
    snapshot = computed.snapshot
    (tmp_path / "long.csv").write_text("".join(exports.raw_rows(session, snapshot, long=True)), encoding="utf-8")
    (tmp_path / "targets.json").write_bytes(exports.targets_json(session, snapshot))
    params = snapshot.params["survey"]["params"]
    weights = ",".join(f"{c}={w:g}" for c, w in zip(snapshot.params["survey"]["layout"]["question_codes"],
                                                    params["question_weights"]))
    run = subprocess.run([sys.executable, "-m", "analysis", "indices", str(tmp_path / "long.csv"), "--targets",
                          str(tmp_path / "targets.json"), "--question-weights", weights],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    out = {row["unit"]: row for row in csv.DictReader(io.StringIO(run.stdout))}
    for row in snapshot.rows:
        assert float(out[row.unit.code]["index"]) == pytest.approx(row.index, rel=1e-12)
        assert float(out[row.unit.code]["index_se"]) == pytest.approx(row.index_se, rel=1e-9)
        assert int(out[row.unit.code]["n"]) == row.n


def test_export_downloads_have_the_right_types(client, auth, computed):
    auth.login_as("analyst")
    base = f"/admin/results/snapshots/{computed.snapshot.id}"
    xlsx = client.get(f"{base}/export.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK" and "attachment" in xlsx.headers["Content-Disposition"]
    csv_ = client.get(f"{base}/export.csv")
    assert csv_.data.startswith("\ufeff".encode()) and csv_.mimetype == "text/csv"
    assert json.loads(client.get(f"{base}/targets.json").data)["group"]["QY"] == pytest.approx(0.25)


def test_interval_headers_follow_the_confidence_level(session, computed):
    computed.campaign.analysis_settings = {"confidence": 0.9}
    session.commit()
    snapshot = snapshots.compute_snapshot(session, computed.campaign, None)
    book = load_workbook(io.BytesIO(exports.workbook(session, snapshot)))
    header = [c.value for c in book["单位得分"][1]]
    assert "90%下限" in header and "90%上限" in header and "95%下限" not in header
    assert "90%下限" in [c.value for c in book["分题目"][1]]
