from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokers import Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto on a free port, stopped after the test."""
    broker = Mosquitto(tmp_path / "broker-mosquitto")
    broker.workdir.mkdir()
    broker.start()
    yield broker
    broker.stop()
