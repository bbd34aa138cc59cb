"""The buoy registry and its commands, ``nemopi buoy add`` and ``nemopi buoy list``."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dashboard.db import make_engine
from dashboard.registry import Registration, RegistryError, list_buoys, register
from nemopi.cli import main

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def test_registering_again_updates_the_description_and_keeps_the_first_time(
    engine: Engine,
) -> None:
    register(engine, Registration("reef-a", "Old name", -8.0, 115.0), T0)
    later = Registration("reef-a", "Tulamben wreck", -8.27, 115.59, 30.0, "Asia/Makassar")
    register(engine, later, T0 + timedelta(days=3))
    [buoy] = list_buoys(engine)
    assert (buoy.name, buoy.latitude, buoy.radius_m, buoy.timezone) == (
        "Tulamben wreck",
        -8.27,
        30.0,
        "Asia/Makassar",
    )
    assert buoy.registered and buoy.registered_at == T0


@pytest.mark.parametrize(
    ("registration", "problem"),
    [
        (Registration("Reef A", "x", 0, 0), "buoy id"),
        (Registration("reef-a", "", 0, 0), "name"),
        (Registration("reef-a", "x", 91, 0), "latitude"),
        (Registration("reef-a", "x", 0, float("nan")), "longitude"),
        (Registration("reef-a", "x", 0, 0, 0.0), "radius"),
        (Registration("reef-a", "x", 0, 0, 50.0, "Bali/Nowhere"), "time zone"),
    ],
)
def test_a_bad_registration_is_refused_naming_the_field(
    sqlite_engine: Engine, registration: Registration, problem: str
) -> None:
    with pytest.raises(RegistryError, match=problem):
        register(sqlite_engine, registration, T0)
    assert list_buoys(sqlite_engine) == []


def test_buoy_add_registers_and_creates_broker_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if shutil.which("mosquitto_passwd") is None:
        pytest.fail("mosquitto_passwd is needed (apt-get install mosquitto)")
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    config = tmp_path / "ingest.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    passwords = tmp_path / "passwd"
    argv = ["buoy", "add", "reef-a", "--name", "Tulamben", "--lat", "-8.27", "--lon", "115.59"]
    assert main([*argv, "--config", str(config), "--password-file", str(passwords)]) == 0
    password = capsys.readouterr().out.strip().splitlines()[-1]
    assert passwords.read_text().startswith("reef-a:$")
    assert len(password) >= 32 and password not in passwords.read_text()
    assert main(["buoy", "list", "--config", str(config)]) == 0
    listing = capsys.readouterr().out
    assert "reef-a" in listing and "Tulamben" in listing and "-8.27000, 115.59000, 50 m" in listing
    assert (
        main(
            [*argv[:2], "reef-b", *argv[3:], "--timezone", "Mars/Olympus", "--config", str(config)]
        )
        == 2
    )
    engine = make_engine(url)
    try:
        assert [b.buoy_id for b in list_buoys(engine)] == ["reef-a"]
    finally:
        engine.dispose()
