"""The durable outbox: every reading waits here, on the SD card, until the ingest has stored it.

Promises:

* **Durable appends.** The database runs in WAL mode with ``synchronous=FULL``: ``append()``
  returns only after the WAL frame holding the sample and the advanced sequence counter has been
  fsynced, so a power cut after it returns loses neither; a cut during it rolls the whole sample
  back (never half a row, never a counter that moved without its row). This holds as far as the
  SD card honours flushes; cards that acknowledge writes still in their cache can lose them.
* **Sequence numbers never repeat.** They come from a counter in the same database, advanced in
  the same transaction as the row, so deleting rows never frees a number. A restored SD image
  (or an old card put back) brings an old counter back; the ingest would then take new readings
  for duplicates of ones it already has. Guard: when a stored acknowledgement names numbers this
  outbox never issued, the counter jumps past them (``confirm()``), so at most the batches sent
  before the first such acknowledgement collide. An ingest that keeps its latest ``stored``
  message retained closes even that window, since the buoy receives it on subscribing.
* **Rows are deleted only when a stored acknowledgement covers them.** A row goes
  unsent -> sent (the broker acknowledged it) -> deleted. A sent row that stays unconfirmed for
  ``resend_after_s`` is due again, so a broker that drops an acknowledged message loses nothing.
  Sent marks use the caller's monotonic clock and are cleared on every open: after a restart,
  whatever was unconfirmed is sent again (the ingest is idempotent).
* **Only publishable rows.** ``append()`` checks that the sample encodes and decodes as a wire
  batch, so no row can later block delivery; values are kept as given (CBOR floats, bit-exact).
* **Bounded, and accounted for.** At most ``max_rows`` rows wait; a full outbox is thinned by
  the rule in ``buoy.outbox_policy`` in the same transaction as the append that found it full,
  and every reading given up, or refused by a full card, is recorded in the ``dropped`` table
  (``health()`` counts them for the status report).

Losing a sent mark or a delete is harmless (it costs a resend), so those transactions skip the
fsync (``synchronous=NORMAL`` in WAL mode keeps the database consistent, it may only roll the
last of them back) and spare the card. Deletes run in bounded chunks so that a large
acknowledgement never holds the writer for long. One thread at a time uses an ``Outbox``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2

from buoy import outbox_policy
from buoy.closeable import Closeable
from buoy.durable_sqlite import prepare_durable
from buoy.outbox_policy import DEFAULT_MAX_ROWS, DropReason, Loss, OutboxHealth
from buoy.timesource import Anchor
from nemopi import catalogue, wire
from nemopi.sensor_status import SensorStatus
from nemopi.wire import ClockSource, Sample, Value

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DELETE_CHUNK = 500
# A stored acknowledgement claiming numbers this high is not believed: jumping there would
# leave no room for further samples.
SEQ_CEILING = wire.MAX_SEQ - 2**32

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL)",
    "CREATE TABLE IF NOT EXISTS samples "
    "(seq INTEGER PRIMARY KEY, sent_at REAL, body BLOB NOT NULL)",
    outbox_policy.SCHEMA,
)


class OutboxError(RuntimeError):
    """An outbox that cannot be used: another buoy's, or written by newer firmware."""


@dataclass(frozen=True, slots=True)
class Draft:
    """A sample before the outbox has numbered it."""

    time_ms: int
    clock: ClockSource
    values: Mapping[str, Value]
    boot: int = 0
    config_version: int = 0
    calibration_version: int = 0

    def numbered(self, seq: int) -> Sample:
        return Sample(
            seq,
            self.time_ms,
            self.clock,
            dict(self.values),
            self.boot,
            self.config_version,
            self.calibration_version,
        )


class Outbox(Closeable):
    """The outbox database at ``path`` for buoy ``buoy``, holding at most ``max_rows``
    readings; a context manager."""

    def __init__(
        self, path: Path, buoy: str, resend_after_s: float, max_rows: int = DEFAULT_MAX_ROWS
    ) -> None:
        if max_rows < 2:
            raise ValueError(f"max_rows must be at least 2, not {max_rows}")
        self.path = path
        self.buoy = buoy
        self.resend_after_s = resend_after_s
        self.max_rows = max_rows
        self._rows = 0  # rows waiting, kept in step with every append, thinning and delete
        self._unrecorded: dict[DropReason, Loss] = {}  # lost to the card, not yet in dropped
        # Built on one thread and used on another (the daemon's), one at a time.
        self._db: sqlite3.Connection | None = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False
        )
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        db = self._conn
        prepare_durable(db, self.path, SCHEMA_VERSION, OutboxError)
        with self._write():
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('buoy', ?)", (self.buoy,))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('next_seq', 1)")
            owner = self._meta("buoy")
        if owner != self.buoy:
            raise OutboxError(f"{self.path} holds readings of buoy {owner!r}, not {self.buoy!r}")
        with self._write(durable=False):
            db.execute("UPDATE samples SET sent_at = NULL WHERE sent_at IS NOT NULL")
        self._rows = self.depth()

    # ------------------------------------------------------------ the lifecycle of a row

    def append(self, draft: Draft) -> Sample:
        """Number ``draft``, store it durably in one transaction, and return the sample.

        A full outbox is thinned first, in that transaction. ValueError (before anything is
        written) when the sample could not travel on the wire; ``sqlite3.Error`` when the card
        would not take it, which is counted as a lost reading and recorded with the next
        append that succeeds.
        """
        _check_publishable(self.buoy, draft.numbered(1))
        body = _pack(draft)
        try:
            with self._write():
                rows, thinned = self._make_room()
                for loss in self._unrecorded.values():
                    outbox_policy.record_loss(self._conn, loss)
                seq = int(self._meta("next_seq"))
                self._conn.execute("INSERT INTO samples (seq, body) VALUES (?, ?)", (seq, body))
                self._set_meta("next_seq", seq + 1)
        except sqlite3.Error as exc:
            reason = DropReason.of_error(exc)
            self._unrecorded.setdefault(reason, Loss(reason)).add(draft.time_ms)
            raise
        for loss in self._unrecorded.values():
            log.warning("recorded %d readings lost as %s", loss.count, loss.reason)
        self._unrecorded.clear()
        if thinned is not None:
            log.warning(
                "outbox full (%d readings): thinned %d of the older half, seq %d..%d",
                self.max_rows,
                thinned.count,
                thinned.first,
                thinned.last,
            )
        self._rows = rows + 1
        return draft.numbered(seq)

    def _make_room(self) -> tuple[int, outbox_policy.ThinnedSpan | None]:
        """Thin a full outbox (inside the append's transaction); the rows left, and what was
        thinned."""
        if self._rows < self.max_rows:
            return self._rows, None
        rows = self.depth()  # count again before giving any reading up
        if rows < self.max_rows:
            return rows, None
        thinned = outbox_policy.thin(self._conn, self.max_rows, _time_ms)
        return rows - (0 if thinned is None else thinned.count), thinned

    def due(
        self, limit: int, now: float, after: int = 0, newest_first: bool = False
    ) -> list[Sample]:
        """Up to ``limit`` samples numbered above ``after`` to send: unsent ones, and sent ones
        whose confirmation is overdue at monotonic time ``now``. The oldest of them in sequence
        order, or with ``newest_first`` the newest of them, newest first."""
        order = "DESC" if newest_first else "ASC"
        rows = self._conn.execute(
            "SELECT seq, body FROM samples WHERE seq > ? AND (sent_at IS NULL OR sent_at <= ?) "
            f"ORDER BY seq {order} LIMIT ?",
            (after, now - self.resend_after_s, limit),
        )
        return [s for s in (self._unpack(seq, body) for seq, body in rows) if s is not None]

    def mark_sent(self, seqs: Iterable[int], now: float) -> None:
        """The broker acknowledged these samples at monotonic time ``now``."""
        with self._write(durable=False):
            self._conn.executemany(
                "UPDATE samples SET sent_at = ? WHERE seq = ?", ((now, s) for s in seqs)
            )

    def confirm(self, ranges: Sequence[tuple[int, int]]) -> int:
        """Delete the samples in the inclusive ``(first, last)`` ranges; the number deleted.

        Ranges reaching past the numbers issued so far move the counter beyond them (see the
        module docstring: a restored SD image).
        """
        deleted = 0
        for first, last in ranges:
            while True:
                with self._write(durable=False):
                    cursor = self._conn.execute(
                        "DELETE FROM samples WHERE seq IN (SELECT seq FROM samples "
                        "WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?)",
                        (first, last, DELETE_CHUNK),
                    )
                deleted += cursor.rowcount
                self._rows -= cursor.rowcount
                if cursor.rowcount < DELETE_CHUNK:
                    break
        highest = max((last for _, last in ranges), default=0)
        self._catch_up(highest)
        return deleted

    def _catch_up(self, highest_stored: int) -> None:
        next_seq = self.next_seq()
        if highest_stored < next_seq:
            return
        if highest_stored >= SEQ_CEILING:
            log.error("ignoring a stored acknowledgement up to seq %d: implausible", highest_stored)
            return
        log.warning(
            "the ingest has stored seq %d but this outbox was at %d (restored SD image?): "
            "numbering continues from %d",
            highest_stored,
            next_seq,
            highest_stored + 1,
        )
        with self._write():
            self._set_meta("next_seq", highest_stored + 1)

    def backfill(self, boot: int, anchor: Anchor) -> int:
        """Date the unsynchronised samples of ``boot`` from ``anchor`` in one transaction;
        the number dated.

        Each becomes BACKFILLED at ``anchor.utc_at(its uptime)``; seq, values and versions
        stay as they were. Samples of other boots keep their uptime: it counts on another run
        of the monotonic clock. Samples already sent are dated too; if the ingest stored their
        unsynchronised copy first it keeps that one, and dates it from the anchor in the status
        (docs/time.md). A time before the wire's window could only come from a wrong anchor:
        such a sample stays unsynchronised.
        """
        dated: list[tuple[bytes, int]] = []
        with self._write():
            for seq, body in self._conn.execute("SELECT seq, body FROM samples").fetchall():
                sample = self._unpack(seq, body)
                if sample is None or (sample.clock, sample.boot) != (ClockSource.UNSYNCED, boot):
                    continue
                utc = anchor.utc_at(sample.time_ms)
                if utc < wire.MIN_UTC_MS:
                    log.error("seq %d: anchor %s dates it before 2000; left unsynced", seq, anchor)
                    continue
                draft = Draft(
                    utc,
                    ClockSource.BACKFILLED,
                    sample.values,
                    sample.boot,
                    sample.config_version,
                    sample.calibration_version,
                )
                dated.append((_pack(draft), seq))
            self._conn.executemany("UPDATE samples SET body = ? WHERE seq = ?", dated)
        return len(dated)

    # ------------------------------------------------------------ what is inside

    def depth(self) -> int:
        """How many samples wait for confirmation."""
        return int(self._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def oldest_unconfirmed(self) -> Sample | None:
        row = self._conn.execute("SELECT seq, body FROM samples ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else self._unpack(*row)

    def next_seq(self) -> int:
        """The number the next appended sample will get."""
        return int(self._meta("next_seq"))

    def health(self) -> OutboxHealth:
        """Depth, size on the card and every reading given up, for the status report."""
        oldest = self.oldest_unconfirmed()
        return outbox_policy.read_health(
            self._conn,
            self.max_rows,
            None if oldest is None else oldest.time_ms,
            tuple(self._unrecorded.values()),
        )

    # ------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close the database; safe to call twice."""
        if self._db is not None:
            self._db.close()
            self._db = None

    # ------------------------------------------------------------ internals

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxError(f"{self.path}: outbox is closed")
        return self._db

    @contextmanager
    def _write(self, durable: bool = True) -> Iterator[None]:
        """One write transaction; ``durable=False`` skips the fsync at commit."""
        db = self._conn
        if not durable:
            db.execute("PRAGMA synchronous=NORMAL")
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if db.in_transaction:  # SQLite has already rolled back after SQLITE_FULL
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            if not durable:
                db.execute("PRAGMA synchronous=FULL")

    def _meta(self, key: str) -> Any:
        return self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    def _set_meta(self, key: str, value: Any) -> None:
        self._conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))

    def _unpack(self, seq: int, body: bytes) -> Sample | None:
        try:
            return _unpack(seq, body)
        except (ValueError, TypeError, KeyError, cbor2.CBORDecodeError) as exc:
            log.error("outbox row %d is unreadable and stays where it is: %r", seq, exc)
            return None


def _check_publishable(buoy: str, sample: Sample) -> None:
    """ValueError unless ``sample`` survives the wire: encodes, and decodes on the ingest."""
    wire.decode(wire.encode(wire.Batch(buoy, (sample,))), expect=wire.Kind.DATA)


def _pack(draft: Draft) -> bytes:
    values = [
        [catalogue.by_name(name).code, v.value, int(v.status)] for name, v in draft.values.items()
    ]
    return cbor2.dumps(
        [
            draft.time_ms,
            int(draft.clock),
            draft.boot,
            draft.config_version,
            draft.calibration_version,
            values,
        ]
    )


def _time_ms(body: bytes) -> int | None:
    """The timestamp of a row body; None when the row is unreadable."""
    try:
        time_ms = cbor2.loads(body)[0]
    except (ValueError, TypeError, IndexError, cbor2.CBORDecodeError):
        return None
    return time_ms if isinstance(time_ms, int) else None


def _unpack(seq: int, body: bytes) -> Sample:
    time_ms, clock, boot, config_version, calibration_version, values = cbor2.loads(body)
    decoded: dict[str, Value] = {}
    for code, value, status in values:
        quantity = catalogue.by_code(code)
        if quantity is None:
            raise ValueError(f"unknown quantity code {code}")
        decoded[quantity.name] = Value(value, SensorStatus(status))
    draft = Draft(time_ms, ClockSource(clock), decoded, boot, config_version, calibration_version)
    return draft.numbered(seq)
