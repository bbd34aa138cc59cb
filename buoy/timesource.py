"""Where a sample's timestamp comes from (DESIGN.md contract 4), in one small object.

The sampler asks a time source for ``(time_ms, ClockSource)`` and nothing else, so GPS time
and the unsynchronised-then-backfilled case can replace ``TrustedSystemTime`` without touching
the sampler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from nemopi.wire import ClockSource
from sensors.clock import Clock


@dataclass(frozen=True, slots=True)
class Stamp:
    time_ms: int
    clock: ClockSource
    boot: int = 0


class TimeSource(Protocol):
    def stamp(self) -> Stamp: ...


class TrustedSystemTime:
    """UTC from the clock, marked NTP: for a system whose clock is known to be synchronised."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def stamp(self) -> Stamp:
        return Stamp(round(self._clock.utc() * 1000), ClockSource.NTP)
