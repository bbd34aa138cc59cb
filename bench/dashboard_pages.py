"""What the live dashboard costs the server, and what its first view costs a phone.

Over the history database (bench/dashboard_history.py: 20 buoys, a year of 1-minute samples),
with a heat-stress MMM for every reef, each request goes through the Flask test client: server
time only (no network, no browser), the app's read-only engine on the SQLite file. Every
endpoint is timed twice over:

- warm: the app's heat-stress cache holds every reef's figure (it is recomputed at most every
  10 minutes), as for nearly every request of a running dashboard;
- cold: the first request of a new app, which computes heat stress from 84 days of hourly
  roll-ups for every reef the response shows (the overview: all of them).

The clock is the history's end, so every reef is live. Also printed: the queries each request
makes, the ratio of the 1-year to the 1-day chart (issue 7's target: under 3), and the first
view of the overview as the browser test measures it: the gzipped HTML and the style sheets
and scripts it loads before any scrolling (the map library and tiles come later).

Run: PYTHONPATH=. .venv/bin/python bench/dashboard_pages.py [--rounds N] [--cold-rounds N] [PATH]
"""

from __future__ import annotations

import argparse
import gzip
import re
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from bench.chart_queries import TARGET_RATIO, milliseconds
from bench.dashboard_history import CACHE, END, history_database
from dashboard import webcontext
from dashboard.app import create_app
from dashboard.db import make_engine
from dashboard.models import buoys
from tests.dashboard.test_reefs import counted

QUANTITY = "water_temperature"
# The history's temperature is 28.0 °C +- 0.8 over the year, warmest at its end: MMMs a little
# below that give the reefs a spread of alert levels (the cost is the same at every level).
MMM_BASE_C = 27.6
MMM_STEP_C = 0.02
GZIP = {"Accept-Encoding": "gzip"}
STATIC = re.compile(r'(?:href|src)="(/static/[^"]+)"')


@dataclass(frozen=True)
class Endpoint:
    label: str
    path: str


def endpoints(reef_id: str) -> list[Endpoint]:
    series = f"/api/reefs/{reef_id}/series?quantity={QUANTITY}"
    return [
        Endpoint("GET /", "/"),
        Endpoint("GET /api/overview", "/api/overview"),
        Endpoint("GET /reefs/<id>", f"/reefs/{reef_id}"),
        Endpoint("GET /api/reefs/<id>", f"/api/reefs/{reef_id}"),
        Endpoint("GET series 24h", f"{series}&window=24h"),
        Endpoint("GET series 1y", f"{series}&window=1y"),
    ]


def reef_ids(url: str) -> list[str]:
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(buoys.c.id).order_by(buoys.c.id)).scalars())
    finally:
        engine.dispose()


def dashboard(url: str, ids: list[str]) -> Flask:
    """A new app (with an empty heat-stress cache) on the history, its clock at the end."""
    sites = [{"buoy": id_, "mmm_c": MMM_BASE_C + MMM_STEP_C * i} for i, id_ in enumerate(ids)]
    config = {"database": {"url": url}, "heat_stress": {"sites": sites}}
    return create_app(config, clock=lambda: END)


def timed_get(app: Flask, path: str) -> float:
    """Seconds to answer ``GET path``, body included; fails loudly on anything but a 200."""
    client = app.test_client()
    started = time.perf_counter()
    response = client.get(path)
    response.get_data()
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code}")
    return elapsed


def cold_timings(url: str, ids: list[str], path: str, rounds: int) -> list[float]:
    """The first request of ``rounds`` new apps (after one untimed, to warm the file cache)."""
    timings: list[float] = []
    for round_ in range(rounds + 1):
        app = dashboard(url, ids)
        try:
            elapsed = timed_get(app, path)
        finally:
            webcontext.dispose(app)
        if round_:
            timings.append(elapsed)
    return timings


def warm_timings(app: Flask, path: str, rounds: int) -> tuple[list[float], int]:
    """``rounds`` requests after one that fills the caches, and the queries of the last."""
    timed_get(app, path)
    timings = [timed_get(app, path) for _ in range(rounds - 1)]
    with counted(webcontext.engine(app)) as statements:
        timings.append(timed_get(app, path))
    return timings, len(statements)


def first_view(app: Flask) -> list[tuple[str, int]]:
    """(path, gzipped bytes) of the overview's HTML and the files it loads before scrolling."""
    client = app.test_client()
    page = client.get("/", headers=GZIP).get_data()
    sizes = [("/", len(page))]
    for path in STATIC.findall(gzip.decompress(page).decode()):
        response = client.get(path, headers=GZIP)
        sizes.append((path, len(response.get_data())))
        response.close()
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=CACHE)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--cold-rounds", type=int, default=5)
    args = parser.parse_args()
    url = history_database(args.path)
    ids = reef_ids(url)
    size_gb = args.path.stat().st_size / 1e9
    print(
        f"{len(ids)} reefs, each with an MMM; database {size_gb:.1f} GB (SQLite);"
        f" now = {END:%Y-%m-%d %H:%M} UTC; series of {QUANTITY}"
    )
    header = f"{'request':<20} {'queries':>7} {'warm p50':>9} {'warm p95':>9}"
    print(f"{header} {'cold p50':>9} {'cold p95':>9}   (ms)")
    warm_p50: dict[str, float] = {}
    app = dashboard(url, ids)
    try:
        for endpoint in endpoints(ids[0]):
            warm, queries = warm_timings(app, endpoint.path, args.rounds)
            cold = cold_timings(url, ids, endpoint.path, args.cold_rounds)
            warm_p50[endpoint.label] = milliseconds(warm, 50)
            print(
                f"{endpoint.label:<20} {queries:>7} {warm_p50[endpoint.label]:>9.1f}"
                f" {milliseconds(warm, 95):>9.1f} {milliseconds(cold, 50):>9.1f}"
                f" {milliseconds(cold, 95):>9.1f}"
            )
        ratio = warm_p50["GET series 1y"] / warm_p50["GET series 24h"]
        verdict = "meets" if ratio < TARGET_RATIO else "MISSES"
        print(f"series 1y / 24h (warm p50): {ratio:.2f} ({verdict} the target of under 3)")
        sizes = first_view(app)
    finally:
        webcontext.dispose(app)
    for path, size in sizes:
        print(f"first view: {size:>7,} B gzip  {path}")
    print(f"first view of the overview, {len(ids)} reefs: {sum(s for _, s in sizes):,} B gzip")


if __name__ == "__main__":
    main()
