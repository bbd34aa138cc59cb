"""Calibration: stored for good, given back to the drivers at start, performed through them,
and reported with every sample and in the status.

The drivers are the real ones over their emulators; the store is a real SQLite file, killed
with SIGKILL mid-write; the technician command runs as a real process.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from buoy.calibrate import (
    DriverCalibration,
    calibrate,
    cell_values,
    driver_calibration,
    record_changes,
    turbidity_values,
)
from buoy.calibration import CALIBRATION_FILE, CalibrationStore, CalibrationStoreError
from buoy.config import load_buoy_config
from buoy.daemon import LOCK_FILE, BuoyBusy, BuoyDaemon, buoy_lock, open_instruments
from buoy.hardware import build_hardware_instruments
from buoy.hardware_settings import HardwareSettings
from buoy.outbox import Outbox
from buoy.sampler import Sampler
from buoy.timesource import TrustedSystemTime
from nemopi import wire
from nemopi.sensor_status import SensorStatus
from sensors.clock import SimulatedClock
from sensors.emulators.ads1115 import Ads1115Emulator
from sensors.emulators.ezo_ph import EzoPhEmulator
from sensors.emulators.fake_smbus import FakeSMBus
from sensors.errors import OutOfRange
from sensors.ezo_ph import EzoPh
from sensors.gas_cells import CellCalibration, CellType, GasCell, GasCells, corrected_we_mv
from sensors.reading import Sensor
from sensors.simulation import preset
from sensors.simulation.assemble import GAS_CELLS, build_simulated_sensors
from sensors.turbidity import CURVE_ZERO_V, TurbidityCalibration, TurbidityProbe, ntu_from_volts
from tests.buoy.conftest import write_config
from tests.buoy.fake_sensors import Thermometer
from tests.buoy.test_hardware import ALL_WARM_S, Bench, bench, parse  # noqa: F401 (the fixture)
from tests.buoy.test_hardware import WATER_C as BENCH_WATER_C

ROOT = Path(__file__).resolve().parents[2]
START_UTC = 1_750_000_000.0
WATER_C = 25.0
NO2 = GasCell(CellType.NO2_B43F, 0, 1, CellCalibration(224.0, 255.0, -431.0, -0.73))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CalibrationStore]:
    with CalibrationStore.in_dir(tmp_path / "data") as opened:
        yield opened


# -- the store ---------------------------------------------------------------------------------


def test_records_and_versions_survive_reopening(tmp_path: Path) -> None:
    with CalibrationStore.in_dir(tmp_path) as store:
        assert store.version() == 0
        assert store.current().parts == {}
        first = store.record("ph", "ph.mid", {"points": 1, "buffer_ph": 7.0}, 1_000)
        second = store.record("turbidity", "turbidity.clear_water", {"clear_water_v": 4.1}, 2_000)
        third = store.record("ph", "ph.low", {"points": 2, "note": None}, 3_000)
        assert [first.version, second.version, third.version] == [1, 2, 3]
    with CalibrationStore.in_dir(tmp_path) as store:
        assert store.version() == 3
        assert store.history() == [first, second, third]
        state = store.current()
        assert state.version == 3
        assert state.parts == {"ph": third, "turbidity": second}
        assert store.record("ph", "ph.high", {"points": 3}, 4_000).version == 4


def test_records_are_immutable_and_versions_never_reused(tmp_path: Path) -> None:
    with CalibrationStore.in_dir(tmp_path) as store:
        store.record("ph", "ph.mid", {"points": 1}, 1_000)
        store.record("ph", "ph.low", {"points": 2}, 2_000)
    with sqlite3.connect(tmp_path / CALIBRATION_FILE) as db:
        for statement in ("UPDATE records SET procedure = 'x'", "DELETE FROM records"):
            with pytest.raises(sqlite3.IntegrityError, match="immutable"):
                db.execute(statement)
        # Even a row removed behind the store's back does not free its number.
        db.execute("DROP TRIGGER records_no_delete")
        db.execute("DELETE FROM records WHERE version = 2")
    with CalibrationStore.in_dir(tmp_path) as store:
        assert store.version() == 2
        assert store.record("ph", "ph.low", {"points": 2}, 3_000).version == 3


@pytest.mark.parametrize(
    "values",
    [
        {"v": float("nan")},
        {"v": [1, 2]},
        {"v": {"nested": 1}},
        {"v": "x" * 257},
        {"version": 1},
        {"": 1},
        {1: 2},
    ],
)
def test_values_that_cannot_travel_are_refused_and_nothing_written(
    store: CalibrationStore, values: dict[object, object]
) -> None:
    with pytest.raises(ValueError):
        store.record("ph", "ph.mid", values, 1_000)  # type: ignore[arg-type]
    assert store.version() == 0
    assert store.history() == []


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = CalibrationStore.in_dir(tmp_path)
    store.close()
    store.close()
    with pytest.raises(CalibrationStoreError, match="closed"):
        store.current()


WRITER = """
import sys
from pathlib import Path
from buoy.calibration import CalibrationStore

with CalibrationStore(Path(sys.argv[1])) as store:
    n = 0
    while True:
        n += 1
        record = store.record("no2", "no2.zero", {"zero_offset_mv": n * 0.5, "n": n}, n)
        print(record.version, flush=True)
"""


def test_no_committed_record_is_lost_when_the_writer_is_killed(tmp_path: Path) -> None:
    path = tmp_path / CALIBRATION_FILE
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    committed = [int(writer.stdout.readline()) for _ in range(40)]
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    with CalibrationStore(path) as store:
        history = store.history()
        # Every record that record() returned is there, intact; numbering has no gap.
        assert [r.version for r in history] == list(range(1, len(history) + 1))
        assert len(history) >= committed[-1]
        for record in history:
            assert dict(record.values) == {
                "zero_offset_mv": record.version * 0.5,
                "n": record.version,
            }
        assert store.record("no", "no.zero", {}, 0).version == len(history) + 1


# -- performed through the real drivers --------------------------------------------------------


@dataclass
class Bay:
    """A pH circuit, a turbidity probe and an NO2 cell, real drivers over emulated parts."""

    clock: SimulatedClock
    true_ph: list[float]
    probe_v: list[float]
    no2_we_mv: list[float]
    sensors: list[Sensor] = field(default_factory=list)

    def value(self, quantity: str) -> tuple[float | None, SensorStatus]:
        for sensor in self.sensors:
            for reading in sensor.read():
                if reading.quantity == quantity:
                    return reading.value, reading.status
        raise KeyError(quantity)


@pytest.fixture
def bay() -> Bay:
    clock = SimulatedClock(START_UTC)
    bay = Bay(clock, [7.0], [4.1], [224.0 + 12.0])
    bus = FakeSMBus()
    ezo = EzoPhEmulator(
        clock, lambda: bay.true_ph[0], lambda: WATER_C, probe_offset_mv=10.0, probe_slope=0.95
    )
    bus.attach(0x63, ezo)
    bus.attach(0x48, Ads1115Emulator(clock, {0: lambda: bay.probe_v[0] / 2}))
    gas = {0: lambda: bay.no2_we_mv[0] / 1000, 1: lambda: 0.255}
    bus.attach(0x49, Ads1115Emulator(clock, gas))
    bay.sensors = [
        EzoPh(bus, clock),
        TurbidityProbe(bus, clock=clock),
        GasCells(bus, [NO2], lambda: WATER_C, clock=clock),
    ]
    clock.advance(GasCells.warmup_s)
    return bay


def test_a_three_point_ph_calibration_removes_the_electrodes_offset_and_slope(
    bay: Bay, store: CalibrationStore
) -> None:
    bay.true_ph[0] = 8.5
    before, status = bay.value("ph")
    assert status is SensorStatus.NOT_CALIBRATED
    assert before is not None and abs(before - 8.5) > 0.1
    for procedure, buffer, version in (
        ("ph.mid", 7.0, 1),
        ("ph.low", 4.0, 2),
        ("ph.high", 10.0, 3),
    ):
        bay.true_ph[0] = buffer
        record = calibrate(bay, store, procedure, buffer, clock=bay.clock)
        assert (record.part, record.procedure, record.version) == ("ph", procedure, version)
        assert record.values["buffer_ph"] == buffer
    assert record.values["points"] == 3
    assert record.values["acid_percent"] == pytest.approx(95.0, abs=0.1)
    assert record.values["base_percent"] == pytest.approx(95.0, abs=0.1)
    bay.true_ph[0] = 8.5
    assert bay.value("ph") == (pytest.approx(8.5, abs=0.002), SensorStatus.OK)
    cleared = calibrate(bay, store, "ph.clear", clock=bay.clock)
    assert (cleared.version, cleared.values["points"]) == (4, 0)
    assert bay.value("ph")[1] is SensorStatus.NOT_CALIBRATED
    assert store.current().parts["ph"] == cleared


def test_a_clear_water_calibration_makes_clear_water_read_zero(
    bay: Bay, store: CalibrationStore
) -> None:
    assert bay.value("turbidity") == (
        pytest.approx(ntu_from_volts(4.1), rel=0.01),
        SensorStatus.NOT_CALIBRATED,
    )
    record = calibrate(bay, store, "turbidity.clear_water", clock=bay.clock)
    assert record.version == 1
    assert record.values["clear_water_v"] == pytest.approx(4.1, abs=0.002)
    assert bay.value("turbidity") == (pytest.approx(0.0, abs=0.5), SensorStatus.OK)
    bay.probe_v[0] = 3.9  # 0.2 V darker than clear water: the curve 0.2 V below its zero
    value, status = bay.value("turbidity")
    assert status is SensorStatus.OK
    assert value == pytest.approx(ntu_from_volts(CURVE_ZERO_V - 0.2), abs=2.0)


def test_a_zero_in_clean_air_removes_the_cells_residual(bay: Bay, store: CalibrationStore) -> None:
    before, status = bay.value("no2")
    assert status is SensorStatus.OK and before is not None and before > 5.0
    record = calibrate(bay, store, "no2.zero", clock=bay.clock)
    assert (record.part, record.version) == ("no2", 1)
    assert record.values["zeroed_utc"] is not None
    assert bay.value("no2") == (pytest.approx(0.0, abs=0.5), SensorStatus.OK)
    sensitivity = NO2.calibration.sensitivity_mv_per_ppb
    bay.no2_we_mv[0] += 40 * sensitivity  # 40 ppb more NO2
    assert bay.value("no2") == (pytest.approx(40.0, abs=0.5), SensorStatus.OK)


@pytest.mark.parametrize(
    ("procedure", "value", "words"),
    [
        ("ph.middle", None, "unknown procedure"),
        ("turbidity.clear_water", 3.0, "takes no value"),
        ("no.zero", None, "no no cell"),
    ],
)
def test_a_step_that_cannot_be_done_is_refused_and_nothing_recorded(
    bay: Bay, store: CalibrationStore, procedure: str, value: float | None, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        calibrate(bay, store, procedure, value, clock=bay.clock)
    assert store.version() == 0


def test_a_part_that_refuses_the_step_leaves_the_store_alone(
    bay: Bay, store: CalibrationStore
) -> None:
    bay.probe_v[0] = 3.0  # murky water, not clear: the probe refuses
    with pytest.raises(OutOfRange):
        calibrate(bay, store, "turbidity.clear_water", clock=bay.clock)
    assert store.version() == 0
    bay.sensors = []
    with pytest.raises(ValueError, match="no EzoPh is fitted"):
        calibrate(bay, store, "ph.mid", 7.0, clock=bay.clock)


# -- given back at start -------------------------------------------------------------------------


def test_a_hand_calibrated_ph_circuit_shows_up_as_a_new_record(
    bay: Bay, store: CalibrationStore
) -> None:
    calibrate(bay, store, "ph.mid", 7.0, clock=bay.clock)
    record_changes(bay.sensors, store, bay.clock)
    assert store.version() == 1  # the circuit still holds what the store says
    ph = bay.sensors[0]
    assert isinstance(ph, EzoPh)
    bay.true_ph[0] = 4.0
    ph.calibrate_low(4.0)  # by hand, past the buoy
    record_changes(bay.sensors, store, bay.clock)
    latest = store.current().parts["ph"]
    assert (latest.version, latest.procedure, latest.values["points"]) == (2, "ph.readback", 2)


def test_on_hardware_stored_turbidity_and_gas_calibrations_are_applied_at_start(
    bench: Bench,  # noqa: F811 (the fixture)
    store: CalibrationStore,
) -> None:
    clear_water = TurbidityCalibration(bench.probe_v[0], START_UTC)
    store.record("turbidity", "turbidity.clear_water", turbidity_values(clear_water), 1_000)
    cells = HardwareSettings().gas_cells.cells()
    sheet = cells[0].calibration  # the bench's NO2 board: WE 12 mV and AE 5 mV above zero
    residual = corrected_we_mv(CellType.NO2_B43F, sheet, 236.0, 260.0, BENCH_WATER_C)
    zeroed = replace(sheet, zero_offset_mv=residual, zeroed_utc=START_UTC)
    store.record("no2", "no2.zero", cell_values(zeroed), 2_000)
    bench.probe_v[0] = 4.0
    stored = driver_calibration(store.current(), cells)
    assert (stored.turbidity, dict(stored.gas_cells)) == (clear_water, {"no2": zeroed})
    with build_hardware_instruments(
        parse({"gps": {"port": bench.gps.port}}),
        bench.clock,
        open_i2c=bench.open_i2c,
        pin_factory=bench.factory,
        w1_root=bench.w1_root,
        turbidity_calibration=stored.turbidity,
        gas_calibrations=stored.gas_cells,
    ) as instruments:
        bench.clock.advance(ALL_WARM_S)
        readings = bench.read_all(instruments)
    assert readings["turbidity"].status is SensorStatus.OK
    assert readings["turbidity"].value == pytest.approx(ntu_from_volts(4.0), rel=0.01)
    assert readings["no2"].status is SensorStatus.OK
    assert readings["no2"].value == pytest.approx(0.0, abs=0.5)


def test_a_stored_gas_zero_is_given_back_only_over_its_own_sheet(store: CalibrationStore) -> None:
    zeroed = CellCalibration(224.0, 255.0, -431.0, -0.73, zero_offset_mv=3.5, zeroed_utc=START_UTC)
    store.record("no2", "no2.zero", cell_values(zeroed), 1_000)
    assert driver_calibration(store.current(), [NO2]).gas_cells == {"no2": zeroed}
    swapped = GasCell(CellType.NO2_B43F, 0, 1, CellCalibration(230.0, 250.0, -420.0, -0.73))
    assert driver_calibration(store.current(), [swapped]).gas_cells == {}


def test_a_record_that_does_not_convert_back_is_not_applied(store: CalibrationStore) -> None:
    store.record("turbidity", "turbidity.clear_water", {"clear_water_v": "4.1"}, 1_000)
    assert driver_calibration(store.current(), [NO2]) == DriverCalibration()


def test_in_simulation_a_stored_calibration_is_used_instead_of_a_new_installation(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(START_UTC, speedup=0)
    stored = TurbidityCalibration(4.15, START_UTC - 86_400)
    zero = GAS_CELLS[0].calibration
    no2 = CellCalibration(
        zero.we_electronic_zero_mv,
        zero.ae_electronic_zero_mv,
        zero.sensitivity_na_per_ppm,
        zero.gain_mv_per_na,
        zero_offset_mv=1.0,
        zeroed_utc=START_UTC - 3600,
    )
    with build_simulated_sensors(
        preset("sheltered-bay"),
        clock,
        tmp_path,
        turbidity_calibration=stored,
        gas_calibrations={"no2": no2},
    ) as instruments:
        clock.advance(GasCells.warmup_s)
        (probe,) = [s for s in instruments.sensors if isinstance(s, TurbidityProbe)]
        (cells,) = [s for s in instruments.sensors if isinstance(s, GasCells)]
        assert probe.calibration == stored
        assert cells.calibrations["no2"] == no2
        (reading,) = probe.read()
    assert reading.status is SensorStatus.OK


def test_the_simulated_installation_is_recorded_once(tmp_path: Path) -> None:
    config = load_buoy_config(
        write_config(tmp_path / "buoy.toml", 1, tmp_path / "data", simulation={"speedup": 60.0})
    )
    with CalibrationStore.in_dir(config.data_dir) as store:
        instruments, _ = open_instruments(config, True, store)
        with instruments:
            (first_probe,) = [s for s in instruments.sensors if isinstance(s, TurbidityProbe)]
        installed = store.current()
        assert sorted(installed.parts) == ["ph", "turbidity"]
        assert installed.parts["ph"].values["points"] == 3
        instruments, _ = open_instruments(config, True, store)  # the restart
        with instruments:
            (probe,) = [s for s in instruments.sensors if isinstance(s, TurbidityProbe)]
            assert probe.calibration == first_probe.calibration
        assert store.current() == installed


# -- reported ----------------------------------------------------------------------------------


def test_every_sample_carries_the_calibration_version(
    tmp_path: Path, store: CalibrationStore
) -> None:
    with Outbox(tmp_path / "outbox.sqlite3", "reef-01", 30.0) as outbox:
        time_source = TrustedSystemTime(SimulatedClock(START_UTC))
        sampler = Sampler([Thermometer()], time_source, outbox, store.version)
        first = sampler.cycle()
        store.record("ph", "ph.mid", {"points": 1}, 1_000)
        store.record("ph", "ph.low", {"points": 2}, 2_000)
        second = sampler.cycle()
        assert first is not None and second is not None
        assert (first.calibration_version, second.calibration_version) == (0, 2)
        assert [s.calibration_version for s in outbox.due(10, now=0.0)] == [0, 2]


def test_the_status_carries_the_calibration_summary_through_the_wire(
    tmp_path: Path, store: CalibrationStore
) -> None:
    config = load_buoy_config(write_config(tmp_path / "buoy.toml", 1, tmp_path / "data"))
    ph = {"points": 3, "acid_percent": 97.0, "base_percent": 96.5, "zero_offset_mv": 6.0}
    store.record("ph", "ph.high", ph | {"buffer_ph": 10.0}, 1_000)
    store.record("turbidity", "turbidity.clear_water", {"clear_water_v": 4.12}, 2_000)
    for quantity, cell in (("no2", GAS_CELLS[0]), ("no", GAS_CELLS[1])):
        values = cell_values(cell.calibration) | {"zeroed_utc": START_UTC, "zero_offset_mv": 2.0}
        store.record(quantity, f"{quantity}.zero", values, 3_000)
    with BuoyDaemon(config, [Thermometer()], SimulatedClock(START_UTC), store) as daemon:
        status = daemon.delivery.status(online=True)
    decoded = wire.decode(wire.encode(status), expect=wire.Kind.STATUS)
    assert isinstance(decoded, wire.Status)
    calibration = decoded.detail["calibration"]
    assert calibration == store.current().summary()
    assert calibration["version"] == 4
    assert calibration["ph"] == {"procedure": "ph.high", "version": 1, "utc_ms": 1_000} | ph | {
        "buffer_ph": 10.0
    }
    assert calibration["no"]["zero_offset_mv"] == 2.0
    assert decoded.detail["outbox_depth"] == 0


# -- the technician's command --------------------------------------------------------------------


def nemopi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nemopi.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def sim_config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "buoy.toml", 1, tmp_path / "data", simulation={"speedup": 60.0})


def test_the_command_records_a_step_on_the_simulated_buoy(sim_config: Path) -> None:
    done = nemopi("buoy", "calibrate", "--config", str(sim_config), "--simulate", "ph.mid", "7.0")
    assert done.returncode == 0, done.stderr
    with CalibrationStore.in_dir(load_buoy_config(sim_config).data_dir) as store:
        latest = store.current().parts["ph"]
        assert (latest.procedure, latest.values["buffer_ph"]) == ("ph.mid", 7.0)
        assert latest.version == store.version() == 3  # after the installation's two records
    shown = nemopi("buoy", "calibrate", "--config", str(sim_config), "show")
    assert shown.returncode == 0, shown.stderr
    assert '"procedure": "ph.mid"' in shown.stdout


def test_the_command_refuses_while_the_daemon_runs(sim_config: Path) -> None:
    data_dir = load_buoy_config(sim_config).data_dir
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nemopi.cli",
            "buoy",
            "run",
            "--simulate",
            "--config",
            str(sim_config),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_locked(data_dir / LOCK_FILE)
        refused = nemopi("buoy", "calibrate", "--config", str(sim_config), "--simulate", "ph.clear")
        assert refused.returncode == 1
        assert "the buoy daemon is running" in refused.stderr
        assert f"pid {daemon.pid} (nemopi buoy run)" in refused.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    with CalibrationStore.in_dir(data_dir) as store:
        assert "ph.clear" not in [r.procedure for r in store.history()]


def test_the_daemon_refuses_while_a_calibration_runs(sim_config: Path) -> None:
    data_dir = load_buoy_config(sim_config).data_dir
    with buoy_lock(data_dir, "nemopi buoy calibrate"):
        with (
            pytest.raises(BuoyBusy, match="the buoy daemon is running"),
            buoy_lock(data_dir, "nemopi buoy run"),
        ):
            raise AssertionError("a second holder got the lock")
        refused = nemopi("buoy", "run", "--simulate", "--config", str(sim_config))
    assert refused.returncode == 1
    assert f"pid {os.getpid()} (nemopi buoy calibrate)" in refused.stderr


def wait_until_locked(path: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            with path.open("a") as file:
                try:
                    fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return
                fcntl.flock(file, fcntl.LOCK_UN)
        time.sleep(0.05)
    raise AssertionError(f"nobody locked {path} within {timeout_s} s")
