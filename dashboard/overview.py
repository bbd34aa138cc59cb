"""The overview's read model: every buoy, its link state and its latest value per quantity.

Two small queries whatever the history holds (buoys, and the ``latest_readings`` cache joined
to its samples), so the page stays fast on a phone at dawn. Read-only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, and_, select

from dashboard.models import buoys, latest_readings, samples
from nemopi.catalogue import Quantity, by_code
from nemopi.sensor_status import SensorStatus
from nemopi.wire import ClockSource


class LinkState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"  # said so, or its online status has expired
    UNKNOWN = "unknown"  # no status received yet


@dataclass(frozen=True, slots=True)
class LatestReading:
    quantity: Quantity
    value: float | None
    status: SensorStatus
    seq: int
    clock: ClockSource
    time_utc: datetime | None  # None: taken before the buoy's clock was set
    received_at: datetime


@dataclass(frozen=True, slots=True)
class BuoyOverview:
    id: str
    state: LinkState
    first_seen: datetime
    last_heard: datetime | None
    status_as_of: datetime | None
    next_report: datetime | None
    readings: tuple[LatestReading, ...]  # catalogue order


def link_state(online: bool | None, valid_until: datetime | None, now: datetime) -> LinkState:
    if online is None:
        return LinkState.UNKNOWN
    if online and (valid_until is None or now <= valid_until):
        return LinkState.ONLINE
    return LinkState.OFFLINE


def load_overview(conn: Connection, now: datetime) -> list[BuoyOverview]:
    readings_by_buoy: dict[int, list[LatestReading]] = defaultdict(list)
    query = select(
        latest_readings.c.buoy_key,
        latest_readings.c.quantity,
        latest_readings.c.value,
        latest_readings.c.status,
        latest_readings.c.seq,
        samples.c.clock,
        samples.c.time_utc,
        samples.c.received_at,
    ).join(
        samples,
        and_(
            samples.c.buoy_key == latest_readings.c.buoy_key, samples.c.seq == latest_readings.c.seq
        ),
    )
    for row in conn.execute(query):
        quantity = by_code(row.quantity)
        if quantity is None:  # a code retired from the catalogue since it was stored
            continue
        readings_by_buoy[row.buoy_key].append(
            LatestReading(
                quantity,
                row.value,
                SensorStatus(row.status),
                row.seq,
                ClockSource(row.clock),
                row.time_utc,
                row.received_at,
            )
        )
    return [
        BuoyOverview(
            id=b.id,
            state=link_state(b.online, b.status_valid_until, now),
            first_seen=b.first_seen,
            last_heard=b.last_heard,
            status_as_of=b.status_as_of,
            next_report=b.next_report,
            readings=tuple(sorted(readings_by_buoy[b.key], key=lambda r: r.quantity.code)),
        )
        for b in conn.execute(select(buoys).order_by(buoys.c.id))
    ]
