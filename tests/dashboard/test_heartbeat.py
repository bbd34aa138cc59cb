"""The ingest's heartbeat: what the rows say, when a worker writes them, and that a real ingest
keeps beating while idle, moves last_stored_at when it stores, and never stops for a heartbeat
it cannot write."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text

from dashboard.heartbeat import Heartbeat, IngestLiveness, beat, ingest_liveness
from dashboard.ingest import IngestWorker
from dashboard.models import ingest_heartbeats
from nemopi.topics import Channel
from nemopi.wire import encode
from tests.brokers import Mosquitto
from tests.dashboard.builders import NOW, batch
from tests.dashboard.ingest_harness import TOPICS, ingest_config, register_buoys, running
from tests.dashboard.mqtt_peer import BuoyPeer, eventually

SILENT_AFTER = timedelta(seconds=120)
STARTED = NOW - timedelta(hours=1)


def heartbeat_rows(engine: Engine) -> dict[str, tuple[datetime, bool, datetime | None]]:
    query = select(
        ingest_heartbeats.c.client_id,
        ingest_heartbeats.c.beat_at,
        ingest_heartbeats.c.connected,
        ingest_heartbeats.c.last_stored_at,
    )
    with engine.connect() as conn:
        return {row[0]: tuple(row[1:]) for row in conn.execute(query)}  # type: ignore[misc]


def liveness(engine: Engine) -> IngestLiveness:
    with engine.connect() as conn:
        return ingest_liveness(conn, NOW, SILENT_AFTER)


def test_no_heartbeat_means_the_ingest_never_ran(engine: Engine) -> None:
    assert liveness(engine) == IngestLiveness("never", None, None, None)


# Each worker as (client id, seconds since its beat, connected, seconds since it stored), and
# the liveness expected as (state, seconds since last_beat, since last_stored_at, connected).
LIVENESS = [
    pytest.param([("w1", 10, True, 30)], ("alive", 10, 30, True), id="fresh"),
    pytest.param([("w1", 120, True, None)], ("alive", 120, None, True), id="at-the-limit"),
    pytest.param([("w1", 121, True, 200)], ("silent", 121, 200, True), id="too-old"),
    pytest.param([("w1", 10, False, 600)], ("silent", 10, 600, False), id="disconnected"),
    pytest.param(
        [("w1", 300, True, 5), ("w2", 20, False, None), ("w3", 40, True, 90)],
        ("alive", 40, 5, True),
        id="one-alive-of-three",
    ),
    pytest.param(
        [("w1", 300, True, 400), ("w2", 20, False, 350)],
        ("silent", 20, 350, False),
        id="none-alive-newest-wins",
    ),
]


def ago(seconds: int | None) -> datetime | None:
    return None if seconds is None else NOW - timedelta(seconds=seconds)


@pytest.mark.parametrize(("workers", "expected"), LIVENESS)
def test_liveness_from_the_workers_rows(
    engine: Engine,
    workers: list[tuple[str, int, bool, int | None]],
    expected: tuple[str, int, int | None, bool],
) -> None:
    with engine.begin() as conn:
        for client_id, beat_s, connected, stored_s in workers:
            stored_at = ago(stored_s)
            if stored_at is not None:
                beat(conn, client_id, STARTED, stored_at, connected=True, stored_new=True)
            beat(conn, client_id, STARTED, ago(beat_s), connected=connected, stored_new=False)
    state, beat_s, stored_s, connected = expected
    assert liveness(engine) == IngestLiveness(state, ago(beat_s), ago(stored_s), connected)


def test_a_beat_moves_last_stored_at_only_when_new_samples_were_stored(engine: Engine) -> None:
    with engine.begin() as conn:
        beat(conn, "w1", STARTED, NOW - timedelta(seconds=30), connected=True, stored_new=False)
    assert heartbeat_rows(engine) == {"w1": (NOW - timedelta(seconds=30), True, None)}
    with engine.begin() as conn:
        beat(conn, "w1", STARTED, NOW - timedelta(seconds=20), connected=True, stored_new=True)
        beat(conn, "w1", STARTED, NOW - timedelta(seconds=10), connected=False, stored_new=False)
    assert heartbeat_rows(engine) == {
        "w1": (NOW - timedelta(seconds=10), False, NOW - timedelta(seconds=20))
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_worker_beats_at_start_on_schedule_and_soon_after_storing(engine: Engine) -> None:
    clock = FakeClock()
    heart = Heartbeat(engine, "w1", 15.0, lambda: True, clock)

    def tick_at(seconds: float) -> tuple[datetime, bool, datetime | None]:
        clock.now = seconds
        heart.tick()
        return heartbeat_rows(engine)["w1"]

    first = tick_at(0.0)
    assert first[1:] == (True, None)
    assert tick_at(14.9) == first  # not due yet
    second = tick_at(15.0)
    assert second[0] > first[0] and second[2] is None
    heart.stored()
    assert tick_at(15.5) == second  # a stored beat waits a second after the last beat
    stored = tick_at(16.0)
    assert stored[2] is not None and stored[2] == stored[0]
    assert tick_at(30.9) == stored  # nothing new: the next beat is 15 s after this one
    assert tick_at(31.0)[0] > stored[0]


def test_a_heartbeat_that_cannot_be_written_is_logged_once_and_raises_nothing(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dashboard.heartbeat")
    clock = FakeClock()
    heart = Heartbeat(engine, "w1", 1.0, lambda: True, clock)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE ingest_heartbeats"))
    for second in range(5):
        clock.now = float(second)
        heart.tick()
    assert [r.getMessage()[:34] for r in caplog.records] == ["cannot write the ingest heartbeat "]


@pytest.fixture
def peer(mosquitto: Mosquitto) -> Iterator[BuoyPeer]:
    client = BuoyPeer(mosquitto, TOPICS)
    yield client
    client.close()


@pytest.fixture
def client_id() -> str:
    return f"ingest-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def worker(
    mosquitto: Mosquitto, engine: Engine, db_url: str, client_id: str
) -> Iterator[IngestWorker]:
    register_buoys(engine, "reef-a")
    config = ingest_config(mosquitto, db_url, client_id, heartbeat_s=0.2)
    with running(IngestWorker(config, engine)) as w:
        yield w


def test_a_running_ingest_beats_while_idle_and_records_what_it_stores(
    worker: IngestWorker, peer: BuoyPeer, engine: Engine, client_id: str
) -> None:
    eventually(lambda: client_id in heartbeat_rows(engine))
    first_beat, connected, stored_at = heartbeat_rows(engine)[client_id]
    assert connected is True and stored_at is None
    eventually(lambda: heartbeat_rows(engine)[client_id][0] > first_beat)  # idle, still beating
    peer.publish_to("reef-a", Channel.DATA, encode(batch("reef-a", [1, 2])))
    eventually(lambda: peer.confirmed("reef-a") == {1, 2})
    eventually(lambda: heartbeat_rows(engine)[client_id][2] is not None)
    beat_at, connected, stored_at = heartbeat_rows(engine)[client_id]
    assert connected is True and stored_at is not None and stored_at > first_beat
    with engine.connect() as conn:
        state = ingest_liveness(conn, beat_at + timedelta(seconds=1), timedelta(seconds=5))
    assert state.state == "alive"


def test_the_ingest_keeps_storing_when_its_heartbeat_cannot_be_written(
    worker: IngestWorker, peer: BuoyPeer, engine: Engine, client_id: str
) -> None:
    eventually(lambda: client_id in heartbeat_rows(engine))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE ingest_heartbeats"))
    peer.publish_to("reef-a", Channel.DATA, encode(batch("reef-a", [1, 2, 3])))
    eventually(lambda: peer.confirmed("reef-a") == {1, 2, 3})
    peer.publish_to("reef-a", Channel.DATA, encode(batch("reef-a", [4])))
    eventually(lambda: peer.confirmed("reef-a") == {1, 2, 3, 4})
