"""What a chart costs: ``dashboard.rollups.series`` for every window over the 20 buoys of the
history database (bench/dashboard_history.py), and the aggregation a chart of a year would cost
without roll-ups (one GROUP BY over the raw readings), for a few buoys.

The target (issue 7): the 1-year chart costs under 3 times the 1-day chart. Timings are taken
on a warm database (one untimed round first), as a live dashboard would be.

Run: PYTHONPATH=. .venv/bin/python bench/chart_queries.py [--rounds N] [--naive-buoys N] [PATH]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine, and_, func, select

from bench.dashboard_history import CACHE, END, history_database
from dashboard import rollups
from dashboard.db import make_engine
from dashboard.models import buoys, readings, samples
from nemopi.catalogue import by_name

TARGET_RATIO = 3.0
QUANTITY = by_name("water_temperature")


def buoy_keys(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(buoys.c.key, buoys.c.id).order_by(buoys.c.key)).all())


def time_series(engine: Engine, keys: Iterable[int], window: str, rounds: int) -> list[float]:
    """Seconds per ``series`` call, for each buoy in each round (after an untimed round)."""
    timings = []
    with engine.connect() as conn:
        for round_ in range(rounds + 1):
            for key in keys:
                started = time.perf_counter()
                rollups.series(conn, key, QUANTITY, window, END)
                if round_:
                    timings.append(time.perf_counter() - started)
    return timings


def naive_year(conn: Connection, key: int) -> int:
    """The 1-year chart straight from the readings: daily min/mean/max in one GROUP BY."""
    day = func.strftime("%Y-%m-%d", samples.c.time_utc)
    query = (
        select(day, func.count(), func.avg(readings.c.value), func.min(readings.c.value))
        .add_columns(func.max(readings.c.value))
        .select_from(samples)
        .join(
            readings,
            and_(readings.c.buoy_key == samples.c.buoy_key, readings.c.seq == samples.c.seq),
        )
        .where(
            samples.c.buoy_key == key,
            samples.c.time_utc >= END - timedelta(days=365),
            readings.c.quantity == QUANTITY.code,
            readings.c.status == 0,
        )
        .group_by(day)
    )
    return len(conn.execute(query).all())


def milliseconds(timings: list[float], quantile: int) -> float:
    return statistics.quantiles(timings, n=100, method="inclusive")[quantile - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=CACHE)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--naive-buoys", type=int, default=3)
    args = parser.parse_args()
    url = history_database(args.path)
    engine = make_engine(url, read_only=True)
    keys = buoy_keys(engine)
    size_gb = args.path.stat().st_size / 1e9
    print(f"{len(keys)} buoys, {QUANTITY.name}, database {size_gb:.1f} GB, now = {END:%Y-%m-%d}")
    print(f"{'window':>6} {'period':>7} {'buckets':>7} {'calls':>6} {'p50 ms':>8} {'p95 ms':>8}")
    p50 = {}
    for window, (span, period) in rollups.WINDOWS.items():
        timings = time_series(engine, keys, window, args.rounds)
        p50[window] = milliseconds(timings, 50)
        buckets = int(span.total_seconds()) // period
        print(
            f"{window:>6} {period:>6}s {buckets:>7} {len(timings):>6}"
            f" {p50[window]:>8.2f} {milliseconds(timings, 95):>8.2f}"
        )
    ratio = p50["1y"] / p50["24h"]
    verdict = "meets" if ratio < TARGET_RATIO else "MISSES"
    print(f"1y / 24h (p50): {ratio:.2f} ({verdict} the target of under {TARGET_RATIO:g})")
    naive = []
    with engine.connect() as conn:
        for key in list(keys)[: args.naive_buoys]:
            started = time.perf_counter()
            days = naive_year(conn, key)
            naive.append(time.perf_counter() - started)
            print(
                f"naive 1y GROUP BY over the readings, {keys[key]}: {days} days in"
                f" {naive[-1] * 1000:.0f} ms"
            )
    if naive:
        print(
            f"naive / roll-up 1y chart (p50): {statistics.median(naive) * 1000 / p50['1y']:,.0f}x"
        )
    engine.dispose()


if __name__ == "__main__":
    main()
