"""What every driver returns, and the interface the buoy's sampler talks to.

A driver receives its bus object (an ``smbus2.SMBus``, a ``serial.Serial``, a w1 device folder,
a gpiozero pin) instead of opening it, so the same driver code runs over the real bus and over
an emulator. ``read()`` never raises for a device fault: a failed value is a ``Reading`` with
no value and a status that names the fault.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from nemopi.sensor_status import SensorStatus


@dataclass(frozen=True, slots=True)
class Reading:
    quantity: str  # a name from nemopi.catalogue
    value: float | None
    status: SensorStatus = SensorStatus.OK

    def __post_init__(self) -> None:
        if self.status is SensorStatus.OK and self.value is None:
            raise ValueError(f"{self.quantity}: an OK reading needs a value")


def failed(quantities: Iterable[str], status: SensorStatus) -> list[Reading]:
    """The readings of a read that failed as a whole: every quantity, no value, one status."""
    return [Reading(q, None, status) for q in quantities]


class Sensor(Protocol):
    """One instrument, as the sampler sees it."""

    name: str
    quantities: tuple[str, ...]  # catalogue names this sensor reports, in order

    def read(self) -> list[Reading]:
        """One reading per quantity, within the driver's time bound; never raises for faults."""
        ...

    def close(self) -> None:
        """Release the bus; safe to call twice."""
        ...
