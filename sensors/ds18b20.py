"""DS18B20 water temperature through the Linux w1 sysfs interface.

The kernel's ``w1_therm`` driver does the 1-Wire work: every open and read of
``/sys/bus/w1/devices/28-xxxxxxxxxxxx/w1_slave`` starts a conversion (up to 750 ms at 12 bit,
datasheet [D7]) and returns two lines (kernel Documentation/w1/slaves/w1_therm [D1])::

    90 01 4b 46 7f ff 0c 10 33 : crc=33 YES
    90 01 4b 46 7f ff 0c 10 33 t=25000

Line 1 is the 9 scratchpad bytes and the CRC the kernel computed with its YES/NO verdict;
line 2 repeats the bytes and gives ``t`` in milli-degrees C. Bytes 0-1 are the temperature,
a signed little-endian count of 1/16 degC; byte 4 is the config register, resolution
``(byte4 >> 5) + 9`` bits; byte 8 is the Dallas/Maxim CRC-8 (polynomial x^8+x^5+x^4+1,
reflected 0x8C, init 0) of bytes 0-7 [D2]. The kernel computes ``t`` as ``s16 * 1000 / 16``
in C, which truncates toward zero (drivers/w1/slaves/w1_therm.c,
``w1_DS18B20_convert_temp``), hence ``t=-62`` for -0.0625 degC.

What this driver promises (``SENSORS.md`` section 2.2):

- it checks the CRC itself, not only the kernel's YES, and that ``t`` agrees with the bytes;
- ``50 05 ...`` (85 degC) is the power-on value of a conversion that never ran:
  POWER_ON_VALUE, even though its CRC is valid [D3], [D4];
- an all-0x00 or all-0xFF scratchpad (not ready / bus open) and any text that does not parse
  are GARBAGE; a NO or a CRC mismatch is CHECKSUM; a missing device folder is UNREACHABLE;
- a value outside the part's -55..+125 degC is OUT_OF_RANGE [D7];
- a scratchpad that stays byte-for-byte identical for ``stuck_after_s`` is reported STUCK
  with its value (assumption: the DS18B20's 1/16 degC step and its ±1 LSB flicker make
  hours of identical conversions in open water unlikely; set None to disable);
- a read that blocks longer than ``timeout_s`` (real seconds: the block is in the kernel)
  is TIMEOUT. The blocked read is left to finish in a daemon thread; while it has not, the
  next ``read()`` reports TIMEOUT at once instead of stacking threads on a hung bus.

``warmup_s`` is the w1 master's slave-search period: after power-on the device folder appears
only at the next automatic search, every 10 s by default (drivers/w1/w1.c, ``w1_timeout``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from nemopi.sensor_status import SensorStatus
from sensors.clock import Clock, SystemClock
from sensors.errors import (
    ChecksumError,
    DeviceTimeout,
    DeviceUnreachable,
    GarbageResponse,
    OutOfRange,
    SensorError,
)
from sensors.fault_log import FaultLog
from sensors.power_switch import PowerState, power_for, readiness
from sensors.reading import Reading, failed

logger = logging.getLogger(__name__)

W1_DEVICES = Path("/sys/bus/w1/devices")
FAMILY_DS18B20 = "28"
POWER_ON_RAW = 0x0550  # 85.0 degC, the scratchpad's reset value
PART_MIN_C, PART_MAX_C = -55.0, 125.0


class PowerOnValue(SensorError, ValueError):
    """The scratchpad still holds its 85 degC reset value: no conversion ran."""

    status = SensorStatus.POWER_ON_VALUE


_HEX9 = r"((?:[0-9a-f]{2} ){9})"
_LINE1 = re.compile(_HEX9 + r": crc=([0-9a-f]{2}) (YES|NO)")
_LINE2 = re.compile(_HEX9 + r"t=(-?\d+)")


def dallas_crc8(data: bytes) -> int:
    """Dallas/Maxim 1-Wire CRC-8: reflected polynomial 0x8C, init 0, no final XOR."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


@dataclass(frozen=True, slots=True)
class Scratchpad:
    """A decoded, CRC-checked scratchpad."""

    raw: bytes  # all 9 bytes
    temperature_c: float
    resolution_bits: int


def parse_w1_slave(text: str) -> Scratchpad:
    """Decode the kernel's two ``w1_slave`` lines; raise the ``SensorError`` that says why not.

    The 85 degC power-on value decodes normally: it is a valid scratchpad, and the caller
    decides what it means.
    """
    lines = text.splitlines()
    first = _LINE1.fullmatch(lines[0].strip()) if len(lines) == 2 else None
    second = _LINE2.fullmatch(lines[1].strip()) if first else None
    if first is None or second is None or first[1] != second[1]:
        raise GarbageResponse("w1_slave text does not parse", text)
    raw = bytes.fromhex(first[1])
    if raw in (bytes(9), b"\xff" * 9):
        raise GarbageResponse(f"scratchpad all {raw[0]:02x}: not ready or bus open", text)
    if first[3] != "YES":
        raise ChecksumError("kernel reports a CRC failure", text)
    crc = dallas_crc8(raw[:8])
    if crc != raw[8] or crc != int(first[2], 16):
        raise ChecksumError(f"CRC {crc:02x} does not match {raw[8]:02x}/{first[2]}", text)
    counts = int.from_bytes(raw[:2], "little", signed=True)
    if int(second[2]) != int(counts * 1000 / 16):
        raise GarbageResponse(f"t={second[2]} disagrees with bytes {raw[:2].hex()}", text)
    return Scratchpad(raw, counts / 16, (raw[4] >> 5) + 9)


def find_devices(root: Path = W1_DEVICES) -> list[Path]:
    """The DS18B20 device folders (family 0x28) under a w1 ``devices`` folder, sorted."""
    return sorted(root.glob(f"{FAMILY_DS18B20}-*"))


def _read_in_thread(read: Callable[[], bytes]) -> Future[bytes]:
    future: Future[bytes] = Future()

    def run() -> None:
        try:
            future.set_result(read())
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)

    threading.Thread(target=run, name="w1-read", daemon=True).start()
    return future


class DS18B20:
    """One DS18B20 given its w1 device folder, e.g. ``/sys/bus/w1/devices/28-000005e2fdc3``."""

    warmup_s = 10.0
    quantities = ("water_temperature",)

    def __init__(
        self,
        device: Path,
        clock: Clock | None = None,
        *,
        power: PowerState | None = None,
        timeout_s: float = 2.0,
        stuck_after_s: float | None = 6 * 3600.0,
    ) -> None:
        self.device = device
        self.name = f"ds18b20:{device.name}"
        self.timeout_s = timeout_s
        self.stuck_after_s = stuck_after_s
        self._clock = clock or SystemClock()
        self._power = power_for(self._clock, self.warmup_s, power)
        self._faults = FaultLog(logger, self.name)
        self._pending: Future[bytes] | None = None
        self._same_since: tuple[bytes, float] | None = None
        self._closed = False

    def read(self) -> list[Reading]:
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        not_ready = readiness(self._power)
        if not_ready is not None:
            self._faults.update(not_ready)
            return failed(self.quantities, not_ready)
        try:
            scratchpad = parse_w1_slave(self._read_text())
            reading = self._judge(scratchpad)
        except SensorError as exc:
            self._same_since = None
            self._faults.update(exc.status, str(exc))
            return failed(self.quantities, exc.status)
        self._faults.update(reading.status)
        return [reading]

    def _read_text(self) -> str:
        if self._pending is not None and not self._pending.done():
            raise DeviceTimeout("the previous w1 read is still blocked")
        self._pending = _read_in_thread((self.device / "w1_slave").read_bytes)
        try:
            data = self._pending.result(timeout=self.timeout_s)
        except TimeoutError:
            raise DeviceTimeout(f"w1 read blocked over {self.timeout_s} s") from None
        except OSError as exc:
            raise DeviceUnreachable(f"{self.device}: {exc.strerror or exc}") from exc
        try:
            return data.decode("ascii")
        except UnicodeDecodeError:
            raise GarbageResponse("w1_slave is not ASCII", data) from None

    def _judge(self, scratchpad: Scratchpad) -> Reading:
        if int.from_bytes(scratchpad.raw[:2], "little") == POWER_ON_RAW:
            raise PowerOnValue("85 degC power-on value", scratchpad.raw.hex())
        celsius = scratchpad.temperature_c
        if not PART_MIN_C <= celsius <= PART_MAX_C:
            raise OutOfRange(f"{celsius} degC is outside the part's range", scratchpad.raw.hex())
        return Reading(self.quantities[0], celsius, self._stuck_status(scratchpad.raw))

    def _stuck_status(self, raw: bytes) -> SensorStatus:
        now = self._clock.monotonic()
        if self._same_since is None or self._same_since[0] != raw:
            self._same_since = (raw, now)
        unchanged_s = now - self._same_since[1]
        if self.stuck_after_s is not None and unchanged_s >= self.stuck_after_s:
            return SensorStatus.STUCK
        return SensorStatus.OK

    def close(self) -> None:
        """Nothing is held open between reads; later reads raise ``RuntimeError``."""
        self._closed = True

    def __enter__(self) -> DS18B20:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
