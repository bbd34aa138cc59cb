"""The overview in headless Chromium at phone size: verdicts first, live without a reload, a
map that loads only when scrolled to and survives a dead tile server, and a small first view."""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from dashboard.display import age_text, value_text
from tests.browser.conftest import Site, Tab, api
from tests.browser.seeded_reefs import (
    FIRST,
    REEFS,
    TEMPERATURE,
    SeededReef,
    add_reef,
    next_seq,
    store_reading,
)

pytestmark = pytest.mark.slow

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "overview-phone.png"
FIRST_VIEW_BUDGET = 32 * 1024  # bytes; docs/frontend.md states it
LEAFLET = "/static/vendor/leaflet-"
figures = logging.getLogger("tests.figures")


def test_overview_at_phone_size_shows_each_verdict_and_reasons_first(
    phone: Tab, site: Site
) -> None:
    page = phone.page
    page.goto(site.url)
    cards = page.locator("#reefs > li.reef")
    expect(cards).to_have_count(len(REEFS))
    assert [card.get_attribute("data-reef") for card in cards.all()] == [r.id for r in REEFS]
    for reef, expected in zip(REEFS, api(site, "/api/overview")["reefs"], strict=True):
        card = page.locator(f"#reef-{reef.id}")
        expect(card.locator(".verdict-word")).to_have_text(reef.word)
        reasons = [" ".join(t.split()) for t in card.locator("li.reason").all_inner_texts()]
        assert len(reasons) == len(expected["verdict"]["reasons"])
        for shown, reason in zip(reasons, expected["verdict"]["reasons"], strict=True):
            assert shown.startswith(reason["text"])
    first = page.locator(f"#reef-{FIRST.id}")
    for part in (first.locator("p.verdict"), first.locator("ul.reasons")):
        box = part.bounding_box()
        assert box is not None
        assert box["y"] >= 0 and box["y"] + box["height"] <= 740, "not visible without scrolling"
    path = phone.screenshot("overview-phone")
    if os.environ.get("NEMOPI_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOT)
    assert phone.errors == []


def test_first_view_transfers_little_and_leaves_the_map_library_for_later(
    phone: Tab, site: Site, record_property: Callable[[str, object], None]
) -> None:
    """The page, its style sheets and scripts as transferred (gzip), before any scrolling."""
    page = phone.page
    page.goto(site.url, wait_until="load")
    sizes: list[dict[str, Any]] = page.evaluate(
        """() => performance.getEntriesByType("navigation").concat(
                   performance.getEntriesByType("resource"))
               .map((e) => ({url: e.name, bytes: e.encodedBodySize}))"""
    )
    total = sum(entry["bytes"] for entry in sizes)
    for entry in sizes:
        figures.info("first view: %7d B  %s", entry["bytes"], entry["url"])
    record_property("overview first view at 360x740 (bytes, gzip)", total)
    figures.info("overview first view at 360x740: %d B (budget %d B)", total, FIRST_VIEW_BUDGET)
    assert not any(LEAFLET in entry["url"] for entry in sizes), "map loaded before scrolling"
    assert 0 < total <= FIRST_VIEW_BUDGET
    assert phone.errors == []


def test_map_loads_when_scrolled_to_and_shows_every_reef_without_tiles(
    phone: Tab, site: Site
) -> None:
    page = phone.page
    page.goto(site.url)
    page.locator("#map").scroll_into_view_if_needed()
    markers = page.locator("#map .reef-marker")
    expect(markers).to_have_count(len(REEFS))
    assert sorted(markers.all_inner_texts()) == sorted(r.word for r in REEFS)
    for reef in api(site, "/api/overview")["reefs"]:
        verdict = reef["verdict"]
        marker = page.locator(f"#map .reef-marker.verdict-{verdict['level']}")
        expect(marker.locator(f".shape-{verdict['shape']}")).to_have_count(1)
        expect(marker).to_have_text(verdict["word"])
    expect(page.locator(".map-note")).to_contain_text("plain background")
    phone.screenshot("overview-map-phone")
    page.locator(f"#map .reef-marker.verdict-{REEFS[1].word.lower()}").click()
    page.wait_for_url(f"**/reefs/{REEFS[1].id}")
    assert phone.errors == []


def test_map_without_a_tile_server_shows_the_markers_and_says_why(
    phone: Tab, site_without_tiles: Site
) -> None:
    page = phone.page
    page.goto(site_without_tiles.url)
    page.locator("#map").scroll_into_view_if_needed()
    expect(page.locator("#map .reef-marker")).to_have_count(len(REEFS))
    expect(page.locator(".map-note")).to_have_text(
        "No map tiles configured: the buoys are shown on a plain background."
    )
    assert page.locator("#map img.leaflet-tile").count() == 0
    assert phone.errors == []


def test_a_reading_stored_during_the_visit_appears_without_reload(phone: Tab, site: Site) -> None:
    page = phone.page
    page.goto(site.url)
    page.evaluate("window.notReloaded = true")
    value = 29.75
    store_reading(site.engine, FIRST, next_seq(FIRST), datetime.now(UTC), water_temperature=value)
    shown = page.locator(f'#reef-{FIRST.id} [data-quantity="{TEMPERATURE.name}"] .value')
    expect(shown).to_contain_text(value_text(value, TEMPERATURE.decimals), timeout=10_000)
    expect(shown.locator("xpath=..").locator("time.age")).to_have_text("just now")
    assert page.evaluate("window.notReloaded") is True
    assert phone.errors == []


HARBOUR = SeededReef.of(("harbour", "Harbour Reef", "Caution", -8.33, 116.1, 1, 0.5, 28, 0.3, 0.8))


def test_list_follows_changed_verdicts_and_new_reefs_in_the_servers_order(
    phone: Tab, own_site: Site
) -> None:
    page = phone.page
    page.goto(own_site.url)
    expect(page.locator("#reefs > li.reef")).to_have_count(len(REEFS))
    page.evaluate("window.notReloaded = true")
    stale = REEFS[-1]
    now = datetime.now(UTC)
    store_reading(own_site.engine, stale, next_seq(stale), now, **stale.values)  # fresh: go
    add_reef(own_site.engine, HARBOUR, now)
    expected = ["north-wall", stale.id, "east-point", HARBOUR.id, "south-bay"]
    page.wait_for_function(
        "(ids) => [...document.querySelectorAll('#reefs > li')].map((li) => li.dataset.reef)"
        ".join() === ids.join()",
        arg=expected,
    )
    expect(page.locator(f"#reef-{stale.id} .verdict-word")).to_have_text("Go")
    expect(page.locator(f"#reef-{stale.id}")).to_have_class(re.compile(r"\bverdict-go\b"))
    new_card = page.locator(f"#reef-{HARBOUR.id}")
    expect(new_card.locator(".verdict-word")).to_have_text(HARBOUR.word)
    expect(new_card.locator("h2 a")).to_have_attribute("href", f"/reefs/{HARBOUR.id}")
    expect(new_card.locator("li.reason")).to_have_count(3)
    assert page.evaluate("window.notReloaded") is True
    assert phone.errors == []


def test_polls_ask_with_the_etag_and_get_an_empty_304_while_nothing_changes(
    phone: Tab, site: Site
) -> None:
    page = phone.page
    polls: list[tuple[int, str | None]] = []
    page.on(
        "response",
        lambda r: (
            polls.append((r.status, r.request.header_value("if-none-match")))
            if "/api/overview" in r.url
            else None
        ),
    )
    with page.expect_response(lambda r: "/api/overview" in r.url and r.status == 304):
        page.goto(site.url)
    assert polls[0] == (200, None)
    assert polls[-1][1] is not None
    assert phone.errors == []


def test_unreachable_dashboard_is_said_and_the_last_data_stays(phone: Tab, site: Site) -> None:
    page = phone.page
    page.goto(site.url)
    page.route("**/api/overview", lambda route: route.abort())
    banner = page.locator("#connection-status")
    expect(banner).to_contain_text("Dashboard unreachable since", timeout=10_000)
    expect(banner).to_contain_text("showing the last data received")
    expect(page.locator(f"#reef-{FIRST.id} .verdict-word")).to_have_text(FIRST.word)
    page.unroute("**/api/overview")
    expect(banner).to_have_count(0, timeout=10_000)
    failed_polls = [e for e in phone.errors if "/api/overview" in e]
    assert [e for e in phone.errors if e not in failed_polls] == []


def test_verdicts_without_javascript(phone_without_js: Tab, site: Site) -> None:
    page = phone_without_js.page
    page.goto(site.url)
    for reef in REEFS:
        expect(page.locator(f"#reef-{reef.id} .verdict-word")).to_have_text(reef.word)
    phone_without_js.screenshot("overview-phone-no-js")
    assert phone_without_js.errors == []


AGES = [
    timedelta(seconds=-120),
    timedelta(seconds=-30),
    timedelta(0),
    timedelta(seconds=59),
    timedelta(seconds=60),
    timedelta(minutes=59, seconds=59),
    timedelta(hours=1),
    timedelta(hours=47, minutes=59),
    timedelta(hours=48),
    timedelta(days=400),
]


def test_ages_are_worded_as_the_server_words_them(phone: Tab, site: Site) -> None:
    """The script rewrites every age each 30 s; it must say what the server said."""
    page = phone.page
    page.goto(site.url)
    now = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    words = page.evaluate(
        "([ages, now]) => ages.map((then) => window.nemopi.ageWords(then, now))",
        [[(now - age).timestamp() * 1000 for age in AGES], now.timestamp() * 1000],
    )
    assert words == [age_text(now - age, now) for age in AGES]
    assert page.evaluate("window.nemopi.ageWords(null, 0)") == age_text(None, now)
