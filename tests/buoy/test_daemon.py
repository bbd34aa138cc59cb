from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from buoy.config import BuoyConfig, load_buoy_config
from buoy.daemon import OUTBOX_FILE, BuoyDaemon, SensorSetupError, run
from nemopi import wire
from nemopi.configfile import ConfigError
from nemopi.sensor_status import SensorStatus
from nemopi.topics import Channel, Topics
from nemopi.wire import Status
from sensors.clock import SimulatedClock, SystemClock
from tests.brokers import Mosquitto
from tests.buoy.conftest import BUOY, write_config
from tests.buoy.fake_ingest import AckingIngest, Listener, wait_until
from tests.buoy.fake_sensors import BrokenDriver, Thermometer

STATUS_TOPIC = Topics("nemopi").topic(BUOY, Channel.STATUS)


def rows_waiting(config: BuoyConfig) -> int:
    """The outbox depth, read as a separate process would (WAL lets readers in)."""
    db = sqlite3.connect(config.data_dir / OUTBOX_FILE)
    try:
        return int(db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    finally:
        db.close()


@contextmanager
def running(daemon: BuoyDaemon) -> Iterator[threading.Thread]:
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        yield thread
    finally:
        daemon.request_stop()
        thread.join(10)
        daemon.close()
    assert not thread.is_alive()


def test_daemon_samples_and_drains_outbox_despite_a_raising_driver(
    make_config: Callable[..., BuoyConfig], ingest: AckingIngest
) -> None:
    config = make_config(sampling={"interval_s": 0.02})
    thermometer, broken = Thermometer(), BrokenDriver()
    daemon = BuoyDaemon(config, [thermometer, broken], SystemClock())
    with running(daemon):
        wait_until(lambda: len(ingest.seqs(BUOY)) >= 20 and rows_waiting(config) == 0)
    seqs = ingest.seqs(BUOY)
    assert seqs == set(range(1, max(seqs) + 1))
    assert broken.reads >= 20
    samples = [ingest.stored[(BUOY, seq)] for seq in sorted(seqs)]
    assert all(s.values["ph"].status is SensorStatus.DEVICE_ERROR for s in samples)
    temperatures = [s.values["water_temperature"].value for s in samples]
    assert temperatures == [25.0 + 0.25 * i for i in range(len(samples))]
    assert thermometer.closed == 1


def test_an_accelerated_clock_gets_every_sampling_cycle(
    make_config: Callable[..., BuoyConfig], ingest: AckingIngest
) -> None:
    """Waits are converted to real time: 40 clock-seconds a cycle at 400x is 0.1 s real."""
    config = make_config(sampling={"interval_s": 40.0})
    clock = SimulatedClock(start_utc=1.8e9, speedup=400.0)
    daemon = BuoyDaemon(config, [Thermometer()], clock)
    with running(daemon):
        started = clock.monotonic()
        wait_until(lambda: len(ingest.seqs(BUOY)) >= 12)
        elapsed = clock.monotonic() - started
    assert len(ingest.seqs(BUOY)) >= elapsed / 40.0 - 2  # no cycle skipped


@pytest.mark.slow
def test_sampling_goes_on_while_the_broker_is_down_and_backlog_drains_after(
    make_config: Callable[..., BuoyConfig], mosquitto: Mosquitto
) -> None:
    config = make_config()
    mosquitto.stop()
    daemon = BuoyDaemon(config, [Thermometer()], SystemClock())
    with running(daemon):
        wait_until(lambda: rows_waiting(config) >= 20)
        mosquitto.start()
        ingest = AckingIngest(mosquitto.host, mosquitto.port)
        wait_until(lambda: len(ingest.seqs(BUOY)) >= 30 and rows_waiting(config) == 0)
    assert ingest.seqs(BUOY) == set(range(1, max(ingest.seqs(BUOY)) + 1))
    ingest.close()


@pytest.mark.slow
def test_rows_the_broker_acked_but_the_ingest_never_stored_are_sent_again(
    make_config: Callable[..., BuoyConfig], ingest: AckingIngest
) -> None:
    ingest.acking = False  # the broker PUBACKs, nobody confirms storage
    config = make_config(sampling={"interval_s": 3600.0}, uplink={"resend_after_s": 1.0})
    daemon = BuoyDaemon(config, [Thermometer()], SystemClock())
    with running(daemon):
        wait_until(lambda: len(ingest.batches) == 1)
        ingest.acking = True
        wait_until(lambda: rows_waiting(config) == 0, timeout=5)
    assert len(ingest.batches) >= 2
    assert all(b.samples[0].seq == 1 for b in ingest.batches)


def test_run_on_hardware_without_an_i2c_bus_names_the_setting(tmp_path: Path) -> None:
    path = write_config(tmp_path / "buoy.toml", 1883, tmp_path / "data")
    with path.open("a", encoding="utf-8") as f:
        f.write("\n[hardware]\ni2c_bus = 9\n")  # no /dev/i2c-9 on a test machine
    with pytest.raises(ConfigError, match=r"hardware\.i2c_bus"):
        run(path, simulate=False)


def test_run_refuses_a_simulation_whose_clock_does_not_run(tmp_path: Path) -> None:
    path = write_config(tmp_path / "buoy.toml", 1883, tmp_path / "data")
    with path.open("a", encoding="utf-8") as f:
        f.write("\n[simulation]\nspeedup = 0.0\n")
    with pytest.raises(SensorSetupError, match=r"simulation\.speedup"):
        run(path, simulate=True)


# ---------------------------------------------------------------- a real daemon process


@contextmanager
def daemon_process(config_path: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.buoy.daemon_child", str(config_path)],
            stderr=err,
            cwd=Path(__file__).parents[2],
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def latest_status(listener: Listener, timeout: float = 10.0) -> Status:
    status = wire.decode(listener.get(timeout).payload, expect=wire.Kind.STATUS)
    assert isinstance(status, Status)
    return status


@pytest.mark.slow
def test_last_will_says_offline_when_the_daemon_is_killed(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    path = write_config(tmp_path / "buoy.toml", mosquitto.port, tmp_path / "data")
    watcher = Listener(mosquitto.host, mosquitto.port, STATUS_TOPIC)
    with daemon_process(path, tmp_path / "daemon.log") as process:
        assert latest_status(watcher).online
        process.send_signal(signal.SIGKILL)
        assert not latest_status(watcher).online
    late = Listener(mosquitto.host, mosquitto.port, STATUS_TOPIC)
    assert not latest_status(late).online  # retained for whoever looks next
    watcher.close()
    late.close()


@pytest.mark.slow
def test_sigterm_stops_cleanly_with_exit_0_and_an_offline_status(
    tmp_path: Path, mosquitto: Mosquitto, ingest: AckingIngest
) -> None:
    path = write_config(tmp_path / "buoy.toml", mosquitto.port, tmp_path / "data")
    watcher = Listener(mosquitto.host, mosquitto.port, STATUS_TOPIC)
    with daemon_process(path, tmp_path / "daemon.log") as process:
        assert latest_status(watcher).online
        wait_until(lambda: len(ingest.seqs(BUOY)) >= 5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    assert not latest_status(watcher).online
    assert "Traceback" not in (tmp_path / "daemon.log").read_text()
    watcher.close()


@pytest.mark.slow
def test_killed_and_restarted_daemon_loses_nothing_and_reuses_no_seq(
    tmp_path: Path, mosquitto: Mosquitto, ingest: AckingIngest
) -> None:
    path = write_config(tmp_path / "buoy.toml", mosquitto.port, tmp_path / "data")
    log = tmp_path / "daemon.log"
    config = load_buoy_config(path)
    for target in (15, 30, 45):
        with daemon_process(path, log) as process:
            wait_until(lambda t=target: len(ingest.seqs(BUOY)) >= t)  # type: ignore[misc]
            process.send_signal(signal.SIGKILL)
    with daemon_process(path, log) as process:
        wait_until(lambda: rows_waiting(config) == 0 and len(ingest.seqs(BUOY)) >= 60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    seqs = ingest.seqs(BUOY)
    assert seqs == set(range(1, max(seqs) + 1))
    assert ingest.conflicts == []
