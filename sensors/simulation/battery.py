"""The buoy's battery: the voltage, current and charge its power monitor reads.

A 12.8 V LiFePO4 pack (4S), charged by the solar panel and drained by the electronics' load.

- The state of charge integrates 0.92 x solar - load (the charge efficiency) with Simpson's
  rule hour by hour from the start, clamped at full (the charge controller curtails the
  panel) and empty (the load disconnects).
- Terminal voltage = resting voltage of the state of charge (a table, linearly interpolated)
  + current x 0.05 ohm, solved for the voltage at the pack's charging power.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

from sensors.simulation.settings import SimulationSettings
from sensors.simulation.time_units import HOUR_S

logger = logging.getLogger(__name__)

_CHARGE_EFFICIENCY = 0.92
_PACK_RESISTANCE_OHM = 0.05
# Resting voltage of a 4S LiFePO4 pack at 0 %, 10 %, ..., 100 % state of charge.
_LIFEPO4_OCV = (10.0, 12.0, 12.8, 12.9, 13.0, 13.05, 13.1, 13.2, 13.3, 13.4, 13.6)


class Pack:
    """The 12.8 V LiFePO4 pack: charged by the panel, drained by the load, from ``start_utc``.

    ``solar`` gives the power (W) the panel could deliver at an instant. The state of charge at
    each whole hour after the start is kept once computed, so a query integrates at most one
    hour; the same instant always gets the same answer.
    """

    def __init__(
        self, settings: SimulationSettings, start_utc: float, solar: Callable[[float], float]
    ) -> None:
        self._capacity_wh = settings.battery_capacity_wh
        self._load_w = settings.load_w
        self._start = start_utc
        self._solar = solar
        self._lock = threading.Lock()
        # (state of charge, net charging power in W) at each whole hour since the start
        self._hourly = [(settings.start_state_of_charge, self._net_w(start_utc))]

    def electrical(self, utc: float) -> tuple[float, float, float, float]:
        """State of charge, terminal voltage (V), current (A, + charging), panel power (W).

        Before the start the pack holds its starting charge.
        """
        available_w = self._solar(utc)
        battery_w = _CHARGE_EFFICIENCY * available_w - self._load_w
        if utc <= self._start:
            soc = self._hourly[0][0]
        else:
            hour = int((utc - self._start) // HOUR_S)
            soc_h, net_h = self._at_hour(hour)
            soc = self._carry(soc_h, self._start + hour * HOUR_S, net_h, utc, battery_w)
        panel_w = available_w
        if soc >= 1.0 and battery_w > 0.0:
            battery_w, panel_w = 0.0, min(available_w, self._load_w / _CHARGE_EFFICIENCY)
        elif soc <= 0.0 and battery_w < 0.0:
            battery_w = _CHARGE_EFFICIENCY * available_w
        rest_v = resting_voltage(soc)
        volts = (rest_v + math.sqrt(rest_v**2 + 4 * battery_w * _PACK_RESISTANCE_OHM)) / 2
        return soc, volts, battery_w / volts, panel_w

    def _net_w(self, utc: float) -> float:
        return _CHARGE_EFFICIENCY * self._solar(utc) - self._load_w

    def _carry(self, soc: float, t0: float, net0_w: float, t1: float, net1_w: float) -> float:
        """``soc`` at ``t0`` carried to ``t1`` by Simpson's rule, clamped to 0..1."""
        net_mid_w = self._net_w((t0 + t1) / 2)
        energy_wh = (t1 - t0) / 6 * (net0_w + 4 * net_mid_w + net1_w) / HOUR_S
        return min(1.0, max(0.0, soc + energy_wh / self._capacity_wh))

    def _at_hour(self, hour: int) -> tuple[float, float]:
        with self._lock:
            missing = hour + 1 - len(self._hourly)
            if missing > 24 * 30:
                logger.debug("integrating %d hours of battery history", missing)
            for k in range(len(self._hourly), hour + 1):
                t1 = self._start + k * HOUR_S
                soc, net_w = self._hourly[-1]
                net1_w = self._net_w(t1)
                self._hourly.append((self._carry(soc, t1 - HOUR_S, net_w, t1, net1_w), net1_w))
            return self._hourly[hour]


def resting_voltage(soc: float) -> float:
    """The pack's open-circuit voltage (V) at state of charge ``soc`` (0-1)."""
    x = soc * (len(_LIFEPO4_OCV) - 1)
    i = min(int(x), len(_LIFEPO4_OCV) - 2)
    return _LIFEPO4_OCV[i] + (x - i) * (_LIFEPO4_OCV[i + 1] - _LIFEPO4_OCV[i])
