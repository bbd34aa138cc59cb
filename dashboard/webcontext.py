"""What a request needs from its app: a read-only database connection and the clock.

The app's engine is read-only (``make_engine(read_only=True)``): the database itself refuses
any write from a request. Each request gets one connection, returned to the pool at teardown.
The clock is injectable so that pages can be tested at a fixed time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine

from dashboard.db import make_engine

ENGINE = "nemopi.engine"
CLOCK = "nemopi.clock"

Clock = Callable[[], datetime]


def init_app(app: Flask, url: str, clock: Clock | None) -> None:
    app.extensions[ENGINE] = make_engine(url, read_only=True)
    app.extensions[CLOCK] = clock or (lambda: datetime.now(UTC))
    app.teardown_appcontext(_close_connection)


def connection() -> Connection:
    if "db" not in g:
        g.db = engine(current_app).connect()
    conn: Connection = g.db
    return conn


def now() -> datetime:
    clock: Clock = current_app.extensions[CLOCK]
    return clock()


def engine(app: Flask) -> Engine:
    """The app's engine; whoever created the app disposes of it when done."""
    found: Engine = app.extensions[ENGINE]
    return found


def _close_connection(_exc: BaseException | None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()
