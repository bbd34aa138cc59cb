"""NO and NO2 in the air over the buoy: what its gas cells read.

- Background: the day's NOx background, split by the Leighton photostationary state: NO/NO2
  grows with sunlight, which photolyses NO2, here 0.4 x sin(elevation) and 0 at night.
- Boat exhaust: each boat passes as a Gaussian burst in time, 80 % NO and 20 % NO2.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sensors.simulation.daily_events import Event

_NO_OVER_NO2_AT_ZENITH = 0.4
_EXHAUST_NO2_FRACTION = 0.2
_BURST_REACH_SD = 6.0  # a burst is nil beyond this many standard deviations


def nitrogen_oxides(
    background_ppb: float, sin_elevation: float, utc: float, boats: Iterable[Event]
) -> tuple[float, float]:
    """NO2 and NO in the air (ppb) at ``utc``, with the sun at ``sin_elevation``."""
    ratio = _NO_OVER_NO2_AT_ZENITH * max(0.0, sin_elevation)
    no2, no = background_ppb / (1.0 + ratio), background_ppb * ratio / (1.0 + ratio)
    for boat in boats:
        z = (utc - boat.utc) / boat.scale_s
        if abs(z) < _BURST_REACH_SD:
            burst = boat.size * math.exp(-z * z / 2)
            no2 += _EXHAUST_NO2_FRACTION * burst
            no += (1.0 - _EXHAUST_NO2_FRACTION) * burst
    return no2, no
