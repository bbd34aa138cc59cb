"""The outbox's size policy: a full outbox thins its oldest readings by the documented rule and
records every one it gives up; a full card's losses are counted and recorded too."""

from __future__ import annotations

import itertools
import math
import random
import sqlite3
from pathlib import Path

import cbor2
import pytest

from buoy.outbox import Draft, Outbox
from buoy.outbox_policy import SPANS_REPORTED, DropReason, dropped_seqs
from nemopi import wire
from nemopi.wire import ClockSource, Status, Value

T0 = 1_750_000_000_000
MAX_ROWS = 40


def draft(i: int) -> Draft:
    return Draft(T0 + 60_000 * i, ClockSource.NTP, {"water_temperature": Value(25.0 + i / 100)})


def waiting(box: Outbox) -> list[int]:
    return [s.seq for s in box.due(10**9, math.inf)]


def thin_model(rows: list[int], max_rows: int) -> list[int]:
    """The rule as docs/delivery.md states it: the seqs one thinning gives up."""
    return rows[: max(2, max_rows // 2)][1::2]


def test_full_outbox_thins_by_the_rule_and_records_every_seq_it_gives_up(tmp_path: Path) -> None:
    rng = random.Random(7)
    model: list[int] = []
    expected_dropped: list[int] = []
    confirmed: set[int] = set()
    with Outbox(tmp_path / "outbox.sqlite3", "reef-01", 30.0, max_rows=MAX_ROWS) as box:
        for i in range(600):
            if len(model) >= MAX_ROWS:
                doomed = thin_model(model, MAX_ROWS)
                expected_dropped += doomed
                model = [s for s in model if s not in doomed]
            model.append(box.append(draft(i)).seq)
            if rng.random() < 0.05:  # now and then the ingest confirms a few of the oldest
                done = model[:3]
                box.confirm([(s, s) for s in done])
                confirmed |= set(done)
                model = model[3:]
            assert waiting(box) == model
            assert box.depth() <= MAX_ROWS
        dropped = dropped_seqs(box._conn)
        health = box.health()
    issued = set(range(1, 601))
    assert sorted(dropped) == sorted(expected_dropped)
    assert set(dropped.values()) == {DropReason.THINNED}
    # Nothing vanished unaccounted: every number is waiting, confirmed or recorded as dropped.
    assert set(model) | confirmed | set(dropped) == issued
    assert not set(model) & set(dropped) and not confirmed & set(dropped)
    assert health.thinned == len(expected_dropped) > 0
    assert health.depth == len(model) and health.lost_full_card == 0
    assert 600 in model  # the newest reading is never thinned


def test_a_long_outage_keeps_its_whole_span_coarser_with_age(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite3", "reef-01", 30.0, max_rows=100) as box:
        for i in range(2000):
            box.append(draft(i))
        kept = waiting(box)
    assert kept[0] == 1 and kept[-1] == 2000  # the first and the newest reading are both kept
    gaps = [b - a for a, b in itertools.pairwise(kept)]
    assert min(gaps[:10]) > max(gaps[-10:]) == 1  # the oldest are the coarsest


def test_thinning_records_the_time_span_of_what_it_gave_up(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite3", "reef-01", 30.0, max_rows=20) as box:
        for i in range(21):
            box.append(draft(i))
        row = box._conn.execute(
            "SELECT reason, count, first_time_ms, last_time_ms, seqs FROM dropped"
        ).fetchone()
    assert row == ("thinned", 5, T0 + 60_000, T0 + 9 * 60_000, cbor2.dumps([2, 4, 6, 8, 10]))


def test_a_thinning_is_undone_with_the_append_that_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deletion, its record and the new row are one transaction; the failed reading is
    counted, and recorded with the next append that succeeds."""
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path, "reef-01", 30.0, max_rows=20) as box:
        for i in range(20):
            box.append(draft(i))

        def card_error(key: str, value: object) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        with monkeypatch.context() as patch:
            patch.setattr(box, "_set_meta", card_error)
            with pytest.raises(sqlite3.OperationalError):
                box.append(draft(20))
        assert waiting(box) == list(range(1, 21))  # nothing thinned after all
        assert dropped_seqs(box._conn) == {}
        assert box.health().dropped == {DropReason.WRITE_FAILED: 1}
        assert box.append(draft(21)).seq == 21
    with Outbox(path, "reef-01", 30.0, max_rows=20) as box:
        health = box.health()
    assert health.dropped == {DropReason.WRITE_FAILED: 1, DropReason.THINNED: 5}


def test_a_full_card_is_counted_and_recorded_when_space_returns(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path, "reef-01", 30.0) as box:
        box.append(draft(0))
        pages = box._conn.execute("PRAGMA page_count").fetchone()[0]
        box._conn.execute(f"PRAGMA max_page_count={pages}")  # the card is full
        lost = 0
        for i in range(1, 400):
            try:
                box.append(draft(i))
            except sqlite3.OperationalError as exc:
                assert exc.sqlite_errorcode == sqlite3.SQLITE_FULL
                lost += 1
        assert lost > 0
        assert box.health().lost_full_card == lost
        box._conn.execute("PRAGMA max_page_count=1073741823")  # space again
        box.append(draft(400))
        record = box._conn.execute(
            "SELECT reason, count, last_time_ms, seqs FROM dropped"
        ).fetchone()
    assert record == ("card_full", lost, T0 + 60_000 * 399, cbor2.dumps([]))
    with Outbox(path, "reef-01", 30.0) as box:
        assert box.health().lost_full_card == lost  # durable across a restart


def test_health_reports_depth_age_size_and_fits_a_status(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite3", "reef-01", 30.0, max_rows=20) as box:
        for i in range(200):
            box.append(draft(i))
        health = box.health()
    assert health.depth == 20 and health.max_rows == 20
    assert health.oldest_time_ms == T0  # seq 1 is never thinned
    assert health.bytes > 0
    assert len(health.thinned_spans) == SPANS_REPORTED
    assert health.thinned_spans[-1].count == 5 and health.thinned == 180
    status = Status("reef-01", True, T0, detail=health.detail())
    assert wire.decode(wire.encode(status), expect=wire.Kind.STATUS) == status


def test_max_rows_below_two_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_rows"):
        Outbox(tmp_path / "outbox.sqlite3", "reef-01", 30.0, max_rows=1)
