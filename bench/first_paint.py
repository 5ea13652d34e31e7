"""First paint of the window questionnaire on an emulated slow phone, in headless Chromium.

    .venv/bin/python bench/first_paint.py                       # SQLite demo, 7 runs
    .venv/bin/python bench/first_paint.py --runs 11 --databases sqlite,postgresql

Loads the demo (``seed-demo``; ``bench/servers.py``) and serves it with gunicorn (sync:2),
then opens the 不动产登记 window's questionnaire in Chromium (``/usr/bin/chromium`` through
playwright, the browser tests' arguments) with a phone viewport and, through the DevTools
protocol, the slow phone of issue 17: ``Network.emulateNetworkConditions`` 400 kbit/s down
and up with 400 ms round trips, and ``Emulation.setCPUThrottlingRate`` 4. Every run is a
new browser context, so the cache and the cookies are cold.

It prints, per run and as the median of the runs: first paint, first contentful paint
(the page's ``paint`` entries), DOMContentLoaded and load (navigation timing, from the
start of the navigation), the requests made and the bytes over the wire (Chromium's
``encodedDataLength``: headers and compressed bodies). The aims are a first paint ≤ 1.5 s and at
most 12 KB (12,288 bytes) over the wire on this first visit; the medians say whether each is met.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servers import PG_URL, Server, served_demo

CHROMIUM = "/usr/bin/chromium"
DOWN_KBPS = 400
UP_KBPS = 400
RTT_MS = 400
CPU_SLOWDOWN = 4
METRICS = ("first_paint", "first_contentful_paint", "dom_content_loaded", "load")
PAINT_AIM = 1.5  # seconds
BYTES_AIM = 12 * 1024  # bytes over the wire on a first visit


def chromium_args() -> tuple[list[str], dict[str, int]]:
    """The browser tests' Chromium arguments (tests/browser/conftest.py), so both run the same browser."""
    from tests.browser.conftest import CHROMIUM_ARGS, PHONE

    return list(CHROMIUM_ARGS), dict(PHONE)


@contextmanager
def slow_phone(browser, phone: dict[str, int]) -> Iterator[tuple[Any, Any]]:
    """A new browser context (cold cache, no cookies) with one page on the slow phone: (page, its CDP session)."""
    context = browser.new_context(viewport=phone, is_mobile=True, has_touch=True, locale="zh-CN")
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": RTT_MS,
            "downloadThroughput": DOWN_KBPS * 1000 / 8, "uploadThroughput": UP_KBPS * 1000 / 8,
        })
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
        yield page, cdp
    finally:
        context.close()


def one_visit(browser, url: str, phone: dict[str, int]) -> dict[str, float]:
    with slow_phone(browser, phone) as (page, cdp):
        received: dict[str, float] = {}
        cdp.on("Network.loadingFinished", lambda e: received.__setitem__(e["requestId"], e["encodedDataLength"]))
        response = page.goto(url, wait_until="load", timeout=60_000)
        if response is None or response.status != 200:
            raise RuntimeError(f"{url} answered {response.status if response else 'nothing'}")
        page.wait_for_timeout(200)  # the last loadingFinished events
        timing = page.evaluate("""() => {
            const paint = Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]));
            const nav = performance.getEntriesByType('navigation')[0];
            return {first_paint: paint['first-paint'], first_contentful_paint: paint['first-contentful-paint'],
                    dom_content_loaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd};
        }""")
        result = {k: float(timing[k]) / 1000 for k in METRICS}
        result["requests"] = len(received)
        result["bytes"] = sum(received.values())
        return result


def visits(server: Server, code: str, runs: int) -> list[dict[str, float]]:
    from playwright.sync_api import sync_playwright

    args, phone = chromium_args()
    url = f"{server.base}/s/{code}"
    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            one_visit(browser, url, phone)  # warm the server (its questionnaire cache), not the browser
            for n in range(runs):
                r = one_visit(browser, url, phone)
                results.append(r)
                print(f"  run {n + 1:2d}: first paint {r['first_paint']:.3f} s, first contentful paint "
                      f"{r['first_contentful_paint']:.3f} s, DOMContentLoaded {r['dom_content_loaded']:.3f} s, "
                      f"load {r['load']:.3f} s, {r['requests']:.0f} requests, {r['bytes'] / 1024:.1f} KiB "
                      f"(load average {os.getloadavg()[0]:.2f})", flush=True)
        finally:
            browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"Chromium not found at {CHROMIUM}")
    print(f"pingyi first paint: the window questionnaire, {DOWN_KBPS} kbit/s down / {UP_KBPS} kbit/s up, "
          f"{RTT_MS} ms round trip, CPU {CPU_SLOWDOWN}× slower, cold cache; median of {args.runs} runs; "
          f"load average {os.getloadavg()[0]:.2f} at start")
    summary = []
    with tempfile.TemporaryDirectory(prefix="pingyi-paint-") as tmp:
        log = Path(tmp) / "gunicorn.log"
        for kind in args.databases.split(","):
            folder = Path(tmp) / kind
            folder.mkdir()
            with served_demo(kind, args.pg_url, folder, 3000, 2, log) as (database, server):
                print(f"{kind}:", flush=True)
                results = visits(server, database.code, args.runs)
            medians = {k: statistics.median(r[k] for r in results) for k in (*METRICS, "requests", "bytes")}
            summary.append((kind, medians))
    print("\nmedians:")
    for kind, m in summary:
        verdict = "within" if m["first_paint"] <= PAINT_AIM else "OVER"
        size = "within" if m["bytes"] <= BYTES_AIM else "OVER"
        print(f"  {kind:10s} first paint {m['first_paint']:.3f} s ({verdict} the {PAINT_AIM} s aim), first contentful paint "
              f"{m['first_contentful_paint']:.3f} s, DOMContentLoaded {m['dom_content_loaded']:.3f} s, "
              f"load {m['load']:.3f} s, {m['requests']:.0f} requests, {m['bytes'] / 1024:.1f} KiB over the wire "
              f"({m['bytes']:.0f} bytes, {size} the {BYTES_AIM:,}-byte aim)")


if __name__ == "__main__":
    main()
