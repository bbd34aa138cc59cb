"""Turbidity of the water at the buoy: the sediment that rain washes in and currents stir up.

- Runoff plumes after rain: each rises over 2 h (1 - exp(-age / 2 h)) and decays with its own
  e-folding time of 12-30 h; plumes older than ``PLUME_LOOKBACK_DAYS`` days have gone.
- Resuspension proportional to the excess bed shear stress (Partheniades), with the stress
  proportional to the current speed squared and a threshold at 0.2 m/s.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sensors.simulation.daily_events import Event
from sensors.simulation.time_units import HOUR_S

PLUME_LOOKBACK_DAYS = 8

_PLUME_RISE_S = 2 * HOUR_S
_RESUSPENSION_SPEED = 0.2  # m/s
_RESUSPENSION_GAIN = 0.25


def turbidity(baseline_ntu: float, utc: float, speed: float, rains: Iterable[Event]) -> float:
    """Turbidity (NTU) at ``utc`` in a current of ``speed`` (m/s).

    ``rains`` are the rains of the last ``PLUME_LOOKBACK_DAYS`` days and today, oldest first;
    those still to come add nothing.
    """
    plumes = 0.0
    for rain in rains:
        age = utc - rain.utc
        if age > 0.0:
            rise = 1.0 - math.exp(-age / _PLUME_RISE_S)
            plumes += rain.size * rise * math.exp(-age / rain.scale_s)
    excess_stress = max(0.0, (speed / _RESUSPENSION_SPEED) ** 2 - 1.0)
    return baseline_ntu * (1.0 + _RESUSPENSION_GAIN * excess_stress) + plumes
