"""Do large exports stop the live pages from answering? Latency of the live pages while
nothing else runs, then while one and two large CSV exports stream, then while four clients
want one each: as many as the web's threads, which without ``export.max_concurrent`` (2)
would leave the live pages none. The two refused meanwhile (503) try again after a second.

Serves the dashboard with ``nemopi web`` (waitress, its default 4 threads) in a subprocess on
the export bench's cached database (bench/export_csv.py: one buoy, N samples a minute apart,
water temperature and pH, built once in bench/.cache/), then for each load measures
``GET /api/overview`` and ``GET /`` one after the other, ``--requests`` times each, and prints
their p50 and p95 in milliseconds, and the rate the exports streamed at meanwhile. Each export
client reads its download to the end as fast as it can and starts another, so the load lasts
the whole measurement; the live pages are measured once every export streams (an export
first counts its rows, a few seconds for ten million).

Issue 8: "a large export does not stop the live pages from answering (measure it)".

Run: PYTHONPATH=. .venv/bin/python bench/export_under_load.py [--samples 10000000]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.export_csv import database

EXPORT = "/api/export?buoy=reef-01&quantity=water_temperature,ph"
LIVE = ("/api/overview", "/")
READ_BYTES = 1 << 16
WARM_UP_S = 1.0
START_TIMEOUT_S = 60.0
RETRY_AFTER_BUSY_S = 1.0  # sooner than the Retry-After a polite client waits: more pressure
LOADS = (0, 1, 2, 4)  # export clients; 4 = the web's default threads


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def served(db: Path, folder: Path) -> Iterator[str]:
    """The dashboard on ``db``, served by ``nemopi web`` until the block ends."""
    port = free_port()
    config = folder / "web.toml"
    config.write_text(
        f'port = {port}\n\n[database]\nurl = "sqlite:///{db}"\n\n'
        '[export]\nmax_rows = 100000000\nrate_limit = "10000 per minute"\n'
    )
    command = [str(Path(sys.executable).with_name("nemopi")), "web", "--config", str(config)]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the dashboard exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/api/overview", timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the dashboard did not answer within a minute")


class Exporter(threading.Thread):
    """Downloads the large export over and over until stopped; counts the bytes it read and
    the times it was refused because enough downloads were streaming."""

    def __init__(self, url: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = stop
        self.answered = threading.Event()  # set once bytes arrived or the export was refused
        self.bytes = 0
        self.refused = 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                response = urllib.request.urlopen(f"{self.url}{EXPORT}", timeout=600)
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code != 503:
                    raise
                self.refused += 1
                self.answered.set()
                self.stop.wait(RETRY_AFTER_BUSY_S)
                continue
            with response:
                while not self.stop.is_set() and (block := response.read(READ_BYTES)):
                    self.bytes += len(block)
                    self.answered.set()


def latencies_ms(url: str, path: str, requests: int) -> list[float]:
    found = []
    for _ in range(requests):
        started = time.perf_counter()
        with urllib.request.urlopen(f"{url}{path}", timeout=60) as response:
            response.read()
        found.append((time.perf_counter() - started) * 1000)
    return found


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def measure(url: str, exports: int, requests: int) -> dict[str, float]:
    stop = threading.Event()
    exporters = [Exporter(url, stop) for _ in range(exports)]
    for exporter in exporters:
        exporter.start()
    for exporter in exporters:  # counting the rows comes first: measure while rows flow
        if not exporter.answered.wait(timeout=START_TIMEOUT_S):
            raise SystemExit("an export was not answered within a minute")
    time.sleep(WARM_UP_S if exports else 0)
    started = time.perf_counter()
    read_before = sum(e.bytes for e in exporters)
    figures: dict[str, float] = {}
    for path in LIVE:
        found = latencies_ms(url, path, requests)
        figures[f"{path} p50"] = percentile(found, 50)
        figures[f"{path} p95"] = percentile(found, 95)
    elapsed = time.perf_counter() - started
    figures["export MB/s"] = (sum(e.bytes for e in exporters) - read_before) / elapsed / 1e6
    figures["refused (503)"] = sum(e.refused for e in exporters)
    stop.set()
    for exporter in exporters:
        exporter.join(timeout=60)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=100, help="per live endpoint and load")
    args = parser.parse_args()
    db = database(args.samples)
    with tempfile.TemporaryDirectory() as folder, served(db, Path(folder)) as url:
        latencies_ms(url, LIVE[0], 5)  # the first requests warm the caches
        rows = [(exports, measure(url, exports, args.requests)) for exports in LOADS]
    columns = list(rows[0][1])
    print(f"{args.samples:,} samples; latency in ms over {args.requests} requests each")
    print(f"{'export clients':<19}" + "".join(f"{c:>19}" for c in columns))
    for exports, figures in rows:
        print(f"{exports:<19}" + "".join(f"{figures[c]:>19.1f}" for c in columns))


if __name__ == "__main__":
    main()
