"""NMEA GPS: checksums and fields byte by byte, and the real driver over a pty emulator."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from nemopi.sensor_status import SensorStatus
from sensors.clock import SimulatedClock
from sensors.emulators.faults import Fault
from sensors.emulators.nmea_gps import NmeaGpsEmulator, epoch_bodies, nmea_angle
from sensors.errors import ChecksumError, GarbageResponse
from sensors.gps import GpsReceiver
from sensors.nmea import Gga, Rmc, checksum, parse_line, sentence

# Verified sentences from SENSORS.md section 4.2 (checksums recomputed there).
GGA_MUNICH = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
RMC_REEF = b"$GPRMC,104512.00,A,1652.3610,S,14610.8330,E,0.42,87.5,261126,,,A*42\r\n"
GGA_REEF = b"$GPGGA,104512.00,1652.3610,S,14610.8330,E,1,07,1.10,2.4,M,53.0,M,,*4B\r\n"
REEF = (-(16 + 52.3610 / 60), 146 + 10.8330 / 60)


def test_checksum_is_the_xor_between_dollar_and_star() -> None:
    assert checksum("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,") == 0x47
    assert sentence("GPRMC,,V,,,,,,,,,,N") == b"$GPRMC,,V,,,,,,,,,,N*53\r\n"
    assert sentence("GPGGA,,,,,,0,00,99.99,,,,,,") == b"$GPGGA,,,,,,0,00,99.99,,,,,,*48\r\n"


def test_gga_fields_decode_to_signed_degrees_quality_satellites_and_hdop() -> None:
    gga = parse_line(GGA_MUNICH)
    assert isinstance(gga, Gga)
    assert gga.time == dt.time(12, 35, 19, tzinfo=dt.UTC)
    assert gga.position is not None
    assert gga.position.latitude == pytest.approx(48 + 7.038 / 60)
    assert gga.position.longitude == pytest.approx(11 + 31.0 / 60)
    assert (gga.quality, gga.satellites, gga.hdop, gga.has_fix) == (1, 8, 0.9, True)


def test_rmc_carries_date_status_and_southern_position() -> None:
    rmc = parse_line(RMC_REEF)
    assert isinstance(rmc, Rmc)
    assert rmc.valid
    assert rmc.utc == dt.datetime(2026, 11, 26, 10, 45, 12, tzinfo=dt.UTC)
    assert rmc.position is not None
    assert (rmc.position.latitude, rmc.position.longitude) == pytest.approx(REEF)


def test_no_fix_sentences_have_no_position_and_no_valid_fix() -> None:
    rmc = parse_line(b"$GPRMC,104512.00,V,,,,,,,261126,,,N*7E")
    gga = parse_line(b"$GPGGA,,,,,,0,00,99.99,,,,,,*48")
    assert isinstance(rmc, Rmc) and isinstance(gga, Gga)
    assert not rmc.valid and rmc.position is None and rmc.utc is not None
    assert not gga.has_fix and gga.position is None


@pytest.mark.parametrize(
    "line",
    [
        GGA_MUNICH[:-2] + b"48",  # wrong checksum
        GGA_MUNICH[:-3],  # checksum missing
    ],
)
def test_a_bad_or_missing_checksum_is_a_checksum_error(line: bytes) -> None:
    with pytest.raises(ChecksumError):
        parse_line(line)


@pytest.mark.parametrize(
    "line",
    [
        b"\xb5\x62\x01\x07",
        b"GPGGA,no dollar",
        b"$",
        sentence("GPGGA,123519,48x7.038,N,01131.000,E,1,08,0.9,,M,,M,,"),
    ],
    ids=["binary", "no dollar", "dollar only", "bad latitude"],
)
def test_lines_that_are_not_sentences_are_garbage(line: bytes) -> None:
    with pytest.raises(GarbageResponse):
        parse_line(line)


def test_other_sentence_types_are_ignored_not_garbage() -> None:
    assert parse_line(b"$GPGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99*30") is None


def test_emulator_writes_the_reference_gga_byte_for_byte() -> None:
    utc = dt.datetime(2026, 11, 26, 10, 45, 12, tzinfo=dt.UTC)
    rmc_body, _, gga_body, _ = epoch_bodies(utc, REEF)
    assert sentence(gga_body) == GGA_REEF
    assert rmc_body.startswith("GPRMC,104512.00,A,1652.3610,S,14610.8330,E,")
    assert nmea_angle(REEF[0], 2) == "1652.3610"


@given(
    st.floats(min_value=-89.99, max_value=89.99),
    st.floats(min_value=-179.99, max_value=179.99),
)
def test_any_position_survives_the_emulated_sentences(lat: float, lon: float) -> None:
    utc = dt.datetime(2026, 3, 1, 0, 0, 1, tzinfo=dt.UTC)
    for body in epoch_bodies(utc, (lat, lon))[::2]:
        parsed = parse_line(sentence(body))
        assert isinstance(parsed, Rmc | Gga) and parsed.position is not None
        assert parsed.position.latitude == pytest.approx(lat, abs=2e-6)
        assert parsed.position.longitude == pytest.approx(lon, abs=2e-6)


class ScriptedPort:
    """A UART that hands out ``chunks`` one per read; ``b""`` is a read that timed out."""

    timeout = 0.02

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.reads: list[int] = []

    @property
    def in_waiting(self) -> int:
        return len(self.chunks[0]) if self.chunks else 0

    def read(self, size: int = 1, /) -> bytes:
        self.reads.append(size)
        return self.chunks.pop(0)[:size] if self.chunks else b""

    def reset_input_buffer(self) -> None:
        pass

    def close(self) -> None:
        pass


def scripted_gps(port: ScriptedPort) -> GpsReceiver:
    clock = SimulatedClock(0.0)
    gps = GpsReceiver(port, clock, timeout_s=0.25)
    clock.advance(GpsReceiver.warmup_s)
    return gps


def test_the_uart_is_read_a_burst_at_a_time_not_a_byte_at_a_time() -> None:
    epoch = RMC_REEF + GGA_REEF
    port = ScriptedPort(epoch[:50], epoch[50:])  # a sentence split across two reads
    gps = scripted_gps(port)
    assert statuses(gps) == {SensorStatus.OK}
    assert port.reads == [50, len(epoch) - 50]
    assert gps.stats.lines == 2


def test_lines_end_at_newline_at_256_bytes_or_when_a_read_times_out() -> None:
    port = ScriptedPort(b"x" * 300, b"", b"$GPGGA,104512.00,1652", b"", RMC_REEF + GGA_REEF)
    gps = scripted_gps(port)
    assert statuses(gps) == {SensorStatus.OK}
    # 256 bytes cut without a newline: the tail after the flush, dropped uncounted; the
    # 44 bytes before the silence and the GGA cut by silence: two bad lines, then the epoch
    assert (gps.stats.lines, gps.stats.garbage_lines + gps.stats.checksum_errors) == (4, 2)


class Boat:
    """Where the buoy is; None while the receiver has no fix."""

    def __init__(self) -> None:
        self.position: tuple[float, float] | None = REEF

    def __call__(self) -> tuple[float, float] | None:
        return self.position


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(dt.datetime(2026, 11, 26, 10, 45, 0, tzinfo=dt.UTC).timestamp())


@pytest.fixture
def emulator(clock: SimulatedClock) -> Iterator[NmeaGpsEmulator]:
    with NmeaGpsEmulator(clock, Boat(), poll_s=0.001) as emulator:
        yield emulator


@pytest.fixture
def port(emulator: NmeaGpsEmulator) -> Iterator[serial.Serial]:
    with serial.Serial(emulator.port, 9600, timeout=0.02) as port:
        yield port


@pytest.fixture
def gps(port: serial.Serial, clock: SimulatedClock) -> Iterator[GpsReceiver]:
    with GpsReceiver(port, clock, timeout_s=0.25) as gps:
        clock.advance(GpsReceiver.warmup_s)
        yield gps


def statuses(gps: GpsReceiver) -> set[SensorStatus]:
    return {reading.status for reading in gps.read()}


def test_a_valid_fix_gives_position_and_a_trusted_time(
    gps: GpsReceiver, clock: SimulatedClock
) -> None:
    latitude, longitude = gps.read()
    assert (latitude.quantity, longitude.quantity) == ("latitude", "longitude")
    assert (latitude.value, longitude.value) == pytest.approx(REEF, abs=2e-6)
    assert latitude.status is longitude.status is SensorStatus.OK
    fix = gps.last_fix()
    assert fix is not None and fix.time_valid and fix.position_valid
    assert fix.utc is not None
    assert abs(fix.utc.timestamp() - clock.utc()) <= 1.0
    assert (fix.fix_quality, fix.satellites, fix.hdop) == (1, 7, 1.1)


def test_noise_lines_are_counted_and_skipped(gps: GpsReceiver, emulator: NmeaGpsEmulator) -> None:
    emulator.inject(Fault.NOISE)
    assert statuses(gps) == {SensorStatus.OK}
    assert gps.stats.garbage_lines >= 2


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault.BAD_CHECKSUM, SensorStatus.CHECKSUM),
        (Fault.GARBAGE, SensorStatus.GARBAGE),
        (Fault.SILENT, SensorStatus.TIMEOUT),
        (Fault.VOID_FIX, SensorStatus.NO_FIX),
        (Fault.NO_TIME, SensorStatus.NO_FIX),
    ],
)
def test_injected_fault_gives_its_status_without_values_within_the_bound(
    gps: GpsReceiver, emulator: NmeaGpsEmulator, fault: Fault, status: SensorStatus
) -> None:
    emulator.inject(fault)
    started = time.monotonic()
    readings = gps.read()
    assert time.monotonic() - started < gps.timeout_s + 0.2
    assert [(r.value, r.status) for r in readings] == [(None, status), (None, status)]
    emulator.clear_faults()
    assert statuses(gps) == {SensorStatus.OK}


def test_void_fix_still_exposes_the_untrusted_gps_time(
    gps: GpsReceiver, emulator: NmeaGpsEmulator
) -> None:
    emulator.inject(Fault.VOID_FIX)
    gps.read()
    fix = gps.last_fix()
    assert fix is not None and fix.utc is not None
    assert not fix.time_valid and not fix.position_valid
    assert fix.time_problem == "RMC status V (void)"


def test_no_time_yet_means_no_time(gps: GpsReceiver, emulator: NmeaGpsEmulator) -> None:
    emulator.inject(Fault.NO_TIME)
    gps.read()
    fix = gps.last_fix()
    assert fix is not None and fix.utc is None and not fix.time_valid


def test_a_time_jump_is_flagged_once_then_the_new_timeline_is_accepted(
    gps: GpsReceiver, emulator: NmeaGpsEmulator
) -> None:
    gps.read()
    emulator.inject(Fault.TIME_JUMP)
    assert statuses(gps) == {SensorStatus.OK}  # the position is still good
    fix = gps.last_fix()
    assert fix is not None and not fix.time_valid
    assert fix.time_problem is not None and "+3600" in fix.time_problem
    gps.read()
    fix = gps.last_fix()
    assert fix is not None and fix.time_valid


def test_a_date_before_the_earliest_plausible_one_is_not_trusted(
    port: serial.Serial, clock: SimulatedClock
) -> None:
    later = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    with GpsReceiver(port, clock, timeout_s=0.25, earliest_utc=later) as gps:
        clock.advance(GpsReceiver.warmup_s)
        assert statuses(gps) == {SensorStatus.OK}
        fix = gps.last_fix()
        assert fix is not None and not fix.time_valid
        assert fix.time_problem == "2026-11-26 is before 2030-01-01"


def test_a_receiver_repeating_one_epoch_is_stale(
    gps: GpsReceiver, emulator: NmeaGpsEmulator
) -> None:
    gps.read()
    emulator.inject(Fault.STUCK)
    gps.read()
    readings = gps.read()
    assert {r.status for r in readings} == {SensorStatus.STALE}
    assert all(r.value is not None for r in readings)


def test_reports_warming_up_right_after_power_on(
    port: serial.Serial, clock: SimulatedClock
) -> None:
    with GpsReceiver(port, clock, timeout_s=0.25) as gps:
        assert statuses(gps) == {SensorStatus.WARMING_UP}


def test_a_port_that_fails_is_unreachable(gps: GpsReceiver, port: serial.Serial) -> None:
    port.close()  # the UART goes away under the driver
    assert statuses(gps) == {SensorStatus.UNREACHABLE}


def test_a_port_without_a_read_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout"):
        GpsReceiver(serial.serial_for_url("loop://", timeout=None))


def test_close_closes_the_port_and_is_safe_twice(gps: GpsReceiver, port: serial.Serial) -> None:
    gps.close()
    gps.close()
    assert not port.is_open
    with pytest.raises(RuntimeError):
        gps.read()
