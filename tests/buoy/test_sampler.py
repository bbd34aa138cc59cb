from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from buoy.outbox import Outbox
from buoy.sampler import Sampler
from buoy.timesource import TrustedSystemTime
from nemopi.sensor_status import SensorStatus
from nemopi.wire import ClockSource, Value
from sensors.clock import SimulatedClock
from sensors.reading import Reading
from tests.buoy.fake_sensors import BrokenDriver, Scripted, Thermometer

START_UTC = 1_750_000_000.0


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox.sqlite3", "reef-01", 30.0) as box:
        yield box


def sampler(outbox: Outbox, *sensors: object) -> Sampler:
    return Sampler(sensors, TrustedSystemTime(SimulatedClock(START_UTC)), outbox)  # type: ignore[arg-type]


def test_cycle_stores_one_sample_with_every_sensor_value_and_trusted_time(
    outbox: Outbox,
) -> None:
    readings = [Reading("ph", 8.05), Reading("turbidity", None, SensorStatus.TIMEOUT)]
    sample = sampler(outbox, Thermometer(), Scripted(("ph", "turbidity"), readings)).cycle()
    assert sample is not None
    assert sample.time_ms == START_UTC * 1000
    assert sample.clock is ClockSource.NTP
    assert dict(sample.values) == {
        "water_temperature": Value(25.0),
        "ph": Value(8.05),
        "turbidity": Value(None, SensorStatus.TIMEOUT),
    }
    assert outbox.due(10, now=0.0) == [sample]


def test_every_sample_names_the_configuration_and_calibration_it_was_taken_under(
    outbox: Outbox,
) -> None:
    versions = {"config": 3, "calibration": 7}
    taker = Sampler(
        [Thermometer()],
        TrustedSystemTime(SimulatedClock(START_UTC)),
        outbox,
        calibration_version=lambda: versions["calibration"],
        config_version=lambda: versions["config"],
    )
    first = taker.cycle()
    versions["config"] = 4
    second = taker.cycle()
    assert first is not None and second is not None
    assert (first.config_version, first.calibration_version) == (3, 7)
    assert (second.config_version, second.calibration_version) == (4, 7)
    assert outbox.due(10, now=0.0) == [first, second]


def test_driver_that_raises_yields_device_errors_and_others_still_sampled(
    outbox: Outbox,
) -> None:
    sample = sampler(outbox, BrokenDriver(), Thermometer()).cycle()
    assert sample is not None
    assert sample.values["ph"] == Value(None, SensorStatus.DEVICE_ERROR)
    assert sample.values["turbidity"] == Value(None, SensorStatus.DEVICE_ERROR)
    assert sample.values["water_temperature"] == Value(25.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e300, "8.1", True])
def test_value_the_wire_cannot_carry_becomes_garbage(outbox: Outbox, bad: object) -> None:
    sensor = Scripted(("ph",), [Reading("ph", bad)])  # type: ignore[arg-type]
    sample = sampler(outbox, sensor).cycle()
    assert sample is not None
    assert sample.values == {"ph": Value(None, SensorStatus.GARBAGE)}


def test_missing_and_undeclared_quantities_are_reported_not_invented(outbox: Outbox) -> None:
    sensor = Scripted(("ph", "turbidity"), [Reading("ph", 8.0), Reading("no2", 3.0)])
    sample = sampler(outbox, sensor).cycle()
    assert sample is not None
    assert sample.values == {
        "ph": Value(8.0),
        "turbidity": Value(None, SensorStatus.DEVICE_ERROR),
    }


def test_second_sensor_reporting_a_quantity_does_not_overwrite_the_first(outbox: Outbox) -> None:
    sample = sampler(outbox, Thermometer(20.0), Thermometer(30.0)).cycle()
    assert sample is not None
    assert sample.values == {"water_temperature": Value(20.0)}


def test_full_disk_is_logged_and_sampling_goes_on_when_space_returns(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    s = sampler(outbox, Thermometer())
    assert s.cycle() is not None
    db = outbox._conn
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # the card is full
    for _ in range(200):  # until the next row needs a new page
        if s.cycle() is None:
            break
    assert "could not be stored" in caplog.text
    db.execute("PRAGMA max_page_count = 1000000")
    stored = s.cycle()
    assert stored is not None
    assert outbox.due(1000, now=0.0)[-1] == stored
