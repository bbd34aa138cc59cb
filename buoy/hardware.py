"""The buoy's instruments on a real Pi: the drivers of ``--simulate``, over the real buses.

Why: ``nemopi buoy run`` on the buoy must read the parts that the ``[hardware]`` table
(``buoy.hardware_settings``) says are fitted, through the same drivers that the simulated buoy
runs (``sensors.simulation.assemble``). What is tested is then what is deployed.

What it promises:

- It opens the buses, and the drivers only receive them: one I2C bus, opened only when an
  I2C part is fitted, the GPS's UART, the w1 sysfs folder and gpiozero pins (from
  ``pin_factory``, or gpiozero's default).
- ``sensors`` is in read order, the same as on the simulated buoy: water temperature first,
  because each good value compensates the pH (``RT,n``) and the gas cells (nT) of the same
  cycle; then pH, CO2, turbidity, current, NOx, position, and last the power monitors. A part
  that is not fitted is not built.
- A bus or pin that cannot be had is a configuration problem, so the start stops:
  ``HardwareUnavailable``, a ``ConfigError`` that names the resource and the setting. A
  fitted part that does not answer is a runtime fault. The build goes on and the part's
  reads report UNREACHABLE. A DS18B20 without a ``device_id`` is looked for at each read
  until it shows up, because a switched probe appears only at the w1 master's next search.
- ``close()`` closes the drivers and their power switches, then the buses it opened. It is
  safe to call twice. A build that fails half-way closes what it had opened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Protocol, TypeVar

import serial
import smbus2
from gpiozero.exc import GPIOZeroError
from gpiozero.pins import Factory

from buoy.hardware_settings import HardwareSettings
from nemopi.configfile import ConfigError
from nemopi.sensor_status import SensorStatus
from sensors.clock import Clock
from sensors.ds18b20 import DS18B20, W1_DEVICES, find_devices
from sensors.ezo_ph import EzoPh
from sensors.fault_log import FaultLog
from sensors.gas_cells import CellCalibration, GasCells
from sensors.gps import GpsReceiver, SerialPort
from sensors.i2c_sensor import I2CBus
from sensors.ina219 import PowerMonitor
from sensors.paddle_wheel import PaddleWheel
from sensors.power_switch import AlwaysPowered, PowerState, SensorPower, readiness
from sensors.reading import Reading, Sensor, failed
from sensors.scd4x import Scd4x
from sensors.ti_registers import RegisterBus
from sensors.turbidity import TurbidityCalibration, TurbidityProbe

log = logging.getLogger(__name__)

GPS_PORT_TIMEOUT_S = 0.5  # one readline() waits at most this; the driver allows up to 2.5 s
# The gas cells sit on the permanent rail: they have been powered since the Pi booted, and the
# monotonic clock counts from boot. A daemon restarted hours after boot must not wait out the
# cells' hour of warm-up again (a switched part's warm-up is its SensorPower's business).
RAIL_ON_AT_BOOT_S = 0.0


class ClosableI2CBus(I2CBus, RegisterBus, Protocol):
    """What ``open_i2c`` returns: the ``smbus2.SMBus`` calls of every I2C driver, and close."""

    def close(self) -> None: ...


class OpenSerial(Protocol):
    def __call__(self, port: str, baudrate: int, *, timeout: float) -> SerialPort: ...


class _Closing(Protocol):
    def close(self) -> None: ...


_ClosingT = TypeVar("_ClosingT", bound=_Closing)


class HardwareUnavailable(ConfigError):
    """This machine lacks a bus or pin that the ``[hardware]`` table needs.

    ``source`` is the resource (``/dev/i2c-1``) and ``key`` is the setting (``hardware.i2c_bus``).
    """

    def __init__(self, resource: str, key: str, problem: str) -> None:
        super().__init__(resource, f"hardware.{key}", problem)


class WaterTemperature:
    """The thermometer as the sampler reads it. Each good value also compensates the pH.

    ``celsius()`` is the latest OK value, or None after a failed read. The gas cells then
    compensate at their reference temperature and say NOT_CALIBRATED, and the pH circuit
    uses its stored temperature.
    """

    def __init__(self, thermometer: Sensor, ph: EzoPh | None) -> None:
        self._thermometer = thermometer
        self._ph = ph
        self.name = thermometer.name
        self.quantities = thermometer.quantities
        self._latest: float | None = None

    def celsius(self) -> float | None:
        return self._latest

    def read(self) -> list[Reading]:
        readings = self._thermometer.read()
        (reading,) = readings
        self._latest = reading.value if reading.status is SensorStatus.OK else None
        if self._ph is not None:
            self._ph.set_compensation_temperature(self._latest)
        return readings

    def close(self) -> None:
        self._thermometer.close()


class _DiscoveredDS18B20:
    """The single DS18B20 under a w1 ``devices`` folder, found by the first read that sees it.

    While none is there (or several are), reads report UNREACHABLE. Once the probe is found,
    its driver does the reading.
    """

    name = "ds18b20"
    quantities: tuple[str, ...] = DS18B20.quantities

    def __init__(self, root: Path, make: Callable[[Path], DS18B20], power: PowerState) -> None:
        self._root = root
        self._make = make
        self._power = power
        self._faults = FaultLog(log, self.name)
        self._driver: DS18B20 | None = None
        self._closed = False

    def read(self) -> list[Reading]:
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        if self._driver is None:
            not_ready = readiness(self._power)
            devices = find_devices(self._root)
            if not_ready is not None or len(devices) != 1:
                status = not_ready or SensorStatus.UNREACHABLE
                self._faults.update(status, f"{len(devices)} 28-* folders under {self._root}")
                return failed(self.quantities, status)
            self._driver = self._make(devices[0])
            log.info("%s: found %s", self.name, devices[0].name)
        return self._driver.read()

    def close(self) -> None:
        self._closed = True
        if self._driver is not None:
            self._driver.close()


@dataclass(frozen=True)
class HardwareInstruments:
    """The instruments of one buoy on its real buses; a context manager.

    Built by ``build_hardware_instruments``. ``power`` maps a part name to its supply switch,
    for the parts that have a ``power_pin``.
    """

    sensors: list[Sensor]
    gps: GpsReceiver | None
    power: Mapping[str, SensorPower]
    _close: Callable[[], None] = field(repr=False)

    def close(self) -> None:
        """Close the drivers and switches, then the buses; safe to call twice."""
        self._close()

    def __enter__(self) -> HardwareInstruments:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_hardware_instruments(
    settings: HardwareSettings,
    clock: Clock,
    *,
    open_i2c: Callable[[int], ClosableI2CBus] = smbus2.SMBus,
    open_serial: OpenSerial = serial.Serial,
    pin_factory: Factory | None = None,
    w1_root: Path = W1_DEVICES,
    turbidity_calibration: TurbidityCalibration | None = None,
    gas_calibrations: Mapping[str, CellCalibration] | None = None,
) -> HardwareInstruments:
    """The fitted parts of ``settings``, read with ``clock``; raises ``HardwareUnavailable``.

    ``turbidity_calibration`` and ``gas_calibrations`` (by quantity, used instead of the
    configured sheet) are the stored field calibrations (``buoy.calibrate``).
    """
    assembly = _Assembly(
        settings,
        clock,
        open_i2c,
        open_serial,
        pin_factory,
        w1_root,
        turbidity_calibration,
        dict(gas_calibrations or {}),
    )
    try:
        return assembly.build()
    except BaseException:
        assembly.close()
        raise


def _no_temperature() -> float | None:
    return None


@dataclass
class _Assembly:
    """The build steps, one per part; each registers what it opens on ``drivers``/``buses``."""

    settings: HardwareSettings
    clock: Clock
    open_i2c: Callable[[int], ClosableI2CBus]
    open_serial: OpenSerial
    pin_factory: Factory | None
    w1_root: Path
    turbidity_calibration: TurbidityCalibration | None
    gas_calibrations: dict[str, CellCalibration]
    drivers: ExitStack = field(default_factory=ExitStack)
    buses: ExitStack = field(default_factory=ExitStack)
    power: dict[str, SensorPower] = field(default_factory=dict)
    bus: ClosableI2CBus | None = None

    def close(self) -> None:
        try:
            self.drivers.close()
        finally:
            self.buses.close()

    def build(self) -> HardwareInstruments:
        ph = self._ph()
        water = self._water_temperature(ph)
        gps = self._gps()
        parts = [
            water,
            ph,
            self._co2(),
            self._turbidity(),
            self._paddle_wheel(),
            self._gas_cells(water),
            gps,
            self._power_monitors(),
        ]
        sensors: list[Sensor] = [part for part in parts if part is not None]
        log.info(
            "hardware: %s", ", ".join(f"{s.name} ({', '.join(s.quantities)})" for s in sensors)
        )
        return HardwareInstruments(sensors, gps, MappingProxyType(self.power), self.close)

    # -- shared steps ----------------------------------------------------------------------

    def _driver(self, driver: _ClosingT) -> _ClosingT:
        self.drivers.callback(driver.close)
        return driver

    @contextmanager
    def _gpio(self, key: str, pin: int) -> Iterator[None]:
        try:
            yield
        except (GPIOZeroError, OSError) as exc:
            raise HardwareUnavailable(f"GPIO{pin}", key, f"cannot be used ({exc})") from exc

    def _switch(self, name: str, pin: int | None, warmup_s: float) -> SensorPower | None:
        """The part's MOSFET gate, on since boot; closed after the driver it powers."""
        if pin is None:
            return None
        with self._gpio(f"{name}.power_pin", pin):
            switch = SensorPower(
                pin,
                warmup_s,
                self.clock,
                active_high=self.settings.power_active_high,
                initial_on=True,
                pin_factory=self.pin_factory,
            )
        self.drivers.callback(switch.close)
        self.power[name] = switch
        return switch

    def _i2c(self) -> ClosableI2CBus:
        if self.bus is None:
            number = self.settings.i2c_bus
            try:
                self.bus = self.open_i2c(number)
            except OSError as exc:
                raise HardwareUnavailable(
                    f"/dev/i2c-{number}",
                    "i2c_bus",
                    f"cannot be opened ({exc.strerror or exc}): enable I2C "
                    "(dtparam=i2c_arm=on) or set enabled = false for the I2C parts",
                ) from exc
            self.buses.callback(self.bus.close)
        return self.bus

    # -- I2C -------------------------------------------------------------------------------

    def _ph(self) -> EzoPh | None:
        s = self.settings.ezo_ph
        if not s.enabled:
            return None
        switch = self._switch("ezo_ph", s.power_pin, EzoPh.warmup_s)
        return self._driver(EzoPh(self._i2c(), self.clock, address=s.address, power=switch))

    def _co2(self) -> Scd4x | None:
        s = self.settings.scd4x
        if not s.enabled:
            return None
        switch = self._switch("scd4x", s.power_pin, Scd4x.warmup_s)
        return self._driver(Scd4x(self._i2c(), self.clock, address=s.address, power=switch))

    def _turbidity(self) -> TurbidityProbe | None:
        s = self.settings.turbidity
        if not s.enabled:
            return None
        probe = TurbidityProbe(
            self._i2c(),
            address=s.address,
            channel=s.channel,
            divider_ratio=s.divider_ratio,
            calibration=self.turbidity_calibration,
            clock=self.clock,
        )
        return self._driver(probe)

    def _gas_cells(self, water: WaterTemperature | None) -> GasCells | None:
        s = self.settings.gas_cells
        if not s.enabled:
            return None
        temperature = water.celsius if water is not None else _no_temperature
        stored = self.gas_calibrations
        fitted = [
            replace(c, calibration=stored.get(c.kind.quantity, c.calibration)) for c in s.cells()
        ]
        cells = GasCells(
            self._i2c(),
            fitted,
            temperature,
            address=s.address,
            clock=self.clock,
            powered_at=RAIL_ON_AT_BOOT_S,
        )
        return self._driver(cells)

    def _power_monitors(self) -> PowerMonitor | None:
        battery, solar = self.settings.battery_monitor, self.settings.solar_monitor
        if not battery.enabled:
            return None
        monitor = PowerMonitor(
            self._i2c(),
            battery=battery.spec(),
            solar=solar.spec() if solar.enabled else None,
            clock=self.clock,
        )
        return self._driver(monitor)

    # -- 1-Wire ----------------------------------------------------------------------------

    def _water_temperature(self, ph: EzoPh | None) -> WaterTemperature | None:
        s = self.settings.ds18b20
        if not s.enabled:
            return None
        root = self.w1_root
        if not root.is_dir():
            raise HardwareUnavailable(
                str(root),
                "ds18b20.enabled",
                "no 1-Wire bus: add dtoverlay=w1-gpio or set enabled = false",
            )
        found = find_devices(root)
        if not s.device_id and len(found) > 1:
            names = ", ".join(device.name for device in found)
            raise HardwareUnavailable(
                str(root), "ds18b20.device_id", f"several DS18B20s ({names}): set which one"
            )
        switch = self._switch("ds18b20", s.power_pin, DS18B20.warmup_s)
        power: PowerState = switch or AlwaysPowered(self.clock, DS18B20.warmup_s)

        def make(device: Path) -> DS18B20:
            return DS18B20(device, self.clock, power=power)

        thermometer: Sensor = (
            make(root / s.device_id) if s.device_id else _DiscoveredDS18B20(root, make, power)
        )
        compensated = ph if self.settings.ezo_ph.temperature_compensation else None
        return WaterTemperature(self._driver(thermometer), compensated)

    # -- UART ------------------------------------------------------------------------------

    def _gps(self) -> GpsReceiver | None:
        s = self.settings.gps
        if not s.enabled:
            return None
        try:
            port = self.open_serial(s.port, s.baud, timeout=GPS_PORT_TIMEOUT_S)
        except OSError as exc:  # serial.SerialException is an OSError
            raise HardwareUnavailable(
                s.port,
                "gps.port",
                f"cannot be opened ({exc}): enable the UART (enable_uart=1) or set the port",
            ) from exc
        self.buses.callback(port.close)
        switch = self._switch("gps", s.power_pin, GpsReceiver.warmup_s)
        return self._driver(GpsReceiver(port, self.clock, power=switch))

    # -- GPIO ------------------------------------------------------------------------------

    def _paddle_wheel(self) -> PaddleWheel | None:
        s = self.settings.paddle_wheel
        if not s.enabled:
            return None
        switch = self._switch("paddle_wheel", s.power_pin, PaddleWheel.warmup_s)
        with self._gpio("paddle_wheel.pin", s.pin):
            wheel = PaddleWheel(
                s.pin,
                s.table(),
                self.clock,
                power=switch,
                window_s=s.window_s,
                bounce_time=s.bounce_time_s,
                pin_factory=self.pin_factory,
            )
        return self._driver(wheel)
