"""Startup of the explorer app: from ``make explore`` to the first slider that answers.

Target (issue 16): the first slider usable within 8 s of ``make explore`` with a warm model
cache, at 1920x1080. Timed, from the moment ``make explore PORT=...`` is started:

* address: the terminal prints the address with its token (the server listens);
* pictures: Chromium, opened at once on that address, shows the still pictures;
* live: the live explorers have replaced them;
* usable: ArrowRight on the first slider has reached the kernel and come back (the
  kernel's own readout shows the new value): the first slider is usable.

Each run starts a fresh server (and stops it). Needs Chromium (/usr/bin/chromium or
AELIB_CHROMIUM) and a warm cache (``make warm``); it sets ALLOW_ROOT=1 for containers.

    python benchmarks/explore_startup.py [--runs 3]

Results: a table, and build/bench/explore_startup.json.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _results import save

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("AELIB_CHROMIUM", "/usr/bin/chromium")
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM_ARGS, LOCAL, free_port  # noqa: E402


def one_run(browser) -> dict[str, float]:
    port = free_port()
    env = dict(os.environ, ALLOW_ROOT="1", PYTHONUNBUFFERED="1")
    t0 = time.monotonic()
    proc = subprocess.Popen(["make", "--no-print-directory", "explore", f"PORT={port}"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)
            if m:
                url, t_address = m.group(1), time.monotonic() - t0
                break
        else:
            raise RuntimeError("make explore printed no address:\n" + "".join(lines))
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(LOCAL)
                   else r.abort())  # fmt: skip
        while True:  # the address is printed just before the server listens
            try:
                page.goto(url, wait_until="commit", timeout=60_000)
                break
            except Exception:
                if time.monotonic() - t0 > 60:
                    raise
                time.sleep(0.05)
        page.wait_for_selector("img.aelib-still", timeout=120_000)
        t_pictures = time.monotonic() - t0
        page.wait_for_selector("body.aelib-live", timeout=300_000)
        t_live = time.monotonic() - t0
        root = page.locator(".aelib-latent-explorer").first
        readout = root.locator(".aelib-readout")
        before = readout.inner_text()
        handle = root.locator(".widget-slider .noUi-handle").first
        handle.wait_for(state="visible", timeout=60_000)
        handle.focus()
        handle.press("ArrowRight")
        page.wait_for_function("([el, t]) => el.textContent.trim() !== t",
                               arg=[readout.element_handle(), before.strip()],
                               timeout=60_000)  # fmt: skip
        t_usable = time.monotonic() - t0
        page.close()
        return {"address_s": t_address, "pictures_s": t_pictures, "live_s": t_live,
                "usable_s": t_usable}  # fmt: skip
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"Skipped: no Chromium at {CHROMIUM} (apt-get install chromium).")
        return
    from playwright.sync_api import sync_playwright

    load = os.getloadavg()[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        runs = [one_run(browser) for _ in range(args.runs)]
        browser.close()
    keys = ("address_s", "pictures_s", "live_s", "usable_s")
    medians = {k: statistics.median(r[k] for r in runs) for k in keys}
    print(f"From `make explore` (warm cache), median of {len(runs)}, load {load:.1f} at start:")
    for k, label in zip(keys, ("address printed", "still pictures shown", "live explorers",
                               "first slider answers")):  # fmt: skip
        print(f"  {label:<22}{medians[k]:6.1f} s   (runs: "
              f"{', '.join(f'{r[k]:.1f}' for r in runs)})")
    met = medians["usable_s"] < 8
    print(f"target: first slider usable within 8 s: {'met' if met else 'NOT met'}")
    save("explore_startup", {"runs": runs, "median": medians, "target_met": met,
                             "load_avg_1min": load, "viewport": "1920x1080"})  # fmt: skip


if __name__ == "__main__":
    main()
