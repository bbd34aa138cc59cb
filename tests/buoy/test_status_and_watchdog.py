"""systemd's watchdog as a real daemon process speaks it: the test binds the unix datagram
socket systemd would (``NOTIFY_SOCKET``) and reads what arrives."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokers import Mosquitto
from tests.buoy.conftest import write_config
from tests.buoy.fake_ingest import wait_until

ROOT = Path(__file__).resolve().parents[2]


def received(sock: socket.socket, within_s: float) -> list[str]:
    """Every notification line that arrives within ``within_s`` seconds."""
    lines: list[str] = []
    deadline = time.monotonic() + within_s
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            lines += sock.recv(4096).decode().splitlines()
        except TimeoutError:
            break
    return lines


def wait_for(sock: socket.socket, line: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if line in sock.recv(4096).decode().splitlines():
                return
        except TimeoutError:
            break
    raise AssertionError(f"no {line} within {timeout_s} s")


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    yield sock
    sock.close()


@pytest.mark.slow
def test_watchdog_pings_flow_while_sampling_runs_and_stop_when_a_driver_hangs(
    tmp_path: Path, mosquitto: Mosquitto, notify_socket: socket.socket
) -> None:
    path = write_config(tmp_path / "buoy.toml", mosquitto.port, tmp_path / "data")
    hang = tmp_path / "hang"
    env = os.environ | {
        "NOTIFY_SOCKET": str(tmp_path / "notify"),
        "WATCHDOG_USEC": "1000000",  # WatchdogSec=1: a ping every 0.5 s
    }
    with (tmp_path / "daemon.log").open("ab") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.buoy.daemon_child", str(path), str(hang)],
            stderr=err,
            cwd=ROOT,
            env=env,
        )
    try:
        wait_for(notify_socket, "READY=1", 20.0)
        running = received(notify_socket, 3.0)
        assert running.count("WATCHDOG=1") >= 3, running
        assert any(line.startswith("STATUS=sampling every") for line in running)
        hang.touch()
        wait_until(hang.with_suffix(".hung").exists, timeout=10)
        received(notify_socket, 0.6)  # a ping already on its way
        hung = received(notify_socket, 3.0)
        assert "WATCHDOG=1" not in hung, hung
        hang.unlink()
        wait_for(notify_socket, "WATCHDOG=1", 5.0)  # sampling again, pinging again
        process.terminate()
        wait_for(notify_socket, "STOPPING=1", 10.0)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
