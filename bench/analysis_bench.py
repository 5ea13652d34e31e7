"""Benchmark of the analysis engine: every unit's post-stratified indices over a million rated units.

    .venv/bin/python bench/analysis_bench.py [--records N] [--repeat K]

Generates N respondent–unit records (default 1,000,000: a respondent rates 1–5
of 300 units, 5 groups, 8 questions each, about 8 % 不了解), i.e. 8·N answer
records in the flat arrays the web app passes, then times
``analysis.compute_indices`` (post-stratification by group; index, 满意率,
their SEs and CIs, per-question means/shares/SEs, group breakdown, flags).
Data generation is timed separately; wall and CPU time are both printed (the
machine may be shared).  Memory is reported two ways: the peak
of memory traced by ``tracemalloc`` during one computation (run apart from the
timed runs, since tracing slows allocation), and the process's peak resident
set size from ``getrusage`` (which includes the generated data).

When ``Rscript`` with the ``survey`` package is on PATH, R does the same job
(``postStratify`` + ``svyratio`` + ``svycontrast`` per unit) on a
50,000-record subset, and the speed ratio is printed.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import Answers, Params, compute_indices

N_UNITS, N_QUESTIONS = 300, 8
UNITS = np.arange(N_UNITS, dtype=np.int32)
GROUP_SHARES = (0.30, 0.40, 0.15, 0.08, 0.07)  # target shares (投票权)
GROUP_MIX = np.array([0.20, 0.50, 0.22, 0.05, 0.03])  # who actually answers
TARGET_SECONDS = 3.0
R_SUBSET = 50_000


def generate(n_records: int, seed: int = 2024) -> Answers:
    """Answers of respondents who each rate 1–5 distinct units; unit popularity and quality vary."""
    rng = np.random.default_rng(seed)
    per_respondent = rng.integers(1, 6, size=n_records // 2 + 1)
    n_respondents = int(np.searchsorted(np.cumsum(per_respondent), n_records)) + 1
    per_respondent = per_respondent[:n_respondents]
    per_respondent[-1] -= int(per_respondent.sum()) - n_records
    respondent = np.repeat(np.arange(n_respondents, dtype=np.int64), per_respondent)
    position = np.arange(n_records) - np.repeat(np.cumsum(per_respondent) - per_respondent, per_respondent)
    popularity = 1.0 / np.arange(1, N_UNITS + 1) ** 0.8
    first_unit = rng.choice(N_UNITS, size=n_respondents, p=popularity / popularity.sum())
    unit = ((first_unit[respondent] + 37 * position) % N_UNITS).astype(np.int32)
    group = rng.choice(len(GROUP_MIX), size=n_respondents, p=GROUP_MIX).astype(np.int8)[respondent]
    quality = rng.normal(0.0, 0.6, N_UNITS)
    latent = quality[unit][:, None] + 0.3 * (group[:, None] == 0) + rng.normal(0.0, 1.0, (n_records, N_QUESTIONS))
    level = np.digitize(latent, [-1.6, -0.8, 0.0, 0.9]).astype(np.int8) + 1
    level[rng.random(level.shape) < 0.08] = 0
    return Answers(
        respondent=np.repeat(1_000_000 + respondent, N_QUESTIONS),
        unit=np.repeat(unit, N_QUESTIONS),
        question=np.tile(np.arange(N_QUESTIONS, dtype=np.int8), n_records),
        level=level.reshape(-1),
        margins={"group": np.repeat(group, N_QUESTIONS)},
    )


def subset(answers: Answers, n_records: int) -> Answers:
    """The first ``n_records`` respondent–unit records (all their answers)."""
    k = n_records * N_QUESTIONS
    return Answers(
        answers.respondent[:k], answers.unit[:k], answers.question[:k], answers.level[:k],
        {name: codes[:k] for name, codes in answers.margins.items()},
    )


def time_compute(answers: Answers, params: Params, repeat: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each of ``repeat`` computations of all units' results."""
    times = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        results = compute_indices(answers, params, units=UNITS)
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    assert results.units.size == N_UNITS and not np.isnan(results.index[results.n > 0]).any()
    return times


def traced_peak(answers: Answers, params: Params) -> int:
    tracemalloc.start()
    compute_indices(answers, params, units=UNITS)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


R_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
shares <- as.numeric(strsplit(args[2], ",")[[1]])
nq <- as.integer(args[3])
ys <- paste0("y", seq_len(nq)); xs <- paste0("x", seq_len(nq))
num <- as.formula(paste("~", paste(ys, collapse = "+")))
den <- as.formula(paste("~", paste(xs, collapse = "+")))
started <- proc.time()[["elapsed"]]
for (u in unique(d$unit)) {
  du <- d[d$unit == u, ]
  du$group <- factor(du$group)
  present <- as.integer(levels(du$group))
  p <- shares[present + 1]
  pop <- data.frame(group = levels(du$group), Freq = nrow(du) * p / sum(p))
  design <- postStratify(svydesign(ids = ~1, weights = ~w, data = du), ~group, pop)
  ratios <- svyratio(num, den, design, covmat = TRUE)
  index <- svycontrast(ratios, setNames(rep(1 / nq, nq), paste0(ys, "/", xs)))
  rate <- svyratio(~s, ~t, design)
}
cat(proc.time()[["elapsed"]] - started, "\n")
"""


def time_r(answers: Answers, n_records: int) -> str:
    """Run R on the subset; returns the line to print."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return "R: Rscript is not installed on this machine; R comparison skipped."
    check = subprocess.run([rscript, "-e", "library(survey)"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        return "R: Rscript found but the survey package is not installed; R comparison skipped."
    part = subset(answers, n_records)
    level = part.level.reshape(-1, N_QUESTIONS).astype(np.float64)
    answered = level > 0
    score = np.where(answered, (level - 1) * 25.0, 0.0)
    satisfied = (level >= 3).sum(axis=1)
    unit = part.unit[::N_QUESTIONS]
    group = part.margins["group"][::N_QUESTIONS]
    params = Params(targets={"group": GROUP_SHARES})
    ours = min(wall for wall, _ in time_compute(part, params, 3))
    with tempfile.TemporaryDirectory() as folder:
        data, script = Path(folder) / "wide.csv", Path(folder) / "bench.R"
        columns = [unit, group, np.ones(unit.size), satisfied, answered.sum(axis=1)]
        columns += [score[:, q] for q in range(N_QUESTIONS)] + [answered[:, q].astype(int) for q in range(N_QUESTIONS)]
        header = ["unit", "group", "w", "s", "t"]
        header += [f"y{q + 1}" for q in range(N_QUESTIONS)] + [f"x{q + 1}" for q in range(N_QUESTIONS)]
        np.savetxt(data, np.column_stack(columns), delimiter=",", header=",".join(header), comments="", fmt="%.10g")
        script.write_text(R_SCRIPT)
        run = subprocess.run(
            [rscript, str(script), str(data), ",".join(map(str, GROUP_SHARES)), str(N_QUESTIONS)],
            capture_output=True, text=True, check=False,
        )
    if run.returncode != 0:
        return f"R: the R run failed ({run.stderr.strip().splitlines()[-1] if run.stderr.strip() else 'no message'})."
    seconds = float(run.stdout.split()[-1])
    return (
        f"R (survey package) on the first {n_records:,} records: {seconds:.2f} s; "
        f"this engine on the same records: {ours:.3f} s; speed ratio R/engine = {seconds / ours:.0f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="respondent–unit records (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (default 3; the best is reported)")
    args = parser.parse_args()

    start = time.perf_counter()
    answers = generate(args.records)
    generation = time.perf_counter() - start
    params = Params(targets={"group": GROUP_SHARES})
    n_answers = answers.level.size
    n_respondents = np.unique(answers.respondent).size

    times = time_compute(answers, params, args.repeat)
    best, best_cpu = min(times)
    peak = traced_peak(answers, params)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    print("Pingyi analysis engine benchmark")
    print(
        f"  data:        {args.records:,} respondent-unit records x {N_QUESTIONS} questions = {n_answers:,} answers; "
        f"{N_UNITS} units, {len(GROUP_SHARES)} groups, {n_respondents:,} respondents"
    )
    print(f"  generation:  {generation:.2f} s")
    print(
        f"  computation: {best:.3f} s wall, {best_cpu:.3f} s CPU, best of {len(times)} "
        f"(wall {', '.join(f'{wall:.3f}' for wall, _ in times)} s): post-stratified index, satisfaction rate, "
        "SEs, CIs, per-question and per-group results, all units"
    )
    print(
        f"  throughput:  {args.records / best / 1e6:.2f} M respondent-unit records/s "
        f"({n_answers / best / 1e6:.1f} M answers/s)"
    )
    if args.records == 1_000_000:
        print(f"  target:      <= {TARGET_SECONDS:.0f} s: {'met' if best <= TARGET_SECONDS else 'MISSED'}")
    print(f"  peak memory: {peak / 2**20:.0f} MiB traced by tracemalloc during one computation (separate, untimed run)")
    print(
        f"               {rss / 2**20:.0f} MiB peak resident set size of the process "
        "(getrusage ru_maxrss; includes the generated data)"
    )
    print(f"  {time_r(answers, min(R_SUBSET, args.records))}")


if __name__ == "__main__":
    main()
