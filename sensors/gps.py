"""The GPS receiver (u-blox NEO-6M class) on the Pi's UART: position, and UTC for the clock.

The receiver talks NMEA 0183 at 9600 8N1, one burst of sentences per second (RMC, VTG, GGA,
GSA, ... in that order, ``SENSORS.md`` section 4.1 [G2]). The driver receives an open
``serial.Serial``-like port whose ``timeout`` is set (a read returns what it has, possibly
nothing, when the timeout expires [P8]).

Reading in chunks. pyserial's ``readline()`` is ``read_until()``, which calls ``read(1)`` once
per byte, and on POSIX each ``read(1)`` is a ``select()`` and an ``os.read()``: about 340
system calls for the ~170 bytes up to an epoch's GGA, which made the GPS the most expensive
read of a sampling cycle. The driver instead reads everything the kernel holds
(``in_waiting``, one ``ioctl``), at least one byte, waiting up to the port's timeout for it,
and splits lines itself: about 6 system calls per epoch. It keeps
``readline(MAX_LINE)``'s rules: a line ends after ``\n``, after ``MAX_LINE`` bytes, or when
a read times out (what had arrived is a line, so a sentence cut by silence is counted as bad
instead of held back).

One ``read()``:

1. discards what the kernel buffered since the last read (``reset_input_buffer()``), so the
   fix is fresh, not minutes old; the first line after that may be a tail, and one that does
   not start with ``$`` is dropped without counting it;
2. reads lines until it holds an RMC and a GGA with the same UTC time (one epoch), or until
   ``timeout_s`` real seconds have passed (real time: it bounds waiting on a real UART). The
   bound is ``timeout_s`` plus one port read (at most the port's timeout);
3. reports ``latitude``/``longitude`` from the GGA when GGA has a measured fix (quality 1-5,
   see ``sensors.nmea``) and RMC says ``A``; otherwise both are NO_FIX. The same UTC as the
   previous read means the receiver repeats itself: the values come back STALE.

Bad lines follow an explicit policy, like pynmea2's ``NMEAStreamReader(errors="yield")``,
which hands each ``ParseError`` to the caller and goes on with the next line: every bad line
is counted in ``stats`` (``checksum_errors``, ``garbage_lines``) and skipped. The stream
reader itself is not used because it parses without ``check=True`` and would accept a line
that lost its checksum. A read that ends without an epoch reports the most telling cause:
CHECKSUM if any line failed its checksum, else GARBAGE if any line did not parse, else
TIMEOUT (a silent UART).

``last_fix()`` exposes the GPS time separately from the position, for the buoy daemon that
sets the Pi's clock (the Pi has no RTC, ``DESIGN.md`` contract 4). Its ``time_valid`` is True
only for an RMC with status ``A``, a date and a time, not earlier than ``earliest_utc`` (a
receiver hit by a GPS week rollover reports a date 1024 weeks early), and not jumping: since
the last valid RMC time the GPS time must have advanced as the local monotonic clock did,
within ``jump_tolerance_s``. After a jump the new timeline is accepted from the next
consistent fix; which timeline is right is the daemon's call.

``warmup_s`` (assumption): the receiver starts talking about a second after power-on; a fix
then takes the time-to-first-fix, which is reported as NO_FIX, not as warm-up.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from nemopi.sensor_status import SensorStatus
from sensors.clock import Clock, SystemClock
from sensors.errors import (
    ChecksumError,
    DeviceTimeout,
    DeviceUnreachable,
    GarbageResponse,
    SensorError,
)
from sensors.fault_log import FaultLog
from sensors.nmea import Gga, Rmc, parse_line
from sensors.power_switch import PowerState, power_for, readiness
from sensors.reading import Reading, failed

logger = logging.getLogger(__name__)

MAX_LINE = 256  # an NMEA sentence is at most 82 characters; longer lines are garbage
EARLIEST_UTC = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


class SerialPort(Protocol):
    """The part of ``serial.Serial`` the driver uses."""

    @property
    def timeout(self) -> float | None: ...

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1, /) -> bytes: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class GpsFix:
    """What one epoch said, with the local clock time it arrived at."""

    received_at: float  # Clock.monotonic()
    utc: dt.datetime | None  # from RMC date and time
    time_valid: bool
    time_problem: str | None  # why time_valid is False, when it is
    latitude: float | None
    longitude: float | None
    position_valid: bool
    fix_quality: int
    satellites: int | None
    hdop: float | None


@dataclass
class GpsStats:
    """Counters since the driver was built, for the buoy's health report."""

    lines: int = 0
    checksum_errors: int = 0
    garbage_lines: int = 0
    ignored: int = 0  # well-formed sentences of other types


class GpsReceiver:
    """An NMEA GPS on an open serial port."""

    warmup_s = 1.0
    quantities = ("latitude", "longitude")

    def __init__(
        self,
        port: SerialPort,
        clock: Clock | None = None,
        *,
        power: PowerState | None = None,
        timeout_s: float = 2.5,
        jump_tolerance_s: float = 2.0,
        earliest_utc: dt.datetime = EARLIEST_UTC,
        name: str = "gps",
    ) -> None:
        if port.timeout is None or port.timeout > timeout_s:
            raise ValueError(f"the port needs a read timeout of at most {timeout_s} s")
        self.name = name
        self.timeout_s = timeout_s
        self.jump_tolerance_s = jump_tolerance_s
        self.earliest_utc = earliest_utc
        self.stats = GpsStats()
        self._port = port
        self._clock = clock or SystemClock()
        self._power = power_for(self._clock, self.warmup_s, power)
        self._faults = FaultLog(logger, name)
        self._last_fix: GpsFix | None = None
        self._time_reference: tuple[dt.datetime, float] | None = None  # last valid RMC time
        self._closed = False

    def last_fix(self) -> GpsFix | None:
        """The most recent epoch, valid or not; None before the first one."""
        return self._last_fix

    def read(self) -> list[Reading]:
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        not_ready = readiness(self._power)
        if not_ready is not None:
            self._faults.update(not_ready)
            return failed(self.quantities, not_ready)
        try:
            rmc, gga = self._read_epoch()
        except SensorError as exc:
            self._faults.update(exc.status, str(exc))
            return failed(self.quantities, exc.status)
        previous, fix = self._last_fix, self._fix(rmc, gga)
        self._last_fix = fix
        if not fix.position_valid or fix.latitude is None or fix.longitude is None:
            status = SensorStatus.NO_FIX
            self._faults.update(status, f"fix quality {fix.fix_quality}")
            return failed(self.quantities, status)
        status = SensorStatus.OK
        if previous is not None and fix.utc is not None and previous.utc == fix.utc:
            status = SensorStatus.STALE
        self._faults.update(status, f"epoch {fix.utc} repeated")
        return [
            Reading("latitude", fix.latitude, status),
            Reading("longitude", fix.longitude, status),
        ]

    def _read_epoch(self) -> tuple[Rmc, Gga]:
        try:
            self._port.reset_input_buffer()
            deadline = time.monotonic() + self.timeout_s
            rmc: Rmc | None = None
            gga: Gga | None = None
            first = True
            checksum_seen = garbage_seen = False
            for line in self._lines(deadline):
                if first:
                    first = False
                    if not line.startswith(b"$"):
                        continue
                self.stats.lines += 1
                try:
                    sentence = parse_line(line)
                except ChecksumError:
                    self.stats.checksum_errors += 1
                    checksum_seen = True
                    continue
                except GarbageResponse:
                    self.stats.garbage_lines += 1
                    garbage_seen = True
                    continue
                if isinstance(sentence, Rmc):
                    rmc = sentence
                elif isinstance(sentence, Gga):
                    gga = sentence
                else:
                    self.stats.ignored += 1
                if rmc is not None and gga is not None and rmc.time == gga.time:
                    return rmc, gga
        except OSError as exc:  # serial.SerialException is an OSError
            raise DeviceUnreachable(f"serial port: {exc}") from exc
        if checksum_seen:
            raise ChecksumError(f"no epoch with a good checksum in {self.timeout_s} s")
        if garbage_seen:
            raise GarbageResponse(f"no parsable epoch in {self.timeout_s} s")
        raise DeviceTimeout(f"no NMEA epoch in {self.timeout_s} s")

    def _lines(self, deadline: float) -> Iterator[bytes]:
        """Lines as ``readline(MAX_LINE)`` cuts them, read a chunk at a time until ``deadline``.

        See "Reading in chunks" in the module docstring. Never yields an empty line.
        """
        pending = bytearray()
        while time.monotonic() < deadline:
            chunk = self._port.read(max(1, self._port.in_waiting))
            if not chunk:
                if pending:
                    yield bytes(pending)
                    pending.clear()
                continue
            pending += chunk
            while (end := pending.find(b"\n", 0, MAX_LINE)) >= 0 or len(pending) >= MAX_LINE:
                cut = end + 1 if end >= 0 else MAX_LINE
                yield bytes(pending[:cut])
                del pending[:cut]

    def _fix(self, rmc: Rmc, gga: Gga) -> GpsFix:
        position = gga.position if gga.has_fix and rmc.valid else None
        fix = GpsFix(
            received_at=self._clock.monotonic(),
            utc=rmc.utc,
            time_valid=False,
            time_problem=None,
            latitude=None if position is None else position.latitude,
            longitude=None if position is None else position.longitude,
            position_valid=position is not None,
            fix_quality=gga.quality,
            satellites=gga.satellites,
            hdop=gga.hdop,
        )
        problem = self._time_problem(rmc, fix)
        return replace(fix, time_valid=problem is None, time_problem=problem)

    def _time_problem(self, rmc: Rmc, fix: GpsFix) -> str | None:
        if fix.utc is None:
            return "no date and time yet"
        if not rmc.valid:
            return "RMC status V (void)"
        if fix.utc < self.earliest_utc:
            return f"{fix.utc:%Y-%m-%d} is before {self.earliest_utc:%Y-%m-%d}"
        reference, self._time_reference = self._time_reference, (fix.utc, fix.received_at)
        if reference is None:
            return None
        expected = reference[0] + dt.timedelta(seconds=fix.received_at - reference[1])
        jump_s = (fix.utc - expected).total_seconds()
        if abs(jump_s) > self.jump_tolerance_s:
            return f"GPS time jumped by {jump_s:+.1f} s"
        return None

    def close(self) -> None:
        """Close the serial port; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._port.close()

    def __enter__(self) -> GpsReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
