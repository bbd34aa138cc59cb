"""DS18B20 over w1 sysfs: the byte format, the CRC, and every fault through the real driver."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nemopi.sensor_status import SensorStatus
from sensors.clock import SimulatedClock
from sensors.ds18b20 import DS18B20, dallas_crc8, find_devices, parse_w1_slave
from sensors.emulators.faults import Fault
from sensors.emulators.w1_sysfs import (
    POWER_ON_SCRATCHPAD,
    W1Emulator,
    kernel_text,
    scratchpad_for,
)
from sensors.errors import ChecksumError, GarbageResponse
from sensors.power_switch import AlwaysPowered

# Kernel Documentation/w1/slaves/w1_therm format; bytes and CRC from SENSORS.md section 2.2.
KERNEL_25C = "90 01 4b 46 7f ff 0c 10 33 : crc=33 YES\n90 01 4b 46 7f ff 0c 10 33 t=25000\n"


@pytest.mark.parametrize(
    ("hex_bytes", "crc"),
    [
        ("90014b467fff0c10", 0x33),  # 25.0 degC, SENSORS.md
        ("50054b467fff0c10", 0x1C),  # the 85 degC power-on scratchpad
        ("ffffffffffffffff", 0xC9),  # bus open
        ("0000000000000000", 0x00),
        ("021cb801000000", 0xA2),  # ROM code example of Maxim application note 27
    ],
)
def test_dallas_crc8_matches_hand_computed_vectors(hex_bytes: str, crc: int) -> None:
    assert dallas_crc8(bytes.fromhex(hex_bytes)) == crc


@given(st.binary(min_size=1, max_size=16))
def test_a_block_followed_by_its_crc_has_crc_zero(data: bytes) -> None:
    assert dallas_crc8(data + bytes([dallas_crc8(data)])) == 0


def test_kernel_example_decodes_to_25_degrees_at_12_bit() -> None:
    scratchpad = parse_w1_slave(KERNEL_25C)
    assert scratchpad.temperature_c == 25.0
    assert scratchpad.resolution_bits == 12
    assert scratchpad.raw == bytes.fromhex("90014b467fff0c1033")


def test_emulator_prints_the_kernel_example_byte_for_byte() -> None:
    assert kernel_text(scratchpad_for(25.0)) == KERNEL_25C


def test_negative_temperatures_follow_the_kernel_truncation() -> None:
    text = kernel_text(scratchpad_for(-0.0625))
    assert text.endswith(" t=-62\n")
    assert parse_w1_slave(text).temperature_c == -0.0625


@given(st.floats(min_value=-55.0, max_value=125.0))
def test_any_in_range_temperature_survives_the_w1_text(celsius: float) -> None:
    decoded = parse_w1_slave(kernel_text(scratchpad_for(celsius))).temperature_c
    assert decoded == round(celsius * 16) / 16


@pytest.mark.parametrize(
    "text",
    [
        # the kernel said YES but byte 8 is not the CRC of bytes 0-7
        "90 01 4b 46 7f ff 0c 10 34 : crc=34 YES\n90 01 4b 46 7f ff 0c 10 34 t=25000\n",
        # the bytes are fine but the kernel's CRC field disagrees with them
        "90 01 4b 46 7f ff 0c 10 33 : crc=32 YES\n90 01 4b 46 7f ff 0c 10 33 t=25000\n",
        # one bit flipped on the wire: the kernel computes 70, reads 33 and says NO
        "91 01 4b 46 7f ff 0c 10 33 : crc=70 NO\n91 01 4b 46 7f ff 0c 10 33 t=25062\n",
    ],
)
def test_crc_failures_raise_checksum_error(text: str) -> None:
    with pytest.raises(ChecksumError):
        parse_w1_slave(text)


@pytest.mark.parametrize(
    "text",
    [
        kernel_text(bytes(9)),
        kernel_text(b"\xff" * 9),
        "",
        "90 01 4b 46 7f ff 0c 10 33 : crc=33 YES\n",
        KERNEL_25C.replace("t=25000", "t=26000"),
        KERNEL_25C.replace("90 01 4b 46 7f ff 0c 10 33 t", "90 01 4b 46 7f ff 0c 10 34 t"),
        "hello\nworld\n",
    ],
    ids=["all zero", "all ff", "empty", "one line", "t disagrees", "lines differ", "text"],
)
def test_unusable_text_raises_garbage(text: str) -> None:
    with pytest.raises(GarbageResponse):
        parse_w1_slave(text)


class Water:
    """The true temperature the emulated sensor sits in."""

    def __init__(self) -> None:
        self.celsius = 28.4

    def __call__(self) -> float:
        return self.celsius


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(1_790_000_000.0)


@pytest.fixture
def water() -> Water:
    return Water()


@pytest.fixture
def emulator(tmp_path: Path, water: Water, clock: SimulatedClock) -> Iterator[W1Emulator]:
    with W1Emulator(tmp_path / "devices", water, clock, slow_s=0.4, poll_s=0.002) as emulator:
        yield emulator


@pytest.fixture
def sensor(emulator: W1Emulator, clock: SimulatedClock) -> Iterator[DS18B20]:
    with DS18B20(emulator.device, clock, timeout_s=0.1, stuck_after_s=3600.0) as sensor:
        clock.advance(DS18B20.warmup_s)
        yield sensor


def only(sensor: DS18B20) -> tuple[float | None, SensorStatus]:
    (reading,) = sensor.read()
    assert reading.quantity == "water_temperature"
    return reading.value, reading.status


def test_reads_the_true_temperature_at_sixteenth_degree_resolution(
    sensor: DS18B20, water: Water
) -> None:
    assert only(sensor) == (28.375, SensorStatus.OK)
    water.celsius = 29.1
    assert only(sensor) == (29.125, SensorStatus.OK)


def test_each_read_is_a_fresh_conversion_on_the_clock(
    sensor: DS18B20, emulator: W1Emulator, clock: SimulatedClock
) -> None:
    before = clock.monotonic()
    sensor.read()
    sensor.read()
    assert emulator.conversions == 2
    assert clock.monotonic() - before == pytest.approx(2 * 0.75)


def test_find_devices_lists_the_emulated_sensor(emulator: W1Emulator) -> None:
    assert find_devices(emulator.device.parent) == [emulator.device]


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault.BROWNOUT, SensorStatus.POWER_ON_VALUE),
        (Fault.BAD_CHECKSUM, SensorStatus.CHECKSUM),
        (Fault.BUS_OPEN, SensorStatus.GARBAGE),
        (Fault.NOT_READY, SensorStatus.GARBAGE),
        (Fault.GARBAGE, SensorStatus.GARBAGE),
        (Fault.NACK, SensorStatus.UNREACHABLE),
    ],
)
def test_injected_fault_gives_its_status_without_a_value_then_recovers(
    sensor: DS18B20, emulator: W1Emulator, fault: Fault, status: SensorStatus
) -> None:
    emulator.inject(fault)
    assert only(sensor) == (None, status)
    emulator.clear_faults()
    assert only(sensor) == (28.375, SensorStatus.OK)


def test_power_on_scratchpad_is_the_documented_bytes() -> None:
    assert kernel_text(POWER_ON_SCRATCHPAD).splitlines() == [
        "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES",
        "50 05 4b 46 7f ff 0c 10 1c t=85000",
    ]


def test_a_blocked_read_times_out_within_the_bound_and_does_not_stack(
    sensor: DS18B20, emulator: W1Emulator
) -> None:
    emulator.inject(Fault.SLOW)
    started = time.monotonic()
    assert only(sensor) == (None, SensorStatus.TIMEOUT)
    assert only(sensor) == (None, SensorStatus.TIMEOUT)  # the first read is still blocked
    assert time.monotonic() - started < 0.3
    emulator.clear_faults()
    deadline = time.monotonic() + 2.0
    while only(sensor)[1] is not SensorStatus.OK:
        assert time.monotonic() < deadline


def test_an_unchanging_scratchpad_becomes_stuck_after_the_limit(
    sensor: DS18B20, emulator: W1Emulator, clock: SimulatedClock, water: Water
) -> None:
    emulator.inject(Fault.STUCK)
    water.celsius = 30.0
    assert only(sensor) == (28.375, SensorStatus.OK)
    clock.advance(3600.0)
    assert only(sensor) == (28.375, SensorStatus.STUCK)
    emulator.clear_faults()
    assert only(sensor) == (30.0, SensorStatus.OK)


def test_drift_passes_through_as_a_plausible_value(
    sensor: DS18B20, emulator: W1Emulator, clock: SimulatedClock
) -> None:
    emulator.inject(Fault.DRIFT, amount=0.5 / 24)  # 0.5 degC a day
    clock.advance(2 * 86400.0)
    value, status = only(sensor)
    assert status is SensorStatus.OK
    assert value == pytest.approx(29.375, abs=1 / 16)


def test_reports_warming_up_until_the_w1_search_has_run(
    emulator: W1Emulator, clock: SimulatedClock
) -> None:
    with DS18B20(emulator.device, clock, timeout_s=0.1) as sensor:
        assert only(sensor) == (None, SensorStatus.WARMING_UP)
        clock.advance(DS18B20.warmup_s)
        assert only(sensor)[1] is SensorStatus.OK


def test_a_power_switch_shorter_than_the_warm_up_is_refused(
    emulator: W1Emulator, clock: SimulatedClock
) -> None:
    with pytest.raises(ValueError, match="warm-up"):
        DS18B20(emulator.device, clock, power=AlwaysPowered(clock, 1.0))


def test_faults_are_logged_once_per_change(
    sensor: DS18B20, emulator: W1Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sensors.ds18b20")
    emulator.inject(Fault.BAD_CHECKSUM)
    for _ in range(3):
        sensor.read()
    emulator.clear_faults()
    sensor.read()
    sensor.read()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "CHECKSUM" in messages[0]
    assert "recovered" in messages[1]


def test_close_is_safe_twice_and_read_after_close_is_a_programming_error(
    sensor: DS18B20,
) -> None:
    sensor.close()
    sensor.close()
    with pytest.raises(RuntimeError):
        sensor.read()
