"""An outbox writer that kills itself with SIGKILL before its N-th SQL statement.

``python -m tests.buoy.outbox_child <outbox> <journal> <N>`` (N = 0: never) runs ``SCRIPT``
on a fresh outbox: appends, broker acknowledgements, a reopen, a stored acknowledgement. The
journal gets a line, fsynced, after each append returns (``appended <index> <seq>``) and
around each confirmation (``confirming``/``confirmed <first> <last>``); ``done`` at the end.
Sample ``i`` is always ``draft(i)``, so the reader of the outbox knows what each row must hold.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import TextIO

from buoy.outbox import Draft, Outbox
from nemopi.sensor_status import SensorStatus
from nemopi.wire import ClockSource, Value

BUOY = "reef-01"
RESEND_AFTER_S = 300.0


def draft(index: int) -> Draft:
    """The ``index``-th sample the script appends (0-based); a fresh outbox numbers it
    ``index + 1``."""
    return Draft(
        1_780_000_000_000 + 60_000 * index,
        ClockSource.NTP,
        {
            "water_temperature": Value(25.0 + 0.125 * index, SensorStatus.OK),
            "ph": Value(None, SensorStatus.WARMING_UP),
        },
        boot=3,
    )


class _Tripwire:
    """Counts SQL statements on every traced connection; SIGKILL before statement ``at``."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.count = 0

    def __call__(self, statement: str) -> None:
        self.count += 1
        if self.count == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


class TracedOutbox(Outbox):
    """An ``Outbox`` whose connection reports each statement to ``tripwire`` first."""

    tripwire: _Tripwire

    def _open(self) -> None:
        self._conn.set_trace_callback(self.tripwire)
        super()._open()


def _note(journal: TextIO, line: str) -> None:
    journal.write(line + "\n")
    journal.flush()
    os.fsync(journal.fileno())


def script(path: Path, journal: TextIO) -> None:
    index = 0

    def append(outbox: Outbox) -> None:
        nonlocal index
        seq = outbox.append(draft(index)).seq
        _note(journal, f"appended {index} {seq}")
        index += 1

    with TracedOutbox(path, BUOY, RESEND_AFTER_S) as outbox:
        for _ in range(3):
            append(outbox)
        outbox.mark_sent([1, 2], now=1.0)
    with TracedOutbox(path, BUOY, RESEND_AFTER_S) as outbox:  # clears the sent marks
        for _ in range(2):
            append(outbox)
        outbox.mark_sent([3], now=2.0)
        _note(journal, "confirming 1 2")
        outbox.confirm([(1, 2)])
        _note(journal, "confirmed 1 2")
        append(outbox)
    _note(journal, "done")


def main(path: Path, journal_path: Path, crash_at: int) -> int:
    TracedOutbox.tripwire = _Tripwire(crash_at)
    with journal_path.open("a", encoding="utf-8") as journal:
        script(path, journal)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
