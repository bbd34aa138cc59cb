"""The buoy's health: per-sensor state over time and the retained status report built from it.

Why: nobody is near a buoy for weeks, so its status report is the only way to tell a sick
buoy from a silent one, and a failing sensor from one that is merely warming up. The report
is retained on the broker; it carries ``as_of`` and ``valid_until`` so that a report left
behind by a buoy that has since died can never pass for a current one.

Everything here is pure: the daemon feeds in each cycle's readings and a few measured figures
(``buoy.system_probes`` and the power monitor take those), and gets a ``wire.Status`` back.
The detail map always fits the wire's limits: with more sensors than ``MAX_SENSORS_REPORTED``
the worst ones are listed and the rest counted in ``sensors_omitted``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nemopi import catalogue
from nemopi.sensor_status import SensorStatus
from nemopi.wire import MAX_TEXT, ClockSource, Sample, Status, Value
from sensors.reading import Reading, Sensor

# Each listed sensor costs at most five detail entries; 40 of them leave room for the figures
# within the wire's 256 entries.
MAX_SENSORS_REPORTED = 40


class SensorState(StrEnum):
    """A sensor's state in one cycle, from best to worst (the order is the severity)."""

    OK = "ok"
    ASLEEP = "asleep"  # powered down by the power policy: nothing is wrong
    WARMING_UP = "warming_up"
    STALE = "stale"
    STUCK = "stuck"
    FAULTY = "faulty"  # answered, but with garbage, a bad checksum, an error of its own ...
    UNREACHABLE = "unreachable"  # no answer at all

    @property
    def severity(self) -> int:
        return _ORDER.index(self)


_ORDER = tuple(SensorState)
_STATE_OF_STATUS = {
    SensorStatus.OK: SensorState.OK,
    SensorStatus.ASLEEP: SensorState.ASLEEP,
    SensorStatus.WARMING_UP: SensorState.WARMING_UP,
    SensorStatus.STALE: SensorState.STALE,
    SensorStatus.STUCK: SensorState.STUCK,
    SensorStatus.UNREACHABLE: SensorState.UNREACHABLE,
    SensorStatus.TIMEOUT: SensorState.UNREACHABLE,
}
# Neither good nor a failure: the count of consecutive failures stays where it is.
_NEUTRAL = frozenset({SensorState.ASLEEP, SensorState.WARMING_UP})


@dataclass(frozen=True, slots=True)
class SensorRecord:
    """What is known about one sensor after its latest cycle.

    ``status`` is the worst status among its readings in that cycle; ``failures`` counts the
    cycles in a row that were neither good nor neutral (asleep, warming up).
    """

    name: str
    state: SensorState
    status: SensorStatus
    failures: int
    last_good_ms: int | None
    last_read_ms: int

    def detail(self) -> dict[str, Any]:
        """The record as a status detail entry; the status name only when it adds news."""
        entry: dict[str, Any] = {
            "state": self.state.value,
            "failures": self.failures,
            "last_good": self.last_good_ms,
        }
        status = self.status.name.lower()
        if status != self.state.value:
            entry["status"] = status
        return entry


def _worst(readings: Sequence[Reading]) -> tuple[SensorState, SensorStatus]:
    """The state and status of a cycle's readings; no readings at all is a device error."""
    if not readings:
        return SensorState.FAULTY, SensorStatus.DEVICE_ERROR
    graded = [(_STATE_OF_STATUS.get(r.status, SensorState.FAULTY), r.status) for r in readings]
    return max(graded, key=lambda pair: (pair[0].severity, pair[1]))


class SensorHealth:
    """Per-sensor state, consecutive failures and last good time, fed once per cycle."""

    def __init__(self) -> None:
        self._records: dict[str, SensorRecord] = {}

    def update(self, utc_ms: int, readings: Mapping[str, Sequence[Reading]]) -> None:
        """Take one cycle's readings, keyed by sensor name, made at ``utc_ms``.

        A sensor missing from ``readings`` was not read this cycle and keeps its record.
        """
        for name, sensor_readings in readings.items():
            state, status = _worst(sensor_readings)
            previous = self._records.get(name)
            failures = previous.failures if previous else 0
            last_good = previous.last_good_ms if previous else None
            if state is SensorState.OK:
                failures, last_good = 0, utc_ms
            elif state not in _NEUTRAL:
                failures += 1
            self._records[name] = SensorRecord(name, state, status, failures, last_good, utc_ms)

    def get(self, name: str) -> SensorRecord | None:
        return self._records.get(name)

    def records(self) -> tuple[SensorRecord, ...]:
        """Every sensor seen so far, by name."""
        return tuple(self._records[name] for name in sorted(self._records))


def readings_by_sensor(
    values: Mapping[str, Value], sensors: Iterable[Sensor]
) -> dict[str, list[Reading]]:
    """A stored sample's values regrouped per sensor, for ``SensorHealth.update``.

    The sampler reports a value or a status for every quantity a sensor declares, so this
    recovers exactly what each sensor said in that cycle.
    """
    return {
        sensor.name: [
            Reading(q, values[q].value, values[q].status) for q in sensor.quantities if q in values
        ]
        for sensor in sensors
    }


@dataclass(frozen=True, slots=True)
class HealthFigures:
    """The measured figures of one report; None where a figure is not known.

    Units are the catalogue's for the quantity of the same name (V, W, °C, MB, dBm).
    ``oldest_unsent`` is the oldest sample still waiting for the ingest's confirmation.
    """

    software_version: str
    config_version: int
    calibration_version: int
    clock: ClockSource
    outbox_depth: int
    oldest_unsent: Sample | None = None
    battery_voltage: float | None = None
    solar_power: float | None = None
    cpu_temperature: float | None = None
    disk_free: float | None = None
    link_rssi: float | None = None


def _figure(quantity: str, value: float | None) -> float | int | None:
    """``value`` at the catalogue's precision for ``quantity``; None when not a number."""
    if value is None or not math.isfinite(value):
        return None
    decimals = catalogue.by_name(quantity).decimals
    return round(value) if decimals == 0 else round(value, decimals)


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """Figures and sensor records at one instant, ready to become a status report."""

    figures: HealthFigures
    sensors: tuple[SensorRecord, ...]

    @classmethod
    def of(cls, figures: HealthFigures, health: SensorHealth) -> HealthSnapshot:
        return cls(figures, health.records())

    def detail(self, as_of_ms: int) -> dict[str, Any]:
        """The status detail map (docs/buoy-operations.md describes each entry)."""
        f = self.figures
        detail: dict[str, Any] = {
            name: _figure(name, getattr(f, name))
            for name in (
                "battery_voltage",
                "solar_power",
                "cpu_temperature",
                "disk_free",
                "link_rssi",
            )
        }
        detail |= {
            "outbox_depth": f.outbox_depth,
            "oldest_unsent": _oldest(f.oldest_unsent, as_of_ms),
            "software": f.software_version[:MAX_TEXT],
            "config_version": f.config_version,
            "calibration_version": f.calibration_version,
            "clock": f.clock.name.lower(),
        }
        worst_first = sorted(self.sensors, key=lambda r: (-r.state.severity, r.name))
        listed = worst_first[:MAX_SENSORS_REPORTED]
        detail["sensors"] = {
            r.name[:MAX_TEXT]: r.detail() for r in sorted(listed, key=lambda r: r.name)
        }
        if len(worst_first) > len(listed):
            detail["sensors_omitted"] = len(worst_first) - len(listed)
        return detail

    def status(
        self, buoy: str, as_of_ms: int, interval_s: float, next_report_ms: int | None = None
    ) -> Status:
        """The retained online report; the next is due at ``next_report_ms`` (the power
        policy's announcement) or else one report interval on. It stays valid for one more
        interval after that, so one late report is not yet stale and a buoy asleep as
        planned is not taken for a lost one."""
        interval_ms = round(interval_s * 1000)
        next_report = as_of_ms + interval_ms if next_report_ms is None else next_report_ms
        return Status(
            buoy,
            online=True,
            as_of_ms=as_of_ms,
            valid_until_ms=next_report + interval_ms,
            next_report_ms=next_report,
            detail=self.detail(as_of_ms),
        )


def _oldest(sample: Sample | None, as_of_ms: int) -> dict[str, Any] | None:
    """The oldest unsent sample: its seq, and its UTC time and age when its clock was synced."""
    if sample is None:
        return None
    if not sample.synced:
        return {"seq": sample.seq, "time_ms": None, "age_s": None}
    return {
        "seq": sample.seq,
        "time_ms": sample.time_ms,
        "age_s": (as_of_ms - sample.time_ms) // 1000,
    }
