"""The buoy's one TOML file, parsed into frozen dataclasses and checked before anything starts.

Every key is documented here (``setting(doc=...)``) and nowhere else, so the docs can be
generated from, and tested against, this module. A ``[simulation]`` table will join once the
simulated reef publishes its settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from buoy.hardware_settings import HardwareSettings
from buoy.outbox_policy import DEFAULT_MAX_ROWS
from buoy.power_settings import PowerSettings
from nemopi.broker_settings import MqttSettings
from nemopi.configfile import in_range, load, log_level_setting, setting
from nemopi.topics import is_valid_buoy_id
from nemopi.wire import MAX_SAMPLES
from sensors.simulation import SimulationSettings


def _buoy_id_check(value: str) -> str | None:
    if is_valid_buoy_id(value):
        return None
    return "expected 1..32 characters of a-z, 0-9, _ or -, starting with a letter or digit"


@dataclass(frozen=True)
class SamplingSettings:
    interval_s: float = setting(
        60.0,
        doc="Seconds between sample cycles; every sensor is read once per cycle.",
        check=in_range(0.01, 86400),
    )


@dataclass(frozen=True)
class UplinkSettings:
    max_batch: int = setting(
        60,
        doc="Most samples in one published batch.",
        check=in_range(1, MAX_SAMPLES),
    )
    resend_after_s: float = setting(
        300.0,
        doc="Seconds after which a batch the broker acknowledged but the ingest has not "
        "confirmed as stored is sent again (also the wait for a broker acknowledgement).",
        check=in_range(0.1, 86400),
    )
    status_interval_s: float = setting(
        900.0,
        doc="Seconds between retained status reports while connected; a report stays valid "
        "for two intervals.",
        check=in_range(1, 86400),
    )
    fast_ack_s: float = setting(
        10.0,
        doc="A full batch the broker acknowledges within this many seconds lets the next batch "
        "be twice as large (up to max_batch); a slower acknowledgement halves it, and none at "
        "all sets it back to 1, as does every new connection.",
        check=in_range(0.01, 3600),
    )
    drain_rate: float = setting(
        0.0,
        doc="Most backlog readings sent per second, on average; 0: no limit. Readings taken "
        "since the last batch (live ones) are never held back.",
        check=in_range(0, 10000),
    )
    reconnect_min_s: float = setting(
        1.0,
        doc="Shortest wait before reconnecting to the broker (the backoff starts here).",
        check=in_range(0.01, 3600),
    )
    reconnect_max_s: float = setting(
        300.0,
        doc="Longest wait before reconnecting; each wait is drawn at random up to a limit that "
        "doubles per failed attempt, so a fleet does not reconnect in step.",
        check=in_range(0.01, 86400),
    )

    def __post_init__(self) -> None:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be less than reconnect_min_s")


@dataclass(frozen=True)
class OutboxSettings:
    max_rows: int = setting(
        DEFAULT_MAX_ROWS,
        doc="Most readings the outbox keeps, about 250 bytes each; when full, every second "
        "reading of its older half is given up and recorded as thinned (docs/delivery.md).",
        check=in_range(10, 100_000_000),
    )


@dataclass(frozen=True)
class BuoyConfig:
    buoy_id: str = setting(
        doc="This buoy's id: its MQTT client id and topic level.", check=_buoy_id_check
    )
    data_dir: Path = setting(doc="Directory for the outbox database (on the SD card).")
    log_level: str = log_level_setting()
    mqtt: MqttSettings = setting(MqttSettings(), doc="How to reach the broker.")
    sampling: SamplingSettings = setting(SamplingSettings(), doc="When to sample.")
    uplink: UplinkSettings = setting(UplinkSettings(), doc="How readings are delivered.")
    outbox: OutboxSettings = setting(
        OutboxSettings(), doc="How many readings wait on the card for the link."
    )
    hardware: HardwareSettings = setting(
        HardwareSettings(), doc="Which parts are fitted and on which buses and pins."
    )
    power: PowerSettings = setting(
        PowerSettings(),
        doc="The power policy's budget: mode thresholds, energy estimates, read intervals and "
        "radio windows (docs/power-policy.md).",
    )
    simulation: SimulationSettings | None = setting(
        None,
        doc="The simulated reef that drives emulated devices under the real drivers when the "
        "daemon runs with --simulate; not used on hardware.",
    )


def load_buoy_config(path: str | Path) -> BuoyConfig:
    """The buoy configuration in ``path``; ``ConfigError`` names the file and the bad key."""
    return load(path, BuoyConfig)
