"""The rows of an export: one per sample, wide, in a stable order, fetched chunk by chunk.

``plan_export`` checks a request against the database (the buoys exist, the row count is within
the limit; the count stops at the limit, so asking never scans more than that) and fixes the QC
version whose flags are exported. ``iter_chunks`` then yields lists of rows.

Order and restarting: rows come in (time, buoy id, seq) order. Each buoy is read by keyset
pagination on its (time_utc, seq), ``chunk_rows`` samples per query, each query its own short
read on a connection taken from the pool and given back at once, so a download of millions of
rows neither holds a connection between chunks nor keeps memory beyond a chunk. Several buoys
are merged in Python, which keeps each buoy's query on its (buoy, time) index. Samples without
a UTC time (taken before the buoy's clock was set) are not exported.

A row is (time, buoy_id, seq, latitude, longitude, position_source, then per quantity its
value, QARTOD flag and sensor status name); see ``columns``. The query makes the rows whole, so
Python only passes them on. Position is the sample's GPS fix when
both coordinates have a value whose flag the request keeps, else the buoy's registered mooring,
else empty. A flag is the aggregate of the current QC version; a reading QC has not flagged yet
is NOT_EVALUATED (2), or MISSING (9) when it has no value or the sample does not carry it. A
value whose flag the request does not keep is left empty; its flag and status stay, so the
reader sees why.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Double,
    Engine,
    FromClause,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    select,
    type_coerce,
)
from sqlalchemy.types import NullType

from dashboard.export.request import ExportRequest, RequestError
from dashboard.models import buoys, qc_flags, readings, samples
from dashboard.qc.flags import Flag
from dashboard.qc.store import current_version
from dashboard.sqltypes import UTCDateTime
from nemopi.catalogue import Quantity, by_name
from nemopi.sensor_status import SensorStatus

LATITUDE = by_name("latitude")
LONGITUDE = by_name("longitude")
_STATUS_NAMES = {int(s): s.name for s in SensorStatus}
SEQ = 2  # where a row holds its seq (see columns.LEADING)

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class BuoyInfo:
    """A buoy's row as the export needs it; the fields are ``buoys`` columns."""

    key: int
    id: str
    name: str | None
    mooring_latitude: float | None
    mooring_longitude: float | None
    mooring_radius_m: float | None
    timezone: str | None


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """A checked request: its buoys (by id), the QC version of the flags, and how many rows
    it holds (exact, since it is within the limit)."""

    request: ExportRequest
    buoys: tuple[BuoyInfo, ...]
    qc_version: str | None
    rows: int


class TooManyRows(Exception):
    """More rows than one export may hold; ``message`` says how to split the request."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def plan_export(conn: Connection, request: ExportRequest, max_rows: int) -> ExportPlan:
    """Check ``request`` against what is stored; raise ``RequestError`` for an unknown buoy
    and ``TooManyRows`` beyond ``max_rows``."""
    query = select(*(buoys.c[f.name] for f in fields(BuoyInfo))).order_by(buoys.c.id)
    if request.buoys is not None:
        query = query.where(buoys.c.id.in_(request.buoys))
    found = tuple(BuoyInfo(*row) for row in conn.execute(query))
    if request.buoys is not None and len(found) < len(request.buoys):
        missing = sorted(set(request.buoys) - {b.id for b in found})
        raise RequestError("buoy", f"no buoy {missing[0]!r} is stored")
    limited = (
        select(literal(1))
        .where(samples.c.buoy_key.in_([b.key for b in found]), *time_range(request))
        .limit(max_rows + 1)
        .subquery()
    )
    count = int(conn.execute(select(func.count()).select_from(limited)).scalar_one())
    if count > max_rows:
        raise TooManyRows(_split_advice(max_rows))
    return ExportPlan(request, found, current_version(conn), count)


def iter_chunks(engine: Engine, plan: ExportPlan, chunk_rows: int) -> Iterator[list[Row]]:
    """The plan's rows in (time, buoy id, seq) order, in lists of at most ``chunk_rows``."""
    if not plan.buoys:
        return
    per_buoy = max(1, chunk_rows // len(plan.buoys))
    streams = [_buoy_chunks(engine, plan, buoy, per_buoy) for buoy in plan.buoys]
    if len(streams) == 1:
        yield from streams[0]
        return
    merged = heapq.merge(*(_flatten(s) for s in streams), key=_order)
    chunk: list[Row] = []
    for row in merged:
        chunk.append(row)
        if len(chunk) == chunk_rows:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _order(row: Row) -> tuple[str, str]:
    return row[0], row[1]  # the time as fixed-width UTC text sorts chronologically


def _flatten(chunks: Iterator[list[Row]]) -> Iterator[Row]:
    for chunk in chunks:
        yield from chunk


def _buoy_chunks(
    engine: Engine, plan: ExportPlan, buoy: BuoyInfo, chunk_rows: int
) -> Iterator[list[Row]]:
    dialect = engine.dialect.name
    first = buoy_query(plan, buoy, dialect, keyset=False).limit(chunk_rows)
    following = buoy_query(plan, buoy, dialect, keyset=True).limit(chunk_rows)
    params: dict[str, Any] = {}
    stmt = first
    while True:
        with engine.connect() as conn:
            # The driver's own tuples: the query has made the rows whole already, and
            # wrapping each in a SQLAlchemy Row would cost a sixth of the export's time.
            result = conn.execute(stmt, params)
            fetched = result.cursor.fetchall()
            result.close()
        if not fetched:
            return
        yield [row[:-1] for row in fetched]
        if len(fetched) < chunk_rows:
            return
        last = fetched[-1]
        params = {"after_time": last[-1], "after_seq": last[SEQ]}
        stmt = following


def buoy_query(plan: ExportPlan, buoy: BuoyInfo, dialect: str, *, keyset: bool) -> Select[Any]:
    """One buoy's exported rows in (time, seq) order, each followed by its raw stored time
    (for the keyset). The database does the shaping (flags, kept values, status names,
    position), so that a fetched row is an exported row and Python only passes it on. Without
    ``keyset`` it is the buoy's whole export (bench/export_csv.py gives it to sqlite3 as is)."""
    s = samples.alias("s")
    keep = sorted(int(f) for f in plan.request.flags)
    source: FromClause = s
    joined: dict[Quantity, tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]]] = {}
    for q in _joined(plan):
        r = readings.alias(f"r{q.code}")
        source = source.outerjoin(
            r, and_(r.c.buoy_key == s.c.buoy_key, r.c.seq == s.c.seq, r.c.quantity == q.code)
        )
        stored_flag: ColumnElement[Any] = null()
        if plan.qc_version is not None:
            f = qc_flags.alias(f"f{q.code}")
            source = source.outerjoin(
                f,
                and_(
                    f.c.buoy_key == s.c.buoy_key,
                    f.c.seq == s.c.seq,
                    f.c.quantity == q.code,
                    f.c.qc_version == plan.qc_version,
                ),
            )
            stored_flag = f.c.aggregate
        flag = func.coalesce(
            stored_flag,
            case((r.c.value.is_(None), int(Flag.MISSING)), else_=int(Flag.NOT_EVALUATED)),
        )
        joined[q] = (r.c.value, flag, r.c.status)
    columns = [
        _iso_text(s.c.time_utc, dialect),
        literal(buoy.id, String),
        s.c.seq,
        *_position(joined, keep, buoy),
    ]
    for q in plan.request.quantities:
        value, flag, status = joined[q]
        columns += [case((flag.in_(keep), value)), flag, _status_name(status)]
    raw_time = type_coerce(s.c.time_utc, NullType())
    where = [s.c.buoy_key == buoy.key, *time_range(plan.request, s.c.time_utc)]
    if keyset:
        after_time = bindparam("after_time", type_=NullType())
        where += [
            raw_time >= after_time,
            (raw_time > after_time) | (s.c.seq > bindparam("after_seq")),
        ]
    return (
        select(*columns, raw_time).select_from(source).where(*where).order_by(s.c.time_utc, s.c.seq)
    )


def _position(
    joined: dict[Quantity, tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]]],
    keep: list[int],
    buoy: BuoyInfo,
) -> list[ColumnElement[Any]]:
    """latitude, longitude, position_source: the GPS fix when both coordinates have a value
    with a kept flag, else the mooring (NULL when none is registered)."""
    lat, lat_flag, _ = joined[LATITUDE]
    lon, lon_flag, _ = joined[LONGITUDE]
    fix = and_(lat.is_not(None), lon.is_not(None), lat_flag.in_(keep), lon_flag.in_(keep))
    moored = buoy.mooring_latitude is not None and buoy.mooring_longitude is not None
    return [
        case((fix, lat), else_=literal(buoy.mooring_latitude if moored else None, Double)),
        case((fix, lon), else_=literal(buoy.mooring_longitude if moored else None, Double)),
        case((fix, literal("gps")), else_=literal("mooring" if moored else None, String)),
    ]


def _status_name(status: ColumnElement[Any]) -> ColumnElement[Any]:
    """The sensor status's name; a number this dashboard does not know stays a number."""
    return case(_STATUS_NAMES, value=status, else_=cast(status, String))


def time_range(
    request: ExportRequest, time: ColumnElement[Any] = samples.c.time_utc
) -> list[ColumnElement[bool]]:
    bounds = [time.is_not(None)]
    if request.start is not None:
        bounds.append(time >= literal(request.start, UTCDateTime))
    if request.end is not None:
        bounds.append(time < literal(request.end, UTCDateTime))
    return bounds


def _iso_text(time: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """The time as UTC ISO 8601 text with milliseconds and a Z, made by the database: SQLite
    keeps ``YYYY-MM-DD HH:MM:SS.ffffff`` text (dashboard.sqltypes), PostgreSQL a timestamptz.
    Formatting in SQL spares Python a datetime object per row."""
    if dialect == "postgresql":
        return func.to_char(
            func.timezone("UTC", time), literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'""")
        )
    raw = type_coerce(time, NullType())
    return (
        func.substr(raw, 1, 10)
        .op("||")(literal_column("'T'"))
        .op("||")(func.substr(raw, 12, 12))
        .op("||")(literal_column("'Z'"))
    )


def _joined(plan: ExportPlan) -> tuple[Quantity, ...]:
    """The quantities the query joins: position (for the coordinates) and those asked for."""
    return tuple(dict.fromkeys((LATITUDE, LONGITUDE, *plan.request.quantities)))


def _split_advice(max_rows: int) -> str:
    """What to tell someone whose request holds more rows than one export may."""
    return (
        f"more than {max_rows:,} rows (samples) asked for, at most {max_rows:,} per request: "
        "split the time range (by month, or shorter) or ask for fewer buoys"
    )
