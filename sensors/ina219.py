"""Battery voltage, battery current and solar power from TI INA219 current/power monitors.

Why it exists: the power policy and the operators need to know whether the buoy will last the
night. What it promises: ``PowerMonitor.read()`` gives ``battery_voltage`` (V),
``battery_current`` (A, + charging) and ``solar_power`` (W), each a value or no value and a
status that names the fault, within a bounded time; never an exception for a device fault.

How solar power is measured (a design choice): two INA219s share I2C-1.
- Battery monitor at 0x40 (A0 = A1 = GND): its shunt sits in the battery's positive lead with
  IN+ on the charger/load side and IN- on the battery terminal. The bus voltage is measured at
  IN-, so it is the battery voltage; charging current flows IN+ to IN-, a positive shunt
  voltage, so the chip's sign is the catalogue's (+ charging).
- Solar monitor at 0x41 (A0 = VS, A1 = GND): its shunt sits in the panel's positive lead before
  the charge controller, IN+ on the panel side. ``solar_power`` is its power register, which the
  chip computes from the same conversion as current and voltage. A buoy without it passes
  ``solar=None`` and does not report ``solar_power``.

Datasheet facts relied on (TI INA219, SBOS448; SENSORS.md §8.1 [I1] [I2] [I4]):
- Registers (POR): 0x00 config (0x399F), 0x01 shunt voltage (signed, 10 µV/LSB), 0x02 bus
  voltage (bits 15:3 x 4 mV, bit 1 CNVR, bit 0 OVF), 0x03 power, 0x04 current (signed),
  0x05 calibration (0). All 16-bit, big-endian, behind a pointer byte.
- Config: RST(15) BRNG(13: 0 = 16 V, 1 = 32 V) PG(12:11: ±40/80/160/320 mV) BADC(10:7)
  SADC(6:3) MODE(2:0). ADC codes 0X00-0X11 = 9-12 bit (84/148/276/532 µs) and 1001-1111 =
  2-128 averaged 12-bit samples (1.06-68.10 ms); 1000 = 12 bit. Mode 011 = shunt and bus,
  triggered: writing it starts one conversion of each.
- Current_LSB is chosen between max_expected_I/32767 and max_expected_I/4096 (here the first
  1-2-5 step above the minimum); Cal = trunc(0.04096 / (Current_LSB x R_shunt)); Power_LSB =
  20 x Current_LSB. Current = Shunt x Cal / 4096 and Power = Current x Bus / 5000 in register
  units (Bus = bits 15:3). Calibration bit 0 is not used (⚠ the driver writes it as 0).
- CNVR sets when a conversion completes and clears when the power register is read or the
  mode is written. OVF sets when current or power are out of range (shunt overrange).
- After a power-on reset or brown-out the calibration register is 0 and current and power read
  0 [I1] [I2]: the driver writes the calibration before every conversion (as Adafruit does)
  and reads config and calibration back after the trigger and after the read; the POR pair
  (0x399F, 0) means the chip reset during the read, reported POWER_ON_VALUE with no values.
⚠ Assumptions: a triggered shunt+bus conversion takes the shunt time plus the bus time; the
power register holds the magnitude |Current| x Bus / 5000. Right after the trigger the chip
is converting (CNVR clear); with the 68 ms conversions used here, a set CNVR right after the
trigger means no conversion started and the registers are old: STALE.

Integrity checks (garbage bytes, an address clash, a chip that is not an INA219): config and
calibration read back as written, and the current and power registers agree with the shunt
and bus registers to within 2 LSB; otherwise GARBAGE. Warm-up: none; the first triggered
conversion is a measurement (``warmup_s`` = 0).

Power: the monitors sit on the permanent rail by default: they measure the supply that would
switch them. ``power`` takes a supply switch all the same (``sensors.power_switch``), and
``powered_at`` (the clock's monotonic time) when the rail came on if the caller knows it. With
the supply off ``read()`` reports ASLEEP without touching the bus.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from nemopi.sensor_status import SensorStatus
from sensors.clock import Clock, SystemClock
from sensors.errors import DeviceTimeout, GarbageResponse, SensorError, bus_errors
from sensors.fault_log import FaultLog
from sensors.power_switch import PowerState, power_for, readiness
from sensors.reading import Reading, failed
from sensors.ti_registers import (
    RegisterBus,
    StaleConversion,
    read_register,
    to_signed16,
    write_register,
)

log = logging.getLogger(__name__)

REG_CONFIG = 0x00
REG_SHUNT = 0x01
REG_BUS = 0x02
REG_POWER = 0x03
REG_CURRENT = 0x04
REG_CALIBRATION = 0x05
CONFIG_POR = 0x399F

SHUNT_LSB_V = 10e-6
BUS_LSB_V = 0.004
CNVR = 0x0002
OVF = 0x0001
CALIBRATION_SCALE = 0.04096
POWER_LSB_PER_CURRENT_LSB = 20
SHUNT_RANGES_V = (0.04, 0.08, 0.16, 0.32)  # by PG code
ADC_TIMES_S = (84e-6, 148e-6, 276e-6, 532e-6)  # 9-12 bit, ADC codes 0X00-0X11
AVERAGED_TIMES_S = (532e-6, 1.06e-3, 2.13e-3, 4.26e-3, 8.51e-3, 17.02e-3, 34.05e-3, 68.10e-3)
ADC_128_SAMPLES = 0b1111
MODE_SHUNT_BUS_TRIGGERED = 0b011
CONSISTENCY_LSB = 2
DEADLINE_MARGIN_S = 0.002

BATTERY_ADDRESS = 0x40
SOLAR_ADDRESS = 0x41


def adc_time_s(code: int) -> float:
    """Conversion time of one BADC/SADC setting."""
    if code & 0b1000:
        return AVERAGED_TIMES_S[code & 0b111]
    return ADC_TIMES_S[code & 0b11]


@dataclass(frozen=True, slots=True)
class Ina219Config:
    """The config register, field by field (raw codes)."""

    bus_32v: bool
    pga: int
    bus_adc: int
    shunt_adc: int
    mode: int

    @classmethod
    def from_word(cls, word: int) -> Ina219Config:
        return cls(
            bus_32v=bool(word & 0x2000),
            pga=(word >> 11) & 0b11,
            bus_adc=(word >> 7) & 0b1111,
            shunt_adc=(word >> 3) & 0b1111,
            mode=word & 0b111,
        )

    def word(self) -> int:
        return (
            (0x2000 if self.bus_32v else 0)
            | self.pga << 11
            | self.bus_adc << 7
            | self.shunt_adc << 3
            | self.mode
        )

    @property
    def shunt_range_v(self) -> float:
        return SHUNT_RANGES_V[self.pga]

    @property
    def conversion_time_s(self) -> float:
        """Shunt plus bus conversion in shunt-and-bus modes (⚠ sequential, see module doc)."""
        shunt = adc_time_s(self.shunt_adc) if self.mode & 0b001 else 0.0
        bus = adc_time_s(self.bus_adc) if self.mode & 0b010 else 0.0
        return shunt + bus


def current_lsb_for(max_current_a: float) -> float:
    """The first 1-2-5 step at or above the datasheet's minimum, max_expected_I / 32767."""
    minimum = max_current_a / 32767
    exponent = math.floor(math.log10(minimum))
    for step in (1, 2, 5, 10):
        lsb = float(f"{step}e{exponent}")
        if lsb >= minimum:
            return lsb
    raise AssertionError("unreachable: 10 x 10^floor(log10(x)) >= x")


def calibration_for(current_lsb_a: float, shunt_ohms: float) -> int:
    """Cal = trunc(0.04096 / (Current_LSB x R_shunt)), bit 0 clear; ValueError if it won't fit."""
    exact = round(CALIBRATION_SCALE / (current_lsb_a * shunt_ohms), 6)  # float noise before trunc
    value = math.floor(exact)
    if not 2 <= value <= 0xFFFF:
        raise ValueError(
            f"calibration {exact:.0f} does not fit 16 bits: shunt {shunt_ohms} ohm "
            f"with current LSB {current_lsb_a} A"
        )
    return value & 0xFFFE


@dataclass(frozen=True, slots=True)
class ShuntSpec:
    """One INA219's place on the buoy: its address and its shunt."""

    address: int
    shunt_ohms: float
    max_current_a: float

    def __post_init__(self) -> None:
        if self.shunt_ohms <= 0 or self.max_current_a <= 0:
            raise ValueError("shunt_ohms and max_current_a must be positive")
        if self.max_shunt_v > SHUNT_RANGES_V[-1]:
            raise ValueError(
                f"{self.max_current_a} A through {self.shunt_ohms} ohm exceeds the "
                f"{SHUNT_RANGES_V[-1]} V shunt range"
            )

    @property
    def max_shunt_v(self) -> float:
        """The shunt voltage at the largest expected current (rounded: 3.2 x 0.1 is 0.32)."""
        return round(self.max_current_a * self.shunt_ohms, 9)


class PowerOnReset(SensorError):
    """The chip reset during the read: its current and power are power-on zeros."""

    status = SensorStatus.POWER_ON_VALUE


@dataclass(frozen=True, slots=True)
class Measurement:
    """One conversion. ``current_a``/``power_w`` are None unless ``current_status`` is OK
    (OUT_OF_RANGE when the shunt overranged: OVF)."""

    bus_voltage_v: float
    current_a: float | None
    power_w: float | None
    current_status: SensorStatus


class Ina219:
    """One INA219 on a bus the caller owns; each ``measure`` is one bounded triggered conversion."""

    def __init__(self, bus: RegisterBus, spec: ShuntSpec, clock: Clock | None = None) -> None:
        self.bus = bus
        self.spec = spec
        self.clock = clock or SystemClock()
        self.current_lsb_a = current_lsb_for(spec.max_current_a)
        self.power_lsb_w = POWER_LSB_PER_CURRENT_LSB * self.current_lsb_a
        self.calibration = calibration_for(self.current_lsb_a, spec.shunt_ohms)
        pga = next(
            code for code, range_v in enumerate(SHUNT_RANGES_V) if range_v >= spec.max_shunt_v
        )
        self.config = Ina219Config(
            bus_32v=True,
            pga=pga,
            bus_adc=ADC_128_SAMPLES,
            shunt_adc=ADC_128_SAMPLES,
            mode=MODE_SHUNT_BUS_TRIGGERED,
        )

    @property
    def deadline_s(self) -> float:
        """The longest ``measure`` waits for a conversion before it reports TIMEOUT."""
        return 2 * self.config.conversion_time_s + DEADLINE_MARGIN_S

    def measure(self) -> Measurement:
        """Trigger one conversion and read it; raises ``SensorError`` when it cannot be trusted."""
        with bus_errors(f"INA219 at {self.spec.address:#04x}"):
            bus_reg = self._convert()
            shunt = to_signed16(self._read(REG_SHUNT))
            current = to_signed16(self._read(REG_CURRENT))
            power = self._read(REG_POWER)
            self._check_setup()
        volts = (bus_reg >> 3) * BUS_LSB_V
        if bus_reg & OVF:
            return Measurement(volts, None, None, SensorStatus.OUT_OF_RANGE)
        self._check_consistent(shunt, current, power, bus_reg >> 3)
        return Measurement(
            volts, current * self.current_lsb_a, power * self.power_lsb_w, SensorStatus.OK
        )

    def _convert(self) -> int:
        """Write calibration and config (the trigger), then poll CNVR until the deadline."""
        deadline = self.clock.monotonic() + self.deadline_s
        write_register(self.bus, self.spec.address, REG_CALIBRATION, self.calibration)
        write_register(self.bus, self.spec.address, REG_CONFIG, self.config.word())
        self._check_setup()
        if self._read(REG_BUS) & CNVR:
            raise StaleConversion("CNVR set right after the trigger: no conversion started")
        self.clock.sleep(self.config.conversion_time_s)
        while not (bus_reg := self._read(REG_BUS)) & CNVR:
            if self.clock.monotonic() >= deadline:
                raise DeviceTimeout(f"no conversion within {self.deadline_s:.3f} s")
            self.clock.sleep(self.config.conversion_time_s / 8)
        return bus_reg

    def _check_setup(self) -> None:
        """Config and calibration must read back as written: a reset or garbage otherwise."""
        config = self._read(REG_CONFIG)
        calibration = self._read(REG_CALIBRATION)
        if config == CONFIG_POR and calibration == 0:
            raise PowerOnReset("the chip reset (brown-out?): calibration is back to 0")
        if config != self.config.word() or calibration != self.calibration:
            raise GarbageResponse(
                f"config/calibration read back {config:#06x}/{calibration:#06x}, "
                f"written {self.config.word():#06x}/{self.calibration:#06x}",
                data=config.to_bytes(2, "big") + calibration.to_bytes(2, "big"),
            )

    def _check_consistent(self, shunt: int, current: int, power: int, bus: int) -> None:
        expected_current = shunt * self.calibration / 4096
        expected_power = abs(current) * bus / 5000
        if (
            abs(current - expected_current) > CONSISTENCY_LSB
            or abs(power - expected_power) > CONSISTENCY_LSB
        ):
            raise GarbageResponse(
                f"shunt {shunt}, current {current}, power {power}, bus {bus} do not agree"
            )

    def _read(self, register: int) -> int:
        return read_register(self.bus, self.spec.address, register)


class PowerMonitor:
    """Battery and solar INA219s as one ``Sensor``; a context manager."""

    name = "power"
    warmup_s = 0.0

    def __init__(
        self,
        bus: RegisterBus,
        *,
        battery: ShuntSpec,
        solar: ShuntSpec | None,
        clock: Clock | None = None,
        powered_at: float | None = None,
        power: PowerState | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self._battery = Ina219(bus, battery, self.clock)
        self._solar = Ina219(bus, solar, self.clock) if solar else None
        self._faults = {
            chip.spec.address: FaultLog(log, f"INA219 {chip.spec.address:#04x}")
            for chip in (self._battery, self._solar)
            if chip is not None
        }
        self.quantities: tuple[str, ...] = ("battery_voltage", "battery_current") + (
            ("solar_power",) if solar else ()
        )
        self._power = power_for(self.clock, self.warmup_s, power, since=powered_at)
        self._closed = False

    def read(self) -> list[Reading]:
        if self._closed:
            raise ValueError(f"{self.name} is closed")
        if readiness(self._power) is SensorStatus.ASLEEP:
            for faults in self._faults.values():
                faults.update(SensorStatus.ASLEEP)
            return failed(self.quantities, SensorStatus.ASLEEP)
        battery = self._measure(self._battery)
        if isinstance(battery, SensorError):
            readings = failed(("battery_voltage", "battery_current"), battery.status)
        else:
            readings = [
                Reading("battery_voltage", battery.bus_voltage_v, self._healthy()),
                self._flow("battery_current", battery.current_a, battery),
            ]
        if self._solar is not None:
            solar = self._measure(self._solar)
            if isinstance(solar, SensorError):
                readings.append(Reading("solar_power", None, solar.status))
            else:
                readings.append(self._flow("solar_power", solar.power_w, solar))
        return readings

    def _measure(self, chip: Ina219) -> Measurement | SensorError:
        """One chip's measurement, or the error that stopped it; logged once per change."""
        faults = self._faults[chip.spec.address]
        try:
            measurement = chip.measure()
        except SensorError as exc:
            faults.update(exc.status, str(exc))
            return exc
        faults.update(measurement.current_status)
        return measurement

    def _flow(self, quantity: str, value: float | None, measurement: Measurement) -> Reading:
        """Current or power: valid only when the chip's current/power registers are."""
        if measurement.current_status is SensorStatus.OK:
            return Reading(quantity, value, self._healthy())
        return Reading(quantity, None, measurement.current_status)

    def _healthy(self) -> SensorStatus:
        warming = readiness(self._power) is SensorStatus.WARMING_UP
        return SensorStatus.WARMING_UP if warming else SensorStatus.OK

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> PowerMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
