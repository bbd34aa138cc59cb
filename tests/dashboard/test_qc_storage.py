"""QC against the database: flags are the same live or as backlog, versions add up, a crash
between commit and QC is recovered, and QC never touches a reading (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from dashboard.db import make_engine, upgrade_database
from dashboard.models import buoys, qc_configs, qc_flags
from dashboard.qc import runner as runner_module
from dashboard.qc.config import QcConfig
from dashboard.qc.flags import Flag
from dashboard.qc.runner import QcRunner
from dashboard.qc.store import current_version
from dashboard.storage import StoreResult, store_batch
from nemopi.catalogue import by_name
from nemopi.cli import main
from nemopi.wire import Batch
from tests.dashboard import qc_series as known
from tests.dashboard.stored import stored_readings

RECEIVED = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> QcConfig:
    return known.qc_config(tmp_path)


def register(engine: Engine) -> None:
    """The buoy as the registry leaves it: known, with a mooring."""
    with engine.begin() as conn:
        conn.execute(
            buoys.insert().values(
                id=known.BUOY,
                first_seen=RECEIVED,
                mooring_latitude=known.MOORING.latitude,
                mooring_longitude=known.MOORING.longitude,
                mooring_radius_m=known.MOORING.radius_m,
            )
        )


def store(engine: Engine, batch: Batch) -> StoreResult:
    with engine.begin() as conn:
        return store_batch(conn, batch, RECEIVED)


def deliver(engine: Engine, runner: QcRunner | None, batches: list[Batch]) -> None:
    """Store each batch in its own transaction, then QC it, as the ingest does."""
    for batch in batches:
        result = store(engine, batch)
        if runner is not None:
            runner.after_commit([result])


FlagRow = tuple[int, int, int | None, int | None, int | None, int | None, int | None, int]


def flags(engine: Engine, version: str) -> dict[tuple[int, int], FlagRow]:
    columns = [
        qc_flags.c[name]
        for name in (
            "sensor",
            "gross_range",
            "spike",
            "rate_of_change",
            "flat_line",
            "location",
            "aggregate",
        )
    ]
    query = select(qc_flags.c.seq, qc_flags.c.quantity, *columns).where(
        qc_flags.c.qc_version == version
    )
    with engine.connect() as conn:
        return {(row[0], row[1]): tuple(row) for row in conn.execute(query)}  # type: ignore[misc]


def live(engine: Engine, config: QcConfig) -> dict[tuple[int, int], FlagRow]:
    register(engine)
    deliver(engine, QcRunner(engine, config), known.batches(known.known_samples(), 1))
    return flags(engine, config.version)


def test_live_flags_are_the_expected_ones(engine: Engine, config: QcConfig) -> None:
    stored = live(engine, config)
    temperature, ph = by_name("water_temperature").code, by_name("ph").code
    latitude, longitude = by_name("latitude").code, by_name("longitude").code
    assert len(stored) == known.COUNT * 4
    aggregate = -1
    assert stored[known.SPIKE, temperature][4] == Flag.FAIL  # spike column
    assert stored[known.FLAT.stop - 1, temperature][6] == Flag.FAIL  # flat line
    assert stored[known.OUT_OF_RANGE, ph][3] == Flag.FAIL  # gross range
    assert stored[known.WARMING_UP, ph][aggregate] == Flag.SUSPECT
    assert stored[known.NO_VALUE, ph][aggregate] == Flag.MISSING
    for code in (latitude, longitude):
        assert stored[known.OFF_MOORING, code][7] == Flag.SUSPECT  # location
        assert stored[known.OFF_MOORING - 1, code][7] == Flag.GOOD
    assert stored[known.UNSYNCED, temperature][4:7] == (Flag.NOT_EVALUATED,) * 3
    # The newest value has no successor yet: its spike cannot be judged.
    assert stored[known.COUNT - 1, temperature][4] == Flag.NOT_EVALUATED
    assert stored[known.COUNT - 2, temperature][4] == Flag.GOOD


@pytest.fixture(scope="module")
def live_on_sqlite(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, int], FlagRow]:
    """The flags of the known series delivered live, computed once for the module."""
    folder = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{folder / 'live.sqlite3'}"
    upgrade_database(url)
    reference = make_engine(url)
    try:
        return live(reference, known.qc_config(folder))
    finally:
        reference.dispose()


@pytest.mark.parametrize("order", ["newest_first", "oldest_first", "shuffled"])
def test_backlog_gives_the_same_flags_as_live(
    engine: Engine,
    config: QcConfig,
    order: str,
    live_on_sqlite: dict[tuple[int, int], FlagRow],
) -> None:
    samples = known.known_samples()
    if order == "newest_first":
        # After an outage the buoy sends its newest batch first, then the rest oldest first.
        batches = known.batches(samples[-60:][::-1], 60) + known.batches(samples[:-60], 45)
    elif order == "oldest_first":
        batches = known.batches(samples, 100)
    else:
        rng = random.Random(7)
        shuffled = samples[:]
        rng.shuffle(shuffled)
        batches, at = [], 0
        while at < len(shuffled):
            size = rng.randint(1, 40)
            batches.append(Batch(known.BUOY, tuple(shuffled[at : at + size])))
            at += size
    register(engine)
    deliver(engine, QcRunner(engine, config), batches)
    assert flags(engine, config.version) == live_on_sqlite


def test_a_config_change_and_rerun_add_a_version_and_touch_nothing_else(
    engine: Engine, tmp_path: Path, config: QcConfig
) -> None:
    old = live(engine, config)
    readings_before = stored_readings(engine)
    stricter = known.qc_config(
        tmp_path, known.QC_TOML.replace("spike_suspect = 0.5", "spike_suspect = 0.05")
    )
    assert stricter.version != config.version
    flagged = QcRunner(engine, stricter).rerun()
    assert flagged == known.COUNT
    new = flags(engine, stricter.version)
    assert set(new) == set(old)
    assert new != old  # the stricter spike threshold flags more
    assert flags(engine, config.version) == old
    assert stored_readings(engine) == readings_before
    with engine.connect() as conn:
        query = select(qc_configs.c.version, qc_configs.c.source)
        versions = {row.version: row.source for row in conn.execute(query)}
        assert current_version(conn) == stricter.version
    assert set(versions) == {config.version, stricter.version}
    assert "spike_suspect = 0.05" in versions[stricter.version]


def test_rerun_limited_to_a_time_range_flags_only_that_range(
    engine: Engine, tmp_path: Path, config: QcConfig
) -> None:
    live(engine, config)
    other = known.qc_config(tmp_path, known.QC_TOML.replace("spike_fail = 2.0", "spike_fail = 3.0"))
    since = datetime.fromtimestamp((known.START_MS + 50 * known.STEP_MS) / 1000, UTC)
    until = datetime.fromtimestamp((known.START_MS + 59 * known.STEP_MS) / 1000, UTC)
    assert QcRunner(engine, other).rerun(known.BUOY, since, until) == 10
    seqs = {seq for seq, _ in flags(engine, other.version)}
    # And the neighbours whose tests those touch: one gap before, the longest window after
    # (positions keep their 12-hour default flat-line window, longer than the series).
    gap, reach = int(other.max_gap_s / 60), int(other.lookback_s / 60)
    assert set(range(50, 60)) <= seqs <= set(range(50 - gap, 60 + reach)) - {known.UNSYNCED}
    assert 50 - gap - 1 not in seqs
    with pytest.raises(ValueError, match="no buoy 'nobody'"):
        QcRunner(engine, other).rerun("nobody")


def test_recovery_flags_what_a_crash_left_unflagged(engine: Engine, config: QcConfig) -> None:
    expected = live(engine, config)
    with engine.begin() as conn:
        conn.execute(qc_flags.delete().where(qc_flags.c.seq >= 150))
    # More arrives after the crash, and is QCed as usual, before anyone recovers.
    runner = QcRunner(engine, config)
    assert runner.recover() == known.COUNT - 150
    assert flags(engine, config.version) == expected
    assert runner.recover() == 0


def test_a_failing_qc_loses_no_reading_and_recovery_fills_the_gap(
    engine: Engine,
    config: QcConfig,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    register(engine)
    runner = QcRunner(engine, config)
    samples = known.known_samples()

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in a rule")

    with monkeypatch.context() as patch:
        patch.setattr(runner_module, "evaluate", broken)
        with caplog.at_level(logging.ERROR, logger="dashboard.qc.runner"):
            deliver(engine, runner, known.batches(samples, 50))
    assert "QC failed for 50 samples of reef-01" in caplog.text
    assert len(stored_readings(engine)) == known.COUNT * 4
    assert flags(engine, config.version) == {}
    assert runner.recover() == known.COUNT
    assert len(flags(engine, config.version)) == known.COUNT * 4


def test_the_rerun_command_flags_under_the_files_version_and_refuses_bad_ranges(
    sqlite_engine: Engine, sqlite_url: str, tmp_path: Path
) -> None:
    register(sqlite_engine)
    deliver(sqlite_engine, None, known.batches(known.known_samples(), 50))
    qc_file = tmp_path / "rerun.toml"
    qc_file.write_text(known.QC_TOML, encoding="utf-8")
    ingest = tmp_path / "ingest.toml"
    ingest.write_text(f'qc_file = "{qc_file}"\n[database]\nurl = "{sqlite_url}"\n')
    command = ["qc", "rerun", "--config", str(ingest)]
    assert main([*command, "--buoy", "nobody"]) == 2
    assert main([*command, "--until", "tomorrow"]) == 2
    assert flags(sqlite_engine, known.qc_config(tmp_path).version) == {}
    assert main(command) == 0
    assert len(flags(sqlite_engine, known.qc_config(tmp_path).version)) > 0
