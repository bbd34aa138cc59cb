"""One simulated buoy: every real driver over its emulator, every emulator on one simulated reef.

Why: ``nemopi buoy run --simulate`` promises to run the very same driver code as the buoy
(DESIGN.md). This module keeps that promise in one place. It wires the instrument set the way
the hardware is wired, and puts under each bus the emulator that answers like the part:

- I2C-1 (one ``FakeSMBus``): EZO-pH 0x63, SCD4x 0x62, the turbidity ADS1115 0x48 (SEN0189 on
  AIN0 through a 2:1 divider), the gas ADS1115 0x49 (NO2-B43F on AIN0/1, NO-B4 on AIN2/3),
  INA219 0x40 on the battery and 0x41 on the panel;
- 1-Wire: a DS18B20 in a w1 sysfs tree under ``workdir``, found as on the buoy
  (``find_devices``);
- UART: the NMEA emulator's pseudo-terminal, opened with pyserial at 9600 baud;
- GPIO: the paddle wheel and the MOSFET gates of the switched sensors on one gpiozero
  ``MockFactory``, passed explicitly (no global ``Device.pin_factory``).

What it promises:

- ``sensors`` is in read order: the water temperature first, because each good value of it
  compensates the pH (``RT,n``) and the gas cells (nT) of the same cycle; then pH, CO2,
  turbidity, current, NOx, position and last the power monitors.
- The installation an operator does is done here, through the drivers: a three-point pH
  calibration in buffers at the water's temperature and a clear-water turbidity calibration.
  It takes a few seconds of ``clock`` time. The emulated parts carry the imperfections those
  calibrations exist for (an electrode's offset and slope, a probe's clear-water voltage).
- Switching a sensor on through ``power`` reboots its emulated chip, as a real power cycle
  does; drivers see the switch as their ``power``.
- On virtual time (``speedup`` 0) nothing moves between reads, so the paddle wheel turns on
  demand: right before its driver counts, the emulator turns it through one counting window,
  pulse by pulse, and the clock moves on by that window. On a running clock the emulator's
  thread pulses the pin all the time.
- ``close()`` closes the drivers (and their switches), then the emulators, buses and the pin
  factory; it is safe to call twice and leaves no thread or file descriptor behind. A build
  that fails half-way closes what it opened.

Wiring and part choices made here (⚠ assumptions, not from a datasheet): the GPIO numbers in
``GATE_PINS`` and ``PADDLE_WHEEL_PIN``; 0.1 ohm shunts for 3.2 A on both INA219s; the panel
held by a PWM charge controller at the battery voltage plus ``PANEL_DROP_V``; the
equilibrator air near saturation (``EQUILIBRATOR_RH``); the calibration sheets and the
paddle-wheel table below.
"""

from __future__ import annotations

import functools
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

import serial
from gpiozero.pins.mock import MockFactory

from nemopi.sensor_status import SensorStatus
from sensors.ads1115 import DEFAULT_ADDRESS as TURBIDITY_ADC_ADDRESS
from sensors.clock import SimulatedClock
from sensors.ds18b20 import DS18B20, find_devices
from sensors.emulators.ads1115 import Ads1115Emulator
from sensors.emulators.ezo_ph import EzoPhEmulator
from sensors.emulators.fake_smbus import FakeSMBus
from sensors.emulators.ina219 import Ina219Emulator
from sensors.emulators.nmea_gps import NmeaGpsEmulator
from sensors.emulators.paddle_wheel import PaddleWheelEmulator
from sensors.emulators.scd4x import Scd4xEmulator
from sensors.emulators.w1_sysfs import W1Emulator
from sensors.errors import SensorError
from sensors.ezo_ph import ADDRESS as EZO_ADDRESS
from sensors.ezo_ph import EzoPh
from sensors.gas_cells import DEFAULT_ADDRESS as GAS_ADC_ADDRESS
from sensors.gas_cells import CellCalibration, CellType, GasCell, GasCells
from sensors.gps import GpsReceiver
from sensors.ina219 import BATTERY_ADDRESS, SOLAR_ADDRESS, PowerMonitor, ShuntSpec
from sensors.paddle_wheel import CalibrationTable, PaddleWheel
from sensors.power_switch import SensorPower
from sensors.reading import Reading, Sensor
from sensors.scd4x import ADDRESS as SCD4X_ADDRESS
from sensors.scd4x import Scd4x
from sensors.simulation import Reef, ReefState, SimulationSettings
from sensors.turbidity import TurbidityCalibration, TurbidityProbe, curve_volts

log = logging.getLogger(__name__)

GATE_PINS: Mapping[str, int] = MappingProxyType(
    {"ezo_ph": 5, "scd4x": 6, "gps": 13, "ds18b20": 19, "paddle_wheel": 26}
)
PADDLE_WHEEL_PIN = 17
GPS_BAUD = 9600
GPS_PORT_TIMEOUT_S = 0.5

BATTERY_SHUNT = ShuntSpec(address=BATTERY_ADDRESS, shunt_ohms=0.1, max_current_a=3.2)
SOLAR_SHUNT = ShuntSpec(address=SOLAR_ADDRESS, shunt_ohms=0.1, max_current_a=3.2)
PANEL_DROP_V = 0.4

EQUILIBRATOR_RH = 95.0
ELECTRODE_OFFSET_MV = 6.0  # an electrode a year old: offset and slope that calibration removes
ELECTRODE_SLOPE = 0.97
ELECTRODE_NOISE_MV = 0.05  # RMS: the flicker of a live glass electrode
PH_BUFFERS = (7.0, 4.0, 10.0)  # mid first: it clears the other points

TURBIDITY_CHANNEL = 0
TURBIDITY_DIVIDER = 2.0
PROBE_SHIFT_V = -0.08  # this probe's output sits below the vendor curve; clear water corrects it

ISB_BACKGROUND_MV = 5.0  # AE above its electronic zero: the background nT removes
GAS_CELLS = (  # calibration sheets: NO2 as in [N1]'s worked example, NO a typical board
    GasCell(CellType.NO2_B43F, 0, 1, CellCalibration(224.0, 255.0, -431.0, -0.73)),
    GasCell(CellType.NO_B4, 2, 3, CellCalibration(300.0, 290.0, 600.0, 0.8)),
)
WHEEL_TABLE = CalibrationTable.from_pairs([(0, 0), (5, 0.25), (20, 1.0), (40, 1.8)])

# Real-time polling of the emulators' threads: slow enough to idle at a fraction of a percent
# of a core, fast enough that a read waits at most a few tens of milliseconds for them.
W1_POLL_S = 0.05
NMEA_POLL_S = 0.02
WHEEL_TICK_MAX_S = 0.05
FIRST_EPOCH_REAL_S = 5.0  # real time the GPS emulator gets to talk, on top of its period
WAIT_POLL_S = 0.002


class _Closing(Protocol):
    def close(self) -> None: ...


_ClosingT = TypeVar("_ClosingT", bound=_Closing)


class FaultInjectable(Protocol):
    """What tests and chaos runs do to an emulated part; ``fault`` is a member of the ``Fault``
    enum of the part's emulator module."""

    def inject(self, fault: Any) -> None: ...

    def clear_faults(self) -> None: ...


class SwitchedSupply:
    """One sensor's MOSFET switch and the emulated part behind it.

    ``switch`` is what the driver is given as its ``power``. Switching on through ``on()``
    also reboots the emulated chip (``reboot``), as cutting and restoring its supply would.
    """

    def __init__(self, switch: SensorPower, reboot: Callable[[], None] | None = None) -> None:
        self.switch = switch
        self._reboot = reboot

    @property
    def is_on(self) -> bool:
        return self.switch.is_on

    def on(self) -> None:
        if self.switch.is_on:
            return
        self.switch.on()
        if self._reboot is not None:
            self._reboot()

    def off(self) -> None:
        self.switch.off()


class _Immersion:
    """What a probe is dipped in: the reef, or during installation a calibration standard."""

    def __init__(self, reef_value: Callable[[], float]) -> None:
        self._reef_value = reef_value
        self._standard: float | None = None

    def __call__(self) -> float:
        return self._reef_value() if self._standard is None else self._standard

    @contextmanager
    def standard(self, value: float) -> Iterator[None]:
        """The probe sits in a standard of ``value`` until the block ends."""
        self._standard = value
        try:
            yield
        finally:
            self._standard = None


class WaterTemperature:
    """The DS18B20 as the sampler reads it; each good value also compensates the pH driver.

    ``celsius()`` is the latest OK value, None after a failed read: the gas cells then
    compensate at their reference temperature and say NOT_CALIBRATED, and the pH circuit uses
    its stored temperature.
    """

    def __init__(self, thermometer: DS18B20, ph: EzoPh) -> None:
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
        self._ph.set_compensation_temperature(self._latest)
        return readings

    def close(self) -> None:
        self._thermometer.close()


class _WheelOnVirtualTime:
    """The paddle-wheel driver on a virtual clock, where the water turns the wheel on demand."""

    def __init__(
        self,
        wheel: PaddleWheel,
        water: PaddleWheelEmulator,
        switch: SensorPower,
        clock: SimulatedClock,
    ) -> None:
        self._wheel = wheel
        self._water = water
        self._switch = switch
        self._clock = clock
        self.name = wheel.name
        self.quantities = wheel.quantities

    def read(self) -> list[Reading]:
        ready_at = self._switch.ready_at
        if ready_at is not None:  # an unpowered wheel sends no pulses and needs none
            warming_s = max(0.0, ready_at - self._clock.monotonic())
            self._water.advance(warming_s + self._wheel.window_s)
        return self._wheel.read()

    def close(self) -> None:
        self._wheel.close()


class SimulatedInstruments:
    """The instruments of one simulated buoy; a context manager. Built by
    ``build_simulated_sensors``."""

    def __init__(
        self,
        reef: Reef,
        clock: SimulatedClock,
        sensors: list[Sensor],
        gps: GpsReceiver,
        power: Mapping[str, SwitchedSupply],
        emulators: Mapping[str, FaultInjectable],
        drivers: ExitStack,
        devices: ExitStack,
    ) -> None:
        self.reef = reef
        self.clock = clock
        self.sensors = sensors
        self.gps = gps
        self.power = power
        self.emulators = emulators
        self._drivers = drivers
        self._devices = devices

    def emulator(self, name: str) -> FaultInjectable:
        """The emulated part called ``name`` (a key of ``emulators``), to break or mend it."""
        try:
            return self.emulators[name]
        except KeyError:
            known = ", ".join(self.emulators)
            raise KeyError(f"no emulated part {name!r} (known: {known})") from None

    def quantities(self) -> tuple[str, ...]:
        """Every quantity the instruments report, in read order."""
        return tuple(q for sensor in self.sensors for q in sensor.quantities)

    def close(self) -> None:
        """Close the drivers, then the emulators; safe to call twice."""
        _close(self._drivers, self._devices)

    def __enter__(self) -> SimulatedInstruments:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_simulated_sensors(
    settings: SimulationSettings,
    clock: SimulatedClock,
    workdir: Path,
    *,
    turbidity_calibration: TurbidityCalibration | None = None,
    gas_calibrations: Mapping[str, CellCalibration] | None = None,
) -> SimulatedInstruments:
    """The whole instrument set of one buoy on the reef of ``settings``, reading ``clock``.

    The reef's history starts at ``clock.utc()``; the w1 tree lives in ``workdir / "w1"``
    (a tree left there by a killed run is replaced). ``turbidity_calibration`` and
    ``gas_calibrations`` (by quantity, instead of the sheet in ``GAS_CELLS``) are stored field
    calibrations; given a turbidity calibration, the probe is not calibrated again. The
    emulated pH circuit keeps no EEPROM from one run to the next, so it is always installed.
    """
    drivers, devices = ExitStack(), ExitStack()
    try:
        return _Assembly(
            settings, clock, workdir, drivers, devices, turbidity_calibration, gas_calibrations
        ).build()
    except BaseException:
        _close(drivers, devices)
        raise


def probe_volts_for(ntu: float) -> float:
    """The SEN0189 output for ``ntu``: the driver's own curve inverted, clear water below 0 NTU.

    ``curve_volts`` saturates at the curve's peak, as the probe's output does in dark water.
    """
    return curve_volts(max(ntu, 0.0))


def isb_volts(cell: GasCell, state: ReefState, working: bool) -> float:
    """The WE (``working``) or AE output of ``cell``'s board for the air in ``state``."""
    sheet = cell.calibration
    if not working:
        return (sheet.ae_electronic_zero_mv + ISB_BACKGROUND_MV) / 1000
    ppb = state.value(cell.kind.quantity)
    background = cell.kind.n_t_at(state.water_temperature) * ISB_BACKGROUND_MV
    signal = ppb * sheet.sensitivity_mv_per_ppb + sheet.zero_offset_mv
    return (sheet.we_electronic_zero_mv + background + signal) / 1000


def _close(drivers: ExitStack, devices: ExitStack) -> None:
    try:
        drivers.close()
    finally:
        devices.close()


def _wait_until(ready: Callable[[], bool], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout_s:.1f} s")
        time.sleep(WAIT_POLL_S)


class _Assembly:
    """The build steps, one per bus; each registers what it opens on ``drivers``/``devices``."""

    def __init__(
        self,
        settings: SimulationSettings,
        clock: SimulatedClock,
        workdir: Path,
        drivers: ExitStack,
        devices: ExitStack,
        turbidity_calibration: TurbidityCalibration | None,
        gas_calibrations: Mapping[str, CellCalibration] | None,
    ) -> None:
        self.settings = settings
        self.turbidity_calibration = turbidity_calibration
        self.gas_calibrations = dict(gas_calibrations or {})
        self.clock = clock
        self.workdir = workdir
        self.drivers = drivers
        self.devices = devices
        self.reef = Reef(settings, clock.utc())
        self.emulators: dict[str, FaultInjectable] = {}
        self.power: dict[str, SwitchedSupply] = {}
        self.factory = MockFactory()
        devices.callback(self.factory.reset)
        devices.callback(self.factory.close)

    def truth(self, quantity: str) -> Callable[[], float]:
        return self.reef.truth(self.clock, quantity)

    def state(self) -> ReefState:
        return self.reef.state(self.clock.utc())

    def build(self) -> SimulatedInstruments:
        gps = self._gps()  # first: its pty settles before anything else reads the clock
        bus = FakeSMBus()
        self.devices.callback(bus.close)
        ph = self._ph(bus)
        water = WaterTemperature(self._thermometer(), ph)
        sensors: list[Sensor] = [
            water,
            ph,
            self._co2(bus),
            self._turbidity(bus),
            self._paddle_wheel(),
            self._gas_cells(bus, water),
            gps,
            self._power_monitors(bus),
        ]
        log.info(
            "simulated buoy on %s: %d sensors, %d quantities",
            self.settings.site,
            len(sensors),
            sum(len(s.quantities) for s in sensors),
        )
        return SimulatedInstruments(
            self.reef,
            self.clock,
            sensors,
            gps,
            MappingProxyType(self.power),
            MappingProxyType(self.emulators),
            self.drivers,
            self.devices,
        )

    # -- shared steps ----------------------------------------------------------------------

    def _emulator(self, name: str, emulator: FaultInjectable) -> None:
        self.emulators[name] = emulator

    def _switch(
        self, name: str, warmup_s: float, reboot: Callable[[], None] | None = None
    ) -> SensorPower:
        """The sensor's MOSFET gate, on since boot; closed after the driver it powers."""
        switch = SensorPower(
            GATE_PINS[name], warmup_s, self.clock, initial_on=True, pin_factory=self.factory
        )
        self.drivers.callback(switch.close)
        self.power[name] = SwitchedSupply(switch, reboot)
        return switch

    def _install(self, what: str, steps: Callable[[], None]) -> None:
        """A technician's installation ``steps``: at the simulation's pace and, should a
        command outrun its deadline there, once more at real-time pace.

        At a few hundred times real time, a busy machine's few milliseconds between a
        driver's poll and its deadline check are more than a command's grace; a person
        calibrating the probe would simply do it again. Every step starts afresh, so the
        whole sequence is repeated.
        """
        try:
            steps()
        except SensorError as exc:
            log.warning(
                "installing %s at %gx real time failed (%s); doing it again at real-time pace",
                what,
                self.clock.speedup,
                exc,
            )
            with self.clock.paced(1.0):
                steps()

    def _driver(self, driver: _ClosingT) -> _ClosingT:
        self.drivers.callback(driver.close)
        return driver

    # -- UART ------------------------------------------------------------------------------

    def _gps(self) -> GpsReceiver:
        emulator = NmeaGpsEmulator(
            self.clock, self.reef.position(self.clock), poll_s=NMEA_POLL_S, seed=self.settings.seed
        )
        self.devices.callback(emulator.close)
        self._emulator("gps", emulator)
        # Each epoch moves a virtual clock by one period, so let the receiver's start-up epochs
        # out now: one before the port opens, one after pyserial's open() flushed it.
        timeout_s = FIRST_EPOCH_REAL_S + (
            emulator.period_s / self.clock.speedup if self.clock.speedup else 0.0
        )
        _wait_until(lambda: emulator.epochs > 0, "the GPS emulator sent no epoch", timeout_s)
        port = serial.Serial(emulator.port, GPS_BAUD, timeout=GPS_PORT_TIMEOUT_S)
        self.drivers.callback(port.close)
        _wait_until(lambda: port.in_waiting > 0, "the GPS emulator sent nothing", timeout_s)
        switch = self._switch("gps", GpsReceiver.warmup_s)
        driver = self._driver(GpsReceiver(port, self.clock, power=switch))
        return driver

    # -- I2C-1 -----------------------------------------------------------------------------

    def _ph(self, bus: FakeSMBus) -> EzoPh:
        sea = _Immersion(self.truth("ph"))
        emulator = EzoPhEmulator(
            self.clock,
            sea,
            self.truth("water_temperature"),
            probe_offset_mv=ELECTRODE_OFFSET_MV,
            probe_slope=ELECTRODE_SLOPE,
            noise_mv=ELECTRODE_NOISE_MV,
            noise_seed=self.settings.seed,
        )
        bus.attach(EZO_ADDRESS, emulator)
        self._emulator("ezo_ph", emulator)
        switch = self._switch("ezo_ph", EzoPh.warmup_s, emulator.power_cycle)
        ph = self._driver(EzoPh(bus, self.clock, power=switch))

        def install() -> None:
            """Buffers at the water's temperature, the circuit told that temperature."""
            ph.store_compensation_temperature(self.state().water_temperature)
            calibrations = (ph.calibrate_mid, ph.calibrate_low, ph.calibrate_high)
            for buffer, calibrate in zip(PH_BUFFERS, calibrations, strict=True):
                with sea.standard(buffer):
                    calibrate(buffer)

        self._install("the pH probe", install)
        return ph

    def _co2(self, bus: FakeSMBus) -> Scd4x:
        emulator = Scd4xEmulator(
            self.clock,
            self.truth("xco2_equilibrated"),
            self.truth("water_temperature"),  # the equilibrator air takes the water's temperature
            lambda: EQUILIBRATOR_RH,
            noise_seed=self.settings.seed,
        )
        bus.attach(SCD4X_ADDRESS, emulator)
        self._emulator("scd4x", emulator)
        switch = self._switch("scd4x", Scd4x.warmup_s, emulator.power_cycle)
        driver = self._driver(Scd4x(bus, self.clock, power=switch))
        return driver

    def _turbidity(self, bus: FakeSMBus) -> TurbidityProbe:
        water = _Immersion(self.truth("turbidity"))

        def adc_input_v() -> float:
            return (probe_volts_for(water()) + PROBE_SHIFT_V) / TURBIDITY_DIVIDER

        emulator = Ads1115Emulator(
            self.clock, inputs={TURBIDITY_CHANNEL: adc_input_v}, seed=self.settings.seed
        )
        bus.attach(TURBIDITY_ADC_ADDRESS, emulator)
        self._emulator("turbidity_adc", emulator)
        probe = self._driver(
            TurbidityProbe(
                bus,
                address=TURBIDITY_ADC_ADDRESS,
                channel=TURBIDITY_CHANNEL,
                divider_ratio=TURBIDITY_DIVIDER,
                calibration=self.turbidity_calibration,
                clock=self.clock,
            )
        )
        if probe.calibration is None:

            def install() -> None:
                with water.standard(0.0):  # the probe in clear water
                    probe.calibrate_clear_water()

            self._install("the turbidity probe", install)
        return probe

    def _gas_cells(self, bus: FakeSMBus, water: WaterTemperature) -> GasCells:
        inputs: dict[int, Callable[[], float]] = {}
        for cell in GAS_CELLS:
            inputs[cell.we_channel] = functools.partial(self._isb_volts, cell, True)
            inputs[cell.ae_channel] = functools.partial(self._isb_volts, cell, False)
        emulator = Ads1115Emulator(self.clock, inputs=inputs, seed=self.settings.seed)
        bus.attach(GAS_ADC_ADDRESS, emulator)
        self._emulator("gas_adc", emulator)
        stored = self.gas_calibrations
        fitted = [
            replace(c, calibration=stored.get(c.kind.quantity, c.calibration)) for c in GAS_CELLS
        ]
        cells = self._driver(
            GasCells(bus, fitted, water.celsius, address=GAS_ADC_ADDRESS, clock=self.clock)
        )
        return cells

    def _isb_volts(self, cell: GasCell, working: bool) -> float:
        return isb_volts(cell, self.state(), working)

    def _power_monitors(self, bus: FakeSMBus) -> PowerMonitor:
        def panel_volts() -> float:
            return self.state().battery_voltage + PANEL_DROP_V

        def panel_amps() -> float:
            state = self.state()
            return state.solar_power / (state.battery_voltage + PANEL_DROP_V)

        battery = Ina219Emulator(
            self.clock,
            bus_voltage=self.truth("battery_voltage"),
            current=self.truth("battery_current"),
            shunt_ohms=BATTERY_SHUNT.shunt_ohms,
            seed=self.settings.seed,
        )
        solar = Ina219Emulator(
            self.clock,
            bus_voltage=panel_volts,
            current=panel_amps,
            shunt_ohms=SOLAR_SHUNT.shunt_ohms,
            seed=self.settings.seed + 1,
        )
        bus.attach(BATTERY_SHUNT.address, battery)
        bus.attach(SOLAR_SHUNT.address, solar)
        self._emulator("battery_monitor", battery)
        self._emulator("solar_monitor", solar)
        monitor = self._driver(
            PowerMonitor(bus, battery=BATTERY_SHUNT, solar=SOLAR_SHUNT, clock=self.clock)
        )
        return monitor

    # -- 1-Wire ----------------------------------------------------------------------------

    def _thermometer(self) -> DS18B20:
        root = self.workdir / "w1"
        shutil.rmtree(root, ignore_errors=True)  # a killed run leaves its FIFO behind
        emulator = W1Emulator(root, self.truth("water_temperature"), self.clock, poll_s=W1_POLL_S)
        self.devices.callback(emulator.close)
        self._emulator("ds18b20", emulator)
        (device,) = find_devices(root)
        switch = self._switch("ds18b20", DS18B20.warmup_s)
        thermometer = self._driver(DS18B20(device, self.clock, power=switch))
        return thermometer

    # -- GPIO ------------------------------------------------------------------------------

    def _paddle_wheel(self) -> Sensor:
        switch = self._switch("paddle_wheel", PaddleWheel.warmup_s)
        wheel = self._driver(
            PaddleWheel(
                PADDLE_WHEEL_PIN, WHEEL_TABLE, self.clock, power=switch, pin_factory=self.factory
            )
        )
        water = PaddleWheelEmulator(
            self.factory.pin(PADDLE_WHEEL_PIN),
            WHEEL_TABLE,
            self.truth("current_speed"),
            self.clock,
            tick_s=self._wheel_tick_s(wheel.window_s),
        )
        self.devices.callback(water.close)
        self._emulator("paddle_wheel", water)
        if self.clock.speedup == 0:
            return _WheelOnVirtualTime(wheel, water, switch, self.clock)
        water.start()
        return wheel

    def _wheel_tick_s(self, window_s: float) -> float:
        """The emulator thread's real-time tick: pulses stamped within 1 % of a counting window
        of clock time, but no more than 20 wake-ups a second (on virtual time: no thread)."""
        if self.clock.speedup == 0:
            return WHEEL_TICK_MAX_S
        return min(WHEEL_TICK_MAX_S, max(0.005, window_s / 100 / self.clock.speedup))
