"""What a request needs from its app: its configuration, a read-only database connection and
the clock.

The app's engine is read-only (``make_engine(read_only=True)``): the database itself refuses
any write from a request. Each request gets one connection, returned to the pool at teardown.
The one exception is the dive shops' report form, which stores what a shop reports: it, and
nothing else, writes through ``writer(app)``, a second engine that opens no connection until
a report arrives. The clock is injectable so that pages can be tested at a fixed time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine

from dashboard.config import WebConfig
from dashboard.db import make_engine

WEB_CONFIG = "nemopi.web_config"
ENGINE = "nemopi.engine"
WRITER = "nemopi.writer"
CLOCK = "nemopi.clock"

Clock = Callable[[], datetime]


def init_app(app: Flask, config: WebConfig, clock: Clock | None) -> None:
    app.extensions[WEB_CONFIG] = config
    app.extensions[ENGINE] = make_engine(config.database.url, read_only=True)
    app.extensions[WRITER] = make_engine(config.database.url)
    app.extensions[CLOCK] = clock or (lambda: datetime.now(UTC))
    app.teardown_appcontext(_close_connection)


def web_config() -> WebConfig:
    """The configuration the app was created with."""
    config: WebConfig = current_app.extensions[WEB_CONFIG]
    return config


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


def writer(app: Flask) -> Engine:
    """The writable engine, for the shops' reports only (``dashboard.report_pages``)."""
    found: Engine = app.extensions[WRITER]
    return found


def dispose(app: Flask) -> None:
    """Close both engines' pooled connections; for whoever created the app, when done."""
    engine(app).dispose()
    writer(app).dispose()


def _close_connection(_exc: BaseException | None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()
