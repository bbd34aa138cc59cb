"""The CSV export's rate and memory against the sqlite3 tool's own CSV output.

Builds (once, cached in bench/.cache/) a SQLite database of one buoy with N samples a minute
apart, each with water temperature and pH and a QC flag for both, then measures, each in a
fresh process:

- our CSV export of every sample, through the real streaming code (plan, keyset chunks,
  row shaping, csv writer), consuming the generator: rows/s and peak RSS;
- the same for the first 10,000 samples: peak RSS;
- ``sqlite3 -csv -header`` running the very query our export pages through, once, unpaged,
  written to /dev/null: rows/s (the upper limit: no paging, no Python).

Targets (issue 8): ours at least 30% of sqlite3's rate; peak RSS at 10 thousand and at N
rows within 20 MB of each other.

Run: PYTHONPATH=. .venv/bin/python bench/export_csv.py [--samples 10000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.dialects import sqlite as sqlite_dialect

from dashboard.db import make_engine, upgrade_database
from dashboard.export.columns import header
from dashboard.export.csv_format import csv_bytes
from dashboard.export.request import parse_request
from dashboard.export.rows import buoy_query, iter_chunks, plan_export
from dashboard.export.settings import ExportSettings
from dashboard.qc.config import load_qc_config
from dashboard.qc.store import activate
from nemopi.catalogue import by_name
from nemopi.wire import ClockSource

CACHE = Path(__file__).with_name(".cache")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SMALL = 10_000
QUANTITIES = ("water_temperature", "ph")
RATE_TARGET = 0.30
RSS_TARGET_MB = 20.0


def build(path: Path, samples: int) -> None:
    """The bench database: generated inside SQLite, so ten million samples take a minute."""
    url = f"sqlite:///{path}"
    upgrade_database(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        activate(conn, load_qc_config(None), T0)
    engine.dispose()
    version = load_qc_config(None).version
    codes = [by_name(name).code for name in QUANTITIES]
    db = sqlite3.connect(path)
    try:
        db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        db.execute(
            "INSERT INTO buoys (key, id, first_seen, registered, mooring_latitude,"
            " mooring_longitude) VALUES (1, 'reef-01', ?, 1, -16.9, 145.7)",
            (T0.strftime("%Y-%m-%d %H:%M:%S.000000"),),
        )
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)"
            " INSERT INTO samples (buoy_key, seq, clock, time_utc, received_at,"
            " config_version, calibration_version)"
            " SELECT 1, i, ?, strftime('%Y-%m-%d %H:%M:%S', ? + i * 60, 'unixepoch')"
            " || '.000000', '2026-01-01 00:00:00.000000', 1, 1 FROM n",
            (samples, int(ClockSource.GPS), int(T0.timestamp())),
        )
        quantity_rows = " UNION ALL ".join(f"SELECT {code} AS q" for code in sorted(codes))
        db.execute(
            f"INSERT INTO readings SELECT 1, s.seq, q.q, 20 + (s.seq % 1000) / 100.0 + q.q / 7.0,"
            f" 0 FROM samples s CROSS JOIN ({quantity_rows}) q ORDER BY s.seq, q.q"
        )
        db.execute(
            "INSERT INTO qc_flags SELECT buoy_key, seq, quantity, ?, 1, 1, 1, 1, 1, NULL,"
            " CASE WHEN seq % 97 = 0 THEN 3 ELSE 1 END FROM readings",
            (version,),
        )
        db.commit()
    finally:
        db.close()


def database(samples: int) -> Path:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"export-{samples}.sqlite3"
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        started = time.perf_counter()
        build(partial, samples)
        partial.rename(path)
        print(f"built {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


def request_args(rows: int | None) -> dict[str, list[str]]:
    args = {"buoy": ["reef-01"], "quantity": [",".join(QUANTITIES)]}
    if rows is not None:
        args["end"] = [(T0 + timedelta(minutes=rows)).isoformat()]
    return args


def measure_ours(path: Path, rows: int | None) -> dict[str, float]:
    """Run in a fresh process: our export of the first ``rows`` samples (None: all)."""
    settings = ExportSettings(max_rows=10**9)
    engine = make_engine(f"sqlite:///{path}", read_only=True)
    started, cpu_started = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
    asked = parse_request(request_args(rows), settings.max_buoys)
    with engine.connect() as conn:
        plan = plan_export(conn, asked, settings.max_rows)
    size = 0
    for block in csv_bytes(
        header(asked.quantities), iter_chunks(engine, plan, settings.chunk_rows)
    ):
        size += len(block)
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu_started
    engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": plan.rows,
        "seconds": elapsed,
        "cpu": cpu,
        "bytes": size,
        "peak_rss_mb": peak_mb,
    }


def cpu_seconds(who: int) -> float:
    """User and system CPU time: on a busy machine it is steadier than the wall clock."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def in_fresh_process(path: Path, rows: int | None) -> dict[str, float]:
    command = [sys.executable, __file__, "--measure", str(path), "--rows", str(rows or 0)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def measure_sqlite3(path: Path) -> dict[str, float]:
    """The same query, unpaged, through the sqlite3 tool's CSV output into /dev/null."""
    settings = ExportSettings(max_rows=10**9)
    engine = make_engine(f"sqlite:///{path}", read_only=True)
    asked = parse_request(request_args(None), settings.max_buoys)
    with engine.connect() as conn:
        plan = plan_export(conn, asked, settings.max_rows)
    engine.dispose()
    query = buoy_query(plan, plan.buoys[0], "sqlite", keyset=False)
    sql = str(
        query.compile(dialect=sqlite_dialect.dialect(), compile_kwargs={"literal_binds": True})
    )
    started, cpu_started = time.perf_counter(), cpu_seconds(resource.RUSAGE_CHILDREN)
    with open("/dev/null", "wb") as sink:
        subprocess.run(["sqlite3", "-csv", "-header", str(path), sql], stdout=sink, check=True)
    return {
        "rows": plan.rows,
        "seconds": time.perf_counter() - started,
        "cpu": cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_ours(args.measure, args.rows or None)))
        return
    path = database(args.samples)
    small = in_fresh_process(path, SMALL)
    large = in_fresh_process(path, None)
    tool = measure_sqlite3(path)
    growth = large["peak_rss_mb"] - small["peak_rss_mb"]
    print(
        f"{'run':<28}{'rows':>12}{'wall s':>9}{'rows/s':>11}"
        f"{'CPU s':>9}{'rows/CPU s':>12}{'peak RSS MB':>13}"
    )
    for name, figures in (
        ("ours, first 10,000 samples", small),
        ("ours, every sample", large),
        ("sqlite3 -csv, same query", tool),
    ):
        rss = f"{figures['peak_rss_mb']:>13.1f}" if "peak_rss_mb" in figures else ""
        print(
            f"{name:<28}{figures['rows']:>12,.0f}{figures['seconds']:>9.1f}"
            f"{figures['rows'] / figures['seconds']:>11,.0f}{figures['cpu']:>9.1f}"
            f"{figures['rows'] / figures['cpu']:>12,.0f}{rss}"
        )
    wall = tool["seconds"] / large["seconds"]
    cpu = tool["cpu"] / large["cpu"]
    verdict = "ok" if wall >= RATE_TARGET else "MISSED"
    print(f"rate: ours {wall:.0%} of sqlite3's by wall clock, {cpu:.0%} by CPU time")
    print(f"  target {RATE_TARGET:.0%} (wall clock): {verdict}")
    verdict = "ok" if abs(growth) <= RSS_TARGET_MB else "MISSED"
    print(f"peak RSS: {growth:+.1f} MB from 10,000 to every sample")
    print(f"  target within {RSS_TARGET_MB:.0f} MB: {verdict}")


if __name__ == "__main__":
    main()
