"""The response browser: time of one page (and of an export) on a large campaign.

    .venv/bin/python bench/browser_bench.py                                   # SQLite, 100 000 responses
    .venv/bin/python bench/browser_bench.py --responses 300000
    .venv/bin/python bench/browser_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Loads the demo (units, questionnaires, campaigns) into an empty database, then adds N
responses to the window campaign, spread over its units, groups, channels, statuses and 60
days, with five satisfaction answers each and a comment on one in ten. Prints the median and
max time of ``browser.search`` (one query per page) over a few runs for each filter, as an
analyst and as a unit contact, and the time of one filtered export.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select

from survey import create_app
from survey.extensions import db
from survey.models import (
    Answer,
    Campaign,
    CampaignUnit,
    Channel,
    Question,
    Questionnaire,
    QuestionnaireKind,
    QuestionType,
    RespondentGroup,
    Response,
    ResponseStatus,
    Role,
    User,
    utcnow,
)


def build(database_url: str | None, folder: Path, n: int):
    from flask_migrate import upgrade

    from survey.services.demo.seed import seed_demo

    os.environ["PINGYI_INSTANCE_PATH"] = str(folder)
    url = database_url or f"sqlite:///{folder / 'bench.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade()
        seed_demo(db.session, responses=0)
        db.session.commit()
        campaign = db.session.scalar(select(Campaign).join(Questionnaire, Questionnaire.id == Campaign.questionnaire_id)
                                     .where(Questionnaire.kind == QuestionnaireKind.SERVICE).order_by(Campaign.id))
        campaign_id = campaign.id
        units = [cu.unit_id for cu in db.session.scalars(select(CampaignUnit)
                                                         .where(CampaignUnit.campaign_id == campaign.id))]
        groups = list(db.session.scalars(select(RespondentGroup.id)))
        questions = list(db.session.scalars(select(Question).where(
            Question.questionnaire_id == campaign.questionnaire_id).order_by(Question.position)))
        rated = [q.id for q in questions if q.type == QuestionType.SATISFACTION][:5]
        comment = next(q.id for q in questions if q.type == QuestionType.TEXT)
        rng = random.Random(1)
        start = db.session.scalar(select(func.coalesce(func.max(Response.id), 0)))
        first_day = utcnow() - dt.timedelta(days=60)
        channels = [Channel.POSTER, Channel.DESK, Channel.WEB, Channel.PAPER]
        statuses = [ResponseStatus.VALID] * 18 + [ResponseStatus.FLAGGED, ResponseStatus.EXCLUDED]
        batch = 20_000
        for low in range(0, n, batch):
            responses, answers = [], []
            for i in range(low, min(n, low + batch)):
                rid = start + i + 1
                unit = rng.choice(units)
                responses.append({"id": rid, "campaign_id": campaign.id, "questionnaire_id": campaign.questionnaire_id,
                                  "unit_id": unit, "respondent_group_id": rng.choice(groups),
                                  "channel": rng.choice(channels), "status": rng.choice(statuses),
                                  "submitted_at": first_day + dt.timedelta(seconds=rng.randrange(60 * 86400)),
                                  "submission_id": f"bench-{rid}"})
                for q in rated:
                    answers.append({"response_id": rid, "campaign_id": campaign.id, "unit_id": unit,
                                    "question_id": q, "level": rng.choices([5, 4, 3, 2, 1], [40, 30, 15, 10, 5])[0],
                                    "dont_know": False})
                if rng.random() < 0.1:
                    answers.append({"response_id": rid, "campaign_id": campaign.id, "unit_id": unit,
                                    "question_id": comment, "text": "排队时间太长", "dont_know": False})
            db.session.execute(insert(Response), responses)
            db.session.execute(insert(Answer), answers)
            db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
        contact = User(username="bench-contact", password_hash="x", role=Role.UNIT, unit_id=units[0])
        analyst = User(username="bench-analyst", password_hash="x", role=Role.ANALYST)
        db.session.add_all([contact, analyst])
        db.session.commit()
    return app, campaign_id, units


def explain(session, user, campaign, browser) -> None:
    """EXPLAIN ANALYZE of the first page's query (the statement search() runs, captured)."""
    from sqlalchemy import event

    captured = []

    def keep(_conn, _cursor, statement, parameters, *_args):
        captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        browser.search(session, user, campaign, browser.ResponseFilter(), "Asia/Shanghai")
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    statement, parameters = captured[-1]
    with db.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN ANALYZE " + statement, parameters).all()
    print("\n".join(row[0] for row in plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", help="an empty database to use instead of a temporary SQLite file")
    parser.add_argument("--explain", action="store_true", help="print the page query and its plan (PostgreSQL)")
    args = parser.parse_args()
    from survey.services.responses import browser

    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        app, campaign_id, units = build(args.database_url, Path(tmp), args.responses)
        print(f"loaded {args.responses} responses in {time.perf_counter() - began:.1f} s "
              f"({'PostgreSQL' if args.database_url else 'SQLite'})")
        today = dt.date.today()
        filters = {
            "no filter": {}, "page 200": {"page": "200"}, "one unit": {"unit": str(units[1])},
            "flagged": {"status": "flagged"}, "paper channel": {"channel": "paper"},
            "last 7 days": {"from": (today - dt.timedelta(days=7)).isoformat()},
            "差评": {"bad": "1"}, "comment": {"comment": "1"},
            "unit + 差评 + comment": {"unit": str(units[1]), "bad": "1", "comment": "1"},
        }
        with app.test_request_context():
            campaign = db.session.get(Campaign, campaign_id)
            for who in ("bench-analyst", "bench-contact"):
                user = db.session.scalar(select(User).where(User.username == who))
                if args.explain and args.database_url:
                    explain(db.session, user, campaign, browser)
                for name, raw in filters.items():
                    f = browser.ResponseFilter.from_args(raw)
                    times = []
                    for _run in range(args.runs):
                        t = time.perf_counter()
                        page = browser.search(db.session, user, campaign, f, "Asia/Shanghai")
                        times.append((time.perf_counter() - t) * 1000)
                    print(f"{who:14s} {name:24s} total {page.total:7d}  median {statistics.median(times):7.1f} ms"
                          f"  max {max(times):7.1f} ms")
            analyst = db.session.scalar(select(User).where(User.username == "bench-analyst"))
            t = time.perf_counter()
            _headers, rows = browser.export_table(db.session, analyst, campaign,
                                                  browser.ResponseFilter.from_args({"unit": str(units[1])}),
                                                  "Asia/Shanghai")
            print(f"export of one unit: {len(rows)} rows in {(time.perf_counter() - t) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
