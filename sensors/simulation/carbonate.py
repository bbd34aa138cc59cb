"""The seawater carbonate system: the pH and CO2 a buoy's probes and equilibrator measure.

Alkalinity stays constant (TA 2300 umol/kg, S 34); reef metabolism moves dissolved inorganic
carbon (DIC). Light, a half-sine from 06:00 to 18:00 local solar time, fixes carbon and steady
respiration returns it, so DIC is lowest late in the afternoon and highest after dawn.

- pCO2 = mean x (DIC / DIC_mean)^9.6 (the Revelle factor) x exp(0.0423 dT) (Takahashi et al.
  1993), with dT the departure from the mean temperature.
- pH_T = 8.026 - 0.81 log10(pCO2 / 420), a fit to the full carbonate system (Lueker et al. 2000
  constants) over 300-570 uatm and 26-31 °C, within 0.01 (pCO2 within 3 %).
- The equilibrator's wet air at 1 atm holds xCO2 (ppm) numerically equal to pCO2 (uatm).
"""

from __future__ import annotations

import math

from sensors.simulation.settings import SimulationSettings

_DIC_MEAN = 1995.0  # umol/kg at TA 2300, S 34, 28.5 °C and 420 uatm
_REVELLE = 9.6
_PCO2_PER_DEGREE = 0.0423
_PH_AT_REF = 8.026
_PCO2_REF = 420.0
_PH_PER_DECADE_PCO2 = 0.81


def production_integral(solar_hour: float) -> float:
    """Integral since 06:00 of light minus its daily mean, light = half-sine 06:00-18:00."""
    h = (solar_hour - 6.0) % 24.0
    if h <= 12.0:
        return 12.0 / math.pi * (1.0 - math.cos(math.pi * h / 12.0)) - h / math.pi
    return (24.0 - h) / math.pi


_LIGHT_EQUALS_MEAN_H = 12.0 / math.pi * math.asin(1.0 / math.pi)
_PRODUCTION_MAX = production_integral(18.0 - _LIGHT_EQUALS_MEAN_H)
_PRODUCTION_MIN = production_integral(6.0 + _LIGHT_EQUALS_MEAN_H)


def carbon_fixed(solar_hour: float) -> float:
    """Carbon taken up by the reef since its daily low, scaled to -1 (dawn) .. +1 (dusk)."""
    middle = (_PRODUCTION_MAX + _PRODUCTION_MIN) / 2
    half_range = (_PRODUCTION_MAX - _PRODUCTION_MIN) / 2
    return (production_integral(solar_hour) - middle) / half_range


def ph_and_pco2(
    settings: SimulationSettings, temperature: float, solar_hour: float
) -> tuple[float, float]:
    """pH (total scale) and pCO2 (uatm) of water at ``temperature`` (°C) at ``solar_hour``."""
    s = settings
    dic = _DIC_MEAN - s.diel_dic_amplitude_umol_kg * carbon_fixed(solar_hour)
    pco2 = (
        s.mean_pco2_uatm
        * (dic / _DIC_MEAN) ** _REVELLE
        * math.exp(_PCO2_PER_DEGREE * (temperature - s.mean_temperature_c))
    )
    return _PH_AT_REF - _PH_PER_DECADE_PCO2 * math.log10(pco2 / _PCO2_REF), pco2
