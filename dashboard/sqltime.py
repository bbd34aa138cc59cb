"""Time arithmetic on ``UTCDateTime`` columns, done by the database on either dialect.

SQLite stores a ``UTCDateTime`` as fixed-width text and PostgreSQL as ``timestamptz``
(``dashboard.sqltypes``), so the same arithmetic is different SQL on each: every expression
here compiles to its dialect's form. Roll-ups bucket sample times with ``BucketStart`` and
turn buckets back into times with ``UTCFromEpoch``; visibility reports find the buckets around
a report with ``PlusSeconds``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Float, literal, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from dashboard.sqltypes import UTCDateTime


class PlusSeconds(FunctionElement[datetime]):
    """``time + seconds`` for a ``UTCDateTime`` column, computed by the database: SQLite
    stores the time as text (see ``dashboard.sqltypes``), PostgreSQL as ``timestamptz``."""

    type = UTCDateTime()
    inherit_cache = True

    def __init__(self, time: ColumnElement[datetime], delta: timedelta) -> None:
        super().__init__(time, literal(delta.total_seconds(), Float))


@compiles(PlusSeconds, "sqlite")
def _plus_seconds_sqlite(element: PlusSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    """The same fixed-width text UTCDateTime stores; SQLite keeps milliseconds, so ``000``
    makes up the microseconds (roll-up buckets start on whole minutes)."""
    time, seconds = (compiler.process(c, **kw) for c in element.clauses)
    return f"(strftime('%Y-%m-%d %H:%M:%f', {time}, {seconds} || ' seconds') || '000')"


@compiles(PlusSeconds, "postgresql")
def _plus_seconds_postgresql(element: PlusSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    time, seconds = (compiler.process(c, **kw) for c in element.clauses)
    return f"({time} + {seconds} * interval '1 second')"


class BucketStart(FunctionElement[int]):
    """The start, in seconds since the UTC epoch, of the ``period``-second bucket that
    contains a ``UTCDateTime`` column's time, on either dialect. The period is a literal, part
    of the statement's shape like the level it belongs to."""

    type = BigInteger()
    name = "bucket_start"
    inherit_cache = True

    def __init__(self, column: ColumnElement[datetime], period: int) -> None:
        super().__init__(column, literal_column(str(int(period))))


@compiles(BucketStart, "sqlite")
def _bucket_sqlite(element: BucketStart, compiler: SQLCompiler, **kw: Any) -> str:
    column, period = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST(strftime('%s', {column}) AS INTEGER) / {period} * {period})"


@compiles(BucketStart, "postgresql")
def _bucket_postgresql(element: BucketStart, compiler: SQLCompiler, **kw: Any) -> str:
    column, period = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST(floor(extract(epoch FROM {column})) AS BIGINT) / {period} * {period})"


class UTCFromEpoch(FunctionElement[datetime]):
    """The ``UTCDateTime`` value, as each dialect stores it, of whole seconds since the epoch."""

    type = UTCDateTime()
    name = "utc_from_epoch"
    inherit_cache = True


@compiles(UTCFromEpoch, "sqlite")
def _utc_sqlite(element: UTCFromEpoch, compiler: SQLCompiler, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:%M:%S.000000', {seconds}, 'unixepoch')"


@compiles(UTCFromEpoch, "postgresql")
def _utc_postgresql(element: UTCFromEpoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_timestamp({compiler.process(element.clauses, **kw)})"
