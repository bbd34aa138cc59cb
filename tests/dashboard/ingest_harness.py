"""An ingest worker in the test process, wired to a real broker and a real database."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from dashboard.config import DatabaseSettings, IngestConfig
from dashboard.ingest import IngestWorker
from dashboard.registry import Registration, register
from nemopi.broker_settings import MqttSettings
from nemopi.topics import Topics
from nemopi.wire import Batch, decode, encode
from tests.brokers import Mosquitto

PREFIX = "reefnet"
TOPICS = Topics(PREFIX)


def ingest_config(broker: Mosquitto, url: str, client_id: str, **settings: Any) -> IngestConfig:
    base = IngestConfig(
        database=DatabaseSettings(url),
        mqtt=MqttSettings(host=broker.host, port=broker.port, prefix=PREFIX),
        client_id=client_id,
    )
    return replace(base, **settings)


def register_buoys(engine: Engine, *buoy_ids: str) -> None:
    """Register each buoy, moored off Tulamben, as an operator would."""
    for buoy in buoy_ids:
        registration = Registration(buoy, f"Buoy {buoy}", -8.27, 115.59, 50.0, "Asia/Makassar")
        register(engine, registration, datetime.now(UTC))


@contextmanager
def running(worker: IngestWorker) -> Iterator[IngestWorker]:
    """``worker`` connected, subscribed and storing in a writer thread."""
    stop = threading.Event()
    writer = threading.Thread(target=worker.process, args=(stop,))
    with worker:
        assert worker.wait_until_subscribed(10)
        writer.start()
        try:
            yield worker
        finally:
            stop.set()
            writer.join()


def sent(b: Batch) -> Batch:
    """The batch as the ingest sees it: values at the catalogue's wire precision."""
    received = decode(encode(b))
    assert isinstance(received, Batch)
    return received


def scrape(port: int) -> dict[str, float]:
    """The samples of a Prometheus text page as {'name{labels}': value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode("utf-8")
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = json.loads(value)
    return samples
