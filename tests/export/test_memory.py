"""Memory stays flat: exporting 300,000 samples peaks within a fixed bound of exporting
1,000, each measured as the peak RSS of a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from dashboard.storage import store_batch
from nemopi.wire import MAX_SAMPLES, Batch, ClockSource, Sample, Value
from tests.export.conftest import T0, ms

LARGE = 300_000
SMALL = 1_000
MAX_GROWTH_MB = 20.0


def generated(seq: int) -> Sample:
    values = {"water_temperature": Value(26 + seq % 1000 / 1000), "ph": Value(8 + seq % 7 / 100)}
    return Sample(seq, ms(T0) + seq * 60_000, ClockSource.GPS, values)


def probe(url: str, rows: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.export.memory_probe", url, str(rows)],
        capture_output=True,
        text=True,
        check=True,
        timeout=240,
    )
    figures: dict[str, float] = json.loads(done.stdout)
    assert figures["status"] == 200
    return figures


@pytest.mark.slow
@pytest.mark.timeout(900)  # generating and exporting 300,000 samples twice on a busy machine
def test_peak_memory_does_not_grow_with_the_export(sqlite_engine: Engine, sqlite_url: str) -> None:
    with sqlite_engine.begin() as conn:
        for first in range(0, LARGE, MAX_SAMPLES):
            samples = tuple(generated(seq) for seq in range(first, first + MAX_SAMPLES))
            store_batch(conn, Batch("reef-01", samples), datetime(2026, 6, 1, tzinfo=UTC))
    small = probe(sqlite_url, SMALL)
    large = probe(sqlite_url, LARGE)
    assert large["bytes"] > 200 * small["bytes"]  # the large export really was large
    assert large["peak_rss_mb"] - small["peak_rss_mb"] < MAX_GROWTH_MB, (small, large)
