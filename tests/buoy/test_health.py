from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buoy.health import (
    MAX_SENSORS_REPORTED,
    HealthFigures,
    HealthSnapshot,
    SensorHealth,
    SensorState,
    readings_by_sensor,
)
from buoy.system_probes import SystemProbes
from nemopi import wire
from nemopi.sensor_status import SensorStatus
from nemopi.wire import ClockSource, Sample, Status, Value
from sensors.reading import Reading
from tests.buoy.fake_sensors import Thermometer

T0 = 1_750_000_000_000
MINUTE = 60_000

ok = Reading("ph", 8.1)
timeout = Reading("ph", None, SensorStatus.TIMEOUT)
warming = Reading("ph", 7.9, SensorStatus.WARMING_UP)
garbage = Reading("ph", None, SensorStatus.GARBAGE)


def figures(**changes: object) -> HealthFigures:
    base: dict[str, object] = {
        "software_version": "0.1.0",
        "config_version": 3,
        "calibration_version": 5,
        "clock": ClockSource.NTP,
        "outbox_depth": 0,
    }
    return HealthFigures(**(base | changes))  # type: ignore[arg-type]


def round_trip(status: Status) -> Status:
    decoded = wire.decode(wire.encode(status), expect=wire.Kind.STATUS)
    assert isinstance(decoded, Status)
    return decoded


# ---------------------------------------------------------------- per-sensor tracking


def test_failures_count_consecutive_bad_cycles_and_reset_on_a_good_one() -> None:
    health = SensorHealth()
    health.update(T0, {"ph": [ok]})
    for i in range(1, 4):
        health.update(T0 + i * MINUTE, {"ph": [timeout]})
    record = health.get("ph")
    assert record is not None
    assert (record.state, record.failures, record.last_good_ms) == (
        SensorState.UNREACHABLE,
        3,
        T0,
    )
    assert record.last_read_ms == T0 + 3 * MINUTE
    health.update(T0 + 4 * MINUTE, {"ph": [ok]})
    record = health.get("ph")
    assert record is not None
    assert (record.state, record.failures, record.last_good_ms) == (
        SensorState.OK,
        0,
        T0 + 4 * MINUTE,
    )


def test_warming_up_and_asleep_neither_fail_nor_count_as_good() -> None:
    health = SensorHealth()
    health.update(T0, {"ph": [timeout]})
    health.update(T0 + MINUTE, {"ph": [warming]})
    health.update(T0 + 2 * MINUTE, {"ph": [Reading("ph", None, SensorStatus.ASLEEP)]})
    record = health.get("ph")
    assert record is not None
    assert (record.state, record.failures, record.last_good_ms) == (SensorState.ASLEEP, 1, None)


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (SensorStatus.STALE, SensorState.STALE),
        (SensorStatus.STUCK, SensorState.STUCK),
        (SensorStatus.UNREACHABLE, SensorState.UNREACHABLE),
        (SensorStatus.TIMEOUT, SensorState.UNREACHABLE),
        (SensorStatus.CHECKSUM, SensorState.FAULTY),
        (SensorStatus.POWER_ON_VALUE, SensorState.FAULTY),
    ],
)
def test_each_failing_status_maps_to_a_state_and_counts(
    status: SensorStatus, state: SensorState
) -> None:
    health = SensorHealth()
    value = 1.0 if status.has_value else None
    health.update(T0, {"ph": [Reading("ph", value, status)]})
    record = health.get("ph")
    assert record is not None
    assert (record.state, record.status, record.failures) == (state, status, 1)


def test_the_worst_reading_decides_a_multi_quantity_sensor() -> None:
    health = SensorHealth()
    readings = [
        Reading("co2", 420.0),
        Reading("air_temperature", 28.0, SensorStatus.STALE),
        Reading("air_humidity", None, SensorStatus.CHECKSUM),
    ]
    health.update(T0, {"scd4x": readings})
    record = health.get("scd4x")
    assert record is not None
    assert (record.state, record.status) == (SensorState.FAULTY, SensorStatus.CHECKSUM)


def test_a_sensor_that_returned_nothing_is_a_device_error() -> None:
    health = SensorHealth()
    health.update(T0, {"ph": []})
    record = health.get("ph")
    assert record is not None
    assert (record.state, record.status, record.failures) == (
        SensorState.FAULTY,
        SensorStatus.DEVICE_ERROR,
        1,
    )


def test_a_sensor_not_read_this_cycle_keeps_its_record() -> None:
    health = SensorHealth()
    health.update(T0, {"ph": [ok], "gps": [timeout]})
    health.update(T0 + MINUTE, {"gps": [timeout]})
    record = health.get("ph")
    assert record is not None
    assert record.last_read_ms == T0
    assert [r.name for r in health.records()] == ["gps", "ph"]


def test_readings_by_sensor_regroups_a_stored_sample() -> None:
    values = {
        "water_temperature": Value(25.5),
        "ph": Value(None, SensorStatus.TIMEOUT),
    }
    grouped = readings_by_sensor(values, [Thermometer()])
    assert grouped == {"thermometer": [Reading("water_temperature", 25.5)]}


# ---------------------------------------------------------------- the status report


def test_status_carries_every_figure_and_decodes_unchanged() -> None:
    health = SensorHealth()
    health.update(T0 - 5 * MINUTE, {"ph": [ok], "gps": [ok]})
    health.update(T0, {"ph": [timeout], "gps": [ok]})
    oldest = Sample(41, T0 - 12 * MINUTE, ClockSource.NTP, {"ph": Value(8.1)})
    snapshot = HealthSnapshot.of(
        figures(
            outbox_depth=12,
            oldest_unsent=oldest,
            battery_voltage=12.87412,
            solar_power=3.214,
            cpu_temperature=48.345,
            disk_free=2113.6,
            link_rssi=-87.2,
        ),
        health,
    )
    status = round_trip(snapshot.status("reef-01", T0, interval_s=900))
    assert (status.buoy, status.online, status.as_of_ms) == ("reef-01", True, T0)
    assert status.valid_until_ms == T0 + 2 * 900_000
    assert status.next_report_ms == T0 + 900_000
    assert status.detail == {
        "battery_voltage": 12.874,
        "solar_power": 3.21,
        "cpu_temperature": 48.3,
        "disk_free": 2114,
        "link_rssi": -87,
        "outbox_depth": 12,
        "oldest_unsent": {"seq": 41, "time_ms": T0 - 12 * MINUTE, "age_s": 720},
        "software": "0.1.0",
        "config_version": 3,
        "calibration_version": 5,
        "clock": "ntp",
        "sensors": {
            "gps": {"state": "ok", "failures": 0, "last_good": T0},
            "ph": {
                "state": "unreachable",
                "failures": 1,
                "last_good": T0 - 5 * MINUTE,
                "status": "timeout",
            },
        },
    }


def test_a_planned_sleep_keeps_the_report_valid_until_one_interval_after_it() -> None:
    wake = T0 + 6 * 3600_000  # the power policy announced the next radio window
    status = HealthSnapshot.of(figures(), SensorHealth()).status("reef-01", T0, 900, wake)
    assert status.next_report_ms == wake
    assert status.valid_until_ms == wake + 900_000


def test_unknown_and_non_finite_figures_are_null_not_an_error() -> None:
    snapshot = HealthSnapshot.of(
        figures(cpu_temperature=float("nan"), battery_voltage=float("inf")), SensorHealth()
    )
    detail = round_trip(snapshot.status("reef-01", T0, 60)).detail
    assert detail["cpu_temperature"] is None
    assert detail["battery_voltage"] is None
    assert detail["disk_free"] is None
    assert detail["oldest_unsent"] is None
    assert detail["sensors"] == {}


def test_oldest_unsent_taken_before_clock_sync_has_no_utc_time() -> None:
    unsynced = Sample(7, 93_000, ClockSource.UNSYNCED, {"ph": Value(8.0)}, boot=4)
    snapshot = HealthSnapshot.of(
        figures(clock=ClockSource.UNSYNCED, oldest_unsent=unsynced), SensorHealth()
    )
    detail = round_trip(snapshot.status("reef-01", T0, 60)).detail
    assert detail["oldest_unsent"] == {"seq": 7, "time_ms": None, "age_s": None}
    assert detail["clock"] == "unsynced"


def test_many_sensors_still_fit_the_wire_worst_first() -> None:
    health = SensorHealth()
    names = [f"sensor-{i:03d}" for i in range(3 * MAX_SENSORS_REPORTED)]
    health.update(T0, {name: [ok] for name in names})
    health.update(T0 + MINUTE, {"sensor-119": [timeout], "sensor-000": [garbage]})
    snapshot = HealthSnapshot.of(figures(software_version="x" * 1000), health)
    detail = round_trip(snapshot.status("reef-01", T0 + MINUTE, 60)).detail
    assert len(detail["sensors"]) == MAX_SENSORS_REPORTED
    assert detail["sensors_omitted"] == 2 * MAX_SENSORS_REPORTED
    assert detail["sensors"]["sensor-119"]["state"] == "unreachable"
    assert detail["sensors"]["sensor-000"]["state"] == "faulty"
    assert len(detail["software"]) == wire.MAX_TEXT


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=300),
        st.lists(st.sampled_from(list(SensorStatus)), max_size=4),
        max_size=60,
    ),
    st.floats(allow_nan=True, allow_infinity=True) | st.none(),
)
def test_any_sensor_set_and_figures_encode_as_a_status(
    cycle: dict[str, list[SensorStatus]], battery: float | None
) -> None:
    health = SensorHealth()
    health.update(
        T0,
        {
            name: [Reading("ph", 1.0 if s.has_value else None, s) for s in statuses]
            for name, statuses in cycle.items()
        },
    )
    snapshot = HealthSnapshot.of(figures(battery_voltage=battery), health)
    round_trip(snapshot.status("reef-01", T0, 900))


# ---------------------------------------------------------------- system probes


def test_cpu_temperature_reads_millidegrees(tmp_path: Path) -> None:
    zone = tmp_path / "temp"
    zone.write_text("48312\n")
    assert SystemProbes(tmp_path, zone).cpu_temperature() == pytest.approx(48.312)


def test_missing_or_garbled_thermal_zone_is_none_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    probes = SystemProbes(tmp_path, tmp_path / "absent")
    with caplog.at_level(logging.WARNING, logger="buoy.system_probes"):
        assert probes.cpu_temperature() is None
        assert probes.cpu_temperature() is None
    assert len(caplog.records) == 1
    garbled = tmp_path / "garbled"
    garbled.write_bytes(b"\xff not a number")
    assert SystemProbes(tmp_path, garbled).cpu_temperature() is None


def test_disk_free_in_megabytes_and_none_for_a_missing_folder(tmp_path: Path) -> None:
    free = SystemProbes(tmp_path).disk_free()
    assert free is not None and free > 0
    assert SystemProbes(tmp_path / "gone").disk_free() is None
