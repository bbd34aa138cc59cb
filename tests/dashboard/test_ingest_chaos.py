"""kill -9 of the ingest worker at random instants while simulated buoys stream: nothing lost,
nothing duplicated, on SQLite and on PostgreSQL.

Three publishers behave like buoys: each sends a batch every few milliseconds and, like the
outbox, re-sends every batch that no ``stored`` message has covered a second after sending.
Meanwhile the ingest runs as a real process that is SIGKILLed at a random instant (mostly
within 0.4 s of its subscription: mid-transaction, between commit and PUBACK; sometimes during
start-up or the schema check) and started again, 30 times.
Then the stream stops, one last worker runs until every sample is confirmed, and the database
must hold each published (buoy, seq) exactly once with the values that were sent.
Every worker's whole log is kept in the test's ``tmp_path`` (``worker-NN.log``).
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from dashboard.db import make_engine, upgrade_database
from nemopi.topics import Channel
from nemopi.wire import Batch, encode
from tests.brokers import Mosquitto
from tests.dashboard.builders import batch
from tests.dashboard.ingest_harness import PREFIX, TOPICS, register_buoys, sent
from tests.dashboard.mqtt_peer import BuoyPeer
from tests.dashboard.processes import EntryPoint
from tests.dashboard.stored import expected_readings, quarantined, stored_readings, stored_samples

# Kill -9 chaos on real processes: run alone, after the rest (see test.sh).
pytestmark = pytest.mark.serial

BUOYS = ("reef-a", "reef-b", "reef-c")
KILLS = 20
BATCH_SAMPLES = 10
SEND_EVERY_S = 0.05  # 60 batches a second from three buoys: a storm, within what one worker stores
# A buoy re-sends what stays unconfirmed after 300 s. Far sooner still re-sends every batch a
# kill left unconfirmed several times during the test; much sooner (1 s) floods the broker with
# copies faster than any worker clears them, and the backlog never drains.
RESEND_AFTER_S = 8.0
CATCH_UP_S = 60
RESEND_CHECK_EVERY_S = 0.5
DURING_START_UP = 0.2  # the share of kills at a random instant of the start-up


class StreamingBuoys:
    """Publishes a steady stream of batches from ``BUOYS`` in a thread, re-sending whatever
    stays unconfirmed, until ``stop``."""

    def __init__(self, peer: BuoyPeer) -> None:
        self._peer = peer
        self.published: list[Batch] = []
        self._sent_at: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Safe to call twice."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        next_seq = 1
        checked = time.monotonic()
        while not self._stop.wait(SEND_EVERY_S):
            seqs = range(next_seq, next_seq + BATCH_SAMPLES)
            for buoy in BUOYS:
                self._send(len(self.published), batch(buoy, seqs))
            next_seq += BATCH_SAMPLES
            if time.monotonic() - checked > RESEND_CHECK_EVERY_S:
                self.resend_unconfirmed()
                checked = time.monotonic()

    def _send(self, index: int, b: Batch) -> None:
        if index == len(self.published):
            self.published.append(b)
        self._sent_at[index] = time.monotonic()
        self._peer.publish_to(b.buoy, Channel.DATA, encode(b))

    def unconfirmed(self) -> list[int]:
        confirmed = {buoy: self._peer.confirmed(buoy) for buoy in BUOYS}
        return [
            i
            for i, b in enumerate(self.published)
            if not {s.seq for s in b.samples} <= confirmed[b.buoy]
        ]

    def resend_unconfirmed(self) -> None:
        now = time.monotonic()
        for i in self.unconfirmed():
            if now - self._sent_at[i] > RESEND_AFTER_S:
                self._send(i, self.published[i])


@pytest.mark.slow
def test_ingest_killed_at_random_instants_stores_every_reading_exactly_once(
    tmp_path: Path, mosquitto: Mosquitto, db_url: str
) -> None:
    upgrade_database(db_url)
    engine = make_engine(db_url)
    register_buoys(engine, *BUOYS)
    config = tmp_path / "ingest.toml"
    config.write_text(
        f'client_id = "ingest-chaos"\nlog_level = "DEBUG"\n[database]\nurl = "{db_url}"\n'
        f'[mqtt]\nport = {mosquitto.port}\nprefix = "{PREFIX}"\n'
    )
    rng = random.Random()
    peer = BuoyPeer(mosquitto, TOPICS)
    buoys = StreamingBuoys(peer)
    try:
        buoys.start()
        confirmed_during_kills = 0
        for kill in range(KILLS):
            worker = EntryPoint("ingest", config)
            if rng.random() < DURING_START_UP:
                time.sleep(rng.uniform(0.0, 1.0))
            else:
                worker.wait_for_line("subscribed to")
                time.sleep(rng.uniform(0.0, 0.4))
            worker.kill()
            (tmp_path / f"worker-{kill:02d}.log").write_text(worker.log())
            assert worker.process.returncode == -9
            confirmed_during_kills = sum(len(peer.confirmed(b)) for b in BUOYS)
        buoys.stop()
        assert confirmed_during_kills > 0, "no worker lived long enough to store anything"
        final = EntryPoint("ingest", config)
        try:
            final.wait_for_line("subscribed to")
            deadline = time.monotonic() + CATCH_UP_S
            while buoys.unconfirmed() and time.monotonic() < deadline:
                buoys.resend_unconfirmed()
                time.sleep(0.2)
        finally:
            final.kill()  # also collects the log lines written after "subscribed to"
            (tmp_path / "worker-final.log").write_text(final.log())
        assert buoys.unconfirmed() == [], f"{quarantined(engine)}\n{final.log()[-12000:]}"
        keys = sorted({(b.buoy, s.seq) for b in buoys.published for s in b.samples})
        assert stored_samples(engine) == keys
        assert stored_readings(engine) == expected_readings([sent(b) for b in buoys.published])
    finally:
        buoys.stop()
        peer.close()
        engine.dispose()
