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


def test_a_paced_block_runs_slower_and_time_stays_continuous() -> None:
    clock = SimulatedClock(start_utc=1.8e9, speedup=1000.0)
    before = clock.monotonic()
    with clock.paced(1.0):
        assert clock.speedup == 1.0
        entered = clock.monotonic()
        assert entered >= before
        time.sleep(0.05)
        inside = clock.monotonic() - entered
    after = clock.monotonic()
    assert 0.05 <= inside < 5.0  # about real time, not the 50 s of 1000x
    assert after >= entered + inside
    assert clock.speedup == 1000.0
    time.sleep(0.01)
    assert clock.monotonic() - after >= 9.9  # accelerated again: 10 ms of real time


def test_pacing_leaves_virtual_and_slower_clocks_alone() -> None:
    virtual, slow = SimulatedClock(start_utc=0.0), SimulatedClock(start_utc=0.0, speedup=0.5)
    with virtual.paced(1.0), slow.paced(1.0):
        assert (virtual.speedup, slow.speedup) == (0.0, 0.5)
    assert virtual.monotonic() == 0.0
