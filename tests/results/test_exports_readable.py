"""Readable exports (issue 15 item 3): native charts in the results workbook, columns as wide as Chinese
names, every code shown as its label with a code column beside it, and export links that say what they give."""
from __future__ import annotations

import csv
import io
import zipfile

from openpyxl import load_workbook

from survey.models import Channel
from survey.services.results import exports, snapshots
from tests.results.helpers import add_response


def _charts(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [archive.read(n).decode("utf-8") for n in sorted(archive.namelist()) if n.startswith("xl/charts/chart")]


def test_the_workbook_opens_on_native_charts(session, computed):
    data = exports.workbook(session, computed.snapshot)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames[0] == "图表" and book.active.title == "图表"
    charts = _charts(data)
    assert len(charts) == 2
    index_chart, distribution_chart = charts
    # The index by unit: horizontal bars over the data on the 图表 sheet, and the 达标 line (60, the scheme's
    # pass line on the index itself) as a line series.
    assert '<barDir val="bar" />' in index_chart and "<lineChart>" in index_chart
    assert "'图表'!$B$2:$B$4" in index_chart and "'图表'!$C$2:$C$4" in index_chart
    sheet = book["图表"]
    rows = list(sheet.iter_rows(min_row=1, max_row=4, max_col=3, values_only=True))
    assert rows[0] == ("单位名称", "满意度指数", "达标线")
    by_name = {r[0]: r for r in rows[1:]}
    stored = {row.unit.name: row for row in computed.snapshot.rows}
    assert set(by_name) == set(stored)
    assert all(by_name[n][1] == stored[n].index and by_name[n][2] == 60 for n in by_name)
    # The distributions: a 100% stacked bar per question, counts by level from 非常满意 to 不了解.
    assert '<grouping val="percentStacked" />' in distribution_chart
    head = next(r for r in sheet.iter_rows(values_only=True) if r[0] == "题号")
    assert list(head[:7]) == ["题号", "非常满意", "满意", "基本满意", "不满意", "非常不满意", "不了解"]
    table = [r for r in sheet.iter_rows(values_only=True) if r[0] and str(r[0]).startswith("Q")]
    codes = computed.snapshot.params["survey"]["layout"]["question_codes"]
    assert [r[0] for r in table] == codes
    answered = sum(r.n for r in computed.snapshot.rows)  # every counted pair answered Q1
    assert sum(table[0][1:7]) == answered


def test_no_pass_line_when_the_score_is_not_the_index(session, computed):
    snapshot = computed.snapshot
    scheme = snapshot.params["scheme"]
    assert exports._pass_line(snapshot) == 60
    for change in ({"normalisation": "efficacy"}, {"grading": "quotas"}, {"weights": {"survey": 0.7, "leader": 0.3}}):
        snapshot.params = {**snapshot.params, "scheme": {**scheme, **change}}
        assert exports._pass_line(snapshot) is None, change
    session.rollback()


def test_columns_fit_chinese_names(session, make):
    long_name = "某某市人力资源和社会保障局社会保险事业管理中心"
    unit = make.unit(code="L1", name=long_name)
    campaign = make.campaign(units=[unit])
    groups = make.groups()
    for _i in range(3):
        add_response(session, campaign, {unit: [4, 5, 3, 4, 5]}, groups["SM"], channel=Channel.WEB)
    session.commit()
    snapshot = snapshots.compute_snapshot(session, campaign, None)
    session.commit()
    book = load_workbook(io.BytesIO(exports.workbook(session, snapshot)))
    units = book["单位得分"]
    header = [c.value for c in units[1]]
    name_col = units.cell(row=1, column=header.index("单位名称") + 1).column_letter
    assert units.column_dimensions[name_col].width >= 2 * len(long_name)
    code_col = units.cell(row=1, column=header.index("单位代码") + 1).column_letter
    assert units.column_dimensions[code_col].width < 2 * len(long_name)
    assert exports.display_width("第1局") == 5 and exports.display_width("ab") == 2 and exports.display_width(None) == 0
    # Flags in words, codes beside them.
    row = dict(zip(header, next(units.iter_rows(min_row=2, values_only=True))))
    assert "样本量不足" in row["标记"] and "small_n" not in row["标记"]
    assert "small_n" in row["标记代码"].split(";")
    # The 参数 sheet: labels in the site's language, the code in the next column.
    params = {r[0]: r[1:] for r in book["参数"].iter_rows(min_row=2, values_only=True)}
    assert [c.value for c in book["参数"][1]] == ["项目", "值", "代码"]
    assert params["状态"] == ("草稿", "draft")
    assert params["加权方法"] == ("按样本类别事后分层", "poststratify")
    # The group sheet and the wide raw file keep a code column beside each label.
    groups_sheet = book["分样本类别"]
    assert [c.value for c in groups_sheet[1]][2:4] == ["样本类别", "样本类别代码"]
    assert next(groups_sheet.iter_rows(min_row=2, values_only=True))[2:4] == ("市民", "SM")
    raw = list(csv.reader(io.StringIO("".join(exports.raw_rows(session, snapshot)).lstrip("\ufeff"))))
    record = dict(zip(raw[0], raw[1]))
    assert (record["渠道"], record["渠道代码"], record["样本类别代码"]) == ("网页链接", "web", "SM")


def test_export_links_say_what_they_give(client, auth, computed):
    auth.login_as("analyst")
    html = client.get(f"/admin/results/snapshots/{computed.snapshot.id}").get_data(as_text=True)
    assert "宽表 CSV（每个单位一行）" not in html
    assert "宽表 CSV（每份答卷对每个单位一行，每题一列）" in html
    assert "单位得分 CSV（每个单位一行）" in html and "导出 Excel（全部表格和图表）" in html
    assert f"/admin/campaigns/{computed.campaign.id}/responses/" in html
