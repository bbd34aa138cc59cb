from __future__ import annotations

import math
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from buoy.outbox import DELETE_CHUNK, Draft, Outbox, OutboxError
from nemopi.sensor_status import SensorStatus
from nemopi.wire import ClockSource, Value

T0 = 1_750_000_000_000
EVERYTHING = 10**9  # a limit larger than any test's outbox


def draft(i: int = 0, **values: Value) -> Draft:
    return Draft(T0 + 60_000 * i, ClockSource.NTP, values or {"water_temperature": Value(25.0 + i)})


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox.sqlite3", "reef-01", resend_after_s=30.0) as box:
        yield box


def all_seqs(box: Outbox) -> list[int]:
    return [s.seq for s in box.due(EVERYTHING, math.inf)]


def test_sequence_numbers_increase_and_never_repeat_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    seen: list[int] = []
    for _ in range(3):
        with Outbox(path, "reef-01", 30.0) as box:
            seen += [box.append(draft(i)).seq for i in range(4)]
            box.confirm([(1, seen[-1])])  # an empty outbox must not restart the numbering
    assert seen == list(range(1, 13))


def test_append_uses_wal_and_full_sync(outbox: Outbox, tmp_path: Path) -> None:
    outbox.append(draft())
    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert outbox._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_row_goes_unsent_then_sent_then_deleted_only_when_confirmed(outbox: Outbox) -> None:
    first, second = outbox.append(draft(0)), outbox.append(draft(1))
    assert [s.seq for s in outbox.due(10, now=100.0)] == [first.seq, second.seq]
    outbox.mark_sent([first.seq, second.seq], now=100.0)
    assert outbox.due(10, now=100.0) == []
    assert outbox.depth() == 2  # sent is not stored: both still wait
    assert outbox.confirm([(first.seq, first.seq)]) == 1
    assert outbox.depth() == 1
    assert outbox.oldest_unconfirmed() == second


def test_sent_rows_become_due_again_after_resend_timeout(outbox: Outbox) -> None:
    sample = outbox.append(draft())
    outbox.mark_sent([sample.seq], now=100.0)
    assert outbox.due(10, now=129.9) == []
    assert outbox.due(10, now=130.0) == [sample]


def test_reopening_makes_sent_but_unconfirmed_rows_due_at_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path, "reef-01", 30.0) as box:
        sample = box.append(draft())
        box.mark_sent([sample.seq], now=100.0)
    with Outbox(path, "reef-01", 30.0) as box:
        assert box.due(10, now=0.0) == [sample]


def test_due_is_bounded_and_in_sequence_order(outbox: Outbox) -> None:
    seqs = [outbox.append(draft(i)).seq for i in range(7)]
    assert [s.seq for s in outbox.due(3, now=0.0)] == seqs[:3]


def test_confirm_for_unknown_ranges_deletes_nothing_else(outbox: Outbox) -> None:
    kept = [outbox.append(draft(i)).seq for i in range(3)]
    assert outbox.confirm([(100, 200)]) == 0
    assert outbox.confirm([]) == 0
    assert all_seqs(outbox) == kept
    assert outbox.append(draft()).seq == 201  # numbering moved past what the ingest holds


def test_confirm_deletes_large_ranges_in_chunks(outbox: Outbox) -> None:
    count = DELETE_CHUNK * 2 + 7
    for i in range(count):
        outbox.append(draft(i))
    assert outbox.confirm([(1, count - 3)]) == count - 3
    assert all_seqs(outbox) == [count - 2, count - 1, count]


def test_implausible_ack_does_not_exhaust_the_numbering(outbox: Outbox) -> None:
    outbox.append(draft())
    outbox.confirm([(2**63 - 10, 2**63 - 1)])
    assert outbox.append(draft()).seq == 2


values_strategy = st.dictionaries(
    st.sampled_from(["water_temperature", "ph", "turbidity", "battery_voltage"]),
    st.one_of(
        st.builds(Value, st.floats(min_value=-2.0, max_value=14.0)),
        st.builds(
            Value,
            st.none() | st.floats(min_value=0.0, max_value=14.0),
            st.sampled_from([s for s in SensorStatus if s is not SensorStatus.OK]),
        ),
    ),
)


@settings(max_examples=50, deadline=None)
@given(values=values_strategy, time_ms=st.integers(T0, T0 + 10**10))
def test_values_come_back_bit_exact(values: dict[str, Value], time_ms: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "outbox.sqlite3"
        with Outbox(path, "reef-01", 30.0) as box:
            stored = box.append(Draft(time_ms, ClockSource.NTP, values, 3, 4, 5))
        with Outbox(path, "reef-01", 30.0) as box:
            (back,) = box.due(1, now=0.0)
    assert back == stored
    assert back.values == values
    assert (back.boot, back.config_version, back.calibration_version) == (3, 4, 5)


@pytest.mark.parametrize(
    "values",
    [
        {"water_temperature": Value(math.nan)},
        {"no_such_quantity": Value(1.0)},
        {"water_temperature": Value(1e300)},
    ],
)
def test_unpublishable_sample_is_refused_before_anything_is_written(
    outbox: Outbox, values: dict[str, Value]
) -> None:
    with pytest.raises(ValueError):
        outbox.append(Draft(T0, ClockSource.NTP, values))
    assert outbox.depth() == 0
    assert outbox.next_seq() == 1


def test_outbox_of_another_buoy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path, "reef-01", 30.0) as box:
        box.append(draft())
    with pytest.raises(OutboxError, match="reef-01"):
        Outbox(path, "reef-02", 30.0)


class OutboxLifecycle(RuleBasedStateMachine):
    """Any interleaving of append, mark_sent, confirm and reopen keeps exactly the rows that
    no acknowledgement has covered, and never reuses a sequence number."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        self.box = Outbox(self.dir / "outbox.sqlite3", "reef-01", 10.0)
        self.expected: set[int] = set()
        self.issued: list[int] = []
        self.now = 0.0

    @rule(n=st.integers(1, 3))
    def append(self, n: int) -> None:
        for _ in range(n):
            seq = self.box.append(draft(len(self.issued))).seq
            assert not self.issued or seq > max(self.issued)
            self.issued.append(seq)
            self.expected.add(seq)

    @rule(data=st.data())
    def mark_sent(self, data: st.DataObject) -> None:
        seqs = data.draw(st.lists(st.sampled_from(self.issued))) if self.issued else []
        self.now += data.draw(st.floats(0, 20))
        self.box.mark_sent(seqs, self.now)

    @rule(data=st.data())
    def confirm(self, data: st.DataObject) -> None:
        top = (max(self.issued) if self.issued else 0) + 3
        starts = data.draw(st.lists(st.integers(1, top), max_size=3, unique=True))
        ranges = []
        for first in sorted(starts):
            last = data.draw(st.integers(first, first + 3))
            if not ranges or first > ranges[-1][1]:
                ranges.append((first, last))
        covered = {s for a, b in ranges for s in range(a, b + 1)}
        assert self.box.confirm(ranges) == len(self.expected & covered)
        self.expected -= covered

    @rule()
    def reopen(self) -> None:
        self.box.close()
        self.box = Outbox(self.dir / "outbox.sqlite3", "reef-01", 10.0)

    @invariant()
    def holds_exactly_the_unconfirmed_rows(self) -> None:
        assert set(all_seqs(self.box)) == self.expected
        assert self.box.depth() == len(self.expected)

    def teardown(self) -> None:
        self.box.close()
        shutil.rmtree(self.dir)


OutboxLifecycle.TestCase.settings = settings(max_examples=60, deadline=None)
# Every append waits for an fsync, so a few hundred steps take seconds on a real disk.
test_outbox_never_deletes_an_unconfirmed_row = pytest.mark.slow(OutboxLifecycle.TestCase)
