from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokers import Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto on a free port, stopped after the test."""
    workdir = tmp_path / "broker-mosquitto"
    workdir.mkdir()  # Mosquitto() writes its config there at once
    broker = Mosquitto(workdir)
    broker.start()
    yield broker
    broker.stop()
