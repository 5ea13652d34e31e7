"""CPU time of one phone in the application: GET the questionnaire, POST it, get the thank-you page.

    .venv/bin/python bench/phone_cpu.py                        # SQLite in a temporary folder
    .venv/bin/python bench/phone_cpu.py --phones 400 --database-url postgresql://postgres@127.0.0.1:5432/bench

In-process (Flask test client) on the demo (``seed-demo``, 3000 responses), every phone a new
browser from its own address accepting gzip, 30 % of them leaving a comment (before 2026-12-08 the
client did not ask for gzip: the pages' compression was not in the figures). It measures the *CPU time* of
this process (``time.process_time``), not the wall time: on a machine shared with other work
the wall time measures the neighbours, the CPU time still measures the code. (On PostgreSQL the
database server's own CPU is not in it.) Compare two checkouts by running each one's copy.
"""
from __future__ import annotations

import argparse
import cProfile
import gzip
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.page_bench import build, fill, targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phones", type=int, default=300)
    parser.add_argument("--database-url", help="an empty database to use instead of a temporary SQLite file")
    parser.add_argument("--profile", choices=("get", "post", "thanks", "phone"),
                        help="also print a CPU profile (cProfile, process time) of that step (phone: all three) over "
                             "the measured phones, and its time by package")
    parser.add_argument("--profile-out", metavar="FILE",
                        help="with --profile: also write the profile for pstats/snakeviz")
    args = parser.parse_args()
    profiler = cProfile.Profile(time.process_time) if args.profile else None

    def timed(step: str, call):
        if profiler is not None and args.profile in (step, "phone"):
            return profiler.runcall(call)
        return call()

    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp:
        app = build(args.database_url, Path(tmp))
        window, _appraisal, _units = targets(app)
        steps: dict[str, list[float]] = {"get": [], "post": [], "thanks": [], "phone": []}

        def phone(n: int, record: bool) -> None:
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = f"127.{1 + n // 62500}.{(n // 250) % 250}.{1 + n % 250}"
            client.environ_base["HTTP_ACCEPT_ENCODING"] = "gzip, deflate"  # as every phone's browser sends
            cpu0 = time.process_time()
            page = timed("get", lambda: client.get(f"/s/{window}"))
            cpu1 = time.process_time()
            assert page.status_code == 200, page.status_code
            data = fill(app, text_of(page), "")
            if rng.random() >= 0.3:
                data = {k: v for k, v in data.items() if not (v and v[0].startswith("排队"))}
            cpu2 = time.process_time()
            # As the page's script sends it: answered with the thank-you page itself (a checkout from
            # before 2026-12-08 answers 303, and the thank-you page is then fetched as a step of its own).
            posted = timed("post", lambda: client.post(f"/s/{window}?js=1", data=data))
            cpu3 = time.process_time()
            if posted.status_code == 303:
                thanks = timed("thanks", lambda: client.get(posted.headers["Location"]))
            else:
                thanks = posted
            cpu4 = time.process_time()
            assert thanks.status_code == 200 and "data-clear-drafts" in text_of(thanks), \
                thanks.status_code
            if record:
                for key, value in (("get", cpu1 - cpu0), ("post", cpu3 - cpu2), ("thanks", cpu4 - cpu3),
                                   ("phone", (cpu1 - cpu0) + (cpu4 - cpu2))):
                    steps[key].append(value * 1000)

        for n in range(30):
            phone(n, record=False)
        for n in range(30, 30 + args.phones):
            phone(n, record=True)
        print(f"Pingyi phone CPU time — {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}, {args.phones} phones")
        for key, values in steps.items():
            print(f"  {key:<7} median {statistics.median(values):6.2f} ms CPU   mean {statistics.fmean(values):6.2f} ms")
        print(f"  → {1000 / statistics.fmean(steps['phone']):.0f} phones per CPU-second of application time")
        if profiler is not None:
            print(f"\nProfile of the {args.profile} step over {args.phones} phones (cumulative CPU, with the profiler's overhead):")
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(45)
            print_by_package(stats)
            if args.profile_out:
                profiler.dump_stats(args.profile_out)


def text_of(reply) -> str:
    """The page a reply carries, unpacked when it came gzip-compressed."""
    data = reply.get_data()
    return (gzip.decompress(data) if reply.headers.get("Content-Encoding") == "gzip" else data).decode("utf-8")


def print_by_package(stats: pstats.Stats) -> None:
    """Own time (tottime) summed by the package of the function: where the CPU goes, library by library."""
    by: dict[str, float] = {}
    for (path, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        parts = Path(path).parts
        if "site-packages" in parts:
            package = parts[parts.index("site-packages") + 1]
        elif str(ROOT) in path:
            package = "/".join(Path(path).relative_to(ROOT).parts[:2])
        else:
            package = "python" if path.startswith(("/", "<")) else path
        by[package] = by.get(package, 0.0) + tottime
    total = sum(by.values())
    print("Own time by package:")
    for package, seconds in sorted(by.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {100 * seconds / total:5.1f} %  {package}")


if __name__ == "__main__":
    main()
