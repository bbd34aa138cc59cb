"""The buoy daemon: samples on schedule and delivers, in one loop on one thread.

Sampling never waits for the link: the MQTT connection lives on the uplink's own thread, and
the loop only ever waits for link events up to the next sample time. A stop request (SIGTERM,
SIGINT, ``request_stop()``) is honoured between steps: the current sample cycle completes and
is stored, no new batch is published, a retained offline status goes out and the link closes
cleanly. Killed at any instant instead, the daemon loses nothing: the outbox is durable and
whatever was unconfirmed is sent again after the restart.

Remote commands arrive as link events and are carried out on this same thread, through the
durable command log (``buoy.commands``); a replaced configuration is written at the next cycle
and put in force by an in-process restart (``RESTART``), then kept or rolled back
(``buoy.config_trial``). systemd hears of readiness and, while sample cycles complete, gets
its watchdog pings (``buoy.watchdog``).

The power policy (``buoy.power_policy``, docs/power-policy.md) is planned again after every
cycle from the last battery and panel reading. In normal mode the daemon keeps its configured
cycle; in saving and survival it follows the plan: each part is read when the plan says, a
part that sleeps is switched off between reads and on again one warm-up before the next, the
link sends only in the plan's radio windows, and the status announces the next window.

One process at a time drives a buoy's parts: ``run`` holds ``<data_dir>/buoy.lock``
(``buoy_lock``) for as long as it runs, as does ``nemopi buoy calibrate``; whichever comes
second stops with ``BuoyBusy``. The kernel drops the lock when the holder dies, even by
``kill -9``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import math
import os
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import nemopi
from buoy import config_trial
from buoy.backoff import Backoff
from buoy.boot import boot_number, kernel_boot_id, new_timeline_id
from buoy.calibrate import (
    PROCEDURES,
    DriverCalibration,
    calibrate,
    driver_calibration,
    record_changes,
)
from buoy.calibration import CalibrationStore
from buoy.closeable import Closeable
from buoy.command_log import CommandLog
from buoy.commands import (
    POWER_THRESHOLDS,
    CalibrationStep,
    CommandProcessor,
    CommandRefused,
    ConfigRollback,
    Handlers,
    IntervalChange,
    PendingConfig,
    Result,
    RollbackDecision,
)
from buoy.config import BuoyConfig, load_buoy_config
from buoy.delivery import Delivery
from buoy.hardware import HardwareInstruments, build_hardware_instruments
from buoy.health import HealthFigures, HealthSnapshot, SensorHealth, readings_by_sensor
from buoy.outbox import Outbox
from buoy.power_policy import Mode, Part, PowerPlan, PowerReading, plan
from buoy.power_settings import PARTS, PowerSettings
from buoy.sampler import Sampler
from buoy.system_probes import SystemProbes
from buoy.timesource import TimeInputs, TimeSource, always_synchronised, kernel_clock_synchronised
from buoy.uplink import Uplink
from buoy.watchdog import LivenessGate, Notifier, watchdog_interval
from nemopi.logsetup import configure_logging
from nemopi.wire import ClockSource, CommandReply, Sample, Value
from sensors.clock import Clock, SystemClock
from sensors.errors import SensorError
from sensors.ezo_ph import EzoPh
from sensors.gas_cells import GasCells
from sensors.reading import Sensor
from sensors.simulation import SimulationSettings
from sensors.simulation.assemble import GAS_CELLS, SimulatedInstruments, build_simulated_sensors
from sensors.turbidity import TurbidityProbe

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite3"
LOCK_FILE = "buoy.lock"
# Longest real-time wait between checks for a stop request.
TICK_S = 0.5
OFFLINE_REPORT_TIMEOUT_S = 2.0
# What ``serve`` returns when the daemon stopped to start again under a configuration that
# changed (replaced or rolled back); ``run`` restarts in-process. Should it ever become the exit
# status (EX_TEMPFAIL), the unit's Restart=always starts the daemon again all the same.
RESTART = 75
# A cycle may take this long beyond two sampling intervals before the watchdog pings stop.
CYCLE_GRACE_S = 60.0
# Ping spacing when systemd gives no WatchdogSec (pings then go nowhere anyway).
DEFAULT_PING_EVERY_S = 30.0
# A planned read counts as due this much early: the wake-up time was converted from UTC to the
# monotonic clock, and the two may have drifted apart by a little since.
DUE_SLACK_S = 1.0
# The quantities a plan needs from the power monitor.
POWER_QUANTITIES = ("battery_voltage", "battery_current", "solar_power")


Instruments = HardwareInstruments | SimulatedInstruments


class Supply(Protocol):
    """A part's switched supply, as the daemon drives it (``SwitchedSupply``, ``SensorPower``)."""

    @property
    def is_on(self) -> bool: ...

    def on(self) -> None: ...

    def off(self) -> None: ...


def policy_parts(sensors: Sequence[Sensor], supplies: Mapping[str, Supply]) -> dict[str, Part]:
    """The power policy's part for each sensor it has an energy cost for, by sensor name.

    A sensor's part is its name up to any ``:`` (``ds18b20:28-...``), the power monitors'
    ``power`` being ``power_monitor``; it is switched when ``supplies`` has that part. Sensors
    the policy knows nothing of get no part and are read at every cycle.
    """
    parts: dict[str, Part] = {}
    for sensor in sensors:
        name = sensor.name.split(":", 1)[0]
        name = "power_monitor" if name == "power" else name
        if name in PARTS:
            warmup_s = float(getattr(sensor, "warmup_s", 0.0))
            parts[sensor.name] = Part(name, sensor.quantities, warmup_s, name in supplies)
    return parts


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


class BuoyDaemon(Closeable):
    """Samples ``sensors`` every ``config.sampling.interval_s`` and delivers the samples.

    Takes ownership of the sensors: ``close()`` closes them. ``clock`` must run at real speed
    or faster (waits are in real time). Samples carry the version of ``calibration`` (0
    without one), status reports its summary and the ``calibrate`` command records into it;
    the caller closes it. ``config_path`` is the file ``config`` was loaded from: a
    ``replace_config`` command rewrites it (without one, that command is refused).
    ``time_inputs`` say what dates the samples (``time_inputs()``, docs/time.md); without them
    ``clock`` is trusted as synchronised, on a timeline of its own. ``supplies`` are the
    switched supplies by part name (the instruments' ``power``), which a saving plan switches.
    """

    def __init__(
        self,
        config: BuoyConfig,
        sensors: Sequence[Sensor],
        clock: Clock,
        calibration: CalibrationStore | None = None,
        config_path: Path | None = None,
        time_inputs: TimeInputs | None = None,
        supplies: Mapping[str, Supply] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.sensors = tuple(sensors)
        self.calibration = calibration
        self.config_path = config_path
        config.data_dir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as opened:  # a constructor that fails half-way closes what it opened
            self.outbox = opened.enter_context(
                Outbox(
                    config.data_dir / OUTBOX_FILE,
                    config.buoy_id,
                    config.uplink.resend_after_s,
                    config.outbox.max_rows,
                )
            )
            self.command_log = opened.enter_context(CommandLog.in_dir(config.data_dir))
            backoff = Backoff(config.uplink.reconnect_min_s, config.uplink.reconnect_max_s)
            self.uplink = Uplink(config.buoy_id, config.mqtt, backoff, self._utc_ms)
            inputs = time_inputs or TimeInputs(new_timeline_id(), always_synchronised)
            boot = boot_number(config.data_dir, inputs.timeline)
            opened.pop_all()
        self.delivery = Delivery(
            self.outbox,
            self.uplink,
            config.uplink,
            clock,
            self._extra_detail,
            health=self._snapshot,
            on_command=self._on_command,
            on_check_in=self._on_check_in,
            next_report_ms=self._announced_report_ms,
        )
        self.time_source = TimeSource(clock, boot, inputs, backfill=self.outbox.backfill)
        self.sampler = Sampler(
            self.sensors,
            self.time_source,
            self.outbox,
            calibration_version=self._calibration_version,
            config_version=self.command_log.config_version,
        )
        self.interval_s = config.sampling.interval_s
        self.power = config.power
        self.supplies: Mapping[str, Supply] = supplies or {}
        self.parts = policy_parts(self.sensors, self.supplies)
        self.plan: PowerPlan | None = None
        # The last (voltage, current, panel power) the power monitor gave.
        self._power_in: tuple[float, float, float] | None = None
        self._window_opened_for: float | None = None  # Upload.utc of the last window opened
        self.health = SensorHealth()
        self.probes = SystemProbes(config.data_dir)
        self.notifier = Notifier.from_environment()
        self.gate = LivenessGate(
            max_silence_s=self._max_silence_s(),
            ping_every_s=(watchdog_interval() or 0) / 2 or DEFAULT_PING_EVERY_S,
            monotonic=clock.monotonic,
        )
        self.processor = CommandProcessor(self.command_log, self._handlers(), self._utc_ms)
        self.trial = self._open_trial()
        self.outcome = 0
        self._pending: PendingConfig | None = None
        self._replies: list[CommandReply] = []
        self._last_sample: Sample | None = None
        self._stop_requested = False

    def _utc_ms(self) -> int:
        return round(self.clock.utc() * 1000)

    def _max_silence_s(self) -> float:
        """How long the watchdog may go without a cycle: two cycles of the schedule in force
        (a saving plan's cycles are its shortest read interval apart) and a grace."""
        gap = self.interval_s
        if self.plan is not None and self._saving():
            gap = min(p.interval_s for p in self.plan.parts)
        return 2 * gap + CYCLE_GRACE_S

    def _open_trial(self) -> ConfigRollback | None:
        """The configuration trial in force, its deadline counted on this daemon's clock."""
        trial = config_trial.open_trial(self.command_log)
        if trial is None or self.config_path is None:
            return None
        return config_trial.rebased(trial, self.clock.monotonic())

    def request_stop(self) -> None:
        """Ask ``run()`` to return after the current step; safe from a signal handler."""
        self._stop_requested = True

    def run(self) -> None:
        """Sample and deliver until a stop (or a restart) is requested; then go offline cleanly.

        Commands received before a crash and never answered are applied first; their replies
        go out once the link is up.
        """
        self._replies.extend(self.processor.recover())
        self.uplink.start()
        self.notifier.ready()
        try:
            next_cycle = self.clock.monotonic()
            while not self._stop_requested:
                if self.clock.monotonic() >= next_cycle:
                    self._cycle()
                    next_cycle = self._next_cycle(next_cycle)
                self._follow_plan()
                wake = min(next_cycle, self._next_power_event())
                until_next = max(0.0, wake - self.clock.monotonic())
                self.delivery.service(min(TICK_S, self.clock.real_seconds(until_next)))
                self._after_service()
            if self.outcome != RESTART:
                self.notifier.stopping()
            self.delivery.finish(OFFLINE_REPORT_TIMEOUT_S)
        finally:
            self.uplink.stop()
        log.info("stopped; %d samples wait in the outbox", self.outbox.depth())

    def _cycle(self) -> None:
        """One sample cycle, then what waits for a cycle boundary (a replaced configuration)."""
        sample = self.sampler.cycle(self._due())
        self.gate.cycle_completed()
        if sample is not None:
            self._last_sample = sample
            self.health.update(self._utc_ms(), readings_by_sensor(sample.values, self.sensors))
            self._take_power_reading(sample.values)
        self._replan()
        schedule = f"sampling every {self.interval_s:g} s"
        if self.plan is not None and self._saving():
            schedule = f"{self.plan.mode.name.lower()} mode, sampling as planned"
        self.notifier.status(
            f"{schedule}; {self.outbox.depth()} reading(s) to "
            f"deliver; config v{self.command_log.config_version()}"
        )
        if self._pending is not None:
            self._apply_pending(self._pending)

    # ------------------------------------------------------------ the power plan

    def _saving(self) -> bool:
        """Whether a plan below normal mode drives sampling, supplies and the link."""
        return self.plan is not None and self.plan.mode is not Mode.NORMAL

    def _monotonic_at(self, utc: float) -> float:
        return self.clock.monotonic() + (utc - self.clock.utc())

    def _next_cycle(self, previous: float) -> float:
        """When the next cycle runs: the plan's earliest read, else the configured cycle."""
        if self.plan is not None and self._saving():
            return self._monotonic_at(min(p.next_read_utc for p in self.plan.parts))
        return _next_slot(previous, self.interval_s, self.clock.monotonic())

    def _due(self) -> set[str] | None:
        """The sensors this cycle reads: under a saving plan, those whose part is due and
        those the policy has no part for; otherwise None (all)."""
        if self.plan is None or not self._saving():
            return None
        horizon = self.clock.utc() + DUE_SLACK_S
        due = {p.name for p in self.plan.parts if p.next_read_utc <= horizon}
        return {
            s.name
            for s in self.sensors
            if s.name not in self.parts or self.parts[s.name].name in due
        }

    def _take_power_reading(self, values: Mapping[str, Value]) -> None:
        read = [_value(values, q) for q in POWER_QUANTITIES]
        if all(v is not None for v in read):
            voltage, current, solar = (float(v) for v in read if v is not None)
            self._power_in = (voltage, current, solar)

    def _replan(self) -> None:
        """Plan from the last power reading as of now; without one (no power monitor, or it
        has never read), the daemon keeps the previous plan, or its configured cycle."""
        if self._power_in is None or not self.parts:
            return
        utc = self.clock.utc()
        voltage, current, solar = self._power_in
        reading = PowerReading(utc, self.power.utc_offset_s(utc), voltage, current, solar)
        previous = self.plan
        self.plan = plan(reading, tuple(self.parts.values()), self.power, previous)
        if previous is None or previous.mode is not self.plan.mode:
            log.info(
                "power: %s mode at %.0f %% charge; morning %s",
                self.plan.mode.name.lower(),
                self.plan.state_of_charge * 100,
                "assured" if self.plan.morning.assured else "NOT assured",
            )
        self.delivery.use_windows(self._saving())
        self.gate.max_silence_s = self._max_silence_s()
        self._set_supplies(utc)

    def _set_supplies(self, utc: float) -> None:
        """Each switched part off while the plan lets it sleep, on from one warm-up before
        its read; every part on outside a saving plan."""
        if self.plan is None:
            return
        saving = self._saving()
        for part in self.plan.parts:
            supply = self.supplies.get(part.name)
            if supply is None:
                continue
            asleep = saving and part.power_on_utc is not None and part.power_on_utc > utc
            if asleep and supply.is_on:
                log.debug("%s: off until %.0f", part.name, part.power_on_utc)
                supply.off()
            elif not asleep and not supply.is_on:
                log.debug("%s: on for its read at %.0f", part.name, part.next_read_utc)
                supply.on()

    def _follow_plan(self) -> None:
        """Between cycles: switch on the parts whose warm-up has come, and open the radio
        window when its time has come (then plan again, so the status it sends announces the
        window after it)."""
        if self.plan is None or not self._saving():
            return
        utc = self.clock.utc()
        self._set_supplies(utc)
        upload = self.plan.upload
        if upload.utc <= utc and self._window_opened_for != upload.utc:
            self._window_opened_for = upload.utc
            log.info("radio window: up to %d reading(s)", upload.max_readings)
            self.delivery.open_window(upload.max_readings, upload.newest_first)
            self._replan()

    def _next_power_event(self) -> float:
        """Monotonic time of the plan's next supply switch-on or radio window (inf: none)."""
        if self.plan is None or not self._saving():
            return math.inf
        utc = self.clock.utc()
        times = [
            p.power_on_utc
            for p in self.plan.parts
            if p.power_on_utc is not None and p.power_on_utc > utc and p.name in self.supplies
        ]
        if self._window_opened_for != self.plan.upload.utc:
            times.append(self.plan.upload.utc)
        return self._monotonic_at(min(times)) if times else math.inf

    def _announced_report_ms(self) -> int | None:
        """The plan's next radio window, which a saving buoy's status announces; None in
        normal mode, where reports follow the status interval."""
        if self.plan is None or not self._saving():
            return None
        return round(self.plan.next_report_utc * 1000)

    def _after_service(self) -> None:
        self._publish_replies()
        if self.notifier.enabled and self.gate.ping_due():
            self.notifier.ping()
        trial, path = self.trial, self.config_path
        if trial is None or path is None:  # a trial is only opened with a configuration file
            return
        if trial.decide(self.clock.monotonic()) is RollbackDecision.ROLL_BACK:
            config_trial.roll_back(path, self.command_log, trial)
            self.trial = None
            self._restart()

    def _restart(self) -> None:
        self.outcome = RESTART
        self._stop_requested = True

    # ------------------------------------------------------------ the link's news

    def _on_command(self, payload: bytes) -> None:
        reply = self.processor.handle(payload)
        if reply is not None:
            self._replies.append(reply)
            self._publish_replies()

    def _publish_replies(self) -> None:
        """Hand waiting replies to the link in order; what it does not take waits (a reply is
        also kept in the command log: the same command id sent again gets it)."""
        while self._replies and self.uplink.connected:
            if self.uplink.publish_reply(self._replies[0]) is None:
                return
            self._replies.pop(0)

    def _on_check_in(self) -> None:
        """The buoy reached the ingest: a configuration on trial has proved itself."""
        if self.trial is None:
            return
        log.info("configuration v%d checked in: kept", self.trial.version)
        self.command_log.set_config_trial(None)
        self.trial = None

    def _calibration_version(self) -> int:
        return 0 if self.calibration is None else self.calibration.version()

    def _extra_detail(self) -> dict[str, Any]:
        """Status entries beyond the health snapshot: clock anchor, outbox policy, calibration."""
        detail: dict[str, Any] = {
            "time": self.time_source.summary(),
            **self.outbox.health().detail(),
        }
        if self.calibration is not None:
            detail["calibration"] = self.calibration.current().summary()
        if self.plan is not None:
            detail["power"] = {
                "mode": self.plan.mode.name.lower(),
                "soc": round(self.plan.state_of_charge, 3),
                "morning_assured": self.plan.morning.assured,
            }
        return detail

    def _snapshot(self) -> HealthSnapshot:
        last = self._last_sample
        values: Mapping[str, Value] = {} if last is None else last.values
        figures = HealthFigures(
            software_version=nemopi.__version__,
            config_version=self.command_log.config_version(),
            calibration_version=self._calibration_version(),
            clock=ClockSource.UNSYNCED if last is None else last.clock,
            outbox_depth=self.outbox.depth(),
            oldest_unsent=self.outbox.oldest_unconfirmed(),
            battery_voltage=_value(values, "battery_voltage"),
            solar_power=_value(values, "solar_power"),
            cpu_temperature=self.probes.cpu_temperature(),
            disk_free=self.probes.disk_free(),
        )
        return HealthSnapshot.of(figures, self.health)

    # ------------------------------------------------------------ remote commands

    def _handlers(self) -> Handlers:
        return Handlers(
            set_interval=self._set_interval,
            calibrate=self._calibrate,
            status_now=self._status_now,
            set_power_thresholds=self._set_power_thresholds,
            replace_config=self._replace_config,
            current_config=lambda: (self.command_log.config_version(), self.config),
            current_power=lambda: self.power,
            calibration_procedures=calibration_procedures(self.sensors),
        )

    def _set_interval(self, change: IntervalChange) -> Result:
        quantities = change.quantities()
        if change.quantity is None and change.group is None:
            self.interval_s = change.seconds
            self.gate.max_silence_s = self._max_silence_s()
            log.info("sample cycle every %g s from now", change.seconds)
        else:
            intervals = dataclasses.replace(
                self.power.intervals, **{name: change.seconds for name in quantities}
            )
            self.power = dataclasses.replace(self.power, intervals=intervals)
            log.info("read interval of %s: %g s", ", ".join(quantities), change.seconds)
        target = {"quantity": change.quantity} if change.quantity else {}
        if change.group is not None:
            target = {"group": change.group.value}
        return {"seconds": change.seconds} | target

    def _set_power_thresholds(self, settings: PowerSettings) -> Result:
        self.power = settings
        return {name: getattr(settings, name) for name in POWER_THRESHOLDS}

    def _status_now(self) -> Result:
        if not self.delivery.report_now():
            raise CommandRefused("the link did not take the report; send the command again")
        return {}

    def _calibrate(self, step: CalibrationStep) -> Result:
        if self.calibration is None:
            raise CommandRefused("this buoy keeps no calibration store")
        try:
            record = calibrate(self, self.calibration, step.procedure, step.value, clock=self.clock)
        except (ValueError, RuntimeError, SensorError) as exc:
            raise CommandRefused(str(exc)) from None
        return {"calibration_version": record.version}

    def _replace_config(self, pending: PendingConfig) -> Result:
        if self.config_path is None:
            raise CommandRefused("this daemon was not started from a configuration file")
        if self._pending is not None and pending.version <= self._pending.version:
            raise CommandRefused(
                f"version {pending.version} is not newer than v{self._pending.version}, "
                "which waits for the next cycle"
            )
        self._pending = pending
        return {"version": pending.version}

    def _apply_pending(self, pending: PendingConfig) -> None:
        """Write the waiting configuration on trial and restart under it."""
        assert self.config_path is not None  # _replace_config refuses without one
        self._pending = None
        config_trial.begin_trial(
            self.config_path, pending, self.command_log, self.clock.monotonic()
        )
        self._restart()

    # ------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close the outbox, the command log, the notifier and the sensors; safe to call twice."""
        self.outbox.close()
        self.command_log.close()
        self.notifier.close()
        for sensor in self.sensors:
            try:
                sensor.close()
            except Exception:  # one broken driver must not keep the others open
                log.exception("%s: close() failed", sensor.name)


def _value(values: Mapping[str, Value], quantity: str) -> float | None:
    value = values.get(quantity)
    return None if value is None else value.value


def calibration_procedures(sensors: Sequence[Sensor]) -> frozenset[str]:
    """The calibration procedures that the fitted parts support."""
    parts: set[str] = set()
    for sensor in sensors:
        if isinstance(sensor, EzoPh):
            parts.add("ph")
        elif isinstance(sensor, GasCells):
            parts.update(sensor.quantities)
        elif isinstance(sensor, TurbidityProbe):
            parts.add("turbidity")
    return frozenset(p for p in PROCEDURES if p.split(".")[0] in parts)


def _next_slot(previous: float, interval: float, now: float) -> float:
    """The first slot of the fixed-rate schedule after ``now``; missed slots are skipped."""
    following = previous + interval
    if following > now:
        return following
    missed = math.floor((now - previous) / interval)
    log.warning("sample cycle overran: %d scheduled cycle(s) skipped", missed)
    return previous + (missed + 1) * interval


def serve(daemon: BuoyDaemon) -> int:
    """Run ``daemon`` until SIGTERM or SIGINT (from the main thread); 0 after a clean stop,
    ``RESTART`` when it stopped to start again under a changed configuration."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s received: finishing the current cycle", signal.Signals(signum).name)
        daemon.request_stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        daemon.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return daemon.outcome


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


def time_inputs(instruments: Instruments, simulate: bool) -> TimeInputs:
    """What the daemon's time source listens to. Both hear the GPS driver (on the simulated
    reef its fix time is simulated UTC). On the buoy: the kernel's boot and NTP state. On the
    simulated reef: its clock, which is the world's UTC and so trusted as NTP, and which
    starts afresh with each run (a timeline of its own)."""
    gps = None if instruments.gps is None else instruments.gps.last_fix
    if simulate:
        return TimeInputs(new_timeline_id(), always_synchronised, gps)
    return TimeInputs(kernel_boot_id(), kernel_clock_synchronised, gps)


def run(config_path: Path, simulate: bool = False) -> int:
    """The buoy process: load the configuration, build the sensors, serve until stopped.

    Each start (and each in-process restart after a configuration change) first counts
    against a configuration on trial and rolls it back when it has had its chances
    (``config_trial.settle_at_start``), before the parts are built: a configuration whose
    hardware fails to build is rolled back too, after a few restarts by systemd.

    Raises ``ConfigError`` (also for a bus or pin that cannot be opened), ``SensorSetupError``,
    ``BuoyBusy``, ``OutboxError``, ``CalibrationStoreError``, ``CommandLogError`` or
    ``OSError`` (an unreadable password or CA file) when it cannot start; returns 0 after a
    clean stop.
    """
    config = load_buoy_config(config_path)  # buoy_id and data_dir never change remotely
    configure_logging(config.log_level, f"buoy[{config.buoy_id}]")
    with (
        buoy_lock(config.data_dir, "nemopi buoy run"),
        CalibrationStore.in_dir(config.data_dir) as calibration,
    ):
        while True:
            with CommandLog.in_dir(config.data_dir) as command_log:
                config_trial.settle_at_start(config_path, command_log)
            config = load_buoy_config(config_path)
            configure_logging(config.log_level, f"buoy[{config.buoy_id}]")
            instruments, clock = open_instruments(config, simulate, calibration)
            with (
                instruments,
                BuoyDaemon(
                    config,
                    instruments.sensors,
                    clock,
                    calibration,
                    config_path,
                    time_inputs(instruments, simulate),
                    instruments.power,
                ) as daemon,
            ):
                outcome = serve(daemon)
            if outcome != RESTART:
                return outcome
            log.info("starting again under the configuration in %s", config_path)
