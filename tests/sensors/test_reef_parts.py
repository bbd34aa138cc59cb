"""The pure parts of the simulated reef, each checked against the relation it names."""

from __future__ import annotations

import dataclasses
import random
import statistics

import pytest

from sensors.simulation import SimulationSettings
from sensors.simulation.battery import resting_voltage
from sensors.simulation.carbonate import carbon_fixed
from sensors.simulation.daily_events import poisson
from sensors.simulation.mooring import Mooring
from sensors.simulation.random_streams import stream
from sensors.simulation.sun import clear_sky_fraction, panel_power_w

BALI = SimulationSettings()


def test_clear_sky_beam_is_zero_below_the_horizon_and_meinel_overhead() -> None:
    assert clear_sky_fraction(0.0) == clear_sky_fraction(-0.3) == 0.0
    assert clear_sky_fraction(1.0) == pytest.approx(1.353 * 0.7)
    assert clear_sky_fraction(0.5) < 0.5 * clear_sky_fraction(1.0)  # more air mass, less beam


def test_overcast_leaves_a_quarter_of_the_panel_power() -> None:
    clear = panel_power_w(20.0, 0.8, 0.0)
    assert clear == pytest.approx(20.0 * clear_sky_fraction(0.8))
    assert panel_power_w(20.0, 0.8, 1.0) == pytest.approx(0.25 * clear)


def test_carbon_fixed_runs_from_minus_one_after_dawn_to_plus_one_before_dusk() -> None:
    hours = [h / 60.0 for h in range(24 * 60)]
    fixed = [carbon_fixed(h) for h in hours]
    assert min(fixed) == pytest.approx(-1.0, abs=1e-6)
    assert max(fixed) == pytest.approx(1.0, abs=1e-6)
    assert 6.0 < hours[fixed.index(min(fixed))] < 8.0  # once light exceeds respiration
    assert 16.0 < hours[fixed.index(max(fixed))] < 18.0


def test_resting_voltage_interpolates_the_lifepo4_table() -> None:
    assert resting_voltage(0.0) == 10.0
    assert resting_voltage(1.0) == 13.6
    assert resting_voltage(0.05) == pytest.approx(11.0)
    assert resting_voltage(0.5) == pytest.approx(13.05)


def test_poisson_counts_have_the_requested_mean() -> None:
    rng = random.Random(3)
    counts = [poisson(rng, 4.0) for _ in range(20000)]
    assert statistics.fmean(counts) == pytest.approx(4.0, abs=0.1)
    assert statistics.variance(counts) == pytest.approx(4.0, abs=0.2)


def test_streams_depend_only_on_seed_kind_and_day() -> None:
    assert stream(1, "rain", 5).random() == stream(1, "rain", 5).random()
    draws = {stream(*name).random() for name in [(1, "rain", 5), (2, "rain", 5), (1, "gps", 5)]}
    assert len(draws) == 3


def test_buoy_rests_on_its_anchor_in_slack_water_and_nears_the_rim_in_a_strong_current() -> None:
    settings = dataclasses.replace(BALI, mooring_radius_m=20.0)
    mooring = Mooring(settings)
    assert mooring.buoy_position(0.0, 0.0, 0.0) == (settings.latitude, settings.longitude)
    latitude, longitude = mooring.buoy_position(0.0, 2.0, 2.0)  # due north, fast
    assert longitude == pytest.approx(settings.longitude, abs=1e-9)
    assert (latitude - settings.latitude) * 111_195.0 == pytest.approx(20.0, rel=1e-3)
