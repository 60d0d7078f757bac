"""The dashboard as a shop owner uses it: Debian's Chromium, headless, driven by Playwright,
against `shelflm serve` on loopback serving a demo shop's artifact. Every page loads with no
console error on a laptop and a phone screen, search finds items, the simulator's event
changes the recommendations, and admin actions are refused without the key.

Skipped when Chromium is not installed (`apt-get install chromium`; .ci/run does it), unless
SHELFLM_REQUIRE_BROWSER is set (CI), where a missing browser fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from loopback import free_port, wait_ready
from shelflm.cli import app

pytestmark = pytest.mark.slow
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KEY = "dashboard-test-key"
PAGES = {"overview": "#/overview", "catalog": "#/catalog?q=hiking%20backpack", "item": None,
         "shopper": None, "model": "#/model", "ops": "#/ops"}
SCREENS = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

if not CHROMIUM.exists():
    if os.environ.get("SHELFLM_REQUIRE_BROWSER"):
        raise RuntimeError(f"SHELFLM_REQUIRE_BROWSER is set but {CHROMIUM} is missing: "
                           "apt-get install chromium")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


class Site:
    """`shelflm serve` on a demo shop's artifact (and a second version beside it)."""

    def __init__(self, out: Path) -> None:
        self.out, self.port = out, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shelflm.commands.serve", str(out / "artifact"),
             "--port", str(self.port), "--api-key", KEY], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_ready(self.proc, self.url, 120)

    def ids(self) -> tuple[str, str]:
        """A user with events and an item of the demo shop."""
        events = pd.read_parquet(self.out / "data" / "interactions.parquet")
        return str(events["user_id"].iloc[0]), str(events["item_id"].iloc[0])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    out = tmp_path_factory.mktemp("dashboard") / "demo"
    result = CliRunner().invoke(app, ["demo", "--users", "60", "--items", "40", "--epochs", "2",
                                      "--no-serve", "--no-compare", "--out", str(out)])
    assert result.exit_code == 0, result.output
    shutil.copytree(out / "artifact", out / "v2")  # a second version to reload and compare
    served = Site(out)
    yield served
    served.proc.terminate()
    served.proc.wait(30)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


def _page(browser, screen: str = "laptop"):
    """A fresh page that records console errors and uncaught exceptions in `page.errors`."""
    page = browser.new_context(viewport=SCREENS[screen]).new_page()
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(f"uncaught: {e}"))
    return page


def _open(page, site: Site, route: str, ready: str) -> None:
    page.goto(f"{site.url}/dashboard/{route}")
    page.wait_for_selector(f"body[data-ready='{ready}']", timeout=20_000)


def _set_key(page, key: str) -> None:
    page.fill("#api-key", key)
    page.click("#save-key")


@pytest.mark.parametrize("screen", list(SCREENS))
def test_every_page_loads_without_console_errors(browser, site: Site, screen: str) -> None:
    user, item = site.ids()
    page = _page(browser, screen)
    for name, route in PAGES.items():
        route = route or (f"#/item/{item}" if name == "item" else f"#/shopper/{user}")
        _open(page, site, route, name)
        assert page.errors == [], f"{name} on the {screen}: {page.errors}"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= SCREENS[screen]["width"] + 1, f"{name} scrolls sideways on the {screen}"
    page.context.close()


def test_overview_shows_the_shop_and_live_charts(browser, site: Site) -> None:
    page = _page(browser)
    _open(page, site, "#/overview", "overview")
    assert page.inner_text("[data-testid=stat-items]").replace(",", "").find("40") >= 0
    assert page.locator(".uplot").count() >= 4  # the four charts are drawn
    page.context.close()


def test_search_returns_items_and_an_item_page_opens(browser, site: Site) -> None:
    page = _page(browser)
    _open(page, site, "#/catalog", "catalog")
    page.fill("#search-input", "a gift for someone who likes the outdoors")
    page.click("#search-button")
    page.wait_for_selector("[data-testid=result]")
    assert page.locator("[data-testid=result]").count() >= 5
    page.locator("[data-testid=result] a").first.click()
    page.wait_for_selector("body[data-ready='item']")
    assert page.locator("#similar-items a").count() >= 1 and page.errors == []
    page.context.close()


def test_the_simulator_changes_the_recommendations(browser, site: Site) -> None:
    page = _page(browser)
    _open(page, site, "#/overview", "overview")
    _set_key(page, KEY)
    user = f"simulated-{time.time_ns()}"  # no events yet: popular items
    _open(page, site, f"#/shopper/{user}", "shopper")
    before = page.locator("[data-testid=rec]").evaluate_all(
        "rows => rows.map(r => r.dataset.itemId)")
    _, item = site.ids()
    page.fill("#sim-item", item)
    page.select_option("#sim-event", "purchase")
    page.click("#sim-send")
    page.wait_for_selector("body[data-simulated]")
    after = page.locator("[data-testid=rec]").evaluate_all(
        "rows => rows.map(r => r.dataset.itemId)")
    assert after != before and item not in after  # a purchase is not recommended again
    assert re.search(r"\d+ of \d+", page.inner_text("#sim-status"))
    assert page.locator("#timeline").inner_text().count(item) >= 1 and page.errors == []
    page.context.close()


def test_admin_actions_are_refused_without_the_key(browser, site: Site) -> None:
    page = _page(browser)
    _open(page, site, "#/ops", "ops")
    page.click("[data-testid=reload-v2]")
    page.click("#confirm-yes")
    page.wait_for_selector("#ops-status:has-text('refused')")
    _, item = site.ids()
    _open(page, site, "#/shopper/someone", "shopper")
    page.fill("#sim-item", item)
    page.click("#sim-send")
    page.wait_for_selector("#sim-status:has-text('refused')")
    served = httpx.get(f"{site.url}/model").json()["artifact_dir"]
    assert served.endswith("artifact")  # nothing was reloaded
    page.context.close()


def test_reload_and_rollback_with_the_key(browser, site: Site) -> None:
    page = _page(browser)
    _open(page, site, "#/ops", "ops")
    _set_key(page, KEY)
    page.click("[data-testid=reload-v2]")
    page.click("#confirm-yes")
    page.wait_for_selector("#ops-status:has-text('now serving')")
    assert httpx.get(f"{site.url}/model").json()["artifact_dir"].endswith("v2")
    page.wait_for_selector("#rollback-button:not([disabled])")
    page.click("#rollback-button")
    page.click("#confirm-yes")
    page.wait_for_selector("#ops-status:has-text('reload #2')")
    assert httpx.get(f"{site.url}/model").json()["artifact_dir"].endswith("artifact")
    assert page.errors == []
    page.context.close()
