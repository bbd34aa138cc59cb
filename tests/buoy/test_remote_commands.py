"""Remote commands through a real Mosquitto into a running daemon, and configuration trials.

The daemon runs on a thread of the test (``running``); the admin is a plain MQTT client that
publishes wire-encoded commands on the buoy's command topic and listens for replies.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import nemopi
from buoy.calibration import CalibrationStore
from buoy.command_log import COMMAND_LOG_FILE, CommandLog
from buoy.commands import ConfigRollback
from buoy.config import BuoyConfig, load_buoy_config
from buoy.config_trial import previous_path
from buoy.daemon import RESTART, BuoyDaemon
from nemopi import wire
from nemopi.topics import Channel, Topics
from nemopi.wire import Command, CommandReply, Status
from sensors.clock import SimulatedClock, SystemClock
from tests.brokers import Mosquitto, free_port
from tests.buoy.conftest import BUOY, write_config
from tests.buoy.fake_ingest import AckingIngest, Listener, wait_until
from tests.buoy.fake_sensors import Thermometer
from tests.buoy.test_daemon import running
from tests.e2e.cluster import nemopi_process

TOPICS = Topics("nemopi")
STATUS_TOPIC = TOPICS.topic(BUOY, Channel.STATUS)
COMMAND_TOPIC = TOPICS.topic(BUOY, Channel.COMMAND)

# The paddle wheel counts pulses for 10 s each cycle: half a second of real time at 20x.
BUOY_SPEEDUP = 20.0


class Admin:
    """Publishes commands to any buoy and keeps every reply of every buoy."""

    def __init__(self, broker: Mosquitto) -> None:
        self.listener = Listener(broker.host, broker.port, TOPICS.all_buoys(Channel.REPLY))

    def send(self, command: Command, buoy: str = BUOY) -> None:
        self.listener.publish(TOPICS.topic(buoy, Channel.COMMAND), wire.encode(command))

    def reply(self, timeout: float = 10.0) -> tuple[str, CommandReply]:
        message = self.listener.get(timeout)
        reply = wire.decode(message.payload, expect=wire.Kind.REPLY)
        assert isinstance(reply, CommandReply)
        assert not message.retain
        return message.topic, reply

    def ask(self, command: Command, timeout: float = 10.0) -> CommandReply:
        self.send(command)
        topic, reply = self.reply(timeout)
        assert topic == TOPICS.topic(BUOY, Channel.REPLY)
        assert reply.id == command.id
        return reply

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def admin(mosquitto: Mosquitto) -> Iterator[Admin]:
    client = Admin(mosquitto)
    yield client
    client.close()


@pytest.fixture
def statuses(mosquitto: Mosquitto) -> Iterator[Listener]:
    listener = Listener(mosquitto.host, mosquitto.port, STATUS_TOPIC)
    yield listener
    listener.close()


def decoded_status(listener: Listener, timeout: float = 10.0) -> Status:
    status = wire.decode(listener.get(timeout).payload, expect=wire.Kind.STATUS)
    assert isinstance(status, Status)
    return status


def thermometer_daemon(config: BuoyConfig, path: Path | None = None) -> BuoyDaemon:
    return BuoyDaemon(config, [Thermometer()], SystemClock(), config_path=path)


def wait_online(statuses: Listener) -> None:
    """Wait for the on-connect report: the buoy subscribed its command topic before it."""
    assert decoded_status(statuses).online


def test_a_command_is_answered_with_its_result_and_acts_once_per_id(
    make_config: Callable[..., BuoyConfig], admin: Admin, statuses: Listener
) -> None:
    daemon = thermometer_daemon(make_config())
    with running(daemon):
        wait_online(statuses)
        first = admin.ask(Command("st-1", "status_now"))
        again = admin.ask(Command("st-1", "status_now"))
        assert first == again == CommandReply("st-1", True, "", {})
        assert decoded_status(statuses).online  # the one report the command asked for
        time.sleep(1.0)
        assert statuses.messages.empty(), "the repeated id published a second report"
        reply = admin.ask(Command("iv-1", "set_interval", {"seconds": 0.2}))
        assert reply.ok and reply.result == {"seconds": 0.2}
        assert daemon.interval_s == 0.2
        reply = admin.ask(Command("iv-2", "set_interval", {"seconds": 0.0}))
        assert not reply.ok and "seconds" in reply.message
        assert daemon.interval_s == 0.2


def test_a_command_on_another_buoys_topic_is_never_seen(
    make_config: Callable[..., BuoyConfig], admin: Admin, statuses: Listener
) -> None:
    daemon = thermometer_daemon(make_config())
    with running(daemon):
        wait_online(statuses)
        admin.send(Command("other-1", "set_interval", {"seconds": 5.0}), buoy="reef-02")
        admin.send(Command("mine-1", "set_interval", {"seconds": 0.1}))
        topic, reply = admin.reply()  # in order on one connection: the other went first
        assert (topic, reply.id) == (TOPICS.topic(BUOY, Channel.REPLY), "mine-1")
        time.sleep(0.5)
        assert admin.listener.messages.empty()
        assert daemon.interval_s == 0.1
        assert daemon.command_log.reply_for("other-1") is None


def test_a_stranger_payload_on_the_command_topic_is_ignored_and_the_daemon_goes_on(
    make_config: Callable[..., BuoyConfig], admin: Admin, statuses: Listener
) -> None:
    daemon = thermometer_daemon(make_config())
    with running(daemon) as thread:
        wait_online(statuses)
        admin.listener.publish(COMMAND_TOPIC, b"\xff\x00 not a command")
        admin.listener.publish(COMMAND_TOPIC, wire.encode(Status(BUOY, True, 1_750_000_000_000)))
        assert admin.ask(Command("x-1", "reboot")).message.startswith("unknown command 'reboot'")
        assert thread.is_alive()


def test_status_now_publishes_a_fresh_retained_report_with_the_buoys_health(
    make_config: Callable[..., BuoyConfig],
    admin: Admin,
    statuses: Listener,
    mosquitto: Mosquitto,
) -> None:
    daemon = thermometer_daemon(make_config())
    with running(daemon):
        wait_online(statuses)
        wait_until(lambda: daemon.health.get("thermometer") is not None)
        asked_ms = round(time.time() * 1000)
        assert admin.ask(Command("st-2", "status_now")).ok
        late = Listener(mosquitto.host, mosquitto.port, STATUS_TOPIC)
        message = late.get()
        late.close()
    assert message.retain
    status = wire.decode(message.payload, expect=wire.Kind.STATUS)
    assert isinstance(status, Status)
    assert status.online and status.as_of_ms >= asked_ms - 5
    assert status.valid_until_ms is not None and status.valid_until_ms > time.time() * 1000
    detail = status.detail
    assert detail["sensors"]["thermometer"]["state"] == "ok"
    assert detail["sensors"]["thermometer"]["failures"] == 0
    assert isinstance(detail["outbox_depth"], int)
    assert detail["clock"] in {"ntp", "gps", "unsynced", "backfilled"}
    assert (detail["software"], detail["config_version"]) == (nemopi.__version__, 0)
    assert detail["calibration_version"] == 0
    assert detail["disk_free"] > 0
    assert detail["time"]["boot"] >= 1 and detail["time"]["source"] in {"ntp", "gps", "unsynced"}
    assert (detail["thinned"], detail["lost_full_card"]) == (0, 0)
    assert detail["outbox_max_rows"] > 0


# ---------------------------------------------------------------- replacing the configuration


def new_config_text(path: Path, **sampling: float) -> str:
    """The file at ``path`` with its [sampling] settings replaced."""
    lines = path.read_text().splitlines()
    at = lines.index("[sampling]")
    settings = [f"{key} = {value!r}" for key, value in sampling.items()]
    return "\n".join(lines[: at + 1] + settings + lines[at + 2 :]) + "\n"


def toml_args(version: int, text: str) -> dict[str, object]:
    """``replace_config`` arguments: the file in chunks that each fit a wire text."""
    return {"version": version, "toml": [text[i : i + 200] for i in range(0, len(text), 200)]}


def test_a_valid_newer_config_is_written_on_trial_at_the_next_cycle_and_a_broken_one_refused(
    tmp_path: Path, mosquitto: Mosquitto, admin: Admin, statuses: Listener
) -> None:
    path = write_config(tmp_path / "buoy.toml", mosquitto.port, tmp_path / "data")
    original = path.read_text()
    daemon = thermometer_daemon(load_buoy_config(path), path)
    with running(daemon) as thread:
        wait_online(statuses)
        broken = original.replace("[sampling]", "[sampling]\nintervall_s = 2.0")
        reply = admin.ask(Command("cfg-1", "replace_config", toml_args(1, broken)))
        assert not reply.ok
        assert "sampling.intervall_s: unknown key" in reply.message
        moved = original.replace(str(tmp_path / "data"), str(tmp_path / "elsewhere"))
        reply = admin.ask(Command("cfg-2", "replace_config", toml_args(1, moved)))
        assert not reply.ok and "data_dir: cannot be changed remotely" in reply.message
        assert path.read_text() == original
        text = new_config_text(path, interval_s=0.5)
        reply = admin.ask(Command("cfg-3", "replace_config", toml_args(1, text)))
        assert reply == CommandReply("cfg-3", True, "", {"version": 1})
        thread.join(10)  # the daemon stops to start again under the new file
        assert not thread.is_alive()
    assert daemon.outcome == RESTART
    assert path.read_text() == text
    assert previous_path(path).read_text() == original
    with CommandLog.in_dir(tmp_path / "data") as log:
        assert log.config_version() == 1
        trial = log.config_trial()
    assert trial is not None and (trial["version"], trial["previous_version"]) == (1, 0)


def open_trial(data_dir: Path, path: Path, new_text: str) -> None:
    """A configuration v2 on trial over v1, as ``begin_trial`` leaves it."""
    previous_path(path).write_text(path.read_text())
    path.write_text(new_text)
    with CommandLog.in_dir(data_dir) as log:
        log.set_config_version(2)
        log.set_config_trial(ConfigRollback(2, 1, 600.0, 3, 0.0, starts=1).to_record())


def test_a_config_on_trial_that_never_checks_in_is_rolled_back_after_the_deadline(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """The new file points at a port where no broker listens; 600 s of trial pass in about
    one real second on a clock running 1000 times faster."""
    data = tmp_path / "data"
    path = write_config(tmp_path / "buoy.toml", mosquitto.port, data)
    original = path.read_text()
    dead = write_config(tmp_path / "dead.toml", free_port(), data).read_text()
    open_trial(data, path, dead)
    clock = SimulatedClock(start_utc=1.8e9, speedup=1000.0)
    daemon = BuoyDaemon(load_buoy_config(path), [Thermometer()], clock, config_path=path)
    with running(daemon) as thread:
        thread.join(20)
        assert not thread.is_alive()
        assert not daemon.uplink.connected
    assert daemon.outcome == RESTART
    assert path.read_text() == original
    with CommandLog.in_dir(data) as log:
        assert (log.config_version(), log.config_trial()) == (1, None)


def test_a_config_on_trial_that_reaches_the_broker_is_kept(
    tmp_path: Path, mosquitto: Mosquitto, ingest: AckingIngest
) -> None:
    data = tmp_path / "data"
    path = write_config(tmp_path / "buoy.toml", mosquitto.port, data)
    new_text = new_config_text(path, interval_s=0.1)
    open_trial(data, path, new_text)
    clock = SimulatedClock(start_utc=1.8e9, speedup=1000.0)
    daemon = BuoyDaemon(load_buoy_config(path), [Thermometer()], clock, config_path=path)
    with running(daemon) as thread:
        wait_until(lambda: daemon.trial is None)
        time.sleep(1.0)  # well past the 600 s deadline on this clock
        assert thread.is_alive()
    assert daemon.outcome == 0
    assert path.read_text() == new_text
    with CommandLog.in_dir(data) as log:
        assert (log.config_version(), log.config_trial()) == (2, None)


# ---------------------------------------------------------------- the real buoy process


class Buoy:
    """``nemopi buoy run --simulate`` on the file ``path``, started and killed at will."""

    def __init__(self, tmp_path: Path, port: int, **tables: dict[str, object]) -> None:
        self.data = tmp_path / "data"
        self.path = write_config(
            tmp_path / "buoy.toml", port, self.data, simulation={"speedup": BUOY_SPEEDUP}, **tables
        )
        self.log = tmp_path / "buoy.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = nemopi_process(
            self.log, "buoy", "run", "--simulate", "--config", str(self.path)
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(20)

    def trial_starts(self) -> int | None:
        """The starts counted against the open trial, read beside the daemon."""
        db = sqlite3.connect(self.data / COMMAND_LOG_FILE, timeout=10)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'config_trial'").fetchone()
        finally:
            db.close()
        return None if row is None else int(json.loads(row[0])["starts"])

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@pytest.fixture
def buoy_process(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Callable[..., Buoy]]:
    made: list[Buoy] = []

    def make(**tables: dict[str, object]) -> Buoy:
        made.append(Buoy(tmp_path, mosquitto.port, **tables))
        return made[-1]

    yield make
    for buoy in made:
        buoy.close()


def drain(listener: Listener) -> None:
    """Forget what arrived so far (reports of a process since killed)."""
    while not listener.messages.empty():
        listener.messages.get_nowait()


def config_version_online(statuses: Listener, version: int, timeout: float = 60.0) -> None:
    """Wait for an online report from a buoy running configuration ``version``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = decoded_status(statuses, timeout=max(0.1, deadline - time.monotonic()))
        if status.online and status.detail.get("config_version") == version:
            return
    raise AssertionError(f"no online report under configuration v{version}")


@pytest.mark.slow
def test_a_replaced_config_changes_the_sampling_interval_of_the_running_buoy(
    buoy_process: Callable[..., Buoy],
    admin: Admin,
    statuses: Listener,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The simulated paddle wheel counts pulses for 10 s, so cycles are too slow to time;
    the daemon's own line for ``systemctl status`` says which interval it samples at."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    buoy = buoy_process(sampling={"interval_s": 5.0})
    buoy.start()
    config_version_online(statuses, 0)
    text = new_config_text(buoy.path, interval_s=0.25)
    reply = admin.ask(Command("cfg-1", "replace_config", toml_args(1, text)), timeout=60)
    assert reply.ok and reply.result == {"version": 1}
    config_version_online(statuses, 1)  # restarted in-process under v1
    wait_until(lambda: buoy.trial_starts() is None, 60, "the trial to be closed (checked in)")
    lines: list[str] = []
    notify.settimeout(60)
    while "STATUS=sampling every 0.25 s" not in (lines[-1] if lines else "").split(";")[0]:
        lines.append(notify.recv(4096).decode())
    notify.close()
    assert buoy.process is not None and buoy.process.poll() is None
    assert buoy.path.read_text() == text


@pytest.mark.slow
def test_a_config_that_cannot_reach_the_broker_is_rolled_back_after_its_restarts(
    buoy_process: Callable[..., Buoy], admin: Admin, statuses: Listener
) -> None:
    buoy = buoy_process(sampling={"interval_s": 0.5})
    original = buoy.path.read_text()
    buoy.start()
    config_version_online(statuses, 0)
    dead = original.replace(f"port = {admin.listener.client.port}", f"port = {free_port()}")
    assert dead != original
    assert admin.ask(Command("cfg-1", "replace_config", toml_args(1, dead)), timeout=60).ok
    for starts in (1, 2, 3):  # the in-process restart, then two restarts by "systemd"
        wait_until(lambda s=starts: buoy.trial_starts() == s, 60, f"start {starts} on trial")
        assert buoy.path.read_text() == dead
        buoy.kill()
        drain(statuses)
        buoy.start()
    config_version_online(statuses, 0)  # the fourth start rolled back, and it is online
    assert buoy.path.read_text() == original
    assert buoy.trial_starts() is None


@pytest.mark.slow
def test_a_command_received_just_before_a_kill_is_applied_once_after_the_restart(
    buoy_process: Callable[..., Buoy], admin: Admin, statuses: Listener
) -> None:
    """The kill lands between the command's record and its application: the log holds it as
    received, unanswered, exactly as that crash leaves it."""
    buoy = buoy_process()
    buoy.start()
    config_version_online(statuses, 0)
    buoy.kill()
    with CalibrationStore.in_dir(buoy.data) as store:
        before = len(store.history())  # the simulated installation's own records
    command = Command("cal-1", "calibrate", {"procedure": "turbidity.clear_water"})
    with CommandLog.in_dir(buoy.data) as log:
        log.receive(command, round(time.time() * 1000))
    buoy.start()
    _, reply = admin.reply(timeout=60)
    assert reply.id == "cal-1" and reply.ok, reply
    version = reply.result["calibration_version"]
    buoy.kill()
    drain(statuses)
    buoy.start()
    config_version_online(statuses, 0)
    # The first cycle takes 10 simulated seconds (the paddle wheel counts pulses); commands wait.
    assert admin.ask(command, timeout=60) == reply  # the stored reply; nothing acts again
    buoy.kill()
    with CalibrationStore.in_dir(buoy.data) as store:
        done = [(r.procedure, r.version) for r in store.history()[before:]]
    assert done == [("turbidity.clear_water", version)]
