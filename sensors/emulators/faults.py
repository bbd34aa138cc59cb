"""One fault-injection API for every emulated part, so tests and the simulated reef break parts
the same way: ``emulator.inject(Fault.NACK)``, ``emulator.clear_faults()``.

``Fault`` names every failure any emulated part can show. Each emulator keeps its faults in a
``FaultSet`` built with the faults its part can really show; injecting another is a programming
error (``ValueError``), and so is an ``amount`` for a fault that has no size. ``clear_faults()``
clears every fault, ``clear_faults(Fault.X, ...)`` only the named ones.

``amount`` tunes the faults that have a size; each emulator documents its defaults:

- DRIFT: the sensing element drifts by ``amount`` units per hour from the moment of injection,
  in the part's own unit (mV/h of a pH electrode, ppm/h of a CO2 cell, V/h at an ADC input, A/h
  of shunt current, °C/h of a DS18B20, and for a paddle wheel the fraction of its speed lost
  per hour).
- SLOW: every command or answer takes ``amount`` seconds longer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum

from sensors.clock import Clock

SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0  # for parts whose drift is configured per day
SLOW_S = 10.0  # a default SLOW: longer than any driver waits for one command


class Fault(Enum):
    # any bus
    NACK = "nack"  # the part is gone until cleared: an I2C NACK (errno 121), a 1-Wire detach
    STUCK = "stuck"  # the part repeats one answer
    GARBAGE = "garbage"  # the answer is line noise, cut short, or all ones
    BAD_CHECKSUM = "bad_checksum"  # every answer's CRC or NMEA checksum is wrong
    SLOW = "slow"  # every command or answer takes longer (``amount`` seconds where sized)
    DRIFT = "drift"  # the sensing element drifts by ``amount`` units per hour
    BROWNOUT = "brownout"  # the supply sags: the part answers with its power-on state
    # I2C chips
    MSB_SET = "msb_set"  # bit 7 set on payload bytes (the EZO "Pi glitch")
    STALE = "stale"  # a conversion start is ignored: the result register keeps its old value
    SATURATION = "saturation"  # the input is beyond full scale
    # DS18B20 on 1-Wire
    BUS_OPEN = "bus_open"  # the data line floats high: every byte reads 0xFF
    NOT_READY = "not_ready"  # every scratchpad byte reads 0x00
    # GPS on a UART
    SILENT = "silent"  # nothing is sent: a dead receiver or a broken wire
    NOISE = "noise"  # a line of random bytes before every sentence
    VOID_FIX = "void_fix"  # time and date but no position
    NO_TIME = "no_time"  # the cold-start output: no time, no position
    TIME_JUMP = "time_jump"  # GPS time is off by a fixed step from then on
    # paddle wheel on a GPIO
    STOPPED = "stopped"  # no pulses: a fouled or jammed wheel, or a cut wire
    BOUNCE = "bounce"  # every pulse comes with a bounced second one
    EMI = "emi"  # spurious pulses on top of the wheel's
    DROP = "drop"  # every other pulse is lost


class FaultSet:
    """The faults one emulated part shows now: since when, and how large.

    The active faults are replaced whole on every change, never mutated, so an emulator's own
    thread may look at them while a test injects or clears.
    """

    def __init__(
        self,
        clock: Clock,
        part: str,
        supported: Iterable[Fault],
        default_amounts: Mapping[Fault, float] | None = None,
    ) -> None:
        """``default_amounts`` gives the sized faults of this part and their default sizes."""
        self._clock = clock
        self._part = part
        self.supported = frozenset(supported)
        self._default_amounts = dict(default_amounts or {})
        self._active: Mapping[Fault, tuple[float, float]] = {}  # fault -> (injected at, amount)
        self._frozen: bytes | None = None

    def inject(self, fault: Fault, amount: float | None = None) -> None:
        if fault not in self.supported:
            raise ValueError(f"{self._part} cannot show {fault.name}")
        if amount is None:
            amount = self._default_amounts.get(fault, 0.0)
        elif fault not in self._default_amounts:
            raise ValueError(f"{fault.name} takes no amount on {self._part}")
        self._active = {**self._active, fault: (self._clock.monotonic(), amount)}

    def clear(self, *faults: Fault) -> None:
        """Clear the named faults, or all of them when none is named."""
        self._active = {f: v for f, v in self._active.items() if faults and f not in faults}
        if Fault.STUCK not in self._active:
            self._frozen = None

    def __contains__(self, fault: Fault) -> bool:
        return fault in self._active

    @property
    def active(self) -> frozenset[Fault]:
        return frozenset(self._active)

    def amount(self, fault: Fault) -> float:
        """The size ``fault`` was injected with; 0 when it is not active."""
        return self._active[fault][1] if fault in self._active else 0.0

    def drift(self) -> float:
        """How far the sensing element has drifted since DRIFT was injected (0 without it)."""
        if Fault.DRIFT not in self._active:
            return 0.0
        since, per_hour = self._active[Fault.DRIFT]
        return per_hour * (self._clock.monotonic() - since) / SECONDS_PER_HOUR

    def stuck(self, fresh: bytes) -> bytes:
        """``fresh``, or while STUCK is on, the first answer produced after it was injected."""
        if Fault.STUCK not in self._active:
            return fresh
        if self._frozen is None:
            self._frozen = fresh
        return self._frozen


class FaultInjection:
    """Base of the emulators: ``inject`` and ``clear_faults`` over the part's ``FaultSet``."""

    faults: FaultSet

    def inject(self, fault: Fault, amount: float | None = None) -> None:
        """Make the part show ``fault`` from now on; ``amount`` sizes SLOW and DRIFT."""
        self.faults.inject(fault, amount)
        self._faults_changed()

    def clear_faults(self, *faults: Fault) -> None:
        """Mend the named faults, or every fault when none is named."""
        self.faults.clear(*faults)
        self._faults_changed()

    def _faults_changed(self) -> None:
        """Hook for a part whose faults act outside its answers (a folder that vanishes)."""
