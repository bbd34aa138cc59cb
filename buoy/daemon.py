"""The buoy daemon: samples on schedule and delivers, in one loop on one thread.

Sampling never waits for the link: the MQTT connection lives on the uplink's own thread, and
the loop only ever waits for link events up to the next sample time. A stop request (SIGTERM,
SIGINT, ``request_stop()``) is honoured between steps: the current sample cycle completes and
is stored, no new batch is published, a retained offline status goes out and the link closes
cleanly. Killed at any instant instead, the daemon loses nothing: the outbox is durable and
whatever was unconfirmed is sent again after the restart.

One process at a time drives a buoy's parts: ``run`` holds ``<data_dir>/buoy.lock``
(``buoy_lock``) for as long as it runs, as does ``nemopi buoy calibrate``; whichever comes
second stops with ``BuoyBusy``. The kernel drops the lock when the holder dies, even by
``kill -9``.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, TracebackType

from buoy.backoff import Backoff
from buoy.calibrate import DriverCalibration, driver_calibration, record_changes
from buoy.calibration import CalibrationStore
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
from sensors.simulation.assemble import GAS_CELLS, SimulatedInstruments, build_simulated_sensors

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite3"
LOCK_FILE = "buoy.lock"
# Longest real-time wait between checks for a stop request.
TICK_S = 0.5
OFFLINE_REPORT_TIMEOUT_S = 2.0


Instruments = HardwareInstruments | SimulatedInstruments


class SensorSetupError(RuntimeError):
    """The sensors for this run cannot be built."""


class BuoyBusy(RuntimeError):
    """Another process drives this buoy's parts: the daemon, or a technician's command."""


@contextmanager
def buoy_lock(data_dir: Path, holder: str) -> Iterator[None]:
    """Hold ``<data_dir>/buoy.lock`` while the block runs; ``BuoyBusy`` when it is held.

    The file names the holder (pid and ``holder``) for the error message of the next comer;
    it is never deleted, since deleting a lock file lets two processes lock two files.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    with path.open("a+", encoding="utf-8") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            who = file.read().strip() or "another process"
            raise BuoyBusy(
                f"the buoy daemon is running, or another buoy command: {path} is held by {who}"
            ) from None
        file.seek(0)
        file.truncate()
        file.write(f"pid {os.getpid()} ({holder})\n")
        file.flush()
        yield


class BuoyDaemon:
    """Samples ``sensors`` every ``config.sampling.interval_s`` and delivers the samples.

    Takes ownership of the sensors: ``close()`` closes them. ``clock`` must run at real speed
    or faster (waits are in real time). Samples carry the version of ``calibration`` (0
    without one) and status reports its summary; the caller closes it.
    """

    def __init__(
        self,
        config: BuoyConfig,
        sensors: Sequence[Sensor],
        clock: Clock,
        calibration: CalibrationStore | None = None,
    ) -> None:
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
        summary = None if calibration is None else lambda: calibration.current().summary()
        self.delivery = Delivery(self.outbox, self.uplink, config.uplink, clock, summary)
        time_source = TrustedSystemTime(clock)
        if calibration is None:
            self.sampler = Sampler(self.sensors, time_source, self.outbox)
        else:
            self.sampler = Sampler(self.sensors, time_source, self.outbox, calibration.version)
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
                until_next = max(0.0, next_cycle - self.clock.monotonic())
                self.delivery.service(min(TICK_S, self.clock.real_seconds(until_next)))
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


def open_simulated_instruments(
    config: BuoyConfig, stored: DriverCalibration
) -> SimulatedInstruments:
    """The real drivers over emulated devices on the configured simulated reef, given the
    ``stored`` calibration.

    The reef's clock starts now and runs ``simulation.speedup`` times faster than real time;
    the daemon schedules by it too, so a simulated day can pass in minutes.
    """
    settings = config.simulation or SimulationSettings()
    if settings.speedup <= 0:
        raise SensorSetupError(
            f"simulation.speedup is {settings.speedup}: the daemon needs a running clock (> 0)"
        )
    return build_simulated_sensors(
        settings,
        settings.clock(time.time()),
        config.data_dir / "simulation",
        turbidity_calibration=stored.turbidity,
        gas_calibrations=stored.gas_cells,
    )


def open_instruments(
    config: BuoyConfig, simulate: bool, calibration: CalibrationStore
) -> tuple[Instruments, Clock]:
    """The instruments and the clock the daemon runs by: hardware or the simulated reef.

    The drivers get the calibration stored in ``calibration``; a calibration the parts
    report that the store lacks (a pH circuit calibrated by hand) is recorded there.
    """
    instruments: Instruments
    state = calibration.current()
    if simulate:
        instruments = open_simulated_instruments(config, driver_calibration(state, GAS_CELLS))
        clock: Clock = instruments.clock
    else:
        clock = SystemClock()
        stored = driver_calibration(state, config.hardware.gas_cells.cells())
        instruments = build_hardware_instruments(
            config.hardware,
            clock,
            turbidity_calibration=stored.turbidity,
            gas_calibrations=stored.gas_cells,
        )
    try:
        record_changes(instruments.sensors, calibration, clock)
    except BaseException:
        instruments.close()
        raise
    return instruments, clock


def run(config_path: Path, simulate: bool = False) -> int:
    """The buoy process: load the configuration, build the sensors, serve until stopped.

    Raises ``ConfigError`` (also for a bus or pin that cannot be opened), ``SensorSetupError``,
    ``BuoyBusy``, ``OutboxError``, ``CalibrationStoreError`` or ``OSError`` (an unreadable
    password or CA file) when it cannot start; returns 0 after a clean stop.
    """
    config = load_buoy_config(config_path)
    configure_logging(config.log_level, f"buoy[{config.buoy_id}]")
    with (
        buoy_lock(config.data_dir, "nemopi buoy run"),
        CalibrationStore.in_dir(config.data_dir) as calibration,
    ):
        instruments, clock = open_instruments(config, simulate, calibration)
        with instruments, BuoyDaemon(config, instruments.sensors, clock, calibration) as daemon:
            return serve(daemon)
