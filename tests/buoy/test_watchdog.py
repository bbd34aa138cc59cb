from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from buoy.watchdog import LivenessGate, Notifier, watchdog_interval


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def systemd_socket() -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket bound where systemd's would be: ``(NOTIFY_SOCKET value, socket)``.

    The folder is short-named: a unix socket path must fit in 108 bytes.
    """
    with tempfile.TemporaryDirectory(prefix="nfy", dir="/tmp") as folder:
        path = str(Path(folder) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(2)
        yield path, sock
        sock.close()


def received(sock: socket.socket) -> bytes:
    return sock.recv(4096)


def test_ready_ping_status_and_stopping_arrive_as_sd_notify_datagrams(
    systemd_socket: tuple[str, socket.socket],
) -> None:
    path, sock = systemd_socket
    with Notifier.from_environment({"NOTIFY_SOCKET": path}) as notifier:
        assert notifier.enabled
        assert notifier.ready()
        assert received(sock) == b"READY=1"
        assert notifier.ping()
        assert received(sock) == b"WATCHDOG=1"
        assert notifier.status("sampling\nevery 60 s")
        assert received(sock) == b"STATUS=sampling every 60 s"
        assert notifier.stopping()
        assert received(sock) == b"STOPPING=1"


def test_abstract_namespace_socket_is_reached_through_its_at_sign() -> None:
    name = f"nemopi-test-{os.getpid()}-{id(object())}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        with Notifier(f"@{name}") as notifier:
            assert notifier.ping()
        assert received(sock) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.ping()
    notifier.close()
    notifier.close()


def test_a_vanished_socket_is_reported_as_false_and_logged_once(
    systemd_socket: tuple[str, socket.socket], caplog: pytest.LogCaptureFixture
) -> None:
    path, sock = systemd_socket
    notifier = Notifier(path)
    assert notifier.ping()
    sock.close()
    os.unlink(path)
    with caplog.at_level(logging.WARNING, logger="buoy.watchdog"):
        assert not notifier.ping()
        assert not notifier.ping()
    assert len(caplog.records) == 1
    notifier.close()


def test_a_socket_name_that_is_not_a_unix_path_disables_notification() -> None:
    notifier = Notifier("vsock:2:1234")
    assert not notifier.enabled
    assert not notifier.ping()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "120000000"}, 120.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "4242"}, 120.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "4243"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_applies_only_to_the_watched_process(
    environ: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(environ, pid=4242) == expected


def test_gate_stops_pings_when_cycles_stop_completing() -> None:
    clock = FakeMonotonic()
    gate = LivenessGate(max_silence_s=150, ping_every_s=30, monotonic=clock)
    assert gate.ping_due()  # start-up counts as a completed cycle
    clock.now += 60
    gate.cycle_completed()
    clock.now += 150
    assert gate.alive() and gate.ping_due()
    clock.now += 0.001  # the sampler has hung: no cycle for longer than allowed
    assert not gate.alive()
    assert not gate.ping_due()
    clock.now += 1000
    assert not gate.ping_due()
    gate.cycle_completed()  # it recovered before systemd gave up
    assert gate.ping_due()


def test_gate_spaces_pings_while_alive() -> None:
    clock = FakeMonotonic()
    gate = LivenessGate(max_silence_s=600, ping_every_s=30, monotonic=clock)
    pings = 0
    for _ in range(200):  # 100 s in half-second loop ticks, a cycle every tick
        gate.cycle_completed()
        pings += gate.ping_due()
        clock.now += 0.5
    assert pings == 4  # at 0, 30, 60 and 90 s


def test_gate_rejects_a_silence_limit_that_could_never_be_met() -> None:
    with pytest.raises(ValueError):
        LivenessGate(max_silence_s=0, ping_every_s=1, monotonic=FakeMonotonic())
