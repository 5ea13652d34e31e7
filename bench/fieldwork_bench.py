"""Benchmark of the fieldwork monitor: the one aggregated query behind the campaign page's progress.

    .venv/bin/python bench/fieldwork_bench.py [--responses N] [--database-url URL] [--fresh] [--repeat K]
                                              [--untallied N] [--migration]

Builds (once) a synthetic open service-survey period in a real database created by the
migrations: 300 window units, 5 respondent groups, the standard window questionnaire, N responses
(default 1,000,000) spread evenly over the units, each with its 5 satisfaction answers (about 5 %
不了解, levels depending on the unit) plus 2 other answers: about 7 answer rows per response, 0.5 %
of responses flagged and 0.1 % excluded. The rows are generated inside the database in bulk
(``INSERT … SELECT`` over a recursive sequence on SQLite, ``generate_series`` on PostgreSQL), so
filling takes seconds to a few minutes. The default database is ``bench/out/fieldwork_bench.db``
(git-ignored); pass ``--database-url postgresql://…`` for PostgreSQL. Every unit gets a target of
±2 index points and a quota of 800 企业代表, so that some units are behind.

Then it times :func:`survey.services.campaigns.fieldwork.aggregate` (the SQL: index answers averaged
per response and unit, then counted and summed per unit and group) and the whole
:func:`~survey.services.campaigns.fieldwork.monitor` (the query plus half-widths, needs and
ordering) for all 300 units. The aim is at most 1 s. The load average is printed with the figures,
since the machine may be shared.

``--migration`` times the upgrade instead: migration 0008 run again on the stored responses
(downgraded to 0007 first, which drops the tally), as a site upgrading with a million responses.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.servers import proc_cpu_seconds

N_UNITS = 300
CAMPAIGN_CODE = "FWBENCH"


def _fill(db, n_responses: int) -> None:
    import datetime as dt

    from sqlalchemy import text

    from bench.synthetic import finish_fill, make_campaign
    from survey.models import CampaignStatus, QuestionType

    setting = make_campaign(db.session, code=CAMPAIGN_CODE, title="采集进度基准（合成数据）", period="2026Q4",
                            status=CampaignStatus.OPEN, start=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
                            n_units=N_UNITS, unit_prefix="FW", short_prefix="FU", channels=["poster"])
    campaign, questionnaire, units, groups = setting.campaign, setting.questionnaire, setting.units, setting.groups
    satisfaction = [q.id for q in questionnaire.questions if q.type == QuestionType.SATISFACTION]
    others = [q.id for q in questionnaire.questions if q.type != QuestionType.SATISFACTION][:2]
    unit_ids = sorted(u.id for u in units)
    group_ids = sorted(g.id for g in groups)
    assert unit_ids == list(range(unit_ids[0], unit_ids[0] + N_UNITS)), "units must have consecutive ids"
    assert group_ids == list(range(group_ids[0], group_ids[0] + len(groups)))
    sqlite = db.engine.dialect.name == "sqlite"
    rnd = "abs(random())" if sqlite else "floor(random() * 1000000000)::bigint"
    mod = (lambda a, b: f"(({a}) % {b})")
    if sqlite:
        seq = f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n_responses}) "
        source = "FROM s"
    else:
        seq = ""
        source = f"FROM generate_series(1, {n_responses}) AS s(i)"
    # Unit i % 300: one in ten units gets a tenth of the responses (so the monitor has units behind).
    unit = f"CASE WHEN {mod('i', 10)} = 0 AND {mod(rnd, 10)} <> 0 THEN {unit_ids[0]} + {mod('i + 1', N_UNITS)} " \
           f"ELSE {unit_ids[0]} + {mod('i', N_UNITS)} END"
    statements = [(
        f"INSERT INTO response (id, campaign_id, questionnaire_id, unit_id, respondent_group_id, channel, status, "
        f"submitted_at, submission_id, locale) {seq}"
        f"SELECT i, {campaign.id}, {questionnaire.id}, {unit}, {group_ids[0]} + {mod(rnd, len(groups))}, 'poster', "
        f"CASE WHEN {mod('i', 1000)} = 0 THEN 'excluded' WHEN {mod('i', 200)} = 1 THEN 'flagged' ELSE 'valid' END, "
        f"'2026-10-02 08:00:00', 'fwb-' || i, 'zh' {source}"),
    ]
    level = (f"CASE WHEN {mod(rnd, 20)} = 0 THEN NULL ELSE "
             f"1 + {mod(f'r.unit_id + {mod(rnd, 5)} + {mod(rnd, 3)}', 5)} END")
    values = ", ".join(f"({q})" for q in satisfaction)
    statements.append(
        f"INSERT INTO answer (response_id, campaign_id, unit_id, question_id, level, dont_know) "
        f"SELECT id, campaign_id, unit_id, qid, lv, lv IS NULL FROM (SELECT r.id, r.campaign_id, r.unit_id, "
        f"q.qid, {level} AS lv FROM response r CROSS JOIN (VALUES {values}) AS q(qid) "
        f"WHERE r.campaign_id = {campaign.id}) AS x" if not sqlite else
        f"INSERT INTO answer (response_id, campaign_id, unit_id, question_id, level, dont_know) "
        f"SELECT id, campaign_id, unit_id, qid, lv, lv IS NULL FROM (SELECT r.id, r.campaign_id, r.unit_id, "
        f"q.column1 AS qid, {level} AS lv FROM response r CROSS JOIN (VALUES {values}) AS q "
        f"WHERE r.campaign_id = {campaign.id})")
    other_values = ", ".join(f"({q})" for q in others)
    statements.append(
        f"INSERT INTO answer (response_id, campaign_id, unit_id, question_id, dont_know) "
        f"SELECT r.id, r.campaign_id, r.unit_id, {'q.column1' if sqlite else 'q.qid'}, {'0' if sqlite else 'false'} "
        f"FROM response r CROSS JOIN (VALUES {other_values}) AS q{'' if sqlite else '(qid)'} "
        f"WHERE r.campaign_id = {campaign.id}")
    with db.engine.begin() as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
        for statement in statements:
            conn.execute(text(statement))
    finish_fill(db.engine)


def add_targets(app) -> None:
    """±2 points for every unit and at least 800 responses of the first group (once)."""
    from sqlalchemy import select

    from survey.extensions import db
    from survey.models import Campaign, FieldworkTarget, RespondentGroup, TargetKind
    from survey.services.campaigns import fieldwork

    with app.app_context():
        campaign = db.session.scalar(select(Campaign).where(Campaign.short_code == CAMPAIGN_CODE))
        if db.session.scalar(select(FieldworkTarget).where(FieldworkTarget.campaign_id == campaign.id)):
            return
        group = db.session.scalar(select(RespondentGroup).order_by(RespondentGroup.sort_order))
        fieldwork.store_targets(db.session, campaign, fieldwork.Targets(
            fieldwork.Target(TargetKind.HALF_WIDTH, 2.0), {}, {group.id: 800}))
        db.session.commit()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _server_cpu(db) -> float | None:
    """CPU seconds of this session's PostgreSQL backend so far (from /proc, when the server is local)."""
    if db.engine.dialect.name != "postgresql":
        return None
    from sqlalchemy import text

    return proc_cpu_seconds(db.session.scalar(text("SELECT pg_backend_pid()")))


def _cpu_text(db, client: float, server: float | None) -> str:
    after = _server_cpu(db)
    if server is None or after is None:
        return f"CPU {client:.2f} s"
    return f"CPU {client:.2f} s client + {after - server:.2f} s server"


def _explain(db, campaign) -> str:
    """PostgreSQL's own execution time of the aggregate (server CPU, not the client's)."""
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql

    from survey.services.campaigns import fieldwork

    sql = str(fieldwork.aggregate_statement(campaign).compile(dialect=postgresql.dialect(),
                                                               compile_kwargs={"literal_binds": True}))
    plan = [row[0] for row in db.session.execute(text("EXPLAIN ANALYZE " + sql))]
    db.session.rollback()
    return next((line for line in plan if line.startswith("Execution Time")), "?")


def run(app, repeat: int, untallied: int) -> None:
    from sqlalchemy import delete, func, select

    from survey.extensions import db
    from survey.models import Answer, Campaign, Response, ResponseScore
    from survey.services.campaigns import fieldwork

    def load() -> str:
        return f"load average {os.getloadavg()[0]:.2f}"

    with app.app_context():
        campaign = db.session.scalar(select(Campaign).where(Campaign.short_code == CAMPAIGN_CODE))
        n_responses = db.session.scalar(select(func.count()).select_from(Response).where(
            Response.campaign_id == campaign.id))
        n_answers = db.session.scalar(select(func.count()).select_from(Answer).where(Answer.campaign_id == campaign.id))
        print(f"  database:    {db.engine.dialect.name}, {db.engine.url.render_as_string(hide_password=True)}")
        print(f"  data:        {n_responses:,} responses, {n_answers:,} answer rows, "
              f"{len(campaign.campaign_units)} units")
        assert campaign.questionnaire.questions
        started, cpu = time.perf_counter(), _cpu()
        added = fieldwork.refresh_scores(db.session, campaign)
        db.session.commit()
        if added:
            print(f"  tally:       {added:,} responses tallied in {time.perf_counter() - started:.1f} s "
                  f"(client CPU {_cpu() - cpu:.1f} s; once, by the monitor: the responses were written after "
                  f"migration 0008, which tallies those stored before it — see --migration; {load()})")
            # What autovacuum soon does to a table that has just had a million rows inserted (statistics,
            # and the visibility map that lets the aggregate read the index alone).
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE response_score" if db.engine.dialect.name == "postgresql"
                                     else "ANALYZE response_score")
        best_query = best_monitor = float("inf")
        for attempt in range(repeat):
            server = _server_cpu(db)
            started, cpu = time.perf_counter(), _cpu()
            cells = fieldwork.aggregate(db.session, campaign)
            query, query_cpu = time.perf_counter() - started, _cpu_text(db, _cpu() - cpu, server)
            server = _server_cpu(db)
            started, cpu = time.perf_counter(), _cpu()
            result = fieldwork.monitor(db.session, campaign)
            whole, whole_cpu = time.perf_counter() - started, _cpu_text(db, _cpu() - cpu, server)
            best_query, best_monitor = min(best_query, query), min(best_monitor, whole)
            behind = result.rows[0]
            print(f"  run {attempt + 1}:       query {query:.2f} s ({query_cpu}, "
                  f"{len(cells)} unit×group cells), monitor {whole:.2f} s ({whole_cpu}); "
                  f"furthest behind {behind.code}: n {behind.n}, ±{behind.half_width:.1f}, "
                  f"about {behind.more} more ({load()})")
            db.session.rollback()
        if db.engine.dialect.name == "postgresql":
            print(f"  server:      EXPLAIN ANALYZE of the query: {_explain(db, campaign)} ({load()})")
        aim = 2.0 if db.engine.dialect.name == "sqlite" else 1.0
        verdict = "within" if best_monitor <= aim else "OVER"
        print(f"  best:        query {best_query:.2f} s, monitor {best_monitor:.2f} s wall ({verdict} the {aim:g} s aim "
              f"on a quiet machine: compare the CPU times when the load average is above 2)")
        if untallied:
            lowest = db.session.scalar(select(Response.id).where(Response.campaign_id == campaign.id).order_by(
                Response.id.desc()).offset(untallied - 1).limit(1))
            db.session.execute(delete(ResponseScore).where(ResponseScore.campaign_id == campaign.id,
                                                           ResponseScore.response_id >= lowest))
            db.session.commit()
            server = _server_cpu(db)
            started, cpu = time.perf_counter(), _cpu()
            fieldwork.monitor(db.session, campaign)
            print(f"  new answers: monitor with the {untallied:,} newest responses untallied (as if just "
                  f"submitted or imported): {time.perf_counter() - started:.2f} s "
                  f"({_cpu_text(db, _cpu() - cpu, server)}; {load()})")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS:    {rss:.0f} MiB")


def time_migration(app) -> None:
    """Downgrade to 0007 (drops the tally) and time the upgrade to 0008, which tallies every response."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import event, func, select, text

    from survey.extensions import db
    from survey.models import ResponseScore

    with app.app_context():
        downgrade(revision="0007")
        backends: list[int] = []
        postgres = db.engine.dialect.name == "postgresql"

        def remember(dbapi_connection, _record) -> None:
            if postgres:
                with dbapi_connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    backends.append(cursor.fetchone()[0])

        def server_cpu() -> float:
            return sum(proc_cpu_seconds(pid) or 0.0 for pid in backends)

        db.engine.dispose()
        event.listen(db.engine, "connect", remember)
        load = os.getloadavg()[0]
        started, cpu = time.perf_counter(), _cpu()
        upgrade()
        wall, client = time.perf_counter() - started, _cpu() - cpu
        server = f" + {server_cpu():.1f} s server" if postgres else ""
        event.remove(db.engine, "connect", remember)
        rows = db.session.scalar(select(func.count()).select_from(ResponseScore))
        print(f"  migration:   0007 → 0008 tallied {rows:,} rows in {wall:.1f} s wall (CPU {client:.1f} s client"
              f"{server}; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after)")
        db.session.execute(text("SELECT 1"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'bench' / 'out' / 'fieldwork_bench.db'}")
    parser.add_argument("--fresh", action="store_true", help="drop and rebuild the benchmark data")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--setup-only", action="store_true")
    parser.add_argument("--untallied", type=int, default=1000,
                        help="then untally the N newest responses and time the monitor that tallies them")
    parser.add_argument("--migration", action="store_true",
                        help="time migration 0008 on the stored responses (downgrade to 0007, upgrade) instead")
    args = parser.parse_args()

    from survey.config import normalise_database_url

    url = normalise_database_url(args.database_url)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        if args.fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    from bench import synthetic

    app = synthetic.build_app(url)
    print("Pingyi fieldwork monitor benchmark (one aggregated query, 300 units)")
    print(f"  machine:     {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    seconds = synthetic.prepare(app, CAMPAIGN_CODE, _fill, args.responses, args.fresh)
    if seconds is not None:
        print(f"  setup:       filled the database in {seconds:.0f} s (once)")
    add_targets(app)
    if args.migration:
        time_migration(app)
    elif not args.setup_only:
        run(app, args.repeat, args.untallied)


if __name__ == "__main__":
    main()
