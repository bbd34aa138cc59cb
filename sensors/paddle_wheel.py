"""Water current speed from a paddle-wheel pulse sensor counted on one GPIO.

The wheel's Hall (or open-collector) output gives one pulse per vane passing; the pulse
frequency is proportional to the wheel's rotation, and the maker calibrates it as a
piecewise-linear map from Hz to m/s with increasing frequency breakpoints (Airmar speed
calibration [F1]). No nominal Hz per knot is published for the parts considered, so every
unit carries its own ``CalibrationTable`` (``SENSORS.md`` section 6).

Counting: gpiozero calls ``when_activated`` on every active edge (``DigitalInputDevice``,
[P7 src]); the driver stamps each pulse with the injected clock and keeps the stamps of the
last ``window_s``. ``read()`` counts the pulses in the ``window_s`` that end now: frequency
= pulses / window, good to about ±1/window Hz [F1], so a long window suits slow water. When
less than a window has passed since the sensor became warm (or since the driver started
counting), ``read()`` waits (on the clock)
for the rest of it, so every value covers a full window.

What the value means:

- zero pulses is a valid 0.0 m/s. A wheel fouled by weed or growth, jammed, or with a cut
  wire also gives no pulses [F2]; the driver cannot tell that from slack water, and neither
  can anything else on this buoy without a second current sensor. Tidal slack that lasts
  through many tides is the hint, and that is a dashboard QC question;
- above the table's last frequency the speed is extrapolated along the last segment and
  reported NOT_CALIBRATED (a value the calibration does not cover);
- above ``max_hz`` (default twice the table's last frequency) the pulses are not the wheel:
  EMI spikes from nearby high-current cables [F5] or heavy contact bounce. OUT_OF_RANGE,
  no value;
- contact bounce below that limit doubles counts unseen: pass ``bounce_time`` (gpiozero's
  pin-level debounce, documented in [P7 src]) on hardware. gpiozero's ``MockPin`` ignores it.

Direction is not measured by this sensor: only ``current_speed``. ``warmup_s`` (assumption):
the Hall switch settles within microseconds; half a second covers the supply ramp.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from gpiozero import DigitalInputDevice
from gpiozero.pins import Factory

from nemopi.sensor_status import SensorStatus
from sensors.clock import Clock, SystemClock
from sensors.fault_log import FaultLog
from sensors.power_switch import PowerState, power_for, readiness
from sensors.reading import Reading, failed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalibrationTable:
    """Frequency (Hz) to speed (m/s) breakpoints of one wheel, linear between them.

    The first point must be (0 Hz, 0 m/s): no pulses means no measured current. Frequencies
    must increase strictly and speeds must increase strictly too, so that the table can be
    inverted (the emulator turns a true speed into a pulse rate with it).
    """

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if len(self.points) < 2 or self.points[0] != (0.0, 0.0):
            raise ValueError("a calibration table starts at (0 Hz, 0 m/s) and has 2+ points")
        for (hz0, speed0), (hz1, speed1) in pairwise(self.points):
            if not (hz1 > hz0 and speed1 > speed0):
                raise ValueError(f"breakpoints must increase: {(hz0, speed0)} -> {(hz1, speed1)}")

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[float, float]]) -> CalibrationTable:
        return cls(tuple((float(hz), float(speed)) for hz, speed in pairs))

    @property
    def max_hz(self) -> float:
        return self.points[-1][0]

    def speed(self, hz: float) -> float:
        """m/s for ``hz``; beyond the last point the last segment is extended."""
        return _interpolate(self.points, hz)

    def frequency(self, speed: float) -> float:
        """Hz for ``speed`` m/s: the inverse of ``speed()``."""
        return _interpolate(tuple((s, hz) for hz, s in self.points), speed)


def _interpolate(points: tuple[tuple[float, float], ...], x: float) -> float:
    if x < 0:
        raise ValueError(f"{x} is negative")
    i = min(max(bisect.bisect_right([p[0] for p in points], x), 1), len(points) - 1)
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


class PaddleWheel:
    """A paddle wheel on GPIO ``pin`` (any gpiozero pin name), with its calibration table."""

    warmup_s = 0.5
    quantities = ("current_speed",)

    def __init__(
        self,
        pin: int | str,
        table: CalibrationTable,
        clock: Clock | None = None,
        *,
        power: PowerState | None = None,
        window_s: float = 10.0,
        max_hz: float | None = None,
        pull_up: bool = True,
        bounce_time: float | None = None,
        pin_factory: Factory | None = None,
        name: str = "paddle_wheel",
    ) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.name = name
        self.table = table
        self.window_s = window_s
        self.max_hz = 2 * table.max_hz if max_hz is None else max_hz
        self._clock = clock or SystemClock()
        self._power = power_for(self._clock, self.warmup_s, power)
        self._faults = FaultLog(logger, name)
        self._lock = threading.Lock()  # the pin's callback thread appends, read() counts
        self._stamps: deque[float] = deque()
        self._device = DigitalInputDevice(
            pin, pull_up=pull_up, bounce_time=bounce_time, pin_factory=pin_factory
        )
        self._device.when_activated = self._pulse
        self._counting_since = self._clock.monotonic()

    def _pulse(self) -> None:
        now = self._clock.monotonic()
        with self._lock:
            self._stamps.append(now)
            while self._stamps and self._stamps[0] <= now - self.window_s:
                self._stamps.popleft()

    def frequency(self) -> float:
        """Pulses per second over the ``window_s`` that ends now."""
        since = self._clock.monotonic() - self.window_s
        with self._lock:
            while self._stamps and self._stamps[0] <= since:
                self._stamps.popleft()
            return len(self._stamps) / self.window_s

    def read(self) -> list[Reading]:
        if self._device.closed:
            raise RuntimeError(f"{self.name} is closed")
        not_ready = readiness(self._power)
        if not_ready is not None:
            self._faults.update(not_ready)
            return failed(self.quantities, not_ready)
        full_from = max(self._power.ready_at or 0.0, self._counting_since) + self.window_s
        self._clock.sleep(full_from - self._clock.monotonic())
        hz = self.frequency()
        if hz > self.max_hz:
            status = SensorStatus.OUT_OF_RANGE
            self._faults.update(status, f"{hz:.1f} Hz is over {self.max_hz:.1f} Hz")
            return failed(self.quantities, status)
        status = SensorStatus.NOT_CALIBRATED if hz > self.table.max_hz else SensorStatus.OK
        self._faults.update(status, f"{hz:.1f} Hz is beyond the table")
        return [Reading(self.quantities[0], self.table.speed(hz), status)]

    def close(self) -> None:
        """Release the GPIO; safe to call twice."""
        self._device.close()

    def __enter__(self) -> PaddleWheel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
