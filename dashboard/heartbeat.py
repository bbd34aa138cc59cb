"""Whether the ingest itself is alive, so that a dead ingest never looks like a calm sea.

A buoy that sends nothing and an ingest that stores nothing look the same in the readings:
old values. Each ingest worker therefore keeps one row of ``ingest_heartbeats`` current
(``beat``): when it last worked, whether its broker link was up, and when it last committed
new samples. ``ingest_liveness`` reads those rows for the pages: "never" before any worker
ran, "alive" while some worker beats and is connected, "silent" otherwise.

``Heartbeat`` is the worker's side: its writer loop calls ``tick`` at least every fraction of
a second, and a beat is written at start, every ``heartbeat_s`` (idle or not), and about a
second after a commit that stored new samples, so ``last_stored_at`` is close to the truth
without a write per commit. A heartbeat that cannot be written is logged and never stops the
ingest: storing readings matters more than saying so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError

from dashboard.models import ingest_heartbeats
from dashboard.storage import insert_for

log = logging.getLogger(__name__)

STORED_BEAT_DELAY_S = 1.0
ALIVE = "alive"
SILENT = "silent"
NEVER = "never"


def beat(
    conn: Connection,
    client_id: str,
    started_at: datetime,
    now: datetime,
    *,
    connected: bool,
    stored_new: bool,
) -> None:
    """Record that worker ``client_id`` (running since ``started_at``) worked at ``now``;
    ``stored_new``: it committed new samples since its last beat. In the caller's transaction."""
    values = {"started_at": started_at, "beat_at": now, "connected": connected}
    if stored_new:
        values["last_stored_at"] = now
    stmt = insert_for(conn)(ingest_heartbeats).values(client_id=client_id, **values)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=[ingest_heartbeats.c.client_id], set_=values)
    )


class Heartbeat:
    """One worker's beats. Used from the worker's writer thread only."""

    def __init__(
        self,
        engine: Engine,
        client_id: str,
        interval_s: float,
        connected: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._client_id = client_id
        self._interval_s = interval_s
        self._connected = connected
        self._clock = clock
        self._started_at = datetime.now(UTC)
        self._last: float | None = None
        self._stored_new = False
        self._failing = False

    def stored(self) -> None:
        """A commit stored new samples: say so in a beat soon."""
        self._stored_new = True

    def tick(self) -> None:
        """Beat if one is due."""
        now = self._clock()
        if self._last is not None:
            elapsed = now - self._last
            wait = min(STORED_BEAT_DELAY_S, self._interval_s) if self._stored_new else None
            if elapsed < self._interval_s and (wait is None or elapsed < wait):
                return
        self._last = now
        self._write()

    def _write(self) -> None:
        stored_new = self._stored_new
        try:
            with self._engine.begin() as conn:
                beat(
                    conn,
                    self._client_id,
                    self._started_at,
                    datetime.now(UTC),
                    connected=self._connected(),
                    stored_new=stored_new,
                )
        except SQLAlchemyError as exc:
            if not self._failing:
                log.warning("cannot write the ingest heartbeat (storing goes on): %s", exc)
            self._failing = True
            return
        if self._failing:
            log.info("the ingest heartbeat is written again")
            self._failing = False
        if stored_new:
            self._stored_new = False


@dataclass(frozen=True)
class IngestLiveness:
    """``state``: "alive" | "silent" | "never". ``last_beat`` and ``connected`` are the alive
    worker's (the newest of them), else the newest beat's; ``last_stored_at`` is the newest
    commit of new samples by any worker."""

    state: str
    last_beat: datetime | None
    last_stored_at: datetime | None
    connected: bool | None


def ingest_liveness(conn: Connection, now: datetime, silent_after: timedelta) -> IngestLiveness:
    rows = conn.execute(
        select(
            ingest_heartbeats.c.beat_at,
            ingest_heartbeats.c.connected,
            ingest_heartbeats.c.last_stored_at,
        ).order_by(ingest_heartbeats.c.beat_at.desc())
    ).all()
    if not rows:
        return IngestLiveness(NEVER, None, None, None)
    stored = [row.last_stored_at for row in rows if row.last_stored_at is not None]
    last_stored = max(stored) if stored else None
    for row in rows:
        if row.connected and now - row.beat_at <= silent_after:
            return IngestLiveness(ALIVE, row.beat_at, last_stored, True)
    newest = rows[0]
    return IngestLiveness(SILENT, newest.beat_at, last_stored, newest.connected)
