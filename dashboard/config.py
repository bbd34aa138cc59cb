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

from nemopi.broker_settings import MqttSettings
from nemopi.configfile import in_range, load, log_level_setting, setting

CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SECRET_KEY_MIN_CHARS = 32


def _database_url_check(value: str) -> str | None:
    if value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
        return None
    return "expected a sqlite:/// or postgresql+psycopg:// URL"


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
