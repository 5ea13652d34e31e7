"""Snapshots out to Excel and CSV, and anonymised raw responses for further analysis.

* Excel (.xlsx): a 图表 sheet first (native charts: the index by unit with the pass line when the
  grading is that simple, and the distribution of answers to each satisfaction question), then one
  sheet per table — 单位得分, 分题目, 分样本类别, 参数 — Chinese headers, number formats, a frozen
  header row, columns as wide as their longest value (a CJK character counts as two);
* every code shown as its label in the site's language (flags, channels, statuses, methods), with
  a code column beside it for machines;
* CSV: the unit table in UTF-8 with a BOM and CRLF line ends, so Excel shows Chinese;
* raw responses: the answers a snapshot counted, one row per response and unit (wide) or
  per response, unit and question (long, the input format of ``python -m analysis
  indices``). Anonymised: no fingerprint, submission id, time, device or contact data; the
  response id is replaced by a sequence numbered in random order for each export; comment
  text only when asked for.

Every text cell that a spreadsheet could run as a formula (= + - @ tab CR LF) is
neutralised with :func:`survey.core.spreadsheets.safe_cell`.
"""
from __future__ import annotations

import csv
import io
import json
import secrets
import unicodedata
from collections.abc import Iterator
from typing import Any

import numpy as np
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.core import clock, labels
from survey.core.spreadsheets import safe_cell, to_csv
from survey.models import Answer, Campaign, Category, Question, RespondentGroup, Snapshot, Unit
from survey.services.results import breakdown_exports, display, question_sheets
from survey.services.results.evaluation import ranking_settings, stored_params
from survey.services.results.loading import DONT_KNOW_CODE, Cutoff, load_pairs
from survey.services.results.weighting import CHANNEL_ORDER, Layout

PERCENT = "0.0%"
SCORE = "0.00"
PROBABILITY = "0.000"


def _ci_headers(snapshot: Snapshot) -> tuple[str, str]:
    """Headers of the interval bounds at the snapshot's confidence level (95%下限, 90%上限 …)."""
    level = f"{snapshot.params['survey']['params']['confidence'] * 100:g}"
    return _("%(c)s%%下限", c=level), _("%(c)s%%上限", c=level)


def unit_table(session: Session, snapshot: Snapshot) -> tuple[list[str], list[list[Any]], list[str | None]]:
    """Headers, rows and each column's number format of the 单位得分 table (league order)."""
    low, high = _ci_headers(snapshot)
    headers = [_("类别"), _("排名"), _("排名区间"), _("单位代码"), _("单位名称"), _("样本量"), _("有效样本量"),
               _("满意度指数"), _("标准误"), low, high, _("满意率"), _("满意率标准误"), _("满意率下限"),
               _("满意率上限"), _("不了解比例"), _("民意调查"), _("领导评价"), _("服务对象评价"), _("综合得分"),
               _("折算得分"), _("公众评议得分"), _("等次"), _("等次说明"), _("末位概率"), _("与上期差异"),
               _("差异P值"), _("意见建议数"), _("差评数"), _("标记"), _("标记代码")]
    formats = [None, "0", None, None, None, "0", "0.0", SCORE, SCORE, SCORE, SCORE, PERCENT, "0.00%", PERCENT,
               PERCENT, PERCENT, SCORE, SCORE, SCORE, SCORE, SCORE, SCORE, None, None, PROBABILITY, SCORE, PROBABILITY,
               "0", "0", None, None]
    rows = []
    for table in display.league(session, snapshot):
        for entry in table.rows:
            r, d = entry.row, entry.detail
            trend = d.get("trend") or {}
            service = d.get("service") or {}
            rank_range = f"{r.rank_lo}–{r.rank_hi}" if r.rank_lo is not None else ""
            rows.append([
                table.category.name if table.category else _("未分类"), r.rank, rank_range, entry.unit.code,
                entry.unit.name, r.n, r.n_eff, r.index, r.index_se, r.index_lo, r.index_hi, r.satisfied_rate,
                r.satisfied_rate_se, *(d.get("satisfied_rate_ci") or [None, None]), d.get("dont_know_rate"), r.index, d.get("leader"),
                service.get("index"), d.get("composite"), d.get("score"), r.component_points,
                labels.label("grade", r.grade),
                labels.label("grade_note", d["grade_note"]) if d.get("grade_note") else "", d.get("p_bottom"),
                trend.get("difference"), trend.get("p_value"), d.get("comments"), d.get("bad_ratings"),
                _("；").join(labels.label("flag", f) for f in r.flags or []), ";".join(r.flags or []),
            ])
    return headers, rows, formats


def question_table(session: Session, snapshot: Snapshot) -> tuple[list[str], list[list[Any]], list[str | None]]:
    low, high = _ci_headers(snapshot)
    headers = [_("单位代码"), _("单位名称"), _("题号"), _("题目"), _("回答数"), _("平均得分"), _("标准误"),
               low, high, _("满意比例"), _("满意比例下限"), _("满意比例上限"), _("不了解比例")]
    formats = [None, None, None, None, "0", SCORE, SCORE, SCORE, SCORE, PERCENT, PERCENT, PERCENT, PERCENT]
    ids = Layout.from_dict(snapshot.params["survey"]["layout"]).question_ids
    texts = {q.id: q.text for q in session.scalars(select(Question).where(Question.id.in_(ids or [-1])))}
    rows = []
    for table in display.league(session, snapshot):
        for entry in table.rows:
            for q in entry.detail.get("questions", []):
                rows.append([entry.unit.code, entry.unit.name, q["code"], texts.get(q["id"], ""), q["n"], q["mean"],
                             q["se"], *q["ci"], q["satisfied"], *q["satisfied_ci"], q["dont_know"]])
    return headers, rows, formats


def group_table(session: Session, snapshot: Snapshot) -> tuple[list[str], list[list[Any]], list[str | None]]:
    headers = [_("单位代码"), _("单位名称"), _("样本类别"), _("样本类别代码"), _("样本数"), _("指数（未加权）"),
               _("满意率（未加权）"), _("目标占比（本单位）")]
    formats = [None, None, None, None, "0", SCORE, PERCENT, PERCENT]
    groups = {g.id: g for g in session.scalars(select(RespondentGroup))}
    rows = []
    for table in display.league(session, snapshot):
        for entry in table.rows:
            for g in entry.detail.get("groups", []):
                if not g.get("n"):
                    continue
                group = groups.get(g["id"])
                rows.append([entry.unit.code, entry.unit.name, group.name if group else _("未标明"),
                             group.code if group else "", g["n"], g["index"], g["satisfied_rate"], g["target_share"]])
    return headers, rows, formats


def parameter_rows(session: Session, snapshot: Snapshot) -> list[list[Any]]:
    """Everything needed to explain and reproduce the snapshot, as (item, value) rows; a coded value as
    (item, label, code)."""
    spec = snapshot.params
    campaign = session.get(Campaign, snapshot.campaign_id)
    params = spec["survey"]["params"]
    layout = spec["survey"]["layout"]
    groups = {g.id: g for g in session.scalars(select(RespondentGroup))}
    group_targets = params.get("targets", {}).get("group") or []
    cutoff = spec["survey"]["cutoff"]
    summary = snapshot.summary or {}
    sep, dont_know = _("、"), _("不了解")
    rows: list[list[Any]] = [
        [_("评议活动"), _("%(name)s（%(code)s）", name=campaign.title, code=campaign.short_code)],
        [_("期次"), snapshot.period],
        [_("结果编号"), snapshot.id],
        [_("状态"), labels.label("snapshot_status", snapshot.status), snapshot.status.value],
        [_("计算时间"), clock.format_local(snapshot.created_at, clock.org_timezone(), "yyyy-MM-dd HH:mm:ss", zone=True)],
        [_("数据截止"), clock.format_local(snapshot.data_cutoff, clock.org_timezone(), "yyyy-MM-dd HH:mm:ss", zone=True)],
        [_("最大答卷编号"), cutoff["max_response_id"]],
        [_("计入答卷数"), summary.get("responses")],
        [_("排除的答卷数"), len(cutoff.get("excluded_ids") or [])],
        [_("存疑答卷数"), len(cutoff.get("flagged_ids") or [])],
        [_("存疑答卷是否计入"), _("是") if cutoff.get("include_flagged") else _("否")],
        [_("代码版本"), snapshot.code_version],
        [_("输入数据摘要（SHA-256）"), (summary.get("digest") or {}).get("survey", "")],
        [_("加权方法"), labels.label("weighting_method", params["method"]), params["method"]],
        [_("等级分值（非常不满意→非常满意）"), sep.join(f"{v:g}" for v in params["scores"])],
        [_("题目权重"), sep.join(f"{c}={w:g}" for c, w in zip(layout["question_codes"], params["question_weights"] or []))],
        [_("样本类别目标占比"), sep.join(f"{groups[g].name if g in groups else g}={s:g}"
                                         for g, s in zip(layout["group_ids"], group_targets))],
        [_("置信水平"), params["confidence"]],
        [_("可靠性阈值"), (f"n≥{params['min_n']}, n_eff≥{params['min_n_eff']:g}, RSE≤{params['max_rse']:g}, "
                          f"{dont_know}≤{params['max_dont_know']:g}")],
        [_("排名模拟次数"), ranking_settings(spec)["draws"]],
        [_("排名模拟随机种子"), ranking_settings(spec)["seed"]],
        [_("满意度指数公式"), _("各题加权平均得分 R_q = Σw·y/Σw·x；指数 = Σa_q·R_q / Σa_q（a_q 为题目权重）")],
        [_("满意率公式"), _("（非常满意+满意+基本满意）答案的加权数 ÷ 全部有效答案的加权数；“不了解”不计入")],
        [_("标准误"), _("泰勒线性化，考虑事后分层/迭代加权（与 R survey 包一致）")],
        [_("完整参数（JSON）"), json.dumps(spec, ensure_ascii=False, sort_keys=True)],
    ]
    scheme = spec.get("scheme")
    if scheme:
        rows[-1:-1] = [
            [_("公众评议权重"), sep.join(f"{labels.label('source', k)}={v:g}" for k, v in scheme["weights"].items()),
             ";".join(f"{k}={v:g}" for k, v in scheme["weights"].items())],
            [_("公众评议分值"), scheme["points"]],
            [_("折算方法"), labels.label("normalisation", scheme["normalisation"]), scheme["normalisation"]],
            [_("等次评定"), labels.label("grading", scheme["grading"]), scheme["grading"]],
            [_("分数线"), json.dumps(scheme["thresholds"], ensure_ascii=False)],
            [_("比例"), json.dumps(scheme["quotas"], ensure_ascii=False)],
            [_("排名区间置信水平"), scheme["rank_level"]],
        ]
    return rows


def display_width(value: Any) -> int:
    """How many narrow columns a value takes in a spreadsheet: a CJK (wide or full-width) character counts 2."""
    if value is None:
        return 0
    if isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    longest = 0
    for line in text.split("\n"):
        longest = max(longest, sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in line))
    return longest


def fit_columns(sheet: Any, headers: list[Any], rows: list[list[Any]], sample: int = 500) -> None:
    """Each column as wide as its longest value (header included, first ``sample`` rows), 6 to 60 wide."""
    from openpyxl.utils import get_column_letter

    for index, header in enumerate(headers, start=1):
        longest = max([display_width(header)] + [display_width(r[index - 1]) for r in rows[:sample]
                                                 if index - 1 < len(r)])
        sheet.column_dimensions[get_column_letter(index)].width = max(6, min(60, longest + 2))


def _pass_line(snapshot: Snapshot) -> float | None:
    """The 达标 line the index can be read against, when the grading is that simple: score lines on the
    index itself (no rescaling, no other source weighed in); otherwise None."""
    scheme = snapshot.params.get("scheme")
    if not scheme or scheme.get("grading") != "thresholds" or scheme.get("normalisation") != "none":
        return None
    if any(w for k, w in (scheme.get("weights") or {}).items() if k != "survey"):
        return None
    return (scheme.get("thresholds") or {}).get("pass")


def distribution(session: Session, snapshot: Snapshot) -> tuple[list[str], list[list[int]]]:
    """The counted answers to each satisfaction question of the index, by level (非常满意 … 非常不满意, 不了解);
    unweighted counts of the answers the snapshot used."""
    spec = snapshot.params
    layout = Layout.from_dict(spec["survey"]["layout"])
    cutoff = Cutoff.from_dict(spec["survey"]["cutoff"])
    pairs = load_pairs(session, cutoff, layout.question_ids)
    levels = pairs.levels()
    counts = []
    for k in range(len(layout.question_codes)):
        found = np.bincount(levels[:, k].astype(np.int64), minlength=DONT_KNOW_CODE + 1)
        counts.append([int(found[level]) for level in (5, 4, 3, 2, 1, DONT_KNOW_CODE)])
    return list(layout.question_codes), counts


def _chart_sheet(book: Any, session: Session, snapshot: Snapshot, units: list[list[Any]]) -> None:
    """The 图表 sheet: the index by unit as a bar chart (the pass line drawn when simple) and each
    question's distribution of answers as a 100% stacked bar chart, with the data they are drawn from."""
    from openpyxl.chart import BarChart, LineChart, Reference

    sheet = book.create_sheet(_("图表"), 0)
    bold = _header_style()[0]
    pass_line = _pass_line(snapshot)
    head = [_("单位名称"), _("满意度指数")] + ([_("达标线")] if pass_line is not None else [])
    sheet.append([safe_cell(h) for h in head])
    named = [(r[4], r[7]) for r in units]
    for name, index in named:
        sheet.append([_cell(name), _cell(index)] + ([pass_line] if pass_line is not None else []))
    for cell in sheet[1]:
        cell.font = bold
    n = len(named)
    if n:
        bar = BarChart()
        bar.type, bar.style = "bar", 10
        bar.title = _("各单位满意度指数") + (_("（竖线为达标线 %(p)s）", p=f"{pass_line:g}") if pass_line is not None
                                           else "")
        bar.y_axis.title = _("满意度指数（0–100）")
        bar.y_axis.scaling.min, bar.y_axis.scaling.max = 0, 100
        bar.x_axis.scaling.orientation = "maxMin"  # first unit on top, as in the table
        bar.add_data(Reference(sheet, min_col=2, min_row=1, max_row=n + 1), titles_from_data=True)
        bar.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=n + 1))
        bar.legend = None
        if pass_line is not None:
            line = LineChart()
            line.add_data(Reference(sheet, min_col=3, min_row=1, max_row=n + 1), titles_from_data=True)
            bar += line
        bar.width, bar.height = 18, max(7.5, min(0.6 * n + 3, 120))
        sheet.add_chart(bar, "E2")
    codes, counts = distribution(session, snapshot)
    top = n + 4
    level_names = [labels.label("level", v) for v in (5, 4, 3, 2, 1)] + [_("不了解")]
    sheet.cell(row=top, column=1, value=safe_cell(_("题号"))).font = bold
    for j, name in enumerate(level_names, start=2):
        sheet.cell(row=top, column=j, value=safe_cell(name)).font = bold
    for i, (code, row) in enumerate(zip(codes, counts), start=1):
        sheet.cell(row=top + i, column=1, value=safe_cell(code))
        for j, value in enumerate(row, start=2):
            sheet.cell(row=top + i, column=j, value=value)
    if codes:
        stacked = BarChart()
        stacked.type, stacked.grouping, stacked.overlap = "bar", "percentStacked", 100
        stacked.title = _("各题回答分布（未加权，计入本结果的回答）")
        stacked.add_data(Reference(sheet, min_col=2, max_col=len(level_names) + 1, min_row=top,
                                   max_row=top + len(codes)), titles_from_data=True)
        stacked.set_categories(Reference(sheet, min_col=1, min_row=top + 1, max_row=top + len(codes)))
        stacked.x_axis.scaling.orientation = "maxMin"
        stacked.width, stacked.height = 18, max(7.5, 0.8 * len(codes) + 4)
        sheet.add_chart(stacked, f"E{max(top, 20 if n < 20 else n + 4)}")
    fit_columns(sheet, head, [[name, index] for name, index in named])


def _header_style() -> tuple[Any, Any]:
    from openpyxl.styles import Font, PatternFill

    return Font(bold=True), PatternFill("solid", fgColor="EEEEEE")


def workbook(session: Session, snapshot: Snapshot) -> bytes:
    """The snapshot as an .xlsx file: the 图表 sheet, then one sheet per table."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment

    book = Workbook()
    book.remove(book.active)
    bold, fill = _header_style()
    units = unit_table(session, snapshot)
    tables = [(_("单位得分"), units), (_("分题目"), question_table(session, snapshot)),
              (_("分样本类别"), group_table(session, snapshot)),
              (_("参数"), ([_("项目"), _("值"), _("代码")], parameter_rows(session, snapshot), [None, None, None]))]
    tables[-1:-1] = question_sheets.sheets(session, snapshot)  # a sheet per other question (单选、多选、0–10、文字)
    tables[-1:-1] = breakdown_exports.sheets(session, snapshot)  # 分组结果, 交叉表, 与上期比
    for title, (headers, rows, formats) in tables:
        sheet = book.create_sheet(title[:31])
        sheet.append([safe_cell(h) for h in headers])
        for cell in sheet[1]:
            cell.font, cell.fill = bold, fill
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for row in rows:
            sheet.append([_cell(v) for v in row])
        fit_columns(sheet, headers, rows)
        for index, fmt in enumerate(formats, start=1):
            if fmt:
                for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = fmt
        sheet.freeze_panes = "A2"
    _chart_sheet(book, session, snapshot, units[1])
    book.active = 0
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return safe_cell(value)


def unit_csv(session: Session, snapshot: Snapshot) -> bytes:
    headers, rows, _formats = unit_table(session, snapshot)
    return to_csv(headers, rows)


# --- raw responses ----------------------------------------------------------------------------


def raw_rows(session: Session, snapshot: Snapshot, long: bool = False, with_text: bool = False) -> Iterator[str]:
    """The snapshot's counted answers as CSV lines (BOM first); loads now, yields without the database."""
    spec = snapshot.params
    layout = Layout.from_dict(spec["survey"]["layout"])
    cutoff = Cutoff.from_dict(spec["survey"]["cutoff"])
    comment_ids = spec["survey"]["comment_question_ids"]
    pairs = load_pairs(session, cutoff, layout.question_ids, comment_ids)
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(np.unique(pairs.unit).tolist() or [-1])))}
    categories = {c.id: c.name for c in session.scalars(select(Category))}
    groups = {g.id: g for g in session.scalars(select(RespondentGroup))}
    texts: dict[tuple[int, int], str] = {}
    if with_text and not long:
        stmt = (select(Answer.response_id, Answer.unit_id, Answer.text)
                .where(Answer.campaign_id == cutoff.campaign_id, Answer.question_id.in_(comment_ids or [-1]),
                       Answer.response_id <= cutoff.max_response_id, Answer.text.is_not(None), Answer.text != "")
                .order_by(Answer.id))
        left_out = cutoff.left_out
        for response_id, unit_id, text in session.execute(stmt):
            if response_id not in left_out:
                key = (response_id, unit_id)
                texts[key] = f"{texts[key]}\n{text}" if key in texts else text
    levels = pairs.levels()
    if long:  # the input of ``python -m analysis``: only the pairs the snapshot weighted and counted
        params = stored_params(spec["survey"]["params"])
        channels = list(layout.channels) if "channel" in params.targets else None
        _answers, used = pairs.answers(layout.group_ids, channels, spec["survey"].get("no_group_code"))
        levels[~used] = 0
    order = np.random.default_rng(secrets.randbits(64)).permutation(pairs.size)
    sequence = np.empty(pairs.size, dtype=np.int64)
    sequence[order] = np.arange(1, pairs.size + 1)
    by_sequence = np.argsort(sequence)
    codes = layout.question_codes
    channel_name = {i: c for i, c in enumerate(CHANNEL_ORDER)}

    def line(values: list[Any]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(["" if v is None else safe_cell(v) for v in values])
        return buffer.getvalue()

    # The long file is the input of ``python -m analysis`` and keeps its one vocabulary in every language.
    dont_know = "不了解" if long else _("不了解")

    def level_text(code: int) -> str:
        return "" if code == 0 else (dont_know if code == DONT_KNOW_CODE else str(code))

    def generate() -> Iterator[str]:
        if long:
            yield "\ufeff" + line(["respondent_id", "unit", "group", "channel", "question", "level"])
        else:
            header = [_("序号"), _("单位代码"), _("单位名称"), _("类别"), _("样本类别"), _("样本类别代码"), _("渠道"),
                      _("渠道代码"), *codes]
            yield "\ufeff" + line(header + ([_("意见建议")] if with_text else []))
        for i in by_sequence.tolist():
            unit = units.get(int(pairs.unit[i]))
            group = groups.get(int(pairs.group[i]))
            group_code = group.code if group else ""
            channel = channel_name.get(int(pairs.channel[i]), "")
            if long:
                for k, code in enumerate(levels[i].tolist()):
                    if code:
                        yield line([int(sequence[i]), unit.code if unit else "", group_code, channel, codes[k],
                                    level_text(code)])
                continue
            values = [int(sequence[i]), unit.code if unit else "", unit.name if unit else "",
                      categories.get(unit.category_id, "") if unit else "", group.name if group else "", group_code,
                      labels.label("channel", channel), channel, *[level_text(c) for c in levels[i].tolist()]]
            if with_text:
                values.append(texts.get((int(pairs.response[i]), int(pairs.unit[i])), ""))
            yield line(values)

    return generate()


def params_json(session: Session, snapshot: Snapshot) -> bytes:
    """PARAMS.json of ``python -m analysis indices RAW.csv --params PARAMS.json``: every setting of the snapshot.

    ``params`` is the engine's :meth:`analysis.Params.to_dict` as the snapshot replays it
    (targets, level scores, question weights, ``min_cell_n`` and ``collapse_into``,
    trimming, reliability thresholds, confidence level); ``labels`` maps the engine's codes
    to the labels of the long raw export (group codes, channel names, question codes), in
    code order. ``scheme`` and ``ranking`` (the 公众评议 component's settings and the rank
    simulation's seed and number of draws) are carried for the record; the CLI reads
    ``params`` and ``labels`` only.
    """
    spec = snapshot.params
    survey = spec["survey"]
    layout = Layout.from_dict(survey["layout"])
    codes = {g.id: g.code for g in session.scalars(select(RespondentGroup))}
    campaign = session.get(Campaign, snapshot.campaign_id)
    data = {
        "format": "pingyi-params/1",
        "snapshot": {"id": snapshot.id, "campaign": campaign.short_code, "period": snapshot.period,
                     "status": snapshot.status.value, "code_version": snapshot.code_version},
        "params": stored_params(survey["params"]).to_dict(),
        "labels": {"group": [codes.get(g, str(g)) for g in layout.group_ids], "channel": list(layout.channels),
                   "question": list(layout.question_codes)},
        "scheme": spec.get("scheme"),
        "ranking": ranking_settings(spec),
    }
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def targets_json(session: Session, snapshot: Snapshot) -> bytes:
    """The snapshot's target shares by group code, as TARGETS.json of ``python -m analysis indices``."""
    spec = snapshot.params["survey"]
    codes = {g.id: g.code for g in session.scalars(select(RespondentGroup))}
    targets: dict[str, dict[str, float]] = {}
    shares = spec["params"].get("targets", {})
    if "group" in shares:
        targets["group"] = {codes.get(g, str(g)): s for g, s in zip(spec["layout"]["group_ids"], shares["group"])}
    if "channel" in shares:
        targets["channel"] = dict(zip(spec["layout"]["channels"], shares["channel"]))
    return json.dumps(targets, ensure_ascii=False, indent=1).encode("utf-8")
