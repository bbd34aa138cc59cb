"""Live first, batch sizes that follow the link, and a drain-rate cap (docs/delivery.md).

The delivery runs in this process against a real Mosquitto and an acking ingest; the buoy's
link goes through ``DelayProxy``, which holds back what the broker sends (PUBACKs included)
for as long as the test says, as a congested cellular link does.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from buoy.backoff import Backoff
from buoy.config import BuoyConfig
from buoy.delivery import Delivery
from buoy.outbox import Draft, Outbox
from buoy.pacing import Pacer
from buoy.uplink import Uplink
from nemopi import wire
from nemopi.topics import Channel, Topics
from nemopi.wire import Batch, ClockSource, Value
from sensors.clock import SystemClock
from tests.brokers import Mosquitto, free_port
from tests.buoy.conftest import BUOY
from tests.buoy.fake_ingest import AckingIngest, Listener, wait_until
from tests.buoy.processes import report

T0 = 1_750_000_000_000


# ---------------------------------------------------------------- the rules, without a broker


def test_batch_size_doubles_on_quick_full_acks_halves_on_slow_ones_and_resets() -> None:
    pacer = Pacer(max_batch=16, fast_ack_s=1.0, drain_rate=0)
    sizes = []
    for _ in range(6):
        pacer.acked(pacer.size, after_s=0.1)
        sizes.append(pacer.size)
    assert sizes == [2, 4, 8, 16, 16, 16]
    pacer.acked(3, after_s=0.1)  # a short batch proves nothing about a larger one
    assert pacer.size == 16
    pacer.acked(16, after_s=1.5)
    pacer.acked(8, after_s=1.5)
    assert pacer.size == 4
    pacer.timed_out()
    assert pacer.size == 1
    pacer.acked(1, after_s=9.0)
    assert pacer.size == 1  # never below one
    pacer.acked(1, after_s=0.1)
    pacer.connected()
    assert pacer.size == 1


def test_drain_rate_spaces_backlog_batches_by_their_size() -> None:
    pacer = Pacer(max_batch=10, fast_ack_s=1.0, drain_rate=4.0)
    assert pacer.backlog_allowed(100.0)
    pacer.backlog_sent(10, 100.0)
    assert not pacer.backlog_allowed(102.49)
    assert pacer.backlog_allowed(102.5)
    unlimited = Pacer(max_batch=10, fast_ack_s=1.0, drain_rate=0)
    unlimited.backlog_sent(10, 100.0)
    assert unlimited.backlog_allowed(100.0)


def test_bad_pacing_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="drain_rate"):
        Pacer(max_batch=10, fast_ack_s=1.0, drain_rate=-1)


# ---------------------------------------------------------------- a link that answers late


class DelayProxy:
    """Forwards TCP from a free port to ``target_port``; what comes back from the target is
    delivered ``delay`` seconds (settable at any time) after it arrived."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.delay = 0.0
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            held: queue.Queue[tuple[float, bytes]] = queue.Queue()
            threading.Thread(target=self._copy, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._hold, args=(upstream, held), daemon=True).start()
            threading.Thread(target=self._release, args=(held, client), daemon=True).start()

    @staticmethod
    def _copy(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def _hold(self, source: socket.socket, held: queue.Queue[tuple[float, bytes]]) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                held.put((time.monotonic() + self.delay, data))
        held.put((0.0, b""))

    def _release(self, held: queue.Queue[tuple[float, bytes]], sink: socket.socket) -> None:
        while True:
            due, data = held.get()
            if not data:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
                return
            time.sleep(max(0.0, due - time.monotonic()))
            with contextlib.suppress(OSError):
                sink.sendall(data)

    def close(self) -> None:
        self._closing.set()
        self._server.close()
        for sock in self._sockets:
            sock.close()


# ---------------------------------------------------------------- a delivery in this process


@dataclass
class Arrival:
    at: float
    seqs: tuple[int, ...]


class Recorder:
    """Every data batch as the broker delivers it, with the time it arrived."""

    def __init__(self, mosquitto: Mosquitto) -> None:
        topic = Topics("nemopi").topic(BUOY, Channel.DATA)
        self.arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        self.listener = Listener(mosquitto.host, mosquitto.port, topic, "test-recorder")
        self.listener.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        batch = wire.decode(message.payload, expect=wire.Kind.DATA)
        assert isinstance(batch, Batch)
        with self._lock:
            self.arrivals.append(Arrival(time.monotonic(), tuple(s.seq for s in batch.samples)))

    def seen(self) -> list[Arrival]:
        with self._lock:
            return list(self.arrivals)

    def first_seen(self, seq: int) -> float | None:
        return next((a.at for a in self.seen() if seq in a.seqs), None)


@dataclass
class Buoy:
    outbox: Outbox
    delivery: Delivery
    appended: int = 0

    def append(self, n: int) -> list[int]:
        seqs = []
        for _ in range(n):
            draft = Draft(
                T0 + 60_000 * self.appended,
                ClockSource.NTP,
                {"water_temperature": Value(20 + self.appended / 100)},
            )
            seqs.append(self.outbox.append(draft).seq)
            self.appended += 1
        return seqs


@pytest.fixture
def make_buoy(
    make_config: Callable[..., BuoyConfig], tmp_path: Path
) -> Iterator[Callable[..., Buoy]]:
    opened: list[tuple[Outbox, Uplink]] = []

    def make(backlog: int, port: int | None = None, **uplink: float) -> Buoy:
        config = make_config(uplink={"resend_after_s": 60.0, **uplink})
        mqtt_settings = config.mqtt
        if port is not None:
            mqtt_settings = type(config.mqtt)(**{**vars(config.mqtt), "port": port})
        clock = SystemClock()
        outbox = Outbox(tmp_path / "outbox.sqlite3", BUOY, config.uplink.resend_after_s)
        link = Uplink(BUOY, mqtt_settings, Backoff(0.05, 0.2), lambda: round(clock.utc() * 1000))
        opened.append((outbox, link))
        buoy = Buoy(outbox, Delivery(outbox, link, config.uplink, clock))
        buoy.append(backlog)
        link.start()
        return buoy

    yield make
    for outbox, link in opened:
        link.stop()
        outbox.close()


@pytest.mark.slow
def test_newest_first_then_the_backlog_oldest_first_with_live_readings_between(
    make_buoy: Callable[..., Buoy],
    mosquitto: Mosquitto,
    ingest: AckingIngest,
    record_property: Callable[[str, object], None],
) -> None:
    """After a (re)connection the newest reading goes alone and first; the backlog follows
    oldest first, and a reading taken during a long drain goes out within a batch or two
    rather than after the whole backlog."""
    recorder = Recorder(mosquitto)
    backlog = 300
    buoy = make_buoy(backlog, max_batch=10, drain_rate=40.0)
    taken: dict[int, float] = {}
    next_sample = time.monotonic() + 0.5

    def drained() -> bool:
        nonlocal next_sample
        buoy.delivery.service(0.02)
        if time.monotonic() >= next_sample and len(ingest.seqs(BUOY)) < backlog - 20:
            (seq,) = buoy.append(1)
            taken[seq] = time.monotonic()
            next_sample += 0.5
        return buoy.outbox.depth() == 0

    wait_until(drained, 60, "the backlog to drain")
    recorder.listener.close()
    arrivals = recorder.seen()
    assert arrivals[0].seqs == (backlog,)
    backlog_order = [s for a in arrivals[1:] for s in a.seqs if s < backlog]
    assert backlog_order == list(range(1, backlog))
    assert len(taken) >= 5, "too few readings taken during the drain to test"
    backlog_done = recorder.first_seen(backlog - 1)
    assert backlog_done is not None
    delays = []
    for seq, at in taken.items():
        seen = recorder.first_seen(seq)
        assert seen is not None and seen < backlog_done, f"live seq {seq} waited for the backlog"
        delays.append(seen - at)
    report(
        record_property,
        "longest wait of a live reading during the drain (s)",
        round(max(delays), 2),
    )
    assert max(delays) < 2.0
    assert ingest.seqs(BUOY) == set(range(1, buoy.appended + 1)) and ingest.conflicts == []


@pytest.mark.slow
def test_backlog_drains_no_faster_than_the_drain_rate(
    make_buoy: Callable[..., Buoy],
    mosquitto: Mosquitto,
    ingest: AckingIngest,
    record_property: Callable[[str, object], None],
) -> None:
    rate, max_batch, backlog = 25.0, 10, 200
    recorder = Recorder(mosquitto)
    buoy = make_buoy(backlog, max_batch=max_batch, drain_rate=rate)
    wait_until(lambda: buoy.delivery.service(0.02) or buoy.outbox.depth() == 0, 60, "the drain")
    recorder.listener.close()
    backlog_batches = recorder.seen()[1:]  # after the newest reading, which goes unthrottled
    start = backlog_batches[0].at
    sent = 0
    for batch in backlog_batches:
        # Before this batch left, the ones before it had earned their time at ``rate``; the
        # broker's delivery to the recorder can bunch arrivals by a few tens of ms.
        assert sent <= rate * (batch.at - start) + 0.25 * rate, f"too fast at {batch.seqs}"
        sent += len(batch.seqs)
    measured = (sent - len(backlog_batches[-1].seqs)) / (backlog_batches[-1].at - start)
    report(
        record_property, "backlog drain rate with a cap of 25/s (readings/s)", round(measured, 1)
    )
    assert measured <= rate * 1.05
    assert ingest.seqs(BUOY) == set(range(1, backlog + 1))


@pytest.mark.slow
def test_batch_size_grows_on_quick_acks_and_shrinks_when_they_come_late(
    make_buoy: Callable[..., Buoy], mosquitto: Mosquitto, ingest: AckingIngest
) -> None:
    """Quick PUBACKs double the batch up to max_batch; PUBACKs later than fast_ack_s halve it
    down to one reading; quick ones again grow it back."""
    proxy = DelayProxy(mosquitto.port)
    recorder = Recorder(mosquitto)
    buoy = make_buoy(2000, port=proxy.port, max_batch=16, fast_ack_s=1.0)

    def sizes() -> list[int]:
        return [len(a.seqs) for a in recorder.seen()]

    def pump_until(condition: Callable[[list[int]], bool], timeout: float, what: str) -> None:
        def check() -> bool:
            buoy.delivery.service(0.02)
            return condition(sizes())

        wait_until(check, timeout, what)

    try:
        pump_until(lambda seen: 16 in seen, 30, "the batch to grow to 16")
        assert sizes()[:5] == [1, 2, 4, 8, 16]
        proxy.delay = 2.0
        quick = len(sizes())  # the batch in flight may still be acknowledged in time
        pump_until(lambda seen: 1 in seen[quick:], 60, "the batch to shrink to 1")
        seen = sizes()
        shrinking = seen[quick : seen.index(1, quick) + 1]
        assert shrinking == sorted(shrinking, reverse=True)
        assert len(shrinking) <= 6  # halved each time: 16 (or the one in flight), 8, 4, 2, 1
        proxy.delay = 0.0
        slow = len(sizes())
        pump_until(lambda seen: 16 in seen[slow:], 60, "the batch to grow again")
    finally:
        recorder.listener.close()
        proxy.close()
    assert ingest.conflicts == []
