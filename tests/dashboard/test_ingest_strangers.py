"""A stranger's payloads against the ingest, and the deploy broker's ACL against a stranger.

Whatever arrives on the data topics -- random bytes, well-formed CBOR of the wrong shape, a
batch too large, a payload naming another buoy, a buoy nobody registered, absurd times or
seqs -- is quarantined with its reason and counted, the worker keeps storing, and not one
stored reading changes.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cbor2
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from dashboard.ingest import IngestWorker
from dashboard.quarantine import Reason
from nemopi.topics import Channel, Topics
from nemopi.wire import MAX_PAYLOAD_BYTES, VERSION, Batch, Kind, encode
from tests.brokers import Mosquitto, free_port
from tests.dashboard.builders import BASE_MS, batch, sample
from tests.dashboard.ingest_harness import (
    TOPICS,
    ingest_config,
    register_buoys,
    running,
    scrape,
    sent,
)
from tests.dashboard.mqtt_peer import BuoyPeer, eventually
from tests.dashboard.stored import expected_readings, quarantined, stored_readings

ROOT = Path(__file__).resolve().parents[2]


def _cbor_batch(item: object) -> bytes:
    return bytes((VERSION, Kind.DATA)) + cbor2.dumps(item)


def stranger_payloads() -> list[tuple[str, bytes, Reason]]:
    """(buoy of the topic, payload, the reason the ingest must give)."""
    rng = random.Random(20261126)
    fuzzed = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) for _ in range(20)]
    now_ms = int(time.time() * 1000)
    future = replace(batch("reef-a", [50]), samples=(sample(50, time_ms=now_ms + 3_600_000),))
    ancient = replace(batch("reef-a", [51]), samples=(sample(51, time_ms=946_684_800_000),))
    return [
        *[("reef-a", payload, Reason.MALFORMED) for payload in fuzzed],
        ("reef-a", _cbor_batch(["reef-a", "not a list"]), Reason.MALFORMED),
        ("reef-a", _cbor_batch(["reef-a", [["1", 1, 0, {}]]]), Reason.MALFORMED),
        (
            "reef-a",
            _cbor_batch(["reef-a", [[1, 1, 1_780_000_000_000, {1: "warm"}]]]),
            Reason.MALFORMED,
        ),
        ("reef-a", _cbor_batch({"buoy": "reef-a"}), Reason.MALFORMED),
        (
            "reef-a",
            _cbor_batch(["reef-a", [[1, 1, 1_780_000_000_000, {}]] * 5001]),
            Reason.MALFORMED,
        ),
        ("reef-a", bytes((VERSION, Kind.DATA)) + os.urandom(MAX_PAYLOAD_BYTES), Reason.OVERSIZED),
        ("reef-a", encode(batch("reef-b", [1, 2])), Reason.WRONG_BUOY),
        ("reef-z", encode(batch("reef-z", [1, 2])), Reason.UNKNOWN_BUOY),
        ("reef-a", encode(future), Reason.FUTURE_TIME),
        ("reef-a", encode(ancient), Reason.PAST_TIME),
        ("reef-a", encode(Batch("reef-a", (sample(10**12, BASE_MS, ph=8.1),))), Reason.BAD_SEQ),
    ]


def test_strangers_are_quarantined_counted_and_change_no_reading(
    mosquitto: Mosquitto, engine: Engine, db_url: str
) -> None:
    register_buoys(engine, "reef-a", "reef-b")
    good = batch("reef-a", range(1, 21))
    port = free_port()
    config = ingest_config(mosquitto, db_url, f"ingest-{uuid.uuid4().hex[:8]}", metrics_port=port)
    peer = BuoyPeer(mosquitto, TOPICS)
    try:
        with running(IngestWorker(config, engine)):
            peer.publish_to("reef-a", Channel.DATA, encode(good))
            eventually(lambda: peer.confirmed("reef-a") == set(range(1, 21)))
            before = stored_readings(engine)
            strangers = stranger_payloads()
            for buoy, payload, _ in strangers:
                peer.publish_to(buoy, Channel.DATA, payload)
            peer.publish_to("reef-a", Channel.DATA, encode(good))  # the worker is alive
            eventually(lambda: len(quarantined(engine)) == len(strangers))
            metrics = scrape(port)
    finally:
        peer.close()
    assert before == expected_readings([sent(good)])
    assert stored_readings(engine) == before
    rows = quarantined(engine)
    got = Counter((topic, reason.split(":")[0], size) for topic, reason, _, size in rows)
    wanted = Counter(
        (TOPICS.topic(buoy, Channel.DATA), str(reason), len(payload))
        for buoy, payload, reason in strangers
    )
    assert got == wanted
    assert all(len(payload) == min(size, 64 * 1024) for _, _, payload, size in rows)
    for reason, count in Counter(r for _, _, r in strangers).items():
        assert metrics[f'nemopi_ingest_quarantined_total{{reason="{reason}"}}'] == count
    assert metrics['nemopi_ingest_duplicate_samples_total{buoy="reef-a"}'] == 20
    assert not any("reef-z" in name for name in metrics)


def test_quarantine_keeps_only_the_newest_rows(
    mosquitto: Mosquitto, sqlite_engine: Engine, sqlite_url: str
) -> None:
    register_buoys(sqlite_engine, "reef-a")
    config = ingest_config(mosquitto, sqlite_url, "ingest-bounded", quarantine_max_rows=5)
    peer = BuoyPeer(mosquitto, TOPICS)
    try:
        with running(IngestWorker(config, sqlite_engine)):
            for n in range(12):
                peer.publish_to("reef-a", Channel.DATA, b"\x01\x01garbage %d" % n)
            peer.publish_to("reef-a", Channel.DATA, encode(batch("reef-a", [1])))
            eventually(lambda: peer.confirmed("reef-a") == {1})
            eventually(
                lambda: (
                    [p for _, _, p, _ in quarantined(sqlite_engine)][-1:] == [b"\x01\x01garbage 11"]
                )
            )
    finally:
        peer.close()
    kept = [payload for _, _, payload, _ in quarantined(sqlite_engine)]
    assert kept == [b"\x01\x01garbage %d" % n for n in range(7, 12)]
    assert len(stored_readings(sqlite_engine)) == 2


# ---------------------------------------------------------------- the deploy broker's ACL

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")


def deploy_broker_config(workdir: Path, passwords: Path) -> str:
    """deploy/mosquitto/nemopi.conf without its listeners (``Mosquitto`` adds a loopback one on
    a free port) and with the test's password and ACL files."""
    acl = workdir / "nemopi.acl"
    shutil.copy(ROOT / "deploy/mosquitto/nemopi.acl", acl)
    kept: list[str] = []
    skipping_listener = False
    for line in (ROOT / "deploy/mosquitto/nemopi.conf").read_text().splitlines():
        key = line.split(" ", 1)[0]
        if key == "listener":
            skipping_listener = True
            continue
        if skipping_listener and key in ("certfile", "keyfile"):
            continue
        if key in ("password_file", "acl_file", "persistence_location"):
            continue
        kept.append(line)
    return "\n".join(
        [
            *kept,
            f"password_file {passwords}",
            f"acl_file {acl}",
            "",
        ]
    )


@pytest.fixture
def deploy_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if MOSQUITTO_PASSWD is None:
        pytest.fail("mosquitto_passwd is needed (apt-get install mosquitto)")
    workdir = tmp_path / "deploy-broker"
    workdir.mkdir()
    passwords = workdir / "passwd"
    for user in ("reef-a", "reef-b", "svc.ingest"):
        create = [] if passwords.exists() else ["-c"]
        subprocess.run(
            [MOSQUITTO_PASSWD, *create, "-b", str(passwords), user, f"pw-{user}"], check=True
        )
    broker = Mosquitto(workdir, deploy_broker_config(workdir, passwords)).start()
    yield broker
    broker.stop()


def _buoy_client(broker: Mosquitto, user: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv311)
    client.username_pw_set(user, f"pw-{user}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def test_deploy_acl_keeps_a_buoy_to_its_own_topics(
    deploy_broker: Mosquitto, sqlite_engine: Engine, sqlite_url: str, tmp_path: Path
) -> None:
    register_buoys(sqlite_engine, "reef-a", "reef-b")
    secret = tmp_path / "ingest-password"
    secret.write_text("pw-svc.ingest\n")
    config = ingest_config(deploy_broker, sqlite_url, "ingest-acl")
    config = replace(
        config,
        mqtt=replace(config.mqtt, prefix="nemopi", username="svc.ingest", password_file=secret),
    )
    topics = Topics("nemopi")
    forged = batch("reef-b", [1, 2])
    own = batch("reef-a", [1, 2])
    with running(IngestWorker(config, sqlite_engine)):
        client = _buoy_client(deploy_broker, "reef-a")
        try:
            client.publish(
                topics.topic("reef-b", Channel.DATA), encode(forged), qos=1
            ).wait_for_publish(10)
            client.publish(
                topics.topic("reef-a", Channel.DATA), encode(own), qos=1
            ).wait_for_publish(10)
            eventually(lambda: len(stored_readings(sqlite_engine)) == 4)
        finally:
            client.disconnect()
            client.loop_stop()
    assert stored_readings(sqlite_engine) == expected_readings([sent(own)])
    assert quarantined(sqlite_engine) == []
