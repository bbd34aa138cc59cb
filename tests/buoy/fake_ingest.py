"""Test-side MQTT clients: a listener that records messages, and an ingest that acks batches."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from nemopi import wire
from nemopi.topics import Channel, Topics
from nemopi.wire import Batch, Sample, StoredAck


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.02)


class Listener:
    """Subscribes to ``topic`` and keeps every message (topic, payload, retain) it receives."""

    def __init__(self, host: str, port: int, topic: str, client_id: str = "") -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        # (re)subscribe on every connection: paho reconnects by itself after a broker restart
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.connect(host, port)
        self.client.loop_start()
        if not subscribed.wait(5):
            raise AssertionError("test subscriber could not subscribe")

    def get(self, timeout: float = 10.0) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client._reset_sockets()  # paho frees its wake-up socket pair only on __del__


def ranges(seqs: set[int]) -> tuple[tuple[int, int], ...]:
    """Ascending inclusive runs covering ``seqs``."""
    out: list[tuple[int, int]] = []
    for seq in sorted(seqs):
        if out and out[-1][1] == seq - 1:
            out[-1] = (out[-1][0], seq)
        else:
            out.append((seq, seq))
    return tuple(out)


class AckingIngest:
    """Stores every sample of every batch once by seq and acks each batch's seqs, like the
    real ingest. ``acking`` can be switched off to leave rows unconfirmed."""

    def __init__(self, host: str, port: int, prefix: str = "nemopi") -> None:
        self.topics = Topics(prefix)
        self.stored: dict[tuple[str, int], Sample] = {}
        self.batches: list[Batch] = []
        self.conflicts: list[tuple[Sample, Sample]] = []  # one seq, two different samples
        self.acking = True
        self._lock = threading.Lock()
        self.listener = Listener(host, port, self.topics.all_buoys(Channel.DATA), "test-ingest")
        self.listener.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        batch = wire.decode(message.payload, expect=wire.Kind.DATA)
        assert isinstance(batch, Batch)
        with self._lock:
            self.batches.append(batch)
            for sample in batch.samples:
                kept = self.stored.setdefault((batch.buoy, sample.seq), sample)
                if kept != sample:
                    self.conflicts.append((kept, sample))
            acking = self.acking
        if acking:
            ack = StoredAck(batch.buoy, ranges({s.seq for s in batch.samples}))
            topic = self.topics.topic(batch.buoy, Channel.STORED)
            client.publish(topic, wire.encode(ack), qos=1)

    def seqs(self, buoy: str) -> set[int]:
        with self._lock:
            return {seq for b, seq in self.stored if b == buoy}

    def close(self) -> None:
        self.listener.close()
