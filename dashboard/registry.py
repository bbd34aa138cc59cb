"""The buoy registry: which buoys belong to this network, what they are called, where they are
moored and in which time zone their operators live.

The ingest stores data only from registered buoys (unless told to accept strangers), so
registering is the one step that lets a new buoy in; ``register`` inserts the buoy or completes
the row the ingest created when it first heard it. ``add_broker_user`` gives the buoy its
broker credentials in a Mosquitto password file with ``mosquitto_passwd``: the user name is the
buoy id, which is what the per-buoy ACL in deploy/mosquitto/nemopi.acl keys on.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import available_timezones

from sqlalchemy import Engine, func, select

from dashboard.models import buoys
from dashboard.storage import insert_for
from nemopi.topics import is_valid_buoy_id

DEFAULT_RADIUS_M = 50.0
MAX_NAME_CHARS = 128


class RegistryError(ValueError):
    """A registration that cannot be accepted, or a broker user that cannot be added."""


@dataclass(frozen=True, slots=True)
class Registration:
    """What an operator says about a buoy. ``validate`` explains what is wrong, if anything."""

    buoy_id: str
    name: str
    latitude: float
    longitude: float
    radius_m: float = DEFAULT_RADIUS_M
    timezone: str = "UTC"

    def validate(self) -> None:
        if not is_valid_buoy_id(self.buoy_id):
            raise RegistryError(
                f"buoy id {self.buoy_id!r}: expected 1..32 lower-case letters, digits, _ or -, "
                "starting with a letter or digit"
            )
        if not self.name.strip() or len(self.name) > MAX_NAME_CHARS:
            raise RegistryError(f"name: expected 1..{MAX_NAME_CHARS} characters")
        if not (math.isfinite(self.latitude) and -90 <= self.latitude <= 90):
            raise RegistryError(f"latitude {self.latitude}: expected -90..90")
        if not (math.isfinite(self.longitude) and -180 <= self.longitude <= 180):
            raise RegistryError(f"longitude {self.longitude}: expected -180..180")
        if not (math.isfinite(self.radius_m) and 0 < self.radius_m <= 10_000):
            raise RegistryError(f"radius {self.radius_m} m: expected more than 0, at most 10 km")
        if self.timezone not in available_timezones():
            raise RegistryError(
                f"time zone {self.timezone!r}: expected an IANA name such as Asia/Makassar"
            )


@dataclass(frozen=True, slots=True)
class RegisteredBuoy:
    buoy_id: str
    name: str | None
    latitude: float | None
    longitude: float | None
    radius_m: float | None
    timezone: str | None
    registered: bool
    registered_at: datetime | None
    last_heard: datetime | None


def register(engine: Engine, registration: Registration, now: datetime) -> None:
    """Register (or re-describe) a buoy. Re-registering keeps the first registration time."""
    registration.validate()
    described = {
        "name": registration.name,
        "mooring_latitude": registration.latitude,
        "mooring_longitude": registration.longitude,
        "mooring_radius_m": registration.radius_m,
        "timezone": registration.timezone,
        "registered": True,
    }
    with engine.begin() as conn:
        stmt = insert_for(conn)(buoys).values(
            id=registration.buoy_id, first_seen=now, registered_at=now, **described
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[buoys.c.id],
            set_={
                **described,
                "registered_at": func.coalesce(buoys.c.registered_at, stmt.excluded.registered_at),
            },
        )
        conn.execute(stmt)


def list_buoys(engine: Engine) -> list[RegisteredBuoy]:
    """Every buoy the database knows, registered or only heard from, by id."""
    query = select(
        buoys.c.id,
        buoys.c.name,
        buoys.c.mooring_latitude,
        buoys.c.mooring_longitude,
        buoys.c.mooring_radius_m,
        buoys.c.timezone,
        buoys.c.registered,
        buoys.c.registered_at,
        buoys.c.last_heard,
    ).order_by(buoys.c.id)
    with engine.connect() as conn:
        return [RegisteredBuoy(*row) for row in conn.execute(query)]


def add_broker_user(password_file: Path, buoy_id: str, password: str) -> None:
    """Add or replace the buoy's user in a Mosquitto password file (created when missing).

    The broker reads the file at start and on SIGHUP: reload it afterwards.
    """
    binary = shutil.which("mosquitto_passwd")
    if binary is None:
        raise RegistryError("mosquitto_passwd not found (apt-get install mosquitto-clients)")
    create = [] if password_file.exists() else ["-c"]
    done = subprocess.run(
        [binary, *create, "-b", str(password_file), buoy_id, password],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RegistryError(
            f"mosquitto_passwd failed for {password_file}: {done.stderr.strip() or done.stdout}"
        )
