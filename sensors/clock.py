"""Time as drivers and emulators see it, so a simulated week can run in seconds.

Drivers wait for conversions with ``clock.sleep``; emulators check those waits against
``clock.monotonic``. ``SystemClock`` is real time. ``SimulatedClock`` runs ``speedup`` times
faster than real time and starts at a chosen UTC instant; with ``speedup=0`` it is virtual:
time moves only when someone sleeps, which makes tests instant and repeatable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def utc(self) -> float:
        """Seconds since the Unix epoch, as the system (or the simulated world) believes."""
        ...

    def real_seconds(self, clock_seconds: float) -> float:
        """How long to wait in real time for this clock to advance ``clock_seconds``."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def utc(self) -> float:
        return time.time()

    def real_seconds(self, clock_seconds: float) -> float:
        return clock_seconds


class SimulatedClock:
    """Simulated time: ``speedup`` x real time from ``start_utc``, or virtual when 0."""

    def __init__(self, start_utc: float, speedup: float = 0.0) -> None:
        if speedup < 0:
            raise ValueError("speedup must be >= 0 (0 means virtual time)")
        self.start_utc = start_utc
        self.speedup = speedup
        self._lock = threading.Lock()
        self._virtual = 0.0
        self._real_start = time.monotonic()

    def monotonic(self) -> float:
        with self._lock:
            if self.speedup == 0:
                return self._virtual
            return self._virtual + (time.monotonic() - self._real_start) * self.speedup

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.speedup == 0:
            self.advance(seconds)
        else:
            time.sleep(seconds / self.speedup)

    def advance(self, seconds: float) -> None:
        """Move simulated time forward at once (virtual and accelerated clocks alike)."""
        with self._lock:
            self._virtual += seconds

    @contextmanager
    def paced(self, speedup: float) -> Iterator[None]:
        """Run at most ``speedup`` x real time inside the block; time stays continuous.

        For steps a person does at their own pace (installing a probe), where a
        busy machine's few milliseconds must not become most of a simulated second.
        A virtual clock (speedup 0) is left as it is.
        """
        if self.speedup == 0 or self.speedup <= speedup:
            yield
            return
        previous = self._rebase(speedup)
        try:
            yield
        finally:
            self._rebase(previous)

    def _rebase(self, speedup: float) -> float:
        """Switch to ``speedup`` from now on, keeping the time reached; the old speedup."""
        with self._lock:
            now = time.monotonic()
            self._virtual += (now - self._real_start) * self.speedup
            self._real_start = now
            previous, self.speedup = self.speedup, speedup
        return previous

    def utc(self) -> float:
        return self.start_utc + self.monotonic()

    def real_seconds(self, clock_seconds: float) -> float:
        """Virtual time never advances by waiting (0); accelerated time ``speedup`` x faster."""
        return 0.0 if self.speedup == 0 else clock_seconds / self.speedup
