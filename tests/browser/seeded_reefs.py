"""Four reefs in a fresh database, one per verdict, with the data the pages and charts show.

Times are relative to the moment the database is filled (the browser's clock is the real one).
North Wall is go with a day and a half of history (one suspect and one failed temperature, so
its chart marks both) and heat stress; East Point is caution (current), South Bay no-go (turbid
water: visibility under 5 m), West Cove unknown (its readings are hours old).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from dashboard import rollups
from dashboard.heartbeat import beat
from dashboard.models import qc_configs, qc_flags
from dashboard.registry import Registration, register
from dashboard.storage import store_batch, store_status
from nemopi.catalogue import by_name
from nemopi.wire import Batch, ClockSource, Sample, Status, Value

INGEST_CLIENT = "nemopi-ingest"
QC_VERSION = "browser-test"
QC_SUSPECT = 3
QC_FAIL = 4
TIMEZONE = "Asia/Makassar"
MMM_C = 27.0  # North Wall's maximum monthly mean: its 28.5 °C water is heat stress


@dataclass(frozen=True)
class SeededReef:
    id: str
    name: str
    word: str  # the verdict word the pages must show
    latitude: float
    longitude: float
    age: timedelta  # of its newest reading
    history: timedelta  # readings every 10 minutes over this span
    values: dict[str, float]

    @classmethod
    def of(
        cls, row: tuple[str, str, str, float, float, float, float, float, float, float]
    ) -> SeededReef:
        """A reef from a row of the table below."""
        reef_id, name, word, lat, lon, age_min, history_h, temperature, turbidity, current = row
        values = {
            "water_temperature": temperature,
            "turbidity": turbidity,
            "current_speed": current,
        }
        age, history = timedelta(minutes=age_min), timedelta(hours=history_h)
        return cls(reef_id, name, word, lat, lon, age, history, values)


# id, name, verdict word, latitude, longitude, age of the newest reading (min), history (h),
# water temperature (°C), turbidity (NTU: 0.3 is 12.6 m of visibility, 1.0 is 4.4 m), current (m/s)
REEFS = tuple(
    SeededReef.of(row)
    for row in (
        ("north-wall", "North Wall", "Go", -8.345, 116.04, 4, 36, 28.5, 0.3, 0.2),
        ("east-point", "East Point", "Caution", -8.36, 116.08, 6, 2, 28.0, 0.3, 0.7),
        ("south-bay", "South Bay", "No-go", -8.40, 116.05, 8, 2, 28.0, 1.0, 0.2),
        ("west-cove", "West Cove", "Unknown", -8.37, 115.99, 300, 2, 28.0, 0.3, 0.2),
    )
)
FIRST = REEFS[0]
SUSPECT_AGO = timedelta(hours=3)  # North Wall's suspect and failed temperatures, by age
FAILED_AGO = timedelta(hours=6)
TEMPERATURE = by_name("water_temperature")


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _samples(reef: SeededReef, now: datetime) -> list[Sample]:
    newest = now - reef.age
    count = int(reef.history / timedelta(minutes=10))
    return [
        Sample(
            seq=seq,
            time_ms=_ms(newest - timedelta(minutes=10 * (count - seq))),
            clock=ClockSource.GPS,
            values={name: Value(v) for name, v in reef.values.items()},
        )
        for seq in range(1, count + 1)
    ]


def _status(reef: SeededReef, when: datetime) -> Status:
    ms = _ms(when)
    return Status(reef.id, True, ms, valid_until_ms=ms + 3_600_000, next_report_ms=ms + 600_000)


def _qc_flag_rows(key: int, samples: list[Sample]) -> list[dict[str, object]]:
    """North Wall's temperature SUSPECT_AGO is suspect, FAILED_AGO failed."""
    newest = max(s.time_ms for s in samples)
    rows = []
    for age, flag in ((SUSPECT_AGO, QC_SUSPECT), (FAILED_AGO, QC_FAIL)):
        seq = max(s.seq for s in samples if s.time_ms <= newest - age / timedelta(milliseconds=1))
        rows.append(
            {
                "buoy_key": key,
                "seq": seq,
                "quantity": TEMPERATURE.code,
                "qc_version": QC_VERSION,
                "aggregate": flag,
            }
        )
    return rows


def fill(engine: Engine, now: datetime) -> None:
    """Register the reefs and store their history, statuses, QC flags, roll-ups and a live
    ingest heartbeat."""
    with engine.begin() as conn:
        conn.execute(
            insert(qc_configs).values(
                version=QC_VERSION, resolved="{}", source="", first_used=now, last_activated=now
            )
        )
    for reef in REEFS:
        add_reef(engine, reef, now)


def add_reef(engine: Engine, reef: SeededReef, now: datetime) -> None:
    """Register ``reef`` and store its history as the ingest would."""
    registration = Registration(
        reef.id, reef.name, reef.latitude, reef.longitude, timezone=TIMEZONE
    )
    register(engine, registration, now)
    samples = _samples(reef, now)
    with engine.begin() as conn:
        store_batch(conn, Batch(reef.id, tuple(samples)), now)
        key = store_status(conn, _status(reef, now), now, live=True)
        if reef is FIRST:
            conn.execute(insert(qc_flags), _qc_flag_rows(key, samples))
        rollups.refresh(conn, key, (datetime.fromtimestamp(s.time_ms / 1000, UTC) for s in samples))
        beat(conn, INGEST_CLIENT, now - timedelta(days=1), now, connected=True, stored_new=True)


def store_reading(
    engine: Engine, reef: SeededReef, seq: int, when: datetime, **values: float
) -> None:
    """One more sample of ``reef``, stored as the ingest would (roll-ups and heartbeat too)."""
    sample = Sample(seq, _ms(when), ClockSource.GPS, {n: Value(v) for n, v in values.items()})
    with engine.begin() as conn:
        result = store_batch(conn, Batch(reef.id, (sample,)), when)
        assert result.new_seqs == (seq,)
        key = store_status(conn, _status(reef, when), when, live=True)
        rollups.refresh(conn, key, [when])
        beat(conn, INGEST_CLIENT, when - timedelta(days=1), when, connected=True, stored_new=True)


def next_seq(reef: SeededReef) -> int:
    """The first seq after the reef's seeded history."""
    return int(reef.history / timedelta(minutes=10)) + 1
