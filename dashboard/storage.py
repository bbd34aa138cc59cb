"""Writing what the ingest receives: idempotent, insert-only, and on both dialects.

``store_batch`` stores a decoded batch with ``INSERT ... ON CONFLICT DO NOTHING`` keyed by
(buoy, seq): the same batch stored twice, or batches that overlap, leave exactly one copy of
each sample and its readings, and a stored reading is never updated (the first copy wins).
Rows go in as multi-row inserts, so a batch of 5,000 samples is a handful of statements.
``store_status`` records a buoy's retained status. Nothing here commits: the caller owns the
transaction (``engine.begin()``) and decides when it is safe to say "stored".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, case, literal
from sqlalchemy.dialects import postgresql, sqlite

from dashboard.models import buoys, latest_readings, readings, samples
from dashboard.sqltypes import UTCDateTime
from nemopi.catalogue import CATALOGUE
from nemopi.wire import Batch, ClockSource, Sample, Status

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_QUANTITY_CODES = {q.name: q.code for q in CATALOGUE}
_INSERTS: dict[str, Callable[[Table], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What a batch did: ``seqs`` are all of its samples (now stored, whether by this call or
    an earlier one), ``new_seqs`` those this call inserted (both ascend), ``new_readings`` the
    readings of those."""

    buoy: str
    seqs: tuple[int, ...]
    new_seqs: tuple[int, ...]
    new_readings: int = 0


def utc_from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def seq_ranges(seqs: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Inclusive ascending ``(first, last)`` runs covering ``seqs`` exactly."""
    ranges: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if ranges and ranges[-1][1] == seq - 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return tuple(ranges)


def store_batch(
    conn: Connection, batch: Batch, received_at: datetime, key: int | None = None
) -> StoreResult:
    """Store ``batch`` (already checked to come from ``batch.buoy``) inside ``conn``'s
    transaction. Without ``key`` the buoy's row is created if need be and its ``last_heard``
    moved forward here; a caller that passes the buoy's ``key`` calls ``mark_heard`` itself,
    once for many batches (one statement less per batch)."""
    insert = insert_for(conn)
    if key is None:
        key = _touch_buoy(conn, batch.buoy, received_at, heard=True)
    sample_rows = [_sample_row(key, s, received_at) for s in batch.samples]
    new = set(
        conn.execute(
            insert(samples).on_conflict_do_nothing().returning(samples.c.seq), sample_rows
        ).scalars()
    )
    fresh = sorted((s for s in batch.samples if s.seq in new), key=lambda s: s.seq)
    reading_rows = [
        {
            "buoy_key": key,
            "seq": s.seq,
            "quantity": _QUANTITY_CODES[name],
            "value": v.value,
            "status": int(v.status),
        }
        for s in fresh
        for name, v in s.values.items()
    ]
    if reading_rows:
        conn.execute(insert(readings).on_conflict_do_nothing(), reading_rows)
        latest = {row["quantity"]: row for row in reading_rows}  # ascending seq: last wins
        _update_latest(conn, list(latest.values()))
    return StoreResult(
        batch.buoy,
        tuple(sorted(s.seq for s in batch.samples)),
        tuple(s.seq for s in fresh),
        len(reading_rows),
    )


def store_status(conn: Connection, status: Status, received_at: datetime, *, live: bool) -> int:
    """Record ``status`` as the buoy's current one (statuses apply in arrival order, which
    MQTT keeps per topic) and return the buoy's key. A live online status also counts as
    hearing from the buoy; a retained copy replayed at subscription, or a Last Will sent by the
    broker, does not."""
    fields = {
        "online": status.online,
        "status_as_of": utc_from_ms(status.as_of_ms),
        "status_valid_until": _optional_utc(status.valid_until_ms),
        "next_report": _optional_utc(status.next_report_ms),
    }
    key = _touch_buoy(conn, status.buoy, received_at, heard=live and status.online)
    conn.execute(buoys.update().where(buoys.c.key == key).values(**fields))
    return key


def mark_heard(conn: Connection, key: int, heard_at: datetime) -> None:
    """Move the ``last_heard`` of the buoy with ``key`` forward to ``heard_at``."""
    offered = literal(heard_at, UTCDateTime)
    conn.execute(
        buoys.update()
        .where(buoys.c.key == key)
        .values(last_heard=_later(buoys.c.last_heard, offered))
    )


def insert_for(conn: Connection) -> Callable[[Table], Any]:
    try:
        return _INSERTS[conn.dialect.name]
    except KeyError:
        raise ValueError(f"unsupported database {conn.dialect.name!r}") from None


def _touch_buoy(conn: Connection, buoy: str, received_at: datetime, *, heard: bool) -> int:
    """The buoy's key, creating its row on first sight and moving ``last_heard`` forward."""
    heard_at = received_at if heard else None
    stmt = insert_for(conn)(buoys).values(id=buoy, first_seen=received_at, last_heard=heard_at)
    stmt = stmt.on_conflict_do_update(
        index_elements=[buoys.c.id],
        set_={"last_heard": _later(buoys.c.last_heard, stmt.excluded.last_heard)},
    ).returning(buoys.c.key)
    return int(conn.execute(stmt).scalar_one())


def _later(current: ColumnElement[Any], offered: ColumnElement[Any]) -> ColumnElement[Any]:
    return case(
        (offered.is_(None), current),
        (current.is_(None), offered),
        (offered > current, offered),
        else_=current,
    )


def _sample_row(key: int, sample: Sample, received_at: datetime) -> dict[str, Any]:
    unsynced = sample.clock is ClockSource.UNSYNCED
    return {
        "buoy_key": key,
        "seq": sample.seq,
        "clock": int(sample.clock),
        "time_utc": None if unsynced else utc_from_ms(sample.time_ms),
        "boot": sample.boot if unsynced else None,
        "uptime_ms": sample.time_ms if unsynced else None,
        "received_at": received_at,
        "config_version": sample.config_version,
        "calibration_version": sample.calibration_version,
    }


def _update_latest(conn: Connection, rows: list[dict[str, Any]]) -> None:
    stmt = insert_for(conn)(latest_readings)
    stmt = stmt.on_conflict_do_update(
        index_elements=[latest_readings.c.buoy_key, latest_readings.c.quantity],
        set_={c: stmt.excluded[c] for c in ("seq", "value", "status")},
        where=latest_readings.c.seq < stmt.excluded.seq,
    )
    conn.execute(stmt, rows)


def _optional_utc(ms: int | None) -> datetime | None:
    return None if ms is None else utc_from_ms(ms)
