"""The clocks drivers, emulators and the daemon share: real, accelerated and virtual time."""

from __future__ import annotations

import time

import pytest

from sensors.clock import SimulatedClock, SystemClock


def test_the_system_clock_waits_in_its_own_seconds() -> None:
    assert SystemClock().real_seconds(2.5) == 2.5


def test_an_accelerated_clock_needs_proportionally_less_real_time() -> None:
    clock = SimulatedClock(start_utc=1.8e9, speedup=60.0)
    assert clock.real_seconds(60.0) == pytest.approx(1.0)
    before = clock.monotonic()
    time.sleep(clock.real_seconds(3.0))
    assert clock.monotonic() - before >= 3.0


def test_a_virtual_clock_moves_only_when_someone_sleeps() -> None:
    clock = SimulatedClock(start_utc=1.8e9)
    assert clock.real_seconds(3600.0) == 0.0
    clock.sleep(90.0)
    assert clock.monotonic() == 90.0
    assert clock.utc() == 1.8e9 + 90.0


def test_a_negative_speedup_is_refused() -> None:
    with pytest.raises(ValueError, match="speedup"):
        SimulatedClock(start_utc=0.0, speedup=-1.0)
