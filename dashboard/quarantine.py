"""Where rejected payloads go: kept for inspection, logged once per kind of error.

A payload that fails to decode or validate must neither crash the ingest nor touch stored
readings, and a flood of garbage must not flood the log. ``Quarantine.add`` inserts the topic,
the reason and the first ``MAX_QUARANTINED_BYTES`` of the payload (with its full size) in the
caller's transaction, and logs a warning the first time each kind of reason appears (numbers in
reasons are ignored when telling kinds apart, and at most ``MAX_KINDS_LOGGED`` kinds are
remembered); the rest go to the debug log.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy import Connection

from dashboard.models import MAX_QUARANTINED_BYTES, MAX_REASON_CHARS, MAX_TOPIC_CHARS, quarantine

log = logging.getLogger(__name__)
_NUMBERS = re.compile(r"\d+")
# Reasons may quote attacker-chosen text; past this many kinds, new kinds are not logged.
MAX_KINDS_LOGGED = 256


class Quarantine:
    """Not thread-safe: owned by the one writer thread."""

    def __init__(self) -> None:
        self._kinds_seen: set[str] = set()

    def add(
        self, conn: Connection, topic: str, payload: bytes, reason: str, received_at: datetime
    ) -> None:
        conn.execute(
            quarantine.insert().values(
                received_at=received_at,
                topic=topic[:MAX_TOPIC_CHARS],
                reason=reason[:MAX_REASON_CHARS],
                payload=payload[:MAX_QUARANTINED_BYTES],
                payload_size=len(payload),
            )
        )
        kind = _NUMBERS.sub("N", reason)
        if kind in self._kinds_seen or len(self._kinds_seen) >= MAX_KINDS_LOGGED:
            log.debug("quarantined a payload on %s: %s", topic, reason)
            return
        self._kinds_seen.add(kind)
        log.warning(
            "quarantined a payload on %s: %s (further payloads rejected for this kind of reason "
            "are counted in the quarantine table, not logged)",
            topic,
            reason,
        )
