"""Fixtures for the browser tests: the dashboard served by waitress over a seeded database, and
Debian's Chromium driven by Playwright at phone size.

One server and one browser serve the whole folder (starting Chromium takes a second); each
test gets its own browser context, so no cache, cookie or script state leaks between tests.
The map's tile server is a local port that refuses connections: there is no internet here, and
the overview must stay usable when tiles cannot load.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from sqlalchemy import Engine

from dashboard import webcontext
from dashboard.app import create_app
from dashboard.db import make_engine, upgrade_database
from tests.brokers import free_port
from tests.browser import seeded_reefs
from tests.served import served

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


@dataclass
class Tab:
    """A page and every console error or uncaught exception it had, except failed map tiles
    (the tile server is down on purpose)."""

    page: Page
    tile_origin: str
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = str(message.location.get("url", ""))
        if where.startswith(self.tile_origin):
            return
        self.errors.append(f"console error: {message.text} ({where})")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=path)
        return path


def api(site: Site, path: str) -> dict[str, Any]:
    """What the page's script reads, for comparing the page with it."""
    with urllib.request.urlopen(f"{site.url}{path}") as response:
        data: dict[str, Any] = json.load(response)
    return data


@pytest.fixture(scope="session")
def tile_origin() -> str:
    """http://127.0.0.1:<port> of a port nothing listens on (bound, then released)."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass(frozen=True)
class Site:
    """A served dashboard: its address and a writable engine on its database."""

    url: str
    engine: Engine


def _web_config(url: str, tile_origin: str | None) -> dict[str, Any]:
    tiles = "" if tile_origin is None else f"{tile_origin}/{{z}}/{{x}}/{{y}}.png"
    return {
        "database": {"url": url},
        "poll_s": 1,
        "ingest_silent_after_s": 3600,
        "map": {"tiles": tiles, "attribution": "Test tiles"},
        "heat_stress": {"sites": [{"buoy": seeded_reefs.FIRST.id, "mmm_c": seeded_reefs.MMM_C}]},
    }


@contextmanager
def _served_site(folder: Path, tile_origin: str | None) -> Iterator[Site]:
    """A database filled by ``seeded_reefs.fill`` and the dashboard on it, served by waitress
    in a thread on a free port; its map takes tiles from ``tile_origin``, or none."""
    url = f"sqlite:///{folder / 'nemopi.sqlite3'}"
    upgrade_database(url)
    engine = make_engine(url)
    seeded_reefs.fill(engine, datetime.now(UTC).replace(microsecond=0))
    app = create_app(_web_config(url, tile_origin))
    try:
        with served(app) as base_url:
            yield Site(base_url, engine)
    finally:
        webcontext.engine(app).dispose()
        engine.dispose()


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, tile_origin: str) -> Iterator[Site]:
    """The seeded dashboard the tests share: they may add readings, never change a verdict."""
    with _served_site(tmp_path_factory.mktemp("site"), tile_origin) as served:
        yield served


@pytest.fixture
def own_site(tmp_path: Path, tile_origin: str) -> Iterator[Site]:
    """A seeded dashboard of the test's own, for tests that change verdicts or reefs."""
    with _served_site(tmp_path, tile_origin) as served:
        yield served


@pytest.fixture
def site_without_tiles(tmp_path: Path) -> Iterator[Site]:
    """A seeded dashboard whose map has no tile server configured."""
    with _served_site(tmp_path, None) as served:
        yield served


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _tab(browser: Browser, tile_origin: str, **context: Any) -> Iterator[Tab]:
    ctx = browser.new_context(**context)
    try:
        yield Tab(ctx.new_page(), tile_origin)
    finally:
        ctx.close()


@pytest.fixture
def phone(browser: Browser, tile_origin: str) -> Iterator[Tab]:
    """A fresh page at 360 x 740 CSS pixels, a phone's touch screen at device scale 2."""
    yield from _tab(browser, tile_origin, **PHONE)


@pytest.fixture
def phone_without_js(browser: Browser, tile_origin: str) -> Iterator[Tab]:
    yield from _tab(browser, tile_origin, java_script_enabled=False, **PHONE)
