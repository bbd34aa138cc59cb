"""Switch a sensor's supply through a MOSFET on a GPIO, and say when the sensor is warm.

The buoy's power policy puts sensors to sleep between samples to save the battery. Each
switched sensor sits behind a MOSFET whose gate is one GPIO, driven by a gpiozero
``OutputDevice`` (gpiozero docs, ``api_output.rst``: ``on()``, ``off()``, ``value``,
``active_high``, ``initial_value``). After power-on a sensor needs its ``warmup_s`` before
its readings mean anything; ``SensorPower`` records when the supply came on, against the
injected clock, so ``ready_at`` and ``is_warm()`` are right in simulated time too.

Drivers see power through the small ``PowerState`` protocol: a ``SensorPower`` when the
sensor is switched, or ``AlwaysPowered`` when it is wired to the rail (warm-up is then
counted from when the driver was built, which assumes the buoy powered it at boot).
``readiness()`` turns a power state into the status a driver reports before it reads.

Assumption (marked, not from a source): a high-side P-channel switch is on when its gate is
low, so pass ``active_high=False`` for it; a low-side N-channel switch uses the default.
``close()`` releases the GPIO (gpiozero returns it to an input), so the gate then follows
its pull resistor: fit one that keeps the sensor off.
"""

from __future__ import annotations

from typing import Protocol

from gpiozero import OutputDevice
from gpiozero.pins import Factory

from nemopi.sensor_status import SensorStatus
from sensors.clock import Clock, SystemClock


class PowerState(Protocol):
    """What a driver needs to know about its sensor's supply."""

    warmup_s: float

    @property
    def is_on(self) -> bool: ...

    @property
    def ready_at(self) -> float | None:
        """Clock time (``Clock.monotonic``) from which the sensor is warm; None when off."""
        ...

    def is_warm(self) -> bool: ...


def readiness(power: PowerState) -> SensorStatus | None:
    """ASLEEP when off, WARMING_UP before the warm-up has passed, None when ready to read."""
    if not power.is_on:
        return SensorStatus.ASLEEP
    if not power.is_warm():
        return SensorStatus.WARMING_UP
    return None


def power_for(
    clock: Clock, warmup_s: float, power: PowerState | None, *, since: float | None = None
) -> PowerState:
    """The power state a driver with ``warmup_s`` uses: ``power``, or the permanent rail.

    ``since`` is when the permanent rail powered the sensor (default now), for a caller that
    knows it; it means nothing with a switch, so giving both raises ``ValueError``. A switch
    that would call the sensor warm sooner than the sensor's own ``warmup_s`` is a wiring
    mistake in the caller, so it raises ``ValueError`` at once too.
    """
    if power is None:
        return AlwaysPowered(clock, warmup_s, since)
    if since is not None:
        raise ValueError("give a power switch or the time the rail came on, not both")
    if power.warmup_s < warmup_s:
        raise ValueError(f"power switch warm-up {power.warmup_s} s is shorter than {warmup_s} s")
    return power


class AlwaysPowered:
    """A sensor on the permanent rail: on since ``since`` (default now), warm ``warmup_s`` later."""

    def __init__(self, clock: Clock, warmup_s: float, since: float | None = None) -> None:
        self._clock = clock
        self.warmup_s = warmup_s
        self._ready_at = (clock.monotonic() if since is None else since) + warmup_s

    @property
    def is_on(self) -> bool:
        return True

    @property
    def ready_at(self) -> float:
        return self._ready_at

    def is_warm(self) -> bool:
        return self._clock.monotonic() >= self._ready_at


class SensorPower:
    """One sensor's supply switch: a gpiozero ``OutputDevice`` on the MOSFET gate.

    ``on()`` is idempotent: switching on a sensor that is already on does not restart its
    warm-up. A switch built with ``initial_on=True`` counts its warm-up from construction,
    because nothing tells it how long the rail has really been up.
    """

    def __init__(
        self,
        pin: int | str,
        warmup_s: float,
        clock: Clock | None = None,
        *,
        active_high: bool = True,
        initial_on: bool = False,
        pin_factory: Factory | None = None,
    ) -> None:
        if warmup_s < 0:
            raise ValueError(f"warmup_s must be >= 0, not {warmup_s}")
        self.warmup_s = warmup_s
        self._clock = clock or SystemClock()
        self._device = OutputDevice(
            pin, active_high=active_high, initial_value=initial_on, pin_factory=pin_factory
        )
        self._on_since: float | None = self._clock.monotonic() if initial_on else None

    def on(self) -> None:
        """Power the sensor; its warm-up starts now unless it was already on."""
        if self._on_since is None:
            self._device.on()
            self._on_since = self._clock.monotonic()

    def off(self) -> None:
        """Cut the sensor's supply."""
        self._device.off()
        self._on_since = None

    @property
    def is_on(self) -> bool:
        return self._on_since is not None

    @property
    def ready_at(self) -> float | None:
        return None if self._on_since is None else self._on_since + self.warmup_s

    def is_warm(self) -> bool:
        ready_at = self.ready_at
        return ready_at is not None and self._clock.monotonic() >= ready_at

    def close(self) -> None:
        """Release the GPIO; safe to call twice."""
        self._device.close()
        self._on_since = None

    def __enter__(self) -> SensorPower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
