"""What the ingest has done, in Prometheus text format, on the worker's own port.

``IngestMetrics`` counts messages, new readings, duplicate samples and quarantined payloads,
and keeps each buoy's lag (the ingest's clock minus the newest synced sample time of the
buoy's last stored batch). The writer thread records after each commit, so the figures say
what is in the database; ``render`` may run on another thread. Labels are bounded: ``buoy``
only for buoys whose data was accepted, ``reason`` one of the quarantine's fixed kinds.

``MetricsServer`` serves ``GET /metrics`` from a daemon thread. It is a few lines on the
standard library rather than ``prometheus_client``: the text format is small and stable, the
dashboard keeps one fewer dependency, and several workers in one process (the scale-out
tests) each keep their own figures with no global registry to share.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_COUNTERS = {
    "messages": ("buoy", "Messages stored (data batches and statuses) per buoy."),
    "readings": ("buoy", "Readings stored for the first time per buoy."),
    "duplicate_samples": ("buoy", "Samples received again after they were stored, per buoy."),
    "quarantined": ("reason", "Payloads quarantined, by kind of reason."),
}


class IngestMetrics:
    """Thread-safe figures of one ingest worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {name: Counter() for name in _COUNTERS}
        self._lag_s: dict[str, float] = {}

    def message(self, buoy: str) -> None:
        with self._lock:
            self._counts["messages"][buoy] += 1

    def batch(
        self, buoy: str, readings: int, duplicates: int, newest: datetime | None, now: datetime
    ) -> None:
        """A data batch committed: ``readings`` new, ``duplicates`` samples seen before."""
        with self._lock:
            self._counts["messages"][buoy] += 1
            self._counts["readings"][buoy] += readings
            self._counts["duplicate_samples"][buoy] += duplicates
            if newest is not None:
                self._lag_s[buoy] = (now - newest).total_seconds()

    def quarantined(self, reason: str) -> None:
        with self._lock:
            self._counts["quarantined"][reason] += 1

    def count(self, name: str, label: str) -> int:
        with self._lock:
            return self._counts[name][label]

    def render(self) -> str:
        """The Prometheus text exposition of every figure."""
        lines: list[str] = []
        with self._lock:
            for name, (label, doc) in _COUNTERS.items():
                metric = f"nemopi_ingest_{name}_total"
                lines += _family(metric, "counter", doc, label, self._counts[name].items())
            lines += _family(
                "nemopi_ingest_lag_seconds",
                "gauge",
                "Now minus the newest synced sample time of the buoy's last stored batch.",
                "buoy",
                self._lag_s.items(),
            )
        return "\n".join(lines) + "\n"


def _family(
    metric: str, kind: str, doc: str, label: str, values: Iterable[tuple[str, float]]
) -> list[str]:
    lines = [f"# HELP {metric} {doc}", f"# TYPE {metric} {kind}"]
    lines += [f'{metric}{{{label}="{_escape(key)}"}} {value}' for key, value in sorted(values)]
    return lines


def _escape(label_value: str) -> str:
    return label_value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsServer:
    """``GET /metrics`` on ``host:port`` (0 picks a free port, see ``port``) until ``close``."""

    def __init__(self, metrics: IngestMetrics, host: str, port: int) -> None:
        handler = type("MetricsHandler", (_Handler,), {"metrics": metrics})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True
        )
        self._thread.start()
        log.info("metrics at http://%s:%d/metrics", host, self.port)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    metrics: IngestMetrics

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404)
            return
        body = self.metrics.render().encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)
