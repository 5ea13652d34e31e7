"""From the tap on 提交评价 to the thank-you page painted, on the emulated slow phone, in headless Chromium.

    .venv/bin/python bench/tap_to_thanks.py                          # this checkout, SQLite demo, 7 runs
    .venv/bin/python bench/tap_to_thanks.py --checkout /tmp/old      # another checkout, served by its own code

The slow phone of ``bench/first_paint.py`` (400 kbit/s, 400 ms round trips, CPU 4×, cold cache): the
demo is served by gunicorn (sync:2) from the checkout given (``--checkout``, default this one; it needs
its own ``.venv``), the window questionnaire is opened and answered as a satisfied citizen would (the first
choice of every question, so no question is called for in place), and the time is taken from the tap to the
thank-you page's heading being visible, with the requests the browser made meanwhile. Since 2026-12-08 the
page's script gets the thank-you page in the submission's answer; before, a 303 sent the phone to it with a
request of its own (a new connection and a round trip more).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.first_paint import CHROMIUM, CPU_SLOWDOWN, DOWN_KBPS, RTT_MS, chromium_args, slow_phone
from bench.servers import served_demo

ANSWER = """() => document.querySelectorAll('fieldset.q:not([hidden])').forEach(fs => {
    const first = fs.querySelector('input[type=radio], input[type=checkbox]');
    if (first && !first.checked) { first.click(); }
})"""


def one_tap(browser, url: str, phone: dict[str, int]) -> tuple[float, int]:
    with slow_phone(browser, phone) as (page, _cdp):
        page.goto(url, wait_until="load", timeout=60_000)
        page.evaluate(ANSWER)
        requests: list[str] = []
        page.on("request", lambda r: requests.append(f"{r.method} {r.url}"))
        start = time.perf_counter()
        page.locator("button[type=submit]").click()
        page.locator("[data-clear-drafts] h1").wait_for(state="visible", timeout=60_000)
        return time.perf_counter() - start, len(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the source tree to serve (with its own .venv)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    checkout = args.checkout.resolve()
    print(f"pingyi tap to thank-you: {checkout}, SQLite demo; {DOWN_KBPS} kbit/s, {RTT_MS} ms round trip, "
          f"CPU {CPU_SLOWDOWN}× slower, cold cache; {args.runs} runs; load average {os.getloadavg()[0]:.2f}")
    times = []
    with (tempfile.TemporaryDirectory(prefix="pingyi-tap-") as tmp,
          served_demo("sqlite", "", Path(tmp), 3000, 2, Path(tmp) / "gunicorn.log", root=checkout) as (database, server),
          sync_playwright() as playwright):
        browser_args, phone = chromium_args()
        url = f"{server.base}/s/{database.code}"
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=browser_args, headless=True)
        try:
            one_tap(browser, url, phone)  # warm the server's caches, not the browser's
            for n in range(args.runs):
                seconds, requests = one_tap(browser, url, phone)
                times.append(seconds)
                print(f"  run {n + 1:2d}: {seconds:.3f} s, {requests} requests", flush=True)
        finally:
            browser.close()
    print(f"median: {statistics.median(times):.3f} s from the tap to the thank-you page")


if __name__ == "__main__":
    main()
