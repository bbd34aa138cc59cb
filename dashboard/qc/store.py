"""Where flags and QC configurations are kept: SQL only, inside the caller's transaction.

Flags are keyed by (buoy, seq, quantity, QC version). Rows of one version are replaced when a
value is evaluated again (a late neighbour arrived, a rerun), which only ever brings them to
what the stored series says; rows of other versions and the readings are never touched.
``qc_configs`` keeps each version's full resolved thresholds and source text, so every flag
can be traced to the configuration that produced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, select

from dashboard.models import qc_configs, qc_flags
from dashboard.qc.config import QcConfig
from dashboard.qc.rules import COLUMNS
from dashboard.storage import insert_for

_KEY = ("buoy_key", "seq", "quantity", "qc_version")
ROW = (*_KEY, *COLUMNS, "aggregate")


def activate(conn: Connection, config: QcConfig, now: datetime) -> None:
    """Record ``config`` (once per version) and mark it as the one now in use."""
    stmt = insert_for(conn)(qc_configs).values(
        version=config.version,
        resolved=config.resolved,
        source=config.source,
        first_used=now,
        last_activated=now,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[qc_configs.c.version], set_={"last_activated": now}
        )
    )


def flags_of(table: Table, version: Any) -> ColumnElement[bool]:
    """How a reading row of ``table`` (``readings``, ``latest_readings``: keyed by buoy, seq and
    quantity) joins its QC flags of ``version`` (a version string or a bound expression)."""
    return and_(
        qc_flags.c.buoy_key == table.c.buoy_key,
        qc_flags.c.seq == table.c.seq,
        qc_flags.c.quantity == table.c.quantity,
        qc_flags.c.qc_version == version,
    )


def current_version(conn: Connection) -> str | None:
    """The version activated last: the one whose flags are "the current flags"."""
    query = select(qc_configs.c.version).order_by(qc_configs.c.last_activated.desc()).limit(1)
    return conn.execute(query).scalar()


def write_flags(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert or replace flag rows, each a tuple in ``ROW`` order. The statement is compiled
    once and the rows go straight to the driver's executemany: flags are small integers that
    need no type processing, and per-row parameter handling would cost more than QC itself."""
    if not rows:
        return 0
    stmt = insert_for(conn)(qc_flags)
    stmt = stmt.on_conflict_do_update(
        index_elements=[qc_flags.c[name] for name in _KEY],
        set_={name: stmt.excluded[name] for name in ROW if name not in _KEY},
    )
    compiled = stmt.compile(dialect=conn.dialect)
    if compiled.positional:
        where = [ROW.index(name) for name in compiled.positiontup or ()]
        params: list[Any] = [tuple(row[i] for i in where) for row in rows]
    else:
        params = [dict(zip(ROW, row, strict=True)) for row in rows]
    conn.exec_driver_sql(str(compiled), params)
    return len(rows)
