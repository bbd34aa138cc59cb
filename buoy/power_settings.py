"""The ``[power]`` table of the buoy's TOML: what the power policy may spend, and when.

Why: a buoy lives on what its panel gave it. How much a read or a radio window costs, how far
the pack may be drained and when the dive operators decide differ from one mooring to the next,
so they are data, checked here, and ``buoy.power_policy`` turns them into a schedule.

State of charge (SoC) is a fraction of the pack's usable energy, 0-1. The mode thresholds are
where the buoy steps *down*; it steps back *up* only ``hysteresis_soc`` above them, so a noisy
voltage reading near a threshold does not make it flap.

Energy defaults are estimates from the parts' datasheet currents at their supply, rounded up
(⚠ not measurements of any one buoy: measure the real unit's draw and replace them). The Pi
Zero W draws about 120 mA at 5 V idle, about 0.8 W from the pack through a buck converter; a
cellular modem attaching, opening TLS and publishing draws about 3.5 W for some 40 s.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, fields
from typing import Any

from nemopi import catalogue
from nemopi.configfile import in_range, setting

DAY_S = 86400.0
_HH_MM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _hh_mm(value: str) -> str | None:
    return None if _HH_MM.fullmatch(value) else f"expected a local time HH:MM, got {value!r}"


def _zone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return f"expected an IANA time zone such as 'Asia/Makassar', got {value!r}"
    return None


def _every(default: float, quantity: str) -> Any:
    q = catalogue.by_name(quantity)
    return setting(
        default,
        doc=f"Seconds between reads of {q.label.lower()} in normal mode.",
        check=in_range(10, DAY_S),
    )


@dataclass(frozen=True)
class BaseIntervals:
    """Normal-mode read interval of every quantity a sensor measures (catalogue names).

    tests/buoy/test_power_policy.py fails when the catalogue gains a measured quantity that
    has no interval here.
    """

    ph: float = _every(600.0, "ph")
    water_temperature: float = _every(600.0, "water_temperature")
    turbidity: float = _every(600.0, "turbidity")
    xco2_equilibrated: float = _every(900.0, "xco2_equilibrated")
    latitude: float = _every(3600.0, "latitude")
    longitude: float = _every(3600.0, "longitude")
    current_speed: float = _every(600.0, "current_speed")
    current_direction: float = _every(600.0, "current_direction")
    no2: float = _every(900.0, "no2")
    no: float = _every(900.0, "no")
    battery_voltage: float = _every(300.0, "battery_voltage")
    battery_current: float = _every(300.0, "battery_current")
    solar_power: float = _every(300.0, "solar_power")
    cpu_temperature: float = _every(900.0, "cpu_temperature")
    disk_free: float = _every(3600.0, "disk_free")
    outbox_depth: float = _every(900.0, "outbox_depth")
    link_rssi: float = _every(900.0, "link_rssi")

    def of(self, quantity: str) -> float:
        """The interval of ``quantity``; ``ValueError`` for a name that is not measured."""
        if quantity not in _QUANTITIES:
            raise ValueError(f"no read interval for {quantity!r}: not a measured quantity")
        return float(getattr(self, quantity))


_QUANTITIES = frozenset(f.name for f in fields(BaseIntervals))


# The parts the hardware can fit, by the name the policy knows them under (the [hardware]
# table's part names; the two INA219s on battery and panel are one part, "power_monitor").
PARTS = {
    "ezo_ph": "the EZO-pH circuit",
    "scd4x": "the SCD4x CO2 sensor",
    "turbidity": "the turbidity probe and its ADS1115",
    "gas_cells": "the NO2/NO cells with their ISBs and ADS1115",
    "power_monitor": "the two INA219 power monitors",
    "ds18b20": "the DS18B20 thermometer",
    "gps": "the GPS receiver",
    "paddle_wheel": "the paddle wheel's Hall sensor",
}


def _read_j(default: float, part: str) -> Any:
    return setting(
        default,
        doc=f"Energy of one read of {PARTS[part]} when it sleeps between reads: its draw "
        "over warm-up and read (J). A part that stays powered costs its held_w instead.",
        check=in_range(0, 1e4),
    )


def _held_w(default: float, part: str) -> Any:
    return setting(
        default,
        doc=f"Draw of {PARTS[part]} while it stays powered between reads (W).",
        check=in_range(0, 50),
    )


@dataclass(frozen=True)
class ReadEnergy:
    ezo_ph: float = _read_j(0.2, "ezo_ph")  # 18 mA at 5 V over 1 s warm-up + 1 s read
    scd4x: float = _read_j(1.0, "scd4x")  # ~60 mW over 10 s warm-up + a 5 s single shot
    turbidity: float = _read_j(0.6, "turbidity")  # 40 mA at 5 V over 2 s warm-up + 1 s
    gas_cells: float = _read_j(0.01, "gas_cells")  # ADS1115 conversions on biased cells
    power_monitor: float = _read_j(0.001, "power_monitor")
    ds18b20: float = _read_j(0.01, "ds18b20")  # 1.5 mA at 3.3 V over a 750 ms conversion
    gps: float = _read_j(1.5, "gps")  # 45 mA at 3.3 V for a ~10 s hot fix
    paddle_wheel: float = _read_j(0.2, "paddle_wheel")  # 6 mA at 5 V, pulses counted 5 s

    def of(self, part: str) -> float:
        """The energy of one read of ``part``; ``ValueError`` for a part with no cost."""
        return _part_value(self, part)


@dataclass(frozen=True)
class HeldPower:
    ezo_ph: float = _held_w(0.09, "ezo_ph")
    scd4x: float = _held_w(0.06, "scd4x")
    turbidity: float = _held_w(0.2, "turbidity")
    gas_cells: float = _held_w(0.01, "gas_cells")
    power_monitor: float = _held_w(0.007, "power_monitor")
    ds18b20: float = _held_w(0.001, "ds18b20")
    gps: float = _held_w(0.15, "gps")
    paddle_wheel: float = _held_w(0.03, "paddle_wheel")

    def of(self, part: str) -> float:
        """The draw of ``part`` while held on; ``ValueError`` for a part with no cost."""
        return _part_value(self, part)


def _part_value(table: ReadEnergy | HeldPower, part: str) -> float:
    if part not in PARTS:
        raise ValueError(f"no energy cost for part {part!r} (known: {', '.join(PARTS)})")
    return float(getattr(table, part))


@dataclass(frozen=True)
class PowerSettings:
    decision_time_local: str = setting(
        "06:00",
        doc="Local time (HH:MM) at which dive operators decide; a full, fresh set of readings "
        "must have reached the dashboard before it, every day, in every mode.",
        check=_hh_mm,
    )
    timezone: str = setting(
        "UTC",
        doc='IANA time zone of the site (for example "Asia/Makassar"): the zone in which '
        "decision_time_local is read, daylight saving included.",
        check=_zone,
    )
    morning_lead_s: float = setting(
        2700.0,
        doc="The morning's full set is read this long before the decision time (s); the "
        "upload follows cycle_s later, leaving time for the link to retry.",
        check=in_range(300, 6 * 3600),
    )
    cycle_s: float = setting(
        120.0,
        doc="Longest a full read of every part takes, from the first read to the upload (s).",
        check=in_range(1, 3600),
    )
    saving_below_soc: float = setting(
        0.5,
        doc="State of charge (0-1) below which the buoy saves: longer intervals, fewer radio "
        "windows.",
        check=in_range(0, 1),
    )
    survival_below_soc: float = setting(
        0.3,
        doc="State of charge (0-1) below which the buoy only keeps the morning guarantee and "
        "watches its battery.",
        check=in_range(0, 1),
    )
    hysteresis_soc: float = setting(
        0.08,
        doc="How far above a threshold the state of charge must rise before the buoy steps "
        "back up a mode (0-1).",
        check=in_range(0, 0.5),
    )
    floor_soc: float = setting(
        0.15,
        doc="State of charge (0-1) the policy never plans to go below; the energy above it is "
        "what the buoy may spend.",
        check=in_range(0, 1),
    )
    reserve_margin: float = setting(
        0.5,
        doc="Extra fraction on the energy reserved for the morning (the night's load and the "
        "morning cycle), for estimates that are too low.",
        check=in_range(0, 10),
    )
    capacity_wh: float = setting(
        256.0, doc="Usable energy of the battery pack (Wh).", check=in_range(1, 10000)
    )
    pack_resistance_ohm: float = setting(
        0.05,
        doc="Internal resistance of the pack (ohm): the state of charge is read from the "
        "voltage minus current x resistance.",
        check=in_range(0, 1),
    )
    base_load_w: float = setting(
        0.8,
        doc="What the buoy draws with every sensor off and the radio idle (W): the Pi and its "
        "converter. No mode can cut it.",
        check=in_range(0, 50),
    )
    radio_window_j: float = setting(
        150.0,
        doc="Energy of opening one radio window: attach, connect, publish status (J).",
        check=in_range(0, 1e5),
    )
    upload_reading_j: float = setting(
        0.1, doc="Energy of sending one reading within a window (J).", check=in_range(0, 1e3)
    )
    max_drain_readings: int = setting(
        2000,
        doc="Most readings one radio window sends in normal and saving modes.",
        check=in_range(1, 1_000_000),
    )
    normal_upload_s: float = setting(
        900.0, doc="Seconds between radio windows in normal mode.", check=in_range(60, DAY_S)
    )
    saving_upload_s: float = setting(
        10800.0, doc="Seconds between radio windows in saving mode.", check=in_range(60, DAY_S)
    )
    survival_upload_s: float = setting(
        DAY_S,
        doc="Seconds between radio windows in survival mode; the morning window is always one.",
        check=in_range(60, DAY_S),
    )
    saving_interval_factor: float = setting(
        4.0,
        doc="Read intervals in saving mode are the normal ones times this.",
        check=in_range(1, 1000),
    )
    survival_interval_factor: float = setting(
        36.0,
        doc="Read intervals in survival mode are the normal ones times this (at most a day: "
        "the morning cycle reads every part daily).",
        check=in_range(1, 1000),
    )
    min_sleep_s: float = setting(
        60.0,
        doc="A switched part sleeps between reads only if it would be off at least this long "
        "after its warm-up (s); otherwise it stays powered.",
        check=in_range(0, DAY_S),
    )
    sun_pays_w: float = setting(
        6.0,
        doc="Panel power (W) above which a saving buoy opens its radio windows at the normal "
        "rate: the panel, not the pack, pays for them.",
        check=in_range(0, 1000),
    )
    intervals: BaseIntervals = setting(
        BaseIntervals(), doc="Normal-mode read interval per quantity."
    )
    read_energy_j: ReadEnergy = setting(ReadEnergy(), doc="Energy of one read, per part.")
    held_w: HeldPower = setting(HeldPower(), doc="Draw of a part kept powered, per part.")

    def __post_init__(self) -> None:
        if not self.floor_soc <= self.survival_below_soc <= self.saving_below_soc:
            raise ValueError("expected floor_soc <= survival_below_soc <= saving_below_soc")
        if self.saving_below_soc + self.hysteresis_soc > 1.0:
            raise ValueError("saving_below_soc + hysteresis_soc must not exceed 1")
        if not self.normal_upload_s <= self.saving_upload_s <= self.survival_upload_s:
            raise ValueError("expected normal_upload_s <= saving_upload_s <= survival_upload_s")
        if self.cycle_s >= self.morning_lead_s:
            raise ValueError("cycle_s must be shorter than morning_lead_s")

    def utc_offset_s(self, utc: float) -> float:
        """The site's offset from UTC (s) at the instant ``utc``, from ``timezone``."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        offset = dt.datetime.fromtimestamp(utc, zone).utcoffset()
        return 0.0 if offset is None else offset.total_seconds()

    @property
    def decision_s(self) -> float:
        """The decision time as seconds after local midnight."""
        hours, minutes = self.decision_time_local.split(":")
        return int(hours) * 3600.0 + int(minutes) * 60.0
