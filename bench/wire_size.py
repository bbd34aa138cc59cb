"""How many bytes a buoy pays per reading: wire format v1 against naive JSON messages.

Simulates a buoy sampling every measured quantity once a minute (slowly varying values with
seeded noise, the odd sensor timeout), encodes the same readings in batches of 1, 10, 60 and
600 samples, and compares with one JSON message per reading and one per sample.

    .venv/bin/python bench/wire_size.py [--samples 1200] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

from nemopi import catalogue, wire
from nemopi.sensor_status import SensorStatus
from nemopi.topics import Channel, Topics
from nemopi.wire import Batch, ClockSource, Sample, Value

BUOY = "reef-01"
START_MS = 1_772_344_800_000  # 2026-03-01T06:00:00Z
BATCH_SIZES = (1, 10, 60, 600)
TOPIC = Topics().topic(BUOY, Channel.DATA)
# An MQTT 3.1.1 QoS 1 PUBLISH adds a 2-byte fixed header (3 above 127 bytes), the topic with
# its 2-byte length, and a 2-byte packet id. TCP/IP and TLS overhead come on top of that.
MQTT_OVERHEAD = 2 + 2 + len(TOPIC) + 2


def _signal(day_fraction: float, rng: random.Random) -> dict[str, float]:
    """Plausible readings for one moment on a tropical reef (before rounding)."""
    diurnal = math.sin(2 * math.pi * (day_fraction - 0.25))
    tide = math.sin(2 * math.pi * day_fraction * 24 / 12.42)
    sun = max(0.0, math.sin(2 * math.pi * (day_fraction - 0.25)))
    return {
        "ph": 8.05 + 0.04 * diurnal + rng.gauss(0, 0.002),
        "water_temperature": 27.6 + 0.5 * diurnal + rng.gauss(0, 0.01),
        "turbidity": max(0.0, 1.5 + 0.6 * tide + rng.gauss(0, 0.05)),
        "xco2_equilibrated": 415 - 25 * diurnal + rng.gauss(0, 2),
        "latitude": -17.4731215 + 0.00002 * tide + rng.gauss(0, 0.000015),
        "longitude": -149.8261044 + 0.00002 * tide + rng.gauss(0, 0.000015),
        "current_speed": abs(0.3 * tide + rng.gauss(0, 0.02)),
        "current_direction": (110 + 180 * (tide < 0) + rng.gauss(0, 4)) % 360,
        "no2": max(0.0, 3 + rng.gauss(0, 0.4)),
        "no": max(0.0, 1 + rng.gauss(0, 0.2)),
        "battery_voltage": 12.4 + 0.6 * sun + rng.gauss(0, 0.005),
        "battery_current": 1.8 * sun - 0.25 + rng.gauss(0, 0.01),
        "solar_power": 40 * sun + rng.gauss(0, 0.2) * (sun > 0),
        "cpu_temperature": 42 + 6 * sun + rng.gauss(0, 0.3),
        "disk_free": 11_800 - day_fraction * 3,
        "outbox_depth": rng.randint(0, 3),
        "link_rssi": -88 + rng.gauss(0, 3),
    }


def simulate(count: int, seed: int) -> list[Sample]:
    rng = random.Random(seed)
    out: list[Sample] = []
    for i in range(count):
        time_ms = START_MS + i * 60_000 + rng.randint(0, 400)
        values: dict[str, Value] = {}
        for name, raw in _signal(i / 1440, rng).items():
            decimals = catalogue.by_name(name).decimals
            if rng.random() < 0.005:
                values[name] = Value(None, SensorStatus.TIMEOUT)
            else:
                values[name] = Value(round(raw, decimals))
        out.append(Sample(1 + i, time_ms, ClockSource.NTP, values))
    return out


def _iso(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def json_per_reading(samples: Sequence[Sample]) -> Iterator[bytes]:
    seq = 0
    for s in samples:
        for name, v in s.values.items():
            seq += 1
            yield json.dumps(
                {
                    "buoy": BUOY,
                    "seq": seq,
                    "time": _iso(s.time_ms),
                    "quantity": name,
                    "value": v.value,
                    "unit": catalogue.by_name(name).unit,
                    "status": v.status.name.lower(),
                }
            ).encode()


def json_per_sample(samples: Sequence[Sample]) -> Iterator[bytes]:
    for s in samples:
        yield json.dumps(
            {
                "buoy": BUOY,
                "seq": s.seq,
                "time": _iso(s.time_ms),
                "readings": [
                    {
                        "quantity": name,
                        "value": v.value,
                        "unit": catalogue.by_name(name).unit,
                        "status": v.status.name.lower(),
                    }
                    for name, v in s.values.items()
                ],
            }
        ).encode()


def wire_batches(samples: Sequence[Sample], size: int) -> Iterator[bytes]:
    for start in range(0, len(samples), size):
        yield wire.encode(Batch(BUOY, tuple(samples[start : start + size])))


def measure(payloads: Callable[[], Iterator[bytes]]) -> tuple[int, int, int]:
    """(messages, payload bytes, bytes with MQTT PUBLISH overhead)."""
    sizes = [len(p) for p in payloads()]
    framed = sum(n + MQTT_OVERHEAD + (n + MQTT_OVERHEAD > 127) for n in sizes)
    return len(sizes), sum(sizes), framed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1200, help="one-minute samples")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    samples = simulate(args.samples, args.seed)
    readings = sum(len(s.values) for s in samples)
    per_day = 1440 / len(samples)

    rows: list[tuple[str, tuple[int, int, int]]] = [
        ("JSON, one message per reading", measure(lambda: json_per_reading(samples))),
        ("JSON, one message per sample", measure(lambda: json_per_sample(samples))),
    ]
    for size in BATCH_SIZES:
        rows.append(
            (f"wire v1, batches of {size}", measure(lambda n=size: wire_batches(samples, n)))
        )
    baseline = rows[0][1][1]

    print(
        f"{len(samples)} one-minute samples of {len(catalogue.measured())} quantities, "
        f"{readings} readings (seed {args.seed}); MQTT overhead {MQTT_OVERHEAD}+ bytes per "
        f"message on {TOPIC!r}"
    )
    print()
    header = (
        f"{'encoding':<32}{'messages':>9}{'B/reading':>11}{'B/sample':>10}"
        f"{'vs JSON':>9}{'+MQTT B/reading':>17}{'MB/30 days':>12}"
    )
    print(header)
    print("-" * len(header))
    for label, (messages, total, framed) in rows:
        print(
            f"{label:<32}{messages:>9}{total / readings:>11.2f}{total / len(samples):>10.1f}"
            f"{baseline / total:>8.1f}x{framed / readings:>17.2f}"
            f"{framed * per_day * 30 / 1e6:>12.2f}"
        )


if __name__ == "__main__":
    main()
