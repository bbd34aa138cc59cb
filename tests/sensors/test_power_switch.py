"""Sensor power switching: the MOSFET gate pin, and warm-up against the clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from nemopi.sensor_status import SensorStatus
from sensors.clock import SimulatedClock
from sensors.power_switch import AlwaysPowered, SensorPower, power_for, readiness

PIN = 22


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
def power(factory: MockFactory, clock: SimulatedClock) -> Iterator[SensorPower]:
    with SensorPower(PIN, 5.0, clock, pin_factory=factory) as power:
        yield power


def test_on_and_off_drive_the_gate_pin(power: SensorPower, factory: MockFactory) -> None:
    gate = factory.pin(PIN)
    assert not gate.state and not power.is_on
    power.on()
    assert gate.state and power.is_on
    power.off()
    assert not gate.state and not power.is_on


def test_an_active_low_switch_inverts_the_gate(factory: MockFactory, clock: SimulatedClock) -> None:
    with SensorPower(PIN, 1.0, clock, active_high=False, pin_factory=factory) as power:
        gate = factory.pin(PIN)
        assert gate.state  # high gate: a P-channel high-side switch is off
        power.on()
        assert not gate.state


def test_the_sensor_is_warm_only_after_its_warm_up(
    power: SensorPower, clock: SimulatedClock
) -> None:
    assert power.ready_at is None and not power.is_warm()
    clock.advance(100.0)
    power.on()
    assert power.ready_at == 105.0
    clock.advance(4.9)
    assert not power.is_warm()
    clock.advance(0.1)
    assert power.is_warm()


def test_switching_on_again_does_not_restart_the_warm_up(
    power: SensorPower, clock: SimulatedClock
) -> None:
    power.on()
    clock.advance(3.0)
    power.on()
    assert power.ready_at == 5.0


def test_switching_off_restarts_the_warm_up_at_the_next_on(
    power: SensorPower, clock: SimulatedClock
) -> None:
    power.on()
    clock.advance(10.0)
    power.off()
    assert power.ready_at is None
    power.on()
    assert not power.is_warm()
    assert power.ready_at == 15.0


def test_a_switch_built_on_counts_its_warm_up_from_construction(
    factory: MockFactory, clock: SimulatedClock
) -> None:
    clock.advance(7.0)
    with SensorPower(PIN, 2.0, clock, initial_on=True, pin_factory=factory) as power:
        assert factory.pin(PIN).state
        assert power.ready_at == 9.0


def test_readiness_names_the_status_a_driver_reports(
    power: SensorPower, clock: SimulatedClock
) -> None:
    assert readiness(power) is SensorStatus.ASLEEP
    power.on()
    assert readiness(power) is SensorStatus.WARMING_UP
    clock.advance(5.0)
    assert readiness(power) is None


def test_the_permanent_rail_is_warm_after_the_drivers_warm_up(clock: SimulatedClock) -> None:
    rail = power_for(clock, 3.0, None)
    assert isinstance(rail, AlwaysPowered)
    assert readiness(rail) is SensorStatus.WARMING_UP
    clock.advance(3.0)
    assert readiness(rail) is None


def test_a_switch_warm_sooner_than_its_sensor_is_refused(power: SensorPower) -> None:
    with pytest.raises(ValueError, match="warm-up"):
        power_for(SimulatedClock(0.0), 6.0, power)
    assert power_for(SimulatedClock(0.0), 5.0, power) is power


def test_the_rail_may_have_come_on_before_the_driver_was_built() -> None:
    clock = SimulatedClock(0.0)
    clock.advance(10.0)
    assert power_for(clock, 3.0, None, since=8.0).ready_at == 11.0


def test_a_switch_and_a_rail_time_together_are_refused(
    power: SensorPower, clock: SimulatedClock
) -> None:
    with pytest.raises(ValueError, match="not both"):
        power_for(clock, 5.0, power, since=0.0)


def test_negative_warm_up_is_refused(factory: MockFactory) -> None:
    with pytest.raises(ValueError):
        SensorPower(PIN, -1.0, pin_factory=factory)


def test_close_releases_the_pin_and_is_safe_twice(power: SensorPower, factory: MockFactory) -> None:
    power.on()
    power.close()
    power.close()
    assert not power.is_on
    SensorPower(PIN, 1.0, pin_factory=factory).close()  # the pin is free again
