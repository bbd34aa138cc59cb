"""What the ingest does with one received MQTT message, inside the writer's transaction.

The buoy id comes from the topic, never from the payload: a broker ACL confines each buoy to
its own subtree, so a payload naming another buoy is rejected. Data batches are stored
idempotently; statuses update the buoys table; anything that does not decode or validate goes
to quarantine. ``Intake.handle`` never raises for bad input, only for database failures.
``stored_acks`` turns what a transaction committed into the confirmations buoys wait for.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from dashboard.quarantine import Quarantine
from dashboard.storage import StoreResult, seq_ranges, store_batch, store_status
from nemopi.topics import Channel, Topics
from nemopi.wire import MAX_SAMPLES, Batch, Kind, Status, StoredAck, WireFormatError, decode

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Received:
    """One MQTT message as the network thread handed it over.

    ``connection`` counts the connections the client has made; the broker's message id
    ``mid`` only means something on the connection that delivered it.
    """

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    received_at: datetime
    connection: int


class Intake:
    """Not thread-safe: owned by the one writer thread."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics
        self._quarantine = Quarantine()

    def handle(self, conn: Connection, message: Received) -> StoreResult | None:
        """Store or quarantine ``message``; the result of a stored data batch, else None."""
        parsed = self._topics.parse(message.topic)
        if parsed is None:
            self.reject(conn, message, "topic outside the buoy tree")
            return None
        buoy, channel = parsed
        if channel is Channel.STATUS and not message.payload:
            log.info("retained status of %s was cleared", buoy)
            return None
        if channel not in (Channel.DATA, Channel.STATUS):
            self.reject(conn, message, f"the ingest does not read {channel.value!r} topics")
            return None
        expected = Kind.DATA if channel is Channel.DATA else Kind.STATUS
        try:
            decoded = decode(message.payload, expect=expected)
        except WireFormatError as exc:
            self.reject(conn, message, exc.reason)
            return None
        assert isinstance(decoded, Batch | Status)  # what ``expect`` allows
        if decoded.buoy != buoy:
            self.reject(conn, message, f"payload names buoy {decoded.buoy!r}, topic {buoy!r}")
            return None
        if isinstance(decoded, Batch):
            return store_batch(conn, decoded, message.received_at)
        store_status(conn, decoded, message.received_at, live=not message.retain)
        return None

    def reject(self, conn: Connection, message: Received, reason: str) -> None:
        self._quarantine.add(conn, message.topic, message.payload, reason, message.received_at)


def stored_acks(results: Iterable[StoreResult]) -> list[StoredAck]:
    """One ack per buoy covering every sample of its batches (including duplicates stored
    before, so a buoy whose earlier ack was lost hears again), split to fit the wire limit."""
    by_buoy: dict[str, set[int]] = defaultdict(set)
    for result in results:
        by_buoy[result.buoy].update(result.seqs)
    acks: list[StoredAck] = []
    for buoy, seqs in sorted(by_buoy.items()):
        ranges = seq_ranges(seqs)
        acks.extend(
            StoredAck(buoy, ranges[i : i + MAX_SAMPLES]) for i in range(0, len(ranges), MAX_SAMPLES)
        )
    return acks
