"""The walking skeleton end to end, with real processes and a real broker.

Three simulated buoys (the real drivers over emulated devices on three simulated reefs) run as
``nemopi buoy run --simulate`` processes, the ingest as ``nemopi ingest``; a recorder on the
broker keeps every batch the buoys published. Every published reading must then be in the
database exactly once, with the very value that was sent, and no sequence number may be missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from nemopi.demo_configs import DEMO_BUOYS, write_buoy_config, write_ingest_config
from tests.brokers import Mosquitto, free_port, wait_for_port
from tests.dashboard.stored import expected_readings, stored_readings, stored_samples
from tests.e2e.cluster import WireRecorder, nemopi_process, stop, wait_until

SAMPLES_PER_BUOY = 6
SPEEDUP = 30.0  # the demo's 20 s interval passes in 2/3 s of real time


@pytest.fixture(params=["mosquitto", "embedded"])
def broker_port(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    if request.param == "mosquitto":
        workdir = tmp_path / "mosquitto"
        workdir.mkdir()
        broker = Mosquitto(workdir).start()
        yield broker.port
        broker.stop()
    else:
        port = free_port()
        process = nemopi_process(tmp_path / "broker.log", "broker", "--port", str(port))
        wait_for_port(port)
        yield port
        assert stop(process) == 0


def _buoy_config(tmp_path: Path, index: int, port: int) -> Path:
    path = write_buoy_config(tmp_path, DEMO_BUOYS[index], port, SPEEDUP)
    with path.open("a", encoding="utf-8") as f:
        f.write("\n[uplink]\nresend_after_s = 3.0\n")  # quick re-sends keep the test short
    return path


@pytest.mark.slow
def test_three_simulated_buoys_store_every_reading_exactly_once(
    tmp_path: Path, broker_port: int
) -> None:
    recorder = WireRecorder(broker_port)
    ingest = nemopi_process(
        tmp_path / "ingest.log",
        "ingest",
        "--config",
        str(write_ingest_config(tmp_path, broker_port)),
    )
    buoys = [
        nemopi_process(
            tmp_path / f"buoy-{b.buoy_id}.log",
            "buoy",
            "run",
            "--simulate",
            "--config",
            str(_buoy_config(tmp_path, i, broker_port)),
        )
        for i, b in enumerate(DEMO_BUOYS)
    ]
    engine = create_engine(f"sqlite:///{tmp_path / 'nemopi.sqlite3'}")
    try:

        def enough_stored() -> bool:
            try:
                seqs = stored_samples(engine)
            except Exception:  # the ingest has not created the tables yet
                return False
            counts = {b.buoy_id: 0 for b in DEMO_BUOYS}
            for buoy, _ in seqs:
                counts[buoy] += 1
            return min(counts.values()) >= SAMPLES_PER_BUOY

        wait_until(enough_stored, 90, f"{SAMPLES_PER_BUOY} stored samples from every buoy")
        for buoy in buoys:
            assert stop(buoy) == 0
        sent = recorder.sent()
        sent_keys = {(b.buoy, s.seq) for b in sent for s in b.samples}
        wait_until(
            lambda: set(stored_samples(engine)) >= sent_keys,
            30,
            "the ingest to store everything the buoys published",
        )

        stored = stored_readings(engine)
        keys = [key for key, _ in stored]
        assert len(keys) == len(set(keys)), "a reading was stored twice"
        assert stored == expected_readings(sent), "stored values differ from what was sent"
        for b in DEMO_BUOYS:
            seqs = sorted(seq for buoy, seq in stored_samples(engine) if buoy == b.buoy_id)
            assert seqs == list(range(1, len(seqs) + 1)), f"{b.buoy_id}: a sequence gap"
            quantities = {name for (buoy, _, name), _ in stored if buoy == b.buoy_id}
            assert {"water_temperature", "ph", "latitude", "battery_voltage"} <= quantities
    finally:
        for buoy in buoys:
            stop(buoy)
        assert stop(ingest) == 0
        recorder.close()
        engine.dispose()
