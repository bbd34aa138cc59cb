"""Paddle wheel: the calibration table, and the real driver counting an emulated wheel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import given
from hypothesis import strategies as st

from nemopi.sensor_status import SensorStatus
from sensors.clock import SimulatedClock
from sensors.emulators.faults import Fault
from sensors.emulators.paddle_wheel import PaddleWheelEmulator
from sensors.paddle_wheel import CalibrationTable, PaddleWheel
from sensors.power_switch import SensorPower

TABLE = CalibrationTable.from_pairs([(0, 0), (5, 0.25), (20, 1.0), (40, 1.8)])
PIN = 17


@pytest.mark.parametrize(
    ("hz", "speed"),
    [(0, 0.0), (2.5, 0.125), (5, 0.25), (12.5, 0.625), (20, 1.0), (30, 1.4), (40, 1.8)],
)
def test_table_interpolates_linearly_between_breakpoints(hz: float, speed: float) -> None:
    assert TABLE.speed(hz) == pytest.approx(speed)


def test_table_extends_its_last_segment_beyond_the_last_point() -> None:
    assert TABLE.speed(50) == pytest.approx(2.2)


@given(st.floats(min_value=0.0, max_value=3.0))
def test_frequency_is_the_inverse_of_speed(speed: float) -> None:
    assert TABLE.speed(TABLE.frequency(speed)) == pytest.approx(speed, abs=1e-9)


@pytest.mark.parametrize(
    "pairs",
    [[(0, 0)], [(1, 0), (5, 1)], [(0, 0), (5, 1), (5, 2)], [(0, 0), (5, 1), (8, 0.5)]],
    ids=["one point", "not from zero", "repeated frequency", "falling speed"],
)
def test_malformed_tables_are_refused(pairs: list[tuple[float, float]]) -> None:
    with pytest.raises(ValueError):
        CalibrationTable.from_pairs(pairs)


class Current:
    def __init__(self) -> None:
        self.speed = 0.5

    def __call__(self) -> float:
        return self.speed


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.reset()
    factory.close()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(0.0)


@pytest.fixture
def current() -> Current:
    return Current()


@pytest.fixture
def wheel(factory: MockFactory, clock: SimulatedClock) -> Iterator[PaddleWheel]:
    with PaddleWheel(PIN, TABLE, clock, window_s=10.0, pin_factory=factory) as wheel:
        yield wheel


@pytest.fixture
def water(
    wheel: PaddleWheel, factory: MockFactory, clock: SimulatedClock, current: Current
) -> Iterator[PaddleWheelEmulator]:
    with PaddleWheelEmulator(factory.pin(PIN), TABLE, current, clock) as water:
        water.advance(wheel.window_s + 1)
        yield water


def only(wheel: PaddleWheel) -> tuple[float | None, SensorStatus]:
    (reading,) = wheel.read()
    assert reading.quantity == "current_speed"
    return reading.value, reading.status


def test_speed_follows_the_true_current(
    wheel: PaddleWheel, water: PaddleWheelEmulator, current: Current
) -> None:
    assert only(wheel) == (pytest.approx(0.5), SensorStatus.OK)
    current.speed = 1.2
    water.advance(wheel.window_s)
    assert only(wheel) == (pytest.approx(1.2, abs=0.01), SensorStatus.OK)


def test_slack_water_and_a_fouled_wheel_both_read_zero(
    wheel: PaddleWheel, water: PaddleWheelEmulator, current: Current
) -> None:
    current.speed = 0.0
    water.advance(wheel.window_s)
    assert only(wheel) == (0.0, SensorStatus.OK)
    current.speed = 0.8
    water.inject(Fault.STOPPED)
    water.advance(wheel.window_s)
    assert only(wheel) == (0.0, SensorStatus.OK)
    water.clear_faults()
    water.advance(wheel.window_s)
    assert only(wheel) == (pytest.approx(0.8, abs=0.01), SensorStatus.OK)


def test_beyond_the_table_the_value_is_not_calibrated(
    wheel: PaddleWheel, water: PaddleWheelEmulator, current: Current
) -> None:
    current.speed = 2.2
    water.advance(wheel.window_s)
    assert only(wheel) == (pytest.approx(2.2, abs=0.01), SensorStatus.NOT_CALIBRATED)


def test_emi_spikes_are_out_of_range_without_a_value(
    wheel: PaddleWheel, water: PaddleWheelEmulator
) -> None:
    water.inject(Fault.EMI)
    water.advance(wheel.window_s)
    assert only(wheel) == (None, SensorStatus.OUT_OF_RANGE)


@pytest.mark.parametrize(("fault", "factor"), [(Fault.BOUNCE, 2.0), (Fault.DROP, 0.5)])
def test_plausible_bounce_or_dropped_pulses_cannot_be_detected(
    wheel: PaddleWheel, water: PaddleWheelEmulator, fault: Fault, factor: float
) -> None:
    water.inject(fault)
    water.advance(wheel.window_s)
    assert only(wheel) == (pytest.approx(0.5 * factor, abs=0.01), SensorStatus.OK)


def test_a_slowly_fouling_wheel_drifts_low(
    wheel: PaddleWheel, water: PaddleWheelEmulator, clock: SimulatedClock
) -> None:
    water.inject(Fault.DRIFT, amount=0.1 / 24)  # a tenth of the speed a day
    clock.advance(2 * 86400.0)
    water.advance(wheel.window_s)
    assert only(wheel) == (pytest.approx(0.4, abs=0.01), SensorStatus.OK)


def test_the_first_read_after_warm_up_waits_one_full_window_on_the_clock(
    wheel: PaddleWheel, clock: SimulatedClock
) -> None:
    assert only(wheel) == (None, SensorStatus.WARMING_UP)
    clock.advance(PaddleWheel.warmup_s)
    started = clock.monotonic()
    assert only(wheel) == (0.0, SensorStatus.OK)
    assert clock.monotonic() - started == pytest.approx(wheel.window_s)


def test_switched_wheel_is_asleep_when_off_and_warming_up_after_on(
    factory: MockFactory, clock: SimulatedClock
) -> None:
    power = SensorPower(27, PaddleWheel.warmup_s, clock, pin_factory=factory)
    with power, PaddleWheel(PIN, TABLE, clock, power=power, pin_factory=factory) as wheel:
        assert only(wheel) == (None, SensorStatus.ASLEEP)
        power.on()
        assert only(wheel) == (None, SensorStatus.WARMING_UP)
        clock.advance(PaddleWheel.warmup_s)
        assert only(wheel)[1] is SensorStatus.OK


def test_background_pulses_on_an_accelerated_clock_give_the_speed(factory: MockFactory) -> None:
    clock = SimulatedClock(0.0, speedup=20.0)
    with (
        PaddleWheel(PIN, TABLE, clock, window_s=4.0, pin_factory=factory) as wheel,
        PaddleWheelEmulator(factory.pin(PIN), TABLE, lambda: 1.0, clock, tick_s=0.005) as water,
    ):
        water.start()
        clock.sleep(PaddleWheel.warmup_s)
        value, status = only(wheel)
    assert status is SensorStatus.OK
    assert value == pytest.approx(1.0, abs=0.1)  # ±2 pulses of 80 at the window's ends


def test_close_releases_the_pin_and_is_safe_twice(wheel: PaddleWheel, factory: MockFactory) -> None:
    wheel.close()
    wheel.close()
    with pytest.raises(RuntimeError):
        wheel.read()
    PaddleWheel(PIN, TABLE, pin_factory=factory).close()  # the pin is free again
