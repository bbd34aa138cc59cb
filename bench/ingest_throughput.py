"""Ingest throughput from a real Mosquitto into SQLite and PostgreSQL, against a raw insert.

For each database: a fresh schema with the buoys registered, a private Mosquitto, and the
ingest's persistent session created and left, so that the broker queues ``--batches`` batches
(``--samples`` samples of ``len(QUANTITIES)`` readings each, from three buoys) for it. Then one
``IngestWorker`` (with the quality control it runs by default) is started and timed until its
metrics count every reading stored: broker delivery, decoding, validation, storage, QC, acks.
The upper limit is the same rows written into a fresh copy of the same schema by the database
driver's ``executemany``, one transaction per batch, with no MQTT, decoding or checks.
``--profile`` runs the timed worker under cProfile and prints the top entries.

    .venv/bin/python bench/ingest_throughput.py [--batches 60] [--samples 1000] \
        [--database sqlite|postgresql|both] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, create_engine, text

from dashboard.config import DatabaseSettings, IngestConfig
from dashboard.db import make_engine, upgrade_database
from dashboard.ingest import IngestWorker
from dashboard.models import readings, samples
from dashboard.registry import Registration, register
from dashboard.storage import utc_from_ms
from nemopi.broker_settings import MqttSettings
from nemopi.catalogue import by_name
from nemopi.topics import Channel, Topics
from nemopi.wire import Batch, ClockSource, Sample, Value, encode
from tests.brokers import Mosquitto

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BUOYS = ("bench-a", "bench-b", "bench-c")
QUANTITIES = {
    "water_temperature": (27.0, 0.001),
    "ph": (8.05, 0.0001),
    "turbidity": (1.5, 0.001),
    "xco2_equilibrated": (420.0, 0.1),
    "latitude": (-8.27, 0.000001),
    "longitude": (115.59, 0.000001),
    "battery_voltage": (12.6, 0.001),
    "current_speed": (0.2, 0.001),
}
TOPICS = Topics("bench")


def make_batches(count: int, per_batch: int) -> list[Batch]:
    start_ms = int(time.time() * 1000) - count * per_batch * 60_000
    out: list[Batch] = []
    for n in range(count):
        buoy = BUOYS[n % len(BUOYS)]
        first = n // len(BUOYS) * per_batch + 1
        out.append(
            Batch(
                buoy,
                tuple(
                    Sample(
                        seq=seq,
                        time_ms=start_ms + seq * 60_000,
                        clock=ClockSource.GPS,
                        values={
                            name: Value(round(base + (seq % 97) * step, 6))
                            for name, (base, step) in QUANTITIES.items()
                        },
                    )
                    for seq in range(first, first + per_batch)
                ),
            )
        )
    return out


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex}.sqlite3'}"
        return
    admin = create_engine(POSTGRES_URL)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def prepared(url: str) -> Engine:
    upgrade_database(url)
    engine = make_engine(url)
    for buoy in BUOYS:
        register(engine, Registration(buoy, buoy, -8.27, 115.59), datetime.now(UTC))
    return engine


def ingest_rate(url: str, batches: list[Batch], folder: Path, profile: bool) -> float:
    """Readings per second through broker and worker."""
    engine = prepared(url)
    broker_dir = folder / f"broker-{uuid.uuid4().hex[:6]}"
    broker_dir.mkdir()
    broker = Mosquitto(
        broker_dir, "max_queued_messages 0\nmax_inflight_messages 1000\nmax_queued_bytes 0\n"
    ).start()
    config = IngestConfig(
        database=DatabaseSettings(url),
        mqtt=MqttSettings(host=broker.host, port=broker.port, prefix=TOPICS.prefix),
        client_id="bench-ingest",
    )
    try:
        with IngestWorker(config, engine) as first:  # leaves a session for the broker to fill
            first.wait_until_subscribed(10)
        publish_all(broker, batches)
        total = sum(len(s.values) for b in batches for s in b.samples)
        worker = IngestWorker(config, engine)
        stop = threading.Event()
        with worker:
            watcher = threading.Thread(target=_stop_when_stored, args=(worker, total, stop))
            started = time.perf_counter()
            watcher.start()
            if profile:
                profiler = cProfile.Profile()
                profiler.runcall(worker.process, stop)
            else:
                worker.process(stop)
            elapsed = time.perf_counter() - started
            watcher.join()
        if profile:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        return total / elapsed
    finally:
        broker.stop()
        engine.dispose()


def publish_all(broker: Mosquitto, batches: list[Batch]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        infos = [
            client.publish(TOPICS.topic(b.buoy, Channel.DATA), encode(b), qos=1) for b in batches
        ]
        for info in infos:
            info.wait_for_publish(60)
    finally:
        client.disconnect()
        client.loop_stop()


def _stop_when_stored(worker: IngestWorker, total: int, stop: threading.Event) -> None:
    while sum(worker.metrics.count("readings", buoy) for buoy in BUOYS) < total:
        time.sleep(0.005)
    stop.set()


def raw_rate(url: str, batches: list[Batch]) -> float:
    """Readings per second of a plain executemany of the same rows, one transaction a batch."""
    engine = prepared(url)
    keys = {buoy: n + 1 for n, buoy in enumerate(BUOYS)}
    codes = {name: by_name(name).code for name in QUANTITIES}
    now = datetime.now(UTC)
    total = 0
    try:
        with engine.connect() as conn:
            started = time.perf_counter()
            for b in batches:
                key = keys[b.buoy]
                sample_rows = [
                    {
                        "buoy_key": key,
                        "seq": s.seq,
                        "clock": int(s.clock),
                        "time_utc": utc_from_ms(s.time_ms),
                        "received_at": now,
                        "config_version": 0,
                        "calibration_version": 0,
                    }
                    for s in b.samples
                ]
                reading_rows = [
                    {
                        "buoy_key": key,
                        "seq": s.seq,
                        "quantity": codes[name],
                        "value": v.value,
                        "status": int(v.status),
                    }
                    for s in b.samples
                    for name, v in s.values.items()
                ]
                conn.execute(samples.insert(), sample_rows)
                conn.execute(readings.insert(), reading_rows)
                conn.commit()
                total += len(reading_rows)
            elapsed = time.perf_counter() - started
    finally:
        engine.dispose()
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--samples", type=int, default=1000, help="samples per batch")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    batches = make_batches(args.batches, args.samples)
    total = sum(len(s.values) for b in batches for s in b.samples)
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    print(f"{len(batches)} batches, {total:,} readings, {len(QUANTITIES)} per sample")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for kind in kinds:
            with database(kind, folder) as url:
                raw = raw_rate(url, batches)
            with database(kind, folder) as url:
                ingest = ingest_rate(url, batches, folder, args.profile)
            print(
                f"{kind:>10}: ingest {ingest:,.0f} readings/s, raw executemany {raw:,.0f} "
                f"readings/s, ratio {ingest / raw:.0%}"
            )


if __name__ == "__main__":
    main()
