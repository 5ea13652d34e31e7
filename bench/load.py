"""Load: many phones opening the window questionnaire and submitting it, against real gunicorn.

    .venv/bin/python bench/load.py                                   # SQLite and PostgreSQL, default matrix
    .venv/bin/python bench/load.py --databases sqlite --configs sync:4 --phones 2000
    .venv/bin/python bench/load.py --pg-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/load.py --configs sync:4 --prefill 300000   # the same with 300,000 stored

For each database (a fresh SQLite file; a database of our own on the PostgreSQL server,
dropped afterwards), both loaded with the demo (``seed-demo``: 3000 responses), and for
each gunicorn configuration (worker class and count, ``survey/gunicorn_conf.py`` with
``WEB_CONCURRENCY`` / ``PINGYI_THREADS``), it starts gunicorn on an ephemeral loopback
port and sends ``--phones`` simulated phones, ``--concurrency`` at a time. Each phone:

  GET /s/<window code>   → parse the CSRF token, submission id and the questions;
  POST the answers, as the page's script sends them (?js=1)
                         → expect the thank-you page (200); from a site that answers 303
                           instead (before 2026-12-08), GET /thanks/<code> → expect it there.

Every phone is a distinct device: its own cookie jar and its own client address (each
connects from its own 127.x.y.z source address), so the per-address rate limit stays ON
at its production default (PINGYI_RATELIMIT_SUBMIT, counted per worker in memory) and the
burst rule sees distinct fingerprints; the number of flagged responses is reported.

Then the same client sends the same number of requests to bench/baseline_app.py (one
INSERT through SQLAlchemy per request, same gunicorn settings, same database server)
and the site's submissions per second are printed as a fraction of that baseline.

The machine has 2 cores shared by gunicorn, the database server and this client; the
client's own CPU time is printed so that can be judged.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text

from bench.servers import PG_URL, Database, prepare, report_log_problems, start_baseline, start_site

HIDDEN = re.compile(r'<input\b[^>]*\bname="(csrf_token|submission_id|started)"[^>]*\bvalue="([^"]*)"')
# Radios and the checkboxes of multiple-choice questions (one option ticked per question).
CHOICE = re.compile(r'type="(?:radio|checkbox)" name="(q\d+(?:_u\d+)?)" id="[^"]+" value="([^"]+)"')
TEXTAREA = re.compile(r'<textarea name="(q\d+(?:_u\d+)?)"')
THANKS_PAGE = "data-clear-drafts"  # the thank-you page's mark, in every language
COMMENTS = ["窗口人员态度很好，办事效率高。", "排队时间有点长，希望多开几个窗口。", "无", "材料一次告知清楚，点赞！"]


def prefill(database: Database, total: int, seed: int = 17) -> float:
    """Store responses until ``total`` are stored (the demo's 3,000 count), in bulk; returns seconds taken.

    They go to the window's campaign and unit (the one the phones rate), spread over the last
    30 days, each with its own fingerprint and address hash and a satisfaction answer per question,
    so the duplicate, burst and device checks meet a table of that size: without their indexes
    each submission would scan it.
    """
    import datetime as dt

    from survey.config import normalise_database_url
    from survey.models import Answer, Campaign, CampaignUnit, Channel, Question, QuestionType, Response, ResponseStatus

    started = time.perf_counter()
    engine = create_engine(normalise_database_url(database.url))
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        stored = conn.execute(select(func.count(Response.id))).scalar_one()
        campaign_id, unit_id, questionnaire_id = conn.execute(
            select(CampaignUnit.campaign_id, CampaignUnit.unit_id, Campaign.questionnaire_id)
            .join(Campaign, CampaignUnit.campaign_id == Campaign.id).where(CampaignUnit.short_code == database.code)
        ).one()
        questions = conn.execute(select(Question.id).where(
            Question.questionnaire_id == questionnaire_id, Question.type == QuestionType.SATISFACTION)).scalars().all()
        next_id = (conn.execute(select(func.max(Response.id))).scalar() or 0) + 1
    missing = max(0, total - stored)
    chunk = 5000
    for start in range(0, missing, chunk):
        ids = range(next_id + start, next_id + min(missing, start + chunk))
        responses = [{
            "id": rid, "campaign_id": campaign_id, "questionnaire_id": questionnaire_id, "unit_id": unit_id,
            "channel": Channel.POSTER, "status": ResponseStatus.VALID,
            "submitted_at": now - dt.timedelta(seconds=rng.randrange(30 * 24 * 3600)),
            "submission_id": f"prefill{rid:020d}", "fingerprint": rng.randbytes(32).hex(),
            "address_hash": rng.randbytes(32).hex(), "locale": "zh", "duration_seconds": rng.randrange(20, 300),
        } for rid in ids]
        answers = [{"response_id": rid, "campaign_id": campaign_id, "unit_id": unit_id, "question_id": qid,
                    "level": rng.choice((3, 4, 4, 5, 5, 5)), "dont_know": False} for rid in ids for qid in questions]
        with engine.begin() as conn:
            conn.execute(Response.__table__.insert(), responses)
            if answers:
                conn.execute(Answer.__table__.insert(), answers)
    if database.kind == "postgresql" and missing:
        with engine.begin() as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('response', 'id'), (SELECT max(id) FROM response))"))
            conn.execute(text("ANALYZE response"))
            conn.execute(text("ANALYZE answer"))
    engine.dispose()
    return time.perf_counter() - started


def response_counts(url: str, since: float) -> tuple[int, int]:
    """Responses stored since ``since`` (epoch seconds) and how many of them were flagged."""
    import datetime as dt

    from survey.config import normalise_database_url
    from survey.models import Response, ResponseStatus

    start = dt.datetime.fromtimestamp(since, dt.UTC)
    engine = create_engine(normalise_database_url(url))
    with engine.connect() as conn:
        stored = conn.execute(select(func.count(Response.id)).where(Response.submitted_at >= start)).scalar()
        flagged = conn.execute(select(func.count(Response.id)).where(
            Response.submitted_at >= start, Response.status == ResponseStatus.FLAGGED)).scalar()
    engine.dispose()
    return stored, flagged


# --- the client --------------------------------------------------------------------------------

@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"get": [], "post": [], "thanks": [], "flow": []})
    errors: dict[str, int] = field(default_factory=dict)
    done: int = 0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def address(n: int) -> str:
    """The n-th phone's own loopback address: 127.1.0.1, 127.1.0.2, … (never 127.0.0.1)."""
    n += 1
    return f"127.{1 + n // 65025}.{(n // 255) % 255}.{1 + n % 255}"


def answers(html: str, rng: random.Random) -> dict[str, str] | None:
    fields = dict(HIDDEN.findall(html))
    if "csrf_token" not in fields or "submission_id" not in fields:
        return None
    choices: dict[str, list[str]] = {}
    for name, value in CHOICE.findall(html):
        choices.setdefault(name, []).append(value)
    for name, values in choices.items():
        fields[name] = rng.choice(values)
    for name in TEXTAREA.findall(html):
        if rng.random() < 0.3:
            fields[name] = rng.choice(COMMENTS)
    return fields


async def fetch(http: aiohttp.ClientSession, tally: Tally, what: str, method: str, url: str,
                **kw) -> tuple[int, str, str]:
    """One request, timed to the last byte of the body: (status, body, Location)."""
    start = time.perf_counter()
    async with http.request(method, url, allow_redirects=False, **kw) as reply:
        body = await reply.text()
        tally.latencies[what].append(time.perf_counter() - start)
        return reply.status, body, reply.headers.get("Location", "")


async def phone(n: int, base: str, code: str, tally: Tally, rng: random.Random) -> None:
    connector = aiohttp.TCPConnector(local_addr=(address(n), 0), limit=1)
    ua = f"Mozilla/5.0 (Linux; Android 12; bench-{n}) AppleWebKit/537.36 MicroMessenger/8.0"
    start = time.perf_counter()
    try:
        async with aiohttp.ClientSession(base, connector=connector, headers={"User-Agent": ua},
                                         cookie_jar=aiohttp.CookieJar(unsafe=True),
                                         timeout=aiohttp.ClientTimeout(total=60)) as http:
            status, html, _ = await fetch(http, tally, "get", "GET", f"/s/{code}")
            if status != 200:
                return tally.error(f"GET {status}")
            data = answers(html, rng)
            if data is None:
                return tally.error("GET without form")
            # As the page's script posts it (``?js=1``): the phone answered the conditional questions its
            # answers showed (a reason after a low rating); the server drops what its conditions hide.
            # The answer is the thank-you page itself; a site that redirects to it (303, the site before
            # 2026-12-08) is followed.
            status, body, location = await fetch(http, tally, "post", "POST", f"/s/{code}?js=1", data=data)
            if status == 303:
                status, body, _ = await fetch(http, tally, "thanks", "GET", location)
                if status != 200:
                    return tally.error(f"thanks {status}")
            elif status != 200:
                return tally.error(f"POST {status}")
            if THANKS_PAGE not in body:
                return tally.error("no thank-you page")
        tally.latencies["flow"].append(time.perf_counter() - start)
        tally.done += 1
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        tally.error(type(exc).__name__)


async def baseline_request(n: int, base: str, tally: Tally, _rng: random.Random) -> None:
    connector = aiohttp.TCPConnector(local_addr=(address(n), 0), limit=1)
    start = time.perf_counter()
    try:
        async with (aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http,
                    http.post("/insert", data={"n": str(n)}) as reply):
            await reply.read()
            if reply.status != 201:
                return tally.error(f"POST {reply.status}")
        tally.latencies["flow"].append(time.perf_counter() - start)
        tally.latencies["post"].append(time.perf_counter() - start)
        tally.done += 1
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        tally.error(type(exc).__name__)


async def drive(job, count: int, concurrency: int, seed: int, *args) -> tuple[Tally, float, float]:
    tally = Tally()
    rng = random.Random(seed)
    queue = iter(range(count))
    cpu0, wall0 = time.process_time(), time.perf_counter()

    async def worker() -> None:
        for n in queue:
            await job(n + seed * 1_000_000, *args, tally, rng)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally, time.perf_counter() - wall0, time.process_time() - cpu0


# --- reporting ---------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000


@dataclass
class Row:
    database: str
    config: str
    target: str
    done: int
    seconds: float
    client_cpu: float
    tally: Tally
    stored: int = 0
    flagged: int = 0
    server_cpu: float = float("nan")  # gunicorn's CPU seconds during the run (workers and master)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def line(self, baseline: Row | None = None) -> str:
        lat = self.tally.latencies["post"]
        flow = self.tally.latencies["flow"]
        errors = sum(self.tally.errors.values())
        ratio = f"{self.rate / baseline.rate:6.1%}" if baseline and baseline.rate else "     —"
        stored = f"{self.stored:6d} {self.flagged:5d}" if self.target == "site" else "     —     —"
        return (f"{self.database:10s} {self.config:12s} {self.target:8s} {self.done:6d} {self.rate:8.1f} "
                f"{pct(lat, 50):7.1f} {pct(lat, 95):7.1f} {pct(lat, 99):7.1f} {pct(flow, 50):7.1f} {pct(flow, 99):7.1f} "
                f"{errors:6d} {stored} {ratio} {self.client_cpu / self.seconds:5.0%} "
                f"{self.server_cpu / max(self.done, 1) * 1000:7.2f}")


HEADER = (f"{'database':10s} {'gunicorn':12s} {'target':8s} {'ok':>6s} {'ok/s':>8s} "
          f"{'p50':>7s} {'p95':>7s} {'p99':>7s} {'flow50':>7s} {'flow99':>7s} {'errors':>6s} "
          f"{'stored':>6s} {'flagd':>5s} {'ratio':>6s} {'client':>5s} {'cpu ms':>7s}")


def run_config(database: Database, config: str, args: argparse.Namespace, log: Path) -> list[Row]:
    worker_class, _, spec = config.partition(":")
    workers, _, threads = spec.partition("x")
    workers_n, threads_n = int(workers), int(threads or (1 if worker_class == "sync" else 4))
    rows = []
    site = start_site(database, workers_n, threads_n, log)
    try:
        asyncio.run(drive(phone, min(50, args.phones), args.concurrency, 7, site.base, database.code))  # warm-up
        since, server0 = time.time(), site.cpu_seconds()
        tally, seconds, cpu = asyncio.run(drive(phone, args.phones, args.concurrency, 1, site.base, database.code))
        row = Row(database.kind, config, "site", tally.done, seconds, cpu, tally, server_cpu=site.cpu_seconds() - server0)
        row.stored, row.flagged = response_counts(database.url, since)
        rows.append(row)
    finally:
        site.stop()
    baseline = start_baseline(database, workers_n, threads_n, log)
    try:
        asyncio.run(drive(baseline_request, min(50, args.phones), args.concurrency, 8, baseline.base))
        server0 = baseline.cpu_seconds()
        tally, seconds, cpu = asyncio.run(drive(baseline_request, args.phones, args.concurrency, 2, baseline.base))
        rows.insert(0, Row(database.kind, config, "baseline", tally.done, seconds, cpu, tally,
                           server_cpu=baseline.cpu_seconds() - server0))
    finally:
        baseline.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--configs", default="sync:2,sync:4,gthread:2x4,gthread:4x4",
                        help="worker_class:workers[xthreads], comma-separated")
    parser.add_argument("--phones", type=int, default=1500, help="submissions per run")
    parser.add_argument("--concurrency", type=int, default=16, help="phones in flight at once")
    parser.add_argument("--demo-responses", type=int, default=3000)
    parser.add_argument("--prefill", type=int, default=0, metavar="N",
                        help="store N responses in all before the runs (bulk, in the window's campaign), e.g. 300000")
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()

    print(f"pingyi load: {args.phones} phones per run, {args.concurrency} at a time; {os.cpu_count()} cores "
          f"shared by gunicorn, the database and this client. Rate limit ON (production default, per address; "
          f"every phone has its own address). Latencies in ms; p50/p95/p99 of the POST, flow = GET to thank-you page; "
          f"cpu ms = gunicorn's CPU per phone (site) or per request (baseline), the figure least moved by load.")
    results: list[tuple[Row, Row]] = []
    with tempfile.TemporaryDirectory(prefix="pingyi-load-") as tmp:
        log = Path(tmp) / "gunicorn.log"
        for kind in args.databases.split(","):
            folder = Path(tmp) / kind
            folder.mkdir()
            database = prepare(kind, args.pg_url, folder, args.demo_responses)
            try:
                if args.prefill:
                    seconds = prefill(database, args.prefill)
                    print(f"  {kind}: {args.prefill} responses stored before the runs (prefill {seconds:.0f} s)",
                          flush=True)
                for config in args.configs.split(","):
                    baseline, site = run_config(database, config, args, log)
                    results.append((baseline, site))
                    for row in (baseline, site):
                        if row.tally.errors:
                            print(f"  {row.database} {row.config} {row.target} errors: {row.tally.errors}", flush=True)
            finally:
                database.close()
        print()
        print(HEADER)
        for baseline, site in results:
            print(baseline.line())
            print(site.line(baseline))
        worst = [s for _b, s in results if s.stored != s.done]
        if worst:
            print("\nWARNING: stored responses differ from successful phones:",
                  [(s.database, s.config, s.done, s.stored) for s in worst])
        report_log_problems(log)


if __name__ == "__main__":
    main()
