"""What the ingest does with one received MQTT message, inside the writer's transaction.

The buoy id comes from the topic, never from the payload: a broker ACL confines each buoy to
its own subtree, so a payload naming another buoy is rejected. Before anything is stored the
message must pass, in order: a topic in the buoy tree, a channel the ingest reads, a size under
the wire format's limit (checked before decoding), a payload that decodes, the buoy a registered
one (unless ``accept_unknown_buoys``), and for data batches sane times and seqs (see
``IngestConfig``). A message that fails goes whole to quarantine and is not confirmed, so the
buoy keeps its readings. ``Intake.handle`` never raises for bad input, only for database
failures. ``stored_acks`` turns what a transaction committed into the confirmations buoys wait
for.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from dashboard.config import IngestConfig
from dashboard.models import buoys, samples
from dashboard.quarantine import Quarantine, Reason
from dashboard.storage import StoreResult, seq_ranges, store_batch, store_status, utc_from_ms
from nemopi.topics import Channel, Topics
from nemopi.wire import (
    MAX_PAYLOAD_BYTES,
    MAX_SAMPLES,
    Batch,
    Kind,
    Status,
    StoredAck,
    WireFormatError,
    decode,
)

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


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one message did, for what follows the commit (acks, metrics, quality control).

    ``buoy`` is set once the message is known to come from an accepted buoy; ``stored`` for a
    stored data batch, with ``newest`` its newest synced sample time; ``rejected`` for a
    quarantined payload.
    """

    buoy: str | None = None
    stored: StoreResult | None = None
    newest: datetime | None = None
    rejected: Reason | None = None


@dataclass(frozen=True, slots=True)
class _Known:
    """What the database says about a buoy before its batch is stored."""

    registered: bool
    since: datetime | None
    highest_seq: int


class Intake:
    """Not thread-safe: owned by the one writer thread."""

    def __init__(self, topics: Topics, config: IngestConfig) -> None:
        self._topics = topics
        self._config = config
        self._quarantine = Quarantine(config.quarantine_max_rows)

    def handle(self, conn: Connection, message: Received) -> Outcome:
        """Store or quarantine ``message``."""
        parsed = self._topics.parse(message.topic)
        if parsed is None:
            return self.reject(conn, message, Reason.BAD_TOPIC)
        buoy, channel = parsed
        if channel is Channel.STATUS and not message.payload:
            log.info("retained status of %s was cleared", buoy)
            return Outcome()
        if channel not in (Channel.DATA, Channel.STATUS):
            return self.reject(conn, message, Reason.WRONG_CHANNEL, repr(channel.value))
        if len(message.payload) > MAX_PAYLOAD_BYTES:
            detail = f"{len(message.payload)} bytes, the limit is {MAX_PAYLOAD_BYTES}"
            return self.reject(conn, message, Reason.OVERSIZED, detail)
        expected = Kind.DATA if channel is Channel.DATA else Kind.STATUS
        try:
            decoded = decode(message.payload, expect=expected)
        except WireFormatError as exc:
            return self.reject(conn, message, Reason.MALFORMED, exc.reason)
        assert isinstance(decoded, Batch | Status)  # what ``expect`` allows
        if decoded.buoy != buoy:
            detail = f"{decoded.buoy!r} on the topic of {buoy!r}"
            return self.reject(conn, message, Reason.WRONG_BUOY, detail)
        known = _lookup(conn, buoy)
        if not (known and known.registered) and not self._config.accept_unknown_buoys:
            return self.reject(conn, message, Reason.UNKNOWN_BUOY, f"{buoy!r} is not registered")
        if isinstance(decoded, Status):
            store_status(conn, decoded, message.received_at, live=not message.retain)
            return Outcome(buoy)
        problem = self._check_batch(decoded, known, message.received_at)
        if problem is not None:
            return self.reject(conn, message, *problem)
        synced = [s.time_ms for s in decoded.samples if s.synced]
        return Outcome(
            buoy,
            stored=store_batch(conn, decoded, message.received_at),
            newest=utc_from_ms(max(synced)) if synced else None,
        )

    def reject(
        self, conn: Connection, message: Received, reason: Reason, detail: str = ""
    ) -> Outcome:
        self._quarantine.add(
            conn, message.topic, message.payload, reason, detail, message.received_at
        )
        return Outcome(rejected=reason)

    def _check_batch(
        self, batch: Batch, known: _Known | None, now: datetime
    ) -> tuple[Reason, str] | None:
        """Times and seqs a working buoy cannot have sent; None when the batch is sane."""
        config = self._config
        latest = now + timedelta(seconds=config.max_clock_ahead_s)
        since = known.since if known and known.since else now
        earliest = since - timedelta(days=config.max_days_before_registration)
        highest_allowed = (known.highest_seq if known else 0) + config.max_seq_jump
        for s in batch.samples:
            if s.seq > highest_allowed:
                return Reason.BAD_SEQ, f"seq {s.seq} jumps beyond {highest_allowed}"
            if not s.synced:
                continue
            when = utc_from_ms(s.time_ms)
            if when > latest:
                return Reason.FUTURE_TIME, f"seq {s.seq} at {when.isoformat()}"
            if when < earliest:
                return Reason.PAST_TIME, f"seq {s.seq} at {when.isoformat()}"
        return None


def _lookup(conn: Connection, buoy: str) -> _Known | None:
    highest = (
        select(func.max(samples.c.seq)).where(samples.c.buoy_key == buoys.c.key).scalar_subquery()
    )
    row = conn.execute(
        select(
            buoys.c.registered, func.coalesce(buoys.c.registered_at, buoys.c.first_seen), highest
        ).where(buoys.c.id == buoy)
    ).one_or_none()
    if row is None:
        return None
    registered, since, highest_seq = row
    return _Known(bool(registered), since, highest_seq or 0)


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
