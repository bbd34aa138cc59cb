"""Alembic environment: migrations run on a connection that ``dashboard.db`` hands over.

``upgrade_database`` passes its connection in ``config.attributes["connection"]``; the
``alembic`` command line (no connection given) gets an engine from the configured URL.
SQLite needs "batch" migrations to alter tables, so they are on for every dialect.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from dashboard.db import make_engine
from dashboard.models import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as connection:
            run_migrations(connection)
    finally:
        engine.dispose()
