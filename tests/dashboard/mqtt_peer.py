"""A buoy's side of MQTT for tests: publishes payloads and collects the ingest's StoredAcks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from nemopi.topics import Channel, Topics
from nemopi.wire import StoredAck, decode
from tests.brokers import Mosquitto


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)


class BuoyPeer:
    def __init__(self, broker: Mosquitto, topics: Topics) -> None:
        self.topics = topics
        self._acks: list[StoredAck] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise TimeoutError("test client did not subscribe")

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe(self.topics.all_buoys(Channel.STORED), qos=1)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        ack = decode(msg.payload)
        assert isinstance(ack, StoredAck)
        assert self.topics.parse(msg.topic) == (ack.buoy, Channel.STORED)
        with self._lock:
            self._acks.append(ack)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def publish_to(self, buoy: str, channel: Channel, payload: bytes) -> None:
        self.publish(self.topics.topic(buoy, channel), payload)

    def confirmed(self, buoy: str) -> set[int]:
        with self._lock:
            return {
                seq
                for ack in self._acks
                if ack.buoy == buoy
                for first, last in ack.ranges
                for seq in range(first, last + 1)
            }

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self._client._reset_sockets()  # paho frees its wake-up socket pair only on __del__
