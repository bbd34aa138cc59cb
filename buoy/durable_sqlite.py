"""The buoy's durable SQLite files (outbox, calibration store, command log) open one way.

WAL lets a reader look while the daemon writes; ``synchronous=FULL`` makes a committed
transaction survive a power cut; a file written by newer firmware is refused, not misread.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def prepare_durable(
    db: sqlite3.Connection, path: Path, schema_version: int, error: type[Exception]
) -> None:
    """Switch ``db`` to WAL with full sync and check its schema version; ``error`` otherwise."""
    mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":
        raise error(f"{path}: cannot use WAL journal mode (got {mode})")
    db.execute("PRAGMA synchronous=FULL")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > schema_version:
        raise error(f"{path}: schema {version} is newer than this firmware")
