"""Fixtures for the dashboard tests: a fresh database per test, on SQLite and on PostgreSQL.

PostgreSQL is reached at ``NEMOPI_TEST_POSTGRES_URL`` (default: the local test server); each
test gets its own schema, dropped afterwards. When the server cannot be reached the PostgreSQL
half is skipped with a reason that says so in capitals.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from dashboard.db import make_engine, upgrade_database

POSTGRES_URL = os.environ.get(
    "NEMOPI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_schema_url() -> Iterator[str]:
    admin = create_engine(POSTGRES_URL)
    schema = f"nemopi_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(
            f"POSTGRESQL NOT REACHABLE at {POSTGRES_URL} ({type(exc).__name__}): "
            "THE POSTGRESQL HALF OF THIS TEST DID NOT RUN"
        )
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no tables yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'nemopi.sqlite3'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database, for tests about behaviour that does not depend on dialect."""
    return f"sqlite:///{tmp_path / 'db' / 'nemopi.sqlite3'}"


def _engine_for(url: str) -> Iterator[Engine]:
    upgrade_database(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A writable engine on a migrated database (SQLite and PostgreSQL)."""
    yield from _engine_for(db_url)


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    yield from _engine_for(sqlite_url)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """An empty PostgreSQL schema, for behaviour that only PostgreSQL supports (several writers)."""
    yield from _postgres_schema_url()
