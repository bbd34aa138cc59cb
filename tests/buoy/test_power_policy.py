"""The power policy: its decisions at chosen states, its hysteresis, its announcements, and a
month on a simulated reef's sun with a cloudy week (bench/power_policy_days.py integrates the
pack, because the reef's own battery model does not know what the policy switches off)."""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import random
from dataclasses import fields

import pytest

from bench.power_policy_days import FULL_KIT, Run, Scenario, never_saving, simulate
from buoy.power_policy import (
    LIFEPO4_REST_V,
    Mode,
    Part,
    PowerPlan,
    PowerReading,
    mode_power_w,
    plan,
    state_of_charge,
)
from buoy.power_settings import PARTS, BaseIntervals, HeldPower, PowerSettings, ReadEnergy
from nemopi import catalogue
from nemopi.configfile import ConfigError, from_mapping
from sensors.simulation.battery import resting_voltage

SETTINGS = PowerSettings()
BALI = 8 * 3600.0
MIDNIGHT_BALI = 1_780_012_800.0 - BALI  # 2026-05-29 00:00 in Bali
DECISION = MIDNIGHT_BALI + 6 * 3600.0  # 06:00 local, the default decision time
AFTER_MORNING = DECISION + 600.0
BEFORE_MORNING_READ = DECISION - SETTINGS.morning_lead_s - 3600.0


def reading(utc: float, soc: float, solar_w: float = 0.0) -> PowerReading:
    return PowerReading(utc, BALI, resting_voltage(soc), 0.0, solar_w, state_of_charge=soc)


def step(soc: float, previous: PowerPlan | None = None, utc: float = AFTER_MORNING) -> PowerPlan:
    return plan(reading(utc, soc), FULL_KIT, SETTINGS, previous)


# -- settings --------------------------------------------------------------------------------


def test_an_empty_power_table_gives_the_documented_defaults() -> None:
    assert from_mapping({}, PowerSettings, "buoy.toml [power]") == PowerSettings()


def test_a_power_table_overrides_one_part_and_keeps_the_other_defaults() -> None:
    data = {"decision_time_local": "05:30", "read_energy_j": {"scd4x": 2.5}}
    loaded = from_mapping(data, PowerSettings, "buoy.toml")
    assert loaded.decision_s == 5.5 * 3600
    assert loaded.read_energy_j == dataclasses.replace(ReadEnergy(), scd4x=2.5)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"decision_time_local": "6am"}, "decision_time_local"),
        ({"floor_soc": 1.5}, "floor_soc"),
        ({"intervals": {"ph": 1.0}}, "intervals.ph"),
        ({"held_w": {"sonar": 1.0}}, "held_w.sonar"),
        ({"survival_below_soc": 0.6}, "(top level)"),  # above saving_below_soc
        ({"cycle_s": 3000.0}, "(top level)"),  # longer than morning_lead_s
    ],
)
def test_a_bad_power_table_is_a_config_error_naming_the_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_mapping(data, PowerSettings, "buoy.toml")
    assert caught.value.key == key


def test_every_measured_quantity_and_every_part_has_its_setting() -> None:
    assert {f.name for f in fields(BaseIntervals)} == {q.name for q in catalogue.measured()}
    assert {f.name for f in fields(ReadEnergy)} == set(PARTS) == {f.name for f in fields(HeldPower)}


def test_a_part_without_energy_costs_is_refused() -> None:
    sonar = Part("sonar", ("turbidity",), 1.0, switched=True)
    with pytest.raises(ValueError, match="sonar"):
        plan(reading(AFTER_MORNING, 0.9), (sonar,), SETTINGS)


# -- state of charge from the voltage ----------------------------------------------------------


@pytest.mark.parametrize("soc", [0.0, 0.05, 0.15, 0.33, 0.5, 0.72, 0.95, 1.0])
def test_state_of_charge_inverts_the_resting_voltage(soc: float) -> None:
    assert state_of_charge(resting_voltage(soc), 0.0, 0.05) == pytest.approx(soc, abs=1e-9)


def test_charging_current_is_taken_off_the_voltage_before_the_lookup() -> None:
    rest = resting_voltage(0.4)
    assert state_of_charge(rest + 1.5 * 0.05, 1.5, 0.05) == pytest.approx(0.4)
    assert state_of_charge(rest + 1.5 * 0.05, 0.0, 0.05) > 0.45  # uncorrected: too high


def test_voltages_beyond_the_table_clamp() -> None:
    assert state_of_charge(LIFEPO4_REST_V[0] - 1, 0.0, 0.05) == 0.0
    assert state_of_charge(14.4, 0.0, 0.05) == 1.0


def test_the_state_of_charge_is_read_from_the_voltage_when_not_given() -> None:
    measured = PowerReading(AFTER_MORNING, BALI, resting_voltage(0.4), 0.0, 0.0)
    assert plan(measured, FULL_KIT, SETTINGS).state_of_charge == pytest.approx(0.4)


# -- decisions at chosen states ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("soc", "previous", "expected"),
    [
        (0.9, None, Mode.NORMAL),
        (0.45, None, Mode.SAVING),
        (0.2, None, Mode.SURVIVAL),
        (0.49, Mode.NORMAL, Mode.SAVING),
        (0.52, Mode.NORMAL, Mode.NORMAL),
        (0.52, Mode.SAVING, Mode.SAVING),  # not yet threshold + hysteresis
        (0.6, Mode.SAVING, Mode.NORMAL),
        (0.35, Mode.SURVIVAL, Mode.SURVIVAL),
        (0.4, Mode.SURVIVAL, Mode.SAVING),
        (0.6, Mode.SURVIVAL, Mode.NORMAL),
        (0.29, Mode.SAVING, Mode.SURVIVAL),
    ],
)
def test_mode_at_state_of_charge(soc: float, previous: Mode | None, expected: Mode) -> None:
    before = None if previous is None else dataclasses.replace(step(0.9), mode=previous)
    assert step(soc, before).mode is expected


def test_lower_modes_spend_less() -> None:
    spend = [mode_power_w(mode, FULL_KIT, SETTINGS) for mode in Mode]
    assert spend == sorted(spend)
    assert spend[0] >= SETTINGS.base_load_w


def test_a_long_night_ahead_needs_more_reserve_than_a_short_one() -> None:
    small_pack = dataclasses.replace(SETTINGS, capacity_wh=60.0)
    after = plan(reading(AFTER_MORNING, 0.8), FULL_KIT, small_pack)
    before = plan(reading(BEFORE_MORNING_READ, 0.8), FULL_KIT, small_pack)
    assert after.mode is Mode.SAVING  # a day to carry on 60 Wh: normal would not last
    assert before.mode is Mode.NORMAL
    assert after.morning.assured and before.morning.assured


def test_a_short_reserve_keeps_the_morning_and_says_so_at_once() -> None:
    first = step(0.17)  # above the floor, but not enough for the night and the morning
    assert first.mode is Mode.SURVIVAL
    assert not first.morning.assured
    assert first.upload.utc == first.made_utc  # one window now, to warn the dashboard
    again = step(0.17, first, AFTER_MORNING + 300)
    assert not again.morning.assured
    assert again.next_report_utc == again.morning.upload_utc  # then only the morning
    assert again.morning.read_utc < again.morning.decision_utc


# -- the schedule a plan gives -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("soc", "mode"), [(0.9, Mode.NORMAL), (0.4, Mode.SAVING), (0.2, Mode.SURVIVAL)]
)
def test_every_part_is_read_in_the_morning_cycle_before_the_decision(
    soc: float, mode: Mode
) -> None:
    p = step(soc, utc=BEFORE_MORNING_READ)
    assert p.mode is mode
    assert p.morning.assured
    m = p.morning
    assert m.decision_utc == DECISION
    assert m.read_utc == m.decision_utc - SETTINGS.morning_lead_s
    assert m.read_utc < m.upload_utc <= m.decision_utc
    for s, part in zip(p.parts, FULL_KIT, strict=True):
        laps = (m.read_utc - s.next_read_utc) / s.interval_s
        assert s.next_read_utc > p.made_utc
        assert laps == pytest.approx(round(laps)) and laps >= 0  # the grid hits the morning read
        if part.switched:
            assert m.power_on_utc[part.name] == m.read_utc - part.warmup_s
    assert p.made_utc < p.upload.utc <= m.upload_utc


def test_the_morning_follows_the_local_decision_time() -> None:
    settings = dataclasses.replace(SETTINGS, decision_time_local="05:15")
    p = plan(reading(MIDNIGHT_BALI + 3600, 0.9), FULL_KIT, settings)
    assert p.morning.decision_utc == MIDNIGHT_BALI + 5.25 * 3600


def test_a_sleeping_part_is_switched_on_one_warm_up_before_its_read() -> None:
    p = step(0.9)
    for s, part in zip(p.parts, FULL_KIT, strict=True):
        assert s.sleeps == (part.switched and s.interval_s - part.warmup_s >= SETTINGS.min_sleep_s)
        if s.sleeps:
            assert s.power_on_utc == s.next_read_utc - part.warmup_s
            assert s.name not in p.powered
        else:
            assert s.power_on_utc is None
            assert s.name in p.powered
    scd = next(s for s in p.parts if s.name == "scd4x")
    assert scd.sleeps
    warming = step(0.9, p, scd.next_read_utc - 5.0)
    assert "scd4x" in warming.powered  # 10 s warm-up, 5 s to go


def test_survival_opens_the_radio_only_for_the_morning() -> None:
    p = step(0.2, utc=BEFORE_MORNING_READ)
    assert p.morning.assured
    assert p.upload.utc == p.morning.upload_utc
    assert p.upload.newest_first
    assert p.upload.max_readings >= len(FULL_KIT)  # the fresh set at least


def test_a_saving_buoy_in_sunshine_uploads_at_the_normal_rate() -> None:
    morning_upload = DECISION - SETTINGS.morning_lead_s + SETTINGS.cycle_s
    now = morning_upload + 2 * SETTINGS.saving_upload_s + 60  # just after a saving window
    shade = plan(reading(now, 0.4, solar_w=0.5), FULL_KIT, SETTINGS)
    sun = plan(reading(now, 0.4, solar_w=SETTINGS.sun_pays_w), FULL_KIT, SETTINGS)
    assert shade.mode is sun.mode is Mode.SAVING
    assert sun.upload.utc - now <= SETTINGS.normal_upload_s
    assert shade.upload.utc - now > SETTINGS.normal_upload_s


def test_a_new_plan_never_reports_later_than_the_last_one_announced() -> None:
    normal = step(0.9, utc=BEFORE_MORNING_READ)
    assert normal.next_report_utc < normal.morning.upload_utc
    dropped = step(0.2, normal, BEFORE_MORNING_READ + 60)
    assert dropped.mode is Mode.SURVIVAL
    assert dropped.morning.assured
    assert dropped.next_report_utc == normal.next_report_utc


# -- hysteresis --------------------------------------------------------------------------------


def modes_over_noisy_voltage(settings: PowerSettings) -> list[Mode]:
    """Modes over 400 readings of a pack resting at the saving threshold, 20 mV of noise."""
    noise = random.Random(7)
    volts = resting_voltage(settings.saving_below_soc)
    previous: PowerPlan | None = None
    modes = []
    for k in range(400):
        now = AFTER_MORNING + 60.0 * k
        measured = PowerReading(now, BALI, volts + noise.uniform(-0.02, 0.02), 0.0, 0.0)
        previous = plan(measured, FULL_KIT, settings, previous)
        modes.append(previous.mode)
    return modes


def changes(modes: list[Mode]) -> int:
    return sum(a is not b for a, b in itertools.pairwise(modes))


def test_a_noisy_voltage_at_a_threshold_does_not_make_the_mode_flap() -> None:
    assert changes(modes_over_noisy_voltage(SETTINGS)) <= 1
    without = dataclasses.replace(SETTINGS, hysteresis_soc=0.0)
    assert changes(modes_over_noisy_voltage(without)) > 20  # the same noise, no hysteresis


# -- a month on a simulated reef ---------------------------------------------------------------

SCENARIO = Scenario()  # exposed-point, 8 W panel, panel at 10 % on days 3-9


@pytest.fixture(scope="module")
def month() -> Run:
    return simulate(SCENARIO, SETTINGS)


def test_the_scenario_is_a_cloudy_week_that_would_drain_a_buoy_without_a_policy() -> None:
    assert SCENARIO.days >= 30 and SCENARIO.cloudy_days >= 7
    careless = simulate(SCENARIO, never_saving(SETTINGS))
    assert careless.min_soc < SETTINGS.floor_soc


def test_the_policy_keeps_the_pack_above_the_floor_for_a_month(month: Run) -> None:
    assert month.min_soc >= SETTINGS.floor_soc
    assert month.dark_hours == 0
    assert month.hours_in_mode[Mode.SURVIVAL] > 0  # the cloudy week pushed it all the way down
    assert month.hours_in_mode[Mode.NORMAL] > 0


def test_every_morning_a_full_fresh_set_reaches_the_dashboard_in_time(month: Run) -> None:
    decisions = month.decisions()
    assert len(decisions) >= SCENARIO.days - 1
    missed = [d for d in decisions if not month.morning_met(d, SETTINGS.morning_lead_s)]
    assert not missed
    for p in month.plans:
        assert p.morning.read_utc < p.morning.upload_utc <= p.morning.decision_utc


def test_every_announced_report_is_kept(month: Run) -> None:
    uploads = month.uploads
    end = SCENARIO.start_utc + SCENARIO.days * 86400
    for p in (p for p in month.plans if p.next_report_utc < end):
        first = bisect.bisect_left(uploads, p.made_utc)
        assert first < len(uploads) and uploads[first] <= p.next_report_utc, p
