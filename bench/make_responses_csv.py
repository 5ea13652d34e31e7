"""Write a synthetic RESPONSES.csv (and TARGETS.json) for ``python -m analysis indices`` at scale.

    .venv/bin/python bench/make_responses_csv.py [--records N] [--out DIR] [--seed S]

N respondent–unit records (default 1,000,000): respondents who each rate 1–5 of 300
units, 5 groups, 3 channels, 8 questions per record, about 8 % 不了解 (empty level),
in the long format the CLI reads, one line per answer (8·N data lines):

    respondent_id,unit,group,channel,question,level
    R0000001,U004,服务对象,窗口二维码,Q1,5

Writes ``DIR/responses_<N>.csv`` and ``DIR/targets.json`` (default DIR: bench/out, which
git ignores) and prints their paths. The data are generated, never committed.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N_UNITS, N_QUESTIONS = 300, 8
GROUPS = {"企业": 0.30, "群众": 0.40, "服务对象": 0.15, "人大代表": 0.08, "政协委员": 0.07}
GROUP_MIX = (0.20, 0.50, 0.22, 0.05, 0.03)  # who actually answers
CHANNELS = {"窗口二维码": 0.5, "网上": 0.3, "电话": 0.2}
CHUNK = 100_000  # records per write


def records(n_records: int, seed: int) -> dict[str, np.ndarray]:
    """Per respondent–unit record: respondent number, unit, group, channel and the 8 levels (0 = 不了解)."""
    rng = np.random.default_rng(seed)
    per_respondent = rng.integers(1, 6, size=n_records // 2 + 1)
    n_respondents = int(np.searchsorted(np.cumsum(per_respondent), n_records)) + 1
    per_respondent = per_respondent[:n_respondents]
    per_respondent[-1] -= int(per_respondent.sum()) - n_records
    respondent = np.repeat(np.arange(1, n_respondents + 1), per_respondent)
    # distinct units within a respondent: a random start and a stride of 1
    start = np.repeat(rng.integers(0, N_UNITS, n_respondents), per_respondent)
    position = np.arange(n_records) - np.repeat(np.cumsum(per_respondent) - per_respondent, per_respondent)
    unit = (start + position) % N_UNITS
    group = np.repeat(rng.choice(len(GROUPS), size=n_respondents, p=GROUP_MIX), per_respondent)
    channel = np.repeat(rng.choice(len(CHANNELS), size=n_respondents, p=tuple(CHANNELS.values())), per_respondent)
    quality = rng.normal(0.0, 0.6, N_UNITS)
    latent = quality[unit][:, None] + 0.3 * (group[:, None] == 0) + rng.normal(0.0, 1.0, (n_records, N_QUESTIONS))
    level = np.digitize(latent, [-1.6, -0.8, 0.0, 0.9]).astype(np.int8) + 1
    level[rng.random(level.shape) < 0.08] = 0
    return {"respondent": respondent, "unit": unit, "group": group, "channel": channel, "level": level}


def write_csv(path: Path, data: dict[str, np.ndarray]) -> int:
    """The long CSV, one line per answer; returns the number of data lines."""
    groups, channels = list(GROUPS), list(CHANNELS)
    level_text = ["", "1", "2", "3", "4", "5"]
    lines = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("respondent_id,unit,group,channel,question,level\n")
        n = data["unit"].size
        for begin in range(0, n, CHUNK):
            parts = []
            for i in range(begin, min(begin + CHUNK, n)):
                prefix = (f"R{data['respondent'][i]:07d},U{data['unit'][i] + 1:03d},"
                          f"{groups[data['group'][i]]},{channels[data['channel'][i]]},Q")
                levels = data["level"][i]
                parts.append("".join(f"{prefix}{q + 1},{level_text[levels[q]]}\n" for q in range(N_QUESTIONS)))
            out.write("".join(parts))
            lines += len(parts) * N_QUESTIONS
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="respondent-unit records (default 1,000,000)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="directory (default bench/out)")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / f"responses_{args.records}.csv"
    lines = write_csv(csv_path, records(args.records, args.seed))
    targets = args.out / "targets.json"
    targets.write_text(json.dumps({"group": GROUPS, "channel": CHANNELS}, ensure_ascii=False, indent=1) + "\n",
                       encoding="utf-8")
    print(f"{csv_path}  ({lines:,} data lines, {csv_path.stat().st_size / 2**20:.0f} MiB)")
    print(targets)


if __name__ == "__main__":
    main()
