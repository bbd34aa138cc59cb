"""A reef page in headless Chromium at phone size: current values, heat stress, and charts that
mark suspect and left-out buckets, switch windows and follow new readings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from dashboard.display import value_text
from tests.browser.conftest import Site, Tab, api
from tests.browser.seeded_reefs import FIRST, REEFS, TEMPERATURE, next_seq, store_reading

pytestmark = pytest.mark.slow

CHART = f'figure.chart[data-quantity="{TEMPERATURE.name}"]'


def test_reef_page_shows_verdict_values_heat_stress_and_charts(phone: Tab, site: Site) -> None:
    page = phone.page
    page.goto(f"{site.url}/reefs/{FIRST.id}")
    expect(page.locator(f"#reef-{FIRST.id} .verdict-word")).to_have_text(FIRST.word)
    latest = api(site, f"/api/reefs/{FIRST.id}")["latest"]
    assert {v["quantity"] for v in latest} >= set(FIRST.values)
    for value in latest:
        row = page.locator(f'table.values tr[data-quantity="{value["quantity"]}"]')
        expect(row.locator(".value")).to_have_text(f"{value['text']}\u00a0{value['unit']}")
        expect(row.locator(".qc")).to_have_text(value["qc"])
    expect(page.locator("#heat-stress")).to_contain_text("Degree Heating Weeks")
    chart = page.locator(CHART)
    chart.scroll_into_view_if_needed()
    expect(chart.locator("canvas")).to_have_count(1)
    expect(chart.locator(".chart-legend")).to_contain_text("suspect values: 1 bucket.")
    expect(chart.locator(".chart-legend")).to_contain_text(
        "left out (QC failed or missing): 1 bucket."
    )
    expect(chart.locator(".chart-legend")).to_contain_text("Asia/Makassar (UTC+08:00)")
    expect(chart.locator('button[data-window="24h"]')).to_have_attribute("aria-pressed", "true")
    phone.screenshot("reef-phone")
    assert phone.errors == []


def test_chart_window_buttons_redraw_the_chart(phone: Tab, site: Site) -> None:
    page = phone.page
    page.goto(f"{site.url}/reefs/{FIRST.id}")
    chart = page.locator(CHART)
    chart.scroll_into_view_if_needed()
    expect(chart.locator("canvas")).to_have_count(1)
    with page.expect_response(lambda r: "window=7d" in r.url and r.status == 200):
        chart.locator('button[data-window="7d"]').click()
    expect(chart.locator('button[data-window="7d"]')).to_have_attribute("aria-pressed", "true")
    expect(chart.locator('button[data-window="24h"]')).to_have_attribute("aria-pressed", "false")
    expect(chart.locator(".chart-legend")).to_contain_text("mean per hour")
    expect(chart.locator("canvas")).to_have_count(1)
    assert phone.errors == []


def test_reef_page_follows_a_new_reading_without_reload(phone: Tab, site: Site) -> None:
    reef = REEFS[1]
    page = phone.page
    page.goto(f"{site.url}/reefs/{reef.id}")
    page.locator(CHART).scroll_into_view_if_needed()
    expect(page.locator(f"{CHART} canvas")).to_have_count(1)
    page.evaluate("window.notReloaded = true")
    value = 30.5
    with page.expect_response(lambda r: f"quantity={TEMPERATURE.name}&window=24h" in r.url):
        store_reading(site.engine, reef, next_seq(reef), datetime.now(UTC), water_temperature=value)
    row = page.locator(f'table.values tr[data-quantity="{TEMPERATURE.name}"]')
    expect(row.locator(".value")).to_contain_text(value_text(value, TEMPERATURE.decimals))
    assert page.evaluate("window.notReloaded") is True
    assert phone.errors == []
