"""Where a sample's timestamp comes from (DESIGN.md contract 4; docs/time.md).

The Pi has no real-time clock: after a power cut its system clock starts wherever the last
saved time or 1970 left it, until NTP (through the cellular link) or the GPS sets it. The
sampler asks a ``StampSource`` for a ``Stamp`` and nothing else; ``TimeSource`` decides, for
each sample, which clock to believe:

1. **NTP**: while the kernel says the system clock is synchronised (``ntp_synchronised``, on the
   buoy ``kernel_clock_synchronised``) and that clock agrees with the anchor (below), its UTC.
   NTP wins over GPS when both are trusted: the kernel disciplines it to milliseconds, while a
   GPS time is dated when its NMEA sentence arrives, some tenths of a second late.
2. **The anchor**: the ``(utc, monotonic)`` pair of the last trusted time, from either source.
   Between fixes, UTC is ``anchor.utc + (monotonic - anchor.monotonic)``, marked with the
   anchor's source, so GPS time stays trustworthy across GPS loss. A GPS fix becomes the anchor
   when the driver found its RMC valid and it passes the checks here.
3. **UNSYNCED**: no anchor yet in this run: ``(boot, monotonic ms)`` (``buoy.boot``).

Checks. No time before ``floor_ms`` (a build-time floor; a receiver hit by a week rollover
reports 19.6 years early) is believed. A time that disagrees with the anchor by more than
``tolerance_ms`` plus ``drift_ppm`` of the monotonic time since it (a free-running crystal
drifts) is a jump: a system clock stepped by hand or by a confused NTP, or a GPS glitch. It is
logged, and the source is not believed until it agrees again; the anchor carries on. Without an
anchor, a GPS time counts only when the next fix agrees with it, so that a single bad epoch
after a cold start cannot set the clock. Stamps never go backwards within a run, so no sample
gets a time before the floor, and none later than the trusted clock it was derived from.

Backfill. When a run first gets an anchor, ``backfill(boot, anchor)`` (``Outbox.backfill``)
gives the unsynchronised samples of the same boot their UTC. A failing card (``sqlite3.Error``)
is retried at the next stamp.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from nemopi.wire import MAX_UTC_MS, ClockSource
from sensors.clock import Clock
from sensors.gps import EARLIEST_UTC, GpsFix

log = logging.getLogger(__name__)

FLOOR_UTC_MS = round(EARLIEST_UTC.timestamp() * 1000)
TOLERANCE_MS = 2000
DRIFT_PPM = 200  # a Pi's crystal is good to tens of ppm; the margin covers temperature swings

# adjtimex(2): the clock state the kernel returns, and its status bits (linux/timex.h).
TIME_ERROR = 5
STA_UNSYNC = 0x0040
MAX_SYNCED_ERROR_US = 16_000_000  # systemd's ntp_synced(): a larger maxerror is not synced


@dataclass(frozen=True, slots=True)
class Stamp:
    time_ms: int
    clock: ClockSource
    boot: int = 0


class StampSource(Protocol):
    def stamp(self) -> Stamp: ...


@dataclass(frozen=True, slots=True)
class Anchor:
    """A trusted UTC time and the monotonic time it was true at, in one run of the clock."""

    utc_ms: int
    monotonic_ms: int
    source: ClockSource

    def utc_at(self, monotonic_ms: int) -> int:
        return self.utc_ms + (monotonic_ms - self.monotonic_ms)


@dataclass(frozen=True, slots=True)
class TimeInputs:
    """What a ``TimeSource`` listens to, chosen by how the daemon runs.

    ``timeline`` names the run of the monotonic clock (``buoy.boot``); ``ntp_synchronised``
    says whether the system clock is set; ``gps_fix`` is the GPS driver's ``last_fix``.
    """

    timeline: str
    ntp_synchronised: Callable[[], bool]
    gps_fix: Callable[[], GpsFix | None] | None = None


def always_synchronised() -> bool:
    """The synchronisation probe for a clock that is right by construction: the simulated
    world's clock, which is that world's UTC."""
    return True


class _Trust:
    """Whether one source is believed; logs when that changes, not at every sample."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.distrusted = False

    def judge(self, problem: str | None) -> bool:
        if problem is None and self.distrusted:
            log.info("%s agrees with the anchor again: trusted", self.name)
        elif problem is not None and not self.distrusted:
            log.warning("%s not trusted: %s", self.name, problem)
        self.distrusted = problem is not None
        return problem is None


class TimeSource:
    """Stamps samples of boot ``boot`` by ``clock`` (see the module docstring)."""

    def __init__(
        self,
        clock: Clock,
        boot: int,
        inputs: TimeInputs,
        *,
        backfill: Callable[[int, Anchor], int] | None = None,
        floor_ms: int = FLOOR_UTC_MS,
        tolerance_ms: int = TOLERANCE_MS,
        drift_ppm: float = DRIFT_PPM,
    ) -> None:
        self.clock = clock
        self.boot = boot
        self.inputs = inputs
        self.floor_ms = floor_ms
        self.tolerance_ms = tolerance_ms
        self.drift_ppm = drift_ppm
        self._backfill = backfill
        self._backfilled = backfill is None
        self._anchor: Anchor | None = None
        self._gps_candidate: Anchor | None = None
        self._last_fix_at: float | None = None
        self._last_stamp_ms = 0
        self._system = _Trust("system clock")
        self._gps = _Trust("GPS time")

    @property
    def anchor(self) -> Anchor | None:
        return self._anchor

    def stamp(self) -> Stamp:
        now = round(self.clock.monotonic() * 1000)
        self._observe_gps()
        self._observe_system(now)
        if self._anchor is None:
            return Stamp(now, ClockSource.UNSYNCED, self.boot)
        self._complete_backfill()
        utc = max(self._anchor.utc_at(now), self._last_stamp_ms)
        self._last_stamp_ms = utc
        return Stamp(utc, self._anchor.source, self.boot)

    def summary(self) -> dict[str, Any]:
        """The clock for the status detail: the boot and, once known, its anchor, with which
        the ingest can date this boot's samples that left the buoy unsynchronised."""
        anchor = self._anchor
        if anchor is None:
            return {"boot": self.boot, "source": "unsynced"}
        return {
            "boot": self.boot,
            "anchor_utc_ms": anchor.utc_ms,
            "anchor_monotonic_ms": anchor.monotonic_ms,
            "source": anchor.source.name.lower(),
        }

    def _observe_system(self, now: int) -> None:
        if not self.inputs.ntp_synchronised():
            return
        utc = round(self.clock.utc() * 1000)
        if self._system.judge(self._disagreement(utc, now, self._anchor)):
            self._set_anchor(Anchor(utc, now, ClockSource.NTP))

    def _observe_gps(self) -> None:
        fix = None if self.inputs.gps_fix is None else self.inputs.gps_fix()
        if fix is None or fix.received_at == self._last_fix_at:
            return
        self._last_fix_at = fix.received_at
        if not fix.time_valid or fix.utc is None:
            log.debug("GPS time not valid: %s", fix.time_problem)
            self._gps_candidate = None
            return
        seen = Anchor(
            round(fix.utc.timestamp() * 1000), round(fix.received_at * 1000), ClockSource.GPS
        )
        problem = self._disagreement(seen.utc_ms, seen.monotonic_ms, self._anchor)
        if problem is not None:
            self._gps_candidate = None
        elif self._anchor is None and not self._confirms(seen):
            return
        if self._gps.judge(problem):
            self._set_anchor(seen)

    def _confirms(self, seen: Anchor) -> bool:
        """Whether ``seen`` agrees with the GPS time before it; it becomes the one to agree with."""
        candidate, self._gps_candidate = self._gps_candidate, seen
        if candidate is None:
            return False
        return self._disagreement(seen.utc_ms, seen.monotonic_ms, candidate) is None

    def _disagreement(self, utc_ms: int, monotonic_ms: int, anchor: Anchor | None) -> str | None:
        """Why ``utc_ms`` at ``monotonic_ms`` is not to be believed; None when it is."""
        if not self.floor_ms <= utc_ms <= MAX_UTC_MS:
            return f"{_iso(utc_ms)} is outside {_iso(self.floor_ms)}..{_iso(MAX_UTC_MS)}"
        if anchor is None:
            return None
        off_ms = utc_ms - anchor.utc_at(monotonic_ms)
        allowed_ms = (
            self.tolerance_ms + self.drift_ppm * abs(monotonic_ms - anchor.monotonic_ms) / 1e6
        )
        if abs(off_ms) > allowed_ms:
            return f"{off_ms / 1000:+.1f} s off the {anchor.source.name} anchor"
        return None

    def _set_anchor(self, anchor: Anchor) -> None:
        if self._anchor is None:
            log.info(
                "boot %d: clock set by %s, %s at %d ms of uptime",
                self.boot,
                anchor.source.name,
                _iso(anchor.utc_ms),
                anchor.monotonic_ms,
            )
        self._anchor = anchor

    def _complete_backfill(self) -> None:
        if self._backfilled or self._anchor is None or self._backfill is None:
            return
        try:
            count = self._backfill(self.boot, self._anchor)
        except sqlite3.Error as exc:
            log.warning(
                "backfill of boot %d failed, retried at the next sample: %r", self.boot, exc
            )
            return
        self._backfilled = True
        log.info("boot %d: %d unsynchronised samples backfilled", self.boot, count)


class TrustedSystemTime:
    """UTC from the clock, marked NTP: for a system whose clock is known to be synchronised."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def stamp(self) -> Stamp:
        return Stamp(round(self._clock.utc() * 1000), ClockSource.NTP)


class _Timex(ctypes.Structure):
    """The head of ``struct timex`` (linux/timex.h), then room for the rest of it."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("rest", ctypes.c_byte * 256),
    ]


def kernel_clock_synchronised() -> bool:
    """Whether the kernel says the system clock is NTP-synchronised, as ``timedatectl``'s
    ``NTPSynchronized`` does: ``adjtimex`` (read-only, no privilege needed)."""
    timex = _Timex()
    state = ctypes.CDLL(None, use_errno=True).adjtimex(ctypes.byref(timex))
    return clock_state_synchronised(state, timex.status, timex.maxerror)


def clock_state_synchronised(state: int, status: int, maxerror_us: int) -> bool:
    """The decision of ``kernel_clock_synchronised`` on ``adjtimex``'s answer."""
    return (
        state not in (-1, TIME_ERROR)
        and not status & STA_UNSYNC
        and maxerror_us < MAX_SYNCED_ERROR_US
    )


def _iso(utc_ms: int) -> str:
    """``utc_ms`` for a log line; a system clock may say anything, even beyond year 9999."""
    try:
        when = dt.datetime.fromtimestamp(utc_ms / 1000, dt.UTC)
    except (ValueError, OverflowError, OSError):
        return f"{utc_ms} ms since 1970"
    return when.isoformat(timespec="milliseconds")
