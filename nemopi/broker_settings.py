"""How a process reaches the MQTT broker: the ``[mqtt]`` table shared by buoy and ingest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nemopi.configfile import ConfigError, in_range, setting
from nemopi.topics import PREFIX_RE


def _prefix_check(value: str) -> str | None:
    return None if PREFIX_RE.match(value) else "expected topic levels of letters, digits, _ or -"


@dataclass(frozen=True)
class MqttSettings:
    host: str = setting("127.0.0.1", doc="Broker host name or address.")
    port: int = setting(1883, doc="Broker TCP port.", check=in_range(1, 65535))
    prefix: str = setting(
        "nemopi", doc="Topic prefix; every topic is <prefix>/<buoy>/...", check=_prefix_check
    )
    username: str = setting("", doc="Broker user name; empty for an anonymous broker.")
    password_file: Path | None = setting(
        None, doc="File holding the broker password (kept out of the config and the repo)."
    )
    ca_file: Path | None = setting(None, doc="CA certificate; when set, connect with TLS.")
    keepalive_s: int = setting(60, doc="MQTT keepalive in seconds.", check=in_range(5, 3600))

    def __post_init__(self) -> None:
        if self.password_file is not None and not self.username:
            raise ValueError("mqtt.password_file is set but mqtt.username is empty")

    def password(self) -> str | None:
        """The password read from ``password_file`` (stripped), or None without one.

        An unreadable file is a configuration problem: ``ConfigError`` names the setting.
        """
        if self.password_file is None:
            return None
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                str(self.password_file), "mqtt.password_file", f"cannot be read ({exc})"
            ) from None
