from __future__ import annotations

import dataclasses
import itertools
import math
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buoy import command_log
from buoy.command_log import CommandLog
from buoy.commands import (
    COMMANDS,
    CalibrationStep,
    CommandProcessor,
    CommandRefused,
    ConfigRollback,
    Handlers,
    IntervalChange,
    PendingConfig,
    RollbackDecision,
    dispatch,
)
from buoy.config import BuoyConfig
from buoy.power_settings import PowerSettings
from nemopi import wire
from nemopi.catalogue import Group
from nemopi.configfile import from_mapping
from nemopi.wire import MAX_TEXT, Command, CommandReply

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_750_000_000_000
CURRENT = from_mapping({"buoy_id": "reef-01", "data_dir": "/var/lib/nemopi"}, BuoyConfig, "t")
NEW_CONFIG = """\
# Pushed by the operations team after the winter storms: sample faster, report less often.
buoy_id = "reef-01"
data_dir = "/var/lib/nemopi"
log_level = "INFO"

[mqtt]
host = "mqtt.example.org"
port = 8883
username = "reef-01"

[sampling]
interval_s = 30.0

[uplink]
status_interval_s = 600.0
max_batch = 120
"""


class FakeDaemon:
    """The daemon's side of the commands: records each request and answers with a result."""

    def __init__(self, config_version: int = 2, procedures: frozenset[str] = frozenset()):
        self.calls: list[tuple[str, object]] = []
        self.config_version = config_version
        self.handlers = Handlers(
            set_interval=lambda change: self._act("set_interval", change),
            calibrate=lambda step: self._act("calibrate", step),
            status_now=lambda: self._act("status_now", None),
            set_power_thresholds=lambda t: self._act("set_power_thresholds", t),
            replace_config=lambda pending: self._act("replace_config", pending),
            current_config=lambda: (self.config_version, CURRENT),
            current_power=PowerSettings,
            calibration_procedures=procedures,
        )

    def _act(self, name: str, request: object) -> Mapping[str, Any]:
        self.calls.append((name, request))
        return {"done": name, "calls": len(self.calls)}


def run(name: str, daemon: FakeDaemon | None = None, **args: Any) -> CommandReply:
    return dispatch(Command("c-1", name, args), (daemon or FakeDaemon()).handlers)


def payload(command_id: str, name: str = "status_now", **args: Any) -> bytes:
    return wire.encode(Command(command_id, name, args))


@pytest.fixture
def log(tmp_path: Path) -> Iterator[CommandLog]:
    with CommandLog.in_dir(tmp_path / "data") as opened:
        yield opened


def processor(log: CommandLog, daemon: FakeDaemon) -> CommandProcessor:
    return CommandProcessor(log, daemon.handlers, lambda: T0)


# ---------------------------------------------------------------- validation and dispatch


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"seconds": 300}, IntervalChange(300.0)),
        ({"seconds": 0.5}, IntervalChange(0.5)),
        ({"seconds": 30.5, "quantity": "ph"}, IntervalChange(30.5, quantity="ph")),
        ({"seconds": 600, "group": "air"}, IntervalChange(600.0, group=Group.AIR)),
    ],
)
def test_set_interval_reaches_the_handler_with_checked_arguments(
    args: dict[str, Any], expected: IntervalChange
) -> None:
    daemon = FakeDaemon()
    reply = run("set_interval", daemon, **args)
    assert reply == CommandReply("c-1", True, "", {"done": "set_interval", "calls": 1})
    assert daemon.calls == [("set_interval", expected)]


def test_calibrate_status_now_and_power_thresholds_reach_their_handlers() -> None:
    daemon = FakeDaemon(procedures=frozenset({"ph.mid", "turbidity.clear_water"}))
    assert run("calibrate", daemon, procedure="ph.mid", value=7).ok
    assert run("calibrate", daemon, procedure="turbidity.clear_water").ok
    assert run("status_now", daemon).ok
    assert run("set_power_thresholds", daemon, saving_below_soc=0.6, floor_soc=0.2).ok
    assert daemon.calls == [
        ("calibrate", CalibrationStep("ph.mid", 7.0)),
        ("calibrate", CalibrationStep("turbidity.clear_water")),
        ("status_now", None),
        ("set_power_thresholds", PowerSettings(saving_below_soc=0.6, floor_soc=0.2)),
    ]


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("set_interval", {}, "set_interval: missing argument 'seconds'"),
        ("set_interval", {"seconds": "60"}, "'seconds' must be a finite number, got '60'"),
        ("set_interval", {"seconds": True}, "'seconds' must be a finite number, got True"),
        ("set_interval", {"seconds": math.nan}, "'seconds' must be a finite number, got nan"),
        ("set_interval", {"seconds": 10**400}, "'seconds' must be a finite number, got 1000"),
        ("set_interval", {"seconds": 0}, "seconds: expected a value in [0.01, 86400]"),
        ("set_interval", {"seconds": 60, "every": 2}, "unknown argument 'every' (known: seconds"),
        ("set_interval", {"seconds": 60, "quantity": "ph", "group": "air"}, "not both"),
        ("set_interval", {"seconds": 60, "quantity": "salinity"}, "unknown quantity 'salinity'"),
        ("set_interval", {"seconds": 60, "quantity": "visibility"}, "visibility is not sampled"),
        ("set_interval", {"seconds": 5, "quantity": "ph"}, "seconds: expected a value in [10, "),
        ("set_interval", {"seconds": 5, "group": "water"}, "seconds: expected a value in [10, "),
        ("set_interval", {"seconds": 60, "group": "sky"}, "unknown group 'sky' (known: water"),
        ("calibrate", {"value": 7.0}, "calibrate: missing argument 'procedure'"),
        ("calibrate", {"procedure": ""}, "argument 'procedure' must be a non-empty text"),
        ("calibrate", {"procedure": "ph.top"}, "unknown procedure 'ph.top' (known: ph.mid)"),
        ("status_now", {"now": True}, "unknown argument 'now' (known: none)"),
        (
            "set_power_thresholds",
            {"survival_below_soc": 0.7},
            "expected floor_soc <= survival_below_soc <= saving_below_soc",
        ),
        ("set_power_thresholds", {"floor_soc": 1.5}, "floor_soc: expected a value in [0, 1]"),
        ("set_power_thresholds", {"low_v": 12.0}, "unknown argument 'low_v' (known: saving_"),
        ("set_power_thresholds", {}, "give at least one of saving_below_soc, survival_below"),
        ("replace_config", {"version": 3}, "missing argument 'toml'"),
        ("replace_config", {"version": 3.0, "toml": ""}, "'version' must be an integer"),
        ("replace_config", {"version": 3, "toml": [1, 2]}, "must be a text or an array of texts"),
    ],
)
def test_bad_arguments_are_refused_naming_the_problem_and_nothing_acts(
    name: str, args: dict[str, Any], message: str
) -> None:
    daemon = FakeDaemon(procedures=frozenset({"ph.mid"}))
    reply = run(name, daemon, **args)
    assert not reply.ok
    assert message in reply.message
    assert reply.id == "c-1"
    assert daemon.calls == []


def test_unknown_command_is_refused_naming_the_known_ones() -> None:
    reply = run("reboot")
    assert reply == CommandReply(
        "c-1",
        False,
        "unknown command 'reboot' (known: set_interval, calibrate, status_now, "
        "set_power_thresholds, replace_config)",
    )


def test_a_refusing_or_crashing_handler_becomes_a_reply() -> None:
    daemon = FakeDaemon()

    def refuse(step: CalibrationStep) -> Mapping[str, Any]:
        raise CommandRefused("the pH probe is asleep")

    def crash() -> Mapping[str, Any]:
        raise OSError(5, "Input/output error")

    handlers = dataclasses.replace(daemon.handlers, calibrate=refuse, status_now=crash)
    refused = dispatch(Command("a", "calibrate", {"procedure": "ph.mid"}), handlers)
    assert refused == CommandReply("a", False, "calibrate: the pH probe is asleep")
    crashed = dispatch(Command("b", "status_now", {}), handlers)
    assert not crashed.ok
    assert crashed.message == "status_now failed: OSError: [Errno 5] Input/output error"


def test_a_result_the_wire_cannot_carry_is_acknowledged_without_it() -> None:
    handlers = dataclasses.replace(
        FakeDaemon().handlers, status_now=lambda: {"samples": list(range(1000))}
    )
    reply = dispatch(Command("a", "status_now", {}), handlers)
    assert reply.ok and reply.result == {}
    assert "result not sendable" in reply.message
    wire.encode(reply)


# ---------------------------------------------------------------- replace_config


def test_replace_config_accepts_a_newer_valid_config_sent_in_chunks() -> None:
    assert len(NEW_CONFIG) > MAX_TEXT  # one wire text cannot hold it
    chunks = [NEW_CONFIG[i : i + 200] for i in range(0, len(NEW_CONFIG), 200)]
    daemon = FakeDaemon(config_version=2)
    command = Command("cfg-3", "replace_config", {"version": 3, "toml": chunks})
    decoded = wire.decode(wire.encode(command))  # it travels
    assert isinstance(decoded, Command)
    reply = dispatch(decoded, daemon.handlers)
    assert reply.ok, reply.message
    [(name, pending)] = daemon.calls
    assert name == "replace_config"
    assert isinstance(pending, PendingConfig)
    assert (pending.version, pending.text) == (3, NEW_CONFIG)
    assert pending.config.sampling.interval_s == 30.0
    assert pending.config.uplink.status_interval_s == 600.0


@pytest.mark.parametrize(
    ("version", "text", "message"),
    [
        (2, NEW_CONFIG, "version 2 is not newer than the current 2"),
        (1, NEW_CONFIG, "version 1 is not newer than the current 2"),
        (3, "buoy_id = ", "remote config v3: not valid TOML"),
        (
            3,
            NEW_CONFIG.replace("interval_s = 30.0", "interval_s = -1.0"),
            "remote config v3: sampling.interval_s: expected a value in [0.01, 86400]",
        ),
        (
            3,
            NEW_CONFIG.replace("max_batch", "max_bacth"),
            "remote config v3: uplink.max_bacth: unknown key",
        ),
        (
            3,
            NEW_CONFIG.replace('data_dir = "/var/lib/nemopi"', ""),
            "remote config v3: data_dir: missing required key",
        ),
        (
            3,
            NEW_CONFIG.replace('buoy_id = "reef-01"', 'buoy_id = "reef-02"'),
            "remote config v3: buoy_id: cannot be changed remotely",
        ),
        (
            3,
            NEW_CONFIG.replace("/var/lib/nemopi", "/tmp/elsewhere"),
            "remote config v3: data_dir: cannot be changed remotely",
        ),
    ],
)
def test_replace_config_refuses_old_versions_and_invalid_configs(
    version: int, text: str, message: str
) -> None:
    daemon = FakeDaemon(config_version=2)
    reply = run("replace_config", daemon, version=version, toml=text)
    assert not reply.ok
    assert message in reply.message
    assert len(reply.message) <= MAX_TEXT
    assert daemon.calls == []


# ---------------------------------------------------------------- configuration rollback


def trial(**changes: Any) -> ConfigRollback:
    fields: dict[str, Any] = {
        "version": 3,
        "previous_version": 2,
        "deadline_s": 1800.0,
        "max_starts": 3,
        "started_at_s": 100.0,
    }
    return ConfigRollback(**(fields | changes))


def test_rollback_waits_until_the_deadline_then_rolls_back() -> None:
    applied = trial()
    assert applied.decide(100.0 + 1799.9) is RollbackDecision.WAIT
    assert applied.decide(100.0 + 1800.0) is RollbackDecision.ROLL_BACK


def test_a_check_in_keeps_the_new_config_even_after_the_deadline() -> None:
    proven = trial().check_in()
    assert proven.decide(100.0 + 10_000) is RollbackDecision.KEEP


def test_a_config_that_keeps_crashing_the_daemon_is_rolled_back_after_max_starts() -> None:
    applied = trial()
    for n in range(3):
        applied = applied.restarted(now_s=5.0 * n)
        assert applied.decide(5.0 * n) is RollbackDecision.WAIT
    applied = applied.restarted(now_s=20.0)
    assert applied.starts == 4
    assert applied.decide(20.0) is RollbackDecision.ROLL_BACK


def test_a_trial_survives_a_restart_in_the_command_log(tmp_path: Path) -> None:
    with CommandLog.in_dir(tmp_path) as first:
        first.set_config_version(3)
        first.set_config_trial(trial().to_record())
    with CommandLog.in_dir(tmp_path) as second:
        record = second.config_trial()
        assert record is not None
        assert ConfigRollback.from_record(record) == trial()
        assert second.config_version() == 3
        second.set_config_trial(None)
        assert second.config_trial() is None


@pytest.mark.parametrize(
    "record", [{"version": 3}, trial().to_record() | {"version": "3"}, {}], ids=str
)
def test_a_foreign_trial_record_is_rejected(record: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ConfigRollback.from_record(record)


# ---------------------------------------------------------------- idempotent, durable processing


def test_the_same_id_twice_acts_once_and_gets_the_same_reply(log: CommandLog) -> None:
    daemon = FakeDaemon()
    commands = processor(log, daemon)
    first = commands.handle(payload("c-7", "set_interval", seconds=120))
    again = commands.handle(payload("c-7", "set_interval", seconds=120))
    assert first is not None and first.ok
    assert again == first
    assert len(daemon.calls) == 1
    assert commands.handle(payload("c-8", "set_interval", seconds=120)) is not None
    assert len(daemon.calls) == 2


def test_a_refused_command_is_not_retried_under_the_same_id(log: CommandLog) -> None:
    daemon = FakeDaemon()
    commands = processor(log, daemon)
    first = commands.handle(payload("c-1", "set_interval", seconds=-5))
    assert first is not None and not first.ok
    assert commands.handle(payload("c-1", "set_interval", seconds=60)) == first
    assert daemon.calls == []


def test_a_payload_that_is_not_a_command_is_ignored(log: CommandLog) -> None:
    commands = processor(log, FakeDaemon())
    assert commands.handle(b"\x01\x04garbage") is None
    assert commands.handle(wire.encode(CommandReply("x", True))) is None
    assert log.unapplied() == []


def test_a_command_log_that_cannot_be_written_refuses_instead_of_acting(
    log: CommandLog, tmp_path: Path
) -> None:
    daemon = FakeDaemon()
    commands = processor(log, daemon)
    blocker = sqlite3.connect(tmp_path / "data" / command_log.COMMAND_LOG_FILE, timeout=0)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy timeout
    log._conn.execute("PRAGMA busy_timeout=0")
    try:
        reply = commands.handle(payload("c-1"))
    finally:
        blocker.rollback()
        blocker.close()
    assert reply is not None and not reply.ok
    assert "cannot record the command" in reply.message
    assert daemon.calls == []


def test_log_uses_wal_and_full_sync(log: CommandLog, tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "data" / command_log.COMMAND_LOG_FILE)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert log._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_only_the_newest_answered_commands_are_kept(
    log: CommandLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(command_log, "KEEP_APPLIED", 3)
    daemon = FakeDaemon()
    commands = processor(log, daemon)
    for n in range(5):
        commands.handle(payload(f"c-{n}"))
    assert [log.reply_for(f"c-{n}") is not None for n in range(5)] == [False, False] + [True] * 3
    commands.handle(payload("c-4"))
    assert len(daemon.calls) == 5


def test_any_delivery_order_with_repeats_acts_once_per_id(log: CommandLog) -> None:
    # Idempotency is the logic under test here; durability is the SIGKILL tests' job.
    log._conn.execute("PRAGMA synchronous=OFF")
    examples = itertools.count()

    @settings(max_examples=25, deadline=None)
    @given(st.lists(st.sampled_from("abcd"), min_size=1, max_size=8))
    def deliver(letters: list[str]) -> None:
        run = next(examples)  # each example's ids are new to the shared log
        ids = [f"{run}-{letter}" for letter in letters]
        daemon = FakeDaemon()
        commands = processor(log, daemon)
        replies = {i: commands.handle(payload(i)) for i in ids}
        again = {i: commands.handle(payload(i)) for i in ids}
        assert len(daemon.calls) == len(set(ids))
        assert again == replies

    deliver()


ARGUMENT_NAMES = sorted({a.name for spec in COMMANDS.values() for a in spec.args} | {"other"})


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([*COMMANDS, "unknown"]),
    st.dictionaries(
        st.sampled_from(ARGUMENT_NAMES),
        st.none()
        | st.booleans()
        | st.integers(-(2**70), 2**70)
        | st.floats()
        | st.text(max_size=20)
        | st.lists(st.text(max_size=5) | st.integers(), max_size=3),
    ),
)
def test_any_arguments_get_a_reply_never_an_exception(name: str, args: dict[str, Any]) -> None:
    reply = dispatch(Command("fuzz", name, args), FakeDaemon().handlers)
    assert reply.id == "fuzz"
    assert len(reply.message) <= MAX_TEXT


def test_any_bytes_on_the_command_topic_never_raise(log: CommandLog) -> None:
    commands = processor(log, FakeDaemon())

    @settings(max_examples=150, deadline=None)
    @given(st.binary(max_size=64))
    def deliver(data: bytes) -> None:
        commands.handle(b"\x01\x04" + data)  # a command header and anything after it
        commands.handle(data)

    deliver()


# ---------------------------------------------------------------- crashes (real SIGKILL)

# A buoy process that takes one command and then waits to be killed: with "hang" its handler
# blocks (killed between "received" and "applied"), with "finish" the command completes and
# the kill comes after "applied". The handler's effect is one line in a file.
CHILD = """
import sys, time
from pathlib import Path
from buoy.command_log import CommandLog
from buoy.commands import CommandProcessor, Handlers

folder, mode, payload = Path(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])

def status_now():
    if mode == "hang":
        sys.stdout.write("acting\\n"); sys.stdout.flush()
        time.sleep(60)
    with open(folder / "effects", "a") as effects:
        effects.write("status_now\\n")
    return {"effect": 1}

def unused(*args):
    raise AssertionError("not called")

handlers = Handlers(unused, unused, status_now, unused, unused, unused, unused)
with CommandLog.in_dir(folder) as log:
    reply = CommandProcessor(log, handlers, lambda: 1_750_000_000_000).handle(payload)
    sys.stdout.write(f"applied {reply.ok}\\n"); sys.stdout.flush()
    time.sleep(60)
"""


def kill_child_after(folder: Path, mode: str, command: bytes, line: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder), mode, command.hex()],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == line
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL


def effects(folder: Path) -> int:
    path = folder / "effects"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_command_killed_between_received_and_applied_is_applied_once_at_restart(
    tmp_path: Path,
) -> None:
    command = payload("crash-1")
    kill_child_after(tmp_path, "hang", command, "acting\n")
    assert effects(tmp_path) == 0
    with CommandLog.in_dir(tmp_path) as restarted:
        daemon = FakeDaemon()
        commands = processor(restarted, daemon)
        [recovered] = commands.recover()
        assert recovered.id == "crash-1" and recovered.ok
        assert commands.handle(command) == recovered  # the broker redelivers it
        assert commands.recover() == []
        assert daemon.calls == [("status_now", None)]


def test_command_killed_after_applied_is_not_replayed_and_keeps_its_reply(
    tmp_path: Path,
) -> None:
    command = payload("crash-2")
    kill_child_after(tmp_path, "finish", command, "applied True\n")
    assert effects(tmp_path) == 1
    with CommandLog.in_dir(tmp_path) as restarted:
        daemon = FakeDaemon()
        commands = processor(restarted, daemon)
        assert commands.recover() == []
        assert commands.handle(command) == CommandReply("crash-2", True, "", {"effect": 1})
        assert daemon.calls == []
    assert effects(tmp_path) == 1
