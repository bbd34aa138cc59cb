"""Where rejected payloads go: kept for inspection, bounded, logged once per kind of reason.

A payload that fails to decode or validate must neither crash the ingest nor touch stored
readings, and a flood of garbage must neither flood the log nor fill the disk. ``Quarantine.add``
inserts the topic, the reason and the first ``MAX_QUARANTINED_BYTES`` of the payload (with its
full size) in the caller's transaction, deletes the oldest rows beyond ``max_rows`` in the same
transaction, and logs a warning the first time each ``Reason`` appears; the rest go to the
debug log. A reason is one of a fixed set of kinds (also the label of the quarantine metric)
followed by details, which may quote attacker-chosen text and so are never used as a key.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection

from dashboard.models import MAX_QUARANTINED_BYTES, MAX_REASON_CHARS, MAX_TOPIC_CHARS, quarantine

log = logging.getLogger(__name__)


class Reason(StrEnum):
    BAD_TOPIC = "topic outside the buoy tree"
    WRONG_CHANNEL = "not a topic the ingest reads"
    OVERSIZED = "oversized payload"
    MALFORMED = "malformed payload"
    WRONG_BUOY = "payload names another buoy"
    UNKNOWN_BUOY = "unknown buoy"
    FUTURE_TIME = "sample time in the future"
    PAST_TIME = "sample time long before registration"
    BAD_SEQ = "seq not sane"
    BAD_CALIBRATION = "malformed calibration summary"
    CALIBRATION_CONFLICT = "calibration differs from the stored record"
    REFUSED = "refused by the database"


def reason_text(reason: Reason, detail: str) -> str:
    return f"{reason}: {detail}" if detail else str(reason)


class Quarantine:
    """Not thread-safe: owned by the one writer thread."""

    def __init__(self, max_rows: int) -> None:
        self._max_rows = max_rows
        self._kinds_seen: set[Reason] = set()

    def add(
        self,
        conn: Connection,
        topic: str,
        payload: bytes,
        reason: Reason,
        detail: str,
        received_at: datetime,
    ) -> None:
        text = reason_text(reason, detail)
        newest = conn.execute(
            quarantine.insert()
            .values(
                received_at=received_at,
                topic=topic[:MAX_TOPIC_CHARS],
                reason=text[:MAX_REASON_CHARS],
                payload=payload[:MAX_QUARANTINED_BYTES],
                payload_size=len(payload),
            )
            .returning(quarantine.c.id)
        ).scalar_one()
        self._trim(conn, newest)
        if reason in self._kinds_seen:
            log.debug("quarantined a payload on %s: %s", topic, text)
            return
        self._kinds_seen.add(reason)
        log.warning(
            "quarantined a payload on %s: %s (further payloads rejected for this kind of reason "
            "are counted in the quarantine table and the metrics, not logged)",
            topic,
            text,
        )

    def _trim(self, conn: Connection, newest: int) -> None:
        """Ids only grow (the newest row is never deleted, so SQLite never reuses its id):
        everything at or below ``newest - max_rows`` is older than the rows kept."""
        if newest > self._max_rows:
            conn.execute(quarantine.delete().where(quarantine.c.id <= newest - self._max_rows))
