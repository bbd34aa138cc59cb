"""Remote commands: what an admin may ask of a buoy, checked before anything acts.

Why: the command topic is the one way into a buoy at sea, and a payload there may come from
a mistyped script or a stranger. So every command is looked up in ``COMMANDS``, its arguments
are checked against the command's schema, and only then is the daemon's handler called. Every
command gets a ``CommandReply``: ``ok=False`` with a message that names the problem for an
unknown command, a bad argument, a refused request or a handler that failed; nothing raises
out of ``dispatch``. The handlers are the daemon's callables (``Handlers``), so this layer does
no I/O of its own and tests give it fakes.

``CommandProcessor`` puts the durable ``CommandLog`` in front: the same id acts once and is
answered with the same reply, and a command received just before a crash is applied at the
next start. ``ConfigRollback`` decides when a remotely replaced configuration that has not
proved itself must give way to the previous one.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sqlite3
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from buoy.command_log import CommandLog
from buoy.config import BuoyConfig, SamplingSettings
from buoy.power_settings import BaseIntervals, PowerSettings
from nemopi import catalogue, wire
from nemopi.configfile import ConfigError, from_mapping
from nemopi.wire import MAX_TEXT, Command, CommandReply

log = logging.getLogger(__name__)

Result = Mapping[str, Any]
# The state-of-charge thresholds of the power policy's modes ([power] *_soc settings).
POWER_THRESHOLDS = tuple(
    f.name for f in dataclasses.fields(PowerSettings) if f.name.endswith("_soc")
)
# The quantities the buoy reads, each with its own interval ([power.intervals]).
SAMPLED = frozenset(f.name for f in dataclasses.fields(BaseIntervals))
# Settings that say where this buoy's identity and data live: changed remotely, a typo would
# strand the buoy (a new id) or orphan its outbox and command log (a new folder).
FIXED_SETTINGS = ("buoy_id", "data_dir")


class CommandRefused(ValueError):
    """A command that is understood but cannot be carried out; the message says why."""


# ---------------------------------------------------------------- what handlers receive


@dataclass(frozen=True, slots=True)
class IntervalChange:
    """Read ``quantity``, or every quantity of ``group``, each ``seconds`` in normal mode (the
    power policy stretches it in lower modes); with neither, run a sample cycle each
    ``seconds``."""

    seconds: float
    quantity: str | None = None
    group: catalogue.Group | None = None

    def quantities(self) -> tuple[str, ...]:
        """The sampled quantities whose read interval this sets; () for the sample cycle."""
        if self.quantity is not None:
            return (self.quantity,)
        if self.group is not None:
            in_group = (q.name for q in catalogue.CATALOGUE if q.group is self.group)
            return tuple(name for name in in_group if name in SAMPLED)
        return ()


@dataclass(frozen=True, slots=True)
class CalibrationStep:
    """Run calibration ``procedure`` (``ph.mid``), with a reference ``value`` where it takes one."""

    procedure: str
    value: float | None = None


@dataclass(frozen=True, slots=True)
class PendingConfig:
    """A validated configuration ``version``, to be applied at the next cycle. ``text`` is the
    TOML exactly as received: the daemon writes it to the configuration file."""

    version: int
    text: str
    config: BuoyConfig


@dataclass(frozen=True, slots=True)
class Handlers:
    """The daemon's side of each command. A handler returns its result (a small detail map)
    or raises ``CommandRefused``. ``current_config`` gives the version and configuration in
    force, ``current_power`` the power policy's settings in force. With
    ``calibration_procedures`` empty, any procedure name reaches ``calibrate``."""

    set_interval: Callable[[IntervalChange], Result]
    calibrate: Callable[[CalibrationStep], Result]
    status_now: Callable[[], Result]
    set_power_thresholds: Callable[[PowerSettings], Result]
    replace_config: Callable[[PendingConfig], Result]
    current_config: Callable[[], tuple[int, BuoyConfig]]
    current_power: Callable[[], PowerSettings]
    calibration_procedures: frozenset[str] = frozenset()


# ---------------------------------------------------------------- argument schemas


class ArgType(StrEnum):
    NUMBER = "a finite number"
    INTEGER = "an integer"
    TEXT = "a non-empty text"
    TEXTS = "a text or an array of texts"


def _converted(kind: ArgType, value: Any) -> Any:
    """``value`` as ``kind`` wants it, or None when it is not of that kind."""
    if kind is ArgType.NUMBER and type(value) in (int, float):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float (CBOR bignums decode to int)
            return None
        return number if math.isfinite(number) else None
    if kind is ArgType.INTEGER and type(value) is int:
        return value
    if kind is ArgType.TEXT and isinstance(value, str) and value:
        return value
    if kind is ArgType.TEXTS:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(part, str) for part in value):
            return "".join(value)
    return None


@dataclass(frozen=True, slots=True)
class Arg:
    name: str
    kind: ArgType
    required: bool = True


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command's name, arguments and how it is carried out with valid arguments."""

    name: str
    args: tuple[Arg, ...]
    run: Callable[[Handlers, dict[str, Any]], Result]

    def parse(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The checked arguments; ``CommandRefused`` names the first bad one."""
        known = {a.name: a for a in self.args}
        unknown = sorted(set(args) - set(known))
        if unknown:
            names = ", ".join(known) or "none"
            raise CommandRefused(f"unknown argument {unknown[0]!r} (known: {names})")
        parsed: dict[str, Any] = {}
        for arg in self.args:
            if arg.name not in args:
                if arg.required:
                    raise CommandRefused(f"missing argument {arg.name!r}")
                continue
            value = _converted(arg.kind, args[arg.name])
            if value is None:
                got = repr(args[arg.name])[:40]
                raise CommandRefused(f"argument {arg.name!r} must be {arg.kind}, got {got}")
            parsed[arg.name] = value
        return parsed


# ---------------------------------------------------------------- the commands


def _setting_problem(schema: type, name: str, value: float) -> str | None:
    """What the setting ``name`` of ``schema`` would say about ``value`` in the TOML file."""
    setting = next(f for f in dataclasses.fields(schema) if f.name == name)
    check = setting.metadata["check"]
    return None if check is None else check(value)  # type: ignore[no-any-return]


def _set_interval(handlers: Handlers, args: dict[str, Any]) -> Result:
    seconds, quantity, group = args["seconds"], args.get("quantity"), args.get("group")
    if quantity is not None and group is not None:
        raise CommandRefused("give quantity or group, not both")
    # Each target obeys the bounds of its TOML setting: [power.intervals] for a quantity,
    # sampling.interval_s for the cycle.
    change = IntervalChange(
        seconds,
        None if quantity is None else _sampled(quantity),
        None if group is None else _group(group),
    )
    if quantity is None and group is None:
        settings = [(SamplingSettings, "interval_s")]
    else:
        settings = [(BaseIntervals, name) for name in change.quantities()]
    for schema, name in settings:
        problem = _setting_problem(schema, name, seconds)
        if problem:
            raise CommandRefused(f"seconds: {problem}")
    return handlers.set_interval(change)


def _group(name: str) -> catalogue.Group:
    try:
        return catalogue.Group(name)
    except ValueError:
        known = ", ".join(g.value for g in catalogue.Group)
        raise CommandRefused(f"unknown group {name!r} (known: {known})") from None


def _sampled(quantity: str) -> str:
    """``quantity`` if the buoy samples it; ``CommandRefused`` naming why not otherwise."""
    if quantity in SAMPLED:
        return quantity
    try:
        catalogue.by_name(quantity)
    except KeyError:
        raise CommandRefused(f"unknown quantity {quantity!r}") from None
    raise CommandRefused(f"{quantity} is not sampled by the buoy (derived on the dashboard)")


def _calibrate(handlers: Handlers, args: dict[str, Any]) -> Result:
    procedure = args["procedure"]
    known = handlers.calibration_procedures
    if known and procedure not in known:
        names = ", ".join(sorted(known))
        raise CommandRefused(f"unknown procedure {procedure!r} (known: {names})")
    return handlers.calibrate(CalibrationStep(procedure, args.get("value")))


def _status_now(handlers: Handlers, args: dict[str, Any]) -> Result:
    return handlers.status_now()


def _set_power_thresholds(handlers: Handlers, args: dict[str, Any]) -> Result:
    if not args:
        raise CommandRefused(f"give at least one of {', '.join(POWER_THRESHOLDS)}")
    for name, value in args.items():
        problem = _setting_problem(PowerSettings, name, value)
        if problem:
            raise CommandRefused(f"{name}: {problem}")
    try:  # the cross-checks of the [power] table (floor <= survival <= saving ...)
        settings = dataclasses.replace(handlers.current_power(), **args)
    except ValueError as exc:
        raise CommandRefused(str(exc)) from None
    return handlers.set_power_thresholds(settings)


def _replace_config(handlers: Handlers, args: dict[str, Any]) -> Result:
    version, text = args["version"], args["toml"]
    current_version, current = handlers.current_config()
    if version <= current_version:
        raise CommandRefused(f"version {version} is not newer than the current {current_version}")
    source = f"remote config v{version}"
    try:
        config = from_mapping(tomllib.loads(text), BuoyConfig, source)
    except tomllib.TOMLDecodeError as exc:
        raise CommandRefused(f"{source}: not valid TOML ({exc})") from None
    except ConfigError as exc:
        raise CommandRefused(str(exc)) from None
    for key in FIXED_SETTINGS:
        if getattr(config, key) != getattr(current, key):
            raise CommandRefused(f"{source}: {key}: cannot be changed remotely")
    return handlers.replace_config(PendingConfig(version, text, config))


COMMANDS: Mapping[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec(
            "set_interval",
            (
                Arg("seconds", ArgType.NUMBER),
                Arg("quantity", ArgType.TEXT, required=False),
                Arg("group", ArgType.TEXT, required=False),
            ),
            _set_interval,
        ),
        CommandSpec(
            "calibrate",
            (Arg("procedure", ArgType.TEXT), Arg("value", ArgType.NUMBER, required=False)),
            _calibrate,
        ),
        CommandSpec("status_now", (), _status_now),
        CommandSpec(
            "set_power_thresholds",
            tuple(Arg(name, ArgType.NUMBER, required=False) for name in POWER_THRESHOLDS),
            _set_power_thresholds,
        ),
        CommandSpec(
            "replace_config",
            (Arg("version", ArgType.INTEGER), Arg("toml", ArgType.TEXTS)),
            _replace_config,
        ),
    )
}


def dispatch(command: Command, handlers: Handlers) -> CommandReply:
    """Check ``command`` and carry it out with ``handlers``; the reply, whatever happens."""
    spec = COMMANDS.get(command.name)
    if spec is None:
        return _refused(command, f"unknown command {command.name!r} (known: {', '.join(COMMANDS)})")
    try:
        result = spec.run(handlers, spec.parse(command.args))
    except CommandRefused as exc:
        return _refused(command, f"{command.name}: {exc}")
    except Exception as exc:  # a handler bug must not end the daemon's loop
        log.exception("command %r (%s) failed", command.id, command.name)
        return _refused(command, f"{command.name} failed: {type(exc).__name__}: {exc}")
    reply = CommandReply(command.id, True, "", dict(result))
    try:
        wire.encode(reply)
    except ValueError as exc:
        log.error("command %r: result %r cannot be sent: %s", command.id, result, exc)
        return CommandReply(command.id, True, _fit(f"done; result not sendable ({exc})"))
    return reply


def _refused(command: Command, message: str) -> CommandReply:
    log.info("command %r refused: %s", command.id, message)
    return CommandReply(command.id, False, _fit(message))


def _fit(message: str) -> str:
    return message if len(message) <= MAX_TEXT else message[: MAX_TEXT - 3] + "..."


# ---------------------------------------------------------------- durable processing


class CommandProcessor:
    """Commands from the wire, through the durable log, to the handlers and back as replies.

    ``utc_ms`` dates the log entries. Call ``recover()`` once at start, before the uplink
    delivers anything, then ``handle()`` for each payload on the command topic.
    """

    def __init__(
        self, command_log: CommandLog, handlers: Handlers, utc_ms: Callable[[], int]
    ) -> None:
        self.log = command_log
        self.handlers = handlers
        self.utc_ms = utc_ms

    def recover(self) -> list[CommandReply]:
        """Apply the commands received before a crash but never answered; their replies."""
        pending = self.log.unapplied()
        if pending:
            log.warning("applying %d command(s) received before a restart", len(pending))
        return [self._apply(command) for command in pending]

    def handle(self, payload: bytes) -> CommandReply | None:
        """The reply to publish for ``payload``; None for a payload that is not a command
        (no id to answer to: logged and ignored)."""
        try:
            command = wire.decode(payload, expect=wire.Kind.COMMAND)
        except wire.WireFormatError as exc:
            log.warning("ignoring a bad command payload: %s", exc.reason)
            return None
        assert isinstance(command, Command)
        try:
            entry = self.log.receive(command, self.utc_ms())
        except sqlite3.Error as exc:
            log.error("command %r not recorded, so not applied: %r", command.id, exc)
            return _refused(command, f"cannot record the command on the buoy ({exc})")
        if entry.reply is not None:
            log.info("command %r seen before: sending its reply again", command.id)
            return entry.reply
        return self._apply(entry.command)

    def _apply(self, command: Command) -> CommandReply:
        reply = dispatch(command, self.handlers)
        try:
            self.log.record_reply(reply, self.utc_ms())
        except sqlite3.Error as exc:
            log.error("reply to command %r not recorded; it may act again: %r", command.id, exc)
        return reply


# ---------------------------------------------------------------- configuration trial


class RollbackDecision(StrEnum):
    WAIT = "wait"  # not proven yet, still within the deadline
    KEEP = "keep"  # the buoy checked in under the new configuration
    ROLL_BACK = "roll_back"  # restore the previous configuration


@dataclass(frozen=True, slots=True)
class ConfigRollback:
    """A configuration on trial: ``version`` replaced ``previous_version`` and must check in
    (a stored acknowledgement or an acknowledged status publish) within ``deadline_s`` of the
    current run's start of the trial, and within ``max_starts`` daemon starts; otherwise it is
    rolled back. Times are the daemon's monotonic seconds; a restart begins the wait anew
    (monotonic time does not carry across a reboot) but counts against ``max_starts``, so a
    configuration that crashes the daemon is rolled back after a few restarts."""

    version: int
    previous_version: int
    deadline_s: float
    max_starts: int
    started_at_s: float
    starts: int = 0
    checked_in: bool = False

    def restarted(self, now_s: float) -> ConfigRollback:
        """The trial as the daemon starts again under the configuration on trial."""
        return dataclasses.replace(self, started_at_s=now_s, starts=self.starts + 1)

    def check_in(self) -> ConfigRollback:
        """The buoy proved it can reach the ingest under the new configuration."""
        return dataclasses.replace(self, checked_in=True)

    def decide(self, now_s: float) -> RollbackDecision:
        if self.checked_in:
            return RollbackDecision.KEEP
        if self.starts > self.max_starts or now_s - self.started_at_s >= self.deadline_s:
            return RollbackDecision.ROLL_BACK
        return RollbackDecision.WAIT

    def to_record(self) -> dict[str, Any]:
        """A JSON-able record for ``CommandLog.set_config_trial``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ConfigRollback:
        """The trial in ``record``; ValueError for a record this firmware did not write."""
        names = {f.name for f in dataclasses.fields(cls)}
        if set(record) != names or not all(isinstance(v, int | float) for v in record.values()):
            raise ValueError(f"not a configuration trial record: {dict(record)!r}"[:200])
        return cls(**record)
