"""A DS18B20 behind a fake w1 sysfs tree, so the real ``sensors.ds18b20`` driver reads it.

The tree is ``<root>/28-<serial>/w1_slave`` plus ``name``, as under ``/sys/bus/w1/devices``
(kernel Documentation/w1/slaves/w1_therm [D1]). ``w1_slave`` is a named pipe (FIFO), not a
file: a FIFO's reader blocks in ``open()`` until a writer opens it, exactly the moment the
kernel starts a conversion. A writer thread waits for that moment, spends the conversion
time on the injected clock (750 ms at 12 bit, halving per bit below [D7]), computes the
scratchpad for ``true_temp_c()`` *then*, and writes the two lines the kernel would print.
So every read sees a fresh conversion and the driver code is the one that runs on the buoy:
it only calls ``Path.read_bytes()``. A FIFO also lets a read block for real (``Fault.SLOW``).

One answer per read: a reader gets end-of-file only when every writer has closed, so a writer
that opened the same FIFO again before the last reader had closed it would run two answers
together. The emulator therefore swaps a fresh FIFO in under the name ``w1_slave`` (a rename,
atomic) while it still holds the served one open: the reader it is answering keeps the old
FIFO, which no one else can open any more, and the next ``open()`` blocks on the new one until
the writer thread finds it there (it looks every ``poll_s`` real seconds).

Faults (``sensors.emulators.faults``), each with the kernel's exact output (``SENSORS.md``
section 2.2):

- ``NACK``: the slave detaches: the device folder disappears until cleared.
- ``BROWNOUT``: the power-on scratchpad ``50 05 4b 46 7f ff 0c 10 1c : crc=1c YES`` /
  ``t=85000``: no conversion ran.
- ``BAD_CHECKSUM``: one bit of the temperature LSB flipped on the wire; the kernel says ``NO``.
- ``BUS_OPEN``: all 0xFF: ``crc=c9 NO`` / ``t=-62``.
- ``NOT_READY``: all 0x00: ``crc=00 YES`` / ``t=0``.
- ``GARBAGE``: the text is cut off in the middle of line 1.
- ``SLOW``: the answer comes ``amount`` real seconds late (a hung bus; default ``slow_s``).
- ``STUCK``: conversions stop: the scratchpad keeps the value of the last one before.
- ``DRIFT``: the reading drifts by ``amount`` degC per hour from the moment of injection
  (default ``drift_c_per_day`` / 24).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from sensors.clock import Clock
from sensors.ds18b20 import dallas_crc8
from sensors.emulators.faults import HOURS_PER_DAY, Fault, FaultInjection, FaultSet

logger = logging.getLogger(__name__)

POWER_ON_SCRATCHPAD = bytes.fromhex("5005 4b46 7fff 0c10 1c")


def scratchpad_for(celsius: float, resolution_bits: int = 12) -> bytes:
    """The 9 bytes a DS18B20 holds after converting ``celsius`` (TH/TL at factory defaults)."""
    counts = max(-0x8000, min(0x7FFF, round(celsius * 16)))
    counts &= ~((1 << (12 - resolution_bits)) - 1)  # undefined low bits read as 0 here
    config = ((resolution_bits - 9) << 5) | 0x1F
    body = counts.to_bytes(2, "little", signed=True) + bytes([0x4B, 0x46, config, 0xFF, 0x0C, 0x10])
    return body + bytes([dallas_crc8(body)])


def kernel_text(scratchpad: bytes) -> str:
    """The two lines ``w1_therm`` prints for ``scratchpad``, its own CRC verdict included."""
    crc = dallas_crc8(scratchpad[:8])
    verdict = "YES" if crc == scratchpad[8] else "NO"
    counts = int.from_bytes(scratchpad[:2], "little", signed=True)
    hex_bytes = " ".join(f"{b:02x}" for b in scratchpad)
    millis = int(counts * 1000 / 16)  # C integer division truncates toward zero
    return f"{hex_bytes} : crc={crc:02x} {verdict}\n{hex_bytes} t={millis}\n"


class W1Emulator(FaultInjection):
    """One emulated DS18B20 in a w1 ``devices`` folder ``root``; ``device`` is its folder."""

    SUPPORTED_FAULTS = frozenset(
        {
            Fault.NACK,
            Fault.BROWNOUT,
            Fault.BAD_CHECKSUM,
            Fault.BUS_OPEN,
            Fault.NOT_READY,
            Fault.GARBAGE,
            Fault.SLOW,
            Fault.STUCK,
            Fault.DRIFT,
        }
    )

    def __init__(
        self,
        root: Path,
        true_temp_c: Callable[[], float],
        clock: Clock,
        *,
        serial: str = "000005e2fdc3",
        resolution_bits: int = 12,
        slow_s: float = 3.0,
        drift_c_per_day: float = 0.5,
        poll_s: float = 0.01,
    ) -> None:
        if not 9 <= resolution_bits <= 12:
            raise ValueError("a DS18B20 resolves 9 to 12 bits")
        self.device = root / f"28-{serial}"
        self.true_temp_c = true_temp_c
        self.resolution_bits = resolution_bits
        self.poll_s = poll_s
        self.conversions = 0
        self._clock = clock
        self.faults = FaultSet(
            clock,
            "DS18B20",
            self.SUPPORTED_FAULTS,
            {Fault.SLOW: slow_s, Fault.DRIFT: drift_c_per_day / HOURS_PER_DAY},
        )
        self._last = scratchpad_for(true_temp_c(), resolution_bits)
        self._pipe_lock = threading.Lock()  # held while the pipe is served or removed
        self._changed = threading.Event()  # wakes a SLOW answer early
        self._stop = threading.Event()
        root.mkdir(parents=True, exist_ok=True)
        self._create()
        self._thread = threading.Thread(target=self._serve_forever, name="w1-emulator", daemon=True)
        self._thread.start()

    def _faults_changed(self) -> None:
        """Wake a SLOW answer early, and take the folder away or bring it back for NACK."""
        self._changed.set()
        if Fault.NACK in self.faults:
            self._remove()
        elif not self.device.exists():
            self._create()

    def close(self) -> None:
        """Stop answering and remove the device folder; safe to call twice."""
        self._stop.set()
        self._changed.set()
        self._thread.join()
        self._remove()

    def __enter__(self) -> W1Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create(self) -> None:
        with self._pipe_lock:
            self.device.mkdir(exist_ok=True)
            (self.device / "name").write_text(f"{self.device.name}\n")
            os.mkfifo(self.device / "w1_slave")

    def _replace_pipe(self) -> None:
        """A fresh, unopened FIFO under the name ``w1_slave``; the served one lives on unnamed."""
        fresh = self.device / "w1_slave.next"
        os.mkfifo(fresh)
        os.replace(fresh, self.device / "w1_slave")

    def _remove(self) -> None:
        with self._pipe_lock:
            self._release_blocked_readers()
            shutil.rmtree(self.device, ignore_errors=True)

    def _release_blocked_readers(self) -> None:
        """Give every reader stuck in ``open()`` an empty answer, as a detaching slave does."""
        while (fd := self._open_writer()) is not None:
            os.close(fd)

    def _open_writer(self) -> int | None:
        """A write end of the pipe when a reader is waiting on it, else None."""
        try:
            return os.open(self.device / "w1_slave", os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.ENXIO, errno.ENOENT, errno.ENOTDIR):
                return None
            raise

    def _serve_forever(self) -> None:
        while not self._stop.is_set():
            with self._pipe_lock:
                fd = None if Fault.NACK in self.faults else self._open_writer()
                if fd is not None:
                    self._answer(fd)
            self._stop.wait(self.poll_s)

    def _answer(self, fd: int) -> None:
        """Convert and answer the reader waiting on ``fd``; the answer ends when ``fd`` closes."""
        try:
            self._replace_pipe()
            os.set_blocking(fd, True)
            self._clock.sleep(0.75 / 2 ** (12 - self.resolution_bits))
            self.conversions += 1
            if Fault.SLOW in self.faults:
                self._changed.clear()
                self._changed.wait(self.faults.amount(Fault.SLOW))
            os.write(fd, self._text().encode("ascii"))
        except BrokenPipeError:
            logger.debug("the reader left before the answer")
        finally:
            os.close(fd)

    def _text(self) -> str:
        faults = self.faults
        if Fault.BROWNOUT in faults:
            return kernel_text(POWER_ON_SCRATCHPAD)
        if Fault.BUS_OPEN in faults:
            return kernel_text(b"\xff" * 9)
        if Fault.NOT_READY in faults:
            return kernel_text(bytes(9))
        if Fault.STUCK not in faults:
            self._last = scratchpad_for(self._temperature(), self.resolution_bits)
        scratchpad = self._last
        if Fault.BAD_CHECKSUM in faults:
            scratchpad = bytes([scratchpad[0] ^ 0x01]) + scratchpad[1:]
        text = kernel_text(scratchpad)
        return text[: len(text) // 4] if Fault.GARBAGE in faults else text

    def _temperature(self) -> float:
        return self.true_temp_c() + self.faults.drift()
