"""The simulated reef: the physical truth that a simulated buoy's device emulators read.

The emulators under the real drivers take the truth as zero-argument callables; ``Reef`` is
what those callables ask, so a simulated buoy runs the same driver code as a real one against a
world that behaves like a shallow tropical reef.

What it promises:

- ``Reef.state(utc)`` depends only on the instant, the settings and the start instant (the
  battery's history begins there). Random events are drawn per local solar day from seeded
  streams, one per kind, never from a shared generator (``random_streams``): sensors sampled
  at any rate and in any order see the same world, and a simulated clock can run it at any
  speed.
- A query costs tens of microseconds. With realistic settings every value lies in the
  catalogue's valid range (the presets are checked hourly over a year).

This module composes the parts, each of which names the physical relations it uses: ``sun``
(solar position and panel power), ``water_temperature``, ``carbonate`` (pH and CO2), ``tide``
(the current), ``turbidity``, ``nitrogen_oxides``, ``mooring`` (the GPS position), ``battery``
and ``daily_events`` (rain, clouds, boats, GPS dropouts and weather).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

from nemopi import catalogue
from sensors.clock import Clock
from sensors.simulation.battery import Pack
from sensors.simulation.carbonate import ph_and_pco2
from sensors.simulation.daily_events import DailyEvents
from sensors.simulation.mooring import Mooring
from sensors.simulation.nitrogen_oxides import nitrogen_oxides
from sensors.simulation.settings import SimulationSettings
from sensors.simulation.sun import Sun, panel_power_w
from sensors.simulation.tide import Tide
from sensors.simulation.turbidity import PLUME_LOOKBACK_DAYS, turbidity
from sensors.simulation.water_temperature import water_temperature


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


class Reef:
    """The simulated reef at ``settings``' site; its battery history begins at ``start_utc``."""

    def __init__(self, settings: SimulationSettings, start_utc: float) -> None:
        self.settings = settings
        self.start_utc = start_utc
        self._sun = Sun(settings.latitude, settings.longitude)
        self._events = DailyEvents(settings)
        self._tide = Tide(settings)
        self._mooring = Mooring(settings)
        self._pack = Pack(settings, start_utc, self._solar_available_w)

    def state(self, utc: float) -> ReefState:
        """The true state of everything at ``utc`` (seconds since the Unix epoch)."""
        sin_elevation, solar_hour = self._sun.position(utc)
        day, fraction = self._events.local_day(utc)
        weather = self._events.interpolate(lambda plan: plan.weather, day, fraction)
        temperature = water_temperature(self.settings, utc, solar_hour, weather)
        ph, pco2 = ph_and_pco2(self.settings, temperature, solar_hour)
        east, north = self._tide.current(utc)
        speed = math.hypot(east, north)
        latitude, longitude = self._mooring.buoy_position(east, north, speed)
        background = self._events.interpolate(lambda plan: plan.nox, day, fraction)
        no2, no = nitrogen_oxides(background, sin_elevation, utc, self._events.plan(day).boats)
        soc, volts, amps, panel_w = self._pack.electrical(utc)
        rains = self._events.rains(day - PLUME_LOOKBACK_DAYS, day)
        return ReefState(
            utc=utc,
            water_temperature=temperature,
            ph=ph,
            xco2_equilibrated=pco2,
            turbidity=turbidity(self.settings.baseline_turbidity_ntu, utc, speed, rains),
            current_speed=speed,
            current_direction=math.degrees(math.atan2(east, north)) % 360.0,
            no2=no2,
            no=no,
            latitude=latitude,
            longitude=longitude,
            gps_fix=self._events.gps_fix(day, fraction),
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

    def _solar_available_w(self, utc: float) -> float:
        """What the panel could deliver now: sun, air mass and clouds."""
        sin_elevation, _ = self._sun.position(utc)
        if sin_elevation <= 0.0:
            return 0.0  # no sun, so no need to ask the day's clouds
        day, fraction = self._events.local_day(utc)
        cover = self._events.interpolate(lambda plan: plan.cloud, day, fraction)
        return panel_power_w(self.settings.solar_peak_w, sin_elevation, cover)
