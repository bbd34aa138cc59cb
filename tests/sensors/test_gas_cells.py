"""Alphasense B4 NO2/NO cells over an emulated ADS1115: algorithm 1, zero calibration, faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from nemopi.sensor_status import SensorStatus
from sensors.clock import SimulatedClock
from sensors.emulators.ads1115 import Ads1115Emulator
from sensors.emulators.fake_smbus import FakeSMBus
from sensors.emulators.faults import Fault
from sensors.gas_cells import CellCalibration, CellType, GasCell, GasCells, corrected_we_mv
from sensors.power_switch import SensorPower
from sensors.reading import Reading

ADDRESS = 0x49
# The worked example's sheet values [N1]: S = -431 nA/ppm x -0.73 mV/nA / 1000 = 0.31463 mV/ppb
NO2_SHEET = CellCalibration(
    we_electronic_zero_mv=224.0,
    ae_electronic_zero_mv=255.0,
    sensitivity_na_per_ppm=-431.0,
    gain_mv_per_na=-0.73,
)
# An NO board: S = 600 nA/ppm x 0.8 mV/nA / 1000 = 0.48 mV/ppb
NO_SHEET = CellCalibration(
    we_electronic_zero_mv=300.0,
    ae_electronic_zero_mv=290.0,
    sensitivity_na_per_ppm=600.0,
    gain_mv_per_na=0.8,
)
PPB_TOLERANCE = 0.5  # two ADC LSBs (62.5 µV each at ±2.048 V) over S = 0.31 mV/ppb


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(start_utc=1_780_000_000.0, speedup=0)


@pytest.fixture
def air() -> dict[str, float | None]:
    """ISB outputs in mV (NO2 WE/AE on AIN0/1, NO WE/AE on AIN2/3) and the temperature."""
    return {
        "no2_we": 255.463,  # 100 ppb at 20 °C with AE at its electronic zero
        "no2_ae": 255.0,
        "no_we": 332.0,  # 50 ppb at 20 °C: 24 mV of signal plus 1.6 x 5 mV of background
        "no_ae": 295.0,
        "temperature": 20.0,
    }


@pytest.fixture
def chip(clock: SimulatedClock, air: dict[str, float | None]) -> Ads1115Emulator:
    def pin(name: str) -> float:
        value = air[name]
        assert value is not None
        return value / 1000

    names = ("no2_we", "no2_ae", "no_we", "no_ae")
    return Ads1115Emulator(clock, inputs={i: (lambda n=n: pin(n)) for i, n in enumerate(names)})


def make_cells(
    chip: Ads1115Emulator,
    clock: SimulatedClock,
    air: dict[str, float | None],
    warm: bool = True,
    power: SensorPower | None = None,
) -> GasCells:
    """Cells on ``power``, or without a switch on a rail powered one warm-up ago (``warm``)."""
    return GasCells(
        FakeSMBus({ADDRESS: chip}),
        [GasCell(CellType.NO2_B43F, 0, 1, NO2_SHEET), GasCell(CellType.NO_B4, 2, 3, NO_SHEET)],
        lambda: air["temperature"],
        clock=clock,
        powered_at=None if power else clock.monotonic() - (GasCells.warmup_s if warm else 0.0),
        power=power,
    )


@pytest.fixture
def cells(chip: Ads1115Emulator, clock: SimulatedClock, air: dict[str, float | None]) -> GasCells:
    return make_cells(chip, clock, air)


def by_quantity(readings: list[Reading]) -> dict[str, Reading]:
    return {reading.quantity: reading for reading in readings}


@pytest.mark.parametrize(
    ("cell_type", "temperature", "n_t"),
    [
        (CellType.NO2_B43F, 20.0, 0.6),
        (CellType.NO2_B43F, 15.0, 0.8),  # halfway between 1.0 at 10 °C and 0.6 at 20 °C
        (CellType.NO2_B43F, 45.0, -0.65),  # halfway between 0.2 and -1.5
        (CellType.NO2_B43F, -40.0, 1.3),  # held at the table's end
        (CellType.NO_B4, 20.0, 1.6),
        (CellType.NO_B4, -15.0, 2.55),
        (CellType.NO_B4, 60.0, 1.3),
    ],
)
def test_n_t_is_interpolated_from_the_alphasense_table(
    cell_type: CellType, temperature: float, n_t: float
) -> None:
    assert cell_type.n_t_at(temperature) == pytest.approx(n_t)


def test_sensitivity_in_mv_per_ppb_is_na_per_ppm_times_gain_over_1000() -> None:
    assert NO2_SHEET.sensitivity_mv_per_ppb == pytest.approx(0.31463)


def test_algorithm_1_removes_offsets_and_the_auxiliary_background() -> None:
    # (WEu - WEe) - nT (AEu - AEe) at 5 °C, nT = 1.15: (266.963 - 224) - 1.15 x (265 - 255)
    wec = corrected_we_mv(CellType.NO2_B43F, NO2_SHEET, 266.963, 265.0, 5.0)
    assert wec == pytest.approx(31.463)


def test_zero_sensitivity_is_refused() -> None:
    with pytest.raises(ValueError, match="non-zero"):
        CellCalibration(224.0, 255.0, 0.0, -0.73)


def test_read_reports_both_cells_in_ppb(cells: GasCells) -> None:
    assert cells.quantities == ("no2", "no")
    readings = by_quantity(cells.read())
    assert readings["no2"].status is SensorStatus.OK
    assert readings["no2"].value == pytest.approx(100.0, abs=PPB_TOLERANCE)
    assert readings["no"].status is SensorStatus.OK
    assert readings["no"].value == pytest.approx(50.0, abs=PPB_TOLERANCE)


def test_adc_is_started_at_2v048_8sps_single_ended_ain0(
    cells: GasCells, chip: Ads1115Emulator
) -> None:
    cells.read()
    # OS=1, MUX=100 (AIN0), PGA=010, MODE=1, DR=000, comparator off: 1100 0101 0000 0011
    assert chip.writes[0] == bytes([0x01, 0xC5, 0x03])


def test_temperature_selects_the_background_correction(
    cells: GasCells, air: dict[str, float | None]
) -> None:
    air.update(no2_we=266.963, no2_ae=265.0, temperature=5.0)
    assert by_quantity(cells.read())["no2"].value == pytest.approx(100.0, abs=PPB_TOLERANCE)
    air["temperature"] = 20.0  # same voltages, nT 0.6 instead of 1.15: 5.5 mV more signal
    assert by_quantity(cells.read())["no2"].value == pytest.approx(
        100.0 + 5.5 / 0.31463, abs=PPB_TOLERANCE
    )


def test_unknown_temperature_is_compensated_at_20c_and_flagged(
    cells: GasCells, air: dict[str, float | None]
) -> None:
    air["temperature"] = None
    reading = by_quantity(cells.read())["no2"]
    assert reading.status is SensorStatus.NOT_CALIBRATED
    assert reading.value == pytest.approx(100.0, abs=PPB_TOLERANCE)


def test_readings_say_warming_up_for_the_first_hour(
    chip: Ads1115Emulator, clock: SimulatedClock, air: dict[str, float | None]
) -> None:
    powered_at = clock.monotonic()
    cells = make_cells(chip, clock, air, warm=False)
    assert {r.status for r in cells.read()} == {SensorStatus.WARMING_UP}
    clock.advance(powered_at + GasCells.warmup_s - 2 - clock.monotonic())  # a read takes 0.5 s
    assert {r.status for r in cells.read()} == {SensorStatus.WARMING_UP}
    clock.advance(2)
    assert {r.status for r in cells.read()} == {SensorStatus.OK}


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.reset()
    factory.close()


def test_switched_cells_are_asleep_off_the_bus_and_warming_up_after_on(
    chip: Ads1115Emulator,
    clock: SimulatedClock,
    air: dict[str, float | None],
    factory: MockFactory,
) -> None:
    power = SensorPower(23, GasCells.warmup_s, clock, pin_factory=factory)
    with power, make_cells(chip, clock, air, power=power) as cells:
        assert cells.read() == [
            Reading("no2", None, SensorStatus.ASLEEP),
            Reading("no", None, SensorStatus.ASLEEP),
        ]
        assert chip.writes == []
        with pytest.raises(RuntimeError, match="switched off"):
            cells.calibrate_zero("no2")
        power.on()
        readings = by_quantity(cells.read())
        assert {r.status for r in readings.values()} == {SensorStatus.WARMING_UP}
        assert readings["no2"].value == pytest.approx(100.0, abs=PPB_TOLERANCE)
        clock.advance(GasCells.warmup_s)
        assert {r.status for r in cells.read()} == {SensorStatus.OK}


def test_small_negative_concentration_is_clamped_to_zero(
    cells: GasCells, air: dict[str, float | None]
) -> None:
    air["no2_we"] = 224.0 - 3.0  # -9.5 ppb: noise around clean air
    assert by_quantity(cells.read())["no2"] == Reading("no2", 0.0, SensorStatus.OK)


def test_large_negative_concentration_is_a_fault_not_clean_air(
    cells: GasCells, air: dict[str, float | None]
) -> None:
    air["no2_we"] = 224.0 - 30.0  # -95 ppb: baseline drift or O3 interference
    readings = by_quantity(cells.read())
    assert readings["no2"] == Reading("no2", None, SensorStatus.OUT_OF_RANGE)
    assert readings["no"].status is SensorStatus.OK


def test_a_railed_electrode_fails_only_its_own_cell(
    cells: GasCells, air: dict[str, float | None]
) -> None:
    air["no_we"] = 2100.0  # beyond the ±2.048 V full scale
    readings = by_quantity(cells.read())
    assert readings["no"] == Reading("no", None, SensorStatus.OUT_OF_RANGE)
    assert readings["no2"].status is SensorStatus.OK


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault.NACK, SensorStatus.UNREACHABLE),
        (Fault.GARBAGE, SensorStatus.GARBAGE),
        (Fault.STALE, SensorStatus.STALE),
        (Fault.SLOW, SensorStatus.TIMEOUT),
        (Fault.SATURATION, SensorStatus.OUT_OF_RANGE),
    ],
)
def test_adc_faults_give_a_status_and_no_value_for_every_cell(
    cells: GasCells, chip: Ads1115Emulator, fault: Fault, status: SensorStatus
) -> None:
    chip.inject(fault)
    assert cells.read() == [Reading("no2", None, status), Reading("no", None, status)]


def test_zero_calibration_removes_the_residual_in_zero_air(
    cells: GasCells, air: dict[str, float | None], clock: SimulatedClock
) -> None:
    air["no2_we"] = 227.0  # zero air, but WEc = 3 mV: 9.5 ppb of offset
    assert by_quantity(cells.read())["no2"].value == pytest.approx(9.535, abs=PPB_TOLERANCE)
    calibration = cells.calibrate_zero("no2")
    assert calibration.zero_offset_mv == pytest.approx(3.0, abs=0.1)
    assert calibration.zeroed_utc == clock.utc()
    assert cells.calibrations["no2"] == calibration
    assert cells.calibrations["no"] == NO_SHEET
    assert by_quantity(cells.read())["no2"].value == pytest.approx(0.0, abs=PPB_TOLERANCE)
    air["no2_we"] = 227.0 + 31.463
    assert by_quantity(cells.read())["no2"].value == pytest.approx(100.0, abs=PPB_TOLERANCE)


def test_zero_calibration_is_refused_while_warming_up(
    chip: Ads1115Emulator, clock: SimulatedClock, air: dict[str, float | None]
) -> None:
    cells = make_cells(chip, clock, air, warm=False)
    with pytest.raises(RuntimeError, match="warming up"):
        cells.calibrate_zero("no2")
    assert cells.calibrations["no2"] == NO2_SHEET


def test_zero_calibration_needs_the_temperature(
    cells: GasCells, air: dict[str, float | None]
) -> None:
    air["temperature"] = None
    with pytest.raises(RuntimeError, match="temperature"):
        cells.calibrate_zero("no2")


def test_each_cell_type_may_be_given_once(chip: Ads1115Emulator, clock: SimulatedClock) -> None:
    cell = GasCell(CellType.NO2_B43F, 0, 1, NO2_SHEET)
    with pytest.raises(ValueError, match="once"):
        GasCells(FakeSMBus({ADDRESS: chip}), [cell, cell], lambda: 20.0, clock=clock)


def test_close_is_safe_twice(cells: GasCells) -> None:
    with cells:
        cells.read()
    cells.close()
    with pytest.raises(ValueError, match="closed"):
        cells.read()
