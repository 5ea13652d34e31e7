"""The questionnaire GET against the one-INSERT baseline, measured by wrk in the same run.

    .venv/bin/python bench/http_get.py                                 # SQLite and PostgreSQL
    .venv/bin/python bench/http_get.py --databases sqlite --seconds 20 --rounds 3
    .venv/bin/python bench/http_get.py --profile 300                   # + cProfile of 300 GETs in-process

For each database it loads the demo (``seed-demo``, 3,000 responses; ``bench/servers.py``),
starts the site and ``bench/baseline_app.py`` side by side under the same gunicorn settings
(default ``sync:4``) on the same database, then runs ``wrk -c16`` (``--connections``) in
alternating rounds: ``GET /s/<window code>`` on the site, ``POST /insert`` on the baseline,
``--rounds`` times each for ``--seconds``. Alternating keeps the two under the same
neighbours on a shared machine; the median round of each is compared. Every figure is
printed with the load average, and with the servers' CPU time per request (gunicorn master
and workers, from /proc), which depends far less on the neighbours than requests/s does.

``--profile N`` then renders the GET N times through the Flask test client under cProfile
and prints where the time goes (cumulative and own time, top 25 each).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servers import PG_URL, Database, Server, prepare, report_log_problems, start_baseline, start_site

WRK = "/usr/bin/wrk"


def server_cpu(server: Server) -> float:
    """CPU seconds used so far by a gunicorn master, its live workers and the workers it has reaped."""
    return server.cpu_seconds()


@dataclass
class Round:
    target: str
    requests_per_s: float
    requests: int
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float  # server CPU per request
    load: float


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(server: Server, path: str, seconds: int, connections: int, script: str | None, target: str) -> Round:
    cmd = [WRK, f"-c{connections}", "-t2", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    before = server_cpu(server)
    out = subprocess.run([*cmd, server.base + path], capture_output=True, text=True, check=True).stdout
    cpu = server_cpu(server) - before
    load = os.getloadavg()[0]
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = int(errors.group(1)) if errors else 0
    if socket_errors:
        failed += sum(int(v) for v in socket_errors.groups())
    return Round(target, float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), requests,
                 _ms(re.search(r"\s50%\s+(\S+)", out).group(1)), _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
                 failed, cpu * 1000 / max(requests, 1), load)


def line(r: Round) -> str:
    return (f"  {r.target:9s} {r.requests_per_s:9.1f} req/s  {r.requests:7d} requests  p50 {r.p50_ms:6.1f} ms  "
            f"p99 {r.p99_ms:7.1f} ms  errors {r.errors}  server CPU {r.cpu_ms:5.2f} ms/request  "
            f"load average {r.load:.2f}")


def measure(database: Database, args: argparse.Namespace, log: Path, post_script: str) -> tuple[Round, Round]:
    worker_class, _, spec = args.config.partition(":")
    workers, _, threads = spec.partition("x")
    workers_n, threads_n = int(workers), int(threads or (1 if worker_class == "sync" else 4))
    site = start_site(database, workers_n, threads_n, log)
    baseline = start_baseline(database, workers_n, threads_n, log)
    try:
        page = f"/s/{database.code}"
        wrk(site, page, 2, args.connections, None, "warm-up")
        wrk(baseline, "/insert", 2, args.connections, post_script, "warm-up")
        gets, inserts = [], []
        for _ in range(args.rounds):
            gets.append(wrk(site, page, args.seconds, args.connections, None, "GET page"))
            print(line(gets[-1]), flush=True)
            inserts.append(wrk(baseline, "/insert", args.seconds, args.connections, post_script, "baseline"))
            print(line(inserts[-1]), flush=True)
    finally:
        site.stop()
        baseline.stop()
    return _median(gets), _median(inserts)


def _median(rounds: list[Round]) -> Round:
    return sorted(rounds, key=lambda r: r.requests_per_s)[len(rounds) // 2]


def profile(database: Database, requests: int) -> None:
    """cProfile of the questionnaire GET through the test client (after a warm-up request)."""
    os.environ["PINGYI_INSTANCE_PATH"] = str(database.folder)
    from survey import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database.url})
    client = app.test_client()
    page = f"/s/{database.code}"
    assert client.get(page).status_code == 200
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        client.get(page, headers={"Accept-Encoding": "gzip"}).close()
    profiler.disable()
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(key)
        stats.print_stats(25)
        print(f"\n  cProfile of {requests} GETs ({database.kind}), by {key}:")
        print("\n".join("    " + row for row in out.getvalue().splitlines() if row.strip())[:6000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--config", default="sync:4", help="worker_class:workers[xthreads] for both servers")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=15, help="length of one wrk round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each target, alternating")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="also profile N GETs in-process")
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    if not os.access(WRK, os.X_OK):
        sys.exit(f"wrk not found at {WRK} (apt-get install wrk)")
    print(f"pingyi GET vs baseline: wrk -c{args.connections}, {args.rounds} × {args.seconds} s each, gunicorn "
          f"{args.config}; {os.cpu_count()} cores shared by wrk, gunicorn and the database; "
          f"load average {os.getloadavg()[0]:.2f} at start")
    results = []
    with tempfile.TemporaryDirectory(prefix="pingyi-get-") as tmp:
        log = Path(tmp) / "gunicorn.log"
        post_script = Path(tmp) / "post.lua"
        post_script.write_text('wrk.method = "POST"\n')
        for kind in args.databases.split(","):
            folder = Path(tmp) / kind
            folder.mkdir()
            database = prepare(kind, args.pg_url, folder, 3000)
            try:
                print(f"{kind}:", flush=True)
                get, insert = measure(database, args, log, str(post_script))
                results.append((kind, get, insert))
                if args.profile:
                    profile(database, args.profile)
            finally:
                database.close()
        print("\nmedian rounds:")
        for kind, get, insert in results:
            print(f"  {kind:10s} GET {get.requests_per_s:8.1f} req/s ({get.cpu_ms:.2f} ms CPU)   baseline INSERT "
                  f"{insert.requests_per_s:8.1f} req/s ({insert.cpu_ms:.2f} ms CPU)   ratio "
                  f"{get.requests_per_s / insert.requests_per_s:6.1%} (CPU ratio "
                  f"{insert.cpu_ms / get.cpu_ms:6.1%})   load average {get.load:.2f} / {insert.load:.2f}")
        report_log_problems(log)


if __name__ == "__main__":
    main()
