"""Writes the golden wire-format vectors in tests/core/golden/ (run by hand, never by the tests).

Each vector is ``<name>.bin`` (the payload) and ``<name>.json`` (what it decodes to). Run
``python -m tests.core.make_golden`` only when the format is meant to change -- which for v1
is never: a changed vector is a new format version (docs/wire-format.md, "Versioning").
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from nemopi.sensor_status import SensorStatus
from nemopi.wire import (
    Batch,
    ClockSource,
    Command,
    CommandReply,
    Message,
    Sample,
    Status,
    StoredAck,
    Value,
    encode,
)
from tests.core.test_wire import GOLDEN_DIR, message_to_json

T0 = 1_772_344_800_000  # 2026-03-01T06:00:00Z
MINUTE = 60_000
BUOY = "reef-01"


def _hour_of_samples() -> Batch:
    """Sixty one-minute samples of every measured quantity: the vector that gets deflated."""
    samples = []
    for i in range(60):
        phase = 2 * math.pi * i / 60
        values = {
            "ph": Value(round(8.05 + 0.01 * math.sin(phase), 3)),
            "water_temperature": Value(round(27.4 + 0.3 * math.sin(phase), 3)),
            "turbidity": Value(round(1.2 + 0.1 * math.cos(phase), 2)),
            "xco2_equilibrated": Value(float(round(410 + 5 * math.sin(phase)))),
            "latitude": Value(round(-17.4731215 + 1e-6 * (i % 7), 7)),
            "longitude": Value(round(-149.8261044 + 1e-6 * (i % 5), 7)),
            "current_speed": Value(round(0.25 + 0.05 * math.sin(2 * phase), 3)),
            "current_direction": Value(round(110 + 10 * math.cos(phase), 1)),
            "battery_voltage": Value(round(12.6 + 0.05 * math.sin(phase), 3)),
            "battery_current": Value(round(0.8 * math.sin(phase), 3)),
            "solar_power": Value(round(max(0.0, 20 * math.sin(phase)), 2)),
            "cpu_temperature": Value(round(45 + 2 * math.sin(phase), 1)),
        }
        samples.append(Sample(1001 + i, T0 + i * MINUTE, ClockSource.NTP, values))
    return Batch(BUOY, tuple(samples))


VECTORS: dict[str, tuple[str, Message]] = {
    "data_worked_example": (
        "The worked example of docs/wire-format.md: an unsynced sample, then a GPS-timed one.",
        Batch(
            BUOY,
            (
                Sample(
                    17,
                    41_250,
                    ClockSource.UNSYNCED,
                    {"water_temperature": Value(27.5), "ph": Value(8.05)},
                    boot=3,
                ),
                Sample(
                    18,
                    T0,
                    ClockSource.GPS,
                    {"water_temperature": Value(27.493), "ph": Value(8.051)},
                ),
            ),
        ),
    ),
    "data_clock_sources": (
        "Every clock source; unsynced samples neither use nor move the UTC delta chain.",
        Batch(
            BUOY,
            (
                Sample(1, 5_000, ClockSource.UNSYNCED, {"battery_voltage": Value(12.48)}, boot=7),
                Sample(2, T0, ClockSource.BACKFILLED, {"battery_voltage": Value(12.481)}),
                Sample(3, 65_000, ClockSource.UNSYNCED, {"battery_voltage": Value(12.5)}, boot=7),
                Sample(4, T0 + MINUTE, ClockSource.NTP, {"battery_voltage": Value(12.502)}),
                Sample(5, T0 + 2 * MINUTE, ClockSource.GPS, {"battery_voltage": Value(12.499)}),
            ),
        ),
    ),
    "data_sensor_faults": (
        "Faults without a value, a flagged value, and OK values coded against the last value "
        "sent for their quantity (a fault without a value does not move that reference).",
        Batch(
            BUOY,
            (
                Sample(
                    40,
                    T0,
                    ClockSource.NTP,
                    {
                        "water_temperature": Value(None, SensorStatus.UNREACHABLE),
                        "ph": Value(7.912, SensorStatus.WARMING_UP),
                        "latitude": Value(None, SensorStatus.NO_FIX),
                        "battery_voltage": Value(12.6),
                    },
                ),
                Sample(
                    41,
                    T0 + MINUTE,
                    ClockSource.NTP,
                    {
                        "water_temperature": Value(27.25),
                        "ph": Value(8.043),
                        "latitude": Value(-17.4731215),
                        "battery_voltage": Value(None, SensorStatus.TIMEOUT),
                    },
                ),
                Sample(
                    42,
                    T0 + 2 * MINUTE,
                    ClockSource.NTP,
                    {"battery_voltage": Value(12.59)},
                ),
            ),
        ),
    ),
    "data_version_changes": (
        "Configuration and calibration versions sent only when they change, carried forward "
        "otherwise; the first sample's reference is (0, 0).",
        Batch(
            BUOY,
            tuple(
                Sample(
                    100 + i,
                    T0 + i * MINUTE,
                    ClockSource.GPS,
                    {"ph": Value(8.05)},
                    config_version=config,
                    calibration_version=calibration,
                )
                for i, (config, calibration) in enumerate(
                    [(0, 0), (0, 0), (2, 1), (2, 1), (3, 1), (3, 5), (0, 0)]
                )
            ),
        ),
    ),
    "data_negative_deltas": (
        "Resent samples out of order: sequence numbers, times and values all step backwards, "
        "and some values are negative.",
        Batch(
            BUOY,
            (
                Sample(
                    310,
                    T0 + 10 * MINUTE,
                    ClockSource.GPS,
                    {"battery_current": Value(-1.25), "longitude": Value(-149.8261044)},
                ),
                Sample(
                    307,
                    T0 + 7 * MINUTE,
                    ClockSource.GPS,
                    {"battery_current": Value(-2.5), "longitude": Value(-149.8261101)},
                ),
                Sample(
                    308,
                    T0 + 8 * MINUTE,
                    ClockSource.GPS,
                    {"battery_current": Value(0.375), "link_rssi": Value(-97.0)},
                ),
            ),
        ),
    ),
    "data_hour_deflated": (
        "An hour of one-minute samples of every measured quantity, deflated (flag 0x80).",
        _hour_of_samples(),
    ),
    "stored_ranges": (
        "The ingest's acknowledgement: inclusive ranges, ascending, one past 2**32.",
        StoredAck(BUOY, ((1, 40), (42, 42), (4_294_967_290, 4_294_967_300))),
    ),
    "status_online": (
        "A retained status with a nested detail map.",
        Status(
            BUOY,
            True,
            T0,
            valid_until_ms=T0 + 15 * MINUTE,
            next_report_ms=T0 + 10 * MINUTE,
            detail={
                "firmware": "0.1.0",
                "uptime_s": 86_400,
                "battery": {"soc": 0.82, "charging": True},
                "faults": ["ph"],
            },
        ),
    ),
    "status_offline_will": (
        "The Last Will: offline, no validity or next report, empty detail.",
        Status(BUOY, False, T0),
    ),
    "command_set_interval": (
        "An admin command with arguments.",
        Command("c-0001", "set_interval", {"seconds": 300}),
    ),
    "reply_ok": (
        "A successful reply with a result.",
        CommandReply("c-0001", True, "", {"interval_s": 300}),
    ),
    "reply_refused": (
        "A refused command: ok is false and the message says why.",
        CommandReply("c-0002", False, "unknown command 'reboot_now'"),
    ),
}


def main() -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name, (description, message) in VECTORS.items():
        (GOLDEN_DIR / f"{name}.bin").write_bytes(encode(message))
        document = {"description": description, **message_to_json(message)}
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        Path(GOLDEN_DIR / f"{name}.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
