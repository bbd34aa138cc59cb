"""One fault-injection API for every emulated chip, so tests and the simulated reef break parts
the same way: ``emulator.inject(Fault.NACK)``, ``emulator.clear_faults()``.

Each emulator declares which faults its part can really show (``supported_faults``); injecting
another is a programming error (``ValueError``). ``amount`` tunes the faults that have a size:
SLOW adds ``amount`` seconds to every command's processing time (default 10 s, longer than any
driver's bound); DRIFT moves the sensing element by ``amount`` units per hour from the moment of
injection (mV/h for a pH electrode, ppm/h for a CO2 sensor).
"""

from __future__ import annotations

from enum import Enum

from sensors.clock import Clock


class Fault(Enum):
    NACK = "nack"  # the chip vanishes from the bus (errno 121) until cleared
    STUCK = "stuck"  # the reading freezes at its value when the fault was injected
    GARBAGE = "garbage"  # the answer bytes are line noise
    BAD_CRC = "bad_crc"  # a CRC byte of every answer is wrong (CRC-protected parts only)
    SLOW = "slow"  # every command takes ``amount`` seconds longer
    DRIFT = "drift"  # the sensing element drifts by ``amount`` units per hour
    MSB_SET = "msb_set"  # bit 7 set on payload bytes (the EZO "Pi glitch")


DEFAULT_AMOUNT = {Fault.SLOW: 10.0, Fault.DRIFT: 1.0}
SECONDS_PER_HOUR = 3600.0


class FaultInjection:
    """Mixin for emulators: which faults are on, since when, how large."""

    supported_faults: frozenset[Fault]

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._faults: dict[Fault, tuple[float, float]] = {}  # fault -> (injected at, amount)
        self._frozen: bytes | None = None

    def inject(self, fault: Fault, amount: float | None = None) -> None:
        if fault not in self.supported_faults:
            raise ValueError(f"{type(self).__name__} cannot show {fault.name}")
        size = DEFAULT_AMOUNT.get(fault, 0.0) if amount is None else amount
        self._faults[fault] = (self.clock.monotonic(), size)

    def clear_faults(self, *faults: Fault) -> None:
        """Clear the named faults, or all of them when none is named."""
        for fault in faults or tuple(self._faults):
            self._faults.pop(fault, None)
        if Fault.STUCK not in self._faults:
            self._frozen = None

    def active(self, fault: Fault) -> bool:
        return fault in self._faults

    def extra_delay(self) -> float:
        return self._faults[Fault.SLOW][1] if Fault.SLOW in self._faults else 0.0

    def drift(self) -> float:
        """How far the sensing element has drifted since DRIFT was injected (0 without it)."""
        if Fault.DRIFT not in self._faults:
            return 0.0
        since, per_hour = self._faults[Fault.DRIFT]
        return per_hour * (self.clock.monotonic() - since) / SECONDS_PER_HOUR

    def stuck(self, fresh: bytes) -> bytes:
        """``fresh``, or while STUCK is on, the first answer produced after it was injected."""
        if not self.active(Fault.STUCK):
            return fresh
        if self._frozen is None:
            self._frozen = fresh
        return self._frozen
