"""The dive shops' report page and the live pages' lost-connection banner, in headless Chromium
at phone size: taps on a wet phone need big targets, and a page that can no longer reach the
server must say so before anyone trusts its verdicts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from dashboard.shops import add_shop
from tests.browser.conftest import Site, Tab
from tests.browser.seeded_reefs import REEFS

pytestmark = pytest.mark.slow

MIN_TAP_PX = 44  # WCAG 2.2's enhanced target size, and Apple's guideline


def test_report_buttons_are_big_enough_to_tap_and_a_tap_is_confirmed(
    phone: Tab, own_site: Site
) -> None:
    with own_site.engine.begin() as conn:
        token = add_shop(conn, "Blue Lagoon Divers", datetime.now(UTC))
    page = phone.page
    page.goto(f"{own_site.url}/shop/{token}")
    buttons = page.locator(".report-form .choices button")
    expect(buttons.first).to_be_visible()
    assert buttons.count() >= len(REEFS)
    for button in buttons.all():
        box = button.bounding_box()
        assert box is not None
        assert box["width"] >= MIN_TAP_PX and box["height"] >= MIN_TAP_PX, box
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360, "wider than the phone"
    buttons.first.tap()
    stored = page.locator(".flash-stored")
    expect(stored).to_contain_text("Thank you")
    assert stored.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    phone.screenshot("report-phone")
    page.locator(".report-form .choices button").first.tap()
    expect(page.locator(".flash-repeated")).to_contain_text("nothing was changed")
    assert phone.errors == []


def test_a_page_that_cannot_reach_the_server_says_so_on_its_first_screen(
    phone: Tab, site: Site
) -> None:
    page = phone.page
    page.goto(site.url)
    page.route("**/api/**", lambda route: route.abort())
    banner = page.locator("#connection-status.connection-lost")
    expect(banner).to_contain_text("unreachable")
    box = banner.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 740
    colours = banner.evaluate(
        "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
    )
    assert colours == ["rgb(255, 255, 255)", "rgb(179, 38, 30)"]  # white on red
    phone.screenshot("connection-lost-phone")
    page.unroute("**/api/**")
    expect(banner).to_have_count(0)
