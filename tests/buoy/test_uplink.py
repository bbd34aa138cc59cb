from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from buoy.backoff import Backoff
from buoy.config import BuoyConfig
from buoy.delivery import Delivery
from buoy.outbox import Draft, Outbox
from buoy.uplink import Uplink
from nemopi import wire
from nemopi.topics import Channel, Topics
from nemopi.wire import Batch, ClockSource, Status, StoredAck, Value
from sensors.clock import SystemClock
from tests.brokers import Mosquitto
from tests.buoy.conftest import BUOY
from tests.buoy.fake_ingest import AckingIngest, Listener, wait_until

TOPICS = Topics("nemopi")
T0 = 1_750_000_000_000


@dataclass
class Link:
    outbox: Outbox
    uplink: Uplink
    delivery: Delivery

    def pump_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Run the delivery loop (as the daemon would) until ``condition`` holds."""

        def check() -> bool:
            self.delivery.service(0.02)
            return condition()

        wait_until(check, timeout)

    def append(self, n: int) -> list[int]:
        return [
            self.outbox.append(
                Draft(T0 + i, ClockSource.NTP, {"water_temperature": Value(20 + i / 8)})
            ).seq
            for i in range(n)
        ]


@pytest.fixture
def link(make_config: Callable[..., BuoyConfig], tmp_path: Path) -> Iterator[Link]:
    config = make_config(uplink={"max_batch": 10})
    clock = SystemClock()
    outbox = Outbox(tmp_path / "outbox.sqlite3", BUOY, config.uplink.resend_after_s)
    uplink = Uplink(BUOY, config.mqtt, Backoff(0.05, 0.2), lambda: round(clock.utc() * 1000))
    uplink.start()
    yield Link(outbox, uplink, Delivery(outbox, uplink, config.uplink, clock))
    uplink.stop()
    outbox.close()


def test_samples_arrive_as_valid_batches_bounded_and_in_order(
    link: Link, mosquitto: Mosquitto
) -> None:
    listener = Listener(mosquitto.host, mosquitto.port, TOPICS.topic(BUOY, Channel.DATA))
    seqs = link.append(25)
    received: list[int] = []

    def all_received() -> bool:
        while not listener.messages.empty():
            batch = wire.decode(listener.get().payload, expect=wire.Kind.DATA)
            assert isinstance(batch, Batch) and batch.buoy == BUOY
            assert 1 <= len(batch.samples) <= 10
            received.extend(s.seq for s in batch.samples)
        return len(received) >= len(seqs)

    link.pump_until(all_received)
    assert received == [seqs[-1], *seqs[:-1]]  # live first: the newest, then oldest first
    listener.close()


def test_stored_ack_deletes_exactly_the_covered_rows(link: Link, mosquitto: Mosquitto) -> None:
    seqs = link.append(6)
    link.pump_until(lambda: link.delivery._batch is None and not link.outbox.due(10, 0.0))
    admin = Listener(mosquitto.host, mosquitto.port, "unused/#")
    ack = StoredAck(BUOY, ((seqs[0], seqs[1]), (seqs[4], seqs[4])))
    admin.publish(TOPICS.topic(BUOY, Channel.STORED), wire.encode(ack))
    link.pump_until(lambda: link.outbox.depth() == 3)
    assert [s.seq for s in link.outbox.due(10, math.inf)] == [seqs[2], seqs[3], seqs[5]]
    admin.close()


def test_bad_or_foreign_stored_payloads_are_ignored(link: Link, mosquitto: Mosquitto) -> None:
    link.append(2)
    admin = Listener(mosquitto.host, mosquitto.port, "unused/#")
    topic = TOPICS.topic(BUOY, Channel.STORED)
    wait_until(lambda: link.uplink.connected)
    admin.publish(topic, b"\x01\x02garbage")
    admin.publish(topic, wire.encode(Status(BUOY, True, T0)))
    admin.publish(topic, wire.encode(StoredAck("reef-99", ((1, 2),))))
    admin.publish(topic, wire.encode(StoredAck(BUOY, ((2, 2),))))  # the marker: valid
    link.pump_until(lambda: link.outbox.depth() == 1)
    assert [s.seq for s in link.outbox.due(10, math.inf)] == [1]
    admin.close()


def test_status_is_retained_online_while_connected(link: Link, mosquitto: Mosquitto) -> None:
    link.pump_until(lambda: link.uplink.connected and not link.delivery._status_mids)
    late = Listener(mosquitto.host, mosquitto.port, TOPICS.topic(BUOY, Channel.STATUS))
    message = late.get()
    status = wire.decode(message.payload, expect=wire.Kind.STATUS)
    assert message.retain
    assert isinstance(status, Status) and status.online
    assert status.valid_until_ms is not None and status.valid_until_ms > status.as_of_ms
    late.close()


@pytest.mark.slow
def test_broker_restart_mid_stream_loses_nothing(
    link: Link, mosquitto: Mosquitto, ingest: AckingIngest
) -> None:
    link.append(40)
    link.pump_until(lambda: len(ingest.seqs(BUOY)) >= 10)
    mosquitto.kill()  # loses whatever it had not persisted, PUBACKed or not
    link.append(40)
    mosquitto.start()
    link.pump_until(lambda: link.outbox.depth() == 0, timeout=30)
    assert ingest.seqs(BUOY) == set(range(1, 81))
    assert ingest.conflicts == []
