"""The tidal current past the buoy: what the paddle wheel reads and what swings the mooring.

- M2 (12.42 h) plus S2 (12.00 h) at 0.4 of M2's amplitude, so springs and neaps alternate
  every 14.77 days. The phases are drawn once per world from the
  seeded ``tide`` stream.
- The current reverses along the flood bearing, with a minor axis of 0.15 of the major one
  (a slightly rotary tidal ellipse).
"""

from __future__ import annotations

import math

from sensors.simulation.random_streams import stream
from sensors.simulation.settings import SimulationSettings
from sensors.simulation.time_units import HOUR_S

_M2_RAD_S = 2 * math.pi / (12.4206012 * HOUR_S)
_S2_RAD_S = 2 * math.pi / (12.0 * HOUR_S)
_S2_OVER_M2 = 0.4
_MINOR_OVER_MAJOR = 0.15


class Tide:
    """The tidal current at ``settings``' site."""

    def __init__(self, settings: SimulationSettings) -> None:
        phases = stream(settings.seed, "tide", 0)
        self._m2_phase = phases.uniform(0.0, 2 * math.pi)
        self._s2_phase = phases.uniform(0.0, 2 * math.pi)
        self._amplitude = settings.tidal_current_m_s
        bearing = math.radians(settings.flood_bearing_deg)
        self._axis = (math.sin(bearing), math.cos(bearing))  # (east, north) of the flood

    def current(self, utc: float) -> tuple[float, float]:
        """Tidal current (east, north) in m/s."""
        m2 = _M2_RAD_S * utc + self._m2_phase
        s2 = _S2_RAD_S * utc + self._s2_phase
        along = self._amplitude * (math.cos(m2) + _S2_OVER_M2 * math.cos(s2))
        across = self._amplitude * _MINOR_OVER_MAJOR * (math.sin(m2) + _S2_OVER_M2 * math.sin(s2))
        east, north = self._axis
        return along * east + across * north, along * north - across * east
