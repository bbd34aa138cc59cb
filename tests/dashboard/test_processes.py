"""The entry points the CLI calls, run as real processes: start, work, stop on a signal."""

from __future__ import annotations

import signal
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dashboard.db import make_engine
from nemopi.topics import Channel, Topics
from nemopi.wire import encode
from tests.brokers import Mosquitto
from tests.dashboard.builders import batch
from tests.dashboard.mqtt_peer import BuoyPeer, eventually
from tests.dashboard.processes import EntryPoint
from tests.dashboard.stored import stored_readings, stored_samples


@contextmanager
def started(module: str, config: Path) -> Iterator[EntryPoint]:
    entry = EntryPoint(module, config)
    try:
        yield entry
    finally:
        entry.kill()


def test_web_process_serves_the_overview_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "web.toml"
    config.write_text(f'port = 0\n[database]\nurl = "sqlite:///{tmp_path}/web.sqlite3"\n')
    with started("serve", config) as web:
        address = web.wait_for_line(r"Dashboard at (http://127\.0\.0\.1:\d+/)").group(1)
        with urllib.request.urlopen(address, timeout=5) as response:
            assert response.status == 200
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
            assert "No buoy has reported yet." in response.read().decode()
        web.process.send_signal(signal.SIGTERM)
        assert web.finish() == 0
        assert "stopped" in web.log()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_ingest_process_stores_confirms_and_stops_on_a_signal(
    tmp_path: Path, mosquitto: Mosquitto, stop: signal.Signals
) -> None:
    url = f"sqlite:///{tmp_path}/ingest.sqlite3"
    config = tmp_path / "ingest.toml"
    config.write_text(
        f'client_id = "ingest-proc"\naccept_unknown_buoys = true\n[database]\nurl = "{url}"\n'
        f'[mqtt]\nport = {mosquitto.port}\nprefix = "procs"\n'
    )
    peer = BuoyPeer(mosquitto, Topics("procs"))
    try:
        with started("ingest", config) as ingest:
            ingest.wait_for_line("subscribed to procs/\\+/data")
            peer.publish_to("reef-a", Channel.DATA, encode(batch("reef-a", range(1, 4))))
            eventually(lambda: peer.confirmed("reef-a") == {1, 2, 3})
            ingest.process.send_signal(stop)
            assert ingest.finish() == 0
            assert "stopped" in ingest.log()
    finally:
        peer.close()
    engine = make_engine(url)
    try:
        assert stored_samples(engine) == [("reef-a", 1), ("reef-a", 2), ("reef-a", 3)]
    finally:
        engine.dispose()


@pytest.mark.parametrize("module", ["ingest", "serve"])
def test_bad_config_file_exits_2_naming_the_file_and_key(tmp_path: Path, module: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('log_level = "LOUD"\n')
    with started(module, config) as entry:
        assert entry.finish() == 2
        assert f"{config}: log_level: expected one of" in entry.log()


@pytest.mark.slow
def test_ingest_killed_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """SIGKILL while batches pour in, restart, and let the buoy re-send what is unconfirmed
    (as the outbox does): every sample ends up stored exactly once."""
    url = f"sqlite:///{tmp_path}/ingest.sqlite3"
    config = tmp_path / "ingest.toml"
    config.write_text(
        f'client_id = "ingest-kill"\naccept_unknown_buoys = true\n[database]\nurl = "{url}"\n'
        f'[mqtt]\nport = {mosquitto.port}\nprefix = "procs"\n'
    )
    batches = [batch("reef-k", range(n, n + 10)) for n in range(1, 2001, 10)]
    peer = BuoyPeer(mosquitto, Topics("procs"))
    try:
        with started("ingest", config) as first:
            first.wait_for_line("subscribed to")
            for b in batches:
                peer.publish_to("reef-k", Channel.DATA, encode(b))
            eventually(lambda: len(peer.confirmed("reef-k")) >= 100)
            first.process.kill()
            first.finish()
        assert len(peer.confirmed("reef-k")) < 2000, "killed too late to prove anything"
        with started("ingest", config) as second:
            second.wait_for_line("subscribed to")
            for _ in range(20):
                unconfirmed = [
                    b for b in batches if not {s.seq for s in b.samples} <= peer.confirmed("reef-k")
                ]
                if not unconfirmed:
                    break
                for b in unconfirmed:
                    peer.publish_to("reef-k", Channel.DATA, encode(b))
                try:
                    eventually(lambda: len(peer.confirmed("reef-k")) == 2000, timeout=3)
                except AssertionError:
                    continue
            second.process.send_signal(signal.SIGTERM)
            assert second.finish() == 0
    finally:
        peer.close()
    assert peer.confirmed("reef-k") == set(range(1, 2001))
    engine = make_engine(url)
    try:
        assert stored_samples(engine) == [("reef-k", seq) for seq in range(1, 2001)]
        assert len(stored_readings(engine)) == 4000
    finally:
        engine.dispose()
