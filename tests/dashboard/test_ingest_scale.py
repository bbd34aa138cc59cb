"""Scale-out: three workers share one subscription on PostgreSQL and store each reading once.

The broker hands each data message to one member of the ``$share`` group; re-sent batches
land on other workers than the first copy, so the workers race on the same (buoy, seq) keys in
concurrent transactions. Every reading must still be stored exactly once, every sample
confirmed, and the metrics must show that each worker did part of the work.
"""

from __future__ import annotations

from contextlib import ExitStack

from sqlalchemy import Engine

from dashboard.db import make_engine, upgrade_database
from dashboard.ingest import IngestWorker
from nemopi.topics import Channel
from nemopi.wire import encode
from tests.brokers import Mosquitto
from tests.dashboard.builders import batch
from tests.dashboard.ingest_harness import TOPICS, ingest_config, register_buoys, running, sent
from tests.dashboard.mqtt_peer import BuoyPeer, eventually
from tests.dashboard.stored import expected_readings, quarantined, stored_readings

BUOYS = ("reef-a", "reef-b", "reef-c")


def test_three_workers_sharing_a_subscription_store_every_reading_once(
    mosquitto: Mosquitto, postgres_url: str
) -> None:
    upgrade_database(postgres_url)
    engines: list[Engine] = [make_engine(postgres_url) for _ in range(3)]
    register_buoys(engines[0], *BUOYS)
    published = [
        batch(buoy, range(first, first + 25))
        for _ in range(2)  # everything twice: re-sends
        for first in range(1, 501, 20)  # overlapping batches
        for buoy in BUOYS
    ]
    peer = BuoyPeer(mosquitto, TOPICS)
    try:
        with ExitStack() as stack:
            workers = [
                stack.enter_context(
                    running(
                        IngestWorker(
                            ingest_config(
                                mosquitto, postgres_url, f"ingest-{n}", shared_group="ingest"
                            ),
                            engine,
                        )
                    )
                )
                for n, engine in enumerate(engines)
            ]
            for b in published:
                peer.publish_to(b.buoy, Channel.DATA, encode(b))
            eventually(
                lambda: all(peer.confirmed(buoy) == set(range(1, 506)) for buoy in BUOYS), 30
            )
            eventually(lambda: sum(_handled(workers)) == len(published))
        assert stored_readings(engines[0]) == expected_readings([sent(b) for b in published])
        assert quarantined(engines[0]) == []
        handled = _handled(workers)
        assert sum(handled) == len(published)
        assert all(count > 0 for count in handled), f"a worker got no message: {handled}"
        readings = [sum(w.metrics.count("readings", buoy) for buoy in BUOYS) for w in workers]
        assert sum(readings) == 3 * 505 * 2
    finally:
        peer.close()
        for engine in engines:
            engine.dispose()


def _handled(workers: list[IngestWorker]) -> list[int]:
    """Data messages each worker stored (including re-sends it found stored already)."""
    return [sum(w.metrics.count("messages", buoy) for buoy in BUOYS) for w in workers]
