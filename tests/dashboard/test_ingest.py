"""The ingest worker against a real Mosquitto and real databases."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from dashboard.config import DatabaseSettings, IngestConfig
from dashboard.db import make_engine
from dashboard.ingest import IngestWorker
from dashboard.intake import Intake, Received
from dashboard.models import buoys
from dashboard.quarantine import Reason
from nemopi.broker_settings import MqttSettings
from nemopi.topics import Channel
from nemopi.wire import Batch, encode
from tests.brokers import Mosquitto, free_port
from tests.dashboard.builders import NOW, batch, sample, status
from tests.dashboard.ingest_harness import (
    PREFIX,
    TOPICS,
    ingest_config,
    register_buoys,
    running,
    scrape,
    sent,
)
from tests.dashboard.mqtt_peer import BuoyPeer, eventually
from tests.dashboard.stored import expected_readings, quarantined, stored_readings


@pytest.fixture
def peer(mosquitto: Mosquitto) -> Iterator[BuoyPeer]:
    client = BuoyPeer(mosquitto, TOPICS)
    yield client
    client.close()


@pytest.fixture
def worker(mosquitto: Mosquitto, engine: Engine, db_url: str) -> Iterator[IngestWorker]:
    register_buoys(engine, "reef-a", "reef-b", "reef-c")
    config = ingest_config(mosquitto, db_url, f"ingest-{uuid.uuid4().hex[:8]}")
    with running(IngestWorker(config, engine)) as w:
        yield w


def test_batches_from_three_buoys_are_stored_once_and_confirmed(
    worker: IngestWorker, peer: BuoyPeer, engine: Engine
) -> None:
    plan = {
        "reef-a": [range(1, 41), range(30, 61), range(1, 41)],  # overlap, then a re-send
        "reef-b": [range(100, 111), range(111, 131)],
        "reef-c": [range(5, 6), range(5, 6), range(5, 6)],
    }
    published = [batch(buoy, seqs) for buoy, runs in plan.items() for seqs in runs]
    for b in published:
        peer.publish_to(b.buoy, Channel.DATA, encode(b))
    wanted = {buoy: {s for r in runs for s in r} for buoy, runs in plan.items()}
    eventually(lambda: all(peer.confirmed(buoy) == seqs for buoy, seqs in wanted.items()))
    assert stored_readings(engine) == expected_readings([sent(b) for b in published])
    assert quarantined(engine) == []


def test_bad_payloads_are_quarantined_and_the_worker_keeps_going(
    worker: IngestWorker, peer: BuoyPeer, engine: Engine
) -> None:
    good = batch("reef-a", range(1, 4))
    garbage = os.urandom(300)
    broken = encode(good)[:-5]
    peer.publish_to("reef-a", Channel.DATA, broken)
    peer.publish_to("reef-a", Channel.DATA, encode(batch("reef-b", [1])))
    peer.publish_to("reef-a", Channel.DATA, garbage)
    peer.publish_to("reef-a", Channel.DATA, encode(good))
    eventually(lambda: peer.confirmed("reef-a") == {1, 2, 3})
    rows = quarantined(engine)
    assert [(topic, payload, size) for topic, _, payload, size in rows] == [
        ("reefnet/reef-a/data", broken, len(broken)),
        ("reefnet/reef-a/data", encode(batch("reef-b", [1])), len(encode(batch("reef-b", [1])))),
        ("reefnet/reef-a/data", garbage, 300),
    ]
    assert rows[1][1] == "payload names another buoy: 'reef-b' on the topic of 'reef-a'"
    assert stored_readings(engine) == expected_readings([sent(good)])
    assert peer.confirmed("reef-b") == set()


def test_each_kind_of_rejection_is_logged_once(
    worker: IngestWorker, peer: BuoyPeer, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dashboard.quarantine")
    for _ in range(5):
        peer.publish_to("reef-a", Channel.DATA, b"\x07\x01garbage")
    peer.publish_to("reef-a", Channel.DATA, encode(batch("reef-a", [1])))
    eventually(lambda: peer.confirmed("reef-a") == {1})
    assert len(quarantined(engine)) == 5
    assert len([r for r in caplog.records if r.name == "dashboard.quarantine"]) == 1


def test_status_messages_update_the_buoy(
    worker: IngestWorker, peer: BuoyPeer, engine: Engine
) -> None:
    peer.publish_to("reef-a", Channel.STATUS, encode(status("reef-a", False)))
    peer.publish_to("reef-a", Channel.STATUS, encode(status("reef-b", True)))  # wrong buoy
    peer.publish_to("reef-a", Channel.DATA, encode(batch("reef-a", [1])))
    eventually(lambda: peer.confirmed("reef-a") == {1})
    with engine.connect() as conn:
        online = select(buoys.c.id, buoys.c.online).where(buoys.c.online.is_not(None))
        assert conn.execute(online).all() == [("reef-a", False)]
    assert len(quarantined(engine)) == 1


def test_unacknowledged_messages_are_delivered_again_after_a_restart(
    mosquitto: Mosquitto,
    peer: BuoyPeer,
    sqlite_url: str,
    sqlite_engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker whose database is down receives a batch but cannot commit it, so it never
    acknowledges it; the broker hands it to the next worker with the same client id."""
    caplog.set_level(logging.WARNING, logger="dashboard.ingest")
    register_buoys(sqlite_engine, "reef-a")
    unreachable = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    down = make_engine(unreachable)
    b = batch("reef-a", range(1, 6))
    try:
        with running(IngestWorker(ingest_config(mosquitto, unreachable, "ingest-x"), down)):
            peer.publish_to("reef-a", Channel.DATA, encode(b))
            eventually(lambda: "database unavailable" in caplog.text)
    finally:
        down.dispose()
    assert peer.confirmed("reef-a") == set()
    config = ingest_config(mosquitto, sqlite_url, "ingest-x")
    with running(IngestWorker(config, sqlite_engine)):
        eventually(lambda: peer.confirmed("reef-a") == set(range(1, 6)))
    assert stored_readings(sqlite_engine) == expected_readings([sent(b)])


def test_metrics_count_messages_readings_duplicates_and_lag_per_buoy(
    mosquitto: Mosquitto, peer: BuoyPeer, sqlite_engine: Engine, sqlite_url: str
) -> None:
    register_buoys(sqlite_engine, "reef-a")
    port = free_port()
    config = ingest_config(mosquitto, sqlite_url, "ingest-metrics", metrics_port=port)
    two_minutes_ago = int(time.time() * 1000) - 120_000
    b = Batch("reef-a", (sample(1, two_minutes_ago - 60_000), sample(2, two_minutes_ago)))
    with running(IngestWorker(config, sqlite_engine)):
        peer.publish_to("reef-a", Channel.DATA, encode(b))
        peer.publish_to("reef-a", Channel.DATA, encode(b))
        peer.publish_to("reef-a", Channel.DATA, b"garbage")
        eventually(lambda: scrape(port).get('nemopi_ingest_messages_total{buoy="reef-a"}') == 2)
        metrics = scrape(port)
    assert metrics['nemopi_ingest_readings_total{buoy="reef-a"}'] == 4
    assert metrics['nemopi_ingest_duplicate_samples_total{buoy="reef-a"}'] == 2
    assert metrics['nemopi_ingest_quarantined_total{reason="malformed payload"}'] == 1
    assert 119 < metrics['nemopi_ingest_lag_seconds{buoy="reef-a"}'] < 150


def test_a_group_checks_seqs_against_what_it_stored_and_moves_last_heard_once_per_buoy(
    engine: Engine,
) -> None:
    register_buoys(engine, "reef-a", "reef-b")
    config = IngestConfig(DatabaseSettings(str(engine.url)), MqttSettings(prefix=PREFIX))
    intake = Intake(TOPICS, replace(config, max_seq_jump=100))
    plan = [("reef-a", range(1, 11)), ("reef-a", range(101, 111)), ("reef-b", range(1, 6))]
    plan.append(("reef-a", range(250, 251)))  # beyond 110 + 100 once the group stored 110
    messages = [
        Received(
            TOPICS.topic(buoy, Channel.DATA),
            encode(batch(buoy, seqs)),
            1,
            1,
            False,
            NOW + timedelta(seconds=n),
            1,
        )
        for n, (buoy, seqs) in enumerate(plan)
    ]
    with engine.begin() as conn:
        outcomes = intake.handle_group(conn, sorted(messages, key=lambda m: m.topic))
    assert [o.rejected for o in outcomes] == [None, None, Reason.BAD_SEQ, None]
    with engine.connect() as conn:
        heard = {buoy: at for buoy, at in conn.execute(select(buoys.c.id, buoys.c.last_heard))}
    assert heard == {"reef-a": NOW + timedelta(seconds=1), "reef-b": NOW + timedelta(seconds=2)}
