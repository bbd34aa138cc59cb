"""The configuration of the dashboard's two processes: one TOML file each.

``load_ingest_config`` and ``load_web_config`` return frozen dataclasses or raise
``nemopi.configfile.ConfigError`` naming the file and the key. Every setting is declared with
its documentation, so the docs can be checked against the code.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dashboard.export.settings import ExportSettings
from dashboard.heat_stress import HeatStressSettings
from dashboard.verdict_rules import VerdictSettings
from dashboard.visibility import VisibilitySettings
from nemopi.broker_settings import MqttSettings
from nemopi.configfile import in_range, load, log_level_setting, setting

CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SHARED_GROUP_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SECRET_KEY_MIN_CHARS = 32


def _database_url_check(value: str) -> str | None:
    if value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
        return None
    return "expected a sqlite:/// or postgresql+psycopg:// URL"


def _shared_group_check(value: str) -> str | None:
    if value == "" or SHARED_GROUP_RE.match(value):
        return None
    return "expected empty, or 1..64 letters, digits, '_' or '-'"


def _client_id_check(value: str) -> str | None:
    if CLIENT_ID_RE.match(value):
        return None
    return "expected 1..64 letters, digits, '_', '.' or '-'"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = setting(
        "sqlite:///data/nemopi.sqlite3",
        doc=(
            "SQLAlchemy URL of the database: sqlite:///relative/path or sqlite:////absolute/path "
            "(the folder is created), or postgresql+psycopg://user@host/dbname."
        ),
        check=_database_url_check,
    )


@dataclass(frozen=True)
class IngestConfig:
    database: DatabaseSettings = setting(
        DatabaseSettings(), doc="Where readings are stored (the [database] table)."
    )
    mqtt: MqttSettings = setting(MqttSettings(), doc="How to reach the broker (the [mqtt] table).")
    client_id: str = setting(
        "nemopi-ingest",
        doc=(
            "MQTT client id. Fixed, because the broker keeps this client's persistent session "
            "(subscriptions and unacknowledged messages) under it across restarts."
        ),
        check=_client_id_check,
    )
    log_level: str = log_level_setting()
    accept_unknown_buoys: bool = setting(
        False,
        doc=(
            "Store data from buoys nobody registered (`nemopi buoy add`). Off: their payloads "
            "are quarantined with the reason 'unknown buoy' and stay in the buoy's outbox until "
            "it is registered."
        ),
    )
    max_clock_ahead_s: int = setting(
        600,
        doc=(
            "A synced sample time more than this many seconds ahead of the ingest's clock is "
            "absurd and its batch is quarantined. Simulated buoys with a speed-up run ahead of "
            "real time: raise it for them."
        ),
        check=in_range(0, None),
    )
    max_days_before_registration: int = setting(
        365,
        doc=(
            "A synced sample time more than this many days before the buoy was registered (or "
            "first heard, if never registered) is absurd and its batch is quarantined."
        ),
        check=in_range(0, None),
    )
    max_seq_jump: int = setting(
        10_000_000,
        doc=(
            "A seq more than this far above the highest seq stored for its buoy (or above 0 for "
            "a new buoy) is taken for a corrupt counter and its batch is quarantined."
        ),
        check=in_range(1, None),
    )
    quarantine_max_rows: int = setting(
        10_000,
        doc=(
            "The quarantine table keeps at most this many payloads: each new one deletes the "
            "oldest beyond the limit in the same transaction. Readings are never touched."
        ),
        check=in_range(1, None),
    )
    shared_group: str = setting(
        "",
        doc=(
            "Empty: one worker subscribes <prefix>/+/data. A name: the worker subscribes "
            "$share/<name>/<prefix>/+/data, so that several workers (each with its own "
            "client_id) share the data between them. Use with PostgreSQL."
        ),
        check=_shared_group_check,
    )
    metrics_port: int = setting(
        0,
        doc=(
            "TCP port of the worker's Prometheus endpoint (GET /metrics); 0 turns it off. "
            "Several workers on one machine need a port each."
        ),
        check=in_range(0, 65535),
    )
    metrics_host: str = setting(
        "127.0.0.1", doc="Address the Prometheus endpoint listens on, when metrics_port is set."
    )
    qc_file: Path | None = setting(
        None,
        doc=(
            "The quality-control thresholds (a TOML file, see docs/quality-control.md). Not "
            "set: the defaults derived from the quantity catalogue."
        ),
    )
    heartbeat_s: float = setting(
        15.0,
        doc=(
            "Seconds between the worker's heartbeats (a row in ingest_heartbeats saying it is "
            "working, whether it is connected to the broker and when it last stored new "
            "samples), also while no data arrives. The pages call the ingest silent when "
            "no heartbeat came for the web's ingest_silent_after_s."
        ),
        check=in_range(0.1, 3600),
    )


NOSCRIPT_MIN_REFRESH_S = 60
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = "© OpenStreetMap contributors"


def _tile_url_check(value: str) -> str | None:
    if value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return "expected empty or an https:// URL template"
    if not all(f"{{{name}}}" in value for name in "zxy"):
        return "expected {z}, {x} and {y} in the URL template"
    return None


@dataclass(frozen=True)
class MapSettings:
    """The ``[map]`` table: where the overview's map takes its background tiles from."""

    tiles: str = setting(
        OSM_TILES,
        doc=(
            "Tile URL template ({z}/{x}/{y}, optionally {s} for a subdomain) of the map's "
            "background, loaded by the operator's browser. OpenStreetMap's tile policy allows "
            "light use with attribution; a busy dashboard should use its own tile server. "
            "Empty: no tiles, the map shows the buoys on a plain background."
        ),
        check=_tile_url_check,
    )
    attribution: str = setting(
        OSM_ATTRIBUTION, doc="Attribution the tile server requires, shown on the map."
    )

    def tile_origin(self) -> str | None:
        """The tiles' origin as a Content-Security-Policy source, None without tiles.

        A ``{s}`` subdomain becomes the CSP wildcard ``*``: ``https://*.tile.example.org``.
        """
        if not self.tiles:
            return None
        parts = urlsplit(self.tiles)
        return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


@dataclass(frozen=True)
class WebConfig:
    database: DatabaseSettings = setting(
        DatabaseSettings(), doc="The database the ingest writes (the [database] table)."
    )
    host: str = setting("127.0.0.1", doc="Address the web server listens on.")
    port: int = setting(
        8080,
        doc="TCP port the web server listens on; 0 picks a free one.",
        check=in_range(0, 65535),
    )
    threads: int = setting(4, doc="Request-handling threads.", check=in_range(1, 64))
    log_level: str = log_level_setting()
    secret_key_file: Path | None = setting(
        None,
        doc=(
            "File holding the key that signs cookies (at least 32 characters). Without one a "
            "random key is generated at start: fine for one process, but several web workers "
            "behind a proxy need the same file."
        ),
    )
    secure_cookie: bool = setting(
        False,
        doc=(
            "Send the session cookie (a dive shop's sign-in for visibility reports) over HTTPS "
            "only. Set true when the proxy serves the dashboard over HTTPS, as it must on the "
            "internet; false only for plain-HTTP use on one machine, such as the demo."
        ),
    )
    poll_s: int = setting(
        30,
        doc=(
            "Seconds between the pages' live updates (a conditional request that costs a few "
            "hundred bytes when nothing changed). Without JavaScript a page reloads itself "
            f"every poll_s seconds instead, at most once every {NOSCRIPT_MIN_REFRESH_S} s."
        ),
        check=in_range(1, 3600),
    )
    ingest_silent_after_s: int = setting(
        120,
        doc=(
            "The pages say the data feed has stopped when no ingest worker has beaten its "
            "heartbeat, connected to the broker, for this many seconds. Keep it above the "
            "ingest's heartbeat_s."
        ),
        check=in_range(1, None),
    )
    map: MapSettings = setting(MapSettings(), doc="The overview's map (the [map] table).")
    verdict: VerdictSettings = setting(
        VerdictSettings(),
        doc="The dive verdict's thresholds, for all reefs and per reef (the [verdict] table).",
    )
    heat_stress: HeatStressSettings = setting(
        HeatStressSettings(),
        doc="Coral bleaching heat stress: each reef's MMM (the [heat_stress] table).",
    )
    visibility: VisibilitySettings = setting(
        VisibilitySettings(),
        doc="How visibility is estimated from turbidity (the [visibility] table).",
    )
    export: ExportSettings = setting(
        ExportSettings(),
        doc=(
            "Limits, licence and attribution of the data exports (the [export] table, "
            "docs/exports.md)."
        ),
    )

    def __post_init__(self) -> None:
        if self.export.max_concurrent >= self.threads:
            raise ValueError(
                f"export.max_concurrent ({self.export.max_concurrent}) must be below threads "
                f"({self.threads}): downloads would leave the live pages no thread"
            )

    def secret_key(self) -> str:
        """The key from ``secret_key_file``, or a fresh random one when no file is set."""
        if self.secret_key_file is None:
            logging.getLogger(__name__).info("no secret_key_file: using a generated key")
            return secrets.token_hex(32)
        key = self.secret_key_file.read_text(encoding="utf-8").strip()
        if len(key) < SECRET_KEY_MIN_CHARS:
            raise ValueError(
                f"{self.secret_key_file}: a secret key needs {SECRET_KEY_MIN_CHARS}+ characters"
            )
        return key


def load_ingest_config(path: str | Path) -> IngestConfig:
    return load(path, IngestConfig)


def load_web_config(path: str | Path) -> WebConfig:
    return load(path, WebConfig)
