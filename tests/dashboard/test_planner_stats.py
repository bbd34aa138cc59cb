"""The ingest refreshes PostgreSQL's planner statistics as a young database fills up."""

from __future__ import annotations

from sqlalchemy import Engine, text

from dashboard.models import buoys, samples
from dashboard.planner_stats import FIRST_ANALYZE_AFTER, StatsKeeper
from tests.dashboard.builders import NOW


def planner_rows(engine: Engine) -> float:
    """What the planner believes ``samples`` holds: -1 until the table is first analyzed.
    ANALYZE sets it in the catalogue, transactionally (the statistics views lag)."""
    query = text(
        "SELECT reltuples FROM pg_class "
        "WHERE relname = 'samples' AND relnamespace = current_schema()::regnamespace"
    )
    with engine.connect() as conn:
        return float(conn.execute(query).scalar_one())


def add_samples(engine: Engine, seqs: range) -> None:
    with engine.begin() as conn:
        key = conn.execute(
            buoys.insert().values(id=f"reef-{seqs.start}", first_seen=NOW).returning(buoys.c.key)
        ).scalar_one()
        rows = [
            {
                "buoy_key": key,
                "seq": seq,
                "clock": 1,
                "time_utc": NOW,
                "received_at": NOW,
                "config_version": 1,
                "calibration_version": 0,
            }
            for seq in seqs
        ]
        conn.execute(samples.insert(), rows)


def test_tables_are_analyzed_at_the_first_thousand_samples_then_at_each_doubling(
    engine: Engine,
) -> None:
    keeper = StatsKeeper(engine)
    if engine.dialect.name != "postgresql":
        keeper.stored(10 * FIRST_ANALYZE_AFTER)  # SQLite: nothing to do, and nothing fails
        return
    assert planner_rows(engine) == -1
    keeper.stored(FIRST_ANALYZE_AFTER - 1)
    assert planner_rows(engine) == -1
    keeper.stored(1)
    assert planner_rows(engine) == 0
    add_samples(engine, range(1, 6))
    keeper.stored(FIRST_ANALYZE_AFTER - 1)  # 1,999 in all: the next is at 2,000
    assert planner_rows(engine) == 0
    keeper.stored(1)
    assert planner_rows(engine) == 5
