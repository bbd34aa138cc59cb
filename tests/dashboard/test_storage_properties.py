"""Property: whatever mix of duplicated, re-ordered and re-sent batches arrives, storage holds
exactly the distinct (buoy, seq) samples, each once, with the values that were sent."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from dashboard.models import buoys, latest_readings, metadata
from dashboard.storage import store_batch
from nemopi.wire import Batch
from tests.dashboard.builders import NOW, batch
from tests.dashboard.stored import expected_readings, stored_readings, stored_samples

BUOYS = ("reef-a", "reef-b", "reef-c")

batches = st.builds(
    lambda buoy, seqs: batch(buoy, sorted(seqs)),
    st.sampled_from(BUOYS),
    st.sets(st.integers(min_value=1, max_value=40), min_size=1, max_size=12),
)
# Deliveries: batches, then some of them delivered again, in any order, committed in groups.
deliveries = st.lists(batches, min_size=1, max_size=8).flatmap(
    lambda sent: st.tuples(
        st.permutations(sent + sent[: len(sent) // 2]),
        st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=20),
    )
)


def clear(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(delivery=deliveries)
def test_any_interleaving_stores_each_distinct_sample_exactly_once(
    sqlite_engine: Engine, delivery: tuple[list[Batch], list[int]]
) -> None:
    order, group_sizes = delivery
    clear(sqlite_engine)
    groups = iter(group_sizes * len(order))
    position = 0
    while position < len(order):
        size = next(groups)
        with sqlite_engine.begin() as conn:
            for b in order[position : position + size]:
                store_batch(conn, b, NOW)
        position += size

    distinct = sorted({(b.buoy, s.seq) for b in order for s in b.samples})
    assert stored_samples(sqlite_engine) == distinct
    assert stored_readings(sqlite_engine) == expected_readings(order)
    query = select(buoys.c.id, latest_readings.c.quantity, latest_readings.c.seq).join(buoys)
    with sqlite_engine.connect() as conn:
        latest = {tuple(row) for row in conn.execute(query)}
    highest = {buoy: max(seq for b, seq in distinct if b == buoy) for buoy, _ in distinct}
    assert latest == {(buoy, code, seq) for buoy, seq in highest.items() for code in (1, 2)}
