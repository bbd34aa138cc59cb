"""Delivery: moves samples from the outbox to the uplink and applies what comes back.

At least once, bounded: one data batch is in flight at a time. A PUBACK marks its rows sent;
a stored acknowledgement deletes the rows it covers; a batch whose PUBACK does not come within
``resend_after_s`` is forgotten and its rows are picked again. Live first (docs/delivery.md):
on every connection the first batch is the newest reading alone, so the morning view is
current at once; after that, readings taken since the previous batch was chosen go out next,
newest first, and between them the backlog drains oldest first. ``buoy.pacing`` sizes the
batches by how fast the broker acknowledges them and holds the backlog to ``drain_rate``.
While connected, a retained status report goes out on every connection and
then every ``status_interval_s`` (or at once, ``report_now``); before a clean disconnect, a
report that says offline. Given ``health``, an online report is the ``HealthSnapshot`` it
returns (docs/buoy-operations.md); without, its detail holds only the outbox depth. Given
``extra_detail``, the detail also carries its entries (the daemon adds the calibration
summary, the clock anchor and the outbox's size policy figures).

Radio windows (docs/power-policy.md): while ``windowed`` is set (the power policy saves), nothing
is sent until the daemon calls ``open_window``; the window then sends one status report and at
most its ``max_readings`` readings, in sequence order or newest first, and closes when that
budget is spent or nothing is left to send. Without it, sending is continuous as above.

What the daemon must hear of the link comes back through two callbacks: ``on_command`` gets
each payload from the command topic, ``on_check_in`` fires when the buoy has proved it reaches
the ingest (a stored acknowledgement, or the broker's PUBACK of a status report).
Runs on the daemon's thread, which owns the outbox.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from buoy.config import UplinkSettings
from buoy.health import HealthSnapshot
from buoy.outbox import Outbox
from buoy.pacing import Pacer
from buoy.uplink import CommandReceived, Connected, Event, Published, Stored, Uplink
from nemopi.wire import Sample, Status
from sensors.clock import Clock

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Window:
    budget: int  # readings it may still send
    newest_first: bool
    reported: bool = False


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
        extra_detail: Callable[[], Mapping[str, Any]] | None = None,
        *,
        health: Callable[[], HealthSnapshot] | None = None,
        on_command: Callable[[bytes], None] | None = None,
        on_check_in: Callable[[], None] | None = None,
        next_report_ms: Callable[[], int | None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.uplink = uplink
        self.settings = settings
        self.clock = clock
        self.extra_detail = extra_detail
        self.health = health
        self.on_command = on_command
        self.on_check_in = on_check_in
        self.next_report_ms = next_report_ms
        # Send only in radio windows the daemon opens (the power policy is saving).
        self.windowed = False
        self._window: _Window | None = None
        self._batch: _InFlight | None = None
        self._pacer = Pacer(settings.max_batch, settings.fast_ack_s, settings.drain_rate)
        # Readings numbered above this one are live; None: not connected yet.
        self._live_after: int | None = None
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
        if self.windowed:
            self._serve_window(now)
            return
        if self._next_status is not None and now >= self._next_status:
            self._report(online=True)
            self._next_status = now + self.settings.status_interval_s
        self._send_batch(now)

    def use_windows(self, on: bool) -> None:
        """Send only in radio windows (``on``), or continuously; a change closes any window
        that was open."""
        if on != self.windowed:
            self.windowed = on
            self._window = None

    def open_window(self, max_readings: int, newest_first: bool) -> None:
        """Open a radio window: a status report and up to ``max_readings`` readings go out
        (at the next ``service`` once connected), then it closes."""
        self._window = _Window(max_readings, newest_first)

    @property
    def window_open(self) -> bool:
        return self._window is not None

    def _serve_window(self, now: float) -> None:
        window = self._window
        if window is None:
            return
        if not window.reported:
            if self._report(online=True) is None:
                return
            window.reported = True
        if window.budget > 0:
            self._send_batch(now)
        if window.budget <= 0 or (self._batch is None and not self._select(now)[0]):
            self._window = None

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

    def report_now(self) -> bool:
        """Publish an online report at once (the next periodic one is due an interval later);
        False when the link did not take it."""
        if self._report(online=True) is None:
            return False
        self._next_status = self.clock.monotonic() + self.settings.status_interval_s
        return True

    def status(self, online: bool) -> Status:
        """A status report as of now; an online one is valid for two report intervals."""
        now = self.utc_ms()
        interval_s = self.settings.status_interval_s
        if online and self.health is not None:
            announced = None if self.next_report_ms is None else self.next_report_ms()
            status = self.health().status(self.uplink.buoy, now, interval_s, announced)
        else:
            interval_ms = round(interval_s * 1000)
            status = Status(
                self.uplink.buoy,
                online,
                now,
                valid_until_ms=now + 2 * interval_ms if online else None,
                next_report_ms=now + interval_ms if online else None,
                detail={"outbox_depth": self.outbox.depth()},
            )
        if self.extra_detail is None:
            return status
        return dataclasses.replace(status, detail={**status.detail, **self.extra_detail()})

    def _apply(self, event: Event) -> None:
        if isinstance(event, Connected):
            self._next_status = self.clock.monotonic()
            self._pacer.connected()
            self._live_after = self.outbox.next_seq() - 2  # the newest reading goes first
        elif isinstance(event, Published):
            if event.mid in self._status_mids:
                self._status_mids.discard(event.mid)
                self._checked_in()
            if self._batch is not None and self._batch.mid == event.mid:
                after_s = self.clock.monotonic() - self._batch.published_at
                self._pacer.acked(len(self._batch.seqs), after_s)
                self._mark_sent(self._batch)
        elif isinstance(event, Stored):
            self._checked_in()
            try:
                deleted = self.outbox.confirm(event.ack.ranges)
            except sqlite3.Error as exc:  # a full card: the next ack for these rows deletes them
                log.warning("could not delete confirmed rows %s: %s", event.ack.ranges, exc)
                return
            log.debug("stored %s: %d rows deleted", event.ack.ranges, deleted)
        elif isinstance(event, CommandReceived) and self.on_command is not None:
            self.on_command(event.payload)

    def _checked_in(self) -> None:
        if self.on_check_in is not None:
            self.on_check_in()

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
            self._pacer.timed_out()
            self._batch = None
        samples, live = self._select(now)
        if not samples:
            return
        mid = self.uplink.publish_batch(samples)
        if mid is None:
            return
        self._batch = _InFlight(mid, tuple(s.seq for s in samples), now)
        if self._window is not None:
            self._window.budget -= len(samples)
        if live:
            self._live_after = samples[-1].seq
        else:
            self._pacer.backlog_sent(len(samples), now)
        log.debug(
            "published seq %d..%d as mid %d (%d %s)",
            samples[0].seq,
            samples[-1].seq,
            mid,
            len(samples),
            "live" if live else "backlog",
        )

    def _select(self, now: float) -> tuple[list[Sample], bool]:
        """The next batch in sequence order, and whether it is live: the newest readings taken
        since the last live batch, else the oldest of the backlog when the drain rate allows."""
        size = self._pacer.size
        window = self._window
        if self.windowed and window is not None:
            newest = window.newest_first
            chosen = self.outbox.due(min(size, window.budget), now, newest_first=newest)
            return chosen[::-1] if newest else chosen, False
        if self._live_after is not None:
            live = self.outbox.due(size, now, after=self._live_after, newest_first=True)
            if live:
                return live[::-1], True
        if not self._pacer.backlog_allowed(now):
            return [], False
        return self.outbox.due(size, now), False
