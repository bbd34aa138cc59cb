"""The water temperature at the probe: the reading that heat stress on the reef is judged by.

- An annual cosine peaking on ``warmest_day``.
- A daily cosine peaking at 15:00 local solar time, whose amplitude decays with the probe's
  depth as exp(-depth / 4 m).
- A daily weather anomaly (drawn per local day, interpolated between local midnights).
- A marine heatwave with tapered ends (a Tukey window: a sine-squared rise over the first
  fifth and fall over the last fifth) that comes back on the same days every year.
"""

from __future__ import annotations

import calendar
import math
import time

from sensors.simulation.settings import SimulationSettings
from sensors.simulation.time_units import DAY_S

_THERMAL_EFOLDING_M = 4.0
_WARMEST_HOUR = 15.0
_HEATWAVE_TAPER = 0.2  # fraction of the heatwave spent warming up, and again cooling down


def water_temperature(
    settings: SimulationSettings, utc: float, solar_hour: float, weather_c: float
) -> float:
    """The probe's temperature (°C) at ``utc``, local solar time ``solar_hour``.

    ``weather_c`` is the day's weather anomaly at that instant.
    """
    s = settings
    season = s.seasonal_amplitude_c * math.cos(
        2 * math.pi * (_day_of_year(utc) - s.warmest_day) / 365.25
    )
    diurnal = (
        s.diurnal_amplitude_c
        * math.exp(-s.probe_depth_m / _THERMAL_EFOLDING_M)
        * math.cos(2 * math.pi * (solar_hour - _WARMEST_HOUR) / 24.0)
    )
    return s.mean_temperature_c + season + diurnal + weather_c + heatwave_warming(s, utc)


def heatwave_warming(settings: SimulationSettings, utc: float) -> float:
    """How much the marine heatwave adds (°C) at ``utc``; 0 outside it."""
    s = settings
    if s.heatwave_peak_c == 0.0:
        return 0.0
    year = time.gmtime(utc).tm_year
    for y in (year, year - 1):
        begin = calendar.timegm((y, 1, 1, 0, 0, 0)) + (s.heatwave_start_day - 1) * DAY_S
        x = (utc - begin) / (s.heatwave_days * DAY_S)
        if 0.0 <= x < 1.0:
            edge = min(x, 1.0 - x)
            if edge >= _HEATWAVE_TAPER:
                return s.heatwave_peak_c
            return s.heatwave_peak_c * math.sin(math.pi * edge / (2 * _HEATWAVE_TAPER)) ** 2
    return 0.0


def _day_of_year(utc: float) -> float:
    """Day of the year, 1.0 at the start of 1 January, continuous through each day."""
    return time.gmtime(utc).tm_yday + (utc % DAY_S) / DAY_S
