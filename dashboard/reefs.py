"""The dashboard's read model: per reef, everything a dive operator decides from at 6 am.

A reef is a buoy seen through its operators' eyes: its name, its local time zone, where it is,
its latest value per quantity with the QC state of the current QC version and the sensor's
status, the dive verdict, coral heat stress, and whether its link is up, asleep by plan,
gone (Last Will) or silent. ``load_reefs`` builds them all with a fixed number of queries
whatever the history holds and however many reefs there are (buoys, QC version, latest
values, the reefs' visibility conversions; for heat stress, one more per reef with an MMM
whenever ``HeatStressCache`` recomputes it), so the overview stays cheap as years of readings
and reefs pile up. Read-only; the caller owns the connection.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Row, and_, select

from dashboard import rollups
from dashboard.heat_stress import (
    DHW_WINDOW_DAYS,
    DailyMean,
    HeatStress,
    HeatStressSettings,
    HeatStressSite,
    daily_means,
    heat_stress,
    hotspot,
)
from dashboard.models import buoys, latest_readings, qc_flags, samples
from dashboard.qc.store import current_version, flags_of
from dashboard.verdict import (
    QC_FAIL,
    QC_MISSING,
    QC_NOT_EVALUATED,
    QC_PASS,
    QC_SUSPECT,
    Level,
    Reading,
    Verdict,
    evaluate,
)
from dashboard.verdict_rules import VerdictSettings
from dashboard.visibility import Conversion, VisibilitySettings
from dashboard.visibility_reports import conversions_for
from nemopi.catalogue import Quantity, by_code, by_name
from nemopi.sensor_status import SensorStatus
from nemopi.wire import ClockSource

log = logging.getLogger(__name__)

VISIBILITY = by_name("visibility")
TURBIDITY = by_name("turbidity")
WATER_TEMPERATURE = by_name("water_temperature")
POSITION = (by_name("latitude"), by_name("longitude"))
HEAT_STRESS_REFRESH = timedelta(minutes=10)
# What the overview shows of each reef, when the buoy measures it: what the verdict rests on.
KEY_QUANTITIES = ("visibility", "current_speed", "water_temperature", "turbidity")
# The overview lists reefs a boat can go to first: go, caution, no-go, then those it cannot tell.
LEVEL_ORDER = (Level.GO, Level.CAUTION, Level.NO_GO, Level.UNKNOWN)
QC_WORDS = {
    QC_PASS: "pass",
    QC_NOT_EVALUATED: "not evaluated",
    QC_SUSPECT: "suspect",
    QC_FAIL: "fail",
    QC_MISSING: "missing",
}


class LinkState(StrEnum):
    """How the buoy's link stands, from its retained status and when it was last heard."""

    ONLINE = "online"
    SLEEPING = "sleeping"  # offline by plan, with a next report still to come
    OFFLINE = "offline"  # said so (Last Will), or its planned report is overdue
    SILENT = "silent"  # says online, but nothing heard for longer than its status promised
    UNKNOWN = "unknown"  # no status received yet


@dataclass(frozen=True, slots=True)
class Link:
    state: LinkState
    last_heard: datetime | None
    next_report: datetime | None
    status_as_of: datetime | None  # the buoy's time of its latest status


@dataclass(frozen=True, slots=True)
class CurrentValue:
    """The latest reading of one quantity, as the pages show it."""

    quantity: Quantity
    value: float | None
    time: datetime | None  # UTC; None: taken before the buoy's clock was set
    received_at: datetime
    qc_flag: int  # QARTOD aggregate of the current QC version; not evaluated without one
    status: SensorStatus
    seq: int
    clock: ClockSource

    @property
    def qc(self) -> str:
        """The QC state in words: pass, not evaluated, suspect, fail, missing."""
        return QC_WORDS[self.qc_flag]

    @property
    def usable(self) -> bool:
        """A value the sensor vouches for and QC did not fail."""
        return (
            self.value is not None
            and self.status is SensorStatus.OK
            and self.qc_flag not in (QC_FAIL, QC_MISSING)
        )


@dataclass(frozen=True, slots=True)
class Position:
    latitude: float
    longitude: float
    moored: bool  # the registered mooring; False: the buoy's latest usable GPS fix


@dataclass(frozen=True, slots=True)
class HeatStressDay:
    """One local day of the reef's heat stress record (``DailyMean`` with its HotSpot)."""

    day: date
    mean_c: float | None
    hours: int
    hotspot_c: float | None


@dataclass(frozen=True, slots=True)
class ReefHeatStress:
    """The heat stress of the latest day with a daily mean, and the 84 days behind it."""

    latest: HeatStress | None  # None: not one day in the window had enough data
    days: tuple[HeatStressDay, ...]  # oldest first, ending today (local)


@dataclass(frozen=True, slots=True)
class Reef:
    key: int
    id: str
    name: str
    first_seen: datetime
    timezone: tzinfo
    timezone_name: str
    timezone_known: bool  # False: none registered (or not a zone this system knows): UTC
    position: Position | None
    link: Link
    values: tuple[CurrentValue, ...]  # catalogue order, visibility derived from turbidity
    verdict: Verdict
    conversion: Conversion
    heat_stress: ReefHeatStress | None  # None: the reef has no MMM configured

    def value(self, quantity: str) -> CurrentValue | None:
        return next((v for v in self.values if v.quantity.name == quantity), None)

    def key_values(self) -> tuple[CurrentValue, ...]:
        """The few values the overview shows, in ``KEY_QUANTITIES`` order."""
        found = (self.value(name) for name in KEY_QUANTITIES)
        return tuple(v for v in found if v is not None)


class HeatStressCache:
    """Each reef's heat stress, recomputed at most every ``refresh``.

    Heat stress is a daily figure from 84 days of hourly roll-ups: computing it costs tens of
    milliseconds per reef, more than all the rest of the overview, and pages poll every few
    seconds. A figure a few minutes old is as true for the day. Thread-safe: the web
    server's threads share one per app.
    """

    def __init__(self, refresh: timedelta = HEAT_STRESS_REFRESH) -> None:
        self._refresh = refresh
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[Hashable, datetime, ReefHeatStress]] = {}

    def get(
        self,
        buoy_key: int,
        inputs: Hashable,
        now: datetime,
        compute: Callable[[], ReefHeatStress],
    ) -> ReefHeatStress:
        """The reef's cached figure if it was computed from the same ``inputs`` (site,
        settings, local day) less than ``refresh`` before ``now``, else ``compute()``'s."""
        with self._lock:
            found = self._entries.get(buoy_key)
        if found is not None and found[0] == inputs and self._fresh(found[1], now):
            return found[2]
        fresh = compute()
        with self._lock:
            self._entries[buoy_key] = (inputs, now, fresh)
        return fresh

    def _fresh(self, computed_at: datetime, now: datetime) -> bool:
        return timedelta(0) <= now - computed_at < self._refresh


@dataclass(frozen=True, slots=True)
class ReefSettings:
    """What of the web configuration the read model needs, and the app's heat stress cache
    (None: computed on every call)."""

    verdict: VerdictSettings
    heat_stress: HeatStressSettings
    visibility: VisibilitySettings
    heat_stress_cache: HeatStressCache | None = None


def _link(row: Row[Any], now: datetime) -> Link:
    """The link state from the buoy's retained status (see ``LinkState``)."""
    online, valid_until, next_report = row.online, row.status_valid_until, row.next_report
    if online is None:
        state = LinkState.UNKNOWN
    elif online:
        expired = valid_until is not None and now > valid_until
        state = LinkState.SILENT if expired else LinkState.ONLINE
    elif next_report is not None and now <= next_report:
        state = LinkState.SLEEPING
    else:
        state = LinkState.OFFLINE
    return Link(state, row.last_heard, next_report, row.status_as_of)


def reef_order(reef: Reef) -> tuple[int, str]:
    """Go first, then caution, no-go and unknown; by name within a level."""
    return LEVEL_ORDER.index(reef.verdict.level), reef.name.casefold()


def load_reefs(
    conn: Connection, settings: ReefSettings, now: datetime, buoy_id: str | None = None
) -> list[Reef]:
    """Every reef (or only ``buoy_id``'s) in overview order."""
    query = select(buoys).order_by(buoys.c.id)
    if buoy_id is not None:
        query = query.where(buoys.c.id == buoy_id)
    rows = conn.execute(query).all()
    if not rows:
        return []
    latest = _latest_values(conn, None if buoy_id is None else rows[0].key)
    conversions = conversions_for(conn, [row.key for row in rows], settings.visibility, now)
    reefs = [
        _reef(conn, row, latest.get(row.key, []), conversions[row.key], settings, now)
        for row in rows
    ]
    return sorted(reefs, key=reef_order)


def zone_of(name: str | None) -> tuple[tzinfo, bool]:
    """The buoy's registered IANA zone, or UTC (and False) without a usable one."""
    if name:
        try:
            return ZoneInfo(name), True
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("time zone %r is unknown on this system: showing UTC", name)
    return UTC, False


def _reef(
    conn: Connection,
    row: Row[Any],
    measured: list[CurrentValue],
    conversion: Conversion,
    settings: ReefSettings,
    now: datetime,
) -> Reef:
    zone, known = zone_of(row.timezone)
    values = _with_visibility(measured, conversion)
    verdict = evaluate(_verdict_inputs(values), now, settings.verdict.for_site(row.id))
    site = settings.heat_stress.site(row.id)
    return Reef(
        key=row.key,
        id=row.id,
        name=row.name or row.id,
        first_seen=row.first_seen,
        timezone=zone,
        timezone_name=row.timezone if known else "UTC",
        timezone_known=known,
        position=_position(row, values),
        link=_link(row, now),
        values=values,
        verdict=verdict,
        conversion=conversion,
        heat_stress=None
        if site is None
        else _cached_heat_stress(conn, row.key, zone, settings, site, now),
    )


def _latest_values(conn: Connection, buoy_key: int | None) -> dict[int, list[CurrentValue]]:
    """The latest reading per buoy and quantity with its current aggregate QC flag: one query
    on the ``latest_readings`` cache (plus one for the QC version), whatever the history."""
    version = current_version(conn)
    query = (
        select(
            latest_readings.c.buoy_key,
            latest_readings.c.quantity,
            latest_readings.c.value,
            latest_readings.c.status,
            latest_readings.c.seq,
            samples.c.clock,
            samples.c.time_utc,
            samples.c.received_at,
            qc_flags.c.aggregate,
        )
        .join(
            samples,
            and_(
                samples.c.buoy_key == latest_readings.c.buoy_key,
                samples.c.seq == latest_readings.c.seq,
            ),
        )
        .outerjoin(
            qc_flags,
            flags_of(latest_readings, version),
        )
    )
    if buoy_key is not None:
        query = query.where(latest_readings.c.buoy_key == buoy_key)
    found: defaultdict[int, list[CurrentValue]] = defaultdict(list)
    for row in conn.execute(query):
        quantity = by_code(row.quantity)
        if quantity is None or quantity.derived:  # retired from the catalogue, or not measured
            continue
        flag = QC_NOT_EVALUATED if row.aggregate is None else row.aggregate
        found[row.buoy_key].append(
            CurrentValue(
                quantity,
                row.value,
                row.time_utc,
                row.received_at,
                flag if flag in QC_WORDS else QC_NOT_EVALUATED,
                SensorStatus(row.status),
                row.seq,
                ClockSource(row.clock),
            )
        )
    return found


def _with_visibility(
    measured: Iterable[CurrentValue], conversion: Conversion
) -> tuple[CurrentValue, ...]:
    """The measured values plus visibility derived from turbidity, in catalogue order.

    The estimate shares the turbidity reading's time, QC flag and sensor status: it is no
    better than the reading it comes from."""
    values = list(measured)
    turbidity = next((v for v in values if v.quantity == TURBIDITY), None)
    if turbidity is not None:
        estimate = None if turbidity.value is None else conversion.visibility_m(turbidity.value)
        values.append(
            CurrentValue(
                VISIBILITY,
                estimate,
                turbidity.time,
                turbidity.received_at,
                turbidity.qc_flag,
                turbidity.status,
                turbidity.seq,
                turbidity.clock,
            )
        )
    return tuple(sorted(values, key=lambda v: v.quantity.code))


def _verdict_inputs(values: Iterable[CurrentValue]) -> Mapping[str, Reading]:
    """The verdict's readings; one without a UTC time cannot show it is fresh and is left out."""
    return {
        v.quantity.name: Reading(v.value, v.time, v.qc_flag, v.status)
        for v in values
        if v.time is not None
    }


def _position(row: Row[Any], values: Iterable[CurrentValue]) -> Position | None:
    if row.mooring_latitude is not None and row.mooring_longitude is not None:
        return Position(row.mooring_latitude, row.mooring_longitude, moored=True)
    fix = {v.quantity: v for v in values if v.quantity in POSITION and v.usable}
    if len(fix) < len(POSITION):
        return None
    latitude, longitude = (fix[q].value for q in POSITION)
    assert latitude is not None and longitude is not None  # usable values have one
    return Position(latitude, longitude, moored=False)


def _cached_heat_stress(
    conn: Connection,
    buoy_key: int,
    zone: tzinfo,
    settings: ReefSettings,
    site: HeatStressSite,
    now: datetime,
) -> ReefHeatStress:
    def compute() -> ReefHeatStress:
        return _heat_stress(conn, buoy_key, zone, settings.heat_stress, site, now)

    if settings.heat_stress_cache is None:
        return compute()
    heat = settings.heat_stress
    inputs = (site, heat.min_hours_per_day, heat.max_missing_days, now.astimezone(zone).date())
    return settings.heat_stress_cache.get(buoy_key, inputs, now, compute)


def _heat_stress(
    conn: Connection,
    buoy_key: int,
    zone: tzinfo,
    settings: HeatStressSettings,
    site: HeatStressSite,
    now: datetime,
) -> ReefHeatStress:
    """CRW heat stress from the hourly roll-ups of water temperature over the last 84 local
    days. Today's mean counts once it has enough hours; until then the latest day is
    yesterday, so that 6 am does not read as a day without data."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=DHW_WINDOW_DAYS)
    since = datetime.combine(first, time(), zone).astimezone(UTC)
    hourly = rollups.hourly_means(conn, buoy_key, WATER_TEMPERATURE, since, now)
    means = daily_means(hourly, zone, first, today, settings.min_hours_per_day)
    latest_day = today if means[-1].mean_c is not None else today - timedelta(days=1)
    latest = heat_stress(means, latest_day, site, settings.max_missing_days)
    return ReefHeatStress(latest, tuple(_day(m, site) for m in means[1:]))


def _day(mean: DailyMean, site: HeatStressSite) -> HeatStressDay:
    hot = None if mean.mean_c is None else hotspot(mean.mean_c, site)
    return HeatStressDay(mean.day, mean.mean_c, mean.hours, hot)
