"""The breakdown sheets of a snapshot's workbook: 分组结果, 交叉表, 与上期比.

``exports.workbook`` adds them with one line (before 参数); each is ``(title, (headers, rows, formats))`` like
the other sheets. Codes keep a column of their own beside the label (group and category codes, channel codes).
"""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from survey.core import labels
from survey.models import Snapshot
from survey.services.results import breakdowns

PERCENT = "0.0%"
PERCENT_SE = "0.00%"
SCORE = "0.00"
P_VALUE = "0.0000"
Sheet = tuple[str, tuple[list[str], list[list[Any]], list[str | None]]]



def _by_name(by: str) -> str:
    return {"group": _("样本类别"), "channel": _("渠道"), "category": _("单位类别")}[by]


def _label(by: str, label: Any) -> tuple[str, str]:
    """(code, name) of a breakdown level."""
    if by == "channel":
        return (label or "", str(labels.label("channel", label)) if label else _("未标明"))
    if label is None:
        return ("", _("未分类") if by == "category" else _("未标明"))
    return (getattr(label, "code", "") or "", label.name)


def domain_sheet(session: Session, snapshot: Snapshot) -> Sheet:
    level = f"{snapshot.params['survey']['params']['confidence'] * 100:g}"
    headers = [_("分组依据"), _("组代码"), _("组"), _("评价数"), _("满意度指数"), _("指数标准误"),
               _("%(c)s%%下限", c=level), _("%(c)s%%上限", c=level), _("满意率"), _("满意率标准误"), _("样本不足")]
    formats = [None, None, None, "0", SCORE, SCORE, SCORE, SCORE, PERCENT, PERCENT_SE, None]
    rows = []
    for by, entries in breakdowns.domain_rows(session, snapshot).items():
        for r in entries:
            code, name = _label(by, r.label)
            rows.append([_by_name(by), code, name, r.n, r.index, r.index_se, r.index_ci[0], r.index_ci[1],
                         r.satisfied_rate, r.satisfied_rate_se, _("是") if r.small_n else ""])
    return _("分组结果"), (headers, rows, formats)


def crosstab_sheet(session: Session, snapshot: Snapshot) -> Sheet:
    headers = [_("题目代码"), _("题目"), _("分组依据"), _("组代码"), _("组"), _("答案代码"), _("答案"), _("有效答案数"),
               _("列百分比"), _("标准误")]
    formats = [None, None, None, None, None, None, None, "0", PERCENT, PERCENT_SE]
    rows = []
    for table in breakdowns.crosstabs(session, snapshot):
        text = table.question.text if table.question else ""
        for column, (label, n) in enumerate(table.columns):
            code, name = _label(table.by, label)
            for answer_code, answer, cells in table.rows:
                share, se = cells[column]
                rows.append([table.code, text, _by_name(table.by), code, name, answer_code, answer, n, share, se])
    return _("交叉表"), (headers, rows, formats)


def change_sheet(session: Session, snapshot: Snapshot) -> Sheet:
    previous, entries = breakdowns.unit_changes(session, snapshot)
    headers = [_("单位代码"), _("单位名称"), _("指数（本期）"), _("指数（上期）"), _("指数变化"), _("变化的标准误"),
               _("p 值（双侧）"), _("指数变化显著"), _("满意率（本期）"), _("满意率（上期）"), _("满意率变化"),
               _("变化的标准误"), _("p 值（双侧）"), _("满意率变化显著"), _("上期结果编号")]
    formats = [None, None, SCORE, SCORE, SCORE, SCORE, P_VALUE, None, PERCENT, PERCENT, PERCENT, PERCENT_SE,
               P_VALUE, None, None]
    rows = []
    for unit, c in entries:
        rows.append([unit.code if unit else "", unit.name if unit else c.unit_id, c.index, c.previous_index,
                     c.index_difference, c.index_difference_se, c.index_p, _("显著") if c.index_significant else "",
                     c.rate, c.previous_rate, c.rate_difference, c.rate_difference_se, c.rate_p,
                     _("显著") if c.rate_significant else "", previous.id if previous else None])
    return _("与上期比"), (headers, rows, formats)


def sheets(session: Session, snapshot: Snapshot) -> list[Sheet]:
    """The breakdown sheets; a snapshot computed before breakdowns gets only 与上期比 (when there is a previous
    official period)."""
    out = []
    if breakdowns.stored(snapshot):
        out += [domain_sheet(session, snapshot), crosstab_sheet(session, snapshot)]
    change = change_sheet(session, snapshot)
    if change[1][1]:
        out.append(change)
    return out
