"""Driver for the Sensirion SCD40/SCD41 CO2 sensor in the buoy's membrane equilibrator.

Promises: ``read()`` returns one ``xco2_equilibrated`` reading in ppm (the CO2 mole fraction of
the air in equilibrium with the water), bounded by ``timeout_s``, with a status instead of a
number when the read failed; a frame that is not new is STALE, never a fresh value. The full
frame (CO2, temperature, humidity of the equilibrator air) is kept in ``last_measurement``.
Configuration and calibration methods raise ``SensorError`` subclasses for faults.

Protocol facts relied on (SENSORS.md §3.1; tags are its sources):
- I2C address 0x62; commands are 16-bit, sent MSB first, without CRC; every data word, in
  either direction, is two big-endian bytes and a Sensirion CRC-8 (``sensors.crc8``) [C2][C5].
- The part accepts commands 1000 ms after power-on; a command may not be sent while the
  previous one executes; the answer is read after the execution time [C2].
- Codes and execution times [C3]: start_periodic_measurement 0x21B1 (–), read_measurement
  0xEC05 (1 ms, 3 words), stop_periodic_measurement 0x3F86 (500 ms), get_data_ready_status
  0xE4B8 (1 ms), set_ambient_pressure 0xE000 (1 ms, hPa), perform_forced_recalibration 0x362F
  (400 ms), set/get_automatic_self_calibration 0x2416 / 0x2313 (1 ms), persist_settings 0x3615
  (800 ms), get_serial_number 0x3682 (1 ms, 3 words), measure_single_shot 0x219D (5000 ms,
  SCD41 only). While measuring periodically only read_measurement, stop, set_ambient_pressure
  and get_data_ready_status are allowed; the other methods stop measurement first.
- Frame: CO2 [ppm] = word0, T [°C] = −45 + 175·word1/65535, RH [%] = 100·word2/65535 [C1][C6].
- Data ready: the low 11 bits of the get_data_ready_status word are 0 when no data is ready
  [C1]. read_measurement empties the buffer; with no data the part NACKs the read [C6].
- Forced recalibration: the answer word minus 0x8000 is the correction in ppm; 0xFFFF means
  it failed [C4]. ASC is on by default [C4].
- Measurement range 0–40000 ppm (the catalogue's range for ``xco2_equilibrated``).

Assumptions (⚠): ``warmup_s`` = 10 s (1 s boot [C2] plus the first two 5 s frames, the first
one discarded); a frame bit-identical to the previous one (CO2, T and RH words) is not a new
measurement; a read of all 0xFF bytes is a released bus (GARBAGE), not a CRC error;
set_ambient_pressure accepts 700–1200 hPa.

Modes: periodic (default; one frame every 5 s, ``read()`` waits for a new frame within
``timeout_s``, else STALE) or single shot (``single_shot=True``, SCD41: each ``read()``
triggers a 5 s measurement). In an equilibrator the air never sees the 400 ppm outdoor baseline
that automatic self-calibration assumes: turn ASC off and persist that once at installation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nemopi.sensor_status import SensorStatus
from sensors.clock import Clock, SystemClock
from sensors.crc8 import WORD_BYTES, decode_words, encode_words
from sensors.errors import GarbageResponse, SensorError
from sensors.i2c_sensor import Deadline, I2CBus, I2CSensor, RepeatCounter, checked
from sensors.power_switch import PowerState
from sensors.reading import Reading

logger = logging.getLogger(__name__)

ADDRESS = 0x62
START_PERIODIC_MEASUREMENT = 0x21B1
READ_MEASUREMENT = 0xEC05
STOP_PERIODIC_MEASUREMENT = 0x3F86
GET_DATA_READY_STATUS = 0xE4B8
SET_AMBIENT_PRESSURE = 0xE000
PERFORM_FORCED_RECALIBRATION = 0x362F
SET_AUTOMATIC_SELF_CALIBRATION = 0x2416
GET_AUTOMATIC_SELF_CALIBRATION = 0x2313
PERSIST_SETTINGS = 0x3615
GET_SERIAL_NUMBER = 0x3682
MEASURE_SINGLE_SHOT = 0x219D

EXECUTION_S = {
    START_PERIODIC_MEASUREMENT: 0.0,
    READ_MEASUREMENT: 0.001,
    STOP_PERIODIC_MEASUREMENT: 0.5,
    GET_DATA_READY_STATUS: 0.001,
    SET_AMBIENT_PRESSURE: 0.001,
    PERFORM_FORCED_RECALIBRATION: 0.4,
    SET_AUTOMATIC_SELF_CALIBRATION: 0.001,
    GET_AUTOMATIC_SELF_CALIBRATION: 0.001,
    PERSIST_SETTINGS: 0.8,
    GET_SERIAL_NUMBER: 0.001,
    MEASURE_SINGLE_SHOT: 5.0,
}
ALLOWED_WHILE_MEASURING = frozenset(
    {READ_MEASUREMENT, STOP_PERIODIC_MEASUREMENT, GET_DATA_READY_STATUS, SET_AMBIENT_PRESSURE}
)
DATA_READY_MASK = 0x07FF
FRC_OFFSET = 0x8000
FRC_FAILED = 0xFFFF
PRESSURE_RANGE_HPA = (700.0, 1200.0)


@dataclass(frozen=True, slots=True)
class Measurement:
    co2_ppm: int
    temperature_c: float
    humidity_rh: float


# -- pure codec ------------------------------------------------------------------------------


def encode_command(code: int, *args: int) -> bytes:
    """The bytes written for ``code`` with argument words ``args`` (each with its CRC)."""
    return code.to_bytes(2, "big") + encode_words(*args)


def decode_answer(raw: bytes, words: int) -> tuple[int, ...]:
    """The ``words`` data words of an answer; GARBAGE for a released bus, CHECKSUM for a bad CRC."""
    if len(raw) != words * WORD_BYTES:
        raise GarbageResponse(f"{len(raw)} bytes for {words} words", raw)
    if raw == b"\xff" * len(raw):
        raise GarbageResponse("all bytes 0xFF: nothing drove the data line", raw)
    return decode_words(raw)


def decode_measurement(raw: bytes) -> Measurement:
    """A read_measurement frame (9 bytes) in physical units."""
    co2, temperature, humidity = decode_answer(raw, 3)
    return Measurement(co2, -45.0 + 175.0 * temperature / 65535, 100.0 * humidity / 65535)


def is_data_ready(word: int) -> bool:
    return word & DATA_READY_MASK != 0


# -- driver ----------------------------------------------------------------------------------


class Scd4x(I2CSensor):
    """SCD40/SCD41 on ``bus`` at ``address``; see the module docstring for the protocol."""

    quantities = ("xco2_equilibrated",)
    warmup_s = 10.0

    def __init__(
        self,
        bus: I2CBus,
        clock: Clock | None = None,
        *,
        address: int = ADDRESS,
        name: str = "scd4x",
        single_shot: bool = False,
        timeout_s: float = 6.0,
        grace_s: float = 0.5,
        poll_s: float = 0.5,
        power: PowerState | None = None,
    ) -> None:
        super().__init__(
            bus,
            address,
            clock or SystemClock(),
            name=name,
            poll_s=poll_s,
            power=power,
            logger=logger,
        )
        self.single_shot = single_shot
        self.timeout_s = timeout_s
        self.grace_s = grace_s
        self._measuring_for: float | None = None  # power's ready_at when measurement started
        self.last_measurement: Measurement | None = None
        self._repeats = RepeatCounter()

    # -- measurement -----------------------------------------------------------------------

    def _measure(self) -> list[Reading]:
        deadline = self._begin(self.timeout_s)
        if self.single_shot:
            self._command(MEASURE_SINGLE_SHOT, deadline)
        else:
            if not self.measuring:
                self._command(START_PERIODIC_MEASUREMENT, deadline)
                self._measuring_for = self._power.ready_at
            while not is_data_ready(self._query(GET_DATA_READY_STATUS, 1, deadline)[0]):
                if deadline.remaining() <= self.poll_s:  # no time left for another query
                    return [Reading("xco2_equilibrated", None, SensorStatus.STALE)]
                deadline.wait(self.poll_s)
        raw = self._fetch(READ_MEASUREMENT, 3, deadline)
        measurement = decode_measurement(raw)
        self.last_measurement = measurement
        co2 = checked("xco2_equilibrated", measurement.co2_ppm)
        fresh = self._repeats.see(raw) == 1
        return [Reading("xco2_equilibrated", co2, SensorStatus.OK if fresh else SensorStatus.STALE)]

    @property
    def measuring(self) -> bool:
        """Periodic measurement was started since the part was last powered on."""
        return self._measuring_for is not None and self._measuring_for == self._power.ready_at

    def data_ready(self) -> bool:
        deadline = self._begin(self.grace_s)
        return is_data_ready(self._query(GET_DATA_READY_STATUS, 1, deadline)[0])

    def start_periodic_measurement(self) -> None:
        self._command(START_PERIODIC_MEASUREMENT, self._begin(self.grace_s))
        self._measuring_for = self._power.ready_at

    def stop_periodic_measurement(self) -> None:
        """Stop and wait the 500 ms before the part takes other commands."""
        self._command(STOP_PERIODIC_MEASUREMENT, self._begin(0.5 + self.grace_s))
        self._measuring_for = None

    # -- configuration and calibration -----------------------------------------------------

    def set_ambient_pressure(self, hpa: float) -> None:
        """The pressure the CO2 signal is compensated for (allowed while measuring)."""
        low, high = PRESSURE_RANGE_HPA
        if not low <= hpa <= high:
            raise ValueError(f"ambient pressure {hpa} hPa outside {low}-{high} hPa")
        self._command(SET_AMBIENT_PRESSURE, self._begin(self.grace_s), round(hpa))

    def forced_recalibration(self, target_ppm: int) -> int:
        """Recalibrate to ``target_ppm`` (the known CO2 now); returns the correction in ppm.

        The part must have measured for some minutes before; it answers 0xFFFF otherwise,
        raised as ``SensorError`` (DEVICE_ERROR). Periodic measurement is stopped first and
        restarts on the next ``read()``.
        """
        if not 0 <= target_ppm <= 0xFFFF:
            raise ValueError(f"target {target_ppm} ppm is not a 16-bit value")
        self._idle()
        deadline = self._begin(EXECUTION_S[PERFORM_FORCED_RECALIBRATION] + self.grace_s)
        (word,) = self._query(PERFORM_FORCED_RECALIBRATION, 1, deadline, target_ppm)
        if word == FRC_FAILED:
            raise SensorError("forced recalibration failed (0xFFFF): measure for longer first")
        return word - FRC_OFFSET

    def set_automatic_self_calibration(self, enabled: bool) -> None:
        self._idle()
        self._command(SET_AUTOMATIC_SELF_CALIBRATION, self._begin(self.grace_s), int(enabled))

    def automatic_self_calibration(self) -> bool:
        self._idle()
        (word,) = self._query(GET_AUTOMATIC_SELF_CALIBRATION, 1, self._begin(self.grace_s))
        return word != 0

    def persist_settings(self) -> None:
        """Write the settings to EEPROM (rated for 2000 writes: not on every boot) [C6]."""
        self._idle()
        self._command(PERSIST_SETTINGS, self._begin(EXECUTION_S[PERSIST_SETTINGS] + self.grace_s))

    def serial_number(self) -> int:
        self._idle()
        high, middle, low = self._query(GET_SERIAL_NUMBER, 3, self._begin(self.grace_s))
        return (high << 32) | (middle << 16) | low

    def close(self) -> None:
        """Stop periodic measurement (best effort, faults logged) and release the device."""
        if not self.closed and self.measuring:
            try:
                self.stop_periodic_measurement()
            except SensorError as exc:
                logger.warning("%s: could not stop measurement on close: %s", self.name, exc)
        super().close()

    # -- transfers -------------------------------------------------------------------------

    def _idle(self) -> None:
        if self.measuring:
            self.stop_periodic_measurement()

    def _command(self, code: int, deadline: Deadline, *args: int) -> None:
        """Send ``code`` and wait its execution time."""
        self._write(encode_command(code, *args), deadline)
        deadline.wait(EXECUTION_S[code])

    def _fetch(self, code: int, words: int, deadline: Deadline, *args: int) -> bytes:
        self._command(code, deadline, *args)
        return self._read(words * WORD_BYTES, deadline)

    def _query(self, code: int, words: int, deadline: Deadline, *args: int) -> tuple[int, ...]:
        return decode_answer(self._fetch(code, words, deadline, *args), words)
