"""Where the sun stands over the mooring, and what it gives a flat solar panel.

Sunlight drives the reef's day: the warm afternoon, the carbon fixed by photosynthesis, the
photolysis of NO2 and the charge of the buoy's battery.

- Position: NOAA general solar position, with Spencer's (1971) Fourier series for the
  declination and the equation of time; the local apparent solar time follows from the
  longitude and the equation of time.
- Irradiance: the clear-sky beam irradiance of Meinel & Meinel (1976),
  1.353 kW/m2 x 0.7^(AM^0.678) with air mass AM = 1/sin(elevation), on a panel lying flat on
  the buoy, times the cloud attenuation of Kasten & Czeplak (1980), 1 - 0.75 c^3.4 for cloud
  cover c.
"""

from __future__ import annotations

import calendar
import math
import time

from sensors.simulation.time_units import DAY_S, HOUR_S


class Sun:
    """The sun as seen from a site at ``latitude`` (degrees north), ``longitude`` (degrees east)."""

    def __init__(self, latitude: float, longitude: float) -> None:
        latitude_rad = math.radians(latitude)
        self._sin_latitude = math.sin(latitude_rad)
        self._cos_latitude = math.cos(latitude_rad)
        self._longitude = longitude

    def position(self, utc: float) -> tuple[float, float]:
        """The sine of the sun's elevation and the local apparent solar time (hours)."""
        tm = time.gmtime(utc)
        seconds = utc % DAY_S
        year_days = 366 if calendar.isleap(tm.tm_year) else 365
        g = 2 * math.pi / year_days * (tm.tm_yday - 1 + (seconds / HOUR_S - 12.0) / 24.0)
        declination = (
            0.006918
            - 0.399912 * math.cos(g)
            + 0.070257 * math.sin(g)
            - 0.006758 * math.cos(2 * g)
            + 0.000907 * math.sin(2 * g)
            - 0.002697 * math.cos(3 * g)
            + 0.00148 * math.sin(3 * g)
        )
        equation_of_time_min = 229.18 * (
            0.000075
            + 0.001868 * math.cos(g)
            - 0.032077 * math.sin(g)
            - 0.014615 * math.cos(2 * g)
            - 0.040849 * math.sin(2 * g)
        )
        solar_minutes = seconds / 60.0 + equation_of_time_min + 4.0 * self._longitude
        hour_angle = math.radians(solar_minutes / 4.0 - 180.0)
        sin_elevation = self._sin_latitude * math.sin(declination) + self._cos_latitude * math.cos(
            declination
        ) * math.cos(hour_angle)
        return sin_elevation, (solar_minutes / 60.0) % 24.0


def clear_sky_fraction(sin_elevation: float) -> float:
    """Beam irradiance on a flat panel under a clear sky, as a fraction of 1000 W/m2."""
    if sin_elevation <= 0.0:
        return 0.0
    return 1.353 * 0.7 ** ((1.0 / sin_elevation) ** 0.678) * sin_elevation


def panel_power_w(peak_w: float, sin_elevation: float, cloud_cover: float) -> float:
    """What a flat panel rated ``peak_w`` at 1000 W/m2 delivers under ``cloud_cover`` (0-1)."""
    return peak_w * clear_sky_fraction(sin_elevation) * (1.0 - 0.75 * cloud_cover**3.4)
