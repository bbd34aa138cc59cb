"""The simulated reef: the physical truth that a simulated buoy's device emulators read.

The emulators under the real drivers take the truth as zero-argument callables; ``Reef`` is
what those callables ask, so a simulated buoy runs the same driver code as a real one against a
world that behaves like a shallow tropical reef.

What it promises:

- ``Reef.state(utc)`` depends only on the instant, the settings and the start instant (the
  battery's history begins there). Random events are drawn per local solar day from
  ``random.Random(f"{seed}/{stream}/{day}")``, one stream per kind (rain, cloud, boats, gps,
  weather), never from a shared generator: sensors sampled at any rate and in any order see
  the same world, and a simulated clock can run it at any speed.
- A query costs tens of microseconds. With realistic settings every value lies in the
  catalogue's valid range (the presets are checked hourly over a year).

The physical relations:

- Sun: NOAA general solar position (Spencer's 1971 series for declination and equation of
  time). Clear-sky beam irradiance of Meinel & Meinel (1976), 1.353 kW/m2 x 0.7^(AM^0.678) with
  AM = 1/sin(elevation), on a panel lying flat on the buoy, times the cloud attenuation of
  Kasten & Czeplak (1980), 1 - 0.75 c^3.4 for cloud cover c.
- Temperature: annual cosine, plus a daily cosine peaking at 15:00 local solar time whose
  amplitude decays as exp(-depth / 4 m), plus a daily weather anomaly, plus a marine heatwave
  with tapered ends (a Tukey window) that comes back every year.
- Carbonate system at constant alkalinity (TA 2300 umol/kg, S 34): reef metabolism moves
  dissolved inorganic carbon (DIC); light (a half-sine from 06:00 to 18:00 local solar time)
  fixes it, steady respiration returns it, so DIC is lowest late in the afternoon and highest
  after dawn. pCO2 = mean x (DIC / DIC_mean)^9.6 (Revelle factor) x exp(0.0423 dT) (Takahashi
  et al. 1993). pH_T = 8.026 - 0.81 log10(pCO2 / 420), a fit to the full carbonate system
  (Lueker et al. 2000 constants) over 300-570 uatm and 26-31 °C, within 0.01 (pCO2 within 3 %). The
  equilibrator's wet air at 1 atm holds xCO2 (ppm) numerically equal to pCO2 (uatm).
- Tide: M2 (12.42 h) plus S2 (12.00 h) at 0.4 of M2, so springs and neaps alternate every
  14.77 days; a reversing current along the flood bearing with a minor axis of 0.15.
- Turbidity: baseline, plus runoff plumes after rain (2 h rise, 12-30 h e-folding decay),
  plus resuspension proportional to the excess bed shear stress (Partheniades), with the
  stress proportional to the current speed squared and a threshold at 0.2 m/s.
- NO and NO2 in air: a background split by the Leighton photostationary state (NO/NO2 grows
  with sunlight, which photolyses NO2), plus boat exhaust passing as Gaussian bursts in the
  morning, 80 % NO and 20 % NO2.
- Mooring: the buoy lies downstream of its anchor at radius x tanh(speed / 0.25 m/s).
- Battery: a 12.8 V LiFePO4 pack (4S). The state of charge integrates 0.92 x solar - load
  with Simpson's rule hour by hour from the start, clamped at full (the charge controller
  curtails the panel) and empty (the load disconnects). Terminal voltage = resting voltage
  of the state of charge (a table) + current x 0.05 ohm.
"""

from __future__ import annotations

import calendar
import dataclasses
import functools
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from nemopi import catalogue
from sensors.clock import Clock
from sensors.simulation.settings import SimulationSettings

logger = logging.getLogger(__name__)

_DAY_S = 86400.0
_HOUR_S = 3600.0
_EARTH_RADIUS_M = 6_371_000.0

_THERMAL_EFOLDING_M = 4.0
_WARMEST_HOUR = 15.0
_HEATWAVE_TAPER = 0.2  # fraction of the heatwave spent warming up, and again cooling down
_WEATHER_SD_C = 0.15

_DIC_MEAN = 1995.0  # umol/kg at TA 2300, S 34, 28.5 °C and 420 uatm
_REVELLE = 9.6
_PCO2_PER_DEGREE = 0.0423
_PH_AT_REF = 8.026
_PCO2_REF = 420.0
_PH_PER_DECADE_PCO2 = 0.81

_M2_RAD_S = 2 * math.pi / (12.4206012 * _HOUR_S)
_S2_RAD_S = 2 * math.pi / (12.0 * _HOUR_S)
_S2_OVER_M2 = 0.4
_MINOR_OVER_MAJOR = 0.15

_PLUME_RISE_S = 2 * _HOUR_S
_PLUME_LOOKBACK_DAYS = 8
_RESUSPENSION_SPEED = 0.2  # m/s
_RESUSPENSION_GAIN = 0.25

_NOX_BACKGROUND_PPB = 1.5
_NO_OVER_NO2_AT_ZENITH = 0.4
_EXHAUST_NO2_FRACTION = 0.2

_MOORING_SPEED_SCALE = 0.25  # m/s
_GPS_SLOTS_PER_DAY = 144

_CHARGE_EFFICIENCY = 0.92
_PACK_RESISTANCE_OHM = 0.05
# Resting voltage of a 4S LiFePO4 pack at 0 %, 10 %, ..., 100 % state of charge.
_LIFEPO4_OCV = (10.0, 12.0, 12.8, 12.9, 13.0, 13.05, 13.1, 13.2, 13.3, 13.4, 13.6)


@dataclass(frozen=True, slots=True)
class ReefState:
    """The true state of the reef and the buoy at one instant, in catalogue units."""

    utc: float
    water_temperature: float
    ph: float
    xco2_equilibrated: float
    turbidity: float
    current_speed: float
    current_direction: float
    no2: float
    no: float
    latitude: float  # where the buoy is, fix or no fix
    longitude: float
    gps_fix: bool  # whether the GPS receiver can tell
    battery_voltage: float
    battery_current: float  # + charging
    solar_power: float  # what the panel delivers (curtailed when the pack is full)
    state_of_charge: float  # 0-1; not on the wire, the pack's truth behind its voltage

    def value(self, quantity: str) -> float:
        """The value of the catalogue quantity ``quantity``; ``KeyError`` if not simulated."""
        if quantity not in QUANTITIES:
            raise KeyError(f"the simulated reef has no quantity {quantity!r}")
        return float(getattr(self, quantity))


QUANTITIES: tuple[str, ...] = tuple(
    q.name
    for q in catalogue.measured()
    if q.name in {f.name for f in dataclasses.fields(ReefState)}
)


@dataclass(frozen=True, slots=True)
class _Event:
    """Something that happens at ``utc``: its size and its time scale."""

    utc: float
    size: float
    scale_s: float


@dataclass(frozen=True, slots=True)
class _DayPlan:
    """What one local solar day brings, drawn once from that day's seeded streams."""

    rains: tuple[_Event, ...]  # size: plume peak (NTU); scale: decay e-folding time
    boats: tuple[_Event, ...]  # size: NOx peak (ppb); scale: standard deviation in time
    cloud: tuple[float, ...]  # cover (0-1) at each local hour
    weather: tuple[float]  # temperature anomaly at local midnight (°C)
    nox: tuple[float]  # background NOx at local midnight (ppb)
    no_fix: tuple[bool, ...]  # GPS without a fix, per ten-minute slot


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _production_integral(solar_hour: float) -> float:
    """Integral since 06:00 of light minus its daily mean, light = half-sine 06:00-18:00."""
    h = (solar_hour - 6.0) % 24.0
    if h <= 12.0:
        return 12.0 / math.pi * (1.0 - math.cos(math.pi * h / 12.0)) - h / math.pi
    return (24.0 - h) / math.pi


_LIGHT_EQUALS_MEAN_H = 12.0 / math.pi * math.asin(1.0 / math.pi)
_PRODUCTION_MAX = _production_integral(18.0 - _LIGHT_EQUALS_MEAN_H)
_PRODUCTION_MIN = _production_integral(6.0 + _LIGHT_EQUALS_MEAN_H)


def _carbon_fixed(solar_hour: float) -> float:
    """Carbon taken up by the reef since its daily low, scaled to -1 (dawn) .. +1 (dusk)."""
    middle = (_PRODUCTION_MAX + _PRODUCTION_MIN) / 2
    half_range = (_PRODUCTION_MAX - _PRODUCTION_MIN) / 2
    return (_production_integral(solar_hour) - middle) / half_range


def _sun(utc: float, latitude: tuple[float, float], longitude: float) -> tuple[float, float]:
    """The sine of the sun's elevation and the local apparent solar time (hours).

    ``latitude`` is given as its (sine, cosine).
    """
    tm = time.gmtime(utc)
    seconds = utc % _DAY_S
    year_days = 366 if calendar.isleap(tm.tm_year) else 365
    g = 2 * math.pi / year_days * (tm.tm_yday - 1 + (seconds / _HOUR_S - 12.0) / 24.0)
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
    solar_minutes = seconds / 60.0 + equation_of_time_min + 4.0 * longitude
    hour_angle = math.radians(solar_minutes / 4.0 - 180.0)
    sin_latitude, cos_latitude = latitude
    sin_elevation = sin_latitude * math.sin(declination) + cos_latitude * math.cos(
        declination
    ) * math.cos(hour_angle)
    return sin_elevation, (solar_minutes / 60.0) % 24.0


def _clear_sky_fraction(sin_elevation: float) -> float:
    """Beam irradiance on a flat panel under a clear sky, as a fraction of 1000 W/m2."""
    if sin_elevation <= 0.0:
        return 0.0
    return 1.353 * 0.7 ** ((1.0 / sin_elevation) ** 0.678) * sin_elevation


def _day_of_year(utc: float) -> float:
    """Day of the year, 1.0 at the start of 1 January, continuous through each day."""
    return time.gmtime(utc).tm_yday + (utc % _DAY_S) / _DAY_S


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth's multiplication method)."""
    limit = math.exp(-mean)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _stream(seed: int, kind: str, day: int) -> random.Random:
    return random.Random(f"{seed}/{kind}/{day}")


def _plan_day(settings: SimulationSettings, day: int, day_start: float) -> _DayPlan:
    """Draw the rain, clouds, boats, GPS dropouts and weather of local day ``day``."""
    rng = _stream(settings.seed, "rain", day)
    rains: tuple[_Event, ...] = ()
    if rng.random() < settings.rain_probability:
        hour = _clamp(rng.gauss(16.0, 3.0), 0.0, 23.9)
        peak = settings.baseline_turbidity_ntu * rng.lognormvariate(math.log(5.0), 0.5)
        rains = (_Event(day_start + hour * _HOUR_S, peak, rng.uniform(12.0, 30.0) * _HOUR_S),)

    rng = _stream(settings.seed, "cloud", day)
    cover = rng.betavariate(5.0, 2.0) if rains else rng.betavariate(2.0, 3.0)
    cloud = tuple(_clamp(cover + rng.gauss(0.0, 0.15), 0.0, 1.0) for _ in range(24))

    rng = _stream(settings.seed, "boats", day)
    boats = tuple(
        _Event(
            day_start + _clamp(rng.gauss(8.0, 1.0), 6.0, 11.0) * _HOUR_S,
            rng.lognormvariate(math.log(20.0), 0.6),
            rng.uniform(3.0, 8.0) * 60.0,
        )
        for _ in range(_poisson(rng, settings.boats_per_morning))
    )

    rng = _stream(settings.seed, "gps", day)
    no_fix = tuple(
        rng.random() < settings.gps_no_fix_probability for _ in range(_GPS_SLOTS_PER_DAY)
    )

    rng = _stream(settings.seed, "weather", day)
    weather = (rng.gauss(0.0, _WEATHER_SD_C),)
    nox = (_NOX_BACKGROUND_PPB * rng.lognormvariate(0.0, 0.3),)
    return _DayPlan(rains, boats, cloud, weather, nox, no_fix)


class _Pack:
    """The 12.8 V LiFePO4 pack: charged by the panel, drained by the load, from ``start_utc``.

    The state of charge at each whole hour after the start is kept once computed, so a query
    integrates at most one hour; the same instant always gets the same answer.
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

    def _net_w(self, utc: float) -> float:
        return _CHARGE_EFFICIENCY * self._solar(utc) - self._load_w

    def _carry(self, soc: float, t0: float, net0_w: float, t1: float, net1_w: float) -> float:
        """``soc`` at ``t0`` carried to ``t1`` by Simpson's rule, clamped to 0..1."""
        net_mid_w = self._net_w((t0 + t1) / 2)
        energy_wh = (t1 - t0) / 6 * (net0_w + 4 * net_mid_w + net1_w) / _HOUR_S
        return _clamp(soc + energy_wh / self._capacity_wh, 0.0, 1.0)

    def _at_hour(self, hour: int) -> tuple[float, float]:
        with self._lock:
            missing = hour + 1 - len(self._hourly)
            if missing > 24 * 30:
                logger.debug("integrating %d hours of battery history", missing)
            for k in range(len(self._hourly), hour + 1):
                t1 = self._start + k * _HOUR_S
                soc, net_w = self._hourly[-1]
                net1_w = self._net_w(t1)
                self._hourly.append((self._carry(soc, t1 - _HOUR_S, net_w, t1, net1_w), net1_w))
            return self._hourly[hour]

    def electrical(self, utc: float) -> tuple[float, float, float, float]:
        """State of charge, terminal voltage (V), current (A, + charging), panel power (W).

        Before the start the pack holds its starting charge.
        """
        available_w = self._solar(utc)
        battery_w = _CHARGE_EFFICIENCY * available_w - self._load_w
        if utc <= self._start:
            soc = self._hourly[0][0]
        else:
            hour = int((utc - self._start) // _HOUR_S)
            soc_h, net_h = self._at_hour(hour)
            soc = self._carry(soc_h, self._start + hour * _HOUR_S, net_h, utc, battery_w)
        panel_w = available_w
        if soc >= 1.0 and battery_w > 0.0:
            battery_w, panel_w = 0.0, min(available_w, self._load_w / _CHARGE_EFFICIENCY)
        elif soc <= 0.0 and battery_w < 0.0:
            battery_w = _CHARGE_EFFICIENCY * available_w
        rest_v = _resting_voltage(soc)
        volts = (rest_v + math.sqrt(rest_v**2 + 4 * battery_w * _PACK_RESISTANCE_OHM)) / 2
        return soc, volts, battery_w / volts, panel_w


def _resting_voltage(soc: float) -> float:
    x = soc * (len(_LIFEPO4_OCV) - 1)
    i = min(int(x), len(_LIFEPO4_OCV) - 2)
    return _LIFEPO4_OCV[i] + (x - i) * (_LIFEPO4_OCV[i + 1] - _LIFEPO4_OCV[i])


class Reef:
    """The simulated reef at ``settings``' site; its battery history begins at ``start_utc``."""

    def __init__(self, settings: SimulationSettings, start_utc: float) -> None:
        self.settings = settings
        self.start_utc = start_utc
        latitude_rad = math.radians(settings.latitude)
        self._latitude = (math.sin(latitude_rad), math.cos(latitude_rad))
        self._solar_offset_s = settings.longitude / 15.0 * _HOUR_S
        tide = _stream(settings.seed, "tide", 0)
        self._m2_phase = tide.uniform(0.0, 2 * math.pi)
        self._s2_phase = tide.uniform(0.0, 2 * math.pi)
        bearing = math.radians(settings.flood_bearing_deg)
        self._axis = (math.sin(bearing), math.cos(bearing))  # (east, north) of the flood
        self._plan: Callable[[int], _DayPlan] = functools.lru_cache(maxsize=32)(self._make_plan)
        self._pack = _Pack(settings, start_utc, self._solar_available_w)

    def state(self, utc: float) -> ReefState:
        """The true state of everything at ``utc`` (seconds since the Unix epoch)."""
        sin_elevation, solar_hour = _sun(utc, self._latitude, self.settings.longitude)
        day, fraction = self._local_day(utc)
        temperature = self._water_temperature(utc, solar_hour, day, fraction)
        ph, pco2 = self._carbonate(temperature, solar_hour)
        east, north = self._current(utc)
        speed = math.hypot(east, north)
        latitude, longitude = self._position(east, north, speed)
        no2, no = self._nitrogen_oxides(utc, sin_elevation, day, fraction)
        soc, volts, amps, panel_w = self._pack.electrical(utc)
        no_fix = self._plan(day).no_fix
        return ReefState(
            utc=utc,
            water_temperature=temperature,
            ph=ph,
            xco2_equilibrated=pco2,
            turbidity=self._turbidity(utc, speed, day),
            current_speed=speed,
            current_direction=math.degrees(math.atan2(east, north)) % 360.0,
            no2=no2,
            no=no,
            latitude=latitude,
            longitude=longitude,
            gps_fix=not no_fix[min(int(fraction * len(no_fix)), len(no_fix) - 1)],
            battery_voltage=volts,
            battery_current=amps,
            solar_power=panel_w,
            state_of_charge=soc,
        )

    def truth(self, clock: Clock, quantity: str) -> Callable[[], float]:
        """A zero-argument callable: ``quantity`` (a catalogue name) now, by ``clock``."""
        if quantity not in QUANTITIES:
            raise KeyError(f"the simulated reef has no quantity {quantity!r}")
        return lambda: self.state(clock.utc()).value(quantity)

    def position(self, clock: Clock) -> Callable[[], tuple[float, float] | None]:
        """A zero-argument callable: (latitude, longitude) now by ``clock``, None without a fix.

        This is what the NMEA GPS emulator takes as its ``position``.
        """

        def now() -> tuple[float, float] | None:
            state = self.state(clock.utc())
            return (state.latitude, state.longitude) if state.gps_fix else None

        return now

    def _local_day(self, utc: float) -> tuple[int, float]:
        """The local solar day number and the fraction of it gone at ``utc``."""
        days = (utc + self._solar_offset_s) / _DAY_S
        day = math.floor(days)
        return day, days - day

    def _make_plan(self, day: int) -> _DayPlan:
        return _plan_day(self.settings, day, day * _DAY_S - self._solar_offset_s)

    def _daily(
        self, knots: Callable[[_DayPlan], tuple[float, ...]], day: int, fraction: float
    ) -> float:
        """Linear interpolation between a day's evenly spaced knots and the next day's first."""
        values = knots(self._plan(day))
        x = fraction * len(values)
        i = min(int(x), len(values) - 1)
        following = values[i + 1] if i + 1 < len(values) else knots(self._plan(day + 1))[0]
        return values[i] + (x - i) * (following - values[i])

    def _water_temperature(self, utc: float, solar_hour: float, day: int, fraction: float) -> float:
        s = self.settings
        season = s.seasonal_amplitude_c * math.cos(
            2 * math.pi * (_day_of_year(utc) - s.warmest_day) / 365.25
        )
        diurnal = (
            s.diurnal_amplitude_c
            * math.exp(-s.probe_depth_m / _THERMAL_EFOLDING_M)
            * math.cos(2 * math.pi * (solar_hour - _WARMEST_HOUR) / 24.0)
        )
        weather = self._daily(lambda plan: plan.weather, day, fraction)
        return s.mean_temperature_c + season + diurnal + weather + self._heatwave(utc)

    def _heatwave(self, utc: float) -> float:
        s = self.settings
        if s.heatwave_peak_c == 0.0:
            return 0.0
        year = time.gmtime(utc).tm_year
        for y in (year, year - 1):
            begin = calendar.timegm((y, 1, 1, 0, 0, 0)) + (s.heatwave_start_day - 1) * _DAY_S
            x = (utc - begin) / (s.heatwave_days * _DAY_S)
            if 0.0 <= x < 1.0:
                edge = min(x, 1.0 - x)
                if edge >= _HEATWAVE_TAPER:
                    return s.heatwave_peak_c
                return s.heatwave_peak_c * math.sin(math.pi * edge / (2 * _HEATWAVE_TAPER)) ** 2
        return 0.0

    def _carbonate(self, temperature: float, solar_hour: float) -> tuple[float, float]:
        """pH (total scale) and pCO2 (uatm) of the water."""
        s = self.settings
        dic = _DIC_MEAN - s.diel_dic_amplitude_umol_kg * _carbon_fixed(solar_hour)
        pco2 = (
            s.mean_pco2_uatm
            * (dic / _DIC_MEAN) ** _REVELLE
            * math.exp(_PCO2_PER_DEGREE * (temperature - s.mean_temperature_c))
        )
        return _PH_AT_REF - _PH_PER_DECADE_PCO2 * math.log10(pco2 / _PCO2_REF), pco2

    def _current(self, utc: float) -> tuple[float, float]:
        """Tidal current (east, north) in m/s."""
        m2 = _M2_RAD_S * utc + self._m2_phase
        s2 = _S2_RAD_S * utc + self._s2_phase
        amplitude = self.settings.tidal_current_m_s
        along = amplitude * (math.cos(m2) + _S2_OVER_M2 * math.cos(s2))
        across = amplitude * _MINOR_OVER_MAJOR * (math.sin(m2) + _S2_OVER_M2 * math.sin(s2))
        east, north = self._axis
        return along * east + across * north, along * north - across * east

    def _position(self, east: float, north: float, speed: float) -> tuple[float, float]:
        """Where the current has pushed the buoy within its mooring circle."""
        s = self.settings
        if speed == 0.0:
            return s.latitude, s.longitude
        reach = s.mooring_radius_m * math.tanh(speed / _MOORING_SPEED_SCALE) / speed
        latitude = s.latitude + math.degrees(reach * north / _EARTH_RADIUS_M)
        longitude = s.longitude + math.degrees(reach * east / (_EARTH_RADIUS_M * self._latitude[1]))
        return latitude, (longitude + 180.0) % 360.0 - 180.0

    def _turbidity(self, utc: float, speed: float, day: int) -> float:
        baseline = self.settings.baseline_turbidity_ntu
        plumes = 0.0
        for past in range(day - _PLUME_LOOKBACK_DAYS, day + 1):
            for rain in self._plan(past).rains:
                age = utc - rain.utc
                if age > 0.0:
                    rise = 1.0 - math.exp(-age / _PLUME_RISE_S)
                    plumes += rain.size * rise * math.exp(-age / rain.scale_s)
        excess_stress = max(0.0, (speed / _RESUSPENSION_SPEED) ** 2 - 1.0)
        return baseline * (1.0 + _RESUSPENSION_GAIN * excess_stress) + plumes

    def _nitrogen_oxides(
        self, utc: float, sin_elevation: float, day: int, fraction: float
    ) -> tuple[float, float]:
        """NO2 and NO in the air (ppb)."""
        background = self._daily(lambda plan: plan.nox, day, fraction)
        ratio = _NO_OVER_NO2_AT_ZENITH * max(0.0, sin_elevation)
        no2, no = background / (1.0 + ratio), background * ratio / (1.0 + ratio)
        for boat in self._plan(day).boats:
            z = (utc - boat.utc) / boat.scale_s
            if abs(z) < 6.0:
                burst = boat.size * math.exp(-z * z / 2)
                no2 += _EXHAUST_NO2_FRACTION * burst
                no += (1.0 - _EXHAUST_NO2_FRACTION) * burst
        return no2, no

    def _solar_available_w(self, utc: float) -> float:
        """What the panel could deliver now: sun, air mass and clouds."""
        sin_elevation, _ = _sun(utc, self._latitude, self.settings.longitude)
        if sin_elevation <= 0.0:
            return 0.0
        day, fraction = self._local_day(utc)
        cover = self._daily(lambda plan: plan.cloud, day, fraction)
        return (
            self.settings.solar_peak_w
            * _clear_sky_fraction(sin_elevation)
            * (1.0 - 0.75 * cover**3.4)
        )
