"""Coral bleaching heat stress from the buoy's own water temperature, by NOAA Coral Reef Watch's
method, so that a reef's numbers can be read against CRW's satellite products and literature.

The definitions follow CRW's version 3.1 daily 5km products ("Methodology, Product Description,
and Data Availability of NOAA Coral Reef Watch's Version 3.1 Daily Global 5km Satellite Coral
Bleaching Heat Stress Monitoring Products", coralreefwatch.noaa.gov/product/5km/methodology.php;
Skirving et al. 2020, Remote Sensing 12, 3856), with the Bleaching Alert Levels 3 to 5 CRW
added in December 2023:

- HotSpot = daily temperature - MMM (the site's maximum monthly mean climatology), positive
  values only; this module rounds it to 0.01 °C, the precision of CRW's products, so that
  29.3 - 28.3 counts as the 1.00 it is and not as 0.99999.
- Degree Heating Weeks (°C-weeks) = the sum of the daily HotSpots of at least 1 °C over the
  84 days (12 weeks) ending on and including the day, divided by 7.
- Bleaching alert level of a day, from that day's HotSpot (HS) and DHW (see ``alert_level``).

Where the buoy differs from a satellite:

- CRW's MMM is a sea-*surface* climatology (night-time SST). A sensor below the surface reads
  cooler in stratified water, which would hide heat stress. ``HeatStressSite.surface_offset_c``
  is added to the sensor's daily mean to estimate the surface temperature before the MMM is
  subtracted (the same as lowering the MMM by it). Estimate it per site as the mean difference
  between CRW's SST for the reef's pixel and the buoy's daily means over a few weeks: that
  also absorbs the difference between CRW's night-only SST and a day-and-night mean.
- A buoy has gaps. A day with fewer than ``min_hours_per_day`` hours of data has no daily mean
  and is *missing*, never a cool day: DHW is summed over the days that have data, which makes
  it a lower bound, and reports how many of the 84 days are missing. Beyond
  ``max_missing_days`` missing days the DHW is marked incomplete. A day without a mean has no
  alert level; an alert level that rests on a lower-bound DHW says so.

Pure: readings in, numbers out; the caller reads the database and passes QC-usable values.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from enum import IntEnum
from statistics import fmean

from nemopi.catalogue import by_name
from nemopi.configfile import in_range, setting
from nemopi.topics import is_valid_buoy_id

DHW_WINDOW_DAYS = 84
DHW_MIN_HOTSPOT_CENTI = 100  # HotSpots of at least 1.00 °C accumulate, in 0.01 °C
HOURS_PER_DAY = 24
_TEMPERATURE = by_name("water_temperature")


class AlertLevel(IntEnum):
    """CRW's bleaching heat stress levels, in rising order."""

    NO_STRESS = 0
    WATCH = 1
    WARNING = 2
    ALERT_1 = 3
    ALERT_2 = 4
    ALERT_3 = 5
    ALERT_4 = 6
    ALERT_5 = 7

    @property
    def label(self) -> str:
        """CRW's name for the level: "No Stress", "Bleaching Alert Level 2"."""
        if self is AlertLevel.NO_STRESS:
            return "No Stress"
        if self >= AlertLevel.ALERT_1:
            return f"Bleaching Alert Level {self - AlertLevel.WARNING}"
        return f"Bleaching {self.name.title()}"


# With HotSpot >= 1 °C, the level is the first whose DHW floor (°C-weeks) the DHW reaches.
# CRW defines Warning as 0 < DHW < 4; DHW cannot be 0 on a day whose own HotSpot is >= 1,
# because that HotSpot is in the window.
_DHW_FLOORS = (
    (20.0, AlertLevel.ALERT_5),
    (16.0, AlertLevel.ALERT_4),
    (12.0, AlertLevel.ALERT_3),
    (8.0, AlertLevel.ALERT_2),
    (4.0, AlertLevel.ALERT_1),
    (0.0, AlertLevel.WARNING),
)


def alert_level(hotspot_c: float, dhw: float) -> AlertLevel:
    """CRW's daily alert level: No Stress if HS <= 0, Watch if 0 < HS < 1, and with HS >= 1:
    Warning if DHW < 4, Alert Level 1 if 4 <= DHW < 8, 2 if 8 <= DHW < 12, 3 if 12 <= DHW < 16,
    4 if 16 <= DHW < 20, 5 if DHW >= 20."""
    if hotspot_c <= 0:
        return AlertLevel.NO_STRESS
    if hotspot_c < 1:
        return AlertLevel.WATCH
    return next(level for floor, level in _DHW_FLOORS if dhw >= floor)


def _buoy_check(value: str) -> str | None:
    return None if is_valid_buoy_id(value) else f"not a valid buoy id: {value!r}"


@dataclass(frozen=True)
class HeatStressSite:
    """One reef's climatology and how its sensor relates to the sea surface."""

    buoy: str = setting(doc="Buoy id of the reef.", check=_buoy_check)
    mmm_c: float = setting(
        doc=(
            "Maximum monthly mean (°C): the warmest month's climatological mean sea-surface "
            "temperature at the reef, as CRW publishes it for the reef's 5km pixel."
        ),
        check=in_range(_TEMPERATURE.valid_min, _TEMPERATURE.valid_max),
    )
    surface_offset_c: float = setting(
        0.0,
        doc=(
            "Added to the sensor's daily mean to estimate the sea-surface temperature the MMM "
            "refers to (°C): positive when the sensor, below the surface, reads cooler."
        ),
        check=in_range(-5.0, 5.0),
    )


@dataclass(frozen=True)
class HeatStressSettings:
    """The ``[heat_stress]`` table: how much data makes a day, and each reef's MMM."""

    min_hours_per_day: int = setting(
        18,
        doc=(
            "A local day needs readings in at least this many of its hours for a daily mean; "
            "with fewer it is a missing day, never a cool one."
        ),
        check=in_range(1, HOURS_PER_DAY),
    )
    max_missing_days: int = setting(
        7,
        doc=(
            f"Degree Heating Weeks with more than this many of its {DHW_WINDOW_DAYS} days "
            "missing are marked incomplete (with any missing day they are a lower bound)."
        ),
        check=in_range(0, DHW_WINDOW_DAYS),
    )
    sites: tuple[HeatStressSite, ...] = setting(
        (), doc="One [[heat_stress.sites]] table per reef whose heat stress is shown."
    )

    def __post_init__(self) -> None:
        buoys = [site.buoy for site in self.sites]
        if len(set(buoys)) != len(buoys):
            raise ValueError("sites: a buoy is listed twice")

    def site(self, buoy: str) -> HeatStressSite | None:
        """``buoy``'s reef, or None when it has no MMM configured (no heat stress shown)."""
        return next((site for site in self.sites if site.buoy == buoy), None)


@dataclass(frozen=True)
class DailyMean:
    """A local day's mean temperature (°C); None when fewer hours than required had data."""

    day: date
    mean_c: float | None
    hours: int


@dataclass(frozen=True)
class DegreeHeatingWeeks:
    """DHW (°C-weeks) over the days with data, and how many of the window's days are missing."""

    value: float
    missing_days: int
    complete: bool

    @property
    def is_lower_bound(self) -> bool:
        """A missing day could only add to DHW, so with any missing day it is a minimum."""
        return self.missing_days > 0


@dataclass(frozen=True)
class HeatStress:
    """One day's heat stress. ``alert`` is None when the day has no daily mean."""

    day: date
    mean_c: float | None
    hotspot_c: float | None
    dhw: DegreeHeatingWeeks
    alert: AlertLevel | None

    @property
    def alert_is_lower_bound(self) -> bool:
        """True when the level rests on DHW (HotSpot >= 1) and DHW is a lower bound."""
        return (
            self.alert is not None and self.alert >= AlertLevel.WARNING and self.dhw.is_lower_bound
        )


def daily_means(
    readings: Iterable[tuple[datetime, float]],
    tz: tzinfo,
    first: date,
    last: date,
    min_hours: int,
) -> tuple[DailyMean, ...]:
    """One ``DailyMean`` per local day from ``first`` to ``last``, days without data included.

    A day's mean is the mean of its hourly means, so that a burst of readings in one hour does
    not outweigh the rest of the day. Hours are the local clock's hours (in a zone 5 h 30 min
    from UTC an hour starts at half past a UTC hour).
    """
    hourly: defaultdict[date, defaultdict[int, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for time, value in readings:
        if time.tzinfo is None:
            raise ValueError(f"reading time {time} is not timezone-aware")
        if not math.isfinite(value):
            raise ValueError(f"reading at {time} is not a number: {value!r}")
        local = time.astimezone(tz)
        if first <= local.date() <= last:
            offset = local.utcoffset() or timedelta(0)
            shift = offset.total_seconds() % 3600  # the part of the offset that is not whole hours
            hourly[local.date()][int((time.timestamp() + shift) // 3600)].append(value)
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return tuple(_daily_mean(day, hourly.get(day, {}), min_hours) for day in days)


def _daily_mean(day: date, hours: Mapping[int, list[float]], min_hours: int) -> DailyMean:
    if len(hours) < min_hours:
        return DailyMean(day, None, len(hours))
    return DailyMean(day, fmean(fmean(values) for values in hours.values()), len(hours))


def hotspot(mean_c: float, site: HeatStressSite) -> float:
    """CRW's HotSpot (°C, at 0.01) of a sensor's daily mean, adjusted to the surface."""
    return max(0.0, round(mean_c + site.surface_offset_c - site.mmm_c, 2))


def degree_heating_weeks(
    hotspots: Mapping[date, float | None], day: date, max_missing_days: int
) -> DegreeHeatingWeeks:
    """DHW on ``day`` from daily HotSpots; a day absent from ``hotspots`` or None is missing."""
    window = [hotspots.get(day - timedelta(days=i)) for i in range(DHW_WINDOW_DAYS)]
    missing = sum(h is None for h in window)
    # Summed in whole hundredths, so 28 days of 1.00 are exactly 4 °C-weeks.
    centi = [round(h * 100) for h in window if h is not None]
    total = sum(c for c in centi if c >= DHW_MIN_HOTSPOT_CENTI)
    return DegreeHeatingWeeks(total / 700, missing, missing <= max_missing_days)


def heat_stress(
    means: Iterable[DailyMean], day: date, site: HeatStressSite, max_missing_days: int
) -> HeatStress:
    """``day``'s HotSpot, DHW and alert level from daily means (give the 84 days up to it)."""
    by_day = {m.day: m.mean_c for m in means}
    hotspots = {d: None if m is None else hotspot(m, site) for d, m in by_day.items()}
    dhw = degree_heating_weeks(hotspots, day, max_missing_days)
    today = hotspots.get(day)
    alert = None if today is None else alert_level(today, dhw.value)
    return HeatStress(day, by_day.get(day), today, dhw, alert)
