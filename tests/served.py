"""A Flask app served by waitress, the dashboard's production server, in a thread on a free
port: for tests that need what only a real server does (threads, sockets, closing every
response)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from waitress.server import create_server


@contextmanager
def served(app: Flask, threads: int = 4) -> Iterator[str]:
    """``app`` listening on 127.0.0.1; yields its base URL and stops the server afterwards."""
    server: Any = create_server(app, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.trigger.pull_trigger(lambda: _stop(server))
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()


def _stop(server: Any) -> None:
    """Runs inside waitress's loop: closing every channel empties its map, so the loop ends."""
    for channel in list(server._map.values()):
        channel.close()
