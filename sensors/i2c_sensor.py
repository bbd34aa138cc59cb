"""What every I2C driver here does the same way, whatever the chip behind it.

The EZO-pH and the SCD4x speak different protocols but keep the same promises to the sampler
(``sensors/reading.py``): ``read()`` is bounded in time, never raises for a device fault, never
returns a number for a failed read, reports WARMING_UP until the part has settled after
power-on (``warmup_s``), reports ASLEEP without touching the bus while its supply is off
(``sensors.power_switch``), and logs a fault once when it appears or changes, not every cycle
(``sensors.fault_log``). During warm-up the chip is still read, so that it can start
measuring: a value it gives is reported WARMING_UP, and a fault is WARMING_UP without value.

Bus errors. smbus2 raises ``OSError``; ``sensors.errors.bus_error`` says which device fault it
means, for these drivers as for the TI register drivers: errno 121 (a NACK) and 5 are
UNREACHABLE, errno 110 (the i2c-bcm2835 clock-stretch timeout) is TIMEOUT, and any other
``OSError`` (a closed bus) is a programming error that propagates.

NACK policy. Within one exchange (a command and its answer), a NACK of the *first* transaction
means the device is absent: ``DeviceUnreachable`` at once, so a missing part costs no waiting.
A NACK after the device has acknowledged part of the same exchange means it is busy (the SCD4x
NACKs reads until its data is ready, [C6]); the transaction is retried every ``poll_s`` until
the exchange's deadline, then ``DeviceTimeout``.

A driver never closes the bus: it did not open it, and other devices share it.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol, TypeVar

from smbus2 import i2c_msg

from nemopi import catalogue
from nemopi.sensor_status import SensorStatus
from sensors.clock import Clock
from sensors.errors import DeviceTimeout, DeviceUnreachable, OutOfRange, SensorError, bus_error
from sensors.fault_log import FaultLog
from sensors.power_switch import PowerState, power_for, readiness
from sensors.reading import Reading, failed

T = TypeVar("T")


class I2CBus(Protocol):
    """The one ``smbus2.SMBus`` call these drivers use: plain I2C transfers, no register byte."""

    def i2c_rdwr(self, *i2c_msgs: i2c_msg) -> None: ...


class Deadline:
    """A point in ``clock`` time that an exchange must not pass."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self.at = clock.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - self._clock.monotonic()

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` or until the deadline, whichever is sooner; False if none was left."""
        left = self.remaining()
        if left <= 0:
            return False
        self._clock.sleep(min(seconds, left))
        return True


class RepeatCounter:
    """How many times in a row the same raw answer has been seen (1 for a new one)."""

    def __init__(self) -> None:
        self._last: bytes | None = None
        self._count = 0

    def see(self, raw: bytes) -> int:
        if raw == self._last:
            self._count += 1
        else:
            self._last, self._count = raw, 1
        return self._count


def checked(quantity: str, value: float) -> float:
    """``value`` if it is possible for ``quantity`` (catalogue range), else ``OutOfRange``."""
    if not math.isfinite(value) or not catalogue.by_name(quantity).contains(value):
        raise OutOfRange(f"{quantity} = {value} is outside the possible range", str(value))
    return value


class I2CSensor(ABC):
    """Base of the I2C drivers: lifecycle, warm-up, bounded exchanges, faults as statuses.

    ``power`` is the part's supply switch; ``None`` means the permanent rail, powered since the
    driver was built (``sensors.power_switch.power_for``).
    """

    name: str
    quantities: tuple[str, ...]
    warmup_s: float

    def __init__(
        self,
        bus: I2CBus,
        address: int,
        clock: Clock,
        *,
        name: str,
        poll_s: float,
        power: PowerState | None,
        logger: logging.Logger,
    ) -> None:
        self._bus = bus
        self.address = address
        self._clock = clock
        self.name = name
        self.poll_s = poll_s
        self._power = power_for(clock, self.warmup_s, power)
        self._logger = logger
        self._faults = FaultLog(logger, name)
        self._acked = False
        self.closed = False

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop using the device; the bus stays open for its owner. Safe to call twice."""
        self.closed = True

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the sampler's call ----------------------------------------------------------------

    def read(self) -> list[Reading]:
        """One reading per quantity within the driver's time bound; never raises for faults."""
        if self.closed:
            raise RuntimeError(f"{self.name}: read() after close()")
        not_ready = readiness(self._power)
        if not_ready is SensorStatus.ASLEEP:
            self._faults.update(not_ready)
            return failed(self.quantities, not_ready)
        warming = not_ready is SensorStatus.WARMING_UP
        try:
            readings = self._measure()
        except SensorError as exc:
            if warming:
                self._logger.debug("%s: %s while warming up: %s", self.name, exc.status.name, exc)
                return failed(self.quantities, SensorStatus.WARMING_UP)
            self._faults.update(exc.status, str(exc))
            return failed(self.quantities, exc.status)
        if warming:
            return [Reading(r.quantity, r.value, SensorStatus.WARMING_UP) for r in readings]
        self._faults.update(readings[0].status, f"(value {readings[0].value})")
        return readings

    @abstractmethod
    def _measure(self) -> list[Reading]:
        """Talk to the chip and return its readings; raise ``SensorError`` for a fault."""

    # -- bounded transfers for subclasses --------------------------------------------------

    def _begin(self, seconds: float) -> Deadline:
        """Start an exchange that must end within ``seconds``."""
        self._acked = False
        return Deadline(self._clock, seconds)

    def _write(self, data: bytes, deadline: Deadline) -> None:
        self._transfer(lambda: self._bus.i2c_rdwr(i2c_msg.write(self.address, data)), deadline)

    def _read(self, length: int, deadline: Deadline) -> bytes:
        def read_once() -> bytes:
            message = i2c_msg.read(self.address, length)
            self._bus.i2c_rdwr(message)
            return bytes(message)

        return self._transfer(read_once, deadline)

    def _transfer(self, action: Callable[[], T], deadline: Deadline) -> T:
        while True:
            try:
                result = action()
            except OSError as exc:
                error = bus_error(exc, f"{self.name} at {self.address:#04x}")
                if error is None:
                    raise
                if not (self._acked and isinstance(error, DeviceUnreachable)):
                    raise error from exc
                if not deadline.wait(self.poll_s):
                    raise DeviceTimeout(
                        f"{self.name}: still busy (NACK) at the end of the time bound"
                    ) from exc
                continue
            self._acked = True
            return result
