"""Batches and statuses for tests, with values each test can predict."""

from __future__ import annotations

from datetime import UTC, datetime

from nemopi.wire import Batch, ClockSource, Sample, Status, Value

BASE_MS = 1_780_000_000_000  # 2026-05-28, a synced UTC time
NOW = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # "now" for tests that fix the clock


def sample(seq: int, time_ms: int | None = None, **values: float) -> Sample:
    """A GPS-timed sample whose values default to ones derived from ``seq``."""
    readings = values or {"water_temperature": 25 + seq / 1000, "ph": 8 + seq / 1000}
    return Sample(
        seq=seq,
        time_ms=BASE_MS + seq * 60_000 if time_ms is None else time_ms,
        clock=ClockSource.GPS,
        values={name: Value(v) for name, v in readings.items()},
        config_version=3,
        calibration_version=7,
    )


def batch(buoy: str, seqs: range | list[int]) -> Batch:
    return Batch(buoy, tuple(sample(s) for s in seqs))


def status(buoy: str, online: bool, as_of: datetime | None = None) -> Status:
    when = as_of or datetime.now(UTC)
    ms = int(when.timestamp() * 1000)
    return Status(buoy, online, ms, valid_until_ms=ms + 3_600_000, next_report_ms=ms + 600_000)
