"""What QC costs per reading: a 10,000-sample backlog batch of every measured quantity, flagged
on SQLite. The ingest's target is 50,000 readings/s with QC on, so QC alone must be well above
that; this prints the rate and how it compares.

Run: PYTHONPATH=. .venv/bin/python bench/qc_cost.py [--samples N]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from dashboard.db import make_engine, upgrade_database
from dashboard.qc.config import load_qc_config
from dashboard.qc.runner import QcRunner
from dashboard.storage import store_batch
from nemopi.catalogue import measured
from nemopi.wire import Batch, ClockSource, Sample, Value

INGEST_TARGET_READINGS_PER_S = 50_000


def busy_sample(seq: int) -> Sample:
    """Every measured quantity, slowly wobbling around the middle of its range."""
    values = {}
    for quantity in measured():
        middle = (quantity.valid_min + quantity.valid_max) / 2
        span = quantity.valid_max - quantity.valid_min
        wobble = span * 0.001 * math.sin(seq / 20 + quantity.code)
        values[quantity.name] = Value(round(middle + wobble, quantity.decimals))
    return Sample(seq, 1_780_000_000_000 + seq * 60_000, ClockSource.GPS, values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10_000)
    samples = parser.parse_args().samples
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'qc.sqlite3'}"
        upgrade_database(url)
        engine = make_engine(url)
        batch = Batch("reef-01", tuple(busy_sample(seq) for seq in range(samples)))
        with engine.begin() as conn:
            result = store_batch(conn, batch, datetime.now(UTC))
        readings = samples * len(measured())
        runner = QcRunner(engine, load_qc_config(None))
        started = time.perf_counter()
        runner.after_commit([result])
        elapsed = time.perf_counter() - started
        engine.dispose()
    rate = readings / elapsed
    print(f"QC alone: {readings:,} readings in {elapsed:.2f} s = {rate:,.0f} readings/s")
    print(f"  {rate / INGEST_TARGET_READINGS_PER_S:.1f}x the ingest's target rate with QC on")


if __name__ == "__main__":
    main()
