"""What QC costs per reading: a 10,000-sample backlog batch of every measured quantity, flagged
on SQLite. The ingest's target is 50,000 readings/s with QC on, so QC alone must be faster."""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from dashboard.qc.config import load_qc_config
from dashboard.qc.runner import QcRunner
from dashboard.storage import store_batch
from nemopi.catalogue import measured
from nemopi.wire import Batch, ClockSource, Sample, Value

log = logging.getLogger(__name__)
SAMPLES = 10_000
QC_ALONE_MIN_READINGS_PER_S = 100_000  # twice the ingest target, leaving half for storing


def busy_sample(seq: int) -> Sample:
    values = {}
    for quantity in measured():
        middle = (quantity.valid_min + quantity.valid_max) / 2
        wobble = (
            (quantity.valid_max - quantity.valid_min) * 0.001 * math.sin(seq / 20 + quantity.code)
        )
        values[quantity.name] = Value(round(middle + wobble, quantity.decimals))
    return Sample(seq, 1_780_000_000_000 + seq * 60_000, ClockSource.GPS, values)


@pytest.mark.slow
def test_qc_of_a_10000_sample_batch_keeps_up_with_the_ingest(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    batch = Batch("reef-01", tuple(busy_sample(seq) for seq in range(SAMPLES)))
    with sqlite_engine.begin() as conn:
        result = store_batch(conn, batch, datetime.now(UTC))
    readings = SAMPLES * len(measured())
    runner = QcRunner(sqlite_engine, load_qc_config(None))
    started = time.perf_counter()
    runner.after_commit([result])
    elapsed = time.perf_counter() - started
    rate = readings / elapsed
    with caplog.at_level(logging.INFO):
        log.info("QC alone: %d readings in %.2f s = %.0f readings/s", readings, elapsed, rate)
    assert "QC failed" not in caplog.text
    assert rate >= QC_ALONE_MIN_READINGS_PER_S, f"{rate:.0f} readings/s"
