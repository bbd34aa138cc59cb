"""The ADS1115 driver against its emulator and against hand-written bytes from the datasheet."""

from __future__ import annotations

import errno
from collections import deque

import pytest

from nemopi.sensor_status import SensorStatus
from sensors.ads1115 import (
    CONFIG_RESET,
    FULL_SCALE_V,
    Ads1115,
    Config,
    DataRate,
    Mux,
    Pga,
    conversion_deadline_s,
    single_shot_word,
)
from sensors.clock import SimulatedClock
from sensors.emulators.ads1115 import SLOW_FACTOR, Ads1115Emulator
from sensors.emulators.fake_smbus import FakeSMBus
from sensors.emulators.faults import Fault
from sensors.errors import SensorError

ADDRESS = 0x48


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(start_utc=1_780_000_000.0, speedup=0)


@pytest.fixture
def volts() -> dict[int, float]:
    return {0: 1.0, 1: 1.5, 2: 0.0, 3: 0.0}


@pytest.fixture
def chip(clock: SimulatedClock, volts: dict[int, float]) -> Ads1115Emulator:
    return Ads1115Emulator(clock, inputs={pin: (lambda p=pin: volts[p]) for pin in range(4)})


@pytest.fixture
def adc(chip: Ads1115Emulator, clock: SimulatedClock) -> Ads1115:
    return Ads1115(FakeSMBus({ADDRESS: chip}), ADDRESS, clock)


class ScriptedChip:
    """Answers each pointer from a queue of hand-written bytes, to test the driver alone."""

    def __init__(self, answers: dict[int, list[bytes]]) -> None:
        self.answers = {pointer: deque(queue) for pointer, queue in answers.items()}
        self.pointer = 0

    def write(self, data: bytes) -> None:
        self.pointer = data[0]

    def read(self, length: int) -> bytes:
        return self.answers[self.pointer].popleft()


class FailingChip:
    def __init__(self, code: int) -> None:
        self.code = code

    def write(self, data: bytes) -> None:
        raise OSError(self.code, errno.errorcode[self.code])

    def read(self, length: int) -> bytes:
        raise OSError(self.code, errno.errorcode[self.code])


def test_config_word_for_ain0_4v096_128sps_single_shot_is_0xc383() -> None:
    assert single_shot_word(Mux.AIN0, Pga.FSR_4_096V, DataRate.SPS_128) == 0xC383


def test_reset_config_0x8583_decodes_to_the_datasheet_defaults() -> None:
    config = Config.from_word(CONFIG_RESET)
    assert config == Config(
        os=True, mux=Mux.AIN0_AIN1, pga=2, single_shot=True, rate=DataRate.SPS_128, comp_que=0b11
    )
    assert config.full_scale_v == 2.048


def test_every_config_word_decodes_and_encodes_back_unchanged() -> None:
    assert all(Config.from_word(word).word() == word for word in range(0x10000))


def test_full_scale_and_data_rate_tables_follow_the_datasheet() -> None:
    assert FULL_SCALE_V == (6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256)
    assert [round(1 / rate.period_s) for rate in DataRate] == [8, 16, 32, 64, 128, 250, 475, 860]


def test_start_is_written_as_pointer_then_config_msb_first(
    adc: Ads1115, chip: Ads1115Emulator
) -> None:
    adc.read(Mux.AIN0, Pga.FSR_4_096V, DataRate.SPS_128)
    assert chip.writes[0] == bytes([0x01, 0xC3, 0x83])


def test_conversion_register_is_unpacked_big_endian_twos_complement() -> None:
    # Config reads busy (OS=0) right after the start, then idle (OS=1); the conversion is
    # 0x3415 = 13333, the datasheet-derived code for 2.5 V at ±6.144 V.
    word = single_shot_word(Mux.AIN0, Pga.FSR_6_144V, DataRate.SPS_128)
    busy, idle = (word & 0x7FFF).to_bytes(2, "big"), word.to_bytes(2, "big")
    chip = ScriptedChip({0x01: [busy, idle], 0x00: [b"\x34\x15"]})
    adc = Ads1115(FakeSMBus({ADDRESS: chip}), ADDRESS, SimulatedClock(0.0))
    assert adc.read(Mux.AIN0, Pga.FSR_6_144V, DataRate.SPS_128) == pytest.approx(
        13333 * 6.144 / 32768
    )

    chip = ScriptedChip({0x01: [busy, idle], 0x00: [b"\xff\xfe"]})
    adc = Ads1115(FakeSMBus({ADDRESS: chip}), ADDRESS, SimulatedClock(0.0))
    assert adc.read(Mux.AIN0, Pga.FSR_6_144V, DataRate.SPS_128) == pytest.approx(-2 * 6.144 / 32768)


def test_emulator_codes_2v5_at_6v144_as_0x3415(clock: SimulatedClock) -> None:
    chip = Ads1115Emulator(clock, inputs={0: lambda: 2.5})
    bus = FakeSMBus({ADDRESS: chip})
    word = single_shot_word(Mux.AIN0, Pga.FSR_6_144V, DataRate.SPS_860)
    bus.write_i2c_block_data(ADDRESS, 0x01, [word >> 8, word & 0xFF])
    clock.advance(DataRate.SPS_860.period_s)
    assert bus.read_i2c_block_data(ADDRESS, 0x00, 2) == [0x34, 0x15]


def test_single_ended_read_returns_the_input_voltage(adc: Ads1115) -> None:
    assert adc.read(Mux.AIN0, Pga.FSR_4_096V, DataRate.SPS_128) == pytest.approx(1.0, abs=2e-4)


def test_differential_read_keeps_the_sign(adc: Ads1115) -> None:
    assert adc.read(Mux.AIN0_AIN1, Pga.FSR_2_048V, DataRate.SPS_128) == pytest.approx(
        -0.5, abs=1e-4
    )


@pytest.mark.parametrize("rate", list(DataRate))
def test_read_waits_one_data_period_and_never_past_the_deadline(
    adc: Ads1115, clock: SimulatedClock, rate: DataRate
) -> None:
    adc.read(Mux.AIN0, Pga.FSR_4_096V, rate)
    assert rate.period_s <= clock.monotonic() <= conversion_deadline_s(rate)


@pytest.mark.parametrize("rate", [DataRate.SPS_8, DataRate.SPS_128, DataRate.SPS_860])
def test_slow_conversion_times_out_within_the_bound(
    adc: Ads1115, chip: Ads1115Emulator, clock: SimulatedClock, rate: DataRate
) -> None:
    chip.inject(Fault.SLOW)
    with pytest.raises(SensorError) as caught:
        adc.read(Mux.AIN0, Pga.FSR_4_096V, rate)
    assert caught.value.status is SensorStatus.TIMEOUT
    poll = rate.period_s / 8
    assert conversion_deadline_s(rate) <= clock.monotonic() <= conversion_deadline_s(rate) + poll
    assert conversion_deadline_s(rate) < SLOW_FACTOR * rate.period_s


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault.NACK, SensorStatus.UNREACHABLE),
        (Fault.GARBAGE, SensorStatus.GARBAGE),
        (Fault.STALE, SensorStatus.STALE),
        (Fault.SATURATION, SensorStatus.OUT_OF_RANGE),
    ],
)
def test_injected_fault_raises_the_matching_status(
    adc: Ads1115, chip: Ads1115Emulator, fault: Fault, status: SensorStatus
) -> None:
    chip.inject(fault)
    with pytest.raises(SensorError) as caught:
        adc.read(Mux.AIN0, Pga.FSR_4_096V, DataRate.SPS_128)
    assert caught.value.status is status


def test_vanished_chip_comes_back_after_the_fault_clears(
    adc: Ads1115, chip: Ads1115Emulator
) -> None:
    chip.inject(Fault.NACK)
    with pytest.raises(SensorError):
        adc.read(Mux.AIN0, Pga.FSR_4_096V, DataRate.SPS_128)
    chip.clear_faults()
    assert adc.read(Mux.AIN0, Pga.FSR_4_096V, DataRate.SPS_128) == pytest.approx(1.0, abs=2e-4)


def test_input_beyond_full_scale_is_out_of_range(adc: Ads1115, volts: dict[int, float]) -> None:
    volts[0] = 2.2
    with pytest.raises(SensorError) as caught:
        adc.read(Mux.AIN0, Pga.FSR_2_048V, DataRate.SPS_128)
    assert caught.value.status is SensorStatus.OUT_OF_RANGE


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (errno.EREMOTEIO, SensorStatus.UNREACHABLE),
        (errno.EIO, SensorStatus.UNREACHABLE),
        (errno.ETIMEDOUT, SensorStatus.TIMEOUT),
    ],
)
def test_bus_errnos_become_statuses(code: int, status: SensorStatus) -> None:
    adc = Ads1115(FakeSMBus({ADDRESS: FailingChip(code)}), ADDRESS, SimulatedClock(0.0))
    with pytest.raises(SensorError) as caught:
        adc.read(Mux.AIN0, Pga.FSR_4_096V, DataRate.SPS_128)
    assert caught.value.status is status


def test_closed_bus_is_a_programming_error_not_a_device_fault(adc: Ads1115) -> None:
    adc.bus.close()  # type: ignore[attr-defined]
    with pytest.raises(OSError) as caught:
        adc.read(Mux.AIN0, Pga.FSR_4_096V, DataRate.SPS_128)
    assert not isinstance(caught.value, SensorError)


def test_drift_moves_the_input_at_the_injected_rate(
    adc: Ads1115, chip: Ads1115Emulator, clock: SimulatedClock
) -> None:
    chip.inject(Fault.DRIFT, amount=-3.6)  # V/h: -0.1 V in 100 s
    clock.advance(100.0)
    assert adc.read(Mux.AIN0, Pga.FSR_4_096V, DataRate.SPS_128) == pytest.approx(0.9, abs=2e-4)


def test_only_drift_takes_an_amount(chip: Ads1115Emulator) -> None:
    with pytest.raises(ValueError, match="NACK takes no amount"):
        chip.inject(Fault.NACK, amount=1.0)


def test_emulator_converts_continuously_in_continuous_mode(
    chip: Ads1115Emulator, clock: SimulatedClock, volts: dict[int, float]
) -> None:
    bus = FakeSMBus({ADDRESS: chip})
    word = single_shot_word(Mux.AIN0, Pga.FSR_4_096V, DataRate.SPS_128) & ~0x0100  # MODE=0
    bus.write_i2c_block_data(ADDRESS, 0x01, [word >> 8, word & 0xFF])
    clock.advance(DataRate.SPS_128.period_s)
    assert bus.read_i2c_block_data(ADDRESS, 0x00, 2) == list((8000).to_bytes(2, "big"))
    volts[0] = 2.0
    clock.advance(DataRate.SPS_128.period_s)
    assert bus.read_i2c_block_data(ADDRESS, 0x00, 2) == list((16000).to_bytes(2, "big"))
