"""Where the buoy lies on its mooring: the position its GPS reports.

The current pushes the buoy downstream of its anchor to radius x tanh(speed / 0.25 m/s), so
it stays inside its swing circle and reaches the rim in a strong current; metres become
degrees on a sphere of radius 6371 km.
"""

from __future__ import annotations

import math

from sensors.simulation.settings import SimulationSettings

_EARTH_RADIUS_M = 6_371_000.0
_MOORING_SPEED_SCALE = 0.25  # m/s


class Mooring:
    """The buoy's anchor at ``settings``' site and the circle it swings in."""

    def __init__(self, settings: SimulationSettings) -> None:
        self._latitude = settings.latitude
        self._longitude = settings.longitude
        self._radius_m = settings.mooring_radius_m
        self._cos_latitude = math.cos(math.radians(settings.latitude))

    def buoy_position(self, east: float, north: float, speed: float) -> tuple[float, float]:
        """(latitude, longitude) of the buoy in a current (east, north) of ``speed`` (m/s)."""
        if speed == 0.0:
            return self._latitude, self._longitude
        reach = self._radius_m * math.tanh(speed / _MOORING_SPEED_SCALE) / speed
        latitude = self._latitude + math.degrees(reach * north / _EARTH_RADIUS_M)
        longitude = self._longitude + math.degrees(
            reach * east / (_EARTH_RADIUS_M * self._cos_latitude)
        )
        return latitude, (longitude + 180.0) % 360.0 - 180.0
