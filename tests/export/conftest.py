"""Fixtures for the export tests: the dashboard's databases (SQLite and PostgreSQL) and a
small reef whose every exported value, flag and position is known in advance."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from dashboard import webcontext
from dashboard.app import create_app
from dashboard.calibrations import Calibration, store_calibrations
from dashboard.export.blueprint import SETTINGS
from dashboard.export.settings import ExportSettings
from dashboard.models import buoys
from dashboard.qc.config import load_qc_config
from dashboard.qc.flags import Flag
from dashboard.qc.store import activate, write_flags
from dashboard.storage import store_batch
from nemopi.catalogue import by_name
from nemopi.sensor_status import SensorStatus
from nemopi.wire import Batch, ClockSource, Sample, Value
from tests.dashboard.builders import NOW
from tests.dashboard.conftest import db_url, engine, sqlite_engine, sqlite_url  # noqa: F401

T0 = datetime(2026, 5, 28, tzinfo=UTC)
MOORING_B = (-18.25, 146.5)


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@dataclass(frozen=True)
class Reef:
    """What the ``reef`` fixture stored, for tests to compare exports with."""

    engine: Engine
    times_a: tuple[datetime, ...]
    times_b: tuple[datetime, ...]
    qc_version: str


def water_a(i: int) -> float:
    return 26.0 + i * 0.125


def ph_a(i: int) -> float:
    return 8.0 + i / 7  # not exact in binary: the export must keep every digit


def gps_a(i: int) -> tuple[float, float]:
    return -16.9 + i * 1e-5, 145.7 - i * 1e-5


def _sample_a(i: int, when: datetime) -> Sample:
    lat, lon = gps_a(i)
    ph = Value(None, SensorStatus.UNREACHABLE) if i == 2 else Value(ph_a(i))
    values = {
        "water_temperature": Value(water_a(i)),
        "ph": ph,
        "latitude": Value(lat),
        "longitude": Value(lon),
    }
    return Sample(i + 1, ms(when), ClockSource.GPS, values, config_version=1, calibration_version=1)


@pytest.fixture
def reef(engine: Engine) -> Reef:  # noqa: F811
    """reef-a: four samples 10 minutes apart with GPS, water temperature and pH (the third
    pH unreachable); QC flags seq 1 GOOD and seq 2 FAIL for water temperature, the rest not
    flagged. reef-b: a registered mooring, three water temperatures 5 minutes after reef-a's,
    the middle one WARMING_UP, and a sample without a UTC time."""
    times_a = tuple(T0 + timedelta(minutes=10 * i) for i in range(4))
    times_b = tuple(T0 + timedelta(minutes=5 + 10 * i) for i in range(3))
    config = load_qc_config(None)
    b_samples = [
        Sample(
            10 + i,
            ms(when),
            ClockSource.NTP,
            {
                "water_temperature": Value(
                    27.5 + i, SensorStatus.WARMING_UP if i == 1 else SensorStatus.OK
                )
            },
        )
        for i, when in enumerate(times_b)
    ]
    unsynced = Sample(9, 5_000, ClockSource.UNSYNCED, {"water_temperature": Value(20.0)}, boot=1)
    with engine.begin() as conn:
        store_batch(
            conn, Batch("reef-a", tuple(_sample_a(i, t) for i, t in enumerate(times_a))), NOW
        )
        store_batch(conn, Batch("reef-b", (unsynced, *b_samples)), NOW)
        conn.execute(
            buoys.update()
            .where(buoys.c.id == "reef-b")
            .values(
                mooring_latitude=MOORING_B[0], mooring_longitude=MOORING_B[1], mooring_radius_m=50
            )
        )
        key_a = conn.execute(buoys.select().where(buoys.c.id == "reef-a")).one().key
        activate(conn, config, NOW)
        code = by_name("water_temperature").code
        write_flags(
            conn,
            [
                (key_a, 1, code, config.version, 1, 1, 2, 2, 1, None, int(Flag.GOOD)),
                (key_a, 2, code, config.version, 1, 4, 2, 2, 1, None, int(Flag.FAIL)),
            ],
        )
        store_calibrations(
            conn,
            key_a,
            [Calibration("ph", 1, "ph.mid", T0 - timedelta(days=2), {"points": 1})],
            T0 - timedelta(days=1),
            NOW,
        )
    return Reef(engine, times_a, times_b, config.version)


@pytest.fixture
def app(reef: Reef, db_url: str) -> Iterator[Flask]:  # noqa: F811
    application = create_app({"database": {"url": db_url}}, clock=lambda: NOW)
    yield application
    webcontext.dispose(application)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def use_settings(app: Flask, **changes: object) -> None:
    """Export settings other than the defaults, for limits and chunking."""
    app.extensions[SETTINGS] = ExportSettings(**changes)  # type: ignore[arg-type]
