"""The one fault-injection API every emulator shares: which faults, how large, what clears."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from sensors.clock import SimulatedClock
from sensors.emulators.ads1115 import Ads1115Emulator
from sensors.emulators.ezo_ph import EzoPhEmulator
from sensors.emulators.faults import Fault, FaultInjection, FaultSet
from sensors.emulators.ina219 import Ina219Emulator
from sensors.emulators.nmea_gps import NmeaGpsEmulator
from sensors.emulators.paddle_wheel import PaddleWheelEmulator
from sensors.emulators.scd4x import Scd4xEmulator
from sensors.emulators.w1_sysfs import W1Emulator
from sensors.paddle_wheel import CalibrationTable


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(0.0)


@pytest.fixture
def faults(clock: SimulatedClock) -> FaultSet:
    return FaultSet(clock, "part", {Fault.NACK, Fault.STUCK, Fault.DRIFT}, {Fault.DRIFT: 2.0})


def test_clearing_named_faults_keeps_the_others(faults: FaultSet) -> None:
    faults.inject(Fault.NACK)
    faults.inject(Fault.STUCK)
    faults.clear(Fault.NACK)
    assert faults.active == {Fault.STUCK}
    faults.clear()
    assert faults.active == frozenset()


def test_drift_is_amount_per_hour_from_the_injection(
    faults: FaultSet, clock: SimulatedClock
) -> None:
    clock.advance(100.0)
    faults.inject(Fault.DRIFT)
    clock.advance(1800.0)
    assert faults.drift() == pytest.approx(1.0)  # the default 2 per hour, for half an hour
    faults.inject(Fault.DRIFT, amount=-4.0)  # injecting again restarts it
    clock.advance(900.0)
    assert faults.drift() == pytest.approx(-1.0)
    faults.clear(Fault.DRIFT)
    assert faults.drift() == 0.0


def test_stuck_repeats_the_first_answer_after_injection(faults: FaultSet) -> None:
    assert faults.stuck(b"a") == b"a"
    faults.inject(Fault.STUCK)
    assert [faults.stuck(b"b"), faults.stuck(b"c")] == [b"b", b"b"]
    faults.clear()
    assert faults.stuck(b"d") == b"d"


def test_a_fault_the_part_cannot_show_is_refused(faults: FaultSet) -> None:
    with pytest.raises(ValueError, match="part cannot show SILENT"):
        faults.inject(Fault.SILENT)


def test_an_amount_for_a_fault_without_a_size_is_refused(faults: FaultSet) -> None:
    with pytest.raises(ValueError, match="STUCK takes no amount"):
        faults.inject(Fault.STUCK, amount=1.0)
    assert faults.active == frozenset()


@pytest.fixture
def emulators(clock: SimulatedClock, tmp_path: Path) -> Iterator[list[FaultInjection]]:
    factory = MockFactory()
    table = CalibrationTable.from_pairs([(0, 0), (10, 1)])
    with (
        W1Emulator(tmp_path, lambda: 20.0, clock) as w1,
        NmeaGpsEmulator(clock, lambda: None) as gps,
        PaddleWheelEmulator(factory.pin(17), table, lambda: 0.0, clock) as wheel,
    ):
        yield [
            Ads1115Emulator(clock),
            Ina219Emulator(clock, bus_voltage=lambda: 12.0, current=lambda: 0.0, shunt_ohms=0.1),
            EzoPhEmulator(clock),
            Scd4xEmulator(clock),
            w1,
            gps,
            wheel,
        ]
    factory.reset()
    factory.close()


def test_every_emulator_shows_only_its_own_faults_and_every_fault_has_a_part(
    emulators: list[FaultInjection],
) -> None:
    shown: set[Fault] = set()
    for emulator in emulators:
        for fault in set(Fault) - emulator.faults.supported:
            with pytest.raises(ValueError, match=fault.name):
                emulator.inject(fault)
        shown |= emulator.faults.supported
    assert shown == set(Fault)
