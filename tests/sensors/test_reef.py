"""The simulated reef: repeatable, physically plausible and the same however it is sampled."""

from __future__ import annotations

import calendar
import dataclasses
import math
import random
import statistics

import pytest

from nemopi import catalogue
from nemopi.catalogue import Group
from nemopi.configfile import ConfigError, documented_keys, from_mapping
from sensors.clock import SimulatedClock
from sensors.simulation import PRESETS, QUANTITIES, Reef, ReefState, SimulationSettings, preset

HOUR = 3600.0
DAY = 86400.0
START = float(calendar.timegm((2025, 3, 1, 0, 0, 0)))
BALI = SimulationSettings()


def local_hour(settings: SimulationSettings, utc: float) -> float:
    """Local mean solar time (hours), within a quarter of an hour of the sun's own."""
    return (utc / HOUR + settings.longitude / 15.0) % 24.0


def local_midnight_after(settings: SimulationSettings, utc: float) -> float:
    return utc + (24.0 - local_hour(settings, utc)) % 24.0 * HOUR


def series(reef: Reef, begin: float, step: float, count: int) -> list[ReefState]:
    return [reef.state(begin + i * step) for i in range(count)]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance by the haversine formula."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000.0 * math.asin(math.sqrt(a))


def test_same_settings_and_seed_give_the_same_series() -> None:
    first = series(Reef(BALI, START), START, 17 * 60.0, 500)
    again = series(Reef(BALI, START), START, 17 * 60.0, 500)
    reseeded = series(Reef(dataclasses.replace(BALI, seed=2), START), START, 17 * 60.0, 500)
    assert first == again
    assert [s.turbidity for s in first] != [s.turbidity for s in reseeded]
    assert [s.no for s in first] != [s.no for s in reseeded]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_values_stay_inside_catalogue_ranges_over_a_year(name: str) -> None:
    reef = Reef(preset(name), START)
    for state in series(reef, START, HOUR, 366 * 24):
        for quantity in QUANTITIES:
            value = state.value(quantity)
            assert catalogue.by_name(quantity).contains(value), (quantity, value, state.utc)
        assert 0.0 <= state.state_of_charge <= 1.0


def test_every_measured_reef_position_and_power_quantity_is_simulated() -> None:
    groups = {Group.WATER, Group.AIR, Group.POSITION, Group.POWER}
    wanted = {q.name for q in catalogue.measured() if q.group in groups}
    assert wanted == set(QUANTITIES)


def test_water_temperature_peaks_in_the_afternoon() -> None:
    reef = Reef(BALI, START)
    by_hour: dict[int, list[float]] = {h: [] for h in range(24)}
    for state in series(reef, START, HOUR, 30 * 24):
        by_hour[round(local_hour(BALI, state.utc)) % 24].append(state.water_temperature)
    means = {h: statistics.fmean(values) for h, values in by_hour.items()}
    warmest = max(means, key=means.__getitem__)
    assert 13 <= warmest <= 17
    assert means[warmest] - min(means.values()) > BALI.diurnal_amplitude_c


def test_diurnal_swing_weakens_with_probe_depth() -> None:
    def day_range(depth: float) -> float:
        settings = dataclasses.replace(BALI, probe_depth_m=depth)
        temps = [s.water_temperature for s in series(Reef(settings, START), START, HOUR, 24)]
        return max(temps) - min(temps)

    assert day_range(8.0) < 0.5 * day_range(0.5)


def test_solar_power_is_zero_at_night_and_positive_at_noon() -> None:
    reef = Reef(dataclasses.replace(BALI, start_state_of_charge=0.2), START)
    midnight = local_midnight_after(BALI, START)
    for day in range(14):
        night = [midnight + day * DAY + h * HOUR for h in (-4.0, -2.0, 0.0, 2.0, 4.0)]
        assert all(reef.state(t).solar_power == 0.0 for t in night)
        assert reef.state(midnight + day * DAY + 12 * HOUR).solar_power > 0.5


def test_battery_drains_at_night_and_charges_by_day() -> None:
    settings = dataclasses.replace(BALI, start_state_of_charge=0.3, battery_capacity_wh=1000.0)
    reef = Reef(settings, START)
    midnight = local_midnight_after(settings, START)
    for day in range(3):
        base = midnight + day * DAY

        def at(hour: float, base: float = base) -> ReefState:
            return reef.state(base + hour * HOUR)

        assert at(5.0).state_of_charge < at(-3.0).state_of_charge
        assert at(0.0).battery_current < 0.0
        assert at(14.0).state_of_charge > at(8.0).state_of_charge
        assert at(12.0).battery_current > 0.0
        assert at(12.0).battery_voltage > at(0.0).battery_voltage


def test_full_battery_curtails_the_panel_and_empty_battery_sheds_the_load() -> None:
    full = Reef(dataclasses.replace(BALI, start_state_of_charge=1.0, solar_peak_w=200.0), START)
    noon = local_midnight_after(BALI, START) + 12 * HOUR
    assert full.state(noon).battery_current == 0.0
    assert full.state(noon).solar_power < 2.0
    midnight = local_midnight_after(BALI, START)
    empty = Reef(dataclasses.replace(BALI, start_state_of_charge=0.0), midnight)
    night = midnight + 2 * HOUR
    assert empty.state(night).state_of_charge == 0.0
    assert empty.state(night).battery_current == 0.0


def test_heatwave_raises_temperature_by_its_peak() -> None:
    heatwave = dataclasses.replace(
        BALI, heatwave_start_day=100, heatwave_days=40, heatwave_peak_c=2.5
    )
    calm, hot = Reef(BALI, START), Reef(heatwave, START)
    day_one = float(calendar.timegm((2025, 4, 10, 0, 0, 0)))  # day 100 of 2025
    middle = day_one + 20 * DAY
    for t in (middle - 5 * DAY, middle, middle + 5 * DAY + 7 * HOUR):
        rise = hot.state(t).water_temperature - calm.state(t).water_temperature
        assert rise == pytest.approx(2.5)
    for t in (day_one - HOUR, day_one + 41 * DAY):
        assert hot.state(t).water_temperature == calm.state(t).water_temperature
    assert hot.state(middle).ph < calm.state(middle).ph


def test_heatwave_comes_back_on_the_same_day_next_year() -> None:
    heatwave = dataclasses.replace(BALI, heatwave_start_day=360, heatwave_days=20)
    hot = Reef(dataclasses.replace(heatwave, heatwave_peak_c=1.5), START)
    calm = Reef(heatwave, START)
    across_new_year = float(calendar.timegm((2026, 1, 4, 6, 0, 0)))
    rise = (
        hot.state(across_new_year).water_temperature - calm.state(across_new_year).water_temperature
    )
    assert rise == pytest.approx(1.5)


def test_current_reverses_with_the_m2_tide_and_springs_follow_neaps() -> None:
    settings = dataclasses.replace(BALI, flood_bearing_deg=70.0, tidal_current_m_s=0.8)
    reef = Reef(settings, START)
    states = series(reef, START, 600.0, int(29.53 * 144))
    along = [
        s.current_speed * math.cos(math.radians(s.current_direction - settings.flood_bearing_deg))
        for s in states
    ]
    floods = [i for i in range(1, len(along)) if along[i - 1] < 0.0 <= along[i]]
    mean_period_h = (floods[-1] - floods[0]) * 600.0 / HOUR / (len(floods) - 1)
    assert mean_period_h == pytest.approx(12.42, abs=0.05)
    ebb_or_flood = [abs(a) / s.current_speed for a, s in zip(along, states, strict=True)]
    assert statistics.median(ebb_or_flood) > 0.95
    daily_peak = [max(s.current_speed for s in states[d * 144 : (d + 1) * 144]) for d in range(29)]
    assert max(daily_peak) > 1.8 * min(daily_peak)


def test_ph_and_co2_move_opposite_through_the_day() -> None:
    reef = Reef(BALI, START)
    midnight = local_midnight_after(BALI, START)
    day = series(reef, midnight, 900.0, 96)
    ph = [s.ph for s in day]
    log_co2 = [math.log(s.xco2_equilibrated) for s in day]
    assert statistics.correlation(ph, log_co2) < -0.99
    assert max(s.xco2_equilibrated for s in day) - min(s.xco2_equilibrated for s in day) > 40

    def at(hour: float) -> ReefState:
        return reef.state(midnight + hour * HOUR)

    assert at(16.5).xco2_equilibrated < at(7.0).xco2_equilibrated  # photosynthesis by day
    assert at(16.5).ph > at(7.0).ph


def test_sampling_order_and_interval_do_not_change_the_world() -> None:
    settings = preset("sheltered-bay")
    every_minute = Reef(settings, START)
    by_minute = {s.utc: s for s in series(every_minute, START, 60.0, 3 * 1440)}
    instants = [START + i * 600.0 for i in range(3 * 144)]
    random.Random(5).shuffle(instants)
    shuffled = Reef(settings, START)
    for t in instants:
        assert shuffled.state(t) == by_minute[t]


def test_gps_stays_inside_the_mooring_circle_and_swings_across_it() -> None:
    settings = preset("exposed-point")
    reef = Reef(settings, START)
    distances = [
        distance_m(settings.latitude, settings.longitude, s.latitude, s.longitude)
        for s in series(reef, START, 300.0, 7 * 288)
    ]
    assert max(distances) <= settings.mooring_radius_m
    assert max(distances) > 0.9 * settings.mooring_radius_m


def test_gps_loses_its_fix_about_as_often_as_configured() -> None:
    reef = Reef(dataclasses.replace(BALI, gps_no_fix_probability=0.2), START)
    fixes = [s.gps_fix for s in series(reef, START, 600.0, 30 * 144)]
    assert fixes.count(False) / len(fixes) == pytest.approx(0.2, abs=0.03)


def test_rain_brings_turbidity_that_clears_within_days() -> None:
    still = dataclasses.replace(BALI, tidal_current_m_s=0.1, baseline_turbidity_ntu=2.0)
    dry = Reef(dataclasses.replace(still, rain_probability=0.0), START)
    assert {s.turbidity for s in series(dry, START, HOUR, 10 * 24)} == {2.0}
    wet = Reef(dataclasses.replace(still, rain_probability=1.0), START)
    assert max(s.turbidity for s in series(wet, START, HOUR, 10 * 24)) > 3 * 2.0
    # with showers now and then, plumes come and go and the water clears in between
    once = dataclasses.replace(still, rain_probability=0.3)
    levels = [s.turbidity for s in series(Reef(once, START), START, HOUR, 60 * 24)]
    assert min(levels) < 2.2
    assert max(levels) > 4.0


def test_strong_currents_resuspend_sediment() -> None:
    exposed = Reef(dataclasses.replace(preset("exposed-point"), rain_probability=0.0), START)
    states = sorted(series(exposed, START, 600.0, 2 * 144), key=lambda s: s.current_speed)
    slack, fast = states[: len(states) // 4], states[-len(states) // 4 :]
    mean_turbidity = [statistics.fmean(s.turbidity for s in part) for part in (slack, fast)]
    assert mean_turbidity[1] > 3 * mean_turbidity[0]


def test_boats_bring_nitrogen_oxide_bursts_in_the_morning() -> None:
    settings = dataclasses.replace(BALI, boats_per_morning=6.0)
    reef = Reef(settings, START)
    midnight = local_midnight_after(settings, START)
    for day in range(6):
        states = series(reef, midnight + day * DAY, 120.0, 720)
        worst = max(states, key=lambda s: s.no)
        assert 5.5 <= local_hour(settings, worst.utc) <= 11.5
        assert worst.no > 3.0
        assert worst.no > worst.no2  # fresh exhaust is mostly NO


def test_presets_differ_in_character() -> None:
    def mean_of(name: str, quantity: str) -> float:
        states = series(Reef(preset(name), START), START, HOUR, 14 * 24)
        return statistics.fmean(s.value(quantity) for s in states)

    assert mean_of("sheltered-bay", "turbidity") > 3 * mean_of("exposed-point", "turbidity")
    assert mean_of("exposed-point", "current_speed") > 3 * mean_of("sheltered-bay", "current_speed")
    hottest = max(PRESETS, key=lambda name: mean_of(name, "water_temperature"))
    assert hottest == "heatwave-reef"
    assert len({p.site for p in PRESETS.values()}) == len(PRESETS)


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="sheltered-bay"):
        preset("south-reef")


def test_truth_callables_follow_the_simulated_clock() -> None:
    clock = dataclasses.replace(BALI, speedup=0.0).clock(START)
    reef = Reef(BALI, START)
    temperature = reef.truth(clock, "water_temperature")
    assert temperature() == reef.state(START).water_temperature
    clock.advance(6 * HOUR)
    assert temperature() == reef.state(START + 6 * HOUR).water_temperature


def test_position_callable_gives_none_without_a_fix() -> None:
    settings = dataclasses.replace(BALI, gps_no_fix_probability=0.3)
    clock = SimulatedClock(START, speedup=0.0)
    reef = Reef(settings, START)
    position = reef.position(clock)
    seen: list[tuple[float, float] | None] = []
    for _ in range(200):
        state = reef.state(clock.utc())
        seen.append(position())
        assert seen[-1] == ((state.latitude, state.longitude) if state.gps_fix else None)
        clock.advance(600.0)
    assert None in seen
    assert any(p is not None for p in seen)
    with pytest.raises(KeyError, match="cpu_temperature"):
        reef.truth(clock, "cpu_temperature")


def test_settings_clock_runs_at_the_configured_speedup() -> None:
    clock = dataclasses.replace(BALI, speedup=3600.0).clock(START)
    assert isinstance(clock, SimulatedClock)
    assert clock.speedup == 3600.0
    assert clock.utc() >= START


def test_simulation_table_is_read_from_toml_data_and_checked() -> None:
    settings = from_mapping({"seed": 9, "heatwave_peak_c": 1.0}, SimulationSettings, "buoy.toml")
    assert (settings.seed, settings.heatwave_peak_c) == (9, 1.0)
    with pytest.raises(ConfigError, match=r"buoy\.toml: rain_probability"):
        from_mapping({"rain_probability": 1.5}, SimulationSettings, "buoy.toml")
    with pytest.raises(ConfigError, match="unknown key"):
        from_mapping({"rainfall": 0.1}, SimulationSettings, "buoy.toml")


def test_every_simulation_setting_is_documented() -> None:
    keys = documented_keys(SimulationSettings)
    assert len(keys) == len(dataclasses.fields(SimulationSettings))
    assert all(doc.strip() for doc in keys.values())
