"""The SCD4x driver against its emulator: bytes, data-ready, calibration, every fault."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from gpiozero.pins.mock import MockFactory

from nemopi.sensor_status import SensorStatus
from sensors.clock import SimulatedClock
from sensors.emulators.fake_smbus import FakeSMBus
from sensors.emulators.faults import Fault
from sensors.emulators.scd4x import Scd4xEmulator
from sensors.errors import SensorError
from sensors.power_switch import AlwaysPowered, SensorPower
from sensors.reading import Reading
from sensors.scd4x import (
    ADDRESS,
    Scd4x,
    decode_measurement,
    encode_command,
    is_data_ready,
)


@dataclass
class Air:
    co2: float = 480.0
    celsius: float = 27.0
    rh: float = 95.0
    hpa: float = 1013.0


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(start_utc=1_700_000_000.0)


@pytest.fixture
def air() -> Air:
    return Air()


@pytest.fixture
def chip(clock: SimulatedClock, air: Air) -> Scd4xEmulator:
    emulator = Scd4xEmulator(
        clock, lambda: air.co2, lambda: air.celsius, lambda: air.rh, pressure_hpa=lambda: air.hpa
    )
    clock.advance(1.0)  # the part's boot time
    return emulator


@pytest.fixture
def bus(chip: Scd4xEmulator) -> FakeSMBus:
    return FakeSMBus({ADDRESS: chip})


def long_powered(clock: SimulatedClock) -> AlwaysPowered:
    return AlwaysPowered(clock, Scd4x.warmup_s, since=-math.inf)


@pytest.fixture
def sensor(bus: FakeSMBus, clock: SimulatedClock) -> Scd4x:
    return Scd4x(bus, clock, power=long_powered(clock))


def only(readings: list[Reading]) -> Reading:
    (reading,) = readings
    return reading


def commands(chip: Scd4xEmulator) -> list[str]:
    return [data.hex().upper() for data in chip.received]


# -- the protocol, byte for byte ---------------------------------------------------------------


def test_the_datasheet_frame_decodes_to_500_ppm_25_degrees_50_percent() -> None:
    measurement = decode_measurement(bytes.fromhex("01F4 33 6666 93 8000 A2"))
    assert measurement.co2_ppm == 500
    # The datasheet divides by 2^16 - 1: 175 * 0x6666 / 65535 is exactly 70.
    assert measurement.temperature_c == pytest.approx(25.0, abs=1e-9)
    assert measurement.humidity_rh == pytest.approx(50.000763, abs=1e-6)


def test_commands_are_16_bit_big_endian_and_arguments_carry_a_crc() -> None:
    assert encode_command(0xEC05) == b"\xec\x05"
    assert encode_command(0x362F, 480) == bytes.fromhex("362F 01E0 B4")  # datasheet FRC example


@pytest.mark.parametrize(
    ("word", "ready"), [(0x0000, False), (0x8000, False), (0x0800, False), (0x0001, True)]
)
def test_data_ready_looks_only_at_the_low_11_bits(word: int, ready: bool) -> None:
    assert is_data_ready(word) is ready


def test_first_read_starts_measuring_polls_data_ready_then_reads_the_frame(
    sensor: Scd4x, chip: Scd4xEmulator, clock: SimulatedClock, air: Air
) -> None:
    reading = only(sensor.read())
    assert reading == Reading("xco2_equilibrated", 480, SensorStatus.OK)
    sent = commands(chip)
    assert sent[0] == "21B1"
    assert set(sent[1:-1]) == {"E4B8"}
    assert sent[-1] == "EC05"
    assert clock.monotonic() >= 1.0 + 5.0  # the first frame comes one interval after start
    assert sensor.last_measurement is not None
    assert sensor.last_measurement.temperature_c == pytest.approx(air.celsius, abs=0.03)
    assert sensor.last_measurement.humidity_rh == pytest.approx(air.rh, abs=0.06)


def test_successive_reads_give_each_new_frame(sensor: Scd4x, air: Air) -> None:
    values = []
    for co2 in (410, 415, 2300):
        air.co2 = co2
        values.append(only(sensor.read()))
    assert values == [Reading("xco2_equilibrated", v, SensorStatus.OK) for v in (410, 415, 2300)]


def test_no_new_frame_within_the_bound_is_stale_without_a_value(
    bus: FakeSMBus, clock: SimulatedClock
) -> None:
    sensor = Scd4x(bus, clock, timeout_s=6.0, power=long_powered(clock))
    sensor.read()
    sensor.timeout_s = 1.0
    started = clock.monotonic()
    assert only(sensor.read()) == Reading("xco2_equilibrated", None, SensorStatus.STALE)
    assert clock.monotonic() - started <= 1.0 + 1e-9


def test_single_shot_mode_triggers_a_5_second_measurement_per_read(
    bus: FakeSMBus, chip: Scd4xEmulator, clock: SimulatedClock
) -> None:
    sensor = Scd4x(bus, clock, single_shot=True, power=long_powered(clock))
    started = clock.monotonic()
    assert only(sensor.read()).value == 480
    assert clock.monotonic() - started >= 5.0
    assert commands(chip) == ["219D", "EC05"]


# -- configuration and calibration ---------------------------------------------------------------


def test_ambient_pressure_is_sent_in_hpa_and_compensates_the_co2_reading(
    sensor: Scd4x, chip: Scd4xEmulator, air: Air
) -> None:
    air.hpa = 900.0
    assert only(sensor.read()).value == round(480 * 900 / 1013)
    sensor.set_ambient_pressure(900)
    assert commands(chip)[-1] == "E000038412"  # 900 hPa = 0x0384, its CRC 0x12
    assert only(sensor.read()).value == 480


def test_an_ambient_pressure_outside_the_parts_range_is_refused(sensor: Scd4x) -> None:
    with pytest.raises(ValueError):
        sensor.set_ambient_pressure(300)


def test_forced_recalibration_fails_before_3_minutes_of_measuring(
    sensor: Scd4x, chip: Scd4xEmulator
) -> None:
    sensor.read()
    with pytest.raises(SensorError) as raised:
        sensor.forced_recalibration(480)
    assert raised.value.status is SensorStatus.DEVICE_ERROR
    assert commands(chip)[-2:] == ["3F86", "362F01E0B4"]


def test_forced_recalibration_removes_the_parts_offset(clock: SimulatedClock, air: Air) -> None:
    chip = Scd4xEmulator(clock, lambda: air.co2, sensor_offset_ppm=50.0)
    clock.advance(1.0)
    sensor = Scd4x(FakeSMBus({ADDRESS: chip}), clock, power=long_powered(clock))
    assert only(sensor.read()).value == 530
    clock.advance(180.0)
    assert sensor.forced_recalibration(480) == -50  # answered as 0x7FCE, CRC 0x7B
    assert not sensor.measuring
    assert only(sensor.read()).value == 480


def test_automatic_self_calibration_is_switched_and_persisted(
    sensor: Scd4x, chip: Scd4xEmulator, clock: SimulatedClock
) -> None:
    sensor.set_automatic_self_calibration(True)
    assert commands(chip)[-1] == "24160001B0"  # datasheet example
    sensor.set_automatic_self_calibration(False)
    assert commands(chip)[-1] == "2416000081"
    sensor.persist_settings()
    chip.power_cycle()
    clock.advance(1.0)
    assert sensor.automatic_self_calibration() is False


def test_serial_number_stops_periodic_measurement_first(sensor: Scd4x, chip: Scd4xEmulator) -> None:
    sensor.read()
    assert sensor.serial_number() == 0x0123_4567_89AB
    assert commands(chip)[-2:] == ["3F86", "3682"]


def test_the_part_nacks_commands_not_allowed_while_measuring(
    chip: Scd4xEmulator, sensor: Scd4x
) -> None:
    sensor.start_periodic_measurement()
    with pytest.raises(OSError) as raised:
        chip.write(bytes.fromhex("3682"))
    assert raised.value.errno == 121


# -- warm-up and time bound --------------------------------------------------------------------


def test_readings_are_warming_up_during_boot_and_the_first_frames(
    clock: SimulatedClock, air: Air
) -> None:
    chip = Scd4xEmulator(clock, lambda: air.co2)
    sensor = Scd4x(FakeSMBus({ADDRESS: chip}), clock)
    assert only(sensor.read()) == Reading("xco2_equilibrated", None, SensorStatus.WARMING_UP)
    assert clock.monotonic() == 0.0  # booting: NACKed at once, no waiting
    clock.advance(1.0)
    assert only(sensor.read()) == Reading("xco2_equilibrated", 480, SensorStatus.WARMING_UP)
    clock.advance(Scd4x.warmup_s)
    assert only(sensor.read()).status is SensorStatus.OK


def test_after_a_power_cycle_the_driver_starts_measuring_again(
    bus: FakeSMBus, chip: Scd4xEmulator, clock: SimulatedClock
) -> None:
    power = SensorPower(17, Scd4x.warmup_s, clock, initial_on=True, pin_factory=MockFactory())
    sensor = Scd4x(bus, clock, power=power)
    clock.advance(Scd4x.warmup_s)
    assert only(sensor.read()).status is SensorStatus.OK
    power.off()
    assert only(sensor.read()) == Reading("xco2_equilibrated", None, SensorStatus.ASLEEP)
    power.on()
    chip.power_cycle()
    clock.advance(Scd4x.warmup_s)
    assert only(sensor.read()).status is SensorStatus.OK
    assert commands(chip).count("21B1") == 2
    power.close()


def test_a_slow_part_gives_timeout_within_the_bound(
    sensor: Scd4x, chip: Scd4xEmulator, clock: SimulatedClock
) -> None:
    sensor.read()
    chip.inject(Fault.SLOW)
    started = clock.monotonic()
    assert only(sensor.read()) == Reading("xco2_equilibrated", None, SensorStatus.TIMEOUT)
    assert clock.monotonic() - started <= sensor.timeout_s + 1e-9


# -- faults ------------------------------------------------------------------------------------


def test_a_vanished_part_is_unreachable_at_once_and_comes_back(
    sensor: Scd4x, chip: Scd4xEmulator, clock: SimulatedClock
) -> None:
    sensor.read()
    chip.inject(Fault.NACK)
    started = clock.monotonic()
    assert only(sensor.read()) == Reading("xco2_equilibrated", None, SensorStatus.UNREACHABLE)
    assert clock.monotonic() == started
    chip.clear_faults()
    assert only(sensor.read()).status is SensorStatus.OK


def test_a_wrong_crc_gives_checksum(sensor: Scd4x, chip: Scd4xEmulator) -> None:
    sensor.read()
    chip.inject(Fault.BAD_CHECKSUM)
    assert only(sensor.read()) == Reading("xco2_equilibrated", None, SensorStatus.CHECKSUM)


def test_a_released_bus_reading_all_ff_gives_garbage(sensor: Scd4x, chip: Scd4xEmulator) -> None:
    sensor.read()
    chip.inject(Fault.GARBAGE)
    assert only(sensor.read()) == Reading("xco2_equilibrated", None, SensorStatus.GARBAGE)


def test_the_same_frame_again_is_stale(sensor: Scd4x, chip: Scd4xEmulator, air: Air) -> None:
    chip.inject(Fault.STUCK)
    assert only(sensor.read()).status is SensorStatus.OK
    air.co2 = 600
    assert only(sensor.read()) == Reading("xco2_equilibrated", 480, SensorStatus.STALE)


def test_drift_raises_the_reading_by_its_rate(
    sensor: Scd4x, chip: Scd4xEmulator, clock: SimulatedClock
) -> None:
    sensor.read()
    chip.inject(Fault.DRIFT, amount=20.0)
    clock.advance(3 * 3600)
    assert only(sensor.read()).value == pytest.approx(540, abs=1)


def test_a_co2_value_beyond_the_measuring_range_is_out_of_range(sensor: Scd4x, air: Air) -> None:
    air.co2 = 50_000
    assert only(sensor.read()) == Reading("xco2_equilibrated", None, SensorStatus.OUT_OF_RANGE)


# -- lifecycle ---------------------------------------------------------------------------------


def test_close_stops_measuring_is_safe_twice_and_leaves_the_bus_open(
    bus: FakeSMBus, chip: Scd4xEmulator, clock: SimulatedClock
) -> None:
    with Scd4x(bus, clock, power=long_powered(clock)) as sensor:
        sensor.read()
    sensor.close()
    assert commands(chip)[-1] == "3F86"
    assert chip.measuring_since is None
    assert not bus.closed


def test_close_survives_a_part_that_has_vanished(
    sensor: Scd4x, chip: Scd4xEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    sensor.read()
    chip.inject(Fault.NACK)
    sensor.close()
    assert sensor.closed
    assert "could not stop" in caplog.text
