"""Delivery: moves samples from the outbox to the uplink and applies what comes back.

At least once, bounded: one data batch of at most ``max_batch`` samples, in sequence order, is
in flight at a time. A PUBACK marks its rows sent; a stored acknowledgement deletes the rows it
covers; a batch whose PUBACK does not come within ``resend_after_s`` is forgotten and its rows
are picked again. While connected, a retained status report goes out on every connection and
then every ``status_interval_s``; before a clean disconnect, a report that says offline. Its
detail says how deep the outbox is and, given ``calibration``, the calibration summary
(``CalibrationState.summary``: the version and each part's latest record).
Runs on the daemon's thread, which owns the outbox.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from buoy.config import UplinkSettings
from buoy.outbox import Outbox
from buoy.uplink import Connected, Event, Published, Stored, Uplink
from nemopi.wire import Status
from sensors.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _InFlight:
    mid: int
    seqs: tuple[int, ...]
    published_at: float


class Delivery:
    def __init__(
        self,
        outbox: Outbox,
        uplink: Uplink,
        settings: UplinkSettings,
        clock: Clock,
        calibration: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.outbox = outbox
        self.uplink = uplink
        self.settings = settings
        self.clock = clock
        self.calibration = calibration
        self._batch: _InFlight | None = None
        self._status_mids: set[int] = set()
        self._next_status: float | None = None  # None: never connected

    def service(self, wait_s: float) -> None:
        """Wait up to ``wait_s`` for news from the link, apply it, and send what is due."""
        event = self.uplink.next_event(wait_s)
        while event is not None:
            self._apply(event)
            event = self.uplink.next_event(0)
        if not self.uplink.connected:
            return
        now = self.clock.monotonic()
        if self._next_status is not None and now >= self._next_status:
            self._report(online=True)
            self._next_status = now + self.settings.status_interval_s
        self._send_batch(now)

    def finish(self, timeout_s: float) -> None:
        """Say offline (retained) and wait up to ``timeout_s`` for the broker to take it."""
        mid = self._report(online=False)
        deadline = self.clock.monotonic() + timeout_s
        while mid in self._status_mids and self.clock.monotonic() < deadline:
            event = self.uplink.next_event(min(0.1, timeout_s))
            if event is not None:
                self._apply(event)

    def utc_ms(self) -> int:
        return round(self.clock.utc() * 1000)

    def status(self, online: bool) -> Status:
        """A status report as of now; valid for two report intervals."""
        now = self.utc_ms()
        interval_ms = round(self.settings.status_interval_s * 1000)
        detail: dict[str, Any] = {"outbox": self.outbox.depth()}
        if self.calibration is not None:
            detail["calibration"] = self.calibration()
        return Status(
            self.uplink.buoy,
            online,
            now,
            valid_until_ms=now + 2 * interval_ms if online else None,
            next_report_ms=now + interval_ms if online else None,
            detail=detail,
        )

    def _apply(self, event: Event) -> None:
        if isinstance(event, Connected):
            self._next_status = self.clock.monotonic()
        elif isinstance(event, Published):
            self._status_mids.discard(event.mid)
            if self._batch is not None and self._batch.mid == event.mid:
                self._mark_sent(self._batch)
        elif isinstance(event, Stored):
            try:
                deleted = self.outbox.confirm(event.ack.ranges)
            except sqlite3.Error as exc:  # a full card: the next ack for these rows deletes them
                log.warning("could not delete confirmed rows %s: %s", event.ack.ranges, exc)
                return
            log.debug("stored %s: %d rows deleted", event.ack.ranges, deleted)

    def _mark_sent(self, batch: _InFlight) -> None:
        """Record the broker's PUBACK; on a full card keep the batch in flight instead.

        A lost sent mark only costs a re-send: the batch stays in flight in memory, so it goes
        out again after ``resend_after_s`` rather than at once in a loop.
        """
        try:
            self.outbox.mark_sent(batch.seqs, self.clock.monotonic())
        except sqlite3.Error as exc:
            log.warning(
                "could not record the broker's acknowledgement of %d samples: %s",
                len(batch.seqs),
                exc,
            )
            return
        self._batch = None

    def _report(self, online: bool) -> int | None:
        mid = self.uplink.publish_status(self.status(online))
        if mid is not None:
            self._status_mids.add(mid)
        return mid

    def _send_batch(self, now: float) -> None:
        if self._batch is not None:
            if now - self._batch.published_at < self.settings.resend_after_s:
                return
            log.warning(
                "no broker acknowledgement for batch mid %d; sending again", self._batch.mid
            )
            self._batch = None
        samples = self.outbox.due(self.settings.max_batch, now)
        if not samples:
            return
        mid = self.uplink.publish_batch(samples)
        if mid is not None:
            self._batch = _InFlight(mid, tuple(s.seq for s in samples), now)
            log.debug("published seq %d..%d as mid %d", samples[0].seq, samples[-1].seq, mid)
