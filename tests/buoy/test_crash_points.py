"""Every write and commit point of the outbox, killed with SIGKILL in turn.

A child process (``tests.buoy.outbox_child``) appends samples, records broker
acknowledgements, reopens the outbox and deletes a confirmed range, and kills itself just
before its N-th SQL statement, for N = 1, 2, ... until a run finishes without reaching N.
Between two statements is every point at which a crash can leave the database: before and
after each BEGIN, each row and counter write, each COMMIT. (A kill inside one statement, e.g.
half-way through a commit's WAL write, is the power-cut case SQLite's own tests cover.)
"""

from __future__ import annotations

import math
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from buoy.outbox import Outbox
from tests.buoy.outbox_child import BUOY, RESEND_AFTER_S, draft
from tests.buoy.processes import report

ROOT = Path(__file__).resolve().parents[2]
MAX_STATEMENTS = 500  # far more than the script runs: a guard against an endless sweep


@dataclass(frozen=True)
class Journal:
    """What the killed child had finished, as it recorded it."""

    returned: dict[int, int]  # seq -> index of the draft, for appends that returned
    confirming: set[int]  # seqs in confirmations that had started
    confirmed: set[int]  # seqs in confirmations that had returned
    done: bool

    @classmethod
    def read(cls, path: Path) -> Journal:
        returned: dict[int, int] = {}
        confirming: set[int] = set()
        confirmed: set[int] = set()
        done = False
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        for line in lines:
            word, *numbers = line.split()
            a, b = (int(n) for n in numbers) if numbers else (0, 0)
            if word == "appended":
                returned[b] = a
            elif word == "confirming":
                confirming |= set(range(a, b + 1))
            elif word == "confirmed":
                confirmed |= set(range(a, b + 1))
            else:
                done = word == "done"
        return cls(returned, confirming, confirmed, done)


def run_child(outbox: Path, journal: Path, crash_at: int) -> int:
    child = subprocess.run(
        [sys.executable, "-m", "tests.buoy.outbox_child", str(outbox), str(journal), str(crash_at)],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert child.returncode in (0, -signal.SIGKILL), child.stderr.decode()
    return child.returncode


def check_after_crash(outbox_path: Path, journal: Journal) -> None:
    """The promises of ``buoy.outbox`` after a kill, checked by reopening the outbox."""
    if outbox_path.exists():
        db = sqlite3.connect(outbox_path)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            db.close()
    with Outbox(outbox_path, BUOY, RESEND_AFTER_S) as outbox:
        rows = {s.seq: s for s in outbox.due(limit=1000, now=math.inf)}
        for seq, sample in rows.items():
            assert sample == draft(seq - 1).numbered(seq), f"row {seq} is not what was appended"
        for seq, index in journal.returned.items():
            assert seq == index + 1, "a fresh outbox numbered an append out of order"
        must_remain = set(journal.returned) - journal.confirming
        assert must_remain <= set(rows), f"appended and lost: {must_remain - set(rows)}"
        assert not journal.confirmed & set(rows), "a confirmed row came back"
        assert outbox.due(limit=1000, now=0.0) == list(rows.values()), "a sent mark survived"
        highest = max([*journal.returned, *rows], default=0)
        assert outbox.next_seq() > highest
        reopened_seq = outbox.append(draft(99)).seq
        assert reopened_seq > highest and reopened_seq not in journal.returned


@pytest.mark.slow
def test_outbox_survives_sigkill_before_every_statement_of_its_write_path(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """Killed before any of its statements, the outbox reopens intact: integrity_check ok,
    every append that returned is there with its exact values (unless a confirmation that
    had started covers it), confirmed rows stay deleted, sent marks are cleared, and the
    next sequence number is higher than any handed out before the kill."""
    swept = 0
    for crash_at in range(1, MAX_STATEMENTS):
        workdir = tmp_path / f"crash-{crash_at}"
        workdir.mkdir()
        outbox, journal_path = workdir / "outbox.sqlite3", workdir / "journal"
        status = run_child(outbox, journal_path, crash_at)
        journal = Journal.read(journal_path)
        if status == 0:
            assert journal.done and len(journal.returned) == 6
            break
        assert not journal.done
        check_after_crash(outbox, journal)
        swept += 1
    else:
        pytest.fail(f"the script never finished within {MAX_STATEMENTS} statements")
    report(record_property, "outbox crash points swept", swept)
    assert swept >= 40, "the sweep missed most of the write path"
