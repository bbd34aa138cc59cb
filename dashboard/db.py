"""Engines and schema upgrades: the same code on SQLite and PostgreSQL, chosen by URL.

``make_engine`` sets SQLite up for one writer and many readers (WAL, a busy timeout, enforced
foreign keys, synchronous commits: an acknowledged batch must survive a power cut). With
``read_only=True`` the database itself refuses writes (SQLite ``query_only``, a PostgreSQL
read-only session), which is how the public pages are kept from ever writing.

``upgrade_database`` brings a database to the newest Alembic revision; processes call it at
start. Alembic is configured in code (``alembic_config``), no ``alembic.ini`` needed: to add a
revision, ``alembic.command.revision(alembic_config(url), "what", autogenerate=True)``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 10_000


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine for ``url``; the caller disposes of it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and read_only is False:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_setup(read_only))
        return engine
    engine = create_engine(parsed, pool_pre_ping=True)
    if read_only:
        event.listen(engine, "connect", _postgresql_read_only)
    return engine


def _sqlite_setup(read_only: bool) -> Any:
    def setup(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not read_only:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
            if read_only:
                cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()

    return setup


def _postgresql_read_only(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    dbapi_connection.commit()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(url: str) -> None:
    """Create or migrate the schema at ``url`` to the newest revision."""
    config = alembic_config(url)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    log.info("database schema is up to date")
