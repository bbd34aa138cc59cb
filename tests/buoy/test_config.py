from __future__ import annotations

from pathlib import Path

import pytest

from buoy.config import BuoyConfig, load_buoy_config
from nemopi.configfile import ConfigError, documented_keys


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "buoy.toml"
    path.write_text(text)
    return path


def test_minimal_file_gets_documented_defaults(tmp_path: Path) -> None:
    config = load_buoy_config(write(tmp_path, 'buoy_id = "reef-01"\ndata_dir = "/var/lib/x"\n'))
    assert config.buoy_id == "reef-01"
    assert config.data_dir == Path("/var/lib/x")
    assert config.sampling.interval_s == 60.0
    assert config.uplink.max_batch == 60
    assert config.uplink.resend_after_s == 300.0
    assert config.mqtt.port == 1883


def test_every_setting_is_documented() -> None:
    keys = documented_keys(BuoyConfig)
    assert {"buoy_id", "sampling.interval_s", "uplink.max_batch", "mqtt.host"} <= set(keys)
    assert all(doc.strip() for doc in keys.values()), [k for k, d in keys.items() if not d]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('buoy_id = "Reef 1"\ndata_dir = "d"\n', "buoy_id"),
        ('buoy_id = "r"\ndata_dir = "d"\nlog_level = "LOUD"\n', "log_level"),
        ('buoy_id = "r"\ndata_dir = "d"\n[sampling]\ninterval_s = 0\n', "sampling.interval_s"),
        ('buoy_id = "r"\ndata_dir = "d"\n[uplink]\nmax_batch = 6000\n', "uplink.max_batch"),
        ('buoy_id = "r"\ndata_dir = "d"\n[uplink]\nmax_bach = 6\n', "uplink.max_bach"),
        (
            'buoy_id = "r"\ndata_dir = "d"\n[uplink]\nreconnect_min_s = 9\nreconnect_max_s = 2\n',
            "uplink",
        ),
        ('data_dir = "d"\n', "buoy_id"),
    ],
)
def test_bad_setting_is_rejected_naming_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_buoy_config(path)
    assert caught.value.key == key
    assert str(path) in str(caught.value)
