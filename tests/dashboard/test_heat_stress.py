"""Heat stress by CRW's definitions, against worked examples computed by hand.

The worked series (MMM 29.0 °C, sensor at the surface): 84 days at 28.5 °C (HotSpot 0), one
day at 29.5 °C (HotSpot 0.5: Watch), 28 days at 31.0 °C (HotSpot 2.0: each adds 2/7 °C-weeks),
then 28.0 °C again. On the 14th hot day DHW = 14 x 2 / 7 = 4 (Alert Level 1), on the 28th
8 (Alert Level 2); when the heat ends the HotSpot is 0 and the level No Stress although DHW
stays 8 until the hot days leave the 84-day window.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dashboard.heat_stress import (
    AlertLevel,
    DailyMean,
    HeatStressSettings,
    HeatStressSite,
    alert_level,
    daily_means,
    degree_heating_weeks,
    heat_stress,
    hotspot,
)
from nemopi.configfile import ConfigError, from_mapping

MAKASSAR = ZoneInfo("Asia/Makassar")  # UTC+8, no daylight saving
SITE = HeatStressSite(buoy="reef-01", mmm_c=29.0)
START = date(2024, 1, 1)
HOT_FIRST, HOT_LAST = 85, 112  # the worked series' hot days (day numbers from START)


@pytest.mark.parametrize(
    ("hotspot_c", "dhw", "level"),
    [
        (0.0, 0.0, AlertLevel.NO_STRESS),
        (0.0, 9.0, AlertLevel.NO_STRESS),
        (0.01, 0.0, AlertLevel.WATCH),
        (0.99, 12.0, AlertLevel.WATCH),
        (1.0, 0.14, AlertLevel.WARNING),
        (1.0, 3.99, AlertLevel.WARNING),
        (1.0, 4.0, AlertLevel.ALERT_1),
        (2.5, 7.99, AlertLevel.ALERT_1),
        (1.0, 8.0, AlertLevel.ALERT_2),
        (1.0, 11.99, AlertLevel.ALERT_2),
        (1.0, 12.0, AlertLevel.ALERT_3),
        (1.0, 15.99, AlertLevel.ALERT_3),
        (1.0, 16.0, AlertLevel.ALERT_4),
        (1.0, 19.99, AlertLevel.ALERT_4),
        (1.0, 20.0, AlertLevel.ALERT_5),
        (3.0, 35.0, AlertLevel.ALERT_5),
    ],
)
def test_alert_levels_follow_crw_definitions(
    hotspot_c: float, dhw: float, level: AlertLevel
) -> None:
    assert alert_level(hotspot_c, dhw) is level


@pytest.mark.parametrize(
    ("level", "label"),
    [
        (AlertLevel.NO_STRESS, "No Stress"),
        (AlertLevel.WATCH, "Bleaching Watch"),
        (AlertLevel.WARNING, "Bleaching Warning"),
        (AlertLevel.ALERT_1, "Bleaching Alert Level 1"),
        (AlertLevel.ALERT_5, "Bleaching Alert Level 5"),
    ],
)
def test_alert_levels_carry_crw_names(level: AlertLevel, label: str) -> None:
    assert level.label == label


@pytest.mark.parametrize(
    ("mean_c", "offset_c", "mmm_c", "expected"),
    [
        (29.3, 0.0, 28.3, 1.0),  # 29.3 - 28.3 is 0.99999... in floating point
        (28.0, 0.0, 29.0, 0.0),  # positive values only
        (28.6, 0.0, 28.0, 0.6),
        (28.6, 0.4, 28.0, 1.0),  # sensor below the surface reads 0.4 °C cooler
        (28.6, -0.2, 28.0, 0.4),  # sensor reads warmer than the surface
    ],
)
def test_hotspot_is_the_surface_estimate_above_the_mmm(
    mean_c: float, offset_c: float, mmm_c: float, expected: float
) -> None:
    site = HeatStressSite(buoy="reef-01", mmm_c=mmm_c, surface_offset_c=offset_c)
    assert hotspot(mean_c, site) == expected


def test_a_depth_offset_turns_a_watch_at_the_sensor_into_stress_at_the_surface() -> None:
    shallow = HeatStressSite(buoy="reef-01", mmm_c=28.0)
    deep = HeatStressSite(buoy="reef-01", mmm_c=28.0, surface_offset_c=0.4)
    means = [DailyMean(START + timedelta(days=i), 28.6, 24) for i in range(84)]
    day = START + timedelta(days=83)
    plain, adjusted = (heat_stress(means, day, site, 7) for site in (shallow, deep))
    assert (plain.alert, plain.dhw.value) == (AlertLevel.WATCH, 0.0)
    assert (adjusted.alert, adjusted.dhw.value) == (AlertLevel.ALERT_3, pytest.approx(12.0))


def worked_mean(n: int) -> float:
    if n < HOT_FIRST - 1:
        return 28.5
    if n == HOT_FIRST - 1:
        return 29.5
    return 31.0 if n <= HOT_LAST else 28.0


def series(missing: range = range(0)) -> list[DailyMean]:
    return [
        DailyMean(START + timedelta(days=n), None if n in missing else worked_mean(n), 24)
        for n in range(200)
    ]


@pytest.mark.parametrize(
    ("n", "hotspot_c", "dhw", "missing", "level"),
    [
        (0, 0.0, 0.0, 83, AlertLevel.NO_STRESS),  # the 83 days before the first are missing
        (83, 0.0, 0.0, 0, AlertLevel.NO_STRESS),
        (84, 0.5, 0.0, 0, AlertLevel.WATCH),  # 0.5 is below 1: it does not accumulate
        (85, 2.0, 2 / 7, 0, AlertLevel.WARNING),
        (97, 2.0, 13 * 2 / 7, 0, AlertLevel.WARNING),
        (98, 2.0, 4.0, 0, AlertLevel.ALERT_1),
        (111, 2.0, 27 * 2 / 7, 0, AlertLevel.ALERT_1),
        (112, 2.0, 8.0, 0, AlertLevel.ALERT_2),
        (113, 0.0, 8.0, 0, AlertLevel.NO_STRESS),  # DHW stays, the HotSpot is gone
        (168, 0.0, 8.0, 0, AlertLevel.NO_STRESS),  # day 85 is the window's first day
        (169, 0.0, 27 * 2 / 7, 0, AlertLevel.NO_STRESS),  # day 85 left the window
        (196, 0.0, 0.0, 0, AlertLevel.NO_STRESS),
    ],
)
def test_worked_series_crosses_watch_warning_and_alert_levels_1_and_2(
    n: int, hotspot_c: float, dhw: float, missing: int, level: AlertLevel
) -> None:
    result = heat_stress(series(), START + timedelta(days=n), SITE, 7)
    assert result.hotspot_c == hotspot_c
    assert result.dhw.value == pytest.approx(dhw)
    assert result.dhw.missing_days == missing
    assert result.alert is level


def test_dhw_boundaries_are_exact_so_28_days_of_one_degree_reach_alert_level_1() -> None:
    day = START + timedelta(days=83)
    dhw = degree_heating_weeks({day - timedelta(days=i): 1.0 for i in range(28)}, day, 0)
    assert dhw.value == 4.0
    assert alert_level(1.0, dhw.value) is AlertLevel.ALERT_1


@pytest.mark.parametrize(
    ("hotspots", "dhw"),
    [
        ({0: 0.99}, 0.0),  # below 1 °C: not accumulated
        ({0: 1.0}, 1 / 7),
        ({0: 0.99999999}, 1 / 7),  # 1.00 at CRW's precision
        ({83: 3.5}, 0.5),  # the window's first day
        ({84: 3.5}, 0.0),  # outside the 84 days
        ({0: 1.5, 10: 0.5, 20: 2.5}, 4 / 7),
        ({0: 1.0, 20: 2.0, 40: 0.8, 60: 1.2}, 0.6),  # Skirving et al. 2020's example
    ],
)
def test_dhw_sums_hotspots_of_at_least_one_degree_over_84_days(
    hotspots: dict[int, float], dhw: float
) -> None:
    day = date(2024, 6, 1)
    window = {day - timedelta(days=i): 0.0 for i in range(90)}
    window.update({day - timedelta(days=i): h for i, h in hotspots.items()})
    assert degree_heating_weeks(window, day, 0).value == pytest.approx(dhw)


# missing days (numbers in the worked series), day assessed, DHW from the days with data,
# missing days, complete, level, whether the level is a lower bound
MISSING = [
    (range(90, 97), 112, 21 * 2 / 7, 7, True, AlertLevel.ALERT_1, True),
    (range(90, 98), 112, 20 * 2 / 7, 8, False, AlertLevel.ALERT_1, True),
    (range(60, 80), 112, 8.0, 20, False, AlertLevel.ALERT_2, True),  # cool days missing
    (range(112, 113), 112, 27 * 2 / 7, 1, True, None, False),  # the day itself
    (range(100, 101), 84, 0.0, 0, True, AlertLevel.WATCH, False),  # after the day: no matter
    (range(1, 5), 84, 0.0, 4, True, AlertLevel.WATCH, False),  # Watch: no DHW needed
]


@pytest.mark.parametrize(("gap", "n", "dhw", "missing", "complete", "level", "lower"), MISSING)
def test_missing_days_are_reported_never_counted_as_cool(
    gap: range,
    n: int,
    dhw: float,
    missing: int,
    complete: bool,
    level: AlertLevel | None,
    lower: bool,
) -> None:
    result = heat_stress(series(missing=gap), START + timedelta(days=n), SITE, 7)
    assert result.dhw.value == pytest.approx(dhw)
    assert (result.dhw.missing_days, result.dhw.complete) == (missing, complete)
    assert result.dhw.is_lower_bound is (missing > 0)
    assert (result.alert, result.alert_is_lower_bound) == (level, lower)


def hourly(day: date, hours: range, value: Callable[[int], float]) -> list[tuple[datetime, float]]:
    """One reading at half past each local hour in ``hours`` of ``day`` at the reef."""
    return [
        (datetime(day.year, day.month, day.day, h, 30, tzinfo=MAKASSAR).astimezone(UTC), value(h))
        for h in hours
    ]


DAY = date(2024, 3, 2)


@pytest.mark.parametrize(
    ("readings", "mean_c", "hours"),
    [
        (hourly(DAY, range(24), lambda h: 28.0 + h / 10), 29.15, 24),
        (hourly(DAY, range(18), lambda h: 30.0), 30.0, 18),
        (hourly(DAY, range(17), lambda h: 35.0), None, 17),  # too little: missing, not cool
        ([], None, 0),
        # four readings in hour 0 weigh as one hour: (30 + 17 x 28) / 18, not (120 + 476) / 21
        (
            hourly(DAY, range(18), lambda h: 30.0 if h == 0 else 28.0)
            + [(datetime(2024, 3, 2, 0, m, tzinfo=MAKASSAR), 30.0) for m in (5, 10, 15)],
            506 / 18,
            18,
        ),
    ],
    ids=["full day", "enough hours", "too few hours", "no readings", "hourly means"],
)
def test_daily_mean_needs_enough_hours_and_weighs_each_hour_once(
    readings: list[tuple[datetime, float]], mean_c: float | None, hours: int
) -> None:
    [result] = daily_means(readings, MAKASSAR, DAY, DAY, 18)
    assert result.day == DAY
    assert result.mean_c == (None if mean_c is None else pytest.approx(mean_c))
    assert result.hours == hours


def test_days_are_the_reefs_local_days() -> None:
    # 16:30 UTC on 1 March is 00:30 on 2 March at the reef (UTC+8)
    readings = [(datetime(2024, 3, 1, 16, 30, tzinfo=UTC), 31.0)]
    means = daily_means(readings, MAKASSAR, date(2024, 3, 1), date(2024, 3, 3), 1)
    assert [(m.day, m.mean_c) for m in means] == [
        (date(2024, 3, 1), None),
        (date(2024, 3, 2), 31.0),
        (date(2024, 3, 3), None),
    ]


def test_hours_are_local_clock_hours_in_a_half_hour_zone() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+5:30: 00:10 and 00:50 straddle a UTC hour
    readings = [(datetime(2024, 3, 2, 0, m, tzinfo=kolkata), 29.0) for m in (10, 50)]
    [result] = daily_means(readings, kolkata, DAY, DAY, 1)
    assert result.hours == 1


def test_a_day_with_too_few_hours_is_missing_in_dhw_not_a_cool_day() -> None:
    day = date(2024, 6, 1)
    readings = [
        reading
        for i in range(84)
        for reading in hourly(day - timedelta(days=i), range(17 if i == 0 else 24), lambda h: 31.0)
    ]
    settings = HeatStressSettings()
    means = daily_means(
        readings, MAKASSAR, day - timedelta(days=83), day, settings.min_hours_per_day
    )
    yesterday = heat_stress(means, day - timedelta(days=1), SITE, settings.max_missing_days)
    today = heat_stress(means, day, SITE, settings.max_missing_days)
    assert (yesterday.alert, yesterday.dhw.missing_days) == (AlertLevel.ALERT_5, 1)
    assert (today.mean_c, today.hotspot_c, today.alert) == (None, None, None)
    assert today.dhw.value == pytest.approx(83 * 2 / 7)
    assert today.dhw.is_lower_bound


@pytest.mark.parametrize(
    "readings",
    [
        [(datetime(2024, 3, 2, 6, 0), 29.0)],
        [(datetime(2024, 3, 2, 6, 0, tzinfo=UTC), float("nan"))],
    ],
    ids=["naive time", "not a number"],
)
def test_bad_readings_raise(readings: list[tuple[datetime, float]]) -> None:
    with pytest.raises(ValueError):
        daily_means(readings, MAKASSAR, DAY, DAY, 18)


def test_a_heat_stress_table_loads_with_each_reefs_mmm() -> None:
    table = {
        "min_hours_per_day": 20,
        "sites": [
            {"buoy": "reef-01", "mmm_c": 29.4},
            {"buoy": "reef-02", "mmm_c": 29.1, "surface_offset_c": 0.3},
        ],
    }
    settings = from_mapping(table, HeatStressSettings, "web.toml")
    assert (settings.min_hours_per_day, settings.max_missing_days) == (20, 7)
    assert settings.site("reef-02") == HeatStressSite("reef-02", 29.1, 0.3)
    assert settings.site("reef-01") == HeatStressSite("reef-01", 29.4, 0.0)
    assert settings.site("reef-03") is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"sites": [{"buoy": "reef-01"}]}, "sites[0].mmm_c: missing required key"),
        ({"sites": [{"buoy": "reef-01", "mmm_c": "29"}]}, "sites[0].mmm_c: expected a number"),
        (
            {"sites": [{"buoy": "reef-01", "mmm_c": 29.0, "surface_offset_c": 7.0}]},
            "sites[0].surface_offset_c: expected a value in [-5.0, 5.0]",
        ),
        (
            {"sites": [{"buoy": "a", "mmm_c": 29.0}, {"buoy": "a", "mmm_c": 28.0}]},
            "sites: a buoy is listed twice",
        ),
        ({"min_hours_per_day": 25}, "min_hours_per_day: expected a value in [1, 24]"),
        ({"max_missing_days": 85}, "max_missing_days: expected a value in [0, 84]"),
    ],
)
def test_a_bad_heat_stress_table_is_a_config_error(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_mapping(table, HeatStressSettings, "web.toml")
    assert message in str(caught.value)
