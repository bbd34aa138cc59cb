"""Dive shops' visibility reports: storing them, showing them, and calibrating each reef's
turbidity-to-visibility conversion with them (the model is in ``dashboard.visibility``).

A report is paired with what the buoy measured when the divers saw the water: the mean
turbidity of the 10-minute roll-ups (``rollups``, period 600 s) whose middle lies within the
pairing window of the report's time, weighted by their number of values (``value_sum / n``).
The pairs of the last ``report_days`` give the reef its own conversion.

``store_report`` keeps a shop from reporting the same reef twice within ``REPEAT_WINDOW``:
a second tap is answered, not stored. It locks the shop first, so that two taps that arrive
together (two web workers) are counted one after the other, and a shop revoked meanwhile
stores nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    and_,
    bindparam,
    func,
    literal_column,
    select,
    union_all,
    update,
)

from dashboard.models import buoys, rollups, shops, visibility_reports
from dashboard.sqltime import PlusSeconds
from dashboard.sqltypes import UTCDateTime
from dashboard.visibility import (
    Conversion,
    Pair,
    VisibilitySettings,
    fit,
)
from nemopi.catalogue import by_name

TURBIDITY = by_name("turbidity").code
BUCKET = timedelta(seconds=600)
REPEAT_WINDOW = timedelta(minutes=10)
TIMES_PER_QUERY = 50  # SQLite allows at most 500 SELECTs in a UNION
DEFAULT_PAIRING_WINDOW = timedelta(minutes=VisibilitySettings().pairing_window_min)


@dataclass(frozen=True)
class VisibilityReport:
    """A shop's report, and the buoy's estimate at the time the divers saw the water."""

    shop: str
    observed_at: datetime
    visibility_m: float
    estimate_m: float | None


@dataclass(frozen=True)
class ReportableReef:
    key: int
    id: str
    name: str
    timezone: str


class Stored(StrEnum):
    STORED = "stored"
    REPEATED = "repeated"  # the shop reported this reef within REPEAT_WINDOW: nothing stored
    REVOKED = "revoked"  # the shop's link was revoked: nothing stored


def reportable_reefs(conn: Connection) -> list[ReportableReef]:
    """The registered buoys' reefs, by name: what a shop can report on."""
    query = (
        select(buoys.c.key, buoys.c.id, func.coalesce(buoys.c.name, buoys.c.id), buoys.c.timezone)
        .where(buoys.c.registered.is_(True))
        .order_by(func.coalesce(buoys.c.name, buoys.c.id))
    )
    return [
        ReportableReef(key, id_, name, tz or "UTC") for key, id_, name, tz in conn.execute(query)
    ]


def store_report(
    conn: Connection,
    shop_key: int,
    buoy_key: int,
    visibility_m: float,
    observed_at: datetime,
    now: datetime,
) -> Stored:
    """Store a report in the caller's transaction, unless the shop may not or just did."""
    if not _lock_active_shop(conn, shop_key):
        return Stored.REVOKED
    recent = conn.execute(
        select(visibility_reports.c.id).where(
            visibility_reports.c.shop_key == shop_key,
            visibility_reports.c.buoy_key == buoy_key,
            visibility_reports.c.received_at > now - REPEAT_WINDOW,
        )
    ).first()
    if recent is not None:
        return Stored.REPEATED
    conn.execute(
        visibility_reports.insert().values(
            buoy_key=buoy_key,
            shop_key=shop_key,
            observed_at=observed_at,
            received_at=now,
            visibility_m=visibility_m,
        )
    )
    return Stored.STORED


def _lock_active_shop(conn: Connection, shop_key: int) -> bool:
    """Take the shop's lock, if it is active, before reading anything: a write that changes
    nothing (PostgreSQL locks the row; SQLite takes its write lock, so no earlier read can go
    stale before the insert)."""
    touched = conn.execute(
        update(shops)
        .where(shops.c.key == shop_key, shops.c.revoked_at.is_(None))
        .values(name=shops.c.name)
    )
    return touched.rowcount == 1


def conversions_for(
    conn: Connection, buoy_keys: Collection[int], settings: VisibilitySettings, now: datetime
) -> dict[int, Conversion]:
    """Each reef's conversion: fitted to its recent reports when they allow, else the defaults.

    One query whatever the number of reefs and reports: the database pairs each report with
    the turbidity buckets of its window (an index range each), as ``turbidity_means`` does for
    given times."""
    window = timedelta(minutes=settings.pairing_window_min)
    observed = visibility_reports.c.observed_at
    paired = (
        select(
            visibility_reports.c.buoy_key,
            visibility_reports.c.visibility_m,
            func.sum(rollups.c.value_sum),
            func.sum(rollups.c.n),
        )
        .join(
            rollups,
            and_(
                rollups.c.buoy_key == visibility_reports.c.buoy_key,
                _is_turbidity_bucket(),
                rollups.c.bucket_start.between(
                    PlusSeconds(observed, -(window + BUCKET / 2)),
                    PlusSeconds(observed, window - BUCKET / 2),
                ),
            ),
        )
        .where(
            visibility_reports.c.buoy_key.in_(buoy_keys),
            observed >= now - timedelta(days=settings.report_days),
            observed <= now,
        )
        .group_by(
            visibility_reports.c.id,
            visibility_reports.c.buoy_key,
            visibility_reports.c.visibility_m,
        )
    )
    pairs: dict[int, list[Pair]] = {key: [] for key in buoy_keys}
    for buoy_key, visibility_m, total, n in conn.execute(paired):
        pairs[buoy_key].append(Pair(total / n, visibility_m))
    return {key: fit(settings, found) for key, found in pairs.items()}


def conversion_for(
    conn: Connection, buoy_key: int, settings: VisibilitySettings, now: datetime
) -> Conversion:
    """One reef's conversion (see ``conversions_for``)."""
    return conversions_for(conn, [buoy_key], settings, now)[buoy_key]


def recent_reports(
    conn: Connection,
    buoy_key: int,
    since: datetime,
    conversion: Conversion,
    window: timedelta = DEFAULT_PAIRING_WINDOW,
) -> list[VisibilityReport]:
    """The reef's reports observed at or after ``since``, newest first, each with the buoy's
    estimate (through ``conversion``) of the turbidity within ``window`` of it."""
    rows = conn.execute(
        select(shops.c.name, visibility_reports.c.observed_at, visibility_reports.c.visibility_m)
        .join(shops, shops.c.key == visibility_reports.c.shop_key)
        .where(visibility_reports.c.buoy_key == buoy_key, visibility_reports.c.observed_at >= since)
        .order_by(visibility_reports.c.observed_at.desc(), visibility_reports.c.id.desc())
    ).all()
    means = turbidity_means(conn, buoy_key, [row.observed_at for row in rows], window)
    return [
        VisibilityReport(
            row.name,
            row.observed_at,
            row.visibility_m,
            None if mean is None else conversion.visibility_m(mean),
        )
        for row, mean in zip(rows, means, strict=True)
    ]


def turbidity_means(
    conn: Connection, buoy_key: int, times: Sequence[datetime], window: timedelta
) -> list[float | None]:
    """For each of ``times``, the mean turbidity (NTU) of the 10-minute buckets whose middle
    lies within ``window`` of it; None where there is none.

    The database sums each time's few buckets (an index range each), ``TIMES_PER_QUERY``
    times to a statement built once. Fetching every bucket of the reports' 90 days instead
    costs a third of a second on SQLite (turning 13,000 timestamps into datetimes), and a
    statement per time costs more in SQLAlchemy than in the database.
    """
    half = BUCKET / 2
    sums: dict[int, tuple[float | None, int | None]] = {}
    for first in range(0, len(times), TIMES_PER_QUERY):
        chunk = list(times[first : first + TIMES_PER_QUERY])
        chunk += chunk[-1:] * (TIMES_PER_QUERY - len(chunk))  # the statement's fixed size
        params: dict[str, object] = {"buoy": buoy_key}
        for i, t in enumerate(chunk):
            params[f"first{i}"] = t - window - half
            params[f"last{i}"] = t + window - half
        rows = conn.execute(_sums_query(), params)
        sums.update((first + i, (total, n)) for i, total, n in rows)
    means: list[float | None] = []
    for i in range(len(times)):
        total, n = sums[i]
        means.append(total / n if total is not None and n else None)
    return means


def _is_turbidity_bucket() -> ColumnElement[bool]:
    """A 10-minute turbidity roll-up with values in it."""
    return and_(
        rollups.c.quantity == TURBIDITY,
        rollups.c.period_s == int(BUCKET.total_seconds()),
        rollups.c.n > 0,
    )


@cache
def _sums_query() -> CompoundSelect:
    """Per time ``i``: ``i``, the sum and the count of the turbidity buckets in its span."""
    return union_all(
        *(
            select(
                literal_column(str(i)), func.sum(rollups.c.value_sum), func.sum(rollups.c.n)
            ).where(
                rollups.c.buoy_key == bindparam("buoy"),
                _is_turbidity_bucket(),
                rollups.c.bucket_start.between(
                    bindparam(f"first{i}", type_=UTCDateTime),
                    bindparam(f"last{i}", type_=UTCDateTime),
                ),
            )
            for i in range(TIMES_PER_QUERY)
        )
    )
