"""The outbox's size policy: what happens when readings pile up for weeks, or the card fills.

Why: a buoy whose link is gone for weeks keeps sampling, and the SD card is finite. Whatever
cannot be kept must be given up by a stated rule and accounted for, never silently.

The rules (docs/delivery.md):

* **A limit in rows.** The outbox holds at most ``max_rows`` readings. An append that finds it
  full first *thins* the older half of what waits: every second of those rows by sequence
  number (the 2nd, 4th, ... of them) is deleted, a quarter of the outbox. The deletion, a
  record of it in the ``dropped`` table (reason ``thinned``, every deleted sequence number, the
  time span of those readings) and the new reading are one durable transaction: a power cut
  leaves all three or none. Each thinning halves the older half again, so a backlog of any
  length keeps its whole time span, from its first reading on, at a resolution that falls
  with age (the newest half at full resolution, the quarter before it at half, and so on).
  With the default limit a thinning deletes 50,000 rows, about once a month of outage at one
  reading a minute.
* **A full or failing card.** A reading the card would not take never got a sequence number.
  The outbox counts it (reason ``card_full`` for SQLITE_FULL, ``write_failed`` for any other
  error) and records the count and time span in ``dropped`` with the first append that
  succeeds afterwards; a process killed before that leaves only the sampler's log line.
* Nothing else drops a reading. A thinned reading that was already on its way to the broker
  may still be stored by the ingest; the record then says what the buoy gave up, not what the
  ingest lacks.

The functions here run inside the outbox's own transactions, on its connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import cbor2

DEFAULT_MAX_ROWS = 200_000
# Thinning events whose sequence ranges the health lists (the counts cover all of them).
SPANS_REPORTED = 8

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS dropped (id INTEGER PRIMARY KEY, reason TEXT NOT NULL, "
    "count INTEGER NOT NULL, first_time_ms INTEGER NOT NULL, last_time_ms INTEGER NOT NULL, "
    "seqs BLOB NOT NULL)"
)


class DropReason(StrEnum):
    THINNED = "thinned"  # the size policy gave it up (it had a sequence number)
    CARD_FULL = "card_full"  # the card had no room for it (it never got one)
    WRITE_FAILED = "write_failed"  # the card failed otherwise (it never got one)

    @classmethod
    def of_error(cls, exc: sqlite3.Error) -> DropReason:
        full = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        return cls.CARD_FULL if full else cls.WRITE_FAILED


@dataclass
class Loss:
    """Readings lost for one reason and not yet recorded in ``dropped``."""

    reason: DropReason
    count: int = 0
    first_time_ms: int = 0
    last_time_ms: int = 0

    def add(self, time_ms: int) -> None:
        self.first_time_ms = time_ms if self.count == 0 else min(self.first_time_ms, time_ms)
        self.last_time_ms = max(self.last_time_ms, time_ms)
        self.count += 1


@dataclass(frozen=True, slots=True)
class ThinnedSpan:
    """One thinning: ``count`` readings between sequence numbers ``first`` and ``last``."""

    first: int
    last: int
    count: int


@dataclass(frozen=True, slots=True)
class OutboxHealth:
    """What the status report should say about the outbox."""

    depth: int
    max_rows: int
    bytes: int  # of the database file's pages in use
    oldest_time_ms: int | None  # the oldest unconfirmed reading's timestamp
    dropped: Mapping[DropReason, int] = field(default_factory=dict)  # readings, by reason
    thinned_spans: tuple[ThinnedSpan, ...] = ()  # the latest SPANS_REPORTED thinnings

    @property
    def thinned(self) -> int:
        return self.dropped.get(DropReason.THINNED, 0)

    @property
    def lost_full_card(self) -> int:
        return self.dropped.get(DropReason.CARD_FULL, 0)

    def detail(self) -> dict[str, Any]:
        """Status detail entries beside the depth and age the health snapshot already has:
        a few scalars and at most SPANS_REPORTED short lists."""
        return {
            "outbox_max_rows": self.max_rows,
            "outbox_bytes": self.bytes,
            "thinned": self.thinned,
            "thinned_spans": [[s.first, s.last, s.count] for s in self.thinned_spans],
            "lost_full_card": self.lost_full_card,
            "lost_write_failed": self.dropped.get(DropReason.WRITE_FAILED, 0),
        }


def thin(
    db: sqlite3.Connection, max_rows: int, time_ms: Callable[[bytes], int | None]
) -> ThinnedSpan | None:
    """Thin the older half of the outbox by the rule above; what was deleted, None when
    nothing was.

    Runs inside the caller's write transaction; ``time_ms`` reads a row body's timestamp
    (None for an unreadable row, which is thinned like any other).
    """
    block = max(2, max_rows // 2)
    rows = db.execute("SELECT seq, body FROM samples ORDER BY seq LIMIT ?", (block,)).fetchall()
    doomed = rows[1::2]
    if not doomed:
        return None
    seqs = [seq for seq, _ in doomed]
    times = [t for t in (time_ms(body) for _, body in doomed) if t is not None] or [0]
    db.executemany("DELETE FROM samples WHERE seq = ?", ((s,) for s in seqs))
    _record(db, DropReason.THINNED, len(seqs), min(times), max(times), seqs)
    return ThinnedSpan(seqs[0], seqs[-1], len(seqs))


def record_loss(db: sqlite3.Connection, loss: Loss) -> None:
    """Record readings that never got a sequence number (inside the caller's transaction)."""
    _record(db, loss.reason, loss.count, loss.first_time_ms, loss.last_time_ms, [])


def _record(
    db: sqlite3.Connection,
    reason: DropReason,
    count: int,
    first_time_ms: int,
    last_time_ms: int,
    seqs: list[int],
) -> None:
    db.execute(
        "INSERT INTO dropped (reason, count, first_time_ms, last_time_ms, seqs) "
        "VALUES (?, ?, ?, ?, ?)",
        (str(reason), count, first_time_ms, last_time_ms, cbor2.dumps(seqs)),
    )


def dropped_seqs(db: sqlite3.Connection) -> dict[int, DropReason]:
    """Every sequence number ever dropped, with its reason."""
    out: dict[int, DropReason] = {}
    for reason, blob in db.execute("SELECT reason, seqs FROM dropped ORDER BY id"):
        out.update(dict.fromkeys(cbor2.loads(blob), DropReason(reason)))
    return out


def read_health(
    db: sqlite3.Connection,
    max_rows: int,
    oldest_time_ms: int | None,
    pending: Sequence[Loss],
) -> OutboxHealth:
    """The outbox's health; ``pending`` are losses not yet recorded (the card refused)."""
    depth = int(db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    dropped: dict[DropReason, int] = {}
    for reason, count in db.execute("SELECT reason, SUM(count) FROM dropped GROUP BY reason"):
        dropped[DropReason(reason)] = int(count)
    for loss in pending:
        dropped[loss.reason] = dropped.get(loss.reason, 0) + loss.count
    spans = db.execute(
        "SELECT seqs, count FROM dropped WHERE reason = ? ORDER BY id DESC LIMIT ?",
        (str(DropReason.THINNED), SPANS_REPORTED),
    ).fetchall()
    thinned = []
    for blob, count in reversed(spans):
        seqs = cbor2.loads(blob)
        thinned.append(ThinnedSpan(min(seqs), max(seqs), int(count)))
    return OutboxHealth(
        depth, max_rows, (pages - free) * page_size, oldest_time_ms, dropped, tuple(thinned)
    )
