"""The web process: the dashboard served by waitress until SIGTERM or SIGINT.

``run`` loads the config, brings the schema up to date (so the pages work before the first
ingest), logs ``Dashboard at http://HOST:PORT/`` once it listens, and on a stop signal lets
waitress finish its requests, closes the listener and returns 0.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from waitress.server import create_server

from dashboard import process as proc
from dashboard import webcontext
from dashboard.app import create_app
from dashboard.config import load_web_config

log = logging.getLogger(__name__)


def _stop_serving() -> None:
    # waitress's loop ends its request threads and returns when SystemExit reaches it.
    raise SystemExit(proc.EXIT_OK)


def _addresses(server: Any) -> list[tuple[str, int]]:
    """Where waitress listens: one socket, or several when the host name has many addresses."""
    if hasattr(server, "effective_listen"):
        return [(str(host), int(port)) for host, port in server.effective_listen]
    return [(str(server.effective_host), int(server.effective_port))]


def run(config_path: Path) -> int:
    config = proc.start(config_path, load_web_config, "web")
    if config is None:
        return proc.EXIT_CONFIG
    if not proc.upgrade(config.database.url):
        return proc.EXIT_DATABASE
    try:
        app = create_app(config)
    except (OSError, ValueError) as exc:
        log.error("cannot start the dashboard: %s", exc)
        return proc.EXIT_CONFIG
    try:
        try:
            server = create_server(app, host=config.host, port=config.port, threads=config.threads)
        except OSError as exc:
            log.error("cannot listen on %s:%d: %s", config.host, config.port, exc)
            return proc.EXIT_NETWORK
        for host, port in _addresses(server):
            log.info("Dashboard at http://%s:%d/", f"[{host}]" if ":" in host else host, port)
        try:
            with proc.stop_signals(_stop_serving):
                server.run()
        finally:
            server.close()
    finally:
        webcontext.dispose(app)
    log.info("stopped")
    return proc.EXIT_OK
