"""Real nemopi processes for end-to-end tests: started as the CLI starts them, stopped cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt

from nemopi.topics import Channel, Topics
from nemopi.wire import Batch, Kind, WireFormatError, decode

ROOT = Path(__file__).resolve().parents[2]


def nemopi_process(log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "nemopi.cli", *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    return process.wait(timeout)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


class WireRecorder:
    """Subscribes to every buoy's data topic and keeps each decoded batch, as sent.

    It subscribes again on every connection, so it goes on recording after a broker restart
    (what was published while it was away is not seen)."""

    def __init__(self, port: int, prefix: str = "nemopi") -> None:
        self.batches: list[Batch] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        topic = Topics(prefix).all_buoys(Channel.DATA)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="e2e-recorder")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("recorder could not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            batch = decode(msg.payload, expect=Kind.DATA)
        except WireFormatError:
            return
        with self._lock:
            self.batches.append(batch)  # type: ignore[arg-type]

    def sent(self) -> list[Batch]:
        with self._lock:
            return list(self.batches)

    def close(self) -> None:
        self.client.loop_stop()
        self.client._reset_sockets()  # paho frees its wake-up socket pair only on __del__
        self.client.disconnect()


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren, ...), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def kill_all(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
