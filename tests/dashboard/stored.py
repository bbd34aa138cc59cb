"""Reading back what the dashboard stored, in terms tests can compare with what was sent."""

from __future__ import annotations

from sqlalchemy import Engine, select

from dashboard.models import buoys, quarantine, readings, samples
from nemopi.catalogue import by_code, by_name
from nemopi.sensor_status import SensorStatus
from nemopi.wire import Batch, Value

ReadingKey = tuple[str, int, str]


def stored_readings(engine: Engine) -> list[tuple[ReadingKey, Value]]:
    """Every stored reading as ((buoy, seq, quantity name), Value), in key order; a list, so
    that a duplicate row would show."""
    query = (
        select(buoys.c.id, readings.c.seq, readings.c.quantity, readings.c.value, readings.c.status)
        .join(buoys, buoys.c.key == readings.c.buoy_key)
        .order_by(buoys.c.id, readings.c.seq, readings.c.quantity)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        ((buoy, seq, _name(code)), Value(value, SensorStatus(status)))
        for buoy, seq, code, value, status in rows
    ]


def stored_samples(engine: Engine) -> list[tuple[str, int]]:
    query = (
        select(buoys.c.id, samples.c.seq)
        .join(buoys, buoys.c.key == samples.c.buoy_key)
        .order_by(buoys.c.id, samples.c.seq)
    )
    with engine.connect() as conn:
        return [(buoy, seq) for buoy, seq in conn.execute(query)]


def quarantined(engine: Engine) -> list[tuple[str, str, bytes, int]]:
    query = select(
        quarantine.c.topic, quarantine.c.reason, quarantine.c.payload, quarantine.c.payload_size
    ).order_by(quarantine.c.id)
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]


def expected_readings(batches: list[Batch]) -> list[tuple[ReadingKey, Value]]:
    """What storing ``batches`` in order must leave: the first copy of each (buoy, seq)."""
    first: dict[tuple[str, int], dict[str, Value]] = {}
    for b in batches:
        for s in b.samples:
            first.setdefault((b.buoy, s.seq), dict(s.values))
    out = [
        ((buoy, seq, name), value)
        for (buoy, seq), values in first.items()
        for name, value in values.items()
    ]
    return sorted(out, key=lambda item: (item[0][0], item[0][1], _code(item[0][2])))


def _name(code: int) -> str:
    quantity = by_code(code)
    assert quantity is not None
    return quantity.name


def _code(name: str) -> int:
    return by_name(name).code
