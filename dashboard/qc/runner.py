"""Running QC against the database: bounded history windows in, flags for the current version out.

For a set of samples of one buoy (a committed batch, or those a recovery or rerun finds) the
runner reads, in two queries, every reading within ``QcConfig.lookback_s`` (+ ``max_gap_s``)
of them by sample time, and evaluates as *targets* the given samples **and** every stored
sample whose tests they can change: the neighbour before (spike), the one after (spike, rate of
change) and those whose flat-line window they enter. So a late, older sample re-evaluates its
neighbours, and flags end up the same whatever order and batch sizes the readings came in.

QC never alters a reading. ``after_commit`` and ``recover`` are what the ingest calls: they log
a failure and leave the flags missing (``recover`` and ``nemopi qc rerun`` fill them in later)
rather than lose a reading or stop the ingest. ``rerun`` is the command's, and raises.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Connection, Engine, and_, false, or_, select

from dashboard import rollups
from dashboard.models import buoys, qc_flags, readings, samples
from dashboard.qc import store
from dashboard.qc.config import QcConfig, load_qc_config
from dashboard.qc.rules import COLUMNS, Mooring, Outcome, Series, evaluate, location_flags
from dashboard.storage import StoreResult
from nemopi.catalogue import by_name
from nemopi.configfile import ConfigError

log = logging.getLogger(__name__)

CHUNK_SAMPLES = 5000  # samples flagged per transaction by recovery and rerun
LATITUDE = by_name("latitude").code
LONGITUDE = by_name("longitude").code


@dataclass(frozen=True)
class _Buoy:
    key: int
    id: str
    mooring: Mooring | None


class QcRunner:
    """Flags stored readings with ``config``'s thresholds, under its version."""

    def __init__(self, engine: Engine, config: QcConfig) -> None:
        self._engine = engine
        self._config = config
        self._activated = False

    @property
    def config(self) -> QcConfig:
        return self._config

    # ------------------------------------------------------------ ingest side: never raises

    def after_commit(self, results: Iterable[StoreResult]) -> None:
        """Flag the samples a committed transaction newly stored (and their neighbours)."""
        new: dict[str, set[int]] = defaultdict(set)
        for result in results:
            new[result.buoy].update(result.new_seqs)
        for buoy_id, seqs in new.items():
            if not seqs:
                continue
            try:
                buoy = self._buoy_by_id(buoy_id)
                self.flag(buoy, sorted(seqs))
            except Exception:  # a QC bug must not stop the ingest; recovery redoes it
                log.exception(
                    "QC failed for %d samples of %s; flags left missing", len(seqs), buoy_id
                )

    def recover(self) -> int:
        """Flag every sample that has a reading without a flag of the current version (a crash
        between the ingest's commit and its QC); the number of samples flagged."""
        try:
            return self._run(self._unflagged())
        except Exception:  # as in after_commit: the ingest carries on, the rerun redoes it
            log.exception("QC recovery failed; unflagged samples stay so until a rerun")
            return 0

    # ------------------------------------------------------------ command side: raises

    def rerun(
        self,
        buoy_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """Flag every sample in range with the current version; the number flagged. Samples
        without UTC time are included only when no time bound is given."""
        return self._run(self._in_range(buoy_id, since, until))

    # ------------------------------------------------------------ the work

    def _run(self, chunks: Iterator[tuple[_Buoy, list[int]]]) -> int:
        done = 0
        for buoy, seqs in chunks:
            self.flag(buoy, seqs)
            done += len(seqs)
        if done:
            log.info("QC version %s: flagged %d samples", self._config.version, done)
        return done

    def flag(self, buoy: _Buoy, seqs: Sequence[int]) -> int:
        """Evaluate ``seqs`` (ascending) of ``buoy`` and their neighbours, one transaction per
        ``CHUNK_SAMPLES``; the number of flag rows written. The chart roll-ups of the samples
        flagged are recomputed in the same transaction, so flags and charts never disagree."""
        written = 0
        for start in range(0, len(seqs), CHUNK_SAMPLES):
            with self._engine.begin() as conn:
                if not self._activated:
                    store.activate(conn, self._config, datetime.now(UTC))
                rows = self._evaluate(conn, buoy, seqs[start : start + CHUNK_SAMPLES])
                written += store.write_flags(conn, rows)
                rollups.refresh_samples(conn, buoy.key, {row[1] for row in rows})
            self._activated = True
        return written

    def _evaluate(
        self, conn: Connection, buoy: _Buoy, seqs: Sequence[int]
    ) -> list[tuple[Any, ...]]:
        config = self._config
        given = conn.execute(
            select(samples.c.time_utc).where(
                samples.c.buoy_key == buoy.key,
                samples.c.seq.in_(seqs),
                samples.c.time_utc.is_not(None),
            )
        ).scalars()
        times = [t.timestamp() for t in given]
        reach = config.lookback_s
        # Targets: the given samples, plus stored ones whose tests the given ones can change.
        window = (min(times) - config.max_gap_s, max(times) + reach) if times else None
        unsynced_given = and_(samples.c.seq.in_(seqs), samples.c.time_utc.is_(None))
        fetched: ColumnElement[bool] = unsynced_given
        if window is not None:
            context = samples.c.time_utc.between(
                _utc(window[0] - reach), _utc(window[1] + config.max_gap_s)
            )
            fetched = or_(context, unsynced_given)
        sample_rows = conn.execute(
            select(samples.c.seq, samples.c.time_utc)
            .where(samples.c.buoy_key == buoy.key, fetched)
            .order_by(samples.c.seq)
        ).all()
        reading_rows = conn.execute(
            select(readings.c.seq, readings.c.quantity, readings.c.value, readings.c.status)
            .join(
                samples,
                and_(samples.c.buoy_key == readings.c.buoy_key, samples.c.seq == readings.c.seq),
            )
            .where(readings.c.buoy_key == buoy.key, fetched)
        ).all()
        if not reading_rows:
            return []
        sample_seq = np.array([row[0] for row in sample_rows], dtype=np.int64)
        sample_time = np.array(
            [np.nan if row[1] is None else row[1].timestamp() for row in sample_rows]
        )
        is_target = np.isin(sample_seq, np.asarray(seqs, dtype=np.int64))
        if window is not None:
            with np.errstate(invalid="ignore"):
                is_target |= (sample_time >= window[0]) & (sample_time <= window[1])
        seq_col, quantity_col, value_col, status_col = (
            np.array(c) for c in zip(*reading_rows, strict=True)
        )
        seq_col = seq_col.astype(np.int64)
        value_col = value_col.astype(np.float64)  # None (no value) becomes NaN
        sample_index = np.searchsorted(sample_seq, seq_col)
        reading = Series(
            seq=seq_col,
            time_s=sample_time[sample_index],
            value=value_col,
            status=status_col.astype(np.int64),
        )
        targets = is_target[sample_index]
        location = self._location(
            buoy, sample_index, quantity_col, value_col, targets, sample_seq.size
        )
        thresholds = config.thresholds_for(buoy.id)
        outcomes = []
        for code in np.unique(quantity_col):
            mine = quantity_col == code
            outcome = evaluate(
                _subset(reading, mine),
                targets[mine],
                thresholds[int(code)],
                config.max_gap_s,
                location[sample_index[mine]] if int(code) in (LATITUDE, LONGITUDE) else None,
            )
            outcomes.append((int(code), outcome))
        return _rows(buoy.key, config.version, outcomes)

    def _location(
        self,
        buoy: _Buoy,
        sample_index: np.ndarray,
        quantity: np.ndarray,
        value: np.ndarray,
        targets: np.ndarray,
        sample_count: int,
    ) -> np.ndarray:
        """The location flag per fetched sample (NOT_EVALUATED where not a target)."""
        latitude = np.full(sample_count, np.nan)
        longitude = np.full(sample_count, np.nan)
        is_lat = quantity == LATITUDE
        is_lon = quantity == LONGITUDE
        latitude[sample_index[is_lat]] = value[is_lat]
        longitude[sample_index[is_lon]] = value[is_lon]
        wanted = np.zeros(sample_count, dtype=np.bool_)
        wanted[sample_index[(is_lat | is_lon) & targets]] = True
        flags = np.full(sample_count, 2, dtype=np.uint8)
        flags[wanted] = location_flags(latitude[wanted], longitude[wanted], buoy.mooring)
        return flags

    # ------------------------------------------------------------ what to flag

    def _buoy_by_id(self, buoy_id: str) -> _Buoy:
        with self._engine.connect() as conn:
            row = conn.execute(_buoy_query().where(buoys.c.id == buoy_id)).one()
        return _buoy(row)

    def _buoys(self, buoy_id: str | None) -> list[_Buoy]:
        query = _buoy_query().order_by(buoys.c.key)
        if buoy_id is not None:
            query = query.where(buoys.c.id == buoy_id)
        with self._engine.connect() as conn:
            return [_buoy(row) for row in conn.execute(query)]

    def _unflagged(self) -> Iterator[tuple[_Buoy, list[int]]]:
        missing = (
            select(readings.c.seq)
            .distinct()
            .outerjoin(
                qc_flags,
                store.flags_of(readings, self._config.version),
            )
            .where(qc_flags.c.seq.is_(None))
        )
        for buoy in self._buoys(None):
            yield from _chunks(
                self._engine, buoy, missing.where(readings.c.buoy_key == buoy.key), readings.c.seq
            )

    def _in_range(
        self, buoy_id: str | None, since: datetime | None, until: datetime | None
    ) -> Iterator[tuple[_Buoy, list[int]]]:
        found = self._buoys(buoy_id)
        if buoy_id is not None and not found:
            raise ValueError(f"no buoy {buoy_id!r} in the database")
        timed = since is not None or until is not None
        condition: ColumnElement[bool] = samples.c.time_utc.is_not(None) if timed else ~false()
        if since is not None:
            condition = and_(condition, samples.c.time_utc >= since)
        if until is not None:
            condition = and_(condition, samples.c.time_utc <= until)
        for buoy in found:
            query = select(samples.c.seq).where(samples.c.buoy_key == buoy.key, condition)
            yield from _chunks(self._engine, buoy, query, samples.c.seq)


def runner_for_ingest(engine: Engine, qc_file: Path | None) -> QcRunner | None:
    """The ingest's runner, or None (logged) when the QC file cannot be used: the ingest then
    stores readings without flags, and ``nemopi qc rerun`` flags them once the file is fixed."""
    try:
        return QcRunner(engine, load_qc_config(qc_file))
    except ConfigError as exc:
        log.error("QC is off until the configuration is fixed: %s", exc)
        return None


def _chunks(
    engine: Engine, buoy: _Buoy, query: Any, seq: ColumnElement[int]
) -> Iterator[tuple[_Buoy, list[int]]]:
    """``query``'s seqs in ascending chunks, each read after the previous one was flagged."""
    after = -1
    while True:
        with engine.connect() as conn:
            found = list(
                conn.execute(query.where(seq > after).order_by(seq).limit(CHUNK_SAMPLES)).scalars()
            )
        if not found:
            return
        yield buoy, found
        after = found[-1]


def _buoy_query() -> Any:
    return select(
        buoys.c.key,
        buoys.c.id,
        buoys.c.mooring_latitude,
        buoys.c.mooring_longitude,
        buoys.c.mooring_radius_m,
    )


def _buoy(row: Any) -> _Buoy:
    key, buoy_id, latitude, longitude, radius = row
    registered = None not in (latitude, longitude, radius)
    return _Buoy(key, buoy_id, Mooring(latitude, longitude, radius) if registered else None)


def _subset(series: Series, mask: np.ndarray) -> Series:
    return Series(series.seq[mask], series.time_s[mask], series.value[mask], series.status[mask])


def _rows(key: int, version: str, outcomes: list[tuple[int, Outcome]]) -> list[tuple[Any, ...]]:
    """Flag rows in ``store.ROW`` order; a test that does not apply is NULL."""
    rows: list[tuple[Any, ...]] = []
    for code, outcome in outcomes:
        count = outcome.seq.size
        columns = [
            [None] * count if name not in outcome.flags else outcome.flags[name].tolist()
            for name in COLUMNS
        ]
        rows.extend(
            zip(
                [key] * count,
                outcome.seq.tolist(),
                [code] * count,
                [version] * count,
                *columns,
                outcome.aggregate.tolist(),
                strict=True,
            )
        )
    return rows


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
