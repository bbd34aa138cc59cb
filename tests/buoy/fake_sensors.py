"""Small sensors for the daemon's tests, implementing the ``sensors.reading.Sensor`` protocol."""

from __future__ import annotations

import time
from pathlib import Path

from sensors.reading import Reading


class Thermometer:
    """Reports a water temperature that rises by 0.25 °C per read."""

    name = "thermometer"
    quantities = ("water_temperature",)

    def __init__(self, start: float = 25.0) -> None:
        self.reads = 0
        self.start = start
        self.closed = 0

    def read(self) -> list[Reading]:
        value = self.start + 0.25 * self.reads
        self.reads += 1
        return [Reading("water_temperature", value)]

    def close(self) -> None:
        self.closed += 1


class BrokenDriver:
    """A driver with a bug: every read raises, which drivers promise never to do."""

    name = "broken"
    quantities = ("ph", "turbidity")

    def __init__(self) -> None:
        self.reads = 0

    def read(self) -> list[Reading]:
        self.reads += 1
        raise RuntimeError("driver bug")

    def close(self) -> None:
        return None


class Scripted:
    """Returns the given readings (or whatever objects it is given) on every read."""

    def __init__(self, quantities: tuple[str, ...], readings: list[object]) -> None:
        self.name = "scripted"
        self.quantities = quantities
        self._readings = readings

    def read(self) -> list[Reading]:
        return list(self._readings)  # type: ignore[arg-type]

    def close(self) -> None:
        return None


class Hanging:
    """A thermometer whose ``read()`` blocks, like a driver stuck on a dead bus, for as long as
    the file ``hang`` exists; it creates ``hung`` when it starts blocking."""

    name = "hanging"
    quantities = ("water_temperature",)

    def __init__(self, hang: Path, hung: Path) -> None:
        self.hang = hang
        self.hung = hung

    def read(self) -> list[Reading]:
        while self.hang.exists():
            self.hung.touch()
            time.sleep(0.05)
        return [Reading("water_temperature", 25.0)]

    def close(self) -> None:
        return None
