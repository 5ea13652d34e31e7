"""Benchmark of ``python -m analysis indices`` end to end (read, validate, compute, write) against R.

    .venv/bin/python bench/analysis_load_bench.py [--records N] [--before] [--no-r] [--repeat K]

Writes (once) the long CSV of ``bench/make_responses_csv.py`` (default 1,000,000
respondent–unit records × 8 questions: an 8M-line file) and its TARGETS.json, then runs,
back to back on the same file, each in a process of its own:

- the CLI as an analyst runs it: ``python -m analysis indices FILE --targets T -o OUT``
  (wall time, CPU time, peak resident memory of the process);
- with ``--before``, the same with the row-by-row reader the CLI had before
  (``analysis.cli._parse_rows``), for the before/after figures;
- R, when ``Rscript`` with the ``survey`` package is on the PATH: read the same file
  (``data.table::fread`` when installed, else ``read.csv``), pivot it to one row per
  respondent and unit, then per unit ``postStratify`` + ``svyratio`` + ``svycontrast``
  (index) + ``svyratio(~s, ~t)`` (满意率), as ``bench/analysis_bench.py`` does.

The machine may be shared: the load average is printed before every run, and the
comparison with R is within one run of this script. The figure for computing a period
from the database is ``bench/results_bench.py`` (``--database-url``), see
docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from make_responses_csv import N_QUESTIONS, records, write_csv

TARGET_SECONDS, TARGET_MIB, TARGET_RATIO = 8.0, 1536, 10.0

#: The CLI with the row-by-row reader it had before pyarrow (the same checks and messages, one row at a time).
BEFORE = r"""
import sys
import analysis.cli as cli
cli.parse_responses = lambda text, path, *rest: cli._parse_rows(cli._read_text(path), path, *rest)
sys.exit(cli.main(sys.argv[1:]))
"""

R_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
shares <- as.numeric(strsplit(args[3], ",")[[1]]); names(shares) <- strsplit(args[2], ",")[[1]]
started <- proc.time()[["elapsed"]]
if (requireNamespace("data.table", quietly = TRUE)) {
  d <- data.table::fread(args[1], colClasses = "character", na.strings = NULL, encoding = "UTF-8", showProgress = FALSE)
  d <- as.data.frame(d)
} else {
  d <- read.csv(args[1], colClasses = "character", na.strings = character(0), encoding = "UTF-8")
}
read_done <- proc.time()[["elapsed"]]
d$lv <- suppressWarnings(as.integer(d$level))
d$lv[!is.na(d$lv) & (d$lv < 1 | d$lv > 5)] <- NA
questions <- unique(d$question)
key <- paste(d$respondent_id, d$unit, sep = "\r")
pairs <- unique(key)
row <- match(key, pairs)
first <- match(seq_along(pairs), row)
w <- data.frame(unit = d$unit[first], group = d$group[first], d = 1)
lv <- matrix(NA_integer_, length(pairs), length(questions))
lv[cbind(row, match(d$question, questions))] <- d$lv
nq <- length(questions)
for (q in seq_len(nq)) {
  w[[paste0("y", q)]] <- ifelse(is.na(lv[, q]), 0, (lv[, q] - 1) * 25)
  w[[paste0("x", q)]] <- as.numeric(!is.na(lv[, q]))
}
w$s <- rowSums(!is.na(lv) & lv >= 3); w$t <- rowSums(!is.na(lv))
ys <- paste0("y", seq_len(nq)); xs <- paste0("x", seq_len(nq))
num <- as.formula(paste("~", paste(ys, collapse = "+")))
den <- as.formula(paste("~", paste(xs, collapse = "+")))
pivot_done <- proc.time()[["elapsed"]]
for (u in unique(w$unit)) {
  du <- w[w$unit == u, ]
  du$group <- factor(du$group)
  p <- shares[levels(du$group)]
  pop <- data.frame(group = levels(du$group), Freq = nrow(du) * p / sum(p))
  design <- postStratify(svydesign(ids = ~1, weights = ~d, data = du), ~group, pop)
  ratios <- svyratio(num, den, design, covmat = TRUE)
  index <- svycontrast(ratios, setNames(rep(1 / nq, nq), paste0(ys, "/", xs)))
  rate <- svyratio(~s, ~t, design)
}
done <- proc.time()[["elapsed"]]
cat(done - started, read_done - started, pivot_done - read_done, done - pivot_done, "\n")
"""


def prepare(n_records: int) -> tuple[Path, Path]:
    """The CSV and TARGETS.json under bench/out, written when missing."""
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    csv_path, targets = out / f"responses_{n_records}.csv", out / "targets.json"
    if not csv_path.exists() or not targets.exists():
        started = time.perf_counter()
        from make_responses_csv import CHANNELS, GROUPS

        write_csv(csv_path, records(n_records, 2024))
        targets.write_text(json.dumps({"group": GROUPS, "channel": CHANNELS}, ensure_ascii=False, indent=1) + "\n",
                           encoding="utf-8")
        print(f"  generated:   {csv_path.relative_to(ROOT)} in {time.perf_counter() - started:.0f} s (once)")
    return csv_path, targets


def timed(command: list[str]) -> tuple[float, float, float, subprocess.CompletedProcess[str]]:
    """(wall s, CPU s, peak RSS MiB) of a child process; the machine's load average is printed first."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024, done


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="respondent-unit records (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the CLI (the best is reported)")
    parser.add_argument("--before", action="store_true", help="also time the row-by-row reader the CLI had before")
    parser.add_argument("--no-r", action="store_true", help="skip R")
    args = parser.parse_args()

    print("Pingyi analysis CLI benchmark (read, validate, compute, write)")
    csv_path, targets = prepare(args.records)
    size = csv_path.stat().st_size / 2**20
    print(f"  data:        {csv_path.relative_to(ROOT)}: {args.records:,} respondent-unit records x {N_QUESTIONS} "
          f"questions = {args.records * N_QUESTIONS:,} lines, {size:.0f} MiB")
    out = Path(tempfile.mkdtemp(prefix="pingyi-load-bench-"))
    cli = [sys.executable, "-m", "analysis", "indices", str(csv_path), "--targets", str(targets)]

    best = None
    for attempt in range(args.repeat):
        print(f"  ({load()})")
        wall, cpu, rss, done = timed([*cli, "-o", str(out / "after.csv")])
        if done.returncode != 0:
            sys.exit(f"the CLI failed: {done.stderr}")
        print(f"  CLI run {attempt + 1}:   {wall:.2f} s wall, {cpu:.2f} s CPU; peak RSS {rss:.0f} MiB")
        best = wall if best is None else min(best, wall)
    # ru_maxrss of children is the largest child so far: the CLI ran first, so this is the CLI's
    cli_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  targets:     <= {TARGET_SECONDS:.0f} s: {'met' if best <= TARGET_SECONDS else 'MISSED'} "
          f"(best {best:.2f} s); <= {TARGET_MIB / 1024:.1f} GiB: {'met' if cli_rss <= TARGET_MIB else 'MISSED'}")

    if args.before:
        print(f"  ({load()})")
        wall, cpu, _rss, done = timed([sys.executable, "-c", BEFORE, *cli[3:], "-o", str(out / "before.csv")])
        same = done.returncode == 0 and (out / "before.csv").read_bytes() == (out / "after.csv").read_bytes()
        print(f"  before:      {wall:.2f} s wall, {cpu:.2f} s CPU with the row-by-row reader "
              f"({'identical output' if same else 'OUTPUT DIFFERS'}); {wall / best:.1f}x the time")

    rscript = shutil.which("Rscript")
    if args.no_r:
        return
    if rscript is None or subprocess.run([rscript, "-e", "library(survey)"], capture_output=True,
                                         check=False).returncode != 0:
        print("  R:           Rscript with the survey package is not installed; R comparison skipped")
        return
    script = out / "bench.R"
    script.write_text(R_SCRIPT, encoding="utf-8")
    shares = json.loads(targets.read_text(encoding="utf-8"))["group"]
    print(f"  ({load()})")
    wall, cpu, _rss, done = timed([rscript, str(script), str(csv_path), ",".join(shares),
                                   ",".join(str(v) for v in shares.values())])
    if done.returncode != 0:
        print(f"  R:           failed: {done.stderr.strip()[-300:]}")
        return
    _total, read, pivot, survey = (float(v) for v in done.stdout.split())
    print(f"  R survey:    {wall:.2f} s wall ({read:.1f} s reading, {pivot:.1f} s pivoting, {survey:.1f} s "
          f"postStratify + svyratio + svycontrast over the units), {cpu:.2f} s CPU")
    print(f"  ratio:       the CLI is {wall / best:.1f}x faster than R on the same file "
          f"(target >= {TARGET_RATIO:.0f}x: {'met' if wall / best >= TARGET_RATIO else 'MISSED'})")


if __name__ == "__main__":
    main()
