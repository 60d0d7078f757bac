"""The dashboard on the demo shop: screenshots of every page (docs/dashboard/) and the time of
the overview's first load, in Debian's Chromium (headless, Playwright); and `watch`, one
dashboard kept open, for benchmarks/serving.py --dashboard.

    .venv/bin/python benchmarks/dashboard.py shots              # demo shop, shots, first load
    .venv/bin/python benchmarks/dashboard.py shots --runs 20 --out runs/dashboard.json
    .venv/bin/python benchmarks/dashboard.py watch http://127.0.0.1:8000 --seconds 300

`shots` builds the demo shop once under .shelflm/bench-dashboard (`shelflm demo --no-serve
--no-compare`: 3,000 products, 3,000 shoppers, ~100k events, 30 s of training) and a second
version trained with another hidden width (for the model page's side by side), serves it
with `shelflm serve`, sends shop traffic (recommendations, events, searches) for
`--traffic` seconds so the overview's charts have a history, then times `--runs` first
loads of the overview, each in a fresh browser context (no cache): from navigation start
to the moment every number and chart has its data (the page's `data-ready` mark).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / ".shelflm" / "bench-dashboard"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KEY = "bench-dashboard-key"
LAPTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


def shelflm(*args: str) -> None:
    """Run the shelflm command (this checkout's) and fail loudly."""
    subprocess.run([str(ROOT / ".venv" / "bin" / "shelflm"), *args], check=True)


def build_shop() -> None:
    """The demo shop, its served artifact and a second version, once."""
    if not (SHOP / "artifact" / "config.json").is_file():
        shelflm("demo", "--no-serve", "--no-compare", "--out", str(SHOP))
    if not (SHOP / "h32" / "config.json").is_file():
        shelflm("train", str(SHOP / "data"), "--out", str(SHOP / "h32"), "--hidden", "32",
                "--epochs", "20")


def serve(port: int) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "shelflm"), "serve",
                             str(SHOP / "artifact"), "--port", str(port), "--api-key", KEY],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health/ready", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("the server did not become ready")


def traffic(url: str, seconds: float, rate: float = 40.0,
            stop: threading.Event | None = None) -> None:
    """Shoppers asking for recommendations, some posting events and searching, until
    `seconds` pass or `stop` is set."""
    events = pd.read_parquet(SHOP / "data" / "interactions.parquet")
    users, items = events["user_id"].unique().tolist(), events["item_id"].unique().tolist()
    rng, end = random.Random(0), time.monotonic() + seconds
    with httpx.Client(base_url=url, headers={"X-API-Key": KEY}) as client:
        while time.monotonic() < end and not (stop and stop.is_set()):
            user = rng.choice(users)
            client.get(f"/users/{user}/recommendations", params={"k": 10})
            if rng.random() < 0.3:
                client.post("/events", json={"events": [
                    {"user_id": user, "item_id": rng.choice(items), "event": "view"}]})
            if rng.random() < 0.05:
                client.post("/search", json={"query": "a gift for a dad who hikes", "k": 10})
            time.sleep(1.0 / rate)


def first_loads(browser, url: str, runs: int) -> list[float]:
    """Milliseconds from navigation start to the overview's data-ready mark, cold each time."""
    out = []
    for _ in range(runs):
        context = browser.new_context(viewport=LAPTOP)
        page = context.new_page()
        page.goto(url + "/dashboard/#/overview")
        page.wait_for_selector("body[data-ready='overview']")
        out.append(page.evaluate("window.shelflmReadyAt ?? performance.now()"))
        context.close()
    return out


def screenshots(browser, url: str, out: Path) -> list[str]:
    """Every page on a laptop screen, and the overview and shopper pages on a phone."""
    events = pd.read_parquet(SHOP / "data" / "interactions.parquet")
    user, item = str(events["user_id"].iloc[0]), str(events["item_id"].iloc[0])
    pages = [("overview", "#/overview"), ("catalog", "#/catalog?q=hiking%20backpack"),
             ("item", f"#/item/{item}"), ("shopper", f"#/shopper/{user}"),
             ("model", "#/model"), ("ops", "#/ops")]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for screen, viewport, wanted in (("laptop", LAPTOP, None), ("phone", PHONE,
                                                                {"overview", "shopper"})):
        context = browser.new_context(viewport=viewport, device_scale_factor=1)
        page = context.new_page()
        page.goto(url + "/dashboard/")
        page.fill("#api-key", KEY)  # the shopper page then shows the risk score too
        page.click("#save-key")
        for name, route in pages:
            if wanted and name not in wanted:
                continue
            page.goto(f"{url}/dashboard/{route}")
            page.wait_for_selector(f"body[data-ready='{name}']")
            if name == "model":
                page.click("#compare-button")
                page.wait_for_selector("#compare-result table")
            page.evaluate("window.scrollTo(0, 0)")  # a sticky header drawn mid-page otherwise
            page.wait_for_timeout(500)  # charts settle
            path = out / (f"{name}.png" if screen == "laptop" else f"{name}-phone.png")
            page.screenshot(path=str(path), full_page=True)
            written.append(str(path.relative_to(ROOT)))
        context.close()
    return written


def shots(args: argparse.Namespace) -> None:
    build_shop()
    shutil.rmtree(SHOP / "refresh.json", ignore_errors=True)
    proc = serve(args.port)
    url = f"http://127.0.0.1:{args.port}"
    try:
        traffic(url, args.traffic)
        stop = threading.Event()
        worker = threading.Thread(target=traffic, args=(url, 1e9, 40.0, stop), daemon=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            loads = first_loads(browser, url, args.runs)  # a quiet server first
            worker.start()  # then screenshots with the shop's traffic going on
            written = screenshots(browser, url, ROOT / "docs" / "dashboard")
            browser.close()
        stop.set()
        worker.join(10)
    finally:
        proc.terminate()
        proc.wait(30)
    result = {"first_load_ms": {"median": round(statistics.median(loads), 1),
                                "max": round(max(loads), 1), "runs": [round(x) for x in loads]},
              "screenshots": written}
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


def watch(args: argparse.Namespace) -> None:
    """Keep the overview open (it polls every 5 s) for `--seconds`."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_context(viewport=LAPTOP).new_page()
        page.goto(args.url + "/dashboard/#/overview")
        page.wait_for_selector("body[data-ready='overview']")
        print("dashboard open", flush=True)
        page.wait_for_timeout(args.seconds * 1000)
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("shots", help="screenshots and first-load times on the demo shop")
    s.add_argument("--runs", type=int, default=10)
    s.add_argument("--traffic", type=float, default=90.0, help="seconds of shop traffic first")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--out", type=Path, help="write the results as JSON here")
    w = sub.add_parser("watch", help="keep one dashboard open")
    w.add_argument("url")
    w.add_argument("--seconds", type=float, default=600.0)
    args = ap.parse_args()
    shots(args) if args.command == "shots" else watch(args)


if __name__ == "__main__":
    main()
