"""Two checkouts serving at the same time: gunicorn CPU per phone, round by round.

    .venv/bin/python bench/side_by_side.py /path/to/older/checkout .              # SQLite, 1 worker each
    .venv/bin/python bench/side_by_side.py ../old . --phones 400 --rounds 4 --workers 1
    .venv/bin/python bench/side_by_side.py ../old . --database postgresql         # a database each on the server

On a shared or virtual machine the speed of the CPU moves by a third within minutes, so two
``bench/load.py`` runs one after the other cannot tell a 5 % change from the noise. Here both
versions run at once: each checkout migrates and seeds its own demo database (a SQLite file in a
temporary folder, or a database of its own on the PostgreSQL server, dropped afterwards; with its own
``flask``), starts its own gunicorn (``survey.gunicorn_conf``, ``--workers`` sync workers, the access
log off) and both are driven by ``bench/load.py``'s phones (GET, POST, thank-you page; every phone its
own address and cookies), ``--concurrency`` at a time each, in the same seconds. After each round the
CPU seconds of each gunicorn (master, workers) are read from ``/proc`` and divided by its phones: the
two figures of a round met the same machine (on PostgreSQL the server's own CPU is not in them). The
same checkout twice (an A/A run) shows the method's noise: 1.5 % on PostgreSQL with 300 phones × 2 rounds
(2026-12-07); with 60 phones a single round differed by 8 %, so keep to a few hundred phones and rounds.

A checkout needs its own ``.venv`` (a symlink to this one's will do when the requirements match):
``git worktree add /tmp/old <commit> && ln -s "$PWD/.venv" /tmp/old/.venv``.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench.load import drive, phone
from bench.servers import PG_URL, Database, Server, prepare, start_site


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", nargs=2, type=Path, help="two source trees, e.g. an older worktree and .")
    parser.add_argument("--phones", type=int, default=400, help="phones per checkout per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="gunicorn sync workers each")
    parser.add_argument("--concurrency", type=int, default=8, help="phones in flight at once, each")
    parser.add_argument("--demo-responses", type=int, default=3000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    if args.rounds > 7:
        parser.error("at most 7 rounds (each phone needs an address of its own)")
    roots = [c.resolve() for c in args.checkouts]
    names = [r.name or str(r) for r in roots]
    if names[0] == names[1]:
        names = ["A", "B"]
    print(f"pingyi side by side: {names[0]} = {roots[0]}, {names[1]} = {roots[1]}; {args.database}, {args.workers} sync worker(s) each, "
          f"{args.phones} phones per round each, {args.concurrency} at a time each; {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="pingyi-side-") as tmp:
        folders = [Path(tmp) / n for n in ("a", "b")]
        servers: list[tuple[Server, str]] = []
        databases: list[Database] = []
        try:
            for root, folder in zip(roots, folders, strict=True):
                folder.mkdir()
                databases.append(prepare(args.database, args.pg_url, folder, args.demo_responses, root=root))
                servers.append((start_site(databases[-1], args.workers, 1, folder / "gunicorn.log", root=root),
                                databases[-1].code))

            async def together(count: int, seed: int):
                return await asyncio.gather(*(drive(phone, count, args.concurrency, seed + i, s.base, c)
                                              for i, (s, c) in enumerate(servers)))

            asyncio.run(together(40, 15))  # warm-up: templates, caches, the first connections
            totals = [[0.0, 0], [0.0, 0]]
            for k in range(args.rounds):
                before = [s.cpu_seconds() for s, _ in servers]
                results = asyncio.run(together(args.phones, 1 + 2 * k))
                parts = []
                for i, ((tally, seconds, _client), (server, _code)) in enumerate(zip(results, servers, strict=True)):
                    used = server.cpu_seconds() - before[i]
                    totals[i][0] += used
                    totals[i][1] += tally.done
                    errors = f", errors {tally.errors}" if tally.errors else ""
                    parts.append(f"{names[i]} {tally.done / seconds:5.1f} phones/s {used / max(tally.done, 1) * 1000:6.2f} ms{errors}")
                print(f"round {k + 1}: " + "   ".join(parts), flush=True)
            per_phone = [used / max(done, 1) * 1000 for used, done in totals]
            print(f"all rounds: {names[0]} {per_phone[0]:.2f} ms, {names[1]} {per_phone[1]:.2f} ms of gunicorn CPU per phone "
                  f"({names[1]} {per_phone[1] / per_phone[0] - 1:+.1%})")
        finally:
            for server, _ in servers:
                server.stop()
            for database in databases:
                database.close()


if __name__ == "__main__":
    main()
