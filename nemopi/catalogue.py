"""The quantity catalogue: the one place that says what nemopi measures.

Drivers report values in these units, the wire format carries them at ``decimals`` places,
QC takes its gross-range defaults from ``valid_min``/``valid_max``, and exports and pages
take their headers and labels from here. Adding a quantity means adding one entry below;
``code`` is its number on the wire and must never be reused for something else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Group(StrEnum):
    """What a quantity describes, so pages and exports can group them."""

    WATER = "water"
    AIR = "air"
    POSITION = "position"
    POWER = "power"
    HEALTH = "health"


@dataclass(frozen=True, slots=True)
class Quantity:
    """One measured or derived quantity.

    ``valid_min``/``valid_max`` are the physically possible range (a QC *fail* outside it),
    not the range a healthy reef shows; per-site limits are QC configuration.
    ``derived`` quantities are computed on the dashboard and never travel on the wire.
    """

    code: int
    name: str
    label: str
    unit: str
    cf_standard_name: str | None
    valid_min: float
    valid_max: float
    decimals: int
    group: Group
    derived: bool = False

    def contains(self, value: float) -> bool:
        """True when ``value`` is physically possible for this quantity."""
        return self.valid_min <= value <= self.valid_max


CATALOGUE: tuple[Quantity, ...] = (
    Quantity(
        1,
        "ph",
        "pH (total scale)",
        "1",
        "sea_water_ph_reported_on_total_scale",
        0.0,
        14.0,
        3,
        Group.WATER,
    ),
    Quantity(
        2,
        "water_temperature",
        "Water temperature",
        "degree_Celsius",
        "sea_water_temperature",
        -2.5,
        40.0,
        3,
        Group.WATER,
    ),
    Quantity(
        3, "turbidity", "Turbidity", "NTU", "sea_water_turbidity", 0.0, 4000.0, 2, Group.WATER
    ),
    Quantity(
        4,
        "visibility",
        "Visibility (estimated from turbidity)",
        "m",
        None,
        0.0,
        60.0,
        1,
        Group.WATER,
        derived=True,
    ),
    # The SCD4x sits in a membrane equilibrator: it measures the CO2 mole fraction of air in
    # equilibrium with the water. pCO2 in seawater follows from it and pressure (derived).
    Quantity(
        5,
        "xco2_equilibrated",
        "CO2 in equilibrated air",
        "ppm",
        "mole_fraction_of_carbon_dioxide_in_air",
        0.0,
        40000.0,
        0,
        Group.WATER,
    ),
    Quantity(
        6, "pco2", "pCO2 in seawater", "uatm", None, 0.0, 40000.0, 1, Group.WATER, derived=True
    ),
    Quantity(
        7, "latitude", "Latitude", "degrees_north", "latitude", -90.0, 90.0, 7, Group.POSITION
    ),
    Quantity(
        8, "longitude", "Longitude", "degrees_east", "longitude", -180.0, 180.0, 7, Group.POSITION
    ),
    Quantity(
        9, "current_speed", "Current speed", "m s-1", "sea_water_speed", 0.0, 5.0, 3, Group.WATER
    ),
    Quantity(
        10,
        "current_direction",
        "Current direction (towards)",
        "degree",
        "direction_of_sea_water_velocity",
        0.0,
        360.0,
        1,
        Group.WATER,
    ),
    Quantity(
        11,
        "no2",
        "Nitrogen dioxide",
        "ppb",
        "mole_fraction_of_nitrogen_dioxide_in_air",
        0.0,
        20000.0,
        1,
        Group.AIR,
    ),
    Quantity(
        12,
        "no",
        "Nitrogen monoxide",
        "ppb",
        "mole_fraction_of_nitrogen_monoxide_in_air",
        0.0,
        20000.0,
        1,
        Group.AIR,
    ),
    Quantity(13, "battery_voltage", "Battery voltage", "V", None, 0.0, 32.0, 3, Group.POWER),
    Quantity(
        14,
        "battery_current",
        "Battery current (+ charging)",
        "A",
        None,
        -20.0,
        20.0,
        3,
        Group.POWER,
    ),
    Quantity(15, "solar_power", "Solar power", "W", None, 0.0, 500.0, 2, Group.POWER),
    Quantity(
        16,
        "cpu_temperature",
        "Buoy CPU temperature",
        "degree_Celsius",
        None,
        -40.0,
        125.0,
        1,
        Group.HEALTH,
    ),
    Quantity(17, "disk_free", "Buoy free disk", "MB", None, 0.0, 1.0e6, 0, Group.HEALTH),
    Quantity(
        18, "outbox_depth", "Readings waiting on the buoy", "1", None, 0.0, 1.0e9, 0, Group.HEALTH
    ),
    Quantity(19, "link_rssi", "Radio signal strength", "dBm", None, -150.0, 0.0, 0, Group.HEALTH),
)

_BY_NAME = {q.name: q for q in CATALOGUE}
_BY_CODE = {q.code: q for q in CATALOGUE}


def by_name(name: str) -> Quantity:
    """The quantity called ``name``; ``KeyError`` names the unknown quantity."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown quantity {name!r}") from None


def by_code(code: int) -> Quantity | None:
    """The quantity with wire code ``code``, or None when the code is unknown."""
    return _BY_CODE.get(code)


def measured() -> tuple[Quantity, ...]:
    """The quantities a buoy sends (everything that is not derived on the dashboard)."""
    return tuple(q for q in CATALOGUE if not q.derived)
