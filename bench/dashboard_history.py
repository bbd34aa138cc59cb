"""A dashboard database with a network's year of history, for timing charts and pages.

20 registered buoys, each with one year of 1-minute samples (525,600) of water temperature,
turbidity, current speed, pH, latitude and longitude: a diurnal and seasonal temperature cycle,
turbidity events after wind, a tidal current, pH following temperature, a GPS position
swinging within its mooring circle, all with noise. The rows go straight into ``samples``,
``readings`` and ``latest_readings`` with the sqlite3 module's executemany (the ingest's
per-message path would take hours), then ``dashboard.rollups.rebuild`` computes the roll-ups
as ``nemopi rollups rebuild`` would. No QC flags: every reading counts as not evaluated.

The file is cached (``bench/.cache/`` by default): a finished database is reused, a half-made
one never is (it is written under a temporary name and renamed at the end).

Run: PYTHONPATH=. .venv/bin/python bench/dashboard_history.py [--buoys N] [--days N] [PATH]
"""

from __future__ import annotations

import argparse
import logging
import math
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from dashboard import rollups
from dashboard.db import make_engine, upgrade_database
from nemopi.catalogue import by_name
from nemopi.wire import ClockSource

log = logging.getLogger(__name__)

CACHE = Path(__file__).with_name(".cache") / "history-20-buoys-1-year.sqlite3"
BUOYS = 20
DAYS = 365
STEP_S = 60
END = datetime(2026, 11, 1, tzinfo=UTC)  # the history ends here: "now" for the timings
CHUNK_SAMPLES = 43_200  # a month of samples per executemany, to bound memory
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how UTCDateTime stores a time in SQLite
QUANTITIES = ("water_temperature", "turbidity", "current_speed", "ph", "latitude", "longitude")
CODES = [by_name(name).code for name in QUANTITIES]
REEF_LATITUDE = -8.35  # the Gili islands, Lombok
REEF_LONGITUDE = 116.04
MOORING_RADIUS_M = 50.0
TIDE_S = 12.42 * 3600  # the M2 tide


def buoy_id(index: int) -> str:
    return f"reef-{index + 1:02d}"


def history_database(path: Path = CACHE, buoys: int = BUOYS, days: int = DAYS) -> str:
    """The SQLAlchemy URL of the history database at ``path``, generated first if missing."""
    url = f"sqlite:///{path}"
    if path.exists():
        return url
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    partial_url = f"sqlite:///{partial}"
    upgrade_database(partial_url)
    started = time.perf_counter()
    _write_raw(partial, buoys, days)
    raw_s = time.perf_counter() - started
    engine = make_engine(partial_url)
    try:
        written = rollups.rebuild(engine)
    finally:
        engine.dispose()
    log.info(
        "generated %s: raw rows %.0f s, roll-ups (%d rows) %.0f s",
        path,
        raw_s,
        written,
        time.perf_counter() - started - raw_s,
    )
    partial.rename(path)
    return url


def _write_raw(path: Path, buoys: int, days: int) -> None:
    """Buoys, samples, readings and latest readings, in one transaction per buoy."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA synchronous = OFF")  # a cache: a crash means generating again
        db.execute("PRAGMA foreign_keys = OFF")
        start = END - timedelta(days=days)
        for index in range(buoys):
            with db:
                key = _add_buoy(db, index, start)
                rng = np.random.default_rng(index)
                for seq0, times, values in _history(rng, index, start, days):
                    _insert(db, key, seq0, times, values)
                db.execute(
                    "INSERT INTO latest_readings (buoy_key, quantity, seq, value, status)"
                    " SELECT buoy_key, quantity, seq, value, status FROM readings"
                    " WHERE buoy_key = ? AND seq = (SELECT max(seq) FROM samples"
                    " WHERE buoy_key = ?)",
                    (key, key),
                )
            log.info("buoy %s: %d days of samples written", buoy_id(index), days)
    finally:
        db.close()


def _add_buoy(db: sqlite3.Connection, index: int, start: datetime) -> int:
    registered = (start - timedelta(days=1)).strftime(SQLITE_TIME)
    cursor = db.execute(
        "INSERT INTO buoys (id, first_seen, last_heard, online, name, mooring_latitude,"
        " mooring_longitude, mooring_radius_m, timezone, registered, registered_at)"
        " VALUES (?, ?, ?, 1, ?, ?, ?, ?, 'Asia/Makassar', 1, ?)",
        (
            buoy_id(index),
            registered,
            END.strftime(SQLITE_TIME),
            f"Reef {index + 1}",
            REEF_LATITUDE + 0.01 * index,
            REEF_LONGITUDE + 0.01 * index,
            MOORING_RADIUS_M,
            registered,
        ),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _history(
    rng: np.random.Generator, index: int, start: datetime, days: int
) -> Iterator[tuple[int, list[str], np.ndarray]]:
    """(first seq, sample times as SQLite text, values [sample, quantity]) per chunk."""
    total = days * 86400 // STEP_S
    t0 = start.timestamp()
    phases = rng.uniform(0, 2 * np.pi, 2)
    for first in range(0, total, CHUNK_SAMPLES):
        count = min(CHUNK_SAMPLES, total - first)
        seconds = t0 + STEP_S * np.arange(first, first + count, dtype=np.float64)
        day = 2 * np.pi * ((seconds / 86400 + 8 / 24) % 1)  # local solar time, UTC+8
        season = 2 * np.pi * ((seconds - t0) / (365 * 86400))
        temperature = (
            28.0 + 0.8 * np.cos(season) + 0.4 * np.sin(day - np.pi / 2) + rng.normal(0, 0.05, count)
        )
        weather = 0.5 * (
            np.sin(2 * np.pi * seconds / (3.1 * 86400) + phases[0])
            + np.sin(2 * np.pi * seconds / (7.3 * 86400) + phases[1])
        )  # wind that stirs up sediment for a day or two now and then
        turbidity = np.exp(0.5 + 1.5 * np.clip(weather, 0, None) + rng.normal(0, 0.1, count))
        current = np.abs(0.35 * np.sin(2 * np.pi * seconds / TIDE_S)) + rng.normal(0, 0.02, count)
        ph = 8.05 - 0.02 * (temperature - 28.0) + rng.normal(0, 0.005, count)
        metres = MOORING_RADIUS_M / 3 * np.sin(2 * np.pi * seconds / TIDE_S + index)
        latitude = REEF_LATITUDE + 0.01 * index + (metres + rng.normal(0, 3, count)) / 111_320
        longitude = (
            REEF_LONGITUDE
            + 0.01 * index
            + rng.normal(0, 3, count) / (111_320 * math.cos(math.radians(REEF_LATITUDE)))
        )
        values = np.column_stack(
            [
                temperature.round(3),
                turbidity.round(2),
                np.clip(current, 0, None).round(3),
                ph.round(3),
                latitude.round(7),
                longitude.round(7),
            ]
        )
        times = [datetime.fromtimestamp(s, UTC).strftime(SQLITE_TIME) for s in seconds.tolist()]
        yield first, times, values


def _insert(
    db: sqlite3.Connection, key: int, seq0: int, times: list[str], values: np.ndarray
) -> None:
    clock = int(ClockSource.GPS)
    db.executemany(
        "INSERT INTO samples (buoy_key, seq, clock, time_utc, received_at, config_version,"
        " calibration_version) VALUES (?, ?, ?, ?, ?, 1, 1)",
        ((key, seq0 + i, clock, when, when) for i, when in enumerate(times)),
    )
    rows = values.tolist()
    db.executemany(
        "INSERT INTO readings (buoy_key, seq, quantity, value, status) VALUES (?, ?, ?, ?, 0)",
        (
            (key, seq0 + i, code, value)
            for i, row in enumerate(rows)
            for code, value in zip(CODES, row, strict=True)
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=CACHE)
    parser.add_argument("--buoys", type=int, default=BUOYS)
    parser.add_argument("--days", type=int, default=DAYS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    url = history_database(args.path, args.buoys, args.days)
    print(f"{url} ready in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
