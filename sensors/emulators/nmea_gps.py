"""A NEO-6M-like GPS on a pseudo-terminal, so the real ``sensors.gps`` driver reads it.

``os.openpty()`` gives a master/slave pair; the driver opens ``emulator.port`` (the slave's
path) with pyserial at 9600 baud exactly as it opens ``/dev/serial0`` on the buoy. Each epoch
is RMC, VTG, GGA, GSA, the order a NEO-6M uses [G2], with correct checksums, the position from
``position()`` (``None``: no fix) and the UTC time from ``clock.utc()``.

Pacing. A pty has no baud rate, so nothing would hold the emulator back, and on a virtual
clock (``SimulatedClock(speedup=0)``) time moves only when someone sleeps. So the receiver
sends one epoch at power-on and then one epoch each time the reader asks for it by discarding
its input, as the driver does before every read (``reset_input_buffer()``) and pyserial does
on ``open()``: the master runs in packet mode (``TIOCPKT``), where the kernel reports that
flush to it synchronously as ``TIOCPKT_FLUSHREAD``. The asked-for epoch goes out one
``period_s`` of clock time after the previous one asked for (the first at once): the emulator
waits on the clock for it, which on a virtual clock moves time on by exactly that much while
the reader waits, so GPS time and the driver's clock stay in step whatever the scheduling. A
flush that finds the previous epoch still unread came before that epoch reached the port, so
it asks for nothing new. After every write the emulator polls its own end of the port, which
makes the kernel hand the bytes to the port at once (``n_tty_poll`` runs the pending buffer
work), so "unread" is exact rather than racing the kernel's worker thread. ``poll_s`` is how
often the thread looks for ``close()`` while nobody asks.

Faults (``sensors.emulators.faults``), from ``SENSORS.md`` section 4.4:

- ``BAD_CHECKSUM``: every ``*HH`` is wrong.
- ``NOISE``: a line of random bytes before every sentence (the fix still gets through).
- ``GARBAGE``: every byte garbled, as at a baud-rate mismatch on the mini-UART [P6].
- ``SILENT``: nothing is written (a dead receiver or a broken wire).
- ``VOID_FIX``: time and date but no position: ``RMC ...,V,...``, GGA quality 0 [G2].
- ``NO_TIME``: the cold-start output ``$GPRMC,,V,,,,,,,,,,N*53``,
  ``$GPGGA,,,,,,0,00,99.99,,,,,,*48`` [G2].
- ``TIME_JUMP``: GPS time is ``time_jump_s`` off from then on.
- ``STUCK``: the first epoch after injection (time and position) again and again.
"""

from __future__ import annotations

import array
import datetime as dt
import fcntl
import os
import random
import select
import struct
import termios
import threading
import tty
from collections.abc import Callable

from sensors.clock import Clock
from sensors.emulators.faults import Fault, FaultInjection, FaultSet
from sensors.nmea import checksum, sentence

LatLon = tuple[float, float]  # signed decimal degrees
PACKET_READ = 64  # a packet-mode read: one status byte, or a data byte and what the slave wrote


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


class NmeaGpsEmulator(FaultInjection):
    """An emulated GPS receiver behind a pty; open ``port`` with pyserial."""

    SUPPORTED_FAULTS = frozenset(
        {
            Fault.BAD_CHECKSUM,
            Fault.NOISE,
            Fault.GARBAGE,
            Fault.SILENT,
            Fault.VOID_FIX,
            Fault.NO_TIME,
            Fault.TIME_JUMP,
            Fault.STUCK,
        }
    )

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
        self.faults = FaultSet(clock, "NMEA GPS", self.SUPPORTED_FAULTS)
        self._next_epoch_at: float | None = None  # clock time; None until an epoch is asked for
        self._master, self._slave = os.openpty()
        try:
            tty.setraw(self._slave)  # no echo or line editing before the driver opens it
            fcntl.ioctl(self._master, termios.TIOCPKT, struct.pack("i", 1))
            self.port = os.ttyname(self._slave)
            self._send()  # the receiver talks as soon as it has power
        except BaseException:
            os.close(self._master)
            os.close(self._slave)
            raise
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nmea-gps", daemon=True)
        self._thread.start()

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
        while not self._stop.is_set():
            if self._asked() and Fault.SILENT not in self.faults:
                if self._next_epoch_at is not None:
                    self._clock.sleep(self._next_epoch_at - self._clock.monotonic())
                self._send()
                self._next_epoch_at = self._clock.monotonic() + self.period_s

    def _asked(self) -> bool:
        """True when the reader discarded its input since the last epoch reached the port."""
        ready, _, _ = select.select([self._master], [], [], self.poll_s)
        if not ready:
            return False
        packet = os.read(self._master, PACKET_READ)
        flushed = packet[0] & termios.TIOCPKT_FLUSHREAD  # 0 (TIOCPKT_DATA): the slave wrote
        return bool(flushed) and self._unread() == 0

    def _send(self) -> None:
        """Write one epoch and make the kernel hand it to the port now (see the module doc)."""
        os.write(self._master, self._epoch())
        select.select([self._slave], [], [], 0)
        self.epochs += 1

    def _epoch(self) -> bytes:
        faults = self.faults
        utc = dt.datetime.fromtimestamp(self._clock.utc(), dt.UTC)
        if Fault.TIME_JUMP in faults:
            utc += dt.timedelta(seconds=self.time_jump_s)
        position = None if Fault.VOID_FIX in faults else self.position()
        bodies = epoch_bodies(None if Fault.NO_TIME in faults else utc, position)
        data = b"".join(self._line(body, faults) for body in bodies)
        if Fault.GARBAGE in faults:
            data = bytes(b ^ self._random.choice((0x20, 0x81, 0xC4)) for b in data)
        return faults.stuck(data)

    def _line(self, body: str, faults: FaultSet) -> bytes:
        line = sentence(body)
        if Fault.BAD_CHECKSUM in faults:
            line = f"${body}*{checksum(body) ^ 0x5A:02X}\r\n".encode("ascii")
        if Fault.NOISE in faults:
            noise = bytes(self._random.randrange(256) for _ in range(20)).replace(b"\n", b"")
            line = noise + b"\r\n" + line
        return line
