"""Chart roll-ups: per buoy, quantity and time bucket, the statistics a chart draws.

A chart of a year must cost about what a chart of a day costs, so charts never read the raw
readings: they read ``rollups`` rows, one per bucket, at four levels (10 minutes, 1 hour,
6 hours, 1 day) and each window picks the level that gives it a few hundred buckets. Buckets are
aligned to multiples of their length since the UTC epoch.

A bucket holds ``n``, ``value_sum``, ``value_min`` and ``value_max`` of its *usable* readings:
a value, sensor status OK, and a current QC aggregate flag that is neither fail (4) nor missing
(9); a reading QC has not flagged yet counts as not evaluated, so usable. ``n_suspect`` counts
the usable ones QC called suspect (3), ``n_bad`` the readings left out. The current QC version
is the one activated last. Samples without a UTC time (clock unsynced) are in no bucket.

Buckets are recomputed whole, never incremented: ``refresh`` rebuilds every bucket that
contains one of the given times from its source (the 10-minute level from the readings, each
coarser level from the level below), upserts it and deletes it when it no longer has readings.
Duplicates, out-of-order arrivals and flag changes therefore cannot skew a bucket, and a
bucket is right as soon as the transaction that changed its source and refreshed it commits.
Writers of one buoy's roll-ups are serialised on the buoy's row (``FOR NO KEY UPDATE`` on
PostgreSQL; SQLite has one writer anyway), so two ingest workers never compute a bucket from
each other's uncommitted halves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
    true,
)

from dashboard import process as proc
from dashboard.config import IngestConfig, load_ingest_config
from dashboard.models import buoys, qc_configs, qc_flags, readings, rollups, samples
from dashboard.qc.flags import Flag
from dashboard.qc.store import flags_of
from dashboard.sqltime import BucketStart, UTCFromEpoch
from dashboard.sqltypes import UTCDateTime
from dashboard.storage import EPOCH, insert_for
from nemopi.catalogue import CATALOGUE, Quantity
from nemopi.sensor_status import SensorStatus

log = logging.getLogger(__name__)

PERIODS_S = (600, 3600, 21600, 86400)
WINDOWS = {
    "24h": (timedelta(hours=24), 600),
    "7d": (timedelta(days=7), 3600),
    "30d": (timedelta(days=30), 21600),
    "1y": (timedelta(days=365), 86400),
}
HOURLY_S = 3600
QC_LEFT_OUT = (int(Flag.FAIL), int(Flag.MISSING))
REBUILD_CHUNK_S = 7 * 86400  # a multiple of the longest period, so a chunk holds whole buckets
MAX_RANGES_PER_QUERY = 200  # keeps one statement's text bounded when times are scattered

_QUANTITY_CODES = [quantity.code for quantity in CATALOGUE]
_STATISTICS = ("n", "n_suspect", "n_bad", "value_sum", "value_min", "value_max")


@dataclass(frozen=True)
class ChartSeries:
    """One chart's buckets, dense: an entry per bucket from ``start`` (the first bucket's
    start) to ``end`` (the last bucket's end; the last bucket contains "now"). ``mean``,
    ``min`` and ``max`` are None where a bucket has no usable value, which a chart draws as a
    gap; ``n``, ``n_suspect`` and ``n_bad`` are 0 there when nothing arrived at all."""

    quantity: Quantity
    window: str
    period_s: int
    start: datetime
    end: datetime
    times: tuple[datetime, ...]
    mean: tuple[float | None, ...]
    min: tuple[float | None, ...]
    max: tuple[float | None, ...]
    n: tuple[int, ...]
    n_suspect: tuple[int, ...]
    n_bad: tuple[int, ...]


# ---------------------------------------------------------------- keeping them up to date


def refresh(conn: Connection, buoy_key: int, times: Iterable[datetime]) -> int:
    """Recompute, in ``conn``'s transaction, every level's bucket that contains one of
    ``times`` (sample times of ``buoy_key``); the number of bucket rows written."""
    first = PERIODS_S[0]
    starts = sorted({_floor(_epoch(t), first) for t in times})
    if not starts:
        return 0
    return _refresh_ranges(conn, buoy_key, _merge((s, s + first) for s in starts))


def refresh_samples(conn: Connection, buoy_key: int, seqs: Iterable[int]) -> int:
    """``refresh`` for the buckets of samples known by seq (those QC just flagged)."""
    wanted = sorted(set(seqs))
    if not wanted:
        return 0
    times = conn.execute(
        select(samples.c.time_utc).where(
            samples.c.buoy_key == buoy_key,
            samples.c.seq.in_(wanted),
            samples.c.time_utc.is_not(None),
        )
    ).scalars()
    return refresh(conn, buoy_key, times)


def rebuild(
    engine: Engine,
    buoy_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Recompute every bucket of one buoy or all from the readings, or only the UTC days
    that hold samples or buckets in [``since``, ``until``] (whole days, so that no coarse
    bucket is summed from a half-rebuilt level below); the number of bucket rows written.
    Works in transactions of ``REBUILD_CHUNK_S`` of time, so memory stays bounded."""
    with engine.connect() as conn:
        query = select(buoys.c.key, buoys.c.id).order_by(buoys.c.key)
        if buoy_id is not None:
            query = query.where(buoys.c.id == buoy_id)
        found = conn.execute(query).all()
    if buoy_id is not None and not found:
        raise ValueError(f"no buoy {buoy_id!r} in the database")
    written = 0
    for key, name in found:
        for start, end in _rebuild_chunks(engine, key, since, until):
            with engine.begin() as conn:
                written += _refresh_ranges(conn, key, [(start, end)])
        log.info("roll-ups of %s rebuilt (%d bucket rows so far)", name, written)
    return written


def rebuild_if_missing(engine: Engine) -> int:
    """Build the roll-ups of a database that has synced samples but no roll-up at all (one
    stored before roll-ups existed): the ingest calls it at start, so that charts never stay
    empty after an upgrade. The number of bucket rows written; 0 when nothing was missing."""
    with engine.connect() as conn:
        has_rollups = conn.execute(select(rollups.c.buoy_key).limit(1)).first() is not None
        has_samples = (
            conn.execute(
                select(samples.c.seq).where(samples.c.time_utc.is_not(None)).limit(1)
            ).first()
            is not None
        )
    if has_rollups or not has_samples:
        return 0
    log.warning("readings without chart roll-ups (stored before they existed): building them")
    return rebuild(engine)


def _rebuild_chunks(
    engine: Engine, key: int, since: datetime | None, until: datetime | None
) -> Iterator[tuple[int, int]]:
    """Epoch-second ranges covering the buoy's samples and existing roll-ups in bounds."""
    with engine.connect() as conn:
        found = conn.execute(
            select(func.min(samples.c.time_utc), func.max(samples.c.time_utc)).where(
                samples.c.buoy_key == key, *_bounds(samples.c.time_utc, since, until)
            )
        ).one()
        kept = conn.execute(
            select(func.min(rollups.c.bucket_start), func.max(rollups.c.bucket_start)).where(
                rollups.c.buoy_key == key, *_bounds(rollups.c.bucket_start, since, until)
            )
        ).one()
    earliest = [t for t in (found[0], kept[0]) if t is not None]
    latest = [t for t in (found[1], kept[1]) if t is not None]
    if not earliest:
        return
    whole = PERIODS_S[-1]  # whole days, so every level's touched buckets are recomputed whole
    first = _floor(_epoch(min(earliest)), whole)
    last = _floor(_epoch(max(latest)), whole) + whole
    for start in range(_floor(first, REBUILD_CHUNK_S), last, REBUILD_CHUNK_S):
        yield max(start, first), min(start + REBUILD_CHUNK_S, last)


def _bounds(
    column: ColumnElement[datetime], since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    conditions = [column.is_not(None)]
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column <= until)
    return conditions


def _refresh_ranges(conn: Connection, key: int, ranges: Sequence[tuple[int, int]]) -> int:
    """Recompute every level's buckets overlapping ``ranges`` (epoch seconds, aligned to the
    finest period), each level from the one below."""
    conn.execute(_LOCK_BUOY, {"key": key})
    insert = insert_for(conn)
    written = 0
    source: int | None = None
    for period in PERIODS_S:
        aligned = _merge((_floor(a, period), _ceil(b, period)) for a, b in ranges)
        for part in _parts(aligned):
            params = _params(key, part)
            conn.execute(_delete(period, len(part)), params)
            written += conn.execute(_recompute(insert, period, source, len(part)), params).rowcount
        source = period
    return written


# Statements are built once per shape (level, number of time ranges) with bound parameters:
# building SQLAlchemy expressions costs more than running them on a one-sample batch.
_KEY = bindparam("key")

# Serialise roll-up writers of one buoy until the transaction ends. ``FOR NO KEY UPDATE`` does
# not wait for inserts that merely reference the buoy (they hold ``FOR KEY SHARE``).
_LOCK_BUOY = select(buoys.c.key).where(buoys.c.key == _KEY).with_for_update(key_share=True)


@cache
def _recompute(insert: Callable[[Table], Any], period: int, source: int | None, ranges: int) -> Any:
    """One statement that writes ``period``'s buckets in ``ranges`` time ranges from the
    readings when ``source`` is None, else from the ``source`` level's rows. The rows never
    leave the database: a batch of a thousand samples costs one round trip per level."""
    if source is None:
        inner = _usable_readings(period, ranges)
        sums = (
            func.sum(case((inner.c.usable, 1), else_=0)),
            func.sum(case((and_(inner.c.usable, inner.c.flag == int(Flag.SUSPECT)), 1), else_=0)),
            func.sum(case((inner.c.usable, 0), else_=1)),
            func.sum(case((inner.c.usable, inner.c.value))),
            func.min(case((inner.c.usable, inner.c.value))),
            func.max(case((inner.c.usable, inner.c.value))),
        )
    else:
        inner = (
            select(
                rollups.c.quantity,
                BucketStart(rollups.c.bucket_start, period).label("bucket"),
                *(rollups.c[name] for name in _STATISTICS),
            )
            .where(*_level(source), _within(rollups.c.bucket_start, ranges))
            .subquery()
        )
        sums = (
            func.sum(inner.c.n),
            func.sum(inner.c.n_suspect),
            func.sum(inner.c.n_bad),
            func.sum(inner.c.value_sum),
            func.min(inner.c.value_min),
            func.max(inner.c.value_max),
        )
    grouped = (
        select(
            _KEY,
            inner.c.quantity,
            literal_column(str(period)),
            UTCFromEpoch(inner.c.bucket),
            *sums,
        )
        .select_from(inner)
        .where(true())  # SQLite: without a WHERE, "ON CONFLICT" would parse as a join's ON
        .group_by(inner.c.quantity, inner.c.bucket)
    )
    columns = ["buoy_key", "quantity", "period_s", "bucket_start", *_STATISTICS]
    stmt = insert(rollups).from_select(columns, grouped)
    return stmt.on_conflict_do_update(
        index_elements=[
            rollups.c.buoy_key,
            rollups.c.quantity,
            rollups.c.period_s,
            rollups.c.bucket_start,
        ],
        set_={name: stmt.excluded[name] for name in _STATISTICS},
    ).execution_options(preserve_rowcount=True)


def _usable_readings(period: int, ranges: int) -> Any:
    """The readings of samples in the time ranges, each with its bucket, current QC flag and
    whether it counts (see the module's docstring)."""
    current = (
        select(qc_configs.c.version)
        .order_by(qc_configs.c.last_activated.desc())
        .limit(1)
        .scalar_subquery()
    )
    flag = qc_flags.c.aggregate
    usable = and_(
        readings.c.value.is_not(None),
        readings.c.status == int(SensorStatus.OK),
        or_(flag.is_(None), flag.not_in(QC_LEFT_OUT)),
    )
    return (
        select(
            readings.c.quantity,
            BucketStart(samples.c.time_utc, period).label("bucket"),
            readings.c.value,
            flag.label("flag"),
            case((usable, True), else_=False).label("usable"),
        )
        .select_from(samples)
        .join(
            readings,
            and_(readings.c.buoy_key == samples.c.buoy_key, readings.c.seq == samples.c.seq),
        )
        .outerjoin(
            qc_flags,
            flags_of(readings, current),
        )
        .where(samples.c.buoy_key == _KEY, _within(samples.c.time_utc, ranges))
        .subquery()
    )


@cache
def _delete(period: int, ranges: int) -> Any:
    """Every row of ``period`` in the time ranges: those still backed by readings are
    written again right after, the others must go."""
    return delete(rollups).where(*_level(period), _within(rollups.c.bucket_start, ranges))


def _params(key: int, ranges: Sequence[tuple[int, int]]) -> dict[str, Any]:
    params: dict[str, Any] = {"key": key}
    for i, (a, b) in enumerate(ranges):
        params[f"from_{i}"] = _utc(a)
        params[f"to_{i}"] = _utc(b)
    return params


def rebuild_command(
    config_path: Path, buoy_id: str | None, since: str | None, until: str | None
) -> int:
    """``nemopi rollups rebuild``: the ingest's TOML file names the database; the exit code."""

    def work(_config: IngestConfig, engine: Engine) -> None:
        written = rebuild(engine, buoy_id, *proc.parse_range(since, until))
        log.info("roll-ups rebuilt: %d bucket rows written", written)

    return proc.run_on_database(config_path, load_ingest_config, "rollups", work)


# ---------------------------------------------------------------- reading them


def series(
    conn: Connection, buoy_key: int, quantity: Quantity, window: str, now: datetime
) -> ChartSeries:
    """The ``window`` (a key of ``WINDOWS``) of ``quantity`` ending with the bucket that
    contains ``now``."""
    try:
        span, period = WINDOWS[window]
    except KeyError:
        raise ValueError(f"unknown chart window {window!r}; one of {', '.join(WINDOWS)}") from None
    count = int(span.total_seconds()) // period
    last = _floor(_epoch(now), period)
    first = last - (count - 1) * period
    found = {
        _epoch(row.bucket_start): row
        for row in conn.execute(
            select(rollups.c.bucket_start, *(rollups.c[name] for name in _STATISTICS)).where(
                rollups.c.buoy_key == buoy_key,
                rollups.c.quantity == quantity.code,
                rollups.c.period_s == period,
                rollups.c.bucket_start.between(_utc(first), _utc(last)),
            )
        )
    }
    starts = range(first, last + period, period)
    rows = [found.get(start) for start in starts]
    return ChartSeries(
        quantity=quantity,
        window=window,
        period_s=period,
        start=_utc(first),
        end=_utc(last + period),
        times=tuple(_utc(start) for start in starts),
        mean=tuple(_mean(row) for row in rows),
        min=tuple(row.value_min if row is not None and row.n else None for row in rows),
        max=tuple(row.value_max if row is not None and row.n else None for row in rows),
        n=tuple(row.n if row is not None else 0 for row in rows),
        n_suspect=tuple(row.n_suspect if row is not None else 0 for row in rows),
        n_bad=tuple(row.n_bad if row is not None else 0 for row in rows),
    )


def hourly_means(
    conn: Connection, buoy_key: int, quantity: Quantity, since: datetime, until: datetime
) -> list[tuple[datetime, float]]:
    """(start, mean) of each 1-hour bucket starting in [``since``, ``until``) that has usable
    values, oldest first."""
    rows = conn.execute(
        select(rollups.c.bucket_start, rollups.c.value_sum, rollups.c.n)
        .where(
            rollups.c.buoy_key == buoy_key,
            rollups.c.quantity == quantity.code,
            rollups.c.period_s == HOURLY_S,
            rollups.c.bucket_start >= since,
            rollups.c.bucket_start < until,
            rollups.c.n > 0,
        )
        .order_by(rollups.c.bucket_start)
    )
    return [(start, total / n) for start, total, n in rows]


def _mean(row: Any) -> float | None:
    return row.value_sum / row.n if row is not None and row.n else None


# ---------------------------------------------------------------- time arithmetic


def _level(period: int) -> list[ColumnElement[bool]]:
    """One buoy's rows of one level. The quantity list looks redundant but lets the primary
    key (buoy, quantity, period, start) serve the time range instead of a scan of the buoy."""
    return [
        rollups.c.buoy_key == _KEY,
        rollups.c.quantity.in_(_QUANTITY_CODES),
        rollups.c.period_s == period,
    ]


def _within(column: ColumnElement[datetime], ranges: int) -> ColumnElement[bool]:
    """``column`` in one of ``ranges`` half-open time ranges, bound as ``from_i``/``to_i``."""
    return or_(
        *(
            and_(
                column >= bindparam(f"from_{i}", type_=UTCDateTime),
                column < bindparam(f"to_{i}", type_=UTCDateTime),
            )
            for i in range(ranges)
        )
    )


def _parts(ranges: Sequence[tuple[int, int]]) -> Iterator[Sequence[tuple[int, int]]]:
    for i in range(0, len(ranges), MAX_RANGES_PER_QUERY):
        yield ranges[i : i + MAX_RANGES_PER_QUERY]


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping, non-touching half-open ranges covering ``ranges``."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _epoch(when: datetime) -> int:
    return (when - EPOCH) // timedelta(seconds=1)


def _floor(seconds: int, period: int) -> int:
    return seconds - seconds % period


def _ceil(seconds: int, period: int) -> int:
    return -(-seconds // period) * period


def _utc(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)
