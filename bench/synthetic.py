"""What the benchmarks that generate a large campaign in the database share (results_bench.py,
fieldwork_bench.py): the campaign's setting — the five standard respondent groups, N window units,
the built-in window questionnaire published, the campaign and its unit codes — and the end of a
bulk fill (the id sequences moved past the rows written with explicit ids, fresh statistics).

Each benchmark then writes its responses and answers its own way, in bulk, with explicit ids.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass
class Setting:
    campaign: Any
    questionnaire: Any
    units: list[Any]
    groups: list[Any]


def make_campaign(session, *, code: str, title: str, period: str, status: Any, start: dt.datetime,
                  n_units: int, unit_prefix: str, short_prefix: str, channels: list[str],
                  categories: int = 0) -> Setting:
    """The campaign and all it needs, committed: units ``{unit_prefix}000`` … named 基准窗口1 …, with
    ``categories`` categories (基准类别1 …) given in turn when asked; open for 92 days from ``start``."""
    from survey.models import (
        Campaign,
        CampaignUnit,
        Category,
        QuestionnaireStatus,
        RespondentGroup,
        Unit,
        UnitKind,
        utcnow,
    )
    from survey.services.questionnaires.builtin import STANDARD_GROUPS, WINDOW_SERVICE
    from survey.services.questionnaires.serialise import build_questionnaire

    groups = [RespondentGroup(code=g["code"], name=g["name"], target_share=g["target_share"], sort_order=i)
              for i, g in enumerate(STANDARD_GROUPS)]
    session.add_all(groups)
    kinds = [Category(code=f"B{c}", name=f"基准类别{c + 1}", sort_order=c) for c in range(categories)]
    session.add_all(kinds)
    units = [Unit(code=f"{unit_prefix}{i:03d}", name=f"基准窗口{i + 1}", kind=UnitKind.WINDOW,
                  category=kinds[i % categories] if kinds else None, sort_order=i) for i in range(n_units)]
    session.add_all(units)
    session.flush()
    questionnaire = build_questionnaire(session, WINDOW_SERVICE)
    questionnaire.status = QuestionnaireStatus.PUBLISHED
    questionnaire.published_at = utcnow()
    session.flush()
    campaign = Campaign(short_code=code, title=title, questionnaire=questionnaire, period=period, status=status,
                        opens_at=start, closes_at=start + dt.timedelta(days=92), channels=channels)
    session.add(campaign)
    session.flush()
    for i, unit in enumerate(units):
        session.add(CampaignUnit(campaign=campaign, unit=unit, short_code=f"{short_prefix}{i:04d}"))
    session.commit()
    return Setting(campaign, questionnaire, units, groups)


def finish_fill(engine) -> None:
    """After rows were written with explicit ids: PostgreSQL's id sequences moved past them; then ANALYZE."""
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        with engine.begin() as conn:
            for table in ("response", "answer"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
