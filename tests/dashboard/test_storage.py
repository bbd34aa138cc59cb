"""Storage: idempotent, insert-only, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import DBAPIError

from dashboard.db import make_engine
from dashboard.models import buoys, latest_readings, samples
from dashboard.storage import seq_ranges, store_batch, store_status
from nemopi.sensor_status import SensorStatus
from nemopi.wire import MAX_SEQ, Batch, ClockSource, Sample, Value
from tests.dashboard.builders import NOW, batch, sample, status
from tests.dashboard.stored import expected_readings, stored_readings, stored_samples


def store(engine: Engine, *batches: Batch) -> list[tuple[int, ...]]:
    new: list[tuple[int, ...]] = []
    for b in batches:
        with engine.begin() as conn:
            new.append(store_batch(conn, b, NOW).new_seqs)
    return new


def test_same_batch_stored_twice_keeps_one_copy(engine: Engine) -> None:
    b = batch("reef-1", range(1, 11))
    assert store(engine, b, b) == [tuple(range(1, 11)), ()]
    assert stored_readings(engine) == expected_readings([b])
    assert len(stored_readings(engine)) == 20


def test_overlapping_batches_store_each_sample_once(engine: Engine) -> None:
    first, second = batch("reef-1", range(1, 8)), batch("reef-1", range(5, 13))
    assert store(engine, first, second) == [tuple(range(1, 8)), tuple(range(8, 13))]
    assert stored_samples(engine) == [("reef-1", s) for s in range(1, 13)]
    assert stored_readings(engine) == expected_readings([first, second])


def test_resend_with_other_values_never_alters_a_stored_reading(engine: Engine) -> None:
    original = Batch("reef-1", (sample(1, water_temperature=26.0),))
    altered = Batch("reef-1", (sample(1, water_temperature=31.0, ph=7.0),))
    store(engine, original, altered)
    assert stored_readings(engine) == [(("reef-1", 1, "water_temperature"), Value(26.0))]


def test_same_seq_on_two_buoys_is_two_samples(engine: Engine) -> None:
    store(engine, batch("reef-1", [1, 2]), batch("reef-2", [1, 2]))
    assert stored_samples(engine) == [("reef-1", 1), ("reef-1", 2), ("reef-2", 1), ("reef-2", 2)]


def test_values_without_reading_keep_their_sensor_status(engine: Engine) -> None:
    values = {
        "ph": Value(None, SensorStatus.UNREACHABLE),
        "turbidity": Value(3.25, SensorStatus.STALE),
    }
    b = Batch("reef-1", (Sample(1, sample(1).time_ms, ClockSource.NTP, values),))
    store(engine, b)
    assert stored_readings(engine) == [
        (("reef-1", 1, "ph"), Value(None, SensorStatus.UNREACHABLE)),
        (("reef-1", 1, "turbidity"), Value(3.25, SensorStatus.STALE)),
    ]


def test_sample_times_versions_and_clock_are_kept(engine: Engine) -> None:
    synced = sample(1, time_ms=1_780_000_000_123)
    unsynced = Sample(2, 93_000, ClockSource.UNSYNCED, {"ph": Value(8.0)}, boot=41)
    store(engine, Batch("reef-1", (synced, unsynced)))
    query = select(
        samples.c.seq,
        samples.c.clock,
        samples.c.time_utc,
        samples.c.boot,
        samples.c.uptime_ms,
        samples.c.received_at,
        samples.c.config_version,
        samples.c.calibration_version,
    ).order_by(samples.c.seq)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
    synced_time = datetime(2026, 5, 28, 20, 26, 40, 123_000, tzinfo=UTC)
    assert rows == [
        (1, ClockSource.GPS, synced_time, None, None, NOW, 3, 7),
        (2, ClockSource.UNSYNCED, None, 41, 93_000, NOW, 0, 0),
    ]


def test_largest_sequence_numbers_and_versions_fit(engine: Engine) -> None:
    big = Sample(
        MAX_SEQ, sample(1).time_ms, ClockSource.GPS, {"ph": Value(8.0)}, 0, MAX_SEQ, MAX_SEQ
    )
    assert store(engine, Batch("reef-1", (big,))) == [(MAX_SEQ,)]
    assert stored_samples(engine) == [("reef-1", MAX_SEQ)]


def test_latest_reading_is_the_highest_seq_whatever_the_arrival_order(engine: Engine) -> None:
    newer = Batch("reef-1", (sample(9, water_temperature=29.0),))
    older = Batch("reef-1", (sample(3, water_temperature=21.0, ph=8.2),))
    store(engine, newer, older)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                latest_readings.c.quantity, latest_readings.c.seq, latest_readings.c.value
            ).order_by(latest_readings.c.quantity)
        ).all()
    assert [tuple(r) for r in rows] == [(1, 3, 8.2), (2, 9, 29.0)]


def buoy_row(engine: Engine, buoy: str) -> dict[str, object]:
    with engine.connect() as conn:
        return dict(conn.execute(select(buoys).where(buoys.c.id == buoy)).mappings().one())


def test_status_updates_the_buoy_and_only_live_online_status_counts_as_heard(
    engine: Engine,
) -> None:
    as_of = NOW - timedelta(minutes=5)
    with engine.begin() as conn:
        store_status(conn, status("reef-1", True, as_of), NOW, live=False)
    row = buoy_row(engine, "reef-1")
    assert row["online"] is True
    assert row["status_as_of"] == as_of.replace(microsecond=as_of.microsecond // 1000 * 1000)
    assert row["next_report"] == row["status_as_of"] + timedelta(minutes=10)
    assert row["last_heard"] is None  # a retained copy says nothing about now
    later = NOW + timedelta(minutes=1)
    with engine.begin() as conn:
        store_status(conn, status("reef-1", True), later, live=True)
    assert buoy_row(engine, "reef-1")["last_heard"] == later
    with engine.begin() as conn:
        store_status(conn, status("reef-1", False), later + timedelta(minutes=1), live=True)
    row = buoy_row(engine, "reef-1")
    assert (row["online"], row["last_heard"], row["first_seen"]) == (False, later, NOW)


def test_data_moves_last_heard_forward_only(engine: Engine) -> None:
    with engine.begin() as conn:
        store_batch(conn, batch("reef-1", [1]), NOW)
        store_batch(conn, batch("reef-1", [2]), NOW - timedelta(hours=1))
    assert buoy_row(engine, "reef-1")["last_heard"] == NOW


def test_seq_ranges_cover_exactly_the_given_seqs() -> None:
    assert seq_ranges([7, 1, 2, 3, 5, 3, 9, 8]) == ((1, 3), (5, 5), (7, 9))
    assert seq_ranges([]) == ()


def test_read_only_engine_refuses_writes(db_url: str, engine: Engine) -> None:
    reader = make_engine(db_url, read_only=True)
    try:
        with pytest.raises(DBAPIError), reader.begin() as conn:
            conn.execute(insert(buoys).values(id="intruder", first_seen=NOW))
        with reader.connect() as conn:
            assert conn.execute(select(buoys.c.id)).all() == []
    finally:
        reader.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
