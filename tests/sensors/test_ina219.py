"""The INA219 power monitors over emulated chips: datasheet arithmetic, bytes, faults, bounds."""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from nemopi.sensor_status import SensorStatus
from sensors.clock import SimulatedClock
from sensors.emulators.fake_smbus import FakeSMBus
from sensors.emulators.faults import Fault
from sensors.emulators.ina219 import Ina219Emulator
from sensors.ina219 import (
    CONFIG_POR,
    REG_CURRENT,
    Ina219,
    Ina219Config,
    PowerMonitor,
    ShuntSpec,
    calibration_for,
    current_lsb_for,
)
from sensors.power_switch import SensorPower
from sensors.reading import Reading

# The datasheet's worked example: 0.1 ohm, 3.2 A -> Current_LSB 100 µA, Cal 4096, ±320 mV.
BATTERY = ShuntSpec(address=0x40, shunt_ohms=0.1, max_current_a=3.2)
# 10 mohm, 8 A -> Current_LSB 500 µA (first 1-2-5 step above 244 µA), Cal 8192, ±80 mV.
SOLAR = ShuntSpec(address=0x41, shunt_ohms=0.01, max_current_a=8.0)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(start_utc=1_780_000_000.0, speedup=0)


@pytest.fixture
def truth() -> dict[str, float]:
    return {"battery_v": 12.8, "battery_a": 1.5, "solar_v": 18.0, "solar_a": 2.0}


@pytest.fixture
def battery_chip(clock: SimulatedClock, truth: dict[str, float]) -> Ina219Emulator:
    return Ina219Emulator(
        clock,
        bus_voltage=lambda: truth["battery_v"],
        current=lambda: truth["battery_a"],
        shunt_ohms=BATTERY.shunt_ohms,
    )


@pytest.fixture
def solar_chip(clock: SimulatedClock, truth: dict[str, float]) -> Ina219Emulator:
    return Ina219Emulator(
        clock,
        bus_voltage=lambda: truth["solar_v"],
        current=lambda: truth["solar_a"],
        shunt_ohms=SOLAR.shunt_ohms,
    )


@pytest.fixture
def bus(battery_chip: Ina219Emulator, solar_chip: Ina219Emulator) -> FakeSMBus:
    return FakeSMBus({BATTERY.address: battery_chip, SOLAR.address: solar_chip})


@pytest.fixture
def monitor(bus: FakeSMBus, clock: SimulatedClock) -> PowerMonitor:
    return PowerMonitor(bus, battery=BATTERY, solar=SOLAR, clock=clock)


def by_quantity(readings: list[Reading]) -> dict[str, Reading]:
    return {reading.quantity: reading for reading in readings}


def test_datasheet_example_gives_cal_4096_and_a_2mw_power_lsb(clock: SimulatedClock) -> None:
    assert current_lsb_for(2.0) == 1e-4  # minimum 61 µA, rounded up to 100 µA
    assert calibration_for(1e-4, 0.1) == 4096
    chip = Ina219(FakeSMBus(), BATTERY, clock)
    assert (chip.current_lsb_a, chip.calibration) == (1e-4, 4096)
    assert chip.power_lsb_w == pytest.approx(0.002)


@pytest.mark.parametrize(
    ("max_current_a", "lsb"), [(2.0, 1e-4), (3.2, 1e-4), (8.0, 5e-4), (0.5, 2e-5), (20.0, 1e-3)]
)
def test_current_lsb_is_the_first_1_2_5_step_above_max_over_32767(
    max_current_a: float, lsb: float
) -> None:
    assert current_lsb_for(max_current_a) == lsb
    assert max_current_a / 32767 <= lsb < 2.5 * max_current_a / 32767


def test_calibration_is_truncated_and_bit_0_is_left_clear() -> None:
    # 0.04096 / (100 µA x 0.09997 ohm) = 4097.2 -> trunc 4097 -> bit 0 unused -> 4096
    assert calibration_for(1e-4, 0.09997) == 4096


def test_calibration_that_does_not_fit_16_bits_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        calibration_for(1e-5, 0.01)  # 409600


def test_shunt_voltage_beyond_320mv_is_refused() -> None:
    with pytest.raises(ValueError, match="shunt range"):
        ShuntSpec(address=0x40, shunt_ohms=0.1, max_current_a=4.0)


def test_power_on_config_0x399f_decodes_to_the_datasheet_defaults() -> None:
    config = Ina219Config.from_word(CONFIG_POR)
    assert config == Ina219Config(bus_32v=True, pga=3, bus_adc=3, shunt_adc=3, mode=7)
    assert config.word() == CONFIG_POR
    assert config.shunt_range_v == 0.32
    assert config.conversion_time_s == pytest.approx(2 * 532e-6)


@pytest.mark.parametrize(("spec", "word"), [(BATTERY, 0x3FFB), (SOLAR, 0x2FFB)])
def test_driver_config_is_32v_smallest_fitting_pga_128_samples_triggered(
    spec: ShuntSpec, word: int, clock: SimulatedClock
) -> None:
    config = Ina219(FakeSMBus(), spec, clock).config
    assert config.word() == word
    assert config.conversion_time_s == pytest.approx(2 * 68.10e-3)


def test_calibration_then_trigger_are_written_big_endian(
    monitor: PowerMonitor, battery_chip: Ina219Emulator
) -> None:
    monitor.read()
    assert battery_chip.writes[:2] == [bytes([0x05, 0x10, 0x00]), bytes([0x00, 0x3F, 0xFB])]


def test_emulated_bus_register_for_12v_with_cnvr_is_0x5dc2(clock: SimulatedClock) -> None:
    chip = Ina219Emulator(clock, bus_voltage=lambda: 12.0, current=lambda: 0.0, shunt_ohms=0.1)
    bus = FakeSMBus({0x40: chip})
    bus.write_i2c_block_data(0x40, 0x00, [0x3F, 0xFB])
    clock.advance(0.2)
    assert bus.read_i2c_block_data(0x40, 0x02, 2) == [0x5D, 0xC2]
    bus.read_i2c_block_data(0x40, 0x03, 2)  # reading power clears CNVR
    assert bus.read_i2c_block_data(0x40, 0x02, 2) == [0x5D, 0xC0]


def test_read_reports_battery_and_solar(monitor: PowerMonitor) -> None:
    assert monitor.quantities == ("battery_voltage", "battery_current", "solar_power")
    readings = monitor.read()
    assert [r.quantity for r in readings] == list(monitor.quantities)
    values = by_quantity(readings)
    assert values["battery_voltage"] == Reading(
        "battery_voltage", pytest.approx(12.8), SensorStatus.OK
    )
    assert values["battery_current"] == Reading(
        "battery_current", pytest.approx(1.5), SensorStatus.OK
    )
    # current 4000 x 500 µA = 2 A; power 4000 x 4500 / 5000 = 3600 x 10 mW = 36 W
    assert values["solar_power"] == Reading("solar_power", pytest.approx(36.0), SensorStatus.OK)


def test_discharge_keeps_its_negative_sign(monitor: PowerMonitor, truth: dict[str, float]) -> None:
    truth["battery_a"] = -0.35
    assert by_quantity(monitor.read())["battery_current"].value == pytest.approx(-0.35)


@settings(max_examples=40, deadline=None)
@given(
    amps=st.floats(min_value=-3.2, max_value=3.2),
    volts=st.floats(min_value=0.0, max_value=32.0),
)
def test_any_current_and_voltage_read_back_within_the_datasheet_resolution(
    amps: float, volts: float
) -> None:
    clock = SimulatedClock(0.0)
    chip = Ina219Emulator(clock, bus_voltage=lambda: volts, current=lambda: amps, shunt_ohms=0.1)
    measurement = Ina219(FakeSMBus({0x40: chip}), BATTERY, clock).measure()
    assert measurement.bus_voltage_v == pytest.approx(volts, abs=0.002 + 1e-9)
    assert measurement.current_a == pytest.approx(amps, abs=2e-4)  # shunt rounding + trunc


def test_reading_waits_for_the_conversion_and_is_bounded(
    monitor: PowerMonitor, clock: SimulatedClock
) -> None:
    monitor.read()
    conversion = 2 * 68.10e-3
    assert 2 * conversion <= clock.monotonic() <= 2 * (2 * conversion + 0.002)


def test_slow_conversion_times_out_within_the_deadline(
    monitor: PowerMonitor,
    battery_chip: Ina219Emulator,
    solar_chip: Ina219Emulator,
    clock: SimulatedClock,
) -> None:
    battery_chip.inject(Fault.SLOW)
    solar_chip.inject(Fault.SLOW)
    readings = monitor.read()
    assert {r.status for r in readings} == {SensorStatus.TIMEOUT}
    deadline = 2 * (2 * 68.10e-3) + 0.002
    assert clock.monotonic() <= 2 * (deadline + 2 * 68.10e-3 / 8)


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault.NACK, SensorStatus.UNREACHABLE),
        (Fault.GARBAGE, SensorStatus.GARBAGE),
        (Fault.STALE, SensorStatus.STALE),
        (Fault.BROWNOUT, SensorStatus.POWER_ON_VALUE),
    ],
)
def test_battery_chip_faults_give_a_status_and_no_value(
    monitor: PowerMonitor, battery_chip: Ina219Emulator, fault: Fault, status: SensorStatus
) -> None:
    if fault is Fault.STALE:
        monitor.read()  # a good conversion first, then the engine freezes on it
    battery_chip.inject(fault)
    readings = by_quantity(monitor.read())
    assert readings["battery_voltage"] == Reading("battery_voltage", None, status)
    assert readings["battery_current"] == Reading("battery_current", None, status)
    assert readings["solar_power"].status is SensorStatus.OK


def test_shunt_overrange_fails_current_but_keeps_voltage(
    monitor: PowerMonitor, battery_chip: Ina219Emulator
) -> None:
    battery_chip.inject(Fault.SATURATION)
    readings = by_quantity(monitor.read())
    assert readings["battery_voltage"] == Reading(
        "battery_voltage", pytest.approx(12.8), SensorStatus.OK
    )
    assert readings["battery_current"] == Reading(
        "battery_current", None, SensorStatus.OUT_OF_RANGE
    )


def test_physical_overcurrent_sets_ovf_and_reads_out_of_range(
    monitor: PowerMonitor, truth: dict[str, float]
) -> None:
    truth["solar_a"] = 9.0  # 90 mV across 10 mohm, beyond the ±80 mV range
    assert by_quantity(monitor.read())["solar_power"] == Reading(
        "solar_power", None, SensorStatus.OUT_OF_RANGE
    )


def test_brownout_between_reads_is_repaired_by_rewriting_the_calibration(
    monitor: PowerMonitor, battery_chip: Ina219Emulator
) -> None:
    battery_chip.power_on_reset()
    assert battery_chip.calibration == 0
    readings = by_quantity(monitor.read())
    assert readings["battery_current"] == Reading(
        "battery_current", pytest.approx(1.5), SensorStatus.OK
    )


def test_vanished_chip_comes_back(monitor: PowerMonitor, battery_chip: Ina219Emulator) -> None:
    battery_chip.inject(Fault.NACK)
    assert by_quantity(monitor.read())["battery_voltage"].status is SensorStatus.UNREACHABLE
    battery_chip.clear_faults()
    assert by_quantity(monitor.read())["battery_voltage"].status is SensorStatus.OK


def test_eio_is_unreachable_too(clock: SimulatedClock) -> None:
    class Broken:
        def write(self, data: bytes) -> None:
            raise OSError(errno.EIO, "Input/output error")

        def read(self, length: int) -> bytes:
            raise OSError(errno.EIO, "Input/output error")

    monitor = PowerMonitor(FakeSMBus({0x40: Broken()}), battery=BATTERY, solar=None, clock=clock)
    assert {r.status for r in monitor.read()} == {SensorStatus.UNREACHABLE}


def test_registers_that_disagree_are_garbage(clock: SimulatedClock) -> None:
    class Clashing(Ina219Emulator):
        """A second device at the same address corrupts the current register."""

        def read(self, length: int) -> bytes:
            data = super().read(length)
            if self.pointer == REG_CURRENT:
                return (int.from_bytes(data, "big") ^ 0x0100).to_bytes(2, "big")
            return data

    chip = Clashing(clock, bus_voltage=lambda: 12.8, current=lambda: 1.5, shunt_ohms=0.1)
    monitor = PowerMonitor(FakeSMBus({0x40: chip}), battery=BATTERY, solar=None, clock=clock)
    assert {r.status for r in monitor.read()} == {SensorStatus.GARBAGE}


def test_shunt_drift_passes_as_a_plausible_value(
    monitor: PowerMonitor, battery_chip: Ina219Emulator, clock: SimulatedClock
) -> None:
    battery_chip.inject(Fault.DRIFT, amount=0.36)  # A/h: +0.1 A in 1000 s
    clock.advance(1000.0)
    reading = by_quantity(monitor.read())["battery_current"]
    assert reading.status is SensorStatus.OK  # a drifting offset is invisible on the bus
    assert reading.value == pytest.approx(1.6, abs=2e-4)


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.reset()
    factory.close()


def test_switched_monitors_are_asleep_off_the_bus_and_warming_up_after_on(
    bus: FakeSMBus,
    battery_chip: Ina219Emulator,
    clock: SimulatedClock,
    factory: MockFactory,
) -> None:
    power = SensorPower(24, 0.5, clock, pin_factory=factory)  # the switch's own settling time
    with power, PowerMonitor(bus, battery=BATTERY, solar=SOLAR, clock=clock, power=power) as pm:
        assert {r.status for r in pm.read()} == {SensorStatus.ASLEEP}
        assert battery_chip.writes == []
        power.on()
        readings = by_quantity(pm.read())
        assert {r.status for r in readings.values()} == {SensorStatus.WARMING_UP}
        assert readings["battery_voltage"].value == pytest.approx(12.8)
        clock.advance(0.5)
        assert {r.status for r in pm.read()} == {SensorStatus.OK}


def test_the_monitors_stay_on_the_permanent_rail_by_default(monitor: PowerMonitor) -> None:
    assert {r.status for r in monitor.read()} == {SensorStatus.OK}


def test_without_a_solar_chip_solar_power_is_not_reported(
    bus: FakeSMBus, clock: SimulatedClock
) -> None:
    monitor = PowerMonitor(bus, battery=BATTERY, solar=None, clock=clock)
    assert monitor.quantities == ("battery_voltage", "battery_current")
    assert [r.quantity for r in monitor.read()] == ["battery_voltage", "battery_current"]


def test_close_is_safe_twice(monitor: PowerMonitor) -> None:
    with monitor:
        monitor.read()
    monitor.close()
    with pytest.raises(ValueError, match="closed"):
        monitor.read()
