"""The operator's buoy commands, ``nemopi buoy add`` and ``nemopi buoy list``.

They read the ingest's configuration for the database, bring its schema up to date (so a new
server can register its first buoy before the ingest ever ran), and speak to the person at
the terminal on stdout; errors are logged and become exit codes like the processes'.
"""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from dashboard import process as proc
from dashboard.config import load_ingest_config
from dashboard.registry import (
    RegisteredBuoy,
    Registration,
    RegistryError,
    add_broker_user,
    list_buoys,
    register,
)

log = logging.getLogger(__name__)


def add(config_path: Path, registration: Registration, password_file: Path | None) -> int:
    """Register the buoy; with ``password_file``, also give it a fresh broker password."""
    try:
        registration.validate()
    except RegistryError as exc:
        log.error("%s", exc)
        return proc.EXIT_CONFIG
    code = _with_database(config_path, lambda e: register(e, registration, datetime.now(UTC)))
    if code != proc.EXIT_OK:
        return code
    _say(f"Registered {registration.buoy_id} ({registration.name}).")
    if password_file is None:
        return proc.EXIT_OK
    password = secrets.token_urlsafe(24)
    try:
        add_broker_user(password_file, registration.buoy_id, password)
    except RegistryError as exc:
        log.error("%s", exc)
        return proc.EXIT_CONFIG
    _say(
        f"Broker user {registration.buoy_id} added to {password_file}; reload the broker "
        "(systemctl reload mosquitto). Its password, shown only now -- put it alone in the "
        f"buoy's mqtt.password_file:\n{password}"
    )
    return proc.EXIT_OK


def show(config_path: Path) -> int:
    """Print every buoy the database knows, registered or only heard from."""
    found: list[RegisteredBuoy] = []
    code = _with_database(config_path, lambda e: found.extend(list_buoys(e)))
    if code == proc.EXIT_OK:
        _say(f"{'id':<32} {'registered':<10} {'name':<24} mooring (lat, lon, radius)  timezone")
        for b in found:
            mooring = (
                f"{b.latitude:.5f}, {b.longitude:.5f}, {b.radius_m:g} m"
                if b.latitude is not None and b.longitude is not None
                else "-"
            )
            registered = "yes" if b.registered else "no"
            _say(
                f"{b.buoy_id:<32} {registered:<10} {b.name or '-':<24} {mooring:<27} "
                f"{b.timezone or '-'}"
            )
    return code


def _with_database(config_path: Path, work: Callable[[Engine], object]) -> int:
    return proc.run_on_database(
        config_path, load_ingest_config, "buoy-admin", lambda _config, engine: work(engine), ()
    )


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
