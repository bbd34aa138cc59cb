"""The buoy daemon: samples on schedule and delivers, in one loop on one thread.

Sampling never waits for the link: the MQTT connection lives on the uplink's own thread, and
the loop only ever waits for link events up to the next sample time. A stop request (SIGTERM,
SIGINT, ``request_stop()``) is honoured between steps: the current sample cycle completes and
is stored, no new batch is published, a retained offline status goes out and the link closes
cleanly. Killed at any instant instead, the daemon loses nothing: the outbox is durable and
whatever was unconfirmed is sent again after the restart.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType

from buoy.backoff import Backoff
from buoy.config import BuoyConfig, load_buoy_config
from buoy.delivery import Delivery
from buoy.hardware import HardwareInstruments, build_hardware_instruments
from buoy.outbox import Outbox
from buoy.sampler import Sampler
from buoy.timesource import TrustedSystemTime
from buoy.uplink import Uplink
from nemopi.logsetup import configure_logging
from sensors.clock import Clock, SystemClock
from sensors.reading import Sensor
from sensors.simulation import SimulationSettings
from sensors.simulation.assemble import SimulatedInstruments, build_simulated_sensors

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite3"
# Longest real-time wait between checks for a stop request.
TICK_S = 0.5
OFFLINE_REPORT_TIMEOUT_S = 2.0


Instruments = HardwareInstruments | SimulatedInstruments


class SensorSetupError(RuntimeError):
    """The sensors for this run cannot be built."""


class BuoyDaemon:
    """Samples ``sensors`` every ``config.sampling.interval_s`` and delivers the samples.

    Takes ownership of the sensors: ``close()`` closes them. ``clock`` must run at real speed
    or faster (waits are in real time).
    """

    def __init__(self, config: BuoyConfig, sensors: Sequence[Sensor], clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.sensors = tuple(sensors)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(
            config.data_dir / OUTBOX_FILE, config.buoy_id, config.uplink.resend_after_s
        )
        try:
            backoff = Backoff(config.uplink.reconnect_min_s, config.uplink.reconnect_max_s)
            self.uplink = Uplink(config.buoy_id, config.mqtt, backoff, self._utc_ms)
        except BaseException:
            self.outbox.close()
            raise
        self.delivery = Delivery(self.outbox, self.uplink, config.uplink, clock)
        self.sampler = Sampler(self.sensors, TrustedSystemTime(clock), self.outbox)
        self._stop_requested = False

    def _utc_ms(self) -> int:
        return round(self.clock.utc() * 1000)

    def request_stop(self) -> None:
        """Ask ``run()`` to return after the current step; safe from a signal handler."""
        self._stop_requested = True

    def run(self) -> None:
        """Sample and deliver until a stop is requested; then go offline cleanly."""
        interval = self.config.sampling.interval_s
        self.uplink.start()
        try:
            next_cycle = self.clock.monotonic()
            while not self._stop_requested:
                if self.clock.monotonic() >= next_cycle:
                    self.sampler.cycle()
                    next_cycle = _next_slot(next_cycle, interval, self.clock.monotonic())
                wait = min(TICK_S, max(0.0, next_cycle - self.clock.monotonic()))
                self.delivery.service(wait)
            self.delivery.finish(OFFLINE_REPORT_TIMEOUT_S)
        finally:
            self.uplink.stop()
        log.info("stopped; %d samples wait in the outbox", self.outbox.depth())

    def close(self) -> None:
        """Close the outbox and the sensors; safe to call twice."""
        self.outbox.close()
        for sensor in self.sensors:
            try:
                sensor.close()
            except Exception:  # one broken driver must not keep the others open
                log.exception("%s: close() failed", sensor.name)

    def __enter__(self) -> BuoyDaemon:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _next_slot(previous: float, interval: float, now: float) -> float:
    """The first slot of the fixed-rate schedule after ``now``; missed slots are skipped."""
    following = previous + interval
    if following > now:
        return following
    missed = math.floor((now - previous) / interval)
    log.warning("sample cycle overran: %d scheduled cycle(s) skipped", missed)
    return previous + (missed + 1) * interval


def serve(daemon: BuoyDaemon) -> int:
    """Run ``daemon`` until SIGTERM or SIGINT (from the main thread); 0 after a clean stop."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s received: finishing the current cycle", signal.Signals(signum).name)
        daemon.request_stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        daemon.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def open_simulated_instruments(config: BuoyConfig) -> SimulatedInstruments:
    """The real drivers over emulated devices on the configured simulated reef.

    The reef's clock starts now and runs ``simulation.speedup`` times faster than real time;
    the daemon schedules by it too, so a simulated day can pass in minutes.
    """
    settings = config.simulation or SimulationSettings()
    if settings.speedup <= 0:
        raise SensorSetupError(
            f"simulation.speedup is {settings.speedup}: the daemon needs a running clock (> 0)"
        )
    return build_simulated_sensors(
        settings, settings.clock(time.time()), config.data_dir / "simulation"
    )


def open_instruments(config: BuoyConfig, simulate: bool) -> tuple[Instruments, Clock]:
    """The instruments and the clock the daemon runs by: hardware or the simulated reef."""
    if simulate:
        simulated = open_simulated_instruments(config)
        return simulated, simulated.clock
    clock = SystemClock()
    return build_hardware_instruments(config.hardware, clock), clock


def run(config_path: Path, simulate: bool = False) -> int:
    """The buoy process: load the configuration, build the sensors, serve until stopped.

    Raises ``ConfigError`` (also for a bus or pin that cannot be opened), ``SensorSetupError``,
    ``OutboxError`` or ``OSError`` (an unreadable password or CA file) when it cannot start;
    returns 0 after a clean stop.
    """
    config = load_buoy_config(config_path)
    configure_logging(config.log_level, f"buoy[{config.buoy_id}]")
    instruments, clock = open_instruments(config, simulate)
    with instruments, BuoyDaemon(config, instruments.sensors, clock) as daemon:
        return serve(daemon)
