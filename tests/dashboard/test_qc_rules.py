"""The pure QC rules on a known series: each fault gets the flag QARTOD gives it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ioos_qc import qartod
from ioos_qc.qartod import QartodFlags

from dashboard.qc.config import QcConfig
from dashboard.qc.flags import STATUS_FLAGS, Flag, status_flags
from dashboard.qc.rules import Mooring, Outcome, Series, evaluate, location_flags
from nemopi.catalogue import by_name
from nemopi.sensor_status import SensorStatus
from nemopi.wire import Sample
from tests.dashboard import qc_series as known


def series_of(samples: list[Sample], quantity: str) -> Series:
    values = [s.values[quantity] for s in samples]
    return Series(
        seq=np.array([s.seq for s in samples], dtype=np.int64),
        time_s=np.array([s.time_ms / 1000 if s.synced else np.nan for s in samples]),
        value=np.array([v.value for v in values], dtype=np.float64),
        status=np.array([int(v.status) for v in values], dtype=np.int64),
    )


def run(config: QcConfig, quantity: str, samples: list[Sample] | None = None) -> Outcome:
    series = series_of(samples or known.known_samples(), quantity)
    thresholds = config.defaults[by_name(quantity).code]
    return evaluate(series, np.ones(series.seq.size, bool), thresholds, config.max_gap_s)


def flag_of(outcome: Outcome, seq: int, test: str) -> int:
    (at,) = np.flatnonzero(outcome.seq == seq)
    return int(outcome.aggregate[at] if test == "aggregate" else outcome.flags[test][at])


@pytest.fixture
def config(tmp_path: Path) -> QcConfig:
    return known.qc_config(tmp_path)


def test_flag_values_are_qartods() -> None:
    assert {f.name: int(f) for f in Flag if f is not Flag.NOT_EVALUATED} == {
        name: getattr(QartodFlags, name) for name in ("GOOD", "SUSPECT", "FAIL", "MISSING")
    }
    assert Flag.NOT_EVALUATED == QartodFlags.UNKNOWN


def test_every_sensor_status_has_a_flag_and_valueless_ones_are_never_good() -> None:
    assert set(STATUS_FLAGS) == set(SensorStatus)
    for status, flag in STATUS_FLAGS.items():
        if not status.has_value:
            assert flag in (Flag.FAIL, Flag.MISSING), status
    assert status_flags(np.array([0, 1, 3, 4, 99, -1])).tolist() == [1, 3, 4, 9, 4, 4]


def test_a_spike_is_flagged_and_its_neighbours_are_not(config: QcConfig) -> None:
    outcome = run(config, "water_temperature")
    assert flag_of(outcome, known.SPIKE, "spike") == Flag.FAIL
    assert flag_of(outcome, known.SPIKE, "aggregate") == Flag.FAIL
    assert flag_of(outcome, known.SPIKE - 1, "spike") == Flag.SUSPECT  # half the jump
    assert flag_of(outcome, known.SPIKE - 3, "spike") == Flag.GOOD
    # 2.9 °C in a minute: above 0.01 °C/s, below the 0.05 °C/s fail rate, up and down again.
    assert flag_of(outcome, known.SPIKE, "rate_of_change") == Flag.SUSPECT
    assert flag_of(outcome, known.SPIKE + 1, "rate_of_change") == Flag.SUSPECT
    assert flag_of(outcome, known.SPIKE + 2, "rate_of_change") == Flag.GOOD


def test_a_flat_line_turns_suspect_then_fail_after_its_windows(config: QcConfig) -> None:
    outcome = run(config, "water_temperature")
    first = known.FLAT.start
    flags = [flag_of(outcome, seq, "flat_line") for seq in known.FLAT]
    assert flags[:30] == [Flag.GOOD] * 30  # 29 minutes unchanged: fine
    assert flags[30:60] == [Flag.SUSPECT] * 30  # 30 minutes
    assert flags[60:] == [Flag.FAIL] * (len(known.FLAT) - 60)  # an hour
    assert flag_of(outcome, first - 1, "flat_line") == Flag.GOOD


def test_out_of_range_fails_and_outside_the_site_range_is_suspect(config: QcConfig) -> None:
    outcome = run(config, "ph")
    assert flag_of(outcome, known.OUT_OF_RANGE, "gross_range") == Flag.FAIL
    assert flag_of(outcome, known.OUT_OF_RANGE, "aggregate") == Flag.FAIL
    temperature = run(config, "water_temperature")
    assert flag_of(temperature, known.SPIKE, "gross_range") == Flag.GOOD
    hot = [known.known_sample(s) for s in range(3)]
    hot[1] = Sample(1, hot[1].time_ms, hot[1].clock, {"water_temperature": known.Value(33.0)})
    assert flag_of(run(config, "water_temperature", hot), 1, "gross_range") == Flag.SUSPECT


def test_a_warming_up_value_is_suspect_and_a_missing_one_missing(config: QcConfig) -> None:
    outcome = run(config, "ph")
    assert flag_of(outcome, known.WARMING_UP, "sensor") == Flag.SUSPECT
    assert flag_of(outcome, known.WARMING_UP, "gross_range") == Flag.GOOD
    assert flag_of(outcome, known.WARMING_UP, "aggregate") == Flag.SUSPECT
    for test in ("sensor", "gross_range", "spike", "rate_of_change", "aggregate"):
        assert flag_of(outcome, known.NO_VALUE, test) == Flag.MISSING, test
    assert flag_of(outcome, known.NO_VALUE + 1, "spike") == Flag.NOT_EVALUATED


def test_an_unsynced_sample_gets_no_time_based_verdict(config: QcConfig) -> None:
    outcome = run(config, "water_temperature")
    for test in ("spike", "rate_of_change", "flat_line"):
        assert flag_of(outcome, known.UNSYNCED, test) == Flag.NOT_EVALUATED, test
    assert flag_of(outcome, known.UNSYNCED, "gross_range") == Flag.GOOD
    assert flag_of(outcome, known.UNSYNCED, "aggregate") == Flag.GOOD
    # Its synced neighbours are neighbours of each other (two minutes apart, within the gap).
    assert flag_of(outcome, known.UNSYNCED + 1, "rate_of_change") == Flag.GOOD


def test_a_gap_longer_than_max_gap_leaves_spike_and_rate_unevaluated(config: QcConfig) -> None:
    samples = [known.known_sample(s) for s in range(6)]
    late = samples[3]
    samples[3:] = [Sample(s.seq, s.time_ms + 3_600_000, s.clock, s.values) for s in samples[3:]]
    assert late.time_ms != samples[3].time_ms
    outcome = run(config, "water_temperature", samples)
    assert flag_of(outcome, 2, "spike") == Flag.NOT_EVALUATED
    assert flag_of(outcome, 3, "spike") == Flag.NOT_EVALUATED
    assert flag_of(outcome, 3, "rate_of_change") == Flag.NOT_EVALUATED
    assert flag_of(outcome, 4, "spike") == Flag.GOOD


def test_a_position_5_km_off_the_mooring_is_suspect() -> None:
    latitude = np.array([known.MOORING.latitude, known.MOORING.latitude + known.KM5_NORTH_DEG])
    longitude = np.array([known.MOORING.longitude] * 2)
    assert location_flags(latitude, longitude, known.MOORING).tolist() == [1, 3]
    assert location_flags(latitude, longitude, None).tolist() == [2, 2]
    impossible = location_flags(np.array([95.0, np.nan]), np.array([0.0, np.nan]), None)
    assert impossible.tolist() == [Flag.FAIL, Flag.MISSING]


def test_more_history_than_needed_changes_no_flag(config: QcConfig) -> None:
    samples = known.known_samples()
    quantity = "water_temperature"
    whole = run(config, quantity, samples)
    thresholds = config.defaults[by_name(quantity).code]
    reach_s = config.lookback_s + config.max_gap_s
    for first_target in (35, 130, 160):
        target_time = samples[first_target].time_ms / 1000
        context = [s for s in samples if not s.synced or s.time_ms / 1000 >= target_time - reach_s]
        series = series_of(context, quantity)
        targets = series.seq >= first_target
        part = evaluate(series, targets, thresholds, config.max_gap_s)
        for test, flags in part.flags.items():
            expected = [flag_of(whole, int(seq), test) for seq in part.seq]
            assert flags.tolist() == expected, (first_target, test)


def _geodesic_flags(lat: np.ndarray, lon: np.ndarray, mooring: Mooring) -> np.ndarray:
    """The oracle: ioos_qc's WGS84 location test of each position against the mooring."""
    out = []
    for la, lo in zip(lat, lon, strict=True):
        pair = qartod.location_test(
            np.array([mooring.longitude, lo]),
            np.array([mooring.latitude, la]),
            range_max=mooring.radius_m,
            range_method="wgs84",
        )
        out.append(int(pair[1]))
    return np.array(out)


@settings(max_examples=40, deadline=None)
@given(
    mooring_lat=st.floats(-80, 80),
    mooring_lon=st.floats(-179, 179),
    radius_m=st.floats(10, 20_000),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_fast_location_test_flags_exactly_as_the_wgs84_geodesic(
    mooring_lat: float, mooring_lon: float, radius_m: float, seed: int
) -> None:
    """Positions from well inside to well outside the radius, half of them near its edge."""
    rng = np.random.default_rng(seed)
    n = 100
    bearing = rng.uniform(0, 2 * np.pi, n)
    spread = np.where(rng.random(n) < 0.5, rng.uniform(0, 3, n), rng.normal(1, 0.02, n))
    distance = radius_m * np.abs(spread)
    metres_per_degree = 111_320.0
    lat = mooring_lat + distance * np.cos(bearing) / metres_per_degree
    lon = mooring_lon + distance * np.sin(bearing) / (
        metres_per_degree * np.cos(np.radians(mooring_lat))
    )
    mooring = Mooring(mooring_lat, mooring_lon, radius_m)
    assert np.array_equal(location_flags(lat, lon, mooring), _geodesic_flags(lat, lon, mooring))
