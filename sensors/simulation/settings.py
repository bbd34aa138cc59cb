"""The ``[simulation]`` table of a buoy's TOML config: which reef a simulated buoy floats on.

Every physical knob of the simulated reef (``sensors.simulation``) is a documented setting
here, with defaults for a shallow fringing reef off north-east Bali (about 8.3° S, 115.5° E).
``PRESETS`` holds three reefs of different character, in three countries and two time zones,
for the three-buoy demo; ``preset(name)`` returns one.
The same settings and ``seed`` always give the same simulated world.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from nemopi.configfile import in_range, setting
from sensors.clock import SimulatedClock


@dataclass(frozen=True)
class SimulationSettings:
    site: str = setting("Tulamben reef", doc="Site name, for logs and the demo.")
    seed: int = setting(
        1, doc="Seed of the simulated weather, boats and GPS dropouts; same seed, same world."
    )
    latitude: float = setting(
        -8.28,
        doc="Mooring latitude (degrees north); reefs lie far from the poles.",
        check=in_range(-80, 80),
    )
    longitude: float = setting(
        115.59, doc="Mooring longitude (degrees east).", check=in_range(-180, 180)
    )
    mooring_radius_m: float = setting(
        15.0,
        doc="Radius of the circle the buoy swings in around its anchor (m).",
        check=in_range(0, 500),
    )
    probe_depth_m: float = setting(
        1.0,
        doc="Depth of the temperature probe (m); the day-night swing weakens with depth.",
        check=in_range(0, 50),
    )
    mean_temperature_c: float = setting(
        28.3, doc="Annual mean water temperature (°C).", check=in_range(-2, 35)
    )
    seasonal_amplitude_c: float = setting(
        1.2,
        doc="Half the range between the warmest and coolest season (°C).",
        check=in_range(0, 10),
    )
    warmest_day: int = setting(
        75, doc="Day of the year (1-366) of the seasonal temperature peak.", check=in_range(1, 366)
    )
    diurnal_amplitude_c: float = setting(
        0.5,
        doc="Half the day-night temperature range at the surface (°C); it peaks mid-afternoon.",
        check=in_range(0, 5),
    )
    heatwave_start_day: int = setting(
        60,
        doc="Day of the year (1-366) a marine heatwave starts, every year.",
        check=in_range(1, 366),
    )
    heatwave_days: int = setting(
        30, doc="Length of the marine heatwave (days).", check=in_range(1, 365)
    )
    heatwave_peak_c: float = setting(
        0.0,
        doc="Warming at the height of the heatwave (°C); 0 = no heatwave.",
        check=in_range(0, 6),
    )
    mean_pco2_uatm: float = setting(
        420.0,
        doc="Mean seawater pCO2 at the mean temperature (uatm); sets the mean pH.",
        check=in_range(150, 2000),
    )
    diel_dic_amplitude_umol_kg: float = setting(
        25.0,
        doc="Half the day-night swing of dissolved inorganic carbon from reef metabolism "
        "(umol/kg); larger on shallow, busy reef flats.",
        check=in_range(0, 200),
    )
    baseline_turbidity_ntu: float = setting(
        1.0, doc="Turbidity of calm water without rain (NTU).", check=in_range(0, 500)
    )
    rain_probability: float = setting(
        0.25,
        doc="Chance that a day brings rain and a runoff plume of sediment (0-1).",
        check=in_range(0, 1),
    )
    tidal_current_m_s: float = setting(
        0.4,
        doc="Amplitude of the semi-diurnal (M2) tidal current (m/s); springs reach 1.4 times it.",
        check=in_range(0, 3),
    )
    flood_bearing_deg: float = setting(
        0.0,
        doc="Direction the flood tide flows towards (degrees clockwise from north).",
        check=in_range(0, 360),
    )
    boats_per_morning: float = setting(
        4.0,
        doc="Mean number of boats passing upwind each morning (bursts of NO and NO2).",
        check=in_range(0, 100),
    )
    gps_no_fix_probability: float = setting(
        0.02,
        doc="Chance that the GPS has no fix during any ten-minute slot (0-1).",
        check=in_range(0, 1),
    )
    battery_capacity_wh: float = setting(
        256.0,
        doc="Usable energy of the 12.8 V LiFePO4 pack (Wh).",
        check=in_range(1, 10000),
    )
    solar_peak_w: float = setting(
        20.0,
        doc="Rated power of the flat solar panel at 1000 W/m2 (W).",
        check=in_range(0, 200),
    )
    load_w: float = setting(
        1.5, doc="Average power the buoy electronics draw (W).", check=in_range(0, 100)
    )
    start_state_of_charge: float = setting(
        0.8,
        doc="Battery state of charge when the simulation starts (0-1).",
        check=in_range(0, 1),
    )
    speedup: float = setting(
        1.0,
        doc="How many times faster than real time the simulated clock runs; 0 = virtual "
        "time that moves only when the software sleeps.",
        check=in_range(0, 1e6),
    )

    def clock(self, start_utc: float) -> SimulatedClock:
        """A simulated clock at ``start_utc`` running at this simulation's ``speedup``."""
        return SimulatedClock(start_utc, self.speedup)


PRESETS: Mapping[str, SimulationSettings] = MappingProxyType(
    {
        # Chalong Bay, Phuket (Andaman Sea): a harbour bay, warmest before the April monsoon
        "sheltered-bay": SimulationSettings(
            site="Chalong Bay",
            seed=11,
            latitude=7.805,
            longitude=98.365,
            mooring_radius_m=10.0,
            probe_depth_m=1.5,
            mean_temperature_c=28.6,
            warmest_day=110,
            diurnal_amplitude_c=0.7,
            mean_pco2_uatm=470.0,
            diel_dic_amplitude_umol_kg=45.0,
            baseline_turbidity_ntu=6.0,
            rain_probability=0.4,
            tidal_current_m_s=0.12,
            flood_bearing_deg=20.0,
            boats_per_morning=9.0,
        ),
        # Nusa Penida, Bali (Lombok Strait): cold upwelling and strong tidal currents
        "exposed-point": SimulationSettings(
            site="Nusa Penida point",
            seed=23,
            latitude=-8.675,
            longitude=115.445,
            mooring_radius_m=30.0,
            probe_depth_m=3.0,
            mean_temperature_c=27.4,
            seasonal_amplitude_c=1.8,
            diurnal_amplitude_c=0.25,
            diel_dic_amplitude_umol_kg=12.0,
            baseline_turbidity_ntu=0.4,
            rain_probability=0.2,
            tidal_current_m_s=1.1,
            flood_bearing_deg=190.0,
            boats_per_morning=3.0,
            # a small panel, often wet with spray: the pack barely breaks even over a year
            solar_peak_w=8.0,
            gps_no_fix_probability=0.05,
        ),
        # Moalboal, Cebu (Philippines): warmest in May, with a marine heatwave every hot dry
        # season (mid-February to mid-May)
        "heatwave-reef": SimulationSettings(
            site="Moalboal reef",
            seed=37,
            latitude=9.938,
            longitude=123.362,
            mean_temperature_c=28.9,
            warmest_day=140,
            heatwave_start_day=45,
            heatwave_days=90,
            heatwave_peak_c=2.0,
            baseline_turbidity_ntu=0.8,
            rain_probability=0.15,
            tidal_current_m_s=0.3,
            flood_bearing_deg=100.0,
            boats_per_morning=5.0,
        ),
    }
)


def preset(name: str) -> SimulationSettings:
    """The preset reef called ``name``; ``KeyError`` lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown reef preset {name!r} (known: {', '.join(PRESETS)})") from None
