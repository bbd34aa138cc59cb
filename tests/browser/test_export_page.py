"""The export page in Chromium at phone size: the estimate before the download, the download
streamed and saved, and the plain form without JavaScript, on the browser tests' seeded reefs."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Site, Tab, api
from tests.browser.seeded_reefs import FIRST

pytestmark = pytest.mark.slow

ESTIMATED = re.compile(r"([\d,]+) rows, about [\d.]+ (bytes|kB|MB)")


def download(page: Page, folder: Path) -> Path:
    """Press Download and save the file the browser receives, under the server's name."""
    with page.expect_download() as found:
        page.get_by_role("button", name="Download").click()
    saved = folder / found.value.suggested_filename
    found.value.save_as(saved)
    return saved


def test_the_page_estimates_then_downloads_a_csv_pandas_reads(
    phone: Tab,
    site: Site,
    tmp_path: Path,
) -> None:
    page = phone.page
    page.goto(f"{site.url}/export")
    page.get_by_label(FIRST.name).check()
    estimate = page.locator("#export-estimate")
    expect(estimate).to_have_text(ESTIMATED)
    expected = api(site, f"/api/export/estimate?buoy={FIRST.id}")["rows"]
    expect(estimate).to_contain_text(f"{expected:,} rows")
    saved = download(page, tmp_path)
    expect(page.locator("#export-progress-text")).to_contain_text(f"Done: {expected:,} rows")
    frame = pd.read_csv(saved)
    assert len(frame) == expected > 0
    assert set(frame["buoy_id"]) == {FIRST.id}
    assert frame["water_temperature_degree_Celsius"].dtype == "float64"
    assert frame["time"].str.endswith("Z").all()
    assert phone.errors == []


def test_a_refused_request_is_explained_before_anything_starts(
    phone: Tab,
    site: Site,
) -> None:
    page = phone.page
    page.goto(f"{site.url}/export")
    page.get_by_label("From (inclusive)").fill("2026-06-02T00:00:00")
    page.get_by_label("Until (exclusive)").fill("2026-06-01T00:00:00")
    expect(page.locator("#export-estimate")).to_contain_text("end: must be after start")
    expect(page.get_by_role("button", name="Download")).to_be_disabled()


def test_without_javascript_the_form_still_downloads(
    phone_without_js: Tab,
    site: Site,
    tmp_path: Path,
) -> None:
    page = phone_without_js.page
    page.goto(f"{site.url}/export")
    page.get_by_label(FIRST.name).check()
    frame = pd.read_csv(download(page, tmp_path))
    assert len(frame) == api(site, f"/api/export/estimate?buoy={FIRST.id}")["rows"]
