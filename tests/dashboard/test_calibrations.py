"""Calibration records on the server: stored from statuses insert-only, conflicts and hostile
summaries quarantined, and looked up per sample, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from buoy.calibration import CalibrationStore
from dashboard.calibrations import (
    Calibration,
    CalibrationSummaryError,
    StoredCalibration,
    calibration_for_sample,
    calibration_history,
    parse_summary,
)
from dashboard.config import DatabaseSettings, IngestConfig
from dashboard.ingest import IngestWorker
from dashboard.intake import Intake, Outcome, Received
from dashboard.models import buoys
from dashboard.quarantine import Reason
from dashboard.storage import utc_from_ms
from nemopi.broker_settings import MqttSettings
from nemopi.topics import Channel
from nemopi.wire import Batch, Status, decode, encode
from tests.brokers import Mosquitto
from tests.dashboard.builders import BASE_MS, NOW, sample
from tests.dashboard.ingest_harness import (
    PREFIX,
    TOPICS,
    ingest_config,
    register_buoys,
    running,
)
from tests.dashboard.mqtt_peer import BuoyPeer, eventually
from tests.dashboard.stored import quarantined

PH_MID = {"procedure": "ph.mid", "version": 1, "utc_ms": BASE_MS, "points": 1, "buffer_ph": 7.0}
TURBIDITY = {
    "procedure": "turbidity.clear_water",
    "version": 2,
    "utc_ms": BASE_MS + 60_000,
    "clear_water_v": 4.21,
}
PH_HIGH = {
    "procedure": "ph.high",
    "version": 3,
    "utc_ms": BASE_MS + 120_000,
    "points": 3,
    "acid_percent": 97.0,
    "base_percent": 98.5,
    "zero_offset_mv": -6.0,
    "buffer_ph": 10.0,
}
FIRST = {"version": 2, "ph": PH_MID, "turbidity": TURBIDITY}
SECOND = {"version": 3, "ph": PH_HIGH, "turbidity": TURBIDITY}


def calibration_status(
    summary: object, as_of: datetime = NOW, buoy: str = "reef-a", **detail: Any
) -> Status:
    ms = int(as_of.timestamp() * 1000)
    return Status(buoy, True, ms, ms + 3_600_000, ms + 600_000, {"calibration": summary, **detail})


def expected(entry: dict[str, Any], part: str) -> Calibration:
    values = {k: v for k, v in entry.items() if k not in ("procedure", "version", "utc_ms")}
    return Calibration(
        part, entry["version"], entry["procedure"], utc_from_ms(entry["utc_ms"]), values
    )


@pytest.fixture
def intake(engine: Engine) -> Intake:
    register_buoys(engine, "reef-a")
    config = IngestConfig(
        database=DatabaseSettings(str(engine.url)), mqtt=MqttSettings(prefix=PREFIX)
    )
    return Intake(TOPICS, config)


def handle(engine: Engine, intake: Intake, message: Status | Batch, at: datetime = NOW) -> Outcome:
    """``message`` through the ingest's intake, as a live message received ``at``."""
    buoy = message.buoy
    channel = Channel.STATUS if isinstance(message, Status) else Channel.DATA
    received = Received(TOPICS.topic(buoy, channel), encode(message), 1, 1, False, at, 1)
    with engine.begin() as conn:
        return intake.handle(conn, received)


def history(engine: Engine, buoy: str = "reef-a") -> list[StoredCalibration]:
    with engine.connect() as conn:
        return calibration_history(conn, buoy)


def test_status_with_a_calibration_summary_stores_each_record_with_its_origin(
    engine: Engine, intake: Intake
) -> None:
    received = NOW + timedelta(seconds=3)
    outcome = handle(engine, intake, calibration_status(FIRST, as_of=NOW), at=received)
    assert outcome == Outcome("reef-a")
    assert history(engine) == [
        StoredCalibration(expected(PH_MID, "ph"), received, NOW),
        StoredCalibration(expected(TURBIDITY, "turbidity"), received, NOW),
    ]
    assert quarantined(engine) == []


def test_a_resent_status_changes_nothing_and_a_newer_one_adds_only_its_new_record(
    engine: Engine, intake: Intake
) -> None:
    handle(engine, intake, calibration_status(FIRST, as_of=NOW))
    first = history(engine)
    later = NOW + timedelta(minutes=10)
    assert handle(engine, intake, calibration_status(FIRST, later), at=later) == Outcome("reef-a")
    assert history(engine) == first
    handle(engine, intake, calibration_status(SECOND, later), at=later)
    assert history(engine) == [*first, StoredCalibration(expected(PH_HIGH, "ph"), later, later)]
    assert quarantined(engine) == []


@pytest.mark.parametrize(
    ("part", "changed"),
    [
        ("ph", {**PH_MID, "buffer_ph": 7.01}),
        ("ph", {**PH_MID, "procedure": "ph.low"}),
        ("ph", {**PH_MID, "utc_ms": BASE_MS + 1}),
        ("ph", {**PH_MID, "points": 1.0}),
        ("ph", {**PH_MID, "points": True}),
        ("no2", {"procedure": "no2.zero", "version": 1, "utc_ms": BASE_MS}),
    ],
    ids=["value", "procedure", "time", "float for int", "boolean for int", "another part"],
)
def test_a_different_record_under_a_stored_version_is_quarantined_and_the_stored_one_kept(
    engine: Engine, intake: Intake, part: str, changed: dict[str, Any]
) -> None:
    handle(engine, intake, calibration_status(FIRST))
    stored = history(engine)
    later = NOW + timedelta(minutes=10)
    conflicting = calibration_status({"version": 2, part: changed}, later)
    outcome = handle(engine, intake, conflicting, at=later)
    assert outcome == Outcome("reef-a", rejected=Reason.CALIBRATION_CONFLICT)
    assert history(engine) == stored
    [(topic, reason, payload, _)] = quarantined(engine)
    assert (topic, payload) == ("reefnet/reef-a/status", encode(conflicting))
    assert reason == f"{Reason.CALIBRATION_CONFLICT}: version 1 ({part}); the stored record is kept"
    with engine.connect() as conn:
        as_of = conn.execute(select(buoys.c.status_as_of).where(buoys.c.id == "reef-a")).scalar()
    assert as_of == later  # the status itself still applies


HOSTILE: dict[str, object] = {
    "not a map": 5,
    "a list": [1, 2],
    "no version": {"ph": PH_MID},
    "version as text": {"version": "2", "ph": PH_MID},
    "version as boolean": {"version": True, "ph": PH_MID},
    "negative version": {"version": -1},
    "version beyond 2**63": {"version": 2**63, "ph": PH_MID},
    "record as a number": {"version": 2, "ph": 7},
    "record as a list": {"version": 2, "ph": [1, 2]},
    "record without a time": {"version": 2, "ph": {"procedure": "ph.mid", "version": 1}},
    "time as a float": {"version": 2, "ph": {**PH_MID, "utc_ms": float(BASE_MS)}},
    "time before 2000": {"version": 2, "ph": {**PH_MID, "utc_ms": 0}},
    "record version zero": {"version": 2, "ph": {**PH_MID, "version": 0}},
    "record newer than the summary": {"version": 2, "ph": {**PH_MID, "version": 3}},
    "procedure of another part": {"version": 2, "ph": {**PH_MID, "procedure": "no2.zero"}},
    "empty procedure": {"version": 2, "ph": {**PH_MID, "procedure": ""}},
    "procedure as a number": {"version": 2, "ph": {**PH_MID, "procedure": 1}},
    "long part name": {"version": 2, "p" * 65: {**PH_MID, "procedure": "p" * 65 + ".x"}},
    "two parts, one version": {
        "version": 2,
        "ph": PH_MID,
        "turbidity": {**TURBIDITY, "version": 1},
    },
    "whole number beyond 2**53": {"version": 2, "ph": {**PH_MID, "points": 2**60}},
    "too many parts": {"version": 40} | {f"p{i}": {**PH_MID, "version": i + 1} for i in range(33)},
    "too many values": {"version": 2, "ph": {**PH_MID} | {f"v{i}": i for i in range(33)}},
}


def test_hostile_calibration_summaries_are_quarantined_and_nothing_is_stored(
    engine: Engine, intake: Intake
) -> None:
    for name, summary in HOSTILE.items():
        outcome = handle(engine, intake, calibration_status(summary))
        assert outcome == Outcome("reef-a", rejected=Reason.BAD_CALIBRATION), name
    assert history(engine) == []
    reasons = [reason for _, reason, _, _ in quarantined(engine)]
    assert len(reasons) == len(HOSTILE)
    assert all(r.startswith(f"{Reason.BAD_CALIBRATION}: ") for r in reasons), reasons


def test_the_records_in_force_for_a_sample_follow_its_calibration_version(
    engine: Engine, intake: Intake
) -> None:
    handle(engine, intake, calibration_status(FIRST))
    handle(engine, intake, calibration_status(SECOND, NOW + timedelta(hours=1)))
    versions = {1: 0, 2: 1, 3: 2, 4: 3, 5: 9}
    samples = tuple(
        replace(sample(seq), calibration_version=version) for seq, version in versions.items()
    )
    assert handle(engine, intake, Batch("reef-a", samples)).stored is not None
    with engine.connect() as conn:
        in_force = {
            seq: [(s.calibration.part, s.calibration.version) for s in found]
            for seq in versions
            if (found := calibration_for_sample(conn, "reef-a", seq)) is not None
        }
        assert calibration_for_sample(conn, "reef-a", 99) is None
        assert calibration_for_sample(conn, "reef-z", 1) is None
    assert in_force == {
        1: [],
        2: [("ph", 1)],
        3: [("ph", 1), ("turbidity", 2)],
        4: [("turbidity", 2), ("ph", 3)],
        5: [("turbidity", 2), ("ph", 3)],
    }


def test_the_summary_a_buoy_sends_is_read_back_exactly(tmp_path: Path) -> None:
    with CalibrationStore.in_dir(tmp_path) as store:
        store.record("ph", "ph.mid", {"points": 1, "buffer_ph": 7.0}, BASE_MS)
        store.record("turbidity", "turbidity.clear_water", {"clear_water_v": 4.2}, BASE_MS + 1)
        store.record("ph", "ph.low", {"points": 2, "note": None, "ok": True}, BASE_MS + 2)
        state = store.current()
    decoded = decode(encode(calibration_status(state.summary())))
    assert isinstance(decoded, Status)
    assert parse_summary(decoded.detail) == [
        Calibration(r.part, r.version, r.procedure, utc_from_ms(r.utc_ms), dict(r.values))
        for r in sorted(state.parts.values(), key=lambda r: r.part)
    ]
    assert parse_summary({"outbox": 3}) == []


@pytest.fixture
def peer(mosquitto: Mosquitto) -> Iterator[BuoyPeer]:
    client = BuoyPeer(mosquitto, TOPICS)
    yield client
    client.close()


def test_the_worker_survives_hostile_statuses_and_stores_the_next_good_one(
    mosquitto: Mosquitto, engine: Engine, db_url: str, peer: BuoyPeer
) -> None:
    register_buoys(engine, "reef-a")
    config = ingest_config(mosquitto, db_url, f"ingest-{uuid.uuid4().hex[:8]}")
    with running(IngestWorker(config, engine)) as worker:
        for summary in HOSTILE.values():
            peer.publish_to("reef-a", Channel.STATUS, encode(calibration_status(summary)))
        peer.publish_to("reef-a", Channel.STATUS, encode(calibration_status(SECOND)))
        peer.publish_to("reef-a", Channel.DATA, encode(Batch("reef-a", (sample(1),))))
        eventually(lambda: peer.confirmed("reef-a") == {1})
        eventually(lambda: len(history(engine)) == 2)
        assert worker.metrics.count("quarantined", Reason.BAD_CALIBRATION) == len(HOSTILE)
    assert [s.calibration for s in history(engine)] == [
        expected(TURBIDITY, "turbidity"),
        expected(PH_HIGH, "ph"),
    ]


@pytest.mark.parametrize(
    "entry",
    [{**PH_MID, 3: 1.0}, {**PH_MID, "points": {"nested": 1}}, {**PH_MID, "points": [1]}],
    ids=["number as a value name", "map as a value", "list as a value"],
)
def test_shapes_the_wire_format_cannot_carry_are_refused_all_the_same(
    entry: dict[object, object],
) -> None:
    with pytest.raises(CalibrationSummaryError):
        parse_summary({"calibration": {"version": 2, "ph": entry}})
