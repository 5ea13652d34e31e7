"""领导评价: leader ratings of units for a period, entered on a page or imported from CSV/Excel.

Rules: a rating is a score from 0 to 100 for one unit in one period (one per unit and
period); a blank entry removes the unit's rating. The units offered are those of the
period's campaigns. An import is checked row by row first — unknown unit code, a unit
twice, a score that is not a number in 0–100 — and nothing is written unless every row is
valid. Every change is audited with the old and new scores.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.core.audit import record
from survey.core.errors import Collector, DomainError
from survey.core.spreadsheets import SpreadsheetError, read_table
from survey.core.validation import check_characters
from survey.models import Campaign, CampaignUnit, Category, LeaderRating, Unit, User, utcnow

CODE_HEADERS = ("单位代码", "代码", "unit_code", "code")
SCORE_HEADERS = ("领导评价得分", "领导评价", "得分", "分数", "score")
NAME_HEADERS = ("单位名称", "名称", "name")
SOURCE_HEADERS = ("来源", "备注", "source")
MAX_SOURCE = 100


def periods(session: Session) -> list[str]:
    return sorted(set(session.scalars(select(Campaign.period))), reverse=True)


def units_for_period(session: Session, period: str) -> list[Unit]:
    """The units of the period's campaigns, in display order (category, then the unit's order)."""
    stmt = (
        select(Unit).join(CampaignUnit, CampaignUnit.unit_id == Unit.id)
        .join(Campaign, Campaign.id == CampaignUnit.campaign_id)
        .outerjoin(Category, Category.id == Unit.category_id)
        .where(Campaign.period == period)
        .order_by(Category.sort_order, Unit.sort_order, Unit.code)
    )
    return list(session.scalars(stmt).unique())


def ratings_for(session: Session, period: str) -> dict[int, LeaderRating]:
    return {r.unit_id: r for r in session.scalars(select(LeaderRating).where(LeaderRating.period == period))}


def parse_score(value: Any) -> float | None:
    """A score 0–100 from text; None for blank; ValueError with a message otherwise."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        score = float(text)
    except ValueError as exc:
        raise ValueError(_("“%(v)s”不是数字。", v=text[:20])) from exc
    if not math.isfinite(score) or not 0 <= score <= 100:
        raise ValueError(_("得分应在 0 到 100 之间。"))
    return score


def save_scores(session: Session, user: User | None, period: str, scores: Mapping[int, Any],
                source: str | None = None) -> int:
    """Store the entered scores (unit id → text); blank removes. All validated first; returns changes."""
    allowed = {u.id for u in units_for_period(session, period)}
    check = Collector()
    parsed: dict[int, float | None] = {}
    for unit_id, value in scores.items():
        if unit_id not in allowed:
            check.add(f"unit_{unit_id}", _("该单位不属于本期的评议活动。"))
            continue
        try:
            parsed[unit_id] = parse_score(value)
        except ValueError as exc:
            check.add(f"unit_{unit_id}", str(exc))
    check.raise_if_any()
    return _apply(session, user, period, parsed, source or _("页面录入"))


def _apply(session: Session, user: User | None, period: str, scores: Mapping[int, float | None], source: str) -> int:
    existing = ratings_for(session, period)
    changes: list[dict[str, Any]] = []
    for unit_id, score in scores.items():
        rating = existing.get(unit_id)
        if score is None:
            if rating is not None:
                changes.append({"unit_id": unit_id, "before": rating.score, "after": None})
                session.delete(rating)
            continue
        if rating is None:
            session.add(LeaderRating(period=period, unit_id=unit_id, score=score, source=source[:MAX_SOURCE],
                                     entered_by_id=getattr(user, "id", None)))
            changes.append({"unit_id": unit_id, "before": None, "after": score})
        elif rating.score != score:
            changes.append({"unit_id": unit_id, "before": rating.score, "after": score})
            rating.score, rating.source = score, source[:MAX_SOURCE]
            rating.entered_at, rating.entered_by_id = utcnow(), getattr(user, "id", None)
    if changes:
        session.flush()
        record(session, user, "results.leader_ratings", None,
               _("修改了 %(p)s 的领导评价（%(n)d 个单位）", p=period, n=len(changes)), period=period, source=source,
               changes=changes)
    return len(changes)


@dataclass
class PreviewRow:
    line: int
    code: str
    name: str
    score: float | None
    unit_id: int | None
    unit_name: str | None
    error: str | None
    previous: float | None = None


@dataclass
class Preview:
    rows: list[PreviewRow]
    error: str | None = None  # the whole file is unusable
    source: str = ""  # the file's 来源 column, when it has one

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.rows) and not any(r.error for r in self.rows)

    @property
    def error_count(self) -> int:
        return sum(1 for r in self.rows if r.error)


def _column(headers: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in headers]
    for name in names:
        if name.lower() in lowered:
            return lowered.index(name.lower())
    return None


def preview_import(session: Session, period: str, data: bytes) -> Preview:
    """Check an uploaded table of leader ratings row by row; writes nothing."""
    try:
        table = read_table(data)
    except SpreadsheetError as exc:
        return Preview([], str(exc))
    code_col, score_col = _column(table.headers, CODE_HEADERS), _column(table.headers, SCORE_HEADERS)
    name_col, source_col = _column(table.headers, NAME_HEADERS), _column(table.headers, SOURCE_HEADERS)
    if code_col is None or score_col is None:
        return Preview([], _("表头需要“单位代码”和“领导评价得分”两列（可另有“单位名称”“来源”）。"))
    if not table.rows:
        return Preview([], _("文件里没有数据行。"))
    units = {u.code: u for u in units_for_period(session, period)}
    existing = ratings_for(session, period)
    seen: dict[str, int] = {}
    rows = []
    for line, cells in zip(table.lines, table.rows):
        code = cells[code_col].strip()
        name = cells[name_col].strip() if name_col is not None else ""
        unit = units.get(code)
        error = None
        score = None
        if not code:
            error = _("缺少单位代码。")
        elif unit is None:
            error = _("单位代码“%(c)s”不在本期的评议活动中。", c=code[:32])
        elif code in seen:
            error = _("单位“%(c)s”重复（第 %(l)d 行已出现）。", c=code[:32], l=seen[code])
        else:
            seen[code] = line
        if error is None:
            try:
                score = parse_score(cells[score_col])
                if score is None:
                    error = _("缺少得分。")
            except ValueError as exc:
                error = str(exc)
        if error is None and name and unit is not None and name != unit.name:
            error = _("单位名称“%(n)s”与代码对应的“%(u)s”不一致。", n=name[:40], u=unit.name)
        if error is None and source_col is not None:
            try:
                check_characters(cells[source_col], _("来源"))
            except ValueError as exc:
                error = str(exc)
        rows.append(PreviewRow(line, code, name, score, unit.id if unit else None, unit.name if unit else None,
                               error, existing[unit.id].score if unit and unit.id in existing else None))
    source = ""
    if source_col is not None:
        source = next((cells[source_col].strip() for cells in table.rows if cells[source_col].strip()), "")
    return Preview(rows, source=source[:MAX_SOURCE])


def apply_import(session: Session, user: User | None, period: str, rows: list[tuple[int, float]],
                 source: str | None) -> int:
    """Write checked rows (unit id, score) from a confirmed preview; re-checked against the period's units."""
    allowed = {u.id for u in units_for_period(session, period)}
    if any(unit_id not in allowed for unit_id, _score in rows):
        raise DomainError({"": _("导入的单位已不在本期的评议活动中，请重新上传。")})
    try:
        scores = {int(unit_id): parse_score(score) for unit_id, score in rows}
        check_characters(source or "", _("来源"))
    except ValueError as exc:
        raise DomainError({"": str(exc)}) from exc
    return _apply(session, user, period, scores, (source or _("文件导入"))[:MAX_SOURCE])
