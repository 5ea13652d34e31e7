"""The citizen's questionnaire page: bytes on the wire and server time of GET and POST.

    .venv/bin/python bench/page_bench.py                       # SQLite in a temporary folder
    .venv/bin/python bench/page_bench.py --requests 500
    .venv/bin/python bench/page_bench.py --database-url postgresql://postgres@127.0.0.1:5432/bench

Loads the demo (``seed-demo``, 3000 responses) into a fresh database, then measures through
the Flask test client (in-process, so the figures are the application's own time without
network or gunicorn):

* transferred bytes of the window survey and of a 5-unit appraisal page: the HTML and every
  stylesheet and script it links, uncompressed, gzip-compressed (level 6), and as the site
  sends them to a client that accepts gzip (its own compression, minified static files);
* server time of GET (page render) and POST (validate, fingerprint, burst check, insert,
  redirect) — median, 95th percentile and max over N requests; every POST is a fresh
  respondent (own session and device cookie), so each one stores a response.
"""
from __future__ import annotations

import argparse
import gzip
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select

from survey import create_app
from survey.extensions import db
from survey.models import Campaign, CampaignUnit, QuestionnaireKind, Unit

ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def build(database_url: str | None, folder: Path):
    from flask_migrate import upgrade

    from survey.services.demo.seed import seed_demo

    os.environ["PINGYI_INSTANCE_PATH"] = str(folder)
    url = database_url or f"sqlite:///{folder / 'bench.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False, "ARGON2_TIME_COST": 1,
                      "ARGON2_MEMORY_KIB": 8192, "ARGON2_PARALLELISM": 1})
    with app.app_context():
        upgrade()
        seed_demo(db.session, responses=3000)
    return app


def targets(app) -> tuple[str, str, list[str]]:
    """The 不动产登记 window's code, the appraisal's code and five of its unit codes."""
    with app.app_context():
        window = db.session.scalar(
            select(CampaignUnit.short_code).join(Unit).join(Campaign)
            .where(Unit.code == "CK-BDC", Campaign.status == "open")
        )
        appraisal = next(c for c in db.session.scalars(select(Campaign).where(Campaign.status == "open"))
                         if c.questionnaire.kind == QuestionnaireKind.APPRAISAL)
        units = [cu.unit.code for cu in appraisal.campaign_units][:5]
        return window, appraisal.short_code, units


def weight(client, path: str) -> list[tuple[str, int, int, int]]:
    """(name, raw bytes, gzip level 6 bytes, bytes the site sends to a client accepting gzip)."""
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    html = page.get_data()
    sent = client.get(path, headers={"Accept-Encoding": "gzip"}).get_data()
    rows = [(path.split("?")[0], len(html), len(gzip.compress(html, 6)), len(sent))]
    for asset in dict.fromkeys(ASSET.findall(html.decode())):
        body = client.get(asset).get_data()
        sent = client.get(asset, headers={"Accept-Encoding": "gzip"}).get_data()
        rows.append((asset, len(body), len(gzip.compress(body, 6)), len(sent)))
    return rows


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def fill(app, page_html: str, questionnaire_kind: str) -> dict[str, list[str]]:
    """Answers for every question on the page: the first offered value of each field."""
    data: dict[str, list[str]] = {}
    for name, value in re.findall(r'name="(q\d+(?:_u\d+)?)" id="[^"]+" value="([^"]+)"', page_html):
        data.setdefault(name, [value])
    for name in re.findall(r'<textarea name="(q\d+(?:_u\d+)?)"', page_html):
        data[name] = ["排队时间有点长，希望增加窗口。"]
    for field in ("csrf_token", "submission_id", "started"):
        data[field] = [re.search(rf'<input\b[^>]*\bname="{field}"[^>]*\bvalue="([^"]*)"', page_html).group(1)]
    data["u"] = re.findall(r'<input type="hidden" name="u" value="([^"]+)">', page_html)
    return data


def summary(label: str, samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    return f"{label:<34} median {statistics.median(samples):6.2f} ms   p95 {p95:6.2f} ms   max {samples[-1]:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per timing (default 200)")
    parser.add_argument("--database-url", help="an empty database to use instead of a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = build(args.database_url, Path(tmp))
        window, appraisal, units = targets(app)
        client = app.test_client()
        rate_path = f"/s/{appraisal}/rate?" + "&".join(f"u={u}" for u in units)

        print(f"Pingyi questionnaire page — {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}, "
              f"{args.requests} requests per figure\n")
        for title, path in (("Window survey (8 questions)", f"/s/{window}"),
                            ("Appraisal, 5 units (21 questions)", rate_path)):
            rows = weight(client, path)
            print(f"{title}: bytes transferred")
            for name, raw, packed, sent in rows:
                print(f"  {name:<38} {raw:>8,} B   gzip {packed:>7,} B   sent {sent:>7,} B")
            print(f"  {'total':<38} {sum(r[1] for r in rows):>8,} B   gzip {sum(r[2] for r in rows):>7,} B"
                  f"   sent {sum(r[3] for r in rows):>7,} B\n")

        print("Server time (Flask test client, in-process)")
        print(summary("GET window survey", timed(lambda: client.get(f"/s/{window}"), args.requests)))
        print(summary("GET appraisal, 5 units", timed(lambda: client.get(rate_path), args.requests)))

        def post(path: str, page_path: str):
            respondent = app.test_client()
            html = respondent.get(page_path).get_data(as_text=True)
            data = fill(app, html, "")
            start = time.perf_counter()
            response = respondent.post(path, data=data)
            elapsed = (time.perf_counter() - start) * 1000
            assert response.status_code == 303, (response.status_code, response.get_data(as_text=True)[:500])
            return elapsed

        print(summary("POST window survey (stored)", [post(f"/s/{window}", f"/s/{window}") for _ in range(args.requests)]))
        print(summary("POST appraisal, 5 units (stored)",
                      [post(f"/s/{appraisal}/rate", rate_path) for _ in range(args.requests)]))
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
