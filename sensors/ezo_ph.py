"""Driver for the Atlas Scientific EZO-pH circuit in I2C mode: the buoy's pH.

Promises: ``read()`` returns one ``ph`` reading (temperature-compensated when the sampler has
given a water temperature), bounded in time, with a status instead of a number when the read
failed; calibration and probe health (calibration points, slope) can be set and read back so
the buoy can store and report them. Faults in calibration and query methods raise
``SensorError`` subclasses, whose ``.status`` names the fault.

Protocol facts relied on (SENSORS.md §1; tags are its sources):
- I2C address 0x63 [A3]. A command is its ASCII text, written with no register byte; commands
  are not case sensitive [A12].
- After the processing delay the answer is read: byte 0 is a response code (1 success,
  2 syntax error, 254 still processing, 255 no data), then the ASCII payload, NUL-terminated
  [A1]. Reading before the delay has elapsed always gives 254 [A1]; it is polled again.
- Delays: ``R`` and ``RT,n`` 900 ms [A2][A6]; ``Cal,mid|low|high,n`` 900 ms; ``T,n``,
  ``T,?``, ``Cal,clear``, ``Cal,?``, ``i``, ``Status`` 300 ms [A5][A6][A7].
- Atlas's Pi code reads 31 bytes and clears bit 7 of every payload byte (a "Raspberry Pi
  glitch") [A10]; so does this driver.
- ``Sleep`` has no answer and must not be read [A10].
- ``Cal,mid`` must come first and clears the other points; ``Cal,?`` answers ``?Cal,0..3``;
  ``Slope,?`` answers ``?Slope,acid %,base %,zero offset mV`` [A5][A7].
- Answers are prefixed queries such as ``?T,19.5``, ``?i,pH,2.16`` (some firmware: ``?I,``),
  ``?Status,P,5.038`` [A7][A10]; prefixes are matched case-insensitively.

Assumptions (⚠, not confirmed from a datasheet):
- ``Slope,?`` takes 300 ms like the other queries.
- Time bound: each exchange may take its nominal delay plus ``grace_s`` (0.6 s), i.e. 1.5 s
  for ``R`` as in Atlas's own Pi code [A10]; a first ``read()`` also asks ``Cal,?`` once.
- Firmware that does not know ``RT,n`` answers code 2; the driver then sends ``T,n`` before
  each ``R`` instead.
- ``warmup_s`` (1 s) covers the circuit's boot; a wetted glass electrode needs no warm-up.
- STUCK: the same answer, byte for byte, for longer than ``stuck_after_s`` of clock time
  (default 2 h; ``math.inf`` disables). Clock time, not a count of answers, so the verdict
  does not depend on the sampling interval: ten identical answers are 10 minutes at the
  buoy's 60 s default but 30 s on a bench sampling every 3 s, where a calm reef moves less
  than the 0.001 pH resolution [A3]. Why 2 h: a live electrode's last digit flickers (0.001
  pH is 0.059 mV at 25 °C, about the 50 µV noise even an electrometer amplifier shows on a
  glass electrode, whose membrane is a 10-1000 MΩ source that picks up more in the field),
  and even the noiseless truth leaves one 0.001 step within ~1.5 h: a reef's diel swing of
  0.1 pH (a sine of 0.05 amplitude over 24 h) stays within 0.001 of its turning point for
  (86400 s / π)·√(0.002 / 0.05) ≈ 1.5 h. A frozen circuit or a dead electrode is still caught
  within a sampling day. The rule needs several reads per ``stuck_after_s``: two answers
  ``stuck_after_s`` apart match by chance one time in a few.
- A reading from a circuit with no calibration point is reported NOT_CALIBRATED, with value.

Temperature compensation: ``set_compensation_temperature(celsius)`` hands the driver the
latest water temperature; each ``read()`` then sends ``RT,<celsius>``. With ``None`` (the
default) it sends ``R`` and the circuit uses its stored temperature (``T,n``; 25 °C from the
factory). ``store_compensation_temperature`` writes the stored temperature itself.
"""

from __future__ import annotations

import logging
import math
import string
from dataclasses import dataclass
from enum import IntEnum

from nemopi.sensor_status import SensorStatus
from sensors.clock import Clock, SystemClock
from sensors.errors import DeviceTimeout, GarbageResponse, SensorError
from sensors.i2c_sensor import Deadline, I2CBus, I2CSensor, checked
from sensors.power_switch import PowerState
from sensors.reading import Reading

logger = logging.getLogger(__name__)

ADDRESS = 0x63
READ_LENGTH = 31  # what Atlas's Pi code reads [A10]
READ_S = 0.9  # R, RT,n and the three calibration points
COMMAND_S = 0.3  # every other command
STUCK_AFTER_S = 2 * 3600.0  # see "STUCK" in the module docstring
PRINTABLE = frozenset(string.printable.encode("ascii")) - frozenset(b"\t\n\r\x0b\x0c")


class Code(IntEnum):
    SUCCESS = 1
    SYNTAX_ERROR = 2
    PENDING = 254
    NO_DATA = 255


class CommandRejected(SensorError):
    """The circuit answered "syntax error" (code 2) or "no data" (code 255)."""

    status = SensorStatus.DEVICE_ERROR


@dataclass(frozen=True, slots=True)
class Slope:
    """Probe health: acid and base slope in % of the ideal, zero offset in mV."""

    acid_percent: float
    base_percent: float
    zero_offset_mv: float


@dataclass(frozen=True, slots=True)
class Calibration:
    """What the buoy stores and reports about the probe's calibration."""

    points: int  # 0 none, 1 mid, 2 mid+low, 3 mid+low+high
    slope: Slope


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    device_type: str
    firmware: str


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    restart_reason: str  # P power-on, S software reset, B brown-out, W watchdog, U unknown
    supply_volts: float


# -- pure codec ------------------------------------------------------------------------------


def encode_command(command: str) -> bytes:
    """The bytes written for ``command``: its ASCII text, nothing else."""
    return command.encode("ascii")


def decode_response(raw: bytes) -> tuple[Code, str]:
    """Response code and payload text of one read; raises for codes 2 and 255 and for noise."""
    if not raw:
        raise GarbageResponse("empty answer", raw)
    try:
        code = Code(raw[0])
    except ValueError:
        raise GarbageResponse(f"unknown response code {raw[0]}", raw) from None
    if code is Code.SYNTAX_ERROR:
        raise CommandRejected("the circuit answered: syntax error (code 2)", raw)
    if code is Code.NO_DATA:
        raise CommandRejected("the circuit has no answer pending (code 255)", raw)
    payload = bytes(byte & 0x7F for byte in raw[1:]).split(b"\x00", 1)[0]
    if not set(payload) <= PRINTABLE:
        raise GarbageResponse("non-printable bytes in the payload", raw)
    return code, payload.decode("ascii")


def parse_number(text: str) -> float:
    """A decimal number as the circuit prints it (``8.052``, ``-0.89``)."""
    stripped = text.strip()
    if not stripped or not set(stripped) <= set("+-.0123456789"):
        raise GarbageResponse(f"not a number: {text!r}", text)
    try:
        value = float(stripped)
    except ValueError:
        raise GarbageResponse(f"not a number: {text!r}", text) from None
    if not math.isfinite(value):
        raise GarbageResponse(f"not a finite number: {text!r}", text)
    return value


def parse_query(text: str, name: str, fields: int) -> list[str]:
    """The ``fields`` fields of an answer ``?<name>,f1,f2...`` (prefix case-insensitive)."""
    parts = text.split(",")
    if parts[0].lower() != f"?{name.lower()}" or len(parts) != fields + 1:
        raise GarbageResponse(f"expected ?{name} with {fields} field(s), got {text!r}", text)
    return parts[1:]


def _format(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value}")
    return f"{value:.2f}"


# -- driver ----------------------------------------------------------------------------------


class EzoPh(I2CSensor):
    """EZO-pH on ``bus`` at ``address``; see the module docstring for the protocol."""

    quantities = ("ph",)
    warmup_s = 1.0

    def __init__(
        self,
        bus: I2CBus,
        clock: Clock | None = None,
        *,
        address: int = ADDRESS,
        name: str = "ezo_ph",
        grace_s: float = 0.6,
        poll_s: float = 0.1,
        stuck_after_s: float = STUCK_AFTER_S,
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
        self.grace_s = grace_s
        if not stuck_after_s > 0:
            raise ValueError(f"stuck_after_s must be positive: {stuck_after_s}")
        self.stuck_after_s = stuck_after_s
        self._compensation_c: float | None = None
        self._rt_supported = True
        self._calibration_points: int | None = None
        self._same_since: tuple[str, float] | None = None  # an answer, when it was first seen

    # -- measurement -----------------------------------------------------------------------

    def set_compensation_temperature(self, celsius: float | None) -> None:
        """The water temperature for the next reads (``RT,n``); ``None`` to use ``R``."""
        if celsius is not None:
            _format(celsius)
        self._compensation_c = celsius

    def _measure(self) -> list[Reading]:
        if self._calibration_points is None:
            self._calibration_points = self.calibration_points()
        text = self._reading_text()
        value = checked("ph", parse_number(text))
        status = SensorStatus.OK
        if self._calibration_points == 0:
            status = SensorStatus.NOT_CALIBRATED
        if self._unchanged_s(text) > self.stuck_after_s:
            status = SensorStatus.STUCK
        return [Reading("ph", value, status)]

    def _unchanged_s(self, text: str) -> float:
        """For how long, in clock time, the circuit has given ``text`` and nothing else."""
        now = self._clock.monotonic()
        if self._same_since is None or self._same_since[0] != text:
            self._same_since = (text, now)
        return now - self._same_since[1]

    def _reading_text(self) -> str:
        celsius = self._compensation_c
        if celsius is None:
            return self.exchange("R", READ_S)
        if self._rt_supported:
            try:
                return self.exchange(f"RT,{_format(celsius)}", READ_S)
            except CommandRejected:
                self._rt_supported = False
                logger.warning("%s: firmware rejects RT,n; sending T,n then R", self.name)
        self.store_compensation_temperature(celsius)
        return self.exchange("R", READ_S)

    # -- calibration -----------------------------------------------------------------------

    def calibrate_mid(self, ph: float = 7.00) -> None:
        """Midpoint calibration in a buffer of ``ph``; must come first; clears low and high."""
        self._calibrate("mid", ph)

    def calibrate_low(self, ph: float = 4.00) -> None:
        self._calibrate("low", ph)

    def calibrate_high(self, ph: float = 10.00) -> None:
        self._calibrate("high", ph)

    def clear_calibration(self) -> None:
        self._calibration_points = None
        self.exchange("Cal,clear", COMMAND_S)

    def _calibrate(self, point: str, ph: float) -> None:
        self._calibration_points = None
        self.exchange(f"Cal,{point},{_format(ph)}", READ_S)

    def calibration_points(self) -> int:
        """0 none, 1 mid, 2 mid+low, 3 mid+low+high (``Cal,?``)."""
        (field,) = parse_query(self.exchange("Cal,?", COMMAND_S), "Cal", 1)
        points = parse_number(field)
        if points not in (0, 1, 2, 3):
            raise GarbageResponse(f"calibration points {field!r}", field)
        return int(points)

    def slope(self) -> Slope:
        acid, base, offset = parse_query(self.exchange("Slope,?", COMMAND_S), "Slope", 3)
        return Slope(parse_number(acid), parse_number(base), parse_number(offset))

    def calibration(self) -> Calibration:
        return Calibration(self.calibration_points(), self.slope())

    # -- housekeeping ----------------------------------------------------------------------

    def store_compensation_temperature(self, celsius: float) -> None:
        """Write the circuit's stored compensation temperature (``T,n``)."""
        self.exchange(f"T,{_format(celsius)}", COMMAND_S)

    def stored_compensation_temperature(self) -> float:
        (field,) = parse_query(self.exchange("T,?", COMMAND_S), "T", 1)
        return parse_number(field)

    def info(self) -> DeviceInfo:
        device_type, firmware = parse_query(self.exchange("i", COMMAND_S), "i", 2)
        return DeviceInfo(device_type, firmware)

    def status(self) -> DeviceStatus:
        reason, volts = parse_query(self.exchange("Status", COMMAND_S), "Status", 2)
        return DeviceStatus(reason, parse_number(volts))

    def sleep(self) -> None:
        """Put the circuit to sleep; it sends no answer, so none is read [A10]."""
        self._write(encode_command("Sleep"), self._begin(COMMAND_S + self.grace_s))

    # -- one command, one answer -----------------------------------------------------------

    def exchange(self, command: str, delay_s: float) -> str:
        """Send ``command``, wait ``delay_s``, poll past code 254; the payload text.

        Bounded by ``delay_s + grace_s``; raises ``SensorError`` subclasses for faults.
        """
        deadline: Deadline = self._begin(delay_s + self.grace_s)
        self._write(encode_command(command), deadline)
        deadline.wait(delay_s)
        while True:
            code, text = decode_response(self._read(READ_LENGTH, deadline))
            if code is Code.SUCCESS:
                return text
            if not deadline.wait(self.poll_s):
                raise DeviceTimeout(f"{self.name}: {command!r} still processing (code 254)")
