"""The SEN0189 turbidity sensor over an emulated ADS1115: curve, calibration, faults, warm-up."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import given
from hypothesis import strategies as st

from nemopi.sensor_status import SensorStatus
from sensors.clock import SimulatedClock
from sensors.emulators.ads1115 import Ads1115Emulator
from sensors.emulators.fake_smbus import FakeSMBus
from sensors.emulators.faults import Fault
from sensors.errors import OutOfRange, SensorError
from sensors.power_switch import SensorPower
from sensors.reading import Reading
from sensors.turbidity import (
    CURVE_ZERO_V,
    TurbidityCalibration,
    TurbidityProbe,
    curve_ntu,
    curve_volts,
    ntu_from_volts,
)

ADDRESS = 0x48
DIVIDER = 2.0
ADC_LSB_AT_PROBE = 4.096 / 32768 * DIVIDER


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(start_utc=1_780_000_000.0, speedup=0)


@pytest.fixture
def water() -> dict[str, float]:
    """The probe's output voltage (before the divider); 4.2 V is near clear water on the curve."""
    return {"probe_v": 4.2}


@pytest.fixture
def chip(clock: SimulatedClock, water: dict[str, float]) -> Ads1115Emulator:
    return Ads1115Emulator(clock, inputs={0: lambda: water["probe_v"] / DIVIDER})


def make_probe(
    chip: Ads1115Emulator,
    clock: SimulatedClock,
    calibration: TurbidityCalibration | None = None,
    power: SensorPower | None = None,
) -> TurbidityProbe:
    """A probe on ``power``, or without a switch on a rail powered one warm-up ago."""
    return TurbidityProbe(
        FakeSMBus({ADDRESS: chip}),
        divider_ratio=DIVIDER,
        calibration=calibration,
        clock=clock,
        powered_at=None if power else clock.monotonic() - TurbidityProbe.warmup_s,
        power=power,
    )


@pytest.fixture
def probe(chip: Ads1115Emulator, clock: SimulatedClock) -> TurbidityProbe:
    return make_probe(chip, clock, TurbidityCalibration(4.2, clock.utc()))


def only(readings: list[Reading]) -> Reading:
    (reading,) = readings
    return reading


@pytest.mark.parametrize(
    ("volts", "ntu"),
    [
        # -1120.4 V² + 5742.3 V - 4352.9, worked by hand:
        (2.5, -7002.5 + 14355.75 - 4352.9),  # 3000.35, the curve's dark end
        (3.0, -10083.6 + 17226.9 - 4352.9),  # 2790.4
        (4.0, -17926.4 + 22969.2 - 4352.9),  # 689.9
        (4.2, -19763.856 + 24117.66 - 4352.9),  # 0.904: the rounded 4.2 V is not the zero
        (4.4, 0.0),  # above the zero the curve is negative: clamped to 0
    ],
)
def test_vendor_curve_over_its_window(volts: float, ntu: float) -> None:
    assert ntu_from_volts(volts) == pytest.approx(ntu)


def test_the_curve_zero_is_the_root_of_the_vendor_polynomial() -> None:
    # (-b - sqrt(b² - 4ac)) / 2a for a, b, c = -1120.4, 5742.3, -4352.9, worked by hand:
    # b² - 4ac = 32974009.29 - 19507956.64 = 13466052.65, whose root is 3669.6121
    assert pytest.approx((-5742.3 - 3669.6121) / -2240.8, abs=1e-6) == CURVE_ZERO_V
    assert pytest.approx(4.200246, abs=1e-6) == CURVE_ZERO_V
    assert curve_ntu(CURVE_ZERO_V) == pytest.approx(0.0, abs=1e-9)
    assert ntu_from_volts(CURVE_ZERO_V) == 0.0
    assert ntu_from_volts(CURVE_ZERO_V - 1e-4) == pytest.approx(0.367, abs=1e-3)  # no jump


@given(st.floats(min_value=0.0, max_value=3000.0))
def test_curve_volts_inverts_the_curve_over_its_valid_branch(ntu: float) -> None:
    volts = curve_volts(ntu)
    assert CURVE_ZERO_V >= volts >= 2.5
    assert ntu_from_volts(volts) == pytest.approx(ntu, abs=1e-6)


def test_curve_volts_saturates_at_the_curve_peak() -> None:
    peak_v = 5742.3 / 2240.8  # -b / 2a: 2.5626 V, about 3004.7 NTU
    assert peak_v < curve_volts(3004.0) < peak_v + 0.05
    assert curve_volts(5000.0) == pytest.approx(peak_v)


@pytest.mark.parametrize("volts", [4.9, 2.4, -0.01])
def test_voltage_outside_what_the_curve_can_tell_is_out_of_range(volts: float) -> None:
    with pytest.raises(OutOfRange):
        ntu_from_volts(volts)


def test_read_reports_turbidity_through_the_divider(
    probe: TurbidityProbe, water: dict[str, float]
) -> None:
    water["probe_v"] = 3.0
    reading = only(probe.read())
    assert reading.quantity == "turbidity"
    assert reading.status is SensorStatus.OK
    # one ADC LSB at the probe is 0.25 mV; the curve's slope near 3 V is about 1020 NTU/V
    assert reading.value == pytest.approx(2790.4, abs=0.5)


def test_adc_is_started_with_config_0xc383_for_channel_0(
    probe: TurbidityProbe, chip: Ads1115Emulator
) -> None:
    probe.read()
    assert chip.writes[0] == bytes([0x01, 0xC3, 0x83])


def test_d_mode_output_near_5v_reports_no_value(
    probe: TurbidityProbe, water: dict[str, float]
) -> None:
    water["probe_v"] = 4.95
    assert only(probe.read()) == Reading("turbidity", None, SensorStatus.OUT_OF_RANGE)


def test_reading_says_warming_up_until_warmup_has_passed(
    chip: Ads1115Emulator, clock: SimulatedClock
) -> None:
    probe = TurbidityProbe(
        FakeSMBus({ADDRESS: chip}),
        calibration=TurbidityCalibration(4.2, clock.utc()),
        clock=clock,
    )
    first = only(probe.read())
    assert first.status is SensorStatus.WARMING_UP
    assert first.value == 0.0
    clock.advance(TurbidityProbe.warmup_s)
    assert only(probe.read()).status is SensorStatus.OK


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.reset()
    factory.close()


def test_switched_probe_is_asleep_off_the_bus_and_warming_up_after_on(
    chip: Ads1115Emulator, clock: SimulatedClock, factory: MockFactory
) -> None:
    power = SensorPower(22, TurbidityProbe.warmup_s, clock, pin_factory=factory)
    with power, make_probe(chip, clock, TurbidityCalibration(4.2, clock.utc()), power) as probe:
        assert only(probe.read()) == Reading("turbidity", None, SensorStatus.ASLEEP)
        assert chip.writes == []
        power.on()
        assert only(probe.read()) == Reading("turbidity", 0.0, SensorStatus.WARMING_UP)
        clock.advance(TurbidityProbe.warmup_s)
        assert only(probe.read()) == Reading("turbidity", 0.0, SensorStatus.OK)
        power.off()
        assert only(probe.read()) == Reading("turbidity", None, SensorStatus.ASLEEP)


def test_uncalibrated_probe_says_not_calibrated_with_the_vendor_curve_value(
    chip: Ads1115Emulator, clock: SimulatedClock, water: dict[str, float]
) -> None:
    water["probe_v"] = 4.0
    reading = only(make_probe(chip, clock).read())
    assert reading.status is SensorStatus.NOT_CALIBRATED
    assert reading.value == pytest.approx(689.9, abs=1.0)


def test_clear_water_calibration_makes_clear_water_read_zero(
    chip: Ads1115Emulator, clock: SimulatedClock, water: dict[str, float]
) -> None:
    probe = make_probe(chip, clock)
    water["probe_v"] = 4.05  # this probe reads 0.15 V low in clear water
    assert only(probe.read()).value > 100
    calibration = probe.calibrate_clear_water()
    assert calibration.clear_water_v == pytest.approx(4.05, abs=ADC_LSB_AT_PROBE)
    assert calibration.offset_v == pytest.approx(0.15, abs=ADC_LSB_AT_PROBE)
    assert calibration.calibrated_utc == clock.utc()
    assert probe.calibration == calibration
    assert only(probe.read()) == Reading("turbidity", 0.0, SensorStatus.OK)
    water["probe_v"] = 3.85  # reads as 4.0 V on the curve once shifted, plus the 0.25 mV
    # between 4.2 V and the curve's zero: exactly what the shift must not lose
    shifted = 3.85 + CURVE_ZERO_V - 4.05
    assert only(probe.read()).value == pytest.approx(ntu_from_volts(shifted), abs=0.5)
    assert ntu_from_volts(shifted) == pytest.approx(689.1, abs=0.05)  # 3221 NTU/V at 4.0 V


def test_stored_calibration_gives_the_same_reading_after_a_restart(
    chip: Ads1115Emulator, clock: SimulatedClock, water: dict[str, float]
) -> None:
    water["probe_v"] = 4.05
    calibration = make_probe(chip, clock).calibrate_clear_water()
    water["probe_v"] = 3.85
    restarted = make_probe(chip, clock, calibration)
    assert only(restarted.read()).value == pytest.approx(689.9, abs=1.0)


def test_calibration_is_refused_when_the_water_cannot_be_clear(
    probe: TurbidityProbe, water: dict[str, float]
) -> None:
    before = probe.calibration
    water["probe_v"] = 3.5
    with pytest.raises(OutOfRange):
        probe.calibrate_clear_water()
    assert probe.calibration == before


def test_calibration_fails_loudly_when_a_sample_fails(
    probe: TurbidityProbe, chip: Ads1115Emulator
) -> None:
    chip.inject(Fault.NACK)
    with pytest.raises(SensorError) as caught:
        probe.calibrate_clear_water()
    assert caught.value.status is SensorStatus.UNREACHABLE


def test_fouling_drift_is_removed_by_recalibrating(
    probe: TurbidityProbe, chip: Ads1115Emulator, clock: SimulatedClock
) -> None:
    chip.inject(Fault.DRIFT, amount=-3.6e-3)  # ADC volts per hour: -0.17 V at the probe in a day
    clock.advance(86_400)
    drifted = only(probe.read())
    assert drifted.status is SensorStatus.OK
    assert drifted.value > 100  # fouling makes clear water look turbid
    probe.calibrate_clear_water()
    # the drift goes on during calibration; near 4.2 V one ADC LSB is about 0.9 NTU
    assert only(probe.read()).value == pytest.approx(0.0, abs=1.0)


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
def test_device_faults_give_a_status_and_no_value(
    probe: TurbidityProbe, chip: Ads1115Emulator, fault: Fault, status: SensorStatus
) -> None:
    chip.inject(fault)
    assert only(probe.read()) == Reading("turbidity", None, status)


def test_read_is_bounded_even_when_the_adc_never_finishes(
    probe: TurbidityProbe, chip: Ads1115Emulator, clock: SimulatedClock
) -> None:
    chip.inject(Fault.SLOW)
    start = clock.monotonic()
    probe.read()
    assert clock.monotonic() - start <= 2 / 128 + 0.002 + 1 / 128 / 8


def test_a_fault_is_logged_once_and_its_recovery_once(
    probe: TurbidityProbe, chip: Ads1115Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sensors.turbidity")
    probe.read()
    chip.inject(Fault.NACK)
    for _ in range(3):
        probe.read()
    chip.clear_faults()
    probe.read()
    probe.read()
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert len(records) == 2
    assert records[0][0] == logging.WARNING
    assert "UNREACHABLE" in records[0][1]
    assert records[1] == (logging.INFO, "turbidity: recovered (OK)")


def test_close_is_safe_twice_and_reading_after_close_is_an_error(
    chip: Ads1115Emulator, clock: SimulatedClock
) -> None:
    with make_probe(chip, clock) as probe:
        probe.read()
    probe.close()
    with pytest.raises(ValueError, match="closed"):
        probe.read()
