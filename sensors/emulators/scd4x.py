"""A Sensirion SCD41 (or SCD40) CO2 sensor, byte for byte, under ``FakeSMBus``.

Why: the real ``sensors.scd4x`` driver runs against it in tests and in ``--simulate``; a
simulated reef drives it through zero-argument callables (``co2_ppm``, ``temperature_c``,
``humidity_rh``, ``pressure_hpa``) that give the truth now.

Protocol (SENSORS.md §3.1): 16-bit commands, CRC-protected argument and answer words
(``sensors.crc8``), execution times and command codes as in ``sensors.scd4x``; every
transaction is NACKed during the 1000 ms boot after ``power_cycle()``, while a command
executes, when a command is not allowed in the current mode, and when a read finds nothing
pending (read_measurement with an empty buffer NACKs [C6]). Periodic measurement produces a
frame every 5 s of the injected clock; get_data_ready_status reports it until it is read.

Physics: the NDIR cell sees the CO2 partial pressure, so the reported mole fraction is
``co2_ppm · p_true / p_set`` (``p_set`` from set_ambient_pressure, 1013 hPa by default), plus
``sensor_offset_ppm`` (the part's own calibration error), DRIFT, and the correction of the last
forced recalibration, which needs 3 minutes of measuring since power-on and is kept across
power cycles (as is the ASC setting once persist_settings has stored it). Temperature and
humidity carry a little seeded noise (``noise_seed``; ±0.02 °C, ±0.05 %RH), as the real
part's low bits do, so consecutive frames differ; CO2 is reported exactly.

Assumptions (⚠): commands not allowed in the current mode, unknown codes and argument words
with a wrong CRC are NACKed; FRC fails (0xFFFF) with less than 180 s of measuring; the
data-ready word is 0x8006 when ready and 0x8000 when not (only the low 11 bits matter [C1]).

Faults (``sensors.emulators.faults``): NACK, STUCK (the first frame after injection again and
again), GARBAGE (all 0xFF, a released bus), BAD_CHECKSUM (the first CRC of every answer
inverted), SLOW (``amount`` seconds more per command, default 10 s), DRIFT (``amount`` ppm/h,
default 1).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from sensors import scd4x as chip
from sensors.clock import Clock
from sensors.crc8 import WORD_BYTES, decode_words, encode_words
from sensors.emulators.fake_smbus import nack
from sensors.emulators.faults import SLOW_S, Fault, FaultInjection, FaultSet
from sensors.errors import SensorError

BOOT_S = 1.0
INTERVAL_S = 5.0
FRC_MIN_MEASURING_S = 180.0
DEFAULT_PRESSURE_HPA = 1013
READY_WORD, NOT_READY_WORD = 0x8006, 0x8000


def _word(value: float) -> int:
    return max(0, min(0xFFFF, round(value)))


class Scd4xEmulator(FaultInjection):
    SUPPORTED_FAULTS = frozenset(
        {Fault.NACK, Fault.STUCK, Fault.GARBAGE, Fault.BAD_CHECKSUM, Fault.SLOW, Fault.DRIFT}
    )

    def __init__(
        self,
        clock: Clock,
        co2_ppm: Callable[[], float] = lambda: 420.0,
        temperature_c: Callable[[], float] = lambda: 25.0,
        humidity_rh: Callable[[], float] = lambda: 50.0,
        *,
        pressure_hpa: Callable[[], float] = lambda: 1013.25,
        sensor_offset_ppm: float = 0.0,
        serial_number: int = 0x0123_4567_89AB,
        single_shot_supported: bool = True,
        noise_seed: int = 0,
    ) -> None:
        self.clock = clock
        self.faults = FaultSet(
            clock, "SCD4x", self.SUPPORTED_FAULTS, {Fault.SLOW: SLOW_S, Fault.DRIFT: 1.0}
        )
        self.co2_ppm = co2_ppm
        self.temperature_c = temperature_c
        self.humidity_rh = humidity_rh
        self.pressure_hpa = pressure_hpa
        self.sensor_offset_ppm = sensor_offset_ppm
        self.serial_number = serial_number
        self.single_shot_supported = single_shot_supported
        self._noise = random.Random(noise_seed)
        self.frc_correction_ppm = 0  # kept in EEPROM, like the persisted ASC setting
        self.persisted_asc = True
        self.received: list[bytes] = []
        self._handlers = self._command_table()
        self.power_cycle()

    def power_cycle(self) -> None:
        """Power off and on: idle, settings back to defaults, 1 s before it answers."""
        now = self.clock.monotonic()
        self._booted_at = now + BOOT_S
        self._busy_until = now
        self._pending: bytes | None = None
        self.measuring_since: float | None = None
        self._frames_read = 0
        self._shot_ready = False
        self._measured_s = 0.0
        self.pressure_set_hpa = DEFAULT_PRESSURE_HPA
        self.asc_enabled = self.persisted_asc

    # -- the wire --------------------------------------------------------------------------

    def _answering(self) -> bool:
        now = self.clock.monotonic()
        return Fault.NACK not in self.faults and now >= self._booted_at and now >= self._busy_until

    def write(self, data: bytes) -> None:
        if not self._answering() or len(data) < 2:
            raise nack()
        code = int.from_bytes(data[:2], "big")
        handler = self._handlers.get(code)
        measuring = self.measuring_since is not None
        if handler is None or (measuring and code not in chip.ALLOWED_WHILE_MEASURING):
            raise nack()
        try:
            args = decode_words(data[2:])
        except SensorError:
            raise nack() from None
        self.received.append(bytes(data))
        self._pending = None
        self._busy_until = (
            self.clock.monotonic() + chip.EXECUTION_S[code] + self.faults.amount(Fault.SLOW)
        )
        handler(args)

    def read(self, length: int) -> bytes:
        if not self._answering() or self._pending is None:
            raise nack()
        data, self._pending = self._pending, None
        if Fault.GARBAGE in self.faults:
            data = b"\xff" * len(data)
        elif Fault.BAD_CHECKSUM in self.faults:
            data = data[:2] + bytes([data[2] ^ 0xFF]) + data[WORD_BYTES:]
        return data.ljust(length, b"\xff")[:length]

    # -- commands --------------------------------------------------------------------------

    def _command_table(self) -> dict[int, Callable[[tuple[int, ...]], None]]:
        handlers: dict[int, Callable[[tuple[int, ...]], None]] = {
            chip.START_PERIODIC_MEASUREMENT: self._start,
            chip.STOP_PERIODIC_MEASUREMENT: self._stop,
            chip.READ_MEASUREMENT: self._read_measurement,
            chip.GET_DATA_READY_STATUS: self._data_ready,
            chip.SET_AMBIENT_PRESSURE: self._set_pressure,
            chip.PERFORM_FORCED_RECALIBRATION: self._forced_recalibration,
            chip.SET_AUTOMATIC_SELF_CALIBRATION: self._set_asc,
            chip.GET_AUTOMATIC_SELF_CALIBRATION: self._get_asc,
            chip.PERSIST_SETTINGS: self._persist,
            chip.GET_SERIAL_NUMBER: self._get_serial,
        }
        if self.single_shot_supported:
            handlers[chip.MEASURE_SINGLE_SHOT] = self._single_shot
        return handlers

    def _start(self, args: tuple[int, ...]) -> None:
        self.measuring_since = self.clock.monotonic()
        self._frames_read = 0

    def _stop(self, args: tuple[int, ...]) -> None:
        if self.measuring_since is not None:
            self._measured_s += self.clock.monotonic() - self.measuring_since
        self.measuring_since = None

    def _frames_made(self) -> int:
        if self.measuring_since is None:
            return 0
        return int((self.clock.monotonic() - self.measuring_since) // INTERVAL_S)

    def _has_data(self) -> bool:
        return self._shot_ready or self._frames_made() > self._frames_read

    def _read_measurement(self, args: tuple[int, ...]) -> None:
        if not self._has_data():
            return
        self._frames_read = self._frames_made()
        self._shot_ready = False
        self._pending = self.faults.stuck(self.frame())

    def _data_ready(self, args: tuple[int, ...]) -> None:
        self._pending = encode_words(READY_WORD if self._has_data() else NOT_READY_WORD)

    def _single_shot(self, args: tuple[int, ...]) -> None:
        self._shot_ready = True
        self._measured_s += chip.EXECUTION_S[chip.MEASURE_SINGLE_SHOT]

    def _set_pressure(self, args: tuple[int, ...]) -> None:
        (self.pressure_set_hpa,) = args

    def _forced_recalibration(self, args: tuple[int, ...]) -> None:
        (target,) = args
        if self._measured_s < FRC_MIN_MEASURING_S:
            self._pending = encode_words(chip.FRC_FAILED)
            return
        correction = target - self.reported_co2()
        self.frc_correction_ppm += correction
        self._pending = encode_words((correction + chip.FRC_OFFSET) & 0xFFFF)

    def _set_asc(self, args: tuple[int, ...]) -> None:
        self.asc_enabled = bool(args[0])

    def _get_asc(self, args: tuple[int, ...]) -> None:
        self._pending = encode_words(int(self.asc_enabled))

    def _persist(self, args: tuple[int, ...]) -> None:
        self.persisted_asc = self.asc_enabled

    def _get_serial(self, args: tuple[int, ...]) -> None:
        serial = self.serial_number
        self._pending = encode_words(serial >> 32, (serial >> 16) & 0xFFFF, serial & 0xFFFF)

    # -- physics ---------------------------------------------------------------------------

    def _jitter(self, size: float) -> float:
        return self._noise.uniform(-size, size)

    def reported_co2(self) -> int:
        """The CO2 value the part would report now, in ppm."""
        seen = self.co2_ppm() * self.pressure_hpa() / self.pressure_set_hpa
        return round(seen + self.sensor_offset_ppm + self.faults.drift() + self.frc_correction_ppm)

    def frame(self) -> bytes:
        """A read_measurement answer for the truth now: three words with their CRCs."""
        return encode_words(
            _word(self.reported_co2()),
            _word((self.temperature_c() + self._jitter(0.02) + 45.0) * 65535 / 175.0),
            _word((self.humidity_rh() + self._jitter(0.05)) * 65535 / 100.0),
        )
