"""Chart roll-ups against the database (SQLite and PostgreSQL): whatever order, duplicates and
batch splits samples arrive in, and whatever QC says of them, every roll-up row equals a
brute-force aggregation of the stored readings; charts show gaps as None; a rebuild gives what
the ingest kept up to date."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, and_, delete, func, select, text

from dashboard import rollups
from dashboard.config import DatabaseSettings, IngestConfig
from dashboard.db import make_engine, upgrade_database
from dashboard.intake import Intake, Received
from dashboard.models import buoys, metadata, qc_configs, qc_flags, readings, samples
from dashboard.models import rollups as rollup_rows
from dashboard.qc.config import load_qc_config
from dashboard.qc.flags import Flag
from dashboard.qc.runner import QcRunner
from dashboard.storage import StoreResult, store_batch
from nemopi.broker_settings import MqttSettings
from nemopi.catalogue import by_name
from nemopi.cli import main
from nemopi.sensor_status import SensorStatus
from nemopi.topics import Channel
from nemopi.wire import Batch, ClockSource, Sample, Value, encode
from tests.dashboard.builders import NOW
from tests.dashboard.ingest_harness import PREFIX, TOPICS, register_buoys

BUOY = "reef-a"
PH = by_name("ph")
TEMPERATURE = by_name("water_temperature")
DAY_START = datetime(2026, 5, 28, tzinfo=UTC)  # a UTC midnight, so every level's edge is here
RECEIVED = DAY_START + timedelta(days=30)  # after every sample a test sends
START_MS = int(DAY_START.timestamp() * 1000)
# Offsets (ms) on and either side of every level's edges, and some in between.
EDGES_MS = sorted(
    {
        edge + delta
        for period in rollups.PERIODS_S
        for edge in (period * 1000, 2 * period * 1000)
        for delta in (-1, 0, 1)
    }
    | {0, 1, 300_000, 599_999, 1_234_567}
)


@pytest.fixture
def intake(engine: Engine) -> Intake:
    register_buoys(engine, BUOY)
    config = IngestConfig(
        database=DatabaseSettings(str(engine.url)), mqtt=MqttSettings(prefix=PREFIX)
    )
    return Intake(TOPICS, config)


def deliver(engine: Engine, intake: Intake, batch: Batch) -> StoreResult:
    """``batch`` through the ingest's intake in its own transaction, as a live message."""
    received = Received(
        TOPICS.topic(batch.buoy, Channel.DATA), encode(batch), 1, 1, False, RECEIVED, 1
    )
    with engine.begin() as conn:
        outcome = intake.handle(conn, received)
    assert outcome.stored is not None, outcome
    return outcome.stored


def synced(seq: int, time_ms: int, **values: Value) -> Sample:
    return Sample(seq, START_MS + time_ms, ClockSource.GPS, values)


def buoy_key(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(buoys.c.key).where(buoys.c.id == BUOY)).scalar_one())


def stored_rollups(engine: Engine) -> dict[tuple[int, int, datetime], tuple[Any, ...]]:
    """Every roll-up row as {(quantity, period, bucket start): statistics}."""
    with engine.connect() as conn:
        rows = conn.execute(select(rollup_rows)).all()
    return {
        (row.quantity, row.period_s, row.bucket_start): (
            row.n,
            row.n_suspect,
            row.n_bad,
            row.value_sum,
            row.value_min,
            row.value_max,
        )
        for row in rows
    }


def brute_force(engine: Engine) -> dict[tuple[int, int, datetime], tuple[Any, ...]]:
    """What the roll-ups must hold, aggregated straight from the stored readings and the
    flags of the QC version activated last, for every level."""
    with engine.connect() as conn:
        current = conn.execute(
            select(qc_configs.c.version).order_by(qc_configs.c.last_activated.desc()).limit(1)
        ).scalar()
        rows = conn.execute(
            select(
                samples.c.time_utc,
                readings.c.quantity,
                readings.c.value,
                readings.c.status,
                qc_flags.c.aggregate,
            )
            .join(
                readings,
                and_(readings.c.buoy_key == samples.c.buoy_key, readings.c.seq == samples.c.seq),
            )
            .outerjoin(
                qc_flags,
                and_(
                    qc_flags.c.buoy_key == readings.c.buoy_key,
                    qc_flags.c.seq == readings.c.seq,
                    qc_flags.c.quantity == readings.c.quantity,
                    qc_flags.c.qc_version == current,
                ),
            )
            .where(samples.c.time_utc.is_not(None))
        ).all()
    grouped: dict[tuple[int, int, datetime], list[tuple[float | None, bool, int | None]]]
    grouped = defaultdict(list)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for time_utc, quantity, value, status, flag in rows:
        left_out = flag in (Flag.FAIL, Flag.MISSING)
        usable = value is not None and status == SensorStatus.OK and not left_out
        seconds = (time_utc - epoch) // timedelta(seconds=1)
        for period in rollups.PERIODS_S:
            bucket = epoch + timedelta(seconds=seconds - seconds % period)
            grouped[(quantity, period, bucket)].append((value, usable, flag))
    expected = {}
    for key, members in grouped.items():
        values = [value for value, usable, _ in members if usable]
        expected[key] = (
            len(values),
            sum(1 for _, usable, flag in members if usable and flag == Flag.SUSPECT),
            len(members) - len(values),
            math.fsum(values) if values else None,
            min(values, default=None),
            max(values, default=None),
        )
    return expected


def assert_same(
    got: dict[tuple[int, int, datetime], tuple[Any, ...]],
    want: dict[tuple[int, int, datetime], tuple[Any, ...]],
) -> None:
    assert sorted(got) == sorted(want)
    for key, (n, suspect, bad, total, low, high) in want.items():
        assert got[key][:3] == (n, suspect, bad), key
        assert got[key][4:] == (low, high), key
        if total is None:
            assert got[key][3] is None, key
        else:
            assert got[key][3] == pytest.approx(total, rel=1e-12, abs=1e-9), key


def clear(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table is not buoys:
                conn.execute(table.delete())


def write_flags(engine: Engine, version: str, at: datetime, flags: dict[int, int]) -> None:
    """Flag every stored reading of the given seqs under ``version``, activated ``at``, and
    refresh their buckets as the QC runner does."""
    key = buoy_key(engine)
    with engine.begin() as conn:
        conn.execute(
            qc_configs.insert().values(
                version=version, resolved="{}", source="", first_used=at, last_activated=at
            )
        )
        stored = conn.execute(
            select(readings.c.seq, readings.c.quantity).where(
                readings.c.buoy_key == key, readings.c.seq.in_(list(flags))
            )
        ).all()
        if stored:
            conn.execute(
                qc_flags.insert(),
                [
                    {
                        "buoy_key": key,
                        "seq": seq,
                        "quantity": quantity,
                        "qc_version": version,
                        "aggregate": flags[seq],
                    }
                    for seq, quantity in stored
                ],
            )
        rollups.refresh_samples(conn, key, flags)


# ---------------------------------------------------------------- the property

values = st.one_of(
    st.floats(min_value=-5, max_value=40, allow_nan=False).map(lambda v: Value(round(v, 3))),
    st.just(Value(8.1, SensorStatus.WARMING_UP)),
    st.just(Value(None, SensorStatus.UNREACHABLE)),
)


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[Batch], dict[int, int]]:
    """Samples (some unsynced, many on bucket edges) sent in random batches, re-sent in part,
    in any order; and the QC flags later given to some of them."""
    count = draw(st.integers(min_value=1, max_value=24))
    sent = []
    for seq in range(1, count + 1):
        readings_ = draw(
            st.dictionaries(st.sampled_from(["ph", "water_temperature"]), values, min_size=1)
        )
        if draw(st.integers(0, 9)) == 0:
            sent.append(Sample(seq, 5_000, ClockSource.UNSYNCED, readings_, boot=3))
        else:
            offset = draw(st.one_of(st.sampled_from(EDGES_MS), st.integers(0, 3 * 86_400_000)))
            sent.append(synced(seq, offset, **readings_))
    order = draw(st.permutations(sent + draw(st.lists(st.sampled_from(sent), max_size=6))))
    cuts = draw(st.sets(st.integers(1, len(order)), max_size=5))
    batches: list[list[Sample]] = [[]]
    for position, s in enumerate(order):
        if position in cuts or any(s.seq == other.seq for other in batches[-1]):
            batches.append([])  # a batch never repeats a seq
        batches[-1].append(s)
    flags = draw(st.dictionaries(st.integers(1, count), st.sampled_from([1, 2, 3, 4, 9])))
    return [Batch(BUOY, tuple(b)) for b in batches if b], flags


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(arrival=arrivals())
def test_rollups_equal_brute_force_whatever_the_arrival_order_duplicates_and_flags(
    engine: Engine, intake: Intake, arrival: tuple[list[Batch], dict[int, int]]
) -> None:
    batches, flags = arrival
    clear(engine)
    for batch in batches:
        deliver(engine, intake, batch)
    assert_same(stored_rollups(engine), brute_force(engine))

    # An older version's verdicts must not count once a newer version is in force.
    write_flags(engine, "old", NOW, dict.fromkeys(flags, 4))
    write_flags(engine, "current", NOW + timedelta(hours=1), flags)
    deliver(engine, intake, batches[0])  # a late duplicate changes nothing
    assert_same(stored_rollups(engine), brute_force(engine))


# ---------------------------------------------------------------- the rest


def test_samples_either_side_of_an_edge_fall_in_their_own_buckets(
    engine: Engine, intake: Intake
) -> None:
    last_ms = 86_400_000 - 1  # 23:59:59.999, the last instant of the first day
    deliver(
        engine,
        intake,
        Batch(BUOY, (synced(1, last_ms, ph=Value(8.0)), synced(2, 86_400_000, ph=Value(8.2)))),
    )
    got = stored_rollups(engine)
    day = timedelta(days=1)
    for period in rollups.PERIODS_S:
        before = DAY_START + day - timedelta(seconds=period)
        assert got[(PH.code, period, before)] == (1, 0, 0, 8.0, 8.0, 8.0)
        assert got[(PH.code, period, DAY_START + day)] == (1, 0, 0, 8.2, 8.2, 8.2)
    assert len(got) == 2 * len(rollups.PERIODS_S)


def test_unsynced_samples_are_in_no_bucket(engine: Engine, intake: Intake) -> None:
    unsynced = Sample(1, 10_000, ClockSource.UNSYNCED, {"ph": Value(8.0)}, boot=2)
    result = deliver(engine, intake, Batch(BUOY, (unsynced,)))
    assert result.new_seqs == (1,)
    assert stored_rollups(engine) == {}


def test_a_chart_is_dense_and_shows_buckets_without_values_as_gaps(
    engine: Engine, intake: Intake
) -> None:
    minutes = 60_000
    deliver(
        engine,
        intake,
        Batch(
            BUOY,
            (
                synced(1, 1 * minutes, ph=Value(8.0)),
                synced(2, 2 * minutes, ph=Value(8.2)),
                synced(3, 25 * minutes, ph=Value(None, SensorStatus.TIMEOUT)),
                synced(4, 31 * minutes, ph=Value(8.4)),
            ),
        ),
    )
    now = DAY_START + timedelta(minutes=35)
    with engine.connect() as conn:
        chart = rollups.series(conn, buoy_key(engine), PH, "24h", now)
    assert chart.period_s == 600
    assert len(chart.times) == 144
    assert chart.times[-1] == DAY_START + timedelta(minutes=30)  # the bucket holding "now"
    assert chart.start == chart.times[0] and chart.end == DAY_START + timedelta(minutes=40)
    assert chart.end - chart.start == timedelta(hours=24)
    assert chart.mean[-4:] == (pytest.approx(8.1), None, None, 8.4)
    assert chart.min[-4:] == (8.0, None, None, 8.4)
    assert chart.max[-4:] == (8.2, None, None, 8.4)
    assert chart.n[-4:] == (2, 0, 0, 1)
    assert chart.n_bad[-4:] == (0, 0, 1, 0)
    assert set(chart.mean[:-4]) == {None}


def test_every_window_uses_its_level_and_ends_with_the_bucket_holding_now(
    engine: Engine, intake: Intake
) -> None:
    deliver(engine, intake, Batch(BUOY, (synced(1, 0, ph=Value(8.0)),)))
    now = DAY_START + timedelta(hours=7)
    with engine.connect() as conn:
        for window, (span, period) in rollups.WINDOWS.items():
            chart = rollups.series(conn, buoy_key(engine), PH, window, now)
            assert chart.period_s == period
            assert chart.end - chart.start == span
            assert chart.start <= now < chart.end
            assert sum(chart.n) == 1
        with pytest.raises(ValueError, match="unknown chart window"):
            rollups.series(conn, buoy_key(engine), PH, "2h", now)


def test_hourly_means_are_those_of_the_hours_with_usable_values(
    engine: Engine, intake: Intake
) -> None:
    hour = 3_600_000
    deliver(
        engine,
        intake,
        Batch(
            BUOY,
            (
                synced(1, 0, water_temperature=Value(28.0)),
                synced(2, hour // 2, water_temperature=Value(29.0)),
                synced(3, hour, water_temperature=Value(None, SensorStatus.UNREACHABLE)),
                synced(4, 2 * hour, water_temperature=Value(30.0)),
            ),
        ),
    )
    with engine.connect() as conn:
        means = rollups.hourly_means(
            conn, buoy_key(engine), TEMPERATURE, DAY_START, DAY_START + timedelta(hours=2)
        )
    assert means == [(DAY_START, 28.5)]


def test_a_qc_failure_takes_the_value_out_of_the_chart(engine: Engine, intake: Intake) -> None:
    minute = 60_000
    batch = Batch(
        BUOY,
        tuple(
            synced(seq, seq * minute, ph=Value(value))
            for seq, value in ((1, 8.0), (2, 8.1), (3, 14.5), (4, 8.05))  # 14.5 is impossible
        ),
    )
    result = deliver(engine, intake, batch)
    bucket = (PH.code, 600, DAY_START)
    assert stored_rollups(engine)[bucket][:3] == (4, 0, 0)
    assert stored_rollups(engine)[bucket][5] == 14.5

    QcRunner(engine, load_qc_config(None)).after_commit([result])

    n, _, bad, _, _, high = stored_rollups(engine)[bucket]
    assert high < 14.5 and bad >= 1 and n + bad == 4
    assert_same(stored_rollups(engine), brute_force(engine))


def test_a_rebuild_gives_what_the_ingest_kept_up_to_date(engine: Engine, intake: Intake) -> None:
    hour = 3_600_000
    for first in (40, 0, 20):  # out of order, two days apart at the ends
        deliver(
            engine,
            intake,
            Batch(
                BUOY,
                tuple(
                    synced(seq, seq * 2 * hour + 7, ph=Value(8 + seq / 100))
                    for seq in range(first + 1, first + 21)
                ),
            ),
        )
    write_flags(engine, "current", NOW, {5: 4, 6: 3, 33: 9})
    incremental = stored_rollups(engine)
    assert_same(incremental, brute_force(engine))

    with engine.begin() as conn:
        conn.execute(delete(rollup_rows))
        conn.execute(  # a stale bucket where nothing was ever measured must go
            rollup_rows.insert().values(
                buoy_key=buoy_key(engine),
                quantity=PH.code,
                period_s=600,
                bucket_start=DAY_START + timedelta(days=1, minutes=10),
                n=1,
                n_suspect=0,
                n_bad=0,
                value_sum=1.0,
                value_min=1.0,
                value_max=1.0,
            )
        )
    assert rollups.rebuild(engine) == len(incremental)
    assert_same(stored_rollups(engine), incremental)


def test_a_database_from_before_rollups_gets_them_once_and_only_once(
    engine: Engine, intake: Intake
) -> None:
    deliver(
        engine, intake, Batch(BUOY, tuple(synced(s, s * 60_000, ph=Value(8.0)) for s in (1, 2)))
    )
    kept = stored_rollups(engine)
    assert rollups.rebuild_if_missing(engine) == 0  # roll-ups exist: nothing to do
    with engine.begin() as conn:
        conn.execute(delete(rollup_rows))
    assert rollups.rebuild_if_missing(engine) == len(kept)
    assert_same(stored_rollups(engine), kept)


def test_a_rebuild_in_range_recomputes_the_whole_days_it_touches(
    engine: Engine, intake: Intake
) -> None:
    hour = 3_600_000
    deliver(
        engine,
        intake,
        Batch(BUOY, tuple(synced(seq, seq * 10 * hour, ph=Value(8.0)) for seq in range(1, 10))),
    )
    everything = stored_rollups(engine)
    with engine.begin() as conn:
        conn.execute(delete(rollup_rows))
    day = DAY_START + timedelta(days=2)
    since = day + timedelta(hours=1)  # seq 5 at 50 h is the only sample in range
    written = rollups.rebuild(engine, BUOY, since=since, until=since + timedelta(hours=2))
    in_day = {key: row for key, row in everything.items() if day <= key[2] < day + timedelta(1)}
    assert written == len(in_day) == 3 * 3 + 1  # seqs 5, 6, 7 that day: 3 buckets a level, 1 day
    assert_same(stored_rollups(engine), in_day)
    with pytest.raises(ValueError, match="no buoy"):
        rollups.rebuild(engine, "reef-unknown")


def _times(ms: Iterable[int]) -> list[datetime]:
    return [DAY_START + timedelta(milliseconds=m) for m in ms]


def test_refresh_of_nothing_writes_nothing(engine: Engine, intake: Intake) -> None:
    with engine.begin() as conn:
        assert rollups.refresh(conn, buoy_key(engine), _times([])) == 0
        assert rollups.refresh(conn, buoy_key(engine), _times([0, 1])) == 0


def test_the_rebuild_command_recomputes_what_was_lost(tmp_path: Path, sqlite_url: str) -> None:
    upgrade_database(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        intake = Intake(
            TOPICS, IngestConfig(database=DatabaseSettings(sqlite_url), mqtt=MqttSettings())
        )
        register_buoys(engine, BUOY)
        deliver(engine, intake, Batch(BUOY, (synced(1, 0, ph=Value(8.0)),)))
        kept = stored_rollups(engine)
        with engine.begin() as conn:
            conn.execute(delete(rollup_rows))
        config = tmp_path / "ingest.toml"
        config.write_text(f'[database]\nurl = "{sqlite_url}"\n')
        command = ["rollups", "rebuild", "--config", str(config)]
        assert main([*command, "--buoy", "reef-unknown"]) == 2
        assert main([*command, "--since", "yesterday"]) == 2
        assert stored_rollups(engine) == {}
        assert main([*command, "--buoy", BUOY, "--since", "2026-05-28T00:00Z"]) == 0
        assert stored_rollups(engine) == kept
    finally:
        engine.dispose()


def test_a_buoy_first_seen_in_its_batch_gets_its_buckets(engine: Engine) -> None:
    config = IngestConfig(
        database=DatabaseSettings(str(engine.url)),
        mqtt=MqttSettings(prefix=PREFIX),
        accept_unknown_buoys=True,
    )
    deliver(engine, Intake(TOPICS, config), Batch(BUOY, (synced(1, 0, ph=Value(8.0)),)))
    assert stored_rollups(engine)[(PH.code, 600, DAY_START)] == (1, 0, 0, 8.0, 8.0, 8.0)


def test_two_writers_of_one_buoy_never_lose_each_others_samples(postgres_url: str) -> None:
    """Two ingest workers store samples of one new bucket at once: the second waits for the
    first to commit and then counts both, rather than overwrite the first's bucket with its own
    half."""
    upgrade_database(postgres_url)
    engine = make_engine(postgres_url)
    try:
        with engine.begin() as conn:
            yesterday = synced(1, -86_400_000, ph=Value(8.0))  # a buoy, but no bucket yet
            store_batch(conn, Batch(BUOY, (yesterday,)), RECEIVED)
        key = buoy_key(engine)
        with engine.begin() as conn:
            rollups.refresh(conn, key, [DAY_START - timedelta(days=1)])

        def store_and_refresh(conn: Connection, seq: int, value: float) -> None:
            sample = synced(seq, seq * 60_000, ph=Value(value))
            store_batch(conn, Batch(BUOY, (sample,)), RECEIVED, key)
            rollups.refresh(conn, key, [DAY_START + timedelta(minutes=seq)])

        with engine.connect() as first, engine.connect() as watcher:
            first.begin()
            store_and_refresh(first, 2, 8.2)
            second = threading.Thread(target=lambda: _in_transaction(engine, store_and_refresh))
            second.start()
            waiting = select(func.count()).where(text("wait_event_type = 'Lock'"))
            waiting = waiting.select_from(text("pg_stat_activity"))
            deadline = time.monotonic() + 30
            while watcher.execute(waiting).scalar_one() == 0 and time.monotonic() < deadline:
                watcher.rollback()
                time.sleep(0.01)
            first.commit()
            second.join(30)
        assert stored_rollups(engine)[(PH.code, 600, DAY_START)][:3] == (2, 0, 0)
        assert_same(stored_rollups(engine), brute_force(engine))
    finally:
        engine.dispose()


def _in_transaction(engine: Engine, store: Callable[[Connection, int, float], None]) -> None:
    with engine.begin() as conn:
        store(conn, 3, 8.4)
