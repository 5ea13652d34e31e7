"""The other question types in the exports: an xlsx sheet per question, a long CSV, the API fields.

Built from the stored per-unit results (``detail["items"]``, see :mod:`question_results`), in
league order, with option labels in the site's language and the option codes beside them. A
conditional question adds the number shown and its shares among all respondents (the not-shown
counting as not choosing); a 差评-reasons question adds a sheet (and CSV rows, and API fields) of
each unit's reasons, most chosen first.
"""
from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from survey.core.labels import label
from survey.core.spreadsheets import to_csv
from survey.models import Snapshot
from survey.services.results import question_results
from survey.services.results.question_results import QuestionBlock

PERCENT = "0.0%"
SE_PERCENT = "0.00%"
SCORE = "0.00"
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
Table = tuple[list[str], list[list[Any]], list[str | None]]


def _sheet_title(block: QuestionBlock, taken: set[str]) -> str:
    base = _SHEET_FORBIDDEN.sub(" ", f"{block.code} {block.text}").strip()[:28] or block.code
    title, k = base, 2
    while title in taken:
        title, k = f"{base[:26]}~{k}", k + 1
    taken.add(title)
    return title


def _bounds(snapshot: Snapshot) -> tuple[str, str]:
    level = f"{snapshot.params['survey']['params']['confidence'] * 100:g}"
    return _("%(c)s%%下限", c=level), _("%(c)s%%上限", c=level)


def block_table(block: QuestionBlock, low: str, high: str) -> Table:
    """One question's sheet: a row per unit; ``low`` / ``high`` head the interval columns."""
    headers: list[str] = [_("单位代码"), _("单位名称"), _("回答人数")]
    formats: list[str | None] = [None, None, "0"]
    if block.conditional:
        headers += [_("显示人数"), _("未显示人数")]
        formats += ["0", "0"]
    if block.scored:
        headers += [_("%(o)s率", o=block.top_label), _("标准误"), low, high, _("平均分"),
                    _("平均分标准误")]
        formats += [PERCENT, SE_PERCENT, PERCENT, PERCENT, SCORE, SCORE]
    if block.kind == "rating":
        headers += [_("平均分（0–10）"), _("标准误"), low, high]
        formats += [SCORE, SCORE, SCORE, SCORE]
    if block.kind != "text":
        for option in block.labels:
            headers += [_("%(o)s（比例）", o=option), _("%(o)s（标准误）", o=option)]
            formats += [PERCENT, SE_PERCENT]
    if block.conditional and block.kind != "text":
        headers += [_("全体：人数")]
        formats += ["0"]
        if block.scored:
            headers += [_("全体：%(o)s率", o=block.top_label), _("全体：标准误")]
            formats += [PERCENT, SE_PERCENT]
        for option in block.labels:
            headers += [_("全体：%(o)s（比例）", o=option), _("全体：%(o)s（标准误）", o=option)]
            formats += [PERCENT, SE_PERCENT]
    rows = []
    for unit, it in block.rows:
        row: list[Any] = [unit.code, unit.name, it["n"]]
        if block.conditional:
            row += [it.get("n_shown"), it.get("n_not_shown")]
        if block.scored:
            row += [it.get("top_share"), it.get("top_share_se"), *(it.get("top_share_ci") or [None, None]),
                    it.get("mean"), it.get("mean_se")]
        if block.kind == "rating":
            row += [it.get("mean"), it.get("mean_se"), *(it.get("mean_ci") or [None, None])]
        if block.kind != "text":
            for share, se in zip(it.get("shares") or [], it.get("shares_se") or [], strict=True):
                row += [share, se]
        row += _all_cells(block, it)
        rows.append(row)
    if block.overall:
        it = block.overall
        row = ["", _("全部单位（合并）"), it["n"]]
        if block.conditional:
            row += [it.get("n_shown"), it.get("n_not_shown")]
        if block.scored:
            row += [it.get("top_share"), it.get("top_share_se"), None, None, it.get("mean"), it.get("mean_se")]
        if block.kind == "rating":
            row += [it.get("mean"), it.get("mean_se"), None, None]
        if block.kind != "text":
            for share, se in zip(it.get("shares") or [], it.get("shares_se") or [], strict=True):
                row += [share, se]
        row += _all_cells(block, it)
        rows.append(row)
    return headers, rows, formats


def _all_cells(block: QuestionBlock, it: dict[str, Any]) -> list[Any]:
    """A conditional question's figures among all respondents (empty cells when not stored)."""
    if not block.conditional or block.kind == "text":
        return []
    every = it.get("all") or {}
    cells: list[Any] = [every.get("n")]
    if block.scored:
        cells += [every.get("top_share"), every.get("top_share_se")]
    shares, ses = every.get("shares") or [None] * len(block.labels), every.get("shares_se") or [None] * len(block.labels)
    for share, se in zip(shares, ses, strict=True):
        cells += [share, se]
    return cells


def reasons_table(block: QuestionBlock) -> Table:
    """The 差评 reasons sheet: a row per unit and reason, each unit's reasons most chosen first."""
    headers = [_("单位代码"), _("单位名称"), _("被询问人数"), _("回答人数"), _("排序"), _("原因代码"), _("原因"),
               _("人数"), _("占被询问者比例")]
    rows: list[list[Any]] = []
    for t in block.reasons:
        for rank, r in enumerate(t.reasons, start=1):
            rows.append([t.unit.code, t.unit.name, t.n_shown, t.n, rank, r.code, r.label, r.count, r.share])
    return headers, rows, [None, None, "0", "0", "0", None, None, "0", PERCENT]


def sheets(session: Session, snapshot: Snapshot) -> list[tuple[str, Table]]:
    """An xlsx sheet per stored question (none for a snapshot without per-question results)."""
    taken: set[str] = set()
    low, high = _bounds(snapshot)
    qblocks = question_results.snapshot_blocks(session, snapshot)
    out = [(_sheet_title(b, taken), block_table(b, low, high)) for b in qblocks]
    for b in qblocks:
        if b.reasons:
            title = _("差评原因")
            if title in taken:
                title = f"{title} {b.code}"[:31]
            taken.add(title)
            out.append((title, reasons_table(b)))
    return out


def long_table(session: Session, snapshot: Snapshot) -> Table:
    """Every question, unit and statistic in one long table (the questions CSV)."""
    headers = [_("单位代码"), _("单位名称"), _("题号"), _("题目"), _("题型"), _("统计量"), _("统计量代码"),
               _("选项代码"), _("选项"), _("回答人数"), _("估计值"), _("标准误"), _("下限"), _("上限")]
    rows: list[list[Any]] = []
    for b in question_results.snapshot_blocks(session, snapshot):
        codes = [str(v) for v in range(11)] if b.kind == "rating" else list(b.spec["option_codes"])
        for unit, it in b.rows:
            head = [unit.code, unit.name, b.code, b.text, label("question_type", b.kind)]
            if b.kind == "text":
                rows.append([*head, _("回答人数"), "count", "", "", it["n"], it["n"], None, None, None])
                continue
            if b.scored:
                top = b.spec["option_codes"][[float(v) for v in b.spec["scores"]].index(max(float(v) for v in b.spec["scores"]))]
                rows.append([*head, _("%(o)s率", o=b.top_label), "top_share", top, b.top_label, it["n"],
                             it.get("top_share"), it.get("top_share_se"), *(it.get("top_share_ci") or [None, None])])
            if it.get("mean") is not None or b.scored or b.kind == "rating":
                rows.append([*head, _("平均分"), "mean", "", "", it["n"], it.get("mean"), it.get("mean_se"),
                             *(it.get("mean_ci") or [None, None])])
            for k, (code, option) in enumerate(zip(codes, b.labels, strict=True)):
                rows.append([*head, _("比例"), "share", code, option, it["n"], it["shares"][k], it["shares_se"][k],
                             *it["shares_ci"][k]])
            rows += _all_rows(b, head, it, codes)
        for t in b.reasons:
            head = [t.unit.code, t.unit.name, b.code, b.text, label("question_type", b.kind)]
            for r in t.reasons:
                rows.append([*head, _("差评原因人数"), "reason_count", r.code, r.label, t.n_shown, r.count, None, None, None])
                rows.append([*head, _("差评原因占被询问者比例"), "reason_share", r.code, r.label, t.n_shown, r.share,
                             None, None, None])
        if b.overall:  # all units pooled: unit code empty, no interval
            it, head = b.overall, ["", _("全部单位（合并）"), b.code, b.text, label("question_type", b.kind)]
            if b.kind == "text":
                rows.append([*head, _("回答人数"), "count", "", "", it["n"], it["n"], None, None, None])
                continue
            if "top_share" in it:
                rows.append([*head, _("%(o)s率", o=b.top_label), "top_share", it["top_option"], b.top_label, it["n"],
                             it["top_share"], it["top_share_se"], None, None])
            if "mean" in it:
                rows.append([*head, _("平均分"), "mean", "", "", it["n"], it["mean"], it["mean_se"], None, None])
            for k, (code, option) in enumerate(zip(codes, b.labels, strict=True)):
                rows.append([*head, _("比例"), "share", code, option, it["n"], it["shares"][k], it["shares_se"][k],
                             None, None])
            rows += _all_rows(b, head, it, codes)
    return headers, rows, [None] * len(headers)


def _all_rows(b: QuestionBlock, head: list[Any], it: dict[str, Any], codes: list[str]) -> list[list[Any]]:
    """A conditional question's rows: the number shown and not shown, then its shares among all
    respondents (statistic codes ``n_shown``, ``n_not_shown`` — 未显示 / not shown —, ``share_all``)."""
    if not b.conditional:
        return []
    rows: list[list[Any]] = [[*head, _("显示人数"), "n_shown", "", "", it.get("n_shown"), it.get("n_shown"), None, None, None],
                             [*head, _("未显示人数"), "n_not_shown", "", "", it.get("n_not_shown"), it.get("n_not_shown"),
                              None, None, None]]
    every = it.get("all")
    if not every:
        return rows
    cis = every.get("shares_ci") or [[None, None]] * len(codes)
    if "top_share" in every:
        k = codes.index(it["top_option"]) if it.get("top_option") in codes else None
        rows.append([*head, _("全体：%(o)s率", o=b.top_label), "top_share_all", it.get("top_option", ""), b.top_label,
                     every["n"], every["top_share"], every["top_share_se"], *(every.get("top_share_ci") or
                                                                               (cis[k] if k is not None else [None, None]))])
    for k, (code, option) in enumerate(zip(codes, b.labels, strict=True)):
        rows.append([*head, _("全体：比例"), "share_all", code, option, every["n"], every["shares"][k],
                     every["shares_se"][k], *cis[k]])
    return rows


def questions_csv(session: Session, snapshot: Snapshot) -> bytes:
    headers, rows, _formats = long_table(session, snapshot)
    return to_csv(headers, rows)


# --- API ------------------------------------------------------------------------------------------


def api_questions(session: Session, snapshot: Snapshot) -> list[dict[str, Any]]:
    """The snapshot's other questions: code, type, text and options with their scores."""
    questions = question_results.questions_of(session, snapshot)
    pooled = {it["question_id"]: it for it in (snapshot.summary or {}).get("items") or []}
    out = []
    for spec in (snapshot.params or {}).get("items") or []:
        q = questions.get(int(spec["question_id"]))
        by_code = {o.code: o for o in q.options} if q is not None else {}
        out.append({
            "code": spec["code"], "type": spec["kind"], "text": q.text if q is not None else None,
            "options": [{"code": c, "label": by_code[c].label if c in by_code else None, "score": s}
                        for c, s in zip(spec["option_codes"], spec["scores"], strict=True)],
            "conditional": bool(spec.get("conditional")), "role": spec.get("role"),
            "overall": _api_entry(pooled[spec["question_id"]]) if spec["question_id"] in pooled else None,
        })
    return out


API_FIELDS = ("code", "kind", "n", "categories", "shares", "shares_se", "shares_ci", "mean", "mean_se", "mean_ci",
              "top_option", "top_share", "top_share_se", "top_share_ci", "n_shown", "n_not_shown", "all", "counts")


def api_unit_questions(detail: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A unit's per-question results for the API (``type`` for the stored ``kind``)."""
    return [_api_entry(it) for it in question_results.unit_items(detail)]


def _api_entry(it: dict[str, Any]) -> dict[str, Any]:
    """A stored item for the API; a 差评-reasons question (stored with ``counts``) adds ``reasons``: every
    option with its count and share of the n shown (the denominator), most chosen first."""
    out = {("type" if k == "kind" else k): it[k] for k in API_FIELDS if k in it}
    if "counts" in it:
        n_shown = int(it.get("n_shown", it["n"]))
        reasons = [{"code": code, "count": int(count), "share": count / n_shown if n_shown else None}
                   for code, count in zip(it["categories"], it["counts"], strict=True)]
        out["reasons"] = sorted(reasons, key=lambda r: -r["count"])
    return out
