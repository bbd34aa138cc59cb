"""The EZO-pH driver against its emulator: bytes, timing, calibration, every fault."""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import given
from hypothesis import strategies as st

from nemopi.sensor_status import SensorStatus
from sensors.clock import SimulatedClock
from sensors.emulators.ezo_ph import EzoPhEmulator, nernst_mv
from sensors.emulators.fake_smbus import FakeSMBus
from sensors.emulators.faults import Fault
from sensors.errors import GarbageResponse, SensorError
from sensors.ezo_ph import (
    ADDRESS,
    READ_S,
    Code,
    CommandRejected,
    EzoPh,
    decode_response,
    encode_command,
)
from sensors.power_switch import AlwaysPowered, SensorPower
from sensors.reading import Reading


@dataclass
class Water:
    ph: float = 8.05
    celsius: float = 25.0


@dataclass
class Tap:
    """Sits between the bus and the chip and records every transfer with its time."""

    chip: EzoPhEmulator
    clock: SimulatedClock
    log: list[tuple[float, str, bytes | int]] = field(default_factory=list)
    after_write: Callable[[], None] | None = None

    def write(self, data: bytes) -> None:
        self.log.append((self.clock.monotonic(), "write", bytes(data)))
        self.chip.write(data)
        if self.after_write:
            self.after_write()

    def read(self, length: int) -> bytes:
        self.log.append((self.clock.monotonic(), "read", length))
        return self.chip.read(length)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(start_utc=1_700_000_000.0)


@pytest.fixture
def water() -> Water:
    return Water()


@pytest.fixture
def chip(clock: SimulatedClock, water: Water) -> EzoPhEmulator:
    return EzoPhEmulator(clock, lambda: water.ph, lambda: water.celsius)


@pytest.fixture
def tap(chip: EzoPhEmulator, clock: SimulatedClock) -> Tap:
    return Tap(chip, clock)


@pytest.fixture
def probe(tap: Tap, clock: SimulatedClock) -> EzoPh:
    return EzoPh(FakeSMBus({ADDRESS: tap}), clock, power=long_powered(clock))


def long_powered(clock: SimulatedClock) -> AlwaysPowered:
    return AlwaysPowered(clock, EzoPh.warmup_s, since=-math.inf)


def calibrate_mid(probe: EzoPh, water: Water) -> None:
    water.ph = 7.00
    probe.calibrate_mid(7.00)


def only(readings: list[Reading]) -> Reading:
    (reading,) = readings
    return reading


def value_of(readings: list[Reading]) -> float:
    value = only(readings).value
    assert value is not None
    return value


# -- the protocol, byte for byte ---------------------------------------------------------------


def test_read_writes_the_letter_R_and_reads_31_bytes_after_900_ms(probe: EzoPh, tap: Tap) -> None:
    probe.read()
    writes = [(t, data) for t, kind, data in tap.log if kind == "write"]
    reads = [(t, length) for t, kind, length in tap.log if kind == "read"]
    assert [data for _, data in writes] == [b"Cal,?", b"R"]
    assert {length for _, length in reads} == {31}
    r_written_at = writes[1][0]
    assert [t - r_written_at for t, _ in reads if t > r_written_at] == [pytest.approx(0.9)]


def test_commands_are_plain_ascii_without_register_byte() -> None:
    assert encode_command("Cal,mid,7.00") == b"Cal,mid,7.00"
    assert encode_command("R") == b"\x52"


def test_a_successful_answer_is_code_1_then_ascii_up_to_the_nul() -> None:
    raw = b"\x01" + b"8.052" + b"\x00" + b"\x00" * 24
    assert decode_response(raw) == (Code.SUCCESS, "8.052")


def test_payload_bytes_with_bit_7_set_are_read_as_ascii() -> None:
    raw = b"\x01" + bytes(byte | 0x80 for byte in b"?Cal,2") + b"\x00"
    assert decode_response(raw) == (Code.SUCCESS, "?Cal,2")


def test_code_254_means_still_processing() -> None:
    assert decode_response(b"\xfe" + b"\x00" * 30)[0] is Code.PENDING


@pytest.mark.parametrize("code", [2, 255])
def test_codes_2_and_255_are_device_errors(code: int) -> None:
    with pytest.raises(CommandRejected) as raised:
        decode_response(bytes([code]) + b"\x00" * 30)
    assert raised.value.status is SensorStatus.DEVICE_ERROR


@pytest.mark.parametrize("raw", [b"", b"\x07" + b"8.0\x00", b"\x01" + b"8.\x15\x1b\x00"])
def test_unknown_codes_and_control_bytes_are_garbage(raw: bytes) -> None:
    with pytest.raises(GarbageResponse):
        decode_response(raw)


@given(st.binary(max_size=40))
def test_decoding_any_bytes_gives_a_text_or_a_sensor_error(raw: bytes) -> None:
    try:
        code, text = decode_response(raw)
    except SensorError:
        return
    assert code in (Code.SUCCESS, Code.PENDING)
    assert text.isascii()


# -- readings, compensation, calibration ---------------------------------------------------------


def test_an_uncalibrated_probe_reports_its_value_as_not_calibrated(probe: EzoPh) -> None:
    reading = only(probe.read())
    assert reading == Reading("ph", 8.05, SensorStatus.NOT_CALIBRATED)


def test_calibrating_against_three_buffers_corrects_offset_and_slope(
    clock: SimulatedClock, water: Water
) -> None:
    chip = EzoPhEmulator(clock, lambda: water.ph, probe_offset_mv=15.0, probe_slope=0.93)
    probe = EzoPh(FakeSMBus({ADDRESS: chip}), clock, power=long_powered(clock))
    water.ph = 8.05
    assert abs(value_of(probe.read()) - 8.05) > 0.2

    calibrate_mid(probe, water)
    water.ph = 4.00
    probe.calibrate_low(4.00)
    water.ph = 10.00
    probe.calibrate_high(10.00)
    water.ph = 8.05

    reading = only(probe.read())
    assert reading.status is SensorStatus.OK
    assert reading.value == pytest.approx(8.05, abs=0.002)
    calibration = probe.calibration()
    assert calibration.points == 3
    assert calibration.slope.acid_percent == pytest.approx(93.0, abs=0.1)
    assert calibration.slope.zero_offset_mv == pytest.approx(15.0, abs=0.01)


def test_a_midpoint_calibration_clears_the_low_and_high_points(probe: EzoPh, water: Water) -> None:
    calibrate_mid(probe, water)
    water.ph = 4.00
    probe.calibrate_low()
    assert probe.calibration_points() == 2
    calibrate_mid(probe, water)
    assert probe.calibration_points() == 1
    probe.clear_calibration()
    assert probe.calibration_points() == 0
    assert probe.slope().acid_percent == 100.0


def test_a_low_point_before_the_midpoint_is_rejected_by_the_circuit(probe: EzoPh) -> None:
    with pytest.raises(CommandRejected) as raised:
        probe.calibrate_low(4.00)
    assert raised.value.status is SensorStatus.DEVICE_ERROR


def test_read_sends_the_water_temperature_with_RT_and_it_corrects_the_reading(
    probe: EzoPh, tap: Tap, water: Water
) -> None:
    calibrate_mid(probe, water)
    water.ph, water.celsius = 8.05, 10.0
    uncompensated = only(probe.read()).value
    probe.set_compensation_temperature(10.0)
    compensated = only(probe.read()).value
    assert uncompensated == pytest.approx(7.0 + 1.05 * nernst_mv(10.0) / nernst_mv(25.0), abs=1e-3)
    assert compensated == pytest.approx(8.05, abs=1e-3)
    assert tap.log[-2][1:] == ("write", b"RT,10.00")


def test_firmware_without_RT_gets_T_then_R_on_every_read(
    clock: SimulatedClock, water: Water
) -> None:
    chip = EzoPhEmulator(clock, lambda: water.ph, lambda: water.celsius, rt_supported=False)
    probe = EzoPh(FakeSMBus({ADDRESS: chip}), clock, power=long_powered(clock))
    water.celsius = 28.5
    probe.set_compensation_temperature(28.5)
    assert only(probe.read()).value == pytest.approx(8.05, abs=1e-3)
    assert only(probe.read()).value == pytest.approx(8.05, abs=1e-3)
    assert chip.received == ["Cal,?", "RT,28.50", "T,28.50", "R", "T,28.50", "R"]


def test_the_stored_compensation_temperature_is_written_and_read_back(probe: EzoPh) -> None:
    probe.store_compensation_temperature(19.5)
    assert probe.stored_compensation_temperature() == 19.5


def test_a_compensation_temperature_that_is_not_a_number_is_refused(probe: EzoPh) -> None:
    with pytest.raises(ValueError):
        probe.set_compensation_temperature(math.nan)


def test_device_info_and_status_are_parsed(probe: EzoPh) -> None:
    assert (probe.info().device_type, probe.info().firmware) == ("pH", "2.16")
    assert (probe.status().restart_reason, probe.status().supply_volts) == ("P", 3.3)


def test_sleep_is_written_without_reading_and_the_next_read_wakes_the_circuit(
    probe: EzoPh, tap: Tap, chip: EzoPhEmulator
) -> None:
    probe.sleep()
    assert tap.log[-1][1:] == ("write", b"Sleep")
    assert chip.asleep
    assert only(probe.read()).value == 8.05


# -- timing and warm-up ------------------------------------------------------------------------


def test_a_reading_right_after_power_on_is_warming_up_then_settles(
    clock: SimulatedClock, chip: EzoPhEmulator
) -> None:
    probe = EzoPh(FakeSMBus({ADDRESS: chip}), clock)
    assert only(probe.read()) == Reading("ph", 8.05, SensorStatus.WARMING_UP)
    assert only(probe.read()).status is SensorStatus.NOT_CALIBRATED


def test_a_switched_off_circuit_is_asleep_without_bus_traffic_then_warms_up(
    clock: SimulatedClock, chip: EzoPhEmulator
) -> None:
    power = SensorPower(17, EzoPh.warmup_s, clock, pin_factory=MockFactory())
    probe = EzoPh(FakeSMBus({ADDRESS: chip}), clock, power=power)
    assert only(probe.read()) == Reading("ph", None, SensorStatus.ASLEEP)
    assert chip.received == []
    power.on()
    assert only(probe.read()) == Reading("ph", 8.05, SensorStatus.WARMING_UP)
    clock.advance(EzoPh.warmup_s)
    assert only(probe.read()).status is SensorStatus.NOT_CALIBRATED
    power.close()


def test_a_slow_circuit_gives_timeout_within_the_bound(
    probe: EzoPh, chip: EzoPhEmulator, clock: SimulatedClock
) -> None:
    probe.read()
    chip.inject(Fault.SLOW)
    started = clock.monotonic()
    assert only(probe.read()) == Reading("ph", None, SensorStatus.TIMEOUT)
    assert clock.monotonic() - started <= 0.9 + 0.6 + 1e-9


# -- faults ------------------------------------------------------------------------------------


def test_a_vanished_circuit_is_unreachable_and_comes_back(
    probe: EzoPh, chip: EzoPhEmulator
) -> None:
    chip.inject(Fault.NACK)
    assert only(probe.read()) == Reading("ph", None, SensorStatus.UNREACHABLE)
    chip.clear_faults()
    assert only(probe.read()).value == 8.05


def test_garbage_bytes_give_garbage(probe: EzoPh, chip: EzoPhEmulator) -> None:
    probe.read()
    chip.inject(Fault.GARBAGE)
    assert only(probe.read()) == Reading("ph", None, SensorStatus.GARBAGE)


def test_payload_bytes_with_bit_7_set_still_give_the_right_value(
    probe: EzoPh, chip: EzoPhEmulator
) -> None:
    chip.inject(Fault.MSB_SET)
    assert only(probe.read()).value == 8.05


def test_a_reading_unchanged_for_longer_than_stuck_after_s_is_stuck(
    probe: EzoPh, chip: EzoPhEmulator, water: Water, clock: SimulatedClock
) -> None:
    calibrate_mid(probe, water)
    chip.inject(Fault.STUCK)
    water.ph = 8.00
    first = only(probe.read())
    first_seen = clock.monotonic()
    water.ph = 8.10  # the water moves; the stuck circuit does not
    clock.advance(probe.stuck_after_s - 2 * READ_S)
    within = only(probe.read())
    assert clock.monotonic() - first_seen < probe.stuck_after_s
    water.ph = 8.20
    clock.advance(2 * READ_S)
    beyond = only(probe.read())
    assert clock.monotonic() - first_seen > probe.stuck_after_s
    assert (first.value, within.value, beyond.value) == (8.0, 8.0, 8.0)
    assert [first.status, within.status] == [SensorStatus.OK, SensorStatus.OK]
    assert beyond.status is SensorStatus.STUCK


def test_identical_answers_sampled_fast_are_not_stuck_until_the_time_has_passed(
    probe: EzoPh, water: Water, clock: SimulatedClock
) -> None:
    calibrate_mid(probe, water)
    water.ph = 8.05  # a calm reef: the truth stays within one 0.001 step
    statuses = [only(probe.read()).status]
    first_seen = clock.monotonic()
    while clock.monotonic() + 60 + READ_S <= first_seen + probe.stuck_after_s:
        clock.advance(60)
        statuses.append(only(probe.read()).status)
    assert len(statuses) > 100  # far more identical answers than any count-based rule allows
    assert set(statuses) == {SensorStatus.OK}
    clock.advance(60)
    assert only(probe.read()).status is SensorStatus.STUCK


def test_a_changed_answer_restarts_the_stuck_clock(
    probe: EzoPh, water: Water, clock: SimulatedClock
) -> None:
    calibrate_mid(probe, water)
    water.ph = 8.05
    probe.read()
    clock.advance(probe.stuck_after_s * 0.75)
    water.ph = 8.06
    probe.read()
    clock.advance(probe.stuck_after_s * 0.75)
    assert only(probe.read()).status is SensorStatus.OK


@pytest.mark.parametrize("stuck_after_s", [0.0, -1.0, math.nan])
def test_a_stuck_limit_that_is_not_positive_is_refused(
    tap: Tap, clock: SimulatedClock, stuck_after_s: float
) -> None:
    with pytest.raises(ValueError, match="stuck_after_s"):
        EzoPh(FakeSMBus({ADDRESS: tap}), clock, stuck_after_s=stuck_after_s)


def noisy_readings(clock: SimulatedClock, noise_mv: float, seed: int, count: int) -> list[float]:
    chip = EzoPhEmulator(clock, lambda: 8.05, noise_mv=noise_mv, noise_seed=seed)
    probe = EzoPh(FakeSMBus({ADDRESS: chip}), clock, power=long_powered(clock))
    return [value_of(probe.read()) for _ in range(count)]


def test_electrode_noise_flickers_the_last_digit_around_the_truth(clock: SimulatedClock) -> None:
    noise_mv = 0.1
    values = noisy_readings(clock, noise_mv, seed=7, count=400)
    rms_ph = noise_mv / nernst_mv(25.0)  # 0.0017 pH
    assert len(set(values)) >= 5
    assert statistics.fmean(values) == pytest.approx(8.05, abs=rms_ph / 5)
    # the circuit rounds to 0.001 pH, which adds 0.001/sqrt(12) in quadrature
    rounded_rms = math.hypot(rms_ph, 0.001 / math.sqrt(12))
    assert statistics.pstdev(values) == pytest.approx(rounded_rms, rel=0.15)


def test_electrode_noise_repeats_with_its_seed(clock: SimulatedClock) -> None:
    first = noisy_readings(clock, 0.1, seed=3, count=20)
    assert noisy_readings(clock, 0.1, seed=3, count=20) == first
    assert noisy_readings(clock, 0.1, seed=4, count=20) != first


def test_negative_electrode_noise_is_refused(clock: SimulatedClock) -> None:
    with pytest.raises(ValueError, match="noise_mv"):
        EzoPhEmulator(clock, noise_mv=-0.1)


def test_electrode_drift_moves_the_reading_by_the_nernst_slope(
    probe: EzoPh, chip: EzoPhEmulator, clock: SimulatedClock
) -> None:
    before = value_of(probe.read())
    chip.inject(Fault.DRIFT, amount=nernst_mv(25.0) / 10)  # 0.1 pH per hour
    clock.advance(3600)
    assert value_of(probe.read()) == pytest.approx(before - 0.1, abs=0.002)


def test_a_value_outside_0_to_14_is_out_of_range(probe: EzoPh, water: Water) -> None:
    water.ph = 14.6
    assert only(probe.read()) == Reading("ph", None, SensorStatus.OUT_OF_RANGE)


def test_a_circuit_reset_between_command_and_answer_is_a_device_error(
    probe: EzoPh, tap: Tap, chip: EzoPhEmulator
) -> None:
    probe.read()
    tap.after_write = chip.power_cycle
    assert only(probe.read()) == Reading("ph", None, SensorStatus.DEVICE_ERROR)


def test_faults_are_logged_once_per_change(
    probe: EzoPh, chip: EzoPhEmulator, water: Water, caplog: pytest.LogCaptureFixture
) -> None:
    calibrate_mid(probe, water)
    probe.read()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sensors.ezo_ph"):
        chip.inject(Fault.NACK)
        for _ in range(3):
            probe.read()
        chip.clear_faults()
        probe.read()
        probe.read()
    assert [(r.levelname, r.getMessage().split(": ")[1]) for r in caplog.records] == [
        ("WARNING", "UNREACHABLE ezo_ph at 0x63"),
        ("INFO", "recovered (OK)"),
    ]


def test_a_closed_bus_is_a_programming_error_not_a_device_fault(
    chip: EzoPhEmulator, clock: SimulatedClock
) -> None:
    bus = FakeSMBus({ADDRESS: chip})
    probe = EzoPh(bus, clock, power=long_powered(clock))
    bus.close()
    with pytest.raises(OSError) as raised:
        probe.read()
    assert not isinstance(raised.value, SensorError)


def test_the_emulator_refuses_faults_the_part_cannot_show(chip: EzoPhEmulator) -> None:
    with pytest.raises(ValueError, match="BAD_CHECKSUM"):
        chip.inject(Fault.BAD_CHECKSUM)


# -- lifecycle ---------------------------------------------------------------------------------


def test_close_is_safe_twice_and_leaves_the_shared_bus_open(
    chip: EzoPhEmulator, clock: SimulatedClock
) -> None:
    bus = FakeSMBus({ADDRESS: chip})
    with EzoPh(bus, clock) as probe:
        probe.read()
    probe.close()
    assert not bus.closed
    with pytest.raises(RuntimeError):
        probe.read()
