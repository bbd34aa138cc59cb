"""The ``[hardware]`` table of the buoy's TOML: which parts are fitted, and where they sit.

Why: on a real Pi the buoy builds the same drivers as ``--simulate`` does, over the real
buses. What differs from one buoy to the next (addresses, ADC channels, the gas cells'
calibration sheets, shunts, GPIO pins, the paddle wheel's table) is data, checked here before
any bus is opened. The defaults are SENSORS.md's part choices: EZO-pH 0x63, SCD4x 0x62,
turbidity ADS1115 0x48 (AIN0 behind a 2:1 divider), gas ADS1115 0x49 (NO2-B43F on AIN0/1,
NO-B4 on AIN2/3), INA219 0x40 on the battery and 0x41 on the panel, the DS18B20 on 1-Wire,
the GPS on ``/dev/serial0`` at 9600 baud and the paddle wheel on GPIO17. Without a
``power_pin`` a part is on the permanent rail.

Defaults that a real unit must replace (⚠ examples, not facts about any one part): the gas
cells' calibration sheets (NO2: SENSORS.md §7's example board; NO: a typical board), the
0.1 ohm / 3.2 A shunts and the paddle wheel's calibration table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar

from nemopi.configfile import Check, in_range, setting
from sensors.gas_cells import CellCalibration, CellType, GasCell
from sensors.ina219 import ShuntSpec
from sensors.paddle_wheel import CalibrationTable

RESERVED_PINS = MappingProxyType(
    {2: "I2C-1 SDA", 3: "I2C-1 SCL", 4: "1-Wire (w1-gpio)", 14: "UART TXD", 15: "UART RXD"}
)
BAUD_RATES = (4800, 9600, 19200, 38400, 57600, 115200)
W1_DEVICE_ID = re.compile(r"28-[0-9a-f]{12}")


def _address(default: int, part: str, low: int, high: int, note: str = "") -> Any:
    def check(value: int) -> str | None:
        if low <= value <= high:
            return None
        return f"expected an I2C address in {low:#04x}..{high:#04x}, got {value:#04x}"

    doc = f"I2C address of the {part}, {low:#04x}..{high:#04x} (TOML takes {default:#04x})."
    return setting(default, doc=f"{doc} {note}".strip(), check=check)


def _gpio_pin(value: int) -> str | None:
    if not 0 <= value <= 27:
        return f"expected a BCM GPIO number in 0..27, got {value}"
    if value in RESERVED_PINS:
        return f"GPIO{value} is taken by {RESERVED_PINS[value]}"
    return None


def _nonzero(value: float) -> str | None:
    return "expected a non-zero number" if value == 0 else None


def _device_id(value: str) -> str | None:
    if value == "" or W1_DEVICE_ID.fullmatch(value):
        return None
    return "expected a w1 folder name such as 28-0316a2796aff, or empty to discover it"


def _baud(value: int) -> str | None:
    return None if value in BAUD_RATES else f"expected one of {BAUD_RATES}"


def _wheel_table(value: tuple[tuple[float, ...], ...]) -> str | None:
    if any(len(pair) != 2 for pair in value):
        return "expected an array of [Hz, m/s] pairs"
    try:
        CalibrationTable.from_pairs([(hz, speed) for hz, speed in value])
    except ValueError as exc:
        return str(exc)
    return None


def _fitted(part: str) -> Any:
    return setting(True, doc=f"{part} is fitted; false: not built, not read.")


def _power_pin(part: str) -> Any:
    return setting(
        None,
        doc=f"BCM GPIO of the MOSFET gate that switches the {part}'s supply; unset: the "
        "part is on the permanent rail.",
        check=_gpio_pin,
    )


def _adc_channel(default: int, what: str) -> Any:
    return setting(default, doc=f"ADS1115 input (AIN0-3) of the {what}.", check=in_range(0, 3))


def _sheet(default: float, what: str, check: Check | None = None) -> Any:
    return setting(default, doc=f"{what}, from the board's calibration sheet.", check=check)


@dataclass(frozen=True)
class EzoPhSettings:
    enabled: bool = _fitted("An Atlas EZO-pH circuit in I2C mode")
    address: int = _address(0x63, "EZO-pH", 0x08, 0x77)
    temperature_compensation: bool = setting(
        True,
        doc="Compensate each pH read with the water temperature just read (RT,n); false, or "
        "without a DS18B20, the circuit uses its stored temperature (T,n).",
    )
    power_pin: int | None = _power_pin("EZO-pH")


@dataclass(frozen=True)
class Scd4xSettings:
    enabled: bool = _fitted("A Sensirion SCD4x in the equilibrator head")
    address: int = _address(
        0x62, "SCD4x", 0x08, 0x77, "The part answers only at 0x62, unless behind a translator."
    )
    power_pin: int | None = _power_pin("SCD4x")


@dataclass(frozen=True)
class TurbiditySettings:
    enabled: bool = _fitted("A DFRobot SEN0189 turbidity probe on an ADS1115")
    address: int = _address(0x48, "probe's ADS1115", 0x48, 0x4B)
    channel: int = _adc_channel(0, "probe's output")
    divider_ratio: float = setting(
        2.0,
        doc="Probe volts per ADC volt of the resistive divider in front of the ADC.",
        check=in_range(1.0, 10.0),
    )


@dataclass(frozen=True)
class GasCellSettings:
    """An NO2-B43F cell on its ISB (the defaults); ``NoCellSettings`` for an NO-B4 cell."""

    kind: ClassVar[CellType] = CellType.NO2_B43F
    enabled: bool = _fitted("This cell with its ISB")
    we_channel: int = _adc_channel(0, "working electrode (WE)")
    ae_channel: int = _adc_channel(1, "auxiliary electrode (AE)")
    we_electronic_zero_mv: float = _sheet(224.0, "WEe, the WE electronic zero (mV)")
    ae_electronic_zero_mv: float = _sheet(255.0, "AEe, the AE electronic zero (mV)")
    sensitivity_na_per_ppm: float = _sheet(-431.0, "Cell sensitivity (nA/ppm)", _nonzero)
    gain_mv_per_na: float = _sheet(-0.73, "ISB gain (mV/nA)", _nonzero)

    def cell(self) -> GasCell:
        """The driver's description of this cell."""
        calibration = CellCalibration(
            self.we_electronic_zero_mv,
            self.ae_electronic_zero_mv,
            self.sensitivity_na_per_ppm,
            self.gain_mv_per_na,
        )
        return GasCell(self.kind, self.we_channel, self.ae_channel, calibration)


@dataclass(frozen=True)
class NoCellSettings(GasCellSettings):
    kind: ClassVar[CellType] = CellType.NO_B4
    we_channel: int = _adc_channel(2, "working electrode (WE)")
    ae_channel: int = _adc_channel(3, "auxiliary electrode (AE)")
    we_electronic_zero_mv: float = _sheet(300.0, "WEe, the WE electronic zero (mV)")
    ae_electronic_zero_mv: float = _sheet(290.0, "AEe, the AE electronic zero (mV)")
    sensitivity_na_per_ppm: float = _sheet(600.0, "Cell sensitivity (nA/ppm)", _nonzero)
    gain_mv_per_na: float = _sheet(0.8, "ISB gain (mV/nA)", _nonzero)


@dataclass(frozen=True)
class GasCellsSettings:
    enabled: bool = _fitted("The ADS1115 that reads the Alphasense B4 cells")
    address: int = _address(0x49, "cells' ADS1115", 0x48, 0x4B)
    no2: GasCellSettings = setting(GasCellSettings(), doc="The NO2-B43F cell.")
    no: NoCellSettings = setting(NoCellSettings(), doc="The NO-B4 cell.")

    def __post_init__(self) -> None:
        cells = self.cells()
        if self.enabled and not cells:
            raise ValueError("no cell is enabled: set enabled = false for the gas cells")
        channels = [c for cell in cells for c in (cell.we_channel, cell.ae_channel)]
        if len(set(channels)) != len(channels):
            raise ValueError(f"the cells' WE and AE channels must differ, got {channels}")

    def cells(self) -> list[GasCell]:
        """The fitted cells, as the driver takes them."""
        return [settings.cell() for settings in (self.no2, self.no) if settings.enabled]


@dataclass(frozen=True)
class ShuntSettings:
    """An INA219 on the battery (the defaults); ``SolarShuntSettings`` for the panel."""

    enabled: bool = _fitted("This INA219")
    address: int = _address(0x40, "battery's INA219", 0x40, 0x4F)
    shunt_ohms: float = setting(0.1, doc="Shunt resistance (ohm).", check=in_range(0.0001, 10))
    max_current_a: float = setting(
        3.2,
        doc="Largest expected current (A); with shunt_ohms it sets the range, at most 0.32 V.",
        check=in_range(0.001, 100),
    )

    def __post_init__(self) -> None:
        self.spec()  # ValueError when the current overranges the shunt

    def spec(self) -> ShuntSpec:
        return ShuntSpec(self.address, self.shunt_ohms, self.max_current_a)


@dataclass(frozen=True)
class SolarShuntSettings(ShuntSettings):
    address: int = _address(0x41, "panel's INA219", 0x40, 0x4F)


@dataclass(frozen=True)
class Ds18b20Settings:
    enabled: bool = _fitted("A DS18B20 water-temperature probe on 1-Wire")
    device_id: str = setting(
        "",
        doc="Its w1 folder (28-...); empty: the one 28-* folder under /sys/bus/w1/devices.",
        check=_device_id,
    )
    power_pin: int | None = _power_pin("DS18B20")


@dataclass(frozen=True)
class GpsSettings:
    enabled: bool = _fitted("An NMEA GPS receiver on the UART")
    port: str = setting("/dev/serial0", doc="Serial device of the GPS.")
    baud: int = setting(9600, doc="Baud rate of the GPS's NMEA output.", check=_baud)
    power_pin: int | None = _power_pin("GPS")


@dataclass(frozen=True)
class PaddleWheelSettings:
    enabled: bool = _fitted("A paddle-wheel current sensor")
    pin: int = setting(17, doc="BCM GPIO that counts the wheel's pulses.", check=_gpio_pin)
    calibration: tuple[tuple[float, ...], ...] = setting(
        ((0.0, 0.0), (5.0, 0.25), (20.0, 1.0), (40.0, 1.8)),
        doc="This wheel's [Hz, m/s] pairs, from [0, 0], both increasing.",
        check=_wheel_table,
    )
    window_s: float = setting(
        10.0, doc="Seconds of pulses counted per reading.", check=in_range(0.5, 600)
    )
    bounce_time_s: float | None = setting(
        None,
        doc="Debounce time (s) of a contact-closure output; unset for a Hall sensor.",
        check=in_range(0.0001, 0.1),
    )
    power_pin: int | None = _power_pin("paddle wheel")

    def table(self) -> CalibrationTable:
        return CalibrationTable.from_pairs([(hz, speed) for hz, speed in self.calibration])


@dataclass(frozen=True)
class HardwareSettings:
    i2c_bus: int = setting(
        1, doc="I2C bus number (/dev/i2c-N) of the I2C parts.", check=in_range(0, 255)
    )
    power_active_high: bool = setting(
        True,
        doc="A power_pin drives its gate high to switch on (low-side N-MOSFET); false for "
        "a high-side P-MOSFET.",
    )
    ezo_ph: EzoPhSettings = setting(EzoPhSettings(), doc="The pH circuit.")
    scd4x: Scd4xSettings = setting(Scd4xSettings(), doc="The CO2 sensor.")
    turbidity: TurbiditySettings = setting(TurbiditySettings(), doc="The turbidity probe.")
    gas_cells: GasCellsSettings = setting(GasCellsSettings(), doc="The NO2 and NO cells.")
    battery_monitor: ShuntSettings = setting(ShuntSettings(), doc="The battery's INA219.")
    solar_monitor: SolarShuntSettings = setting(
        SolarShuntSettings(), doc="The panel's INA219; needs the battery's."
    )
    ds18b20: Ds18b20Settings = setting(Ds18b20Settings(), doc="The water temperature probe.")
    gps: GpsSettings = setting(GpsSettings(), doc="The GPS receiver.")
    paddle_wheel: PaddleWheelSettings = setting(PaddleWheelSettings(), doc="The current meter.")

    def __post_init__(self) -> None:
        if self.solar_monitor.enabled and not self.battery_monitor.enabled:
            raise ValueError("solar_monitor needs battery_monitor: they are read together")
        _no_clash(self.i2c_addresses(), "I2C address {:#04x}")
        _no_clash(self.gpio_pins(), "GPIO{}")

    def i2c_addresses(self) -> Iterator[tuple[str, int]]:
        """(table, address) of every fitted I2C part."""
        i2c = ("ezo_ph", "scd4x", "turbidity", "gas_cells", "battery_monitor", "solar_monitor")
        for name in i2c:
            part = getattr(self, name)
            if part.enabled:
                yield name, part.address

    def gpio_pins(self) -> Iterator[tuple[str, int]]:
        """(key, pin) of every GPIO a fitted part uses."""
        if self.paddle_wheel.enabled:
            yield "paddle_wheel.pin", self.paddle_wheel.pin
        for f in fields(self):
            part = getattr(self, f.name)
            pin = getattr(part, "power_pin", None)
            if pin is not None and part.enabled:
                yield f"{f.name}.power_pin", pin


def _no_clash(uses: Iterator[tuple[str, int]], what: str) -> None:
    seen: dict[int, str] = {}
    for key, value in uses:
        if value in seen:
            raise ValueError(f"{seen[value]} and {key} both use {what.format(value)}")
        seen[value] = key
