"""What each local solar day brings: rain, clouds, boats, GPS dropouts and weather.

Events are drawn once per local solar day (midnight to midnight by the sun at the site), each
kind from its own seeded stream (see ``random_streams``), and kept for the 32 most recent days
asked about. Quantities that change smoothly (cloud cover, the weather's temperature anomaly,
the NOx background) are knots interpolated linearly within the day and into the next.

- Rain: on a day with probability ``rain_probability``, at about 16:00 (sd 3 h), bringing a
  runoff plume of lognormal size (median 5 x the baseline turbidity) that decays over 12-30 h.
- Clouds: a day's cover from Beta(5, 2) on a rainy day, Beta(2, 3) otherwise, with hourly noise
  (sd 0.15).
- Boats: a Poisson number each morning around 08:00 (sd 1 h, kept within 06:00-11:00), each
  passing as an exhaust burst of lognormal size (median 20 ppb NOx) with a standard deviation
  in time of 3-8 minutes.
- GPS: no fix in a ten-minute slot with probability ``gps_no_fix_probability``.
- Weather: a temperature anomaly (sd 0.15 °C) and a NOx background (lognormal around 1.5 ppb)
  at each local midnight.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sensors.simulation.random_streams import stream
from sensors.simulation.settings import SimulationSettings
from sensors.simulation.time_units import DAY_S, HOUR_S

_WEATHER_SD_C = 0.15
_NOX_BACKGROUND_PPB = 1.5
_GPS_SLOTS_PER_DAY = 144


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happens at ``utc``: its size and its time scale."""

    utc: float
    size: float
    scale_s: float


@dataclass(frozen=True, slots=True)
class DayPlan:
    """What one local solar day brings, drawn once from that day's seeded streams."""

    rains: tuple[Event, ...]  # size: plume peak (NTU); scale: decay e-folding time
    boats: tuple[Event, ...]  # size: NOx peak (ppb); scale: standard deviation in time
    cloud: tuple[float, ...]  # cover (0-1) at each local hour
    weather: tuple[float]  # temperature anomaly at local midnight (°C)
    nox: tuple[float]  # background NOx at local midnight (ppb)
    no_fix: tuple[bool, ...]  # GPS without a fix, per ten-minute slot


class DailyEvents:
    """The days of the world ``settings``: which day an instant falls in, and what it brings."""

    def __init__(self, settings: SimulationSettings) -> None:
        self._settings = settings
        self._solar_offset_s = settings.longitude / 15.0 * HOUR_S
        self._cached_plan: Callable[[int], DayPlan] = functools.lru_cache(maxsize=32)(self._draw)

    def local_day(self, utc: float) -> tuple[int, float]:
        """The local solar day number and the fraction of it gone at ``utc``."""
        days = (utc + self._solar_offset_s) / DAY_S
        day = math.floor(days)
        return day, days - day

    def plan(self, day: int) -> DayPlan:
        """What local solar day ``day`` brings."""
        return self._cached_plan(day)

    def interpolate(
        self, knots: Callable[[DayPlan], tuple[float, ...]], day: int, fraction: float
    ) -> float:
        """Linear interpolation between a day's evenly spaced knots and the next day's first."""
        values = knots(self.plan(day))
        x = fraction * len(values)
        i = min(int(x), len(values) - 1)
        following = values[i + 1] if i + 1 < len(values) else knots(self.plan(day + 1))[0]
        return values[i] + (x - i) * (following - values[i])

    def rains(self, first_day: int, last_day: int) -> Iterator[Event]:
        """The rains from local day ``first_day`` to ``last_day`` (both included), oldest first."""
        for day in range(first_day, last_day + 1):
            yield from self.plan(day).rains

    def gps_fix(self, day: int, fraction: float) -> bool:
        """Whether the GPS has a fix when ``fraction`` of local day ``day`` has gone."""
        no_fix = self.plan(day).no_fix
        return not no_fix[min(int(fraction * len(no_fix)), len(no_fix) - 1)]

    def _draw(self, day: int) -> DayPlan:
        return plan_day(self._settings, day, day * DAY_S - self._solar_offset_s)


def plan_day(settings: SimulationSettings, day: int, day_start: float) -> DayPlan:
    """Draw the rain, clouds, boats, GPS dropouts and weather of local day ``day``."""
    rng = stream(settings.seed, "rain", day)
    rains: tuple[Event, ...] = ()
    if rng.random() < settings.rain_probability:
        hour = _clamp(rng.gauss(16.0, 3.0), 0.0, 23.9)
        peak = settings.baseline_turbidity_ntu * rng.lognormvariate(math.log(5.0), 0.5)
        rains = (Event(day_start + hour * HOUR_S, peak, rng.uniform(12.0, 30.0) * HOUR_S),)

    rng = stream(settings.seed, "cloud", day)
    cover = rng.betavariate(5.0, 2.0) if rains else rng.betavariate(2.0, 3.0)
    cloud = tuple(_clamp(cover + rng.gauss(0.0, 0.15), 0.0, 1.0) for _ in range(24))

    rng = stream(settings.seed, "boats", day)
    boats = tuple(
        Event(
            day_start + _clamp(rng.gauss(8.0, 1.0), 6.0, 11.0) * HOUR_S,
            rng.lognormvariate(math.log(20.0), 0.6),
            rng.uniform(3.0, 8.0) * 60.0,
        )
        for _ in range(poisson(rng, settings.boats_per_morning))
    )

    rng = stream(settings.seed, "gps", day)
    no_fix = tuple(
        rng.random() < settings.gps_no_fix_probability for _ in range(_GPS_SLOTS_PER_DAY)
    )

    rng = stream(settings.seed, "weather", day)
    weather = (rng.gauss(0.0, _WEATHER_SD_C),)
    nox = (_NOX_BACKGROUND_PPB * rng.lognormvariate(0.0, 0.3),)
    return DayPlan(rains, boats, cloud, weather, nox, no_fix)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth's multiplication method)."""
    limit = math.exp(-mean)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))
