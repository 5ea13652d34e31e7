"""Benchmark of a period's computation from the database: load + compute + snapshot write.

    .venv/bin/python bench/results_bench.py [--responses N] [--database-url URL] [--fresh] [--repeat K]

Builds (once) a synthetic service-survey period in a real database, created by the
migrations: 200 window units in 4 categories, 5 respondent groups, the standard window
questionnaire (5 satisfaction questions, about 5 % 不了解, plus a multiple-choice, a
group and an optional comment question), N responses (default 1,000,000; about 7 answer
rows each) over 3 channels, 0.5 % of responses flagged and 0.1 % excluded.
The default database is the SQLite file ``bench/out/results_bench.db`` (git-ignored); pass
``--database-url postgresql://…`` for PostgreSQL. Bulk inserts use ``executemany``
(SQLite) and ``COPY`` (PostgreSQL); the data stays for later runs (``--fresh`` rebuilds).

Then it times what ``flask compute`` does, phase by phase, as
:func:`survey.services.results.snapshots.compute_snapshot` reports them: loading the answers
(aggregated in SQL to one packed integer per response and unit), computing every unit's
indices, ranks and component, and writing the snapshot. The load average is printed
with the figures, since the machine may be shared. A fresh fill's answers are not packed yet: the first
computation packs them (8–12 s for a million); ``--tally`` first does what ``flask tally`` does from cron
while fieldwork runs, timed apart.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_UNITS = 200
CATEGORIES = 4
CHANNELS = ("poster", "desk", "web")
CAMPAIGN_CODE = "BENCH1"
CHUNK = 100_000


def _fill(db, n_responses: int) -> None:
    from bench.synthetic import finish_fill, make_campaign
    from survey.models import CampaignStatus, QuestionType

    start = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    setting = make_campaign(db.session, code=CAMPAIGN_CODE, title="基准评议（合成数据）", period="2026Q3",
                            status=CampaignStatus.CLOSED, start=start, n_units=N_UNITS, unit_prefix="BW",
                            short_prefix="BU", channels=list(CHANNELS), categories=CATEGORIES)
    campaign, questionnaire, units, groups = setting.campaign, setting.questionnaire, setting.units, setting.groups

    questions = {q.code: q for q in questionnaire.questions}
    satisfaction = [q.id for q in questionnaire.questions if q.type == QuestionType.SATISFACTION]
    trips = questions["Q6"]
    group_question = questions["Q7"]
    group_options = {o.respondent_group_id: o.id for o in group_question.options}
    rng = np.random.default_rng(2026)
    quality = rng.normal(0.0, 0.5, N_UNITS)
    group_ids = np.array([g.id for g in groups])
    group_mix = np.array([0.18, 0.40, 0.30, 0.05, 0.07])
    harsh = np.array([0.15, 0.0, -0.05, 0.1, 0.05])
    unit_ids = np.array([u.id for u in units])
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        next_response = 1
        next_answer = 1
        for begin in range(0, n_responses, CHUNK):
            n = min(CHUNK, n_responses - begin)
            unit = rng.integers(0, N_UNITS, n)
            group = rng.choice(5, size=n, p=group_mix)
            channel = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])
            status = np.where(rng.random(n) < 0.005, 1, 0)
            status[rng.random(n) < 0.001] = 2
            latent = 1.1 + quality[unit] - harsh[group]
            x = latent[:, None] + rng.normal(0.0, 0.9, (n, len(satisfaction)))
            level = np.digitize(x, [-1.1, -0.4, 0.4, 1.3]) + 1
            dont_know = rng.random(level.shape) < 0.05
            comment = rng.random(n) < 0.10
            ids = np.arange(next_response, next_response + n)
            seconds = (rng.random(n) * 92 * 86400).astype(np.int64)
            responses = [
                (int(ids[i]), campaign.id, questionnaire.id, int(unit_ids[unit[i]]), int(group_ids[group[i]]),
                 CHANNELS[channel[i]], ("valid", "flagged", "excluded")[status[i]],
                 (start + dt.timedelta(seconds=int(seconds[i]))).replace(tzinfo=None), f"bench-{ids[i]:012d}", "zh")
                for i in range(n)
            ]
            answers = []
            for i in range(n):
                rid, uid = int(ids[i]), int(unit_ids[unit[i]])
                for k, qid in enumerate(satisfaction):
                    if dont_know[i, k]:
                        answers.append((next_answer, rid, campaign.id, uid, qid, None, True, None, None))
                    else:
                        answers.append((next_answer, rid, campaign.id, uid, qid, int(level[i, k]), False, None, None))
                    next_answer += 1
                option = trips.options[0 if level[i, 0] >= 3 else 1]
                answers.append((next_answer, rid, campaign.id, uid, trips.id, None, False, option.id, None))
                answers.append((next_answer + 1, rid, campaign.id, uid, group_question.id, None, False,
                                group_options[int(group_ids[group[i]])], None))
                next_answer += 2
                if comment[i]:
                    answers.append((next_answer, rid, campaign.id, uid, questions["Q8"].id, None, False, None,
                                    "=HYPERLINK(\"http://x\") 排队时间太长" if i % 97 == 0 else "窗口服务热情"))
                    next_answer += 1
            next_response += n
            _insert(db.engine.dialect.name, cursor, responses, answers)
            raw.commit()
            print(f"\r  filling: {next_response - 1:,} responses, {next_answer - 1:,} answers", end="", flush=True)
        print()
    finally:
        raw.close()
    finish_fill(db.engine)


RESPONSE_COLUMNS = ("id", "campaign_id", "questionnaire_id", "unit_id", "respondent_group_id", "channel", "status",
                    "submitted_at", "submission_id", "locale")
ANSWER_COLUMNS = ("id", "response_id", "campaign_id", "unit_id", "question_id", "level", "dont_know", "option_id",
                  "text")


def _insert(dialect: str, cursor, responses: list[tuple], answers: list[tuple]) -> None:
    if dialect == "sqlite":
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.executemany(f"INSERT INTO response ({', '.join(RESPONSE_COLUMNS)}) VALUES "
                           f"({', '.join('?' * len(RESPONSE_COLUMNS))})", responses)
        cursor.executemany(f"INSERT INTO answer ({', '.join(ANSWER_COLUMNS)}) VALUES "
                           f"({', '.join('?' * len(ANSWER_COLUMNS))})", answers)
        return
    for table, columns, rows in (("response", RESPONSE_COLUMNS, responses), ("answer", ANSWER_COLUMNS, answers)):
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(_copy_text(v) for v in row))
            buffer.write("\n")
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())


def _copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def run(app, repeat: int, include_flagged: bool, tally: bool = False) -> None:
    from sqlalchemy import func, select

    from survey.extensions import db
    from survey.models import Answer, Campaign, Response
    from survey.services.results.snapshots import compute_snapshot

    with app.app_context():
        campaign = db.session.scalar(select(Campaign).where(Campaign.short_code == CAMPAIGN_CODE))
        n_responses = db.session.scalar(select(func.count()).select_from(Response).where(
            Response.campaign_id == campaign.id))
        n_answers = db.session.scalar(select(func.count()).select_from(Answer).where(Answer.campaign_id == campaign.id))
        print(f"  database:    {db.engine.dialect.name}, {db.engine.url.render_as_string(hide_password=True)}")
        print(f"  data:        {n_responses:,} responses, {n_answers:,} answer rows, {N_UNITS} units, "
              f"campaign {CAMPAIGN_CODE} {campaign.period}")
        if tally:  # what `flask tally` from cron (or a monitor view) does while fieldwork runs
            from survey.services.campaigns import fieldwork

            wall = time.perf_counter()
            tallied, packed = fieldwork.keep_up(db.session, campaign)
            print(f"  tally:       {tallied:,} responses tallied, packed: {packed}, in {time.perf_counter() - wall:.2f} s "
                  "(flask tally, off the computation)")
        best: dict[str, float] = {}
        for attempt in range(repeat):
            phases: dict[str, float] = {}
            wall = time.perf_counter()
            cpu = time.process_time()
            server = _server_cpu(db)
            snapshot = compute_snapshot(db.session, campaign, user=None, include_flagged=include_flagged,
                                        timings=phases)
            db.session.commit()
            phases["total"] = time.perf_counter() - wall
            cpu = time.process_time() - cpu
            if server is not None:
                after = _server_cpu(db)
                server = (sum(v - server[0].get(pid, 0.0) for pid, v in after[0].items()), after[1] - server[1])
            load = os.getloadavg()
            print(f"  run {attempt + 1}:       " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items())
                  + f"; CPU {cpu:.2f} s in this process"
                  + (f" + {server[0]:.2f} s in the database's backends (+ {server[1]:.2f} s reaped by the"
                     f" postmaster: parallel workers, or other clients)" if server is not None else "")
                  + f"  (snapshot #{snapshot.id}, {len(snapshot.rows)} units, pair digest "
                  + f"{(snapshot.summary.get('digest') or {}).get('survey', '')[:8]}; load average {load[0]:.2f})",
                  flush=True)
            for key, value in phases.items():
                best[key] = min(best.get(key, value), value)
        print("  best:        " + ", ".join(f"{k} {v:.2f} s" for k, v in best.items()))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS:    {rss:.0f} MiB")


def _server_cpu(db) -> tuple[dict[int, float], float] | None:
    """CPU seconds of the PostgreSQL server so far, when it runs on this machine (readable in /proc):
    each backend connected to the benchmark database (the session's and the loader's helper
    connections, which the pool keeps open; another client of the same database would count too), and
    what the postmaster has reaped (parallel workers, but also any other client's finished connections:
    on a shared machine an upper bound). None on SQLite, whose work is in this process."""
    if db.engine.dialect.name != "postgresql":
        return None
    from sqlalchemy import text

    backends = db.session.execute(text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"
    )).scalars().all()
    ticks = os.sysconf("SC_CLK_TCK")
    own: dict[int, float] = {}
    master = None
    for pid in backends:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        own[pid] = (int(fields[11]) + int(fields[12])) / ticks
        master = int(fields[1])
    if master is None:
        return None
    try:
        with open(f"/proc/{master}/stat") as f:  # the parent: the postmaster
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    return own, (int(fields[13]) + int(fields[14])) / ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'bench' / 'out' / 'results_bench.db'}")
    parser.add_argument("--fresh", action="store_true", help="drop and rebuild the benchmark data")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--include-flagged", action="store_true")
    parser.add_argument("--setup-only", action="store_true")
    parser.add_argument("--tally", action="store_true",
                        help="first tally and pack what is new, as `flask tally` from cron does while fieldwork runs "
                             "(timed apart); without it the first computation of a fresh fill packs the answers itself")
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
    print("Pingyi results benchmark (load + compute + snapshot write)")
    print(f"  machine:     {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    seconds = synthetic.prepare(app, CAMPAIGN_CODE, _fill, args.responses, args.fresh)
    if seconds is not None:
        print(f"  setup:       filled the database in {seconds:.0f} s (once)")
    if not args.setup_only:
        run(app, args.repeat, args.include_flagged, args.tally)


if __name__ == "__main__":
    main()
