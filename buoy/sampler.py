"""One sample cycle: read every sensor (or those due) once, stamp the result, keep it.

Whatever a driver does, the cycle yields one sample with a value or a status for each quantity
the sensors declare: an exception that escapes a driver becomes ``DEVICE_ERROR`` for that
sensor's quantities, a value that is not a finite number (or too large for the wire) becomes
``GARBAGE``, and a quantity a driver forgot to report becomes ``DEVICE_ERROR``. The sample is
appended in one transaction; only a failing SD card can lose it, and that is logged. Each
sample carries the calibration version current when it was taken (``buoy.calibration``) and
the time its stamp source gave when the cycle began (on the buoy ``buoy.timesource``: GPS, NTP,
or the boot and uptime until the clock is known).
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable, Sequence, Set

from buoy.outbox import Draft, Outbox
from buoy.timesource import StampSource
from nemopi import catalogue
from nemopi.sensor_status import SensorStatus
from nemopi.wire import MAX_SCALED, Sample, Value
from sensors.reading import Sensor

log = logging.getLogger(__name__)


def _unversioned() -> int:
    return 0


class Sampler:
    def __init__(
        self,
        sensors: Sequence[Sensor],
        time_source: StampSource,
        outbox: Outbox,
        calibration_version: Callable[[], int] = _unversioned,
        config_version: Callable[[], int] = _unversioned,
    ) -> None:
        self.sensors = tuple(sensors)
        self.time_source = time_source
        self.outbox = outbox
        self.calibration_version = calibration_version
        self.config_version = config_version

    def cycle(self, due: Set[str] | None = None) -> Sample | None:
        """Take and store one sample; None only when the outbox could not store it.

        ``due`` names the sensors to read (the power policy reads each part on its own
        schedule); None reads them all. The sample then holds only the due sensors' quantities.
        """
        stamp = self.time_source.stamp()
        values: dict[str, Value] = {}
        for sensor in self.sensors:
            if due is not None and sensor.name not in due:
                continue
            for quantity, value in _read(sensor).items():
                if quantity in values:
                    log.warning("%s: %s already reported by another sensor", sensor.name, quantity)
                    continue
                values[quantity] = value
        draft = Draft(
            stamp.time_ms,
            stamp.clock,
            values,
            stamp.boot,
            config_version=self.config_version(),
            calibration_version=self.calibration_version(),
        )
        try:
            return self.outbox.append(draft)
        except (sqlite3.Error, ValueError) as exc:
            log.error("sample at %d ms could not be stored and is lost: %r", stamp.time_ms, exc)
            return None


def _read(sensor: Sensor) -> dict[str, Value]:
    """The sensor's values keyed by quantity, one for each quantity it declares."""
    try:
        readings = [(r.quantity, r.value, r.status) for r in sensor.read()]
    except Exception:  # a driver bug must not stop the buoy sampling the other sensors
        log.exception("%s: read() raised; reporting a device error", sensor.name)
        readings = []
    values: dict[str, Value] = {}
    for quantity, value, status in readings:
        if quantity not in sensor.quantities or not _sendable(quantity):
            log.error("%s: reported %r, which it does not declare; dropped", sensor.name, quantity)
            continue
        values[quantity] = _checked(sensor.name, quantity, value, status)
    for quantity in sensor.quantities:
        values.setdefault(quantity, Value(None, SensorStatus.DEVICE_ERROR))
    return values


def _sendable(quantity: str) -> bool:
    try:
        return not catalogue.by_name(quantity).derived
    except KeyError:
        return False


def _checked(sensor: str, quantity: str, value: object, status: object) -> Value:
    """The reading as a wire ``Value``; GARBAGE for anything the wire could not carry."""
    if not isinstance(status, SensorStatus):
        log.error("%s: %s has status %r, not a SensorStatus", sensor, quantity, status)
        return Value(None, SensorStatus.GARBAGE)
    if value is None:
        return Value(None, SensorStatus.GARBAGE if status is SensorStatus.OK else status)
    decimals = catalogue.by_name(quantity).decimals
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or abs(value) * 10**decimals > MAX_SCALED
    ):
        log.warning("%s: %s value %r is not a number the wire can carry", sensor, quantity, value)
        return Value(None, SensorStatus.GARBAGE)
    return Value(float(value), status)
