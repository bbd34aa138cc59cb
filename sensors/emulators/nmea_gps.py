"""A NEO-6M-like GPS on a pseudo-terminal, so the real ``sensors.gps`` driver reads it.

``os.openpty()`` gives a master/slave pair; the driver opens ``emulator.port`` (the slave's
path) with pyserial at 9600 baud exactly as it opens ``/dev/serial0`` on the buoy. Every
``period_s`` of clock time the emulator writes one epoch: RMC, VTG, GGA, GSA, the order a
NEO-6M uses [G2], with correct checksums, the position from ``position()`` (``None``: no
fix) and the UTC time from ``clock.utc()``.

Pacing (a pty has no baud rate, so nothing would hold it back): the next epoch waits until
the previous one has been read from the slave (``TIOCINQ`` is 0), checked every ``poll_s``
real seconds. On a virtual clock (``SimulatedClock(speedup=0)``) the emulator's
``clock.sleep(period_s)`` is what moves time on, one period per epoch read, so GPS time and
the driver's clock stay in step. On a real clock a reader that falls behind sees the
newest epoch no later than one period after it drains the port, as on the buoy.

Faults (``inject(Fault.X)``, ``clear_faults()``), from ``SENSORS.md`` section 4.4:

- ``BAD_CHECKSUM``: every ``*HH`` is wrong.
- ``NOISE``: a line of random bytes before every sentence (the fix still gets through).
- ``GARBAGE``: every byte garbled, as at a baud-rate mismatch on the mini-UART [P6].
- ``SILENT``: nothing is written (a dead receiver or a broken wire).
- ``VOID_FIX``: time and date but no position: ``RMC ...,V,...``, GGA quality 0 [G2].
- ``NO_TIME``: the cold-start output ``$GPRMC,,V,,,,,,,,,,N*53``,
  ``$GPGGA,,,,,,0,00,99.99,,,,,,*48`` [G2].
- ``TIME_JUMP``: GPS time is ``time_jump_s`` off from then on.
- ``STUCK``: the same epoch (time and position) again and again.
"""

from __future__ import annotations

import array
import datetime as dt
import fcntl
import os
import random
import termios
import threading
import tty
from collections.abc import Callable
from enum import Enum, auto

from sensors.clock import Clock
from sensors.nmea import checksum, sentence

LatLon = tuple[float, float]  # signed decimal degrees


class Fault(Enum):
    BAD_CHECKSUM = auto()
    NOISE = auto()
    GARBAGE = auto()
    SILENT = auto()
    VOID_FIX = auto()
    NO_TIME = auto()
    TIME_JUMP = auto()
    STUCK = auto()


def nmea_angle(degrees: float, degree_digits: int) -> str:
    """``degrees`` (unsigned) as NMEA ``d..dmm.mmmm`` with 4 decimals of minutes."""
    ten_thousandths = round(abs(degrees) * 60 * 10_000)
    whole, rest = divmod(ten_thousandths, 60 * 10_000)
    return f"{whole:0{degree_digits}d}{rest // 10_000:02d}.{rest % 10_000:04d}"


def epoch_bodies(
    utc: dt.datetime | None, position: LatLon | None, satellites: int = 7, hdop: float = 1.1
) -> list[str]:
    """The sentence bodies (between ``$`` and ``*``) of one epoch: RMC, VTG, GGA, GSA."""
    if utc is None:
        return ["GPRMC,,V,,,,,,,,,,N", "GPVTG,,,,,,,,,N", "GPGGA,,,,,,0,00,99.99,,,,,,"]
    hhmmss = f"{utc:%H%M%S}.{utc.microsecond // 10_000:02d}"
    ddmmyy = f"{utc:%d%m%y}"
    if position is None:
        return [
            f"GPRMC,{hhmmss},V,,,,,,,{ddmmyy},,,N",
            "GPVTG,,,,,,,,,N",
            f"GPGGA,{hhmmss},,,,,0,00,99.99,,,,,,",
            "GPGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99",
        ]
    lat, lon = position
    where = (
        f"{nmea_angle(lat, 2)},{'N' if lat >= 0 else 'S'},"
        f"{nmea_angle(lon, 3)},{'E' if lon >= 0 else 'W'}"
    )
    return [
        f"GPRMC,{hhmmss},A,{where},0.00,,{ddmmyy},,,A",
        "GPVTG,,T,,M,0.00,N,0.00,K,A",
        f"GPGGA,{hhmmss},{where},1,{satellites:02d},{hdop:.2f},2.4,M,53.0,M,,",
        f"GPGSA,A,3,04,07,09,16,20,23,30,,,,,,{hdop + 0.8:.2f},{hdop:.2f},1.50",
    ]


class NmeaGpsEmulator:
    """An emulated GPS receiver behind a pty; open ``port`` with pyserial."""

    def __init__(
        self,
        clock: Clock,
        position: Callable[[], LatLon | None],
        *,
        period_s: float = 1.0,
        time_jump_s: float = 3600.0,
        poll_s: float = 0.005,
        seed: int = 0,
    ) -> None:
        self.position = position
        self.period_s = period_s
        self.time_jump_s = time_jump_s
        self.poll_s = poll_s
        self.epochs = 0
        self._clock = clock
        self._random = random.Random(seed)
        self._faults: frozenset[Fault] = frozenset()  # replaced whole, never mutated
        self._last_epoch = b""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo or line editing before the driver opens it
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nmea-gps", daemon=True)
        self._thread.start()

    @property
    def faults(self) -> frozenset[Fault]:
        return self._faults

    def inject(self, fault: Fault) -> None:
        self._faults = self._faults | {fault}

    def clear_faults(self) -> None:
        self._faults = frozenset()

    def close(self) -> None:
        """Stop talking and close the pty; safe to call twice."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            os.close(self._master)
            os.close(self._slave)

    def __enter__(self) -> NmeaGpsEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unread(self) -> int:
        count = array.array("i", [0])
        fcntl.ioctl(self._slave, termios.TIOCINQ, count)
        return count[0]

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            if Fault.SILENT in self._faults or self._unread():
                continue
            self._clock.sleep(self.period_s)
            os.write(self._master, self._epoch())
            self.epochs += 1

    def _epoch(self) -> bytes:
        faults = self._faults
        if Fault.STUCK in faults and self._last_epoch:
            return self._last_epoch
        utc = dt.datetime.fromtimestamp(self._clock.utc(), dt.UTC)
        if Fault.TIME_JUMP in faults:
            utc += dt.timedelta(seconds=self.time_jump_s)
        position = None if Fault.VOID_FIX in faults else self.position()
        bodies = epoch_bodies(None if Fault.NO_TIME in faults else utc, position)
        data = b"".join(self._line(body, faults) for body in bodies)
        if Fault.GARBAGE in faults:
            data = bytes(b ^ self._random.choice((0x20, 0x81, 0xC4)) for b in data)
        self._last_epoch = data
        return data

    def _line(self, body: str, faults: frozenset[Fault]) -> bytes:
        line = sentence(body)
        if Fault.BAD_CHECKSUM in faults:
            line = f"${body}*{checksum(body) ^ 0x5A:02X}\r\n".encode("ascii")
        if Fault.NOISE in faults:
            noise = bytes(self._random.randrange(256) for _ in range(20)).replace(b"\n", b"")
            line = noise + b"\r\n" + line
        return line
