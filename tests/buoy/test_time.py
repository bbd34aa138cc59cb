"""Time without a real-time clock (DESIGN.md contract 4, docs/time.md).

The GPS cases run the real ``sensors.gps`` driver over the NMEA emulator's pseudo-terminal on a
virtual clock, so GPS time is the simulated world's UTC and the driver's arrival times are the
clock's monotonic time. The durability case kills a real process at every SQL statement of a
backfill: ``python -m tests.buoy.test_time <outbox> <statement>`` is that process.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import serial

from buoy.boot import RECOVERED_BOOT_MIN, boot_number, kernel_boot_id
from buoy.config import BuoyConfig
from buoy.daemon import OUTBOX_FILE, BuoyDaemon
from buoy.outbox import Draft, Outbox
from buoy.sampler import Sampler
from buoy.timesource import (
    STA_UNSYNC,
    TIME_ERROR,
    TOLERANCE_MS,
    Anchor,
    TimeInputs,
    TimeSource,
    always_synchronised,
    clock_state_synchronised,
)
from nemopi.sensor_status import SensorStatus
from nemopi.wire import ClockSource, Sample, Value
from sensors.clock import SimulatedClock
from sensors.emulators.faults import Fault
from sensors.emulators.nmea_gps import NmeaGpsEmulator
from sensors.gps import GpsReceiver
from tests.buoy.fake_sensors import Thermometer

BUOY = "reef-01"
START_UTC = 1_750_000_000.0  # 2025-06-15, after the floor
INTERVAL_S = 60.0
NMEA_RESOLUTION_MS = 10  # RMC carries hundredths of a second
BOOT = 7
KILL_ANCHOR = Anchor(1_760_000_000_000, 5_000_000, ClockSource.GPS)


def never_synchronised() -> bool:
    return False


def true_utc_ms(clock: SimulatedClock, monotonic_ms: int) -> int:
    """The simulated world's UTC at ``monotonic_ms``: what a perfect clock would have said."""
    return round(clock.start_utc * 1000) + monotonic_ms


class SteppedClock(SimulatedClock):
    """A virtual clock whose system UTC can be stepped, as settimeofday() or an NTP step does;
    its monotonic time, like the kernel's, does not move."""

    offset_s = 0.0

    def utc(self) -> float:
        return super().utc() + self.offset_s


@contextmanager
def gps_receiver(
    clock: SimulatedClock, **driver: object
) -> Iterator[tuple[GpsReceiver, NmeaGpsEmulator]]:
    """The real GPS driver on the emulator's pty, warm, moored at a fixed position."""
    with (
        NmeaGpsEmulator(clock, lambda: (-8.28, 115.59)) as emulator,
        serial.Serial(emulator.port, 9600, timeout=0.5) as port,
    ):
        receiver = GpsReceiver(port, clock, **driver)  # type: ignore[arg-type]
        clock.advance(GpsReceiver.warmup_s)
        yield receiver, emulator


def cycles(sampler: Sampler, clock: SimulatedClock, count: int) -> list[Sample]:
    """``count`` sample cycles, one sampling interval apart."""
    return [timed[1] for timed in timed_cycles(sampler, clock, count)]


def timed_cycles(sampler: Sampler, clock: SimulatedClock, count: int) -> list[tuple[int, Sample]]:
    """``count`` sample cycles, each with the monotonic ms it was stamped at (the cycle's
    start: the GPS read after it moves a virtual clock on)."""
    taken = []
    for _ in range(count):
        clock.advance(INTERVAL_S)
        monotonic_ms = round(clock.monotonic() * 1000)
        sample = sampler.cycle()
        assert sample is not None
        taken.append((monotonic_ms, sample))
    return taken


def stored(outbox: Outbox) -> dict[int, Sample]:
    return {s.seq: s for s in outbox.due(1000, now=0.0)}


def warnings_from(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "buoy.timesource" and r.levelno == logging.WARNING and text in r.getMessage()
    ]


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / OUTBOX_FILE, BUOY, 300.0) as box:
        yield box


# ---------------------------------------------------------------- GPS, through the real driver


def test_gps_fix_backfills_the_boots_unsynced_samples_to_the_ms_and_not_older_boots(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = SimulatedClock(START_UTC)
    older = outbox.append(
        Draft(93_000, ClockSource.UNSYNCED, {"water_temperature": Value(24.5)}, BOOT - 1)
    )
    with gps_receiver(clock) as (gps, emulator):
        source = TimeSource(
            clock, BOOT, TimeInputs("t", never_synchronised, gps.last_fix), backfill=outbox.backfill
        )
        sampler = Sampler([gps, Thermometer()], source, outbox)
        emulator.inject(Fault.NO_TIME)  # a cold start: no time yet
        before = cycles(sampler, clock, 3)
        emulator.clear_faults()
        # The 4th cycle reads the first valid fix, the 5th one that confirms it.
        before += cycles(sampler, clock, 2)
        after = cycles(sampler, clock, 3)

    assert [s.clock for s in before] == [ClockSource.UNSYNCED] * 5
    assert {s.boot for s in before} == {BOOT}
    anchor = source.anchor
    assert anchor is not None and anchor.source is ClockSource.GPS
    now = stored(outbox)
    for taken in before:
        dated = now[taken.seq]
        assert dated.clock is ClockSource.BACKFILLED
        assert dated.time_ms == anchor.utc_ms - (anchor.monotonic_ms - taken.time_ms)
        assert abs(dated.time_ms - true_utc_ms(clock, taken.time_ms)) <= NMEA_RESOLUTION_MS
        assert (dated.values, dated.boot) == (taken.values, taken.boot)
    for taken in after:
        assert taken.clock is ClockSource.GPS
        assert now[taken.seq] == taken
    assert [s.time_ms for s in after] == sorted(s.time_ms for s in after)
    assert now[older.seq] == older  # its uptime counts on another run of the clock
    assert source.summary() == {
        "boot": BOOT,
        "anchor_utc_ms": anchor.utc_ms,
        "anchor_monotonic_ms": anchor.monotonic_ms,
        "source": "gps",
    }
    assert f"boot {BOOT}: 5 unsynchronised samples backfilled" in caplog.messages


def test_gps_time_jump_is_rejected_and_time_stays_true(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = SimulatedClock(START_UTC)
    with gps_receiver(clock) as (gps, emulator):
        source = TimeSource(clock, BOOT, TimeInputs("t", never_synchronised, gps.last_fix))
        sampler = Sampler([gps], source, outbox)
        taken = timed_cycles(sampler, clock, 3)
        emulator.inject(Fault.TIME_JUMP)  # one hour ahead from now on
        driver_accepted = []
        for _ in range(4):
            taken += timed_cycles(sampler, clock, 1)
            fix = gps.last_fix()
            assert fix is not None and fix.utc is not None
            driver_accepted.append(fix.time_valid)
        emulator.clear_faults()
        taken += timed_cycles(sampler, clock, 4)

    # The driver takes the jumped timeline after one epoch; the time source does not.
    assert driver_accepted[1:] == [True] * 3
    synced = taken[2:]
    assert {s.clock for _, s in synced} == {ClockSource.GPS}
    for monotonic_ms, sample in synced:
        assert abs(sample.time_ms - true_utc_ms(clock, monotonic_ms)) <= NMEA_RESOLUTION_MS
    assert warnings_from(caplog, "GPS time not trusted: +3600")
    assert "GPS time agrees with the anchor again: trusted" in caplog.messages
    assert source.anchor is not None
    drift = source.anchor.utc_ms - true_utc_ms(clock, source.anchor.monotonic_ms)
    assert abs(drift) <= NMEA_RESOLUTION_MS


def test_gps_fix_before_the_floor_is_not_trusted(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    rollover = dt.datetime(2019, 4, 7, tzinfo=dt.UTC)  # a week-rollover receiver's idea of now
    clock = SimulatedClock(rollover.timestamp())
    lenient = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    with gps_receiver(clock, earliest_utc=lenient) as (gps, _):
        source = TimeSource(clock, BOOT, TimeInputs("t", never_synchronised, gps.last_fix))
        taken = cycles(Sampler([gps], source, outbox), clock, 4)
        fix = gps.last_fix()

    assert fix is not None and fix.time_valid  # the driver, told 2000, let it through
    assert {s.clock for s in taken} == {ClockSource.UNSYNCED}
    assert source.anchor is None
    assert len(warnings_from(caplog, "GPS time not trusted: 2019-04-07")) == 1


# ---------------------------------------------------------------- the system clock


def test_ntp_steps_never_send_a_sample_back_in_time_or_to_1970(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = SteppedClock(START_UTC)
    source = TimeSource(clock, BOOT, TimeInputs("t", always_synchronised))
    sampler = Sampler([Thermometer()], source, outbox)
    taken = cycles(sampler, clock, 2)
    for offset_s in (-3600.0, 0.0, -clock.utc() + 5, 86_400.0, 0.0):
        clock.offset_s = offset_s  # backwards an hour, mended, to 1970, a day ahead, mended
        taken += cycles(sampler, clock, 2)

    assert {s.clock for s in taken} == {ClockSource.NTP}
    truth = [round(START_UTC * 1000) + round(INTERVAL_S * 1000) * (i + 1) for i in range(12)]
    assert [s.time_ms for s in taken] == truth  # the anchor carried time across every step
    assert warnings_from(caplog, "system clock not trusted: -3600.0 s off the NTP anchor")
    assert warnings_from(caplog, "system clock not trusted: 1970-01-01")
    assert len(warnings_from(caplog, "system clock not trusted")) == 2  # the day ahead: same spell
    assert caplog.messages.count("system clock agrees with the anchor again: trusted") == 2


def test_a_system_clock_said_synchronised_but_before_the_floor_is_not_used(outbox: Outbox) -> None:
    clock = SimulatedClock(3.0)  # the Pi's clock after a cold boot without a saved time
    source = TimeSource(clock, BOOT, TimeInputs("t", always_synchronised))
    (sample,) = cycles(Sampler([Thermometer()], source, outbox), clock, 1)
    assert (sample.clock, sample.time_ms, sample.boot) == (ClockSource.UNSYNCED, 60_000, BOOT)


def test_jump_tolerance_grows_with_time_since_the_anchor() -> None:
    clock = SteppedClock(START_UTC)
    source = TimeSource(clock, BOOT, TimeInputs("t", always_synchronised), drift_ppm=100)
    source.stamp()
    clock.advance(86_400)  # a day on the crystal alone allows 2 s + 8.64 s
    clock.offset_s = 10.0
    assert source.stamp().time_ms == round((clock.utc()) * 1000)  # believed: re-anchored
    clock.advance(60)
    clock.offset_s = 10.0 + (TOLERANCE_MS + 10) / 1000
    assert source.stamp().time_ms == round((START_UTC + 86_460 + 10.0) * 1000)  # a jump


def test_a_correction_within_tolerance_never_dates_a_sample_before_the_previous_one() -> None:
    clock = SteppedClock(START_UTC)
    source = TimeSource(clock, BOOT, TimeInputs("t", always_synchronised))
    first = source.stamp()
    clock.advance(0.5)
    clock.offset_s = -(TOLERANCE_MS - 500) / 1000  # NTP slews back 1.5 s: believed
    second = source.stamp()
    clock.advance(60)
    third = source.stamp()
    assert second.time_ms == first.time_ms
    assert third.time_ms == round((START_UTC + 60.5 - 1.5) * 1000)


@pytest.mark.parametrize(
    ("state", "status", "maxerror_us", "synchronised"),
    [
        (0, 0x2001, 400_000, True),  # TIME_OK, STA_PLL | STA_NANO: timesyncd at work
        (TIME_ERROR, STA_UNSYNC, 16_000_000, False),  # never set
        (0, STA_UNSYNC, 400_000, False),
        (0, 0x2001, 16_000_000, False),  # unsynced long enough for maxerror to hit 16 s
        (-1, 0, 0, False),  # the call failed
    ],
)
def test_kernel_clock_state_decides_ntp_synchronised(
    state: int, status: int, maxerror_us: int, synchronised: bool
) -> None:
    assert clock_state_synchronised(state, status, maxerror_us) is synchronised


# ---------------------------------------------------------------- boots and restarts


def test_boot_number_follows_the_timeline_and_survives_a_corrupt_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kernel = kernel_boot_id()
    assert len(kernel) == 36 and kernel == kernel_boot_id()
    assert boot_number(tmp_path, kernel) == 1
    assert boot_number(tmp_path, kernel) == 1  # a daemon restart within the same OS boot
    assert boot_number(tmp_path, "next boot") == 2
    assert boot_number(tmp_path, kernel) == 3  # numbers never go back, even to a known id
    (tmp_path / "boot.json").write_bytes(b"\x00\xff not json")
    recovered = boot_number(tmp_path, "after a bad card")
    assert recovered > RECOVERED_BOOT_MIN
    assert boot_number(tmp_path, "after a bad card") == recovered
    assert "is unreadable" in caplog.text


def test_restart_in_the_same_boot_backfills_the_earlier_run_and_a_new_boot_does_not(
    tmp_path: Path,
) -> None:
    path = tmp_path / OUTBOX_FILE
    kernel = SimulatedClock(START_UTC)  # one OS boot: its monotonic clock runs on across runs

    def run(clock: SimulatedClock, timeline: str, ntp: Callable[[], bool]) -> list[Sample]:
        with Outbox(path, BUOY, 300.0) as box:
            boot = boot_number(tmp_path, timeline)
            source = TimeSource(clock, boot, TimeInputs(timeline, ntp), backfill=box.backfill)
            return cycles(Sampler([Thermometer()], source, box), clock, 3)

    first = run(kernel, "boot A", never_synchronised)
    second = run(kernel, "boot A", always_synchronised)  # the daemon restarted; NTP came up
    rebooted = SimulatedClock(START_UTC + 3600)  # the OS restarted: monotonic from 0 again
    third = run(rebooted, "boot B", never_synchronised)

    assert [s.seq for s in first + second + third] == list(range(1, 10))
    assert [s.boot for s in first + second + third] == [1] * 6 + [2] * 3
    with Outbox(path, BUOY, 300.0) as box:
        now = stored(box)
    for taken in first:
        assert now[taken.seq].clock is ClockSource.BACKFILLED
        assert now[taken.seq].time_ms == true_utc_ms(kernel, taken.time_ms)
    for taken in third:
        assert now[taken.seq] == taken
        assert taken.clock is ClockSource.UNSYNCED
    assert [s.time_ms for s in third] == [60_000, 120_000, 180_000]  # on boot 2's own clock


def test_daemon_dates_samples_through_its_time_source(
    make_config: Callable[..., BuoyConfig],
) -> None:
    config = make_config()
    clock = SimulatedClock(START_UTC)
    cold = TimeInputs("kernel boot", never_synchronised)
    with BuoyDaemon(config, [Thermometer()], clock, time_inputs=cold) as daemon:
        clock.advance(10)
        unsynced = daemon.sampler.cycle()
        assert daemon.time_source.summary() == {"boot": 1, "source": "unsynced"}
    warm = TimeInputs("kernel boot", always_synchronised)
    with BuoyDaemon(config, [Thermometer()], clock, time_inputs=warm) as daemon:
        synced = daemon.sampler.cycle()
        now = stored(daemon.outbox)
    assert unsynced is not None and synced is not None
    assert (unsynced.clock, unsynced.boot, unsynced.time_ms) == (ClockSource.UNSYNCED, 1, 10_000)
    assert synced.clock is ClockSource.NTP
    assert now[unsynced.seq].clock is ClockSource.BACKFILLED
    assert now[unsynced.seq].time_ms == round(START_UTC * 1000) + 10_000


# ---------------------------------------------------------------- durability


def kill_fixture(path: Path) -> list[Sample]:
    """An outbox holding unsynchronised samples of boots BOOT and BOOT - 1 and a synced one."""
    with Outbox(path, BUOY, 300.0) as box:
        return [
            box.append(Draft(ms, ClockSource.UNSYNCED, {"ph": Value(8.0 + ms / 1e7)}, boot))
            for ms, boot in ((1_000_000, BOOT), (2_000_000, BOOT - 1), (3_000_000, BOOT))
        ] + [
            box.append(
                Draft(1_700_000_000_000, ClockSource.NTP, {"ph": Value(None, SensorStatus.TIMEOUT)})
            )
        ]


def test_backfill_is_all_or_nothing_across_a_sigkill_at_every_statement(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine.sqlite3"
    samples = kill_fixture(pristine)
    dated = {
        s.seq: s.time_ms + KILL_ANCHOR.utc_ms - KILL_ANCHOR.monotonic_ms
        for s in samples
        if s.boot == BOOT
    }
    statement = 0
    while True:
        statement += 1
        path = tmp_path / f"killed-{statement}.sqlite3"
        shutil.copyfile(pristine, path)
        child = subprocess.run(
            [sys.executable, "-m", "tests.buoy.test_time", str(path), str(statement)],
            check=False,
            cwd=Path(__file__).parents[2],
        )
        with Outbox(path, BUOY, 300.0) as box:
            after = stored(box)
            assert after.keys() == {s.seq for s in samples}
            for s in samples:
                assert after[s.seq].values == s.values
            clocks = {after[seq].clock for seq in dated}
            assert len(clocks) == 1  # never half a backfill
            box.backfill(BOOT, KILL_ANCHOR)  # the restarted daemon's next anchor
            final = stored(box)
        for s in samples:
            expected = (
                s
                if s.seq not in dated
                else Sample(s.seq, dated[s.seq], ClockSource.BACKFILLED, s.values, BOOT)
            )
            assert final[s.seq] == expected
        if child.returncode == 0:
            assert clocks == {ClockSource.BACKFILLED}
            break
        assert child.returncode == -9
    assert statement > 3  # the sweep killed it inside the transaction, not only around it


class _KillingOutbox(Outbox):
    """An outbox that SIGKILLs its process before its ``kill_at``-th statement once armed."""

    kill_at = 0
    armed = False
    count = 0

    def _open(self) -> None:
        self._conn.set_trace_callback(self._statement)
        super()._open()

    def _statement(self, sql: str) -> None:
        if not self.armed:
            return
        self.count += 1
        if self.count == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def _kill_during_backfill(path: Path, kill_at: int) -> None:
    with _KillingOutbox(path, BUOY, 300.0) as box:
        box.kill_at, box.armed = kill_at, True
        box.backfill(BOOT, KILL_ANCHOR)


if __name__ == "__main__":
    _kill_during_backfill(Path(sys.argv[1]), int(sys.argv[2]))
