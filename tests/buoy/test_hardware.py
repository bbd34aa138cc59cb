"""The ``[hardware]`` table and the hardware build, over the real drivers and the emulators.

The I2C parts answer through ``FakeSMBus``, the DS18B20 through a w1 sysfs tree, the GPS
through a pseudo-terminal opened with the default pyserial opener, and the GPIO through
gpiozero's ``MockFactory``: every value below travels through the same drivers as on a Pi.
"""

from __future__ import annotations

import datetime as dt
import errno
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import serial
from gpiozero import OutputDevice
from gpiozero.pins.mock import MockFactory

from buoy.hardware import HardwareInstruments, HardwareUnavailable, build_hardware_instruments
from buoy.hardware_settings import HardwareSettings
from nemopi.configfile import ConfigError, documented_keys, from_mapping, setting
from nemopi.sensor_status import SensorStatus
from sensors.clock import SimulatedClock
from sensors.emulators.ads1115 import Ads1115Emulator
from sensors.emulators.ezo_ph import EzoPhEmulator
from sensors.emulators.fake_smbus import FakeSMBus
from sensors.emulators.ina219 import Ina219Emulator
from sensors.emulators.nmea_gps import NmeaGpsEmulator
from sensors.emulators.paddle_wheel import PaddleWheelEmulator
from sensors.emulators.scd4x import Scd4xEmulator
from sensors.emulators.w1_sysfs import W1Emulator
from sensors.ezo_ph import EzoPh
from sensors.paddle_wheel import PaddleWheel
from sensors.reading import Reading
from sensors.turbidity import TurbidityProbe, ntu_from_volts

START_UTC = dt.datetime(2025, 3, 1, 6, tzinfo=dt.UTC).timestamp()
WATER_C = 27.5
REEF = (-8.28, 115.59)
WHEEL_PIN = 17
ALL_WARM_S = 3700.0  # past every warm-up, the gas cells' hour included

QUANTITIES = (
    "water_temperature",
    "ph",
    "xco2_equilibrated",
    "turbidity",
    "current_speed",
    "no2",
    "no",
    "latitude",
    "longitude",
    "battery_voltage",
    "battery_current",
    "solar_power",
)


@dataclass(frozen=True)
class Buoy:
    """The ``[hardware]`` table where it sits in the buoy's file, so keys read as there."""

    hardware: HardwareSettings = setting(HardwareSettings(), doc="The fitted parts.")


def parse(table: dict[str, Any]) -> HardwareSettings:
    return from_mapping({"hardware": table}, Buoy, "buoy.toml").hardware


def no_serial(port: str, baudrate: int, *, timeout: float) -> serial.Serial:
    raise AssertionError("the GPS port was opened although no GPS is fitted")


# -- settings ------------------------------------------------------------------------------


def test_an_empty_table_gives_the_documented_defaults() -> None:
    settings = parse({})
    assert settings == HardwareSettings()
    assert settings.i2c_bus == 1
    assert [a for _, a in settings.i2c_addresses()] == [0x63, 0x62, 0x48, 0x49, 0x40, 0x41]
    assert (settings.gps.port, settings.gps.baud) == ("/dev/serial0", 9600)
    assert list(settings.gpio_pins()) == [("paddle_wheel.pin", WHEEL_PIN)]
    assert [c.we_channel for c in settings.gas_cells.cells()] == [0, 2]


def test_every_setting_is_documented() -> None:
    keys = documented_keys(HardwareSettings)
    assert {"i2c_bus", "gas_cells.no.gain_mv_per_na", "solar_monitor.address"} <= set(keys)
    assert all(doc.strip() for doc in keys.values()), [k for k, d in keys.items() if not d]


def nested(key: str, value: Any) -> dict[str, Any]:
    table: dict[str, Any] = {}
    *tables, leaf = key.split(".")
    inner = table
    for name in tables:
        inner = inner.setdefault(name, {})
    inner[leaf] = value
    return table


@pytest.mark.parametrize("key", sorted(documented_keys(HardwareSettings)))
def test_a_value_of_the_wrong_type_is_an_error_naming_its_key(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(nested(key, {"not": "a value"}))
    assert caught.value.key == f"hardware.{key}"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("i2c_bus", -1),
        ("ezo_ph.address", 0x80),
        ("scd4x.address", 0x02),
        ("turbidity.address", 0x4C),
        ("turbidity.channel", 4),
        ("turbidity.divider_ratio", 0.5),
        ("gas_cells.address", 0x47),
        ("gas_cells.no2.ae_channel", -1),
        ("gas_cells.no.sensitivity_na_per_ppm", 0),
        ("gas_cells.no2.gain_mv_per_na", 0.0),
        ("battery_monitor.address", 0x50),
        ("solar_monitor.shunt_ohms", 0.0),
        ("battery_monitor.max_current_a", -1.0),
        ("ds18b20.device_id", "10-000005e2fdc3"),
        ("ds18b20.power_pin", 28),
        ("gps.baud", 9601),
        ("gps.power_pin", 14),
        ("paddle_wheel.pin", 2),
        ("paddle_wheel.calibration", [[0, 0], [5, 0.25, 1]]),
        ("paddle_wheel.calibration", [[1, 0], [5, 0.25]]),
        ("paddle_wheel.calibration", [[0, 0], [5, 0.25], [4, 0.5]]),
        ("paddle_wheel.window_s", 0),
        ("paddle_wheel.bounce_time_s", 1.0),
        ("ezo_ph.power_pin", -1),
        ("gas_cells.no2.unknown", 1),
    ],
)
def test_a_bad_value_is_an_error_naming_its_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(nested(key, value))
    assert caught.value.key == f"hardware.{key}"


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ({"scd4x": {"address": 0x63}}, "hardware", "ezo_ph and scd4x both use I2C address 0x63"),
        (
            {"ezo_ph": {"power_pin": 17}},
            "hardware",
            "paddle_wheel.pin and ezo_ph.power_pin both use GPIO17",
        ),
        ({"battery_monitor": {"enabled": False}}, "hardware", "solar_monitor needs"),
        ({"gas_cells": {"no": {"we_channel": 1}}}, "hardware.gas_cells", "must differ"),
        (
            {"gas_cells": {"no2": {"enabled": False}, "no": {"enabled": False}}},
            "hardware.gas_cells",
            "no cell is enabled",
        ),
        (
            {"battery_monitor": {"shunt_ohms": 0.2}},
            "hardware.battery_monitor",
            "exceeds the 0.32 V shunt range",
        ),
    ],
)
def test_settings_that_contradict_each_other_are_an_error_naming_them(
    table: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=words) as caught:
        parse(table)
    assert caught.value.key == key


def test_an_unfitted_part_may_share_an_address_or_pin() -> None:
    settings = parse(
        {
            "scd4x": {"enabled": False, "address": 0x63},
            "paddle_wheel": {"enabled": False},
            "ezo_ph": {"power_pin": 17},
        }
    )
    assert ("scd4x", 0x63) not in list(settings.i2c_addresses())
    assert list(settings.gpio_pins()) == [("ezo_ph.power_pin", 17)]


# -- the build -----------------------------------------------------------------------------


@dataclass
class Bench:
    """One buoy's parts, emulated, and the buses they answer on."""

    clock: SimulatedClock
    bus: FakeSMBus
    factory: MockFactory
    w1_root: Path
    ezo: EzoPhEmulator
    gps: NmeaGpsEmulator
    wheel: PaddleWheelEmulator
    probe_v: list[float]

    def build(self, **table: Any) -> HardwareInstruments:
        settings = parse({"gps": {"port": self.gps.port}} | table)
        return build_hardware_instruments(
            settings,
            self.clock,
            open_i2c=self.open_i2c,
            pin_factory=self.factory,
            w1_root=self.w1_root,
        )

    def open_i2c(self, number: int) -> FakeSMBus:
        assert number == 1
        return self.bus

    def read_all(self, instruments: HardwareInstruments) -> dict[str, Reading]:
        readings: dict[str, Reading] = {}
        for sensor in instruments.sensors:
            if isinstance(sensor, PaddleWheel):  # on virtual time the water turns it on demand
                self.wheel.advance(sensor.window_s)
            readings |= {r.quantity: r for r in sensor.read()}
        return readings


def isb_v(electronic_zero_mv: float, signal_mv: float) -> Callable[[], float]:
    return lambda: (electronic_zero_mv + signal_mv) / 1000


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    clock = SimulatedClock(START_UTC)
    bus = FakeSMBus()
    probe_v = [4.2]
    ezo = EzoPhEmulator(clock, lambda: 7.0, lambda: WATER_C)
    bus.attach(0x63, ezo)
    bus.attach(0x62, Scd4xEmulator(clock, lambda: 450.0, lambda: WATER_C, lambda: 95.0))
    bus.attach(0x48, Ads1115Emulator(clock, {0: lambda: probe_v[0] / 2}))
    gas_inputs = {0: isb_v(224, 12), 1: isb_v(255, 5), 2: isb_v(300, 20), 3: isb_v(290, 5)}
    bus.attach(0x49, Ads1115Emulator(clock, gas_inputs))
    bus.attach(
        0x40, Ina219Emulator(clock, bus_voltage=lambda: 12.6, current=lambda: 0.8, shunt_ohms=0.1)
    )
    bus.attach(
        0x41, Ina219Emulator(clock, bus_voltage=lambda: 13.0, current=lambda: 1.5, shunt_ohms=0.1)
    )
    factory = MockFactory()
    w1_root = tmp_path / "w1"
    with (
        W1Emulator(w1_root, lambda: WATER_C, clock),
        NmeaGpsEmulator(clock, lambda: REEF, poll_s=0.001) as gps,
        PaddleWheelEmulator(
            factory.pin(WHEEL_PIN), HardwareSettings().paddle_wheel.table(), lambda: 0.5, clock
        ) as wheel,
    ):
        yield Bench(clock, bus, factory, w1_root, ezo, gps, wheel, probe_v)
    factory.reset()
    factory.close()


def install(instruments: HardwareInstruments, bench: Bench) -> None:
    """What the operator does once: a pH mid-point and a clear-water turbidity calibration."""
    for sensor in instruments.sensors:
        if isinstance(sensor, EzoPh):
            sensor.calibrate_mid(7.0)
        if isinstance(sensor, TurbidityProbe):
            sensor.calibrate_clear_water()
    bench.probe_v[0] = 4.0


def test_every_fitted_quantity_reads_ok_through_the_real_drivers(bench: Bench) -> None:
    with bench.build() as instruments:
        bench.clock.advance(ALL_WARM_S)
        install(instruments, bench)
        readings = bench.read_all(instruments)
        assert tuple(readings) == QUANTITIES
        assert {q: r.status for q, r in readings.items()} == dict.fromkeys(
            QUANTITIES, SensorStatus.OK
        )
        values = {q: r.value for q, r in readings.items()}
        assert values["water_temperature"] == WATER_C
        assert values["ph"] == pytest.approx(7.0, abs=0.01)
        assert values["turbidity"] == pytest.approx(ntu_from_volts(4.0), rel=0.01)
        assert values["current_speed"] == pytest.approx(0.5, rel=0.05)
        assert (values["latitude"], values["longitude"]) == pytest.approx(REEF, abs=1e-5)
        assert values["battery_voltage"] == pytest.approx(12.6, abs=0.01)
        assert instruments.gps is not None
        assert instruments.gps.last_fix() is not None


def test_a_restart_long_after_boot_does_not_wait_for_the_gas_cells_again(bench: Bench) -> None:
    bench.clock.advance(ALL_WARM_S)  # the rail has been on since boot, an hour and more ago
    with bench.build() as instruments:
        bench.clock.advance(60.0)  # the thermometer's warm-up, far less than the cells' hour
        readings = bench.read_all(instruments)
    assert readings["no2"].status is SensorStatus.OK
    assert readings["no"].status is SensorStatus.OK


def test_the_ph_is_compensated_with_the_temperature_read_before_it(bench: Bench) -> None:
    with bench.build() as instruments:
        bench.clock.advance(ALL_WARM_S)
        bench.read_all(instruments)
        assert f"RT,{WATER_C:.2f}" in bench.ezo.received


def test_without_compensation_the_ph_uses_the_stored_temperature(bench: Bench) -> None:
    with bench.build(ezo_ph={"temperature_compensation": False}) as instruments:
        bench.clock.advance(ALL_WARM_S)
        readings = bench.read_all(instruments)
        assert readings["ph"].value is not None
        assert not [command for command in bench.ezo.received if command.startswith("RT,")]


def test_right_after_the_start_the_parts_are_warming_up(bench: Bench) -> None:
    with bench.build() as instruments:
        statuses = {r.status for r in bench.read_all(instruments).values()}
    assert SensorStatus.WARMING_UP in statuses
    assert statuses <= {SensorStatus.WARMING_UP, SensorStatus.OK, SensorStatus.NOT_CALIBRATED}


def test_an_unfitted_part_is_not_built(bench: Bench) -> None:
    settings = parse(
        {
            "scd4x": {"enabled": False},
            "gps": {"enabled": False},
            "solar_monitor": {"enabled": False},
        }
    )
    with build_hardware_instruments(
        settings,
        bench.clock,
        open_i2c=bench.open_i2c,
        open_serial=no_serial,
        pin_factory=bench.factory,
        w1_root=bench.w1_root,
    ) as instruments:
        quantities = [q for sensor in instruments.sensors for q in sensor.quantities]
        assert instruments.gps is None
        assert quantities == [
            q
            for q in QUANTITIES
            if q not in {"xco2_equilibrated", "latitude", "longitude", "solar_power"}
        ]


def test_a_fitted_part_that_does_not_answer_is_unreachable_not_fatal(
    bench: Bench, tmp_path: Path
) -> None:
    empty_w1 = tmp_path / "empty-w1"
    empty_w1.mkdir()
    silent = FakeSMBus()
    settings = parse({"gps": {"enabled": False}, "paddle_wheel": {"enabled": False}})
    with build_hardware_instruments(
        settings, bench.clock, open_i2c=lambda number: silent, w1_root=empty_w1
    ) as instruments:
        bench.clock.advance(ALL_WARM_S)
        readings = bench.read_all(instruments)
    assert {r.status for r in readings.values()} == {SensorStatus.UNREACHABLE}
    assert len(readings) == len(QUANTITIES) - 3


def test_a_probe_that_appears_later_is_found(bench: Bench, tmp_path: Path) -> None:
    late_root = tmp_path / "late-w1"
    late_root.mkdir()
    settings = parse({"gps": {"enabled": False}, "paddle_wheel": {"enabled": False}})
    with build_hardware_instruments(
        settings, bench.clock, open_i2c=bench.open_i2c, w1_root=late_root
    ) as instruments:
        bench.clock.advance(ALL_WARM_S)
        water = instruments.sensors[0]
        assert water.read()[0].status is SensorStatus.UNREACHABLE
        with W1Emulator(late_root, lambda: WATER_C, bench.clock):
            assert water.read() == [Reading("water_temperature", WATER_C)]


def test_close_closes_what_it_opened_and_is_safe_twice(bench: Bench) -> None:
    ports: list[serial.Serial] = []

    def open_serial(port: str, baudrate: int, *, timeout: float) -> serial.Serial:
        ports.append(serial.Serial(port, baudrate, timeout=timeout))
        return ports[-1]

    settings = parse({"gps": {"port": bench.gps.port, "power_pin": 5}})
    instruments = build_hardware_instruments(
        settings,
        bench.clock,
        open_i2c=bench.open_i2c,
        open_serial=open_serial,
        pin_factory=bench.factory,
        w1_root=bench.w1_root,
    )
    assert list(instruments.power) == ["gps"]
    assert instruments.power["gps"].is_on
    instruments.close()
    instruments.close()
    assert bench.bus.closed
    assert not ports[0].is_open
    for pin in (WHEEL_PIN, 5):  # released: the pins can be claimed again
        OutputDevice(pin, pin_factory=bench.factory).close()
    with pytest.raises(RuntimeError, match="after close"):
        next(s for s in instruments.sensors if isinstance(s, EzoPh)).read()


def test_an_i2c_bus_that_cannot_be_opened_names_the_setting(bench: Bench) -> None:
    def no_i2c(number: int) -> FakeSMBus:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")

    with pytest.raises(
        HardwareUnavailable, match=r"/dev/i2c-1: hardware\.i2c_bus: cannot be opened"
    ):
        build_hardware_instruments(parse({}), bench.clock, open_i2c=no_i2c)


def test_a_gps_port_that_cannot_be_opened_names_the_setting_and_closes_the_bus(
    bench: Bench, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        bench.build(gps={"port": str(tmp_path / "no-tty")})
    assert caught.value.key == "hardware.gps.port"
    assert bench.bus.closed


@pytest.mark.parametrize(
    ("problem", "key"),
    [
        ("no w1 bus", "hardware.ds18b20.enabled"),
        ("two probes", "hardware.ds18b20.device_id"),
        ("pin in use", "hardware.paddle_wheel.pin"),
    ],
)
def test_a_missing_bus_or_pin_names_the_setting(
    bench: Bench, tmp_path: Path, problem: str, key: str
) -> None:
    if problem == "no w1 bus":
        bench.w1_root = tmp_path / "no-w1"
    elif problem == "two probes":
        (bench.w1_root / "28-0316a2796aff").mkdir()
    with ExitStack() as held:
        if problem == "pin in use":
            held.enter_context(OutputDevice(WHEEL_PIN, pin_factory=bench.factory))
        with pytest.raises(HardwareUnavailable) as caught:
            bench.build()
    assert caught.value.key == key
    assert bench.bus.closed
