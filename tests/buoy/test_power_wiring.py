"""The power policy drives the daemon: a low battery stretches the reads, puts a switched part
to sleep between them, holds the link to the plan's radio windows, and the status announces
the next window; a full battery leaves the configured cycle as it was."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from buoy.config import BuoyConfig
from buoy.daemon import BuoyDaemon
from nemopi import wire
from nemopi.topics import Channel, Topics
from nemopi.wire import Status
from sensors.clock import SimulatedClock
from sensors.reading import Reading
from tests.brokers import Mosquitto
from tests.buoy.conftest import BUOY
from tests.buoy.fake_ingest import AckingIngest, Listener, wait_until

STATUS_TOPIC = Topics("nemopi").topic(BUOY, Channel.STATUS)
DAY_0 = 1_780_012_800.0  # 2026-05-29 00:00 UTC; the site's zone is UTC (the default)
START = DAY_0 + 11 * 3600.0  # 11:00 UTC
# Default [power]: decision 06:00, morning read 45 min before, upload cycle_s (2 min) after it.
MORNING_UPLOAD = DAY_0 + 6 * 3600.0 - 2700.0 + 120.0  # 05:17
SPEEDUP = 2000.0
WARMUP_S = 60.0
# How far a wake-up may land from its planned instant: a few real milliseconds of scheduling
# jitter at SPEEDUP.
JITTER_S = 20.0


class PowerMonitor:
    """The two INA219s as the daemon sees them: a fixed battery voltage, no current, no sun."""

    name = "power"
    quantities = ("battery_voltage", "battery_current", "solar_power")

    def __init__(self, clock: SimulatedClock, voltage: float) -> None:
        self.clock = clock
        self.voltage = voltage
        self.reads: list[float] = []

    def read(self) -> list[Reading]:
        self.reads.append(self.clock.utc())
        return [
            Reading("battery_voltage", self.voltage),
            Reading("battery_current", 0.0),
            Reading("solar_power", 0.0),
        ]

    def close(self) -> None:
        return None


class RecordingSupply:
    """A MOSFET switch that records when it was switched, in the clock's UTC."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.on_now = True  # parts are powered from boot
        self.events: list[tuple[float, bool]] = []

    @property
    def is_on(self) -> bool:
        return self.on_now

    def on(self) -> None:
        self.on_now = True
        self.events.append((self.clock.utc(), True))

    def off(self) -> None:
        self.on_now = False
        self.events.append((self.clock.utc(), False))


class Co2Sensor:
    """An SCD4x behind ``supply``: records each read's time and whether it was powered."""

    name = "scd4x"
    quantities = ("xco2_equilibrated",)
    warmup_s = WARMUP_S

    def __init__(self, clock: SimulatedClock, supply: RecordingSupply) -> None:
        self.clock = clock
        self.supply = supply
        self.reads: list[tuple[float, bool]] = []

    def read(self) -> list[Reading]:
        self.reads.append((self.clock.utc(), self.supply.is_on))
        return [Reading("xco2_equilibrated", 420.0)]

    def close(self) -> None:
        return None


class Rig:
    """A daemon on a simulated clock with a power monitor and a switched CO2 sensor."""

    def __init__(self, config: BuoyConfig, voltage: float) -> None:
        self.clock = SimulatedClock(start_utc=START, speedup=SPEEDUP)
        self.supply = RecordingSupply(self.clock)
        self.monitor = PowerMonitor(self.clock, voltage)
        self.co2 = Co2Sensor(self.clock, self.supply)
        self.daemon = BuoyDaemon(
            config, [self.monitor, self.co2], self.clock, supplies={"scd4x": self.supply}
        )


@contextmanager
def running(rig: Rig) -> Iterator[None]:
    thread = threading.Thread(target=rig.daemon.run)
    thread.start()
    try:
        yield
    finally:
        rig.daemon.request_stop()
        thread.join(10)
        rig.daemon.close()
    assert not thread.is_alive()


@pytest.fixture
def statuses(mosquitto: Mosquitto) -> Iterator[Listener]:
    listener = Listener(mosquitto.host, mosquitto.port, STATUS_TOPIC, "test-status")
    yield listener
    listener.close()


def first_planned_status(listener: Listener) -> Status:
    """The first online status that carries the power plan's figures."""
    while True:
        status = wire.decode(listener.get(timeout=15).payload, expect=wire.Kind.STATUS)
        assert isinstance(status, Status)
        if status.online and "power" in status.detail:
            return status


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def keeps_period(found: list[float], period: float) -> bool:
    """Every gap is a whole number of ``period``s (within JITTER_S) and at least one is a
    single period. At SPEEDUP a machine busy elsewhere can stall the daemon's thread past a
    slot, which the fixed-rate schedule skips (and logs) rather than drift; a buoy on another
    schedule would show no single-period gap."""
    on_grid = all(abs(g - period * max(1, round(g / period))) < JITTER_S for g in found)
    return on_grid and any(abs(g - period) < JITTER_S for g in found)


def test_a_saving_buoy_reads_less_often_and_announces_its_next_radio_window(
    make_config: Callable[..., BuoyConfig], ingest: AckingIngest, statuses: Listener
) -> None:
    rig = Rig(make_config(sampling={"interval_s": 60.0}), voltage=13.0)  # 40 % charge
    with running(rig):
        status = first_planned_status(statuses)
        # Until 13:16: the CO2 sensor's hourly reads on the grid of the 05:15 morning read.
        wait_until(lambda: rig.clock.utc() > START + 2 * 3600 + 960, timeout=20)
    assert status.detail["power"] == {"mode": "saving", "soc": 0.4, "morning_assured": True}
    # Saving opens a window every 3 h on the grid of the 05:17 morning window: 11:17 is the
    # first; the report sent in it (once the link is up: connecting takes real time, which is
    # many simulated minutes) announces the next, at 14:17.
    window = MORNING_UPLOAD + 2 * 10800.0
    assert window - JITTER_S <= status.as_of_ms / 1000 < window + 10800.0
    assert status.next_report_ms == round((window + 10800.0) * 1000)
    assert rig.daemon.plan is not None
    assert status.next_report_ms == round(rig.daemon.plan.next_report_utc * 1000)
    # Intervals x4 (saving_interval_factor): the monitor every 20 min, CO2 every hour, instead
    # of the configured 60 s cycle.
    monitor_gaps = gaps(rig.monitor.reads[1:])
    assert len(monitor_gaps) >= 5
    assert keeps_period(monitor_gaps, 1200.0), monitor_gaps
    co2_gaps = gaps([t for t, _ in rig.co2.reads[1:]])  # the first read was unplanned
    assert len(co2_gaps) >= 2
    assert keeps_period(co2_gaps, 3600.0), co2_gaps


def test_a_sleeping_part_is_switched_off_and_on_again_one_warm_up_before_its_read(
    make_config: Callable[..., BuoyConfig], ingest: AckingIngest
) -> None:
    rig = Rig(make_config(sampling={"interval_s": 60.0}), voltage=13.0)
    with running(rig):
        wait_until(lambda: len(rig.co2.reads) >= 3, timeout=20)
    reads = rig.co2.reads
    assert all(powered for _, powered in reads)
    events = rig.supply.events
    for (previous, _), (read_at, _) in itertools.pairwise(reads):
        between = [(t, on) for t, on in events if previous <= t <= read_at]
        assert [on for _, on in between] == [False, True]  # off after one read, on before next
        (off_at, _), (on_at, _) = between
        assert off_at - previous < JITTER_S
        assert abs(read_at - on_at - WARMUP_S) < JITTER_S


def test_survival_without_the_morning_reserve_reports_at_once_and_says_so(
    make_config: Callable[..., BuoyConfig], ingest: AckingIngest, statuses: Listener
) -> None:
    rig = Rig(make_config(sampling={"interval_s": 60.0}), voltage=12.0)  # 10 % charge
    with running(rig):
        status = first_planned_status(statuses)
    power = status.detail["power"]
    assert (power["mode"], power["morning_assured"]) == ("survival", False)
    assert status.as_of_ms / 1000 < START + 600  # the warning does not wait for a window
    # The window after it is the next morning's: survival opens one a day.
    assert status.next_report_ms == round((MORNING_UPLOAD + 86400.0) * 1000)


def test_a_full_battery_keeps_the_configured_cycle_and_every_part_powered(
    make_config: Callable[..., BuoyConfig], ingest: AckingIngest, statuses: Listener
) -> None:
    rig = Rig(make_config(sampling={"interval_s": 60.0}), voltage=13.4)  # 90 % charge
    with running(rig):
        status = first_planned_status(statuses)
        wait_until(lambda: len(rig.co2.reads) >= 10, timeout=20)
    assert status.detail["power"]["mode"] == "normal"
    interval_ms = round(rig.daemon.config.uplink.status_interval_s * 1000)
    assert status.next_report_ms == status.as_of_ms + interval_ms
    co2_gaps = gaps([t for t, _ in rig.co2.reads])
    assert keeps_period(co2_gaps, 60.0), co2_gaps
    assert abs(len(rig.monitor.reads) - len(rig.co2.reads)) <= 1  # both read every cycle
    assert rig.supply.events == []
    assert ingest.seqs(BUOY)  # readings flow without waiting for a window
