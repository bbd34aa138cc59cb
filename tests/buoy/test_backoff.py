from __future__ import annotations

import random

import pytest

from buoy.backoff import Backoff
from buoy.daemon import _next_slot


def test_waits_stay_within_bounds_and_their_ceiling_doubles() -> None:
    backoff = Backoff(1.0, 60.0, random.Random(1))
    ceilings = [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    for ceiling in ceilings:
        assert 1.0 <= backoff.next_wait() <= ceiling
    backoff.reset()
    assert backoff.next_wait() <= 2.0


def test_a_fleet_restarting_together_does_not_reconnect_in_step() -> None:
    fleet = [Backoff(1.0, 300.0, random.Random(seed)) for seed in range(20)]
    first = [round(b.next_wait(), 3) for b in fleet]  # each drawn from [1, 2] s
    assert len(set(first)) == len(fleet)
    assert max(first) - min(first) > 0.5


def test_nonsense_bounds_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        Backoff(5.0, 1.0)


def test_schedule_keeps_a_fixed_rate_and_skips_missed_slots() -> None:
    assert _next_slot(10.0, 5.0, now=12.0) == 15.0
    assert _next_slot(10.0, 5.0, now=26.0) == 30.0
