"""What the benchmarks that generate a large campaign in the database share (results_bench.py,
fieldwork_bench.py): the campaign's setting — the five standard respondent groups, N window units,
the built-in window questionnaire published, the campaign and its unit codes — and the end of a
bulk fill (the id sequences moved past the rows written with explicit ids, fresh statistics).

Each benchmark then writes its responses and answers its own way, in bulk, with explicit ids.
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def build_app(database_url: str):
    """The site's app on the benchmark database (an instance folder of its own, no rate limit)."""
    from survey import create_app

    os.environ.setdefault("PINGYI_INSTANCE_PATH", tempfile.mkdtemp(prefix="pingyi-bench-"))
    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_ENABLED": False})


def prepare(app, campaign_code: str, fill: Callable[[Any, int], None], n_responses: int, fresh: bool) -> float | None:
    """Migrate, then ``fill(db, n_responses)`` unless the database already holds the campaign
    ``campaign_code``; returns the seconds spent filling (None: it was there already)."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import select

    from survey.extensions import db
    from survey.models import Campaign

    with app.app_context():
        if fresh and db.engine.dialect.name != "sqlite":
            upgrade()
            downgrade(revision="base")
        upgrade()
        if db.session.scalar(select(Campaign).where(Campaign.short_code == campaign_code)) is not None:
            return None
        started = time.perf_counter()
        fill(db, n_responses)
        return time.perf_counter() - started


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
