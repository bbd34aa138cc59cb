"""The configuration files ``nemopi demo`` writes for its processes, one TOML file each.

They are ordinary config files, the same as deploy/config/ describes, so a person can read
them in the data folder to see how a real deployment is set up. Writing the ingest's file
also registers the demo buoys in its database, as an operator would with ``nemopi buoy add``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sensors.simulation import preset


@dataclass(frozen=True)
class DemoBuoy:
    """A demo buoy: its simulated reef (a preset, which sets its name and mooring), the time
    zone its operators live in and, for heat stress, the reef's maximum monthly mean."""

    buoy_id: str
    preset: str
    timezone: str
    mmm_c: float | None = None


# Three countries, two time zones: the pages show each reef's times in its own.
DEMO_BUOYS = (
    DemoBuoy("sheltered-bay", "sheltered-bay", "Asia/Bangkok"),  # Phuket, UTC+7
    DemoBuoy("exposed-point", "exposed-point", "Asia/Makassar"),  # Bali, UTC+8
    # An MMM a little below the simulated reef's mean temperature (28.9 °C), so that the demo
    # shows heat stress from February to August (a Bleaching Watch, more in its February-May
    # heatwave) once a day has data.
    DemoBuoy("heatwave-reef", "heatwave-reef", "Asia/Manila", mmm_c=28.7),  # Cebu, UTC+8
)
DEMO_POLL_S = 10
SAMPLING_INTERVAL_S = 20.0
# Simulated buoys with a speed-up run ahead of real time: a year covers any demo's run.
DEMO_MAX_CLOCK_AHEAD_S = 365 * 86_400


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string: JSON escapes are valid TOML escapes


def _table(name: str, values: dict[str, Any]) -> str:
    lines = [f"[{name}]"] if name else []
    lines += [f"{key} = {_toml_value(v)}" for key, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


def _write(path: Path, header: str, *tables: str) -> Path:
    path.write_text(
        f"# {header}\n# Written by nemopi demo.\n\n" + "\n".join(tables), encoding="utf-8"
    )
    return path


def _mqtt(broker_port: int) -> str:
    return _table("mqtt", {"host": "127.0.0.1", "port": broker_port, "prefix": "nemopi"})


def _database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'nemopi.sqlite3'}"


def _database(data_dir: Path) -> str:
    return _table("database", {"url": _database_url(data_dir)})


def write_ingest_config(data_dir: Path, broker_port: int) -> Path:
    """The ingest's file; the demo buoys are registered in its database (created if new)."""
    path = _write(
        data_dir / "ingest.toml",
        "The ingest worker.",
        _table(
            "",
            {
                "client_id": "nemopi-ingest",
                "log_level": "INFO",
                "max_clock_ahead_s": DEMO_MAX_CLOCK_AHEAD_S,
            },
        ),
        _database(data_dir),
        _mqtt(broker_port),
    )
    _register_demo_buoys(_database_url(data_dir))
    return path


def _register_demo_buoys(database_url: str) -> None:
    from dashboard.db import make_engine, upgrade_database
    from dashboard.registry import Registration, register

    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        for b in DEMO_BUOYS:
            site = preset(b.preset)
            registration = Registration(
                b.buoy_id,
                site.site,
                site.latitude,
                site.longitude,
                site.mooring_radius_m,
                b.timezone,
            )
            register(engine, registration, datetime.now(UTC))
    finally:
        engine.dispose()


def write_web_config(data_dir: Path, web_port: int) -> Path:
    """The dashboard's file: live updates every few seconds, heat stress for the reefs with
    an MMM."""
    sites = [
        _table("[heat_stress.sites]", {"buoy": b.buoy_id, "mmm_c": b.mmm_c})
        for b in DEMO_BUOYS
        if b.mmm_c is not None
    ]
    return _write(
        data_dir / "web.toml",
        "The web dashboard.",
        _table(
            "", {"host": "127.0.0.1", "port": web_port, "log_level": "INFO", "poll_s": DEMO_POLL_S}
        ),
        _database(data_dir),
        *sites,
    )


def write_buoy_config(data_dir: Path, buoy: DemoBuoy, broker_port: int, speedup: float) -> Path:
    outbox_dir = data_dir / "buoys" / buoy.buoy_id
    outbox_dir.mkdir(parents=True, exist_ok=True)
    simulation = dataclasses.replace(preset(buoy.preset), speedup=speedup)
    return _write(
        data_dir / f"buoy-{buoy.buoy_id}.toml",
        f"Simulated buoy {buoy.buoy_id} ({simulation.site}).",
        _table("", {"buoy_id": buoy.buoy_id, "data_dir": outbox_dir, "log_level": "INFO"}),
        _mqtt(broker_port),
        _table("sampling", {"interval_s": SAMPLING_INTERVAL_S}),
        _table("simulation", dataclasses.asdict(simulation)),
    )
