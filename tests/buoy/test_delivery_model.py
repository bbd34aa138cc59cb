"""The outbox and the delivery against a model of the broker and the ingest (contract 3).

``DeliveryModel`` drives the real ``Outbox`` (on a real SQLite file) and the real ``Delivery``
over ``FakeLink``, an in-memory stand-in for ``Uplink`` whose broker and ingest are modelled by
the machine. Readings are appended, published, acknowledged by the broker (PUBACK) and by the
ingest (``stored``), lost with a dropped connection or by a broker that forgets a message it
acknowledged, delivered to the ingest more than once or before their PUBACK, and the buoy
crashes and restarts with everything in memory gone; in any order, with virtual time moving
past ``resend_after_s`` or not. What it proves:

* a reading leaves the outbox only when the ingest has stored it, with the values appended;
* a sequence number is never issued twice, so the ingest never holds two readings under one;
* liveness: once the link stays up and the broker and ingest behave, a bounded number of
  rounds empties the outbox and the ingest holds every reading ever issued.

Thinning a full outbox gives readings up by design (``buoy.outbox_policy``), so the outbox
here is far larger than any run.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import cast

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from buoy.config import UplinkSettings
from buoy.delivery import Delivery
from buoy.outbox import Outbox
from buoy.uplink import Connected, Event, Published, Stored, Uplink
from nemopi import wire
from nemopi.wire import Batch, Sample, Status, StoredAck
from sensors.clock import SimulatedClock
from tests.buoy.conftest import BUOY
from tests.buoy.test_outbox import all_seqs, draft

RESEND_AFTER_S = 10.0
SETTINGS = UplinkSettings(max_batch=4, resend_after_s=RESEND_AFTER_S, drain_rate=0.0)
START_UTC = 1_750_000_000.0


class FakeLink:
    """What ``Delivery`` uses of ``Uplink``, in memory: a connection flag, a queue of events
    the test releases, and the data messages published on this connection whose PUBACK has
    not come back (``unacked``, by message id)."""

    def __init__(self, buoy: str) -> None:
        self.buoy = buoy
        self.connected = False
        self.events: deque[Event] = deque()
        self.unacked: dict[int, bytes] = {}
        self._last_mid = 0  # a new link (after a restart) numbers its messages afresh

    def next_event(self, timeout: float) -> Event | None:
        return self.events.popleft() if self.events else None

    def publish_batch(self, samples: Sequence[Sample]) -> int | None:
        mid = self._next_mid()
        if mid is not None:
            self.unacked[mid] = wire.encode(Batch(self.buoy, tuple(samples)))
        return mid

    def publish_status(self, status: Status) -> int | None:
        return self._next_mid()

    def connect(self) -> None:
        self.connected = True
        self.events.append(Connected())

    def drop(self) -> None:
        """The connection is gone: so are the events not yet taken and the unacked messages."""
        self.connected = False
        self.events.clear()
        self.unacked.clear()

    def _next_mid(self) -> int | None:
        if not self.connected:
            return None
        self._last_mid += 1
        return self._last_mid


def contiguous_ranges(seqs: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """``seqs`` as ascending inclusive ``(first, last)`` runs, as a stored message has them."""
    ranges: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if ranges and ranges[-1][1] == seq - 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return tuple(ranges)


class DeliveryModel(RuleBasedStateMachine):
    """Any interleaving of sampling, publishing, PUBACKs, deliveries to the ingest, stored
    acknowledgements, lost messages, dropped connections and crashes deletes a reading only
    once the ingest has stored it, never reuses a number, and still delivers everything once
    the link behaves."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        self.path = self.dir / "outbox.sqlite3"
        self.appended: dict[int, Sample] = {}  # every reading the outbox ever numbered
        self.broker: list[bytes] = []  # messages the broker holds for the ingest
        self.ingest: dict[int, Sample] = {}  # the ingest's store: idempotent by seq
        self.outbox = Outbox(self.path, BUOY, RESEND_AFTER_S, max_rows=10**6)
        self._boot()
        self.link.connect()

    def _boot(self) -> None:
        """A fresh start of the firmware: a new clock, link and delivery; the outbox is
        whatever is on the card."""
        self.clock = SimulatedClock(START_UTC, speedup=0)
        self.link = FakeLink(BUOY)
        self.delivery = Delivery(self.outbox, cast(Uplink, self.link), SETTINGS, self.clock)

    def _lose_some(self, data: st.DataObject, unacked: Iterable[bytes]) -> None:
        """Unacknowledged messages either reached the broker (their PUBACK was lost) or not."""
        for payload in unacked:
            if data.draw(st.booleans(), label="reached the broker"):
                self.broker.append(payload)

    def _store(self, payload: bytes) -> None:
        """The ingest decodes a data message and stores its samples, idempotently."""
        batch = wire.decode(payload, expect=wire.Kind.DATA)
        assert isinstance(batch, Batch)
        assert batch.buoy == BUOY
        for sample in batch.samples:
            assert self.appended.get(sample.seq) == sample, f"seq {sample.seq} was not appended so"
            assert self.ingest.setdefault(sample.seq, sample) == sample

    # ------------------------------------------------------------ the buoy

    @rule(n=st.integers(1, 3))
    def sample(self, n: int) -> None:
        for _ in range(n):
            sample = self.outbox.append(draft(len(self.appended)))
            assert sample.seq not in self.appended, f"seq {sample.seq} issued twice"
            assert all(sample.seq > seq for seq in self.appended), f"seq {sample.seq} went back"
            self.appended[sample.seq] = sample

    @rule()
    def service(self) -> None:
        self.delivery.service(0.0)

    @rule(
        seconds=st.one_of(
            st.floats(0.0, RESEND_AFTER_S / 2),
            st.just(RESEND_AFTER_S),
            st.floats(RESEND_AFTER_S, 3 * RESEND_AFTER_S),
        )
    )
    def advance_time(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(data=st.data(), link_up=st.booleans())
    def crash_restart(self, data: st.DataObject, link_up: bool) -> None:
        self._lose_some(data, self.link.unacked.values())
        self.outbox.close()
        self.outbox = Outbox(self.path, BUOY, RESEND_AFTER_S, max_rows=10**6)
        self._boot()
        if link_up:
            self.link.connect()

    # ------------------------------------------------------------ the link and the broker

    @precondition(lambda self: self.link.connected)
    @rule(data=st.data())
    def drop_connection(self, data: st.DataObject) -> None:
        self._lose_some(data, self.link.unacked.values())
        self.link.drop()

    @precondition(lambda self: not self.link.connected)
    @rule()
    def reconnect(self) -> None:
        self.link.connect()

    @precondition(lambda self: self.link.unacked)
    @rule(data=st.data())
    def puback(self, data: st.DataObject) -> None:
        mid = data.draw(st.sampled_from(sorted(self.link.unacked)), label="mid")
        self.broker.append(self.link.unacked.pop(mid))
        self.link.events.append(Published(mid))

    @precondition(lambda self: self.broker)
    @rule(data=st.data())
    def broker_loses(self, data: st.DataObject) -> None:
        self.broker.pop(data.draw(st.integers(0, len(self.broker) - 1), label="message"))

    @precondition(lambda self: self.broker or self.link.unacked)
    @rule(data=st.data(), again=st.booleans())
    def broker_delivers(self, data: st.DataObject, again: bool) -> None:
        """The ingest gets a message the broker holds (and may get it again later), or one
        whose PUBACK has not come back yet."""
        held = len(self.broker)
        messages = [*self.broker, *self.link.unacked.values()]
        index = data.draw(st.integers(0, len(messages) - 1), label="message")
        self._store(messages[index])
        if index < held and not again:
            self.broker.pop(index)

    # ------------------------------------------------------------ the ingest

    @precondition(lambda self: self.ingest and self.link.connected)
    @rule(data=st.data())
    def stored_ack(self, data: st.DataObject) -> None:
        acked = data.draw(
            st.lists(st.sampled_from(sorted(self.ingest)), min_size=1, unique=True), label="seqs"
        )
        self.link.events.append(Stored(StoredAck(BUOY, contiguous_ranges(acked))))

    # ------------------------------------------------------------ what must always hold

    @invariant()
    def deleted_only_when_stored(self) -> None:
        waiting = set(all_seqs(self.outbox))
        assert waiting <= set(self.appended)
        for seq, sample in self.appended.items():
            if seq not in waiting:
                assert self.ingest.get(seq) == sample, f"seq {seq} deleted but not stored"

    @invariant()
    def numbering_moves_past_every_issued_seq(self) -> None:
        assert self.outbox.next_seq() > max(self.appended, default=0)

    @invariant()
    def ingest_holds_only_what_was_appended(self) -> None:
        for seq, sample in self.ingest.items():
            assert self.appended.get(seq) == sample

    # ------------------------------------------------------------ liveness

    def settle(self) -> None:
        """With the link up and the broker and ingest behaving, every reading gets through
        and the outbox empties within a bounded number of rounds."""
        if not self.link.connected:
            self.link.connect()
        self.delivery.service(0.0)  # apply the PUBACKs and acknowledgements already queued
        self.clock.advance(RESEND_AFTER_S + 1.0)  # what was sent and lost before is due again
        rounds = self.outbox.depth() + 3  # each round sends at least one reading
        for _ in range(rounds):
            self.delivery.service(0.0)
            for mid in list(self.link.unacked):
                self.broker.append(self.link.unacked.pop(mid))
                self.link.events.append(Published(mid))
            for payload in self.broker:
                self._store(payload)
            self.broker.clear()
            if self.ingest:
                self.link.events.append(Stored(StoredAck(BUOY, contiguous_ranges(self.ingest))))
            self.delivery.service(0.0)
            if self.outbox.depth() == 0:
                break
        assert self.outbox.depth() == 0, f"{self.outbox.depth()} readings still wait"
        assert self.ingest == self.appended

    def teardown(self) -> None:
        try:
            if sys.exception() is None:  # a failed step is the finding; do not mask it
                self.settle()
        finally:
            self.outbox.close()
            shutil.rmtree(self.dir)


DeliveryModel.TestCase.settings = settings(max_examples=200, deadline=None)
# Every append waits for an fsync: a few seconds on a real disk.
test_outbox_and_delivery_keep_contract_3 = pytest.mark.slow(DeliveryModel.TestCase)
