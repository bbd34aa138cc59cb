"""A known series for the QC tests: a day of one-minute samples with a spike, a flat line, an
out-of-range value, a warming-up value, a missing value, a position 5 km off the mooring and
an unsynced sample, plus the QC configuration the tests run it with."""

from __future__ import annotations

import math
from pathlib import Path

from dashboard.qc.config import QcConfig, load_qc_config
from dashboard.qc.rules import Mooring
from nemopi.sensor_status import SensorStatus
from nemopi.wire import Batch, ClockSource, Sample, Value

BUOY = "reef-01"
START_MS = 1_780_000_000_000
STEP_MS = 60_000
COUNT = 240
MOORING = Mooring(-16.5, 145.8, 300.0)
KM5_NORTH_DEG = 5000.0 / 111_320.0  # 5 km of latitude

SPIKE = 40
FLAT = range(100, 170)  # 70 minutes without change
OUT_OF_RANGE = 60
WARMING_UP = 5
NO_VALUE = 80
OFF_MOORING = 120
UNSYNCED = 200

QC_TOML = """
max_gap_s = 600.0

[quantities.water_temperature]
gross_range_suspect = [20.0, 32.0]
spike_suspect = 0.5
spike_fail = 2.0
rate_of_change_suspect = 0.01
rate_of_change_fail = 0.05
flat_line_tolerance = 0.0005
flat_line_suspect_s = 1800.0
flat_line_fail_s = 3600.0

[quantities.ph]
gross_range_suspect = [7.6, 8.4]
"""


def qc_config(tmp_path: Path, text: str = QC_TOML) -> QcConfig:
    path = tmp_path / "qc.toml"
    path.write_text(text, encoding="utf-8")
    return load_qc_config(path)


def temperature(seq: int) -> float:
    if seq == SPIKE:
        return 29.0
    if seq in FLAT:
        return 26.5
    return round(26.0 + 0.3 * math.sin(seq / 15), 3)


def known_sample(seq: int) -> Sample:
    ph = Value(14.5 if seq == OUT_OF_RANGE else round(8.05 + 0.001 * (seq % 7), 3))
    if seq == WARMING_UP:
        ph = Value(8.1, SensorStatus.WARMING_UP)
    if seq == NO_VALUE:
        ph = Value(None, SensorStatus.UNREACHABLE)
    north = KM5_NORTH_DEG if seq == OFF_MOORING else 0.0001 * (seq % 5)
    values = {
        "water_temperature": Value(temperature(seq)),
        "ph": ph,
        "latitude": Value(round(MOORING.latitude + north, 7)),
        "longitude": Value(round(MOORING.longitude + 0.0001 * (seq % 3), 7)),
    }
    if seq == UNSYNCED:
        return Sample(seq, 5_000 + seq, ClockSource.UNSYNCED, values, boot=2)
    return Sample(seq, START_MS + seq * STEP_MS, ClockSource.GPS, values)


def known_samples() -> list[Sample]:
    return [known_sample(seq) for seq in range(COUNT)]


def batches(samples: list[Sample], size: int) -> list[Batch]:
    return [Batch(BUOY, tuple(samples[i : i + size])) for i in range(0, len(samples), size)]
