"""A whole simulated buoy: the real drivers over their emulators read the simulated reef's truth.

Every test runs on virtual time (``SimulatedClock(start, speedup=0)``), so an hour of warm-up
costs nothing and the same build reads the same values.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nemopi.sensor_status import SensorStatus
from sensors.clock import SimulatedClock
from sensors.emulators.ezo_ph import EzoPhEmulator
from sensors.emulators.faults import Fault
from sensors.errors import DeviceTimeout
from sensors.ezo_ph import EzoPh
from sensors.gas_cells import GasCells
from sensors.reading import Reading, Sensor
from sensors.simulation import QUANTITIES, SimulationSettings, preset
from sensors.simulation.assemble import SimulatedInstruments, build_simulated_sensors

START_UTC = 1_780_021_600.0  # 2026-05-29 02:26 UTC: mid-morning in Bali, the panel in the sun
WARM_UP_S = GasCells.warmup_s  # the slowest part: once it is warm, every part is
METRES_PER_DEGREE = 111_320.0

# How far a value may be from the truth: the part's stated accuracy, or where none is published,
# what the emulated part can resolve.
TOLERANCE: dict[str, Callable[[float], float]] = {
    "water_temperature": lambda t: 0.5,  # DS18B20 ±0.5 °C
    "ph": lambda ph: 0.002,  # EZO-pH ±0.002
    "xco2_equilibrated": lambda ppm: 40.0 + 0.05 * ppm,  # SCD41 ±(40 ppm + 5 %)
    # SEN0189: nothing published; near clear water one ADC step is 0.9 NTU, and the driver's
    # 4.2 V zero sits 0.3 mV (about 1 NTU) above the vendor curve's root.
    "turbidity": lambda ntu: 2.0 + 0.05 * ntu,
    "current_speed": lambda speed: 0.01,  # ±1/window Hz [F1]: two pulses in a 10 s window
    "no2": lambda ppb: 0.5,  # two ADC steps of 62.5 µV over S = 0.31 mV/ppb
    "no": lambda ppb: 0.5,
    "latitude": lambda deg: 2.5 / METRES_PER_DEGREE,  # NEO-6M 2.5 m CEP
    "longitude": lambda deg: 2.5 / METRES_PER_DEGREE,
    "battery_voltage": lambda v: 0.005 * v + 0.008,  # INA219 ±0.5 % and two 4 mV steps
    "battery_current": lambda a: 0.01 * abs(a) + 0.0003,  # ±1 % and three 0.1 mA steps
    "solar_power": lambda w: 0.01 * w + 0.006,  # ±1 % and three 2 mW steps
}


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START_UTC, speedup=0)


@pytest.fixture
def instruments(clock: SimulatedClock, tmp_path: Path) -> Iterator[SimulatedInstruments]:
    with build_simulated_sensors(preset("sheltered-bay"), clock, tmp_path) as instruments:
        yield instruments


def cycle(instruments: SimulatedInstruments) -> dict[str, Reading]:
    return {r.quantity: r for sensor in instruments.sensors for r in sensor.read()}


def read_with_truth(
    instruments: SimulatedInstruments, sensor: Sensor
) -> list[tuple[Reading, float, float]]:
    """Each reading with the lowest and highest truth of its quantity while ``sensor`` read."""
    clock = instruments.clock
    before = clock.utc()
    readings = sensor.read()
    after = clock.utc()
    states = [instruments.reef.state(before + (after - before) * i / 20) for i in range(21)]
    result = []
    for reading in readings:
        truths = [state.value(reading.quantity) for state in states]
        result.append((reading, min(truths), max(truths)))
    return result


def open_descriptors() -> dict[str, str]:
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # the descriptor listdir itself used
            continue
    return fds


def test_every_quantity_reads_the_reef_truth_within_the_parts_accuracy(
    instruments: SimulatedInstruments,
) -> None:
    assert set(instruments.quantities()) == set(TOLERANCE)
    assert set(instruments.quantities()) <= set(QUANTITIES)

    first = cycle(instruments)  # right after power-on
    assert {r.status for r in first.values()} <= {SensorStatus.OK, SensorStatus.WARMING_UP}
    assert first["no2"].status is SensorStatus.WARMING_UP  # an hour of cell warm-up

    instruments.clock.advance(WARM_UP_S)
    for sensor in instruments.sensors:
        for reading, low, high in read_with_truth(instruments, sensor):
            assert reading.status is SensorStatus.OK, reading
            assert reading.value is not None
            tolerance = TOLERANCE[reading.quantity](abs(high))
            assert low - tolerance <= reading.value <= high + tolerance, (reading, low, high)


def test_ph_is_compensated_with_the_water_temperature_read_just_before(
    instruments: SimulatedInstruments,
) -> None:
    ezo = instruments.emulator("ezo_ph")
    assert isinstance(ezo, EzoPhEmulator)
    instruments.clock.advance(WARM_UP_S)
    readings = cycle(instruments)
    water = readings["water_temperature"].value
    assert water is not None
    assert ezo.received[-1] == f"RT,{water:.2f}"
    assert ezo.calibration.points == 3  # calibrated in buffers at installation


def test_a_nacking_ph_circuit_fails_only_the_ph_and_recovers_when_cleared(
    instruments: SimulatedInstruments,
) -> None:
    instruments.clock.advance(WARM_UP_S)
    instruments.emulator("ezo_ph").inject(Fault.NACK)
    broken = cycle(instruments)
    assert broken.pop("ph") == Reading("ph", None, SensorStatus.UNREACHABLE)
    assert {r.status for r in broken.values()} == {SensorStatus.OK}

    instruments.emulator("ezo_ph").clear_faults()
    assert cycle(instruments)["ph"].status is SensorStatus.OK


def test_switching_a_sensor_off_and_on_reboots_its_chip(
    instruments: SimulatedInstruments,
) -> None:
    instruments.clock.advance(WARM_UP_S)
    co2 = next(s for s in instruments.sensors if "xco2_equilibrated" in s.quantities)
    assert co2.read()[0].status is SensorStatus.OK
    supply = instruments.power["scd4x"]
    supply.off()
    assert co2.read()[0].status is SensorStatus.ASLEEP
    supply.on()
    assert co2.read()[0].status is SensorStatus.WARMING_UP
    instruments.clock.advance(30.0)
    assert co2.read()[0].status is SensorStatus.OK  # measuring again on a freshly booted chip


def test_the_same_world_reads_the_same_values(tmp_path: Path) -> None:
    def warm_cycle(workdir: Path) -> dict[str, Reading]:
        clock = SimulatedClock(START_UTC, speedup=0)
        with build_simulated_sensors(preset("exposed-point"), clock, workdir) as instruments:
            instruments.clock.advance(WARM_UP_S)
            return cycle(instruments)

    assert warm_cycle(tmp_path / "a") == warm_cycle(tmp_path / "b")


def test_close_leaves_no_thread_and_no_descriptor_and_is_safe_twice(
    clock: SimulatedClock, tmp_path: Path
) -> None:
    threads, fds = set(threading.enumerate()), open_descriptors()
    instruments = build_simulated_sensors(SimulationSettings(), clock, tmp_path)
    assert any(path.startswith("/dev/pts/") for path in open_descriptors().values())
    cycle(instruments)
    instruments.close()
    instruments.close()

    for thread in set(threading.enumerate()) - threads:
        thread.join(timeout=1.0)  # a finished w1 read's thread may still be returning
        assert not thread.is_alive(), thread
    # Nothing the build opened stays open. (Descriptors of earlier tests may be garbage
    # collected meanwhile, so the set can shrink; it must not grow or change.)
    assert open_descriptors().items() <= fds.items()


def test_a_build_that_fails_half_way_closes_what_it_opened(
    clock: SimulatedClock, tmp_path: Path
) -> None:
    threads, fds = set(threading.enumerate()), open_descriptors()
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(NotADirectoryError):  # the w1 tree cannot go there; the GPS was open
        build_simulated_sensors(SimulationSettings(), clock, not_a_folder)
    assert set(threading.enumerate()) == threads
    # Nothing the build opened stays open. (Descriptors of earlier tests may be garbage
    # collected meanwhile, so the set can shrink; it must not grow or change.)
    assert open_descriptors().items() <= fds.items()


def test_an_installation_that_outruns_a_deadline_is_done_again_at_real_time_pace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """At 300x a busy machine can make the pH circuit's first command miss its deadline; the
    build must not fail on that (a daemon that cannot start samples nothing)."""
    clock = SimulatedClock(START_UTC, speedup=300.0)
    store = EzoPh.store_compensation_temperature
    paces: list[float] = []

    def first_one_times_out(ph: EzoPh, celsius: float) -> None:
        paces.append(clock.speedup)
        if len(paces) == 1:
            raise DeviceTimeout("ezo_ph: 'T,27.60' still processing (code 254)")
        store(ph, celsius)

    monkeypatch.setattr(EzoPh, "store_compensation_temperature", first_one_times_out)
    with (
        caplog.at_level(logging.WARNING),
        build_simulated_sensors(preset("sheltered-bay"), clock, tmp_path) as instruments,
    ):
        emulator = instruments.emulators["ezo_ph"]
        assert isinstance(emulator, EzoPhEmulator)
        assert emulator.calibration.points == 3
    assert paces == [300.0, 1.0]
    assert clock.speedup == 300.0
    assert "installing the pH probe at 300x real time failed" in caplog.text
