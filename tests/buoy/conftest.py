from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from buoy.config import BuoyConfig, load_buoy_config
from tests.brokers import Mosquitto
from tests.buoy.fake_ingest import AckingIngest

BUOY = "reef-01"


def write_config(path: Path, port: int, data_dir: Path, **tables: dict[str, Any]) -> Path:
    """A buoy TOML file for the broker on ``port``; ``tables`` override or add keys by table."""
    sections: dict[str, dict[str, Any]] = {
        "mqtt": {"host": "127.0.0.1", "port": port},
        "sampling": {"interval_s": 0.05},
        "uplink": {"reconnect_min_s": 0.05, "reconnect_max_s": 0.2, "resend_after_s": 2.0},
    }
    for name, values in tables.items():
        sections.setdefault(name, {}).update(values)
    lines = [f'buoy_id = "{BUOY}"', f'data_dir = "{data_dir}"', 'log_level = "DEBUG"']
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {value!r}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def make_config(tmp_path: Path, mosquitto: Mosquitto) -> Callable[..., BuoyConfig]:
    def make(**tables: dict[str, Any]) -> BuoyConfig:
        path = write_config(tmp_path / "buoy.toml", mosquitto.port, tmp_path / "data", **tables)
        return load_buoy_config(path)

    return make


@pytest.fixture
def ingest(mosquitto: Mosquitto) -> Iterator[AckingIngest]:
    fake = AckingIngest(mosquitto.host, mosquitto.port)
    yield fake
    fake.close()
