"""What the ingest does with one received MQTT message, inside the writer's transaction.

The buoy id comes from the topic, never from the payload: a broker ACL confines each buoy to
its own subtree, so a payload naming another buoy is rejected. Before anything is stored the
message must pass, in order: a topic in the buoy tree, a channel the ingest reads, a size under
the wire format's limit (checked before decoding), a payload that decodes, the buoy a registered
one (unless ``accept_unknown_buoys``), and for data batches sane times and seqs (see
``IngestConfig``). A message that fails goes whole to quarantine and is not confirmed, so the
buoy keeps its readings. A status is applied once it has passed these checks; the calibration
records in it are stored (``dashboard.calibrations``) unless its summary is malformed, and a
record that contradicts a stored one is not: either way the payload also goes to quarantine,
saying why. The chart roll-ups of newly stored samples are recomputed in the same transaction
(``dashboard.rollups``). ``Intake.handle`` never raises for bad input, only for database failures.
``stored_acks`` turns what a transaction committed into the confirmations buoys wait for.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from dashboard import rollups
from dashboard.calibrations import CalibrationSummaryError, parse_summary, store_calibrations
from dashboard.config import IngestConfig
from dashboard.models import buoys, samples
from dashboard.quarantine import Quarantine, Reason
from dashboard.storage import (
    StoreResult,
    mark_heard,
    seq_ranges,
    store_batch,
    store_status,
    utc_from_ms,
)
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
    quarantined payload (a status can be applied and still be quarantined for its calibration
    summary, so both ``buoy`` and ``rejected`` are set).
    """

    buoy: str | None = None
    stored: StoreResult | None = None
    newest: datetime | None = None
    rejected: Reason | None = None


@dataclass(frozen=True, slots=True)
class _Known:
    """What the database says about a buoy before its batch is stored."""

    key: int
    registered: bool
    since: datetime | None
    highest_seq: int


@dataclass(slots=True)
class _Group:
    """What one transaction learnt: each buoy's ``known``, kept current as its batches are
    stored, the newest arrival from the buoy being handled, for its ``last_heard``, and the
    times of the samples newly stored per buoy, whose chart buckets are still to refresh.

    A group is handled in topic order, so a buoy's messages come together: its ``last_heard``
    is moved and its buckets refreshed (once for all its batches in the group, not once per
    batch: a worker catching up on a backlog would spend its time there) when the group moves
    on to another buoy. Buoy rows are so still locked in topic order, the order that keeps
    workers sharing a subscription from deadlocking."""

    known: dict[str, _Known] = field(default_factory=dict)
    heard: tuple[str, int, datetime] | None = None
    new_times: defaultdict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))

    def moving_to(self, conn: Connection, buoy: str) -> None:
        if self.heard is not None and self.heard[0] != buoy:
            self.flush(conn)

    def flush(self, conn: Connection) -> None:
        if self.heard is not None:
            _, key, heard_at = self.heard
            mark_heard(conn, key, heard_at)
            self.heard = None
        for key, times in self.new_times.items():
            rollups.refresh(conn, key, times)
        self.new_times.clear()

    def store(
        self, conn: Connection, batch: Batch, known: _Known | None, received_at: datetime
    ) -> StoreResult:
        if known is None:  # a buoy without a row yet: store_batch creates it
            result = store_batch(conn, batch, received_at)
            created = _lookup(conn, batch.buoy)
            assert created is not None  # store_batch just created it
            self._stored(created.key, batch, result)
            return result
        result = store_batch(conn, batch, received_at, known.key)
        self._stored(known.key, batch, result)
        self.known[batch.buoy] = replace(known, highest_seq=max(known.highest_seq, *result.seqs))
        if self.heard is not None:
            received_at = max(received_at, self.heard[2])
        self.heard = (batch.buoy, known.key, received_at)
        return result

    def _stored(self, key: int, batch: Batch, result: StoreResult) -> None:
        """Note the times of the synced samples ``result`` newly stored, for ``flush``."""
        new = set(result.new_seqs)
        self.new_times[key].extend(
            utc_from_ms(s.time_ms) for s in batch.samples if s.synced and s.seq in new
        )


class Intake:
    """Not thread-safe: owned by the one writer thread."""

    def __init__(self, topics: Topics, config: IngestConfig) -> None:
        self._topics = topics
        self._config = config
        self._quarantine = Quarantine(config.quarantine_max_rows)

    def handle(self, conn: Connection, message: Received) -> Outcome:
        """Store or quarantine ``message``."""
        return self.handle_group(conn, [message])[0]

    def handle_group(self, conn: Connection, messages: Iterable[Received]) -> list[Outcome]:
        """Store or quarantine each of ``messages``, in order, in one transaction.

        What the database knows about a buoy is read once per group and kept current as its
        batches are stored, and each buoy's ``last_heard`` is moved once (``_Group``): on
        PostgreSQL every statement is a round trip, and a worker catching up on a backlog
        spends most of its time in them."""
        group = _Group()
        outcomes = [self._handle(conn, message, group) for message in messages]
        group.flush(conn)
        return outcomes

    def _handle(self, conn: Connection, message: Received, group: _Group) -> Outcome:
        parsed = self._topics.parse(message.topic)
        if parsed is None:
            return self.reject(conn, message, Reason.BAD_TOPIC)
        buoy, channel = parsed
        group.moving_to(conn, buoy)
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
        known = group.known.get(buoy) or _lookup(conn, buoy)
        if not (known and known.registered) and not self._config.accept_unknown_buoys:
            return self.reject(conn, message, Reason.UNKNOWN_BUOY, f"{buoy!r} is not registered")
        if isinstance(decoded, Status):
            return self._status(conn, message, decoded)
        problem = self._check_batch(decoded, known, message.received_at)
        if problem is not None:
            return self.reject(conn, message, *problem)
        synced = [s.time_ms for s in decoded.samples if s.synced]
        return Outcome(
            buoy,
            stored=group.store(conn, decoded, known, message.received_at),
            newest=utc_from_ms(max(synced)) if synced else None,
        )

    def reject(
        self, conn: Connection, message: Received, reason: Reason, detail: str = ""
    ) -> Outcome:
        self._quarantine.add(
            conn, message.topic, message.payload, reason, detail, message.received_at
        )
        return Outcome(rejected=reason)

    def _status(self, conn: Connection, message: Received, status: Status) -> Outcome:
        """Apply ``status`` and store its calibration records; quarantine it when they cannot
        all be stored."""
        key = store_status(conn, status, message.received_at, live=not message.retain)
        problem = _store_calibrations(conn, key, status, message.received_at)
        if problem is None:
            return Outcome(status.buoy)
        return replace(self.reject(conn, message, *problem), buoy=status.buoy)

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


def _store_calibrations(
    conn: Connection, key: int, status: Status, received_at: datetime
) -> tuple[Reason, str] | None:
    """Store the new records of ``status``'s calibration summary; None when nothing is wrong."""
    try:
        records = parse_summary(status.detail)
    except CalibrationSummaryError as exc:
        return Reason.BAD_CALIBRATION, exc.reason
    as_of = utc_from_ms(status.as_of_ms)
    conflicts = store_calibrations(conn, key, records, as_of, received_at)
    if not conflicts:
        return None
    named = ", ".join(f"version {c.version} ({c.part})" for c in conflicts)
    return Reason.CALIBRATION_CONFLICT, f"{named}; the stored record is kept"


def _lookup(conn: Connection, buoy: str) -> _Known | None:
    highest = (
        select(func.max(samples.c.seq)).where(samples.c.buoy_key == buoys.c.key).scalar_subquery()
    )
    row = conn.execute(
        select(
            buoys.c.key,
            buoys.c.registered,
            func.coalesce(buoys.c.registered_at, buoys.c.first_seen),
            highest,
        ).where(buoys.c.id == buoy)
    ).one_or_none()
    if row is None:
        return None
    key, registered, since, highest_seq = row
    return _Known(key, bool(registered), since, highest_seq or 0)


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
