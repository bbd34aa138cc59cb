"""kill -9 chaos: the real daemon killed at random instants, the broker restarted under it.

``nemopi buoy run --simulate`` (real drivers over emulated devices on an accelerated reef)
delivers to a real ``nemopi ingest`` through a real Mosquitto. The daemon is SIGKILLed again
and again: at random instants (start-up, connecting, idle), right after an outbox write (a
sample just fell due), and right after it logs a batch publish; the broker is restarted
cleanly a few times and once SIGKILLed. In the end the receiving side must hold every issued
sequence number exactly once, with the values that went over the wire.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.brokers import Mosquitto
from tests.buoy.processes import Rig, report, wait_until

# Kill -9 chaos on real processes: run alone, after the rest (see test.sh).
pytestmark = pytest.mark.serial

KILLS = 55
SPEEDUP = 100.0  # a 20 s sampling interval passes in 0.2 s
RESTART_AT = {12: "restart", 27: "kill", 40: "restart"}
EVENT_TIMEOUT_S = 4.0


@pytest.fixture
def rig(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Rig]:
    rig = Rig(
        tmp_path,
        mosquitto.port,
        sampling={"interval_s": 20.0},
        uplink={"resend_after_s": 300.0, "max_batch": 10},
        simulation={"speedup": SPEEDUP},
    )
    yield rig
    rig.close()


def _wait_for(changed: Callable[[], bool], timeout: float) -> None:
    """Poll ``changed`` as fast as is reasonable, until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while not changed() and time.monotonic() < deadline:
        time.sleep(0.001)


def _wal_mtime(rig: Rig) -> int:
    try:
        return os.stat(f"{rig.outbox_path}-wal").st_mtime_ns
    except FileNotFoundError:
        return 0


def kill_after_outbox_write(rig: Rig, rng: random.Random) -> None:
    """Let 1-3 outbox writes happen, then kill within a few ms of the next one."""
    for _ in range(rng.randint(1, 3)):
        before = _wal_mtime(rig)
        _wait_for(lambda before=before: _wal_mtime(rig) != before, EVENT_TIMEOUT_S)  # type: ignore[misc]
    time.sleep(rng.uniform(0, 0.005))
    rig.kill_buoy()


def kill_after_publish(rig: Rig, rng: random.Random) -> None:
    """Kill just after the daemon logs its k-th batch publish (k = 1..3) since this start."""
    start = rig.buoy_log.stat().st_size
    wanted = rng.randint(1, 3)

    def published() -> bool:
        with rig.buoy_log.open("rb") as log:
            log.seek(start)
            return log.read().count(b"published seq") >= wanted

    _wait_for(published, EVENT_TIMEOUT_S)
    rig.kill_buoy()


def kill_at_random(rig: Rig, rng: random.Random) -> None:
    time.sleep(rng.uniform(0.05, 2.5))
    rig.kill_buoy()


STRATEGIES = (kill_at_random, kill_after_outbox_write, kill_after_publish)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_readings_survive_55_sigkills_and_broker_restarts_exactly_once(
    rig: Rig, mosquitto: Mosquitto, record_property: Callable[[str, object], None]
) -> None:
    """Whatever instant the daemon dies at, and whatever the broker forgets, every reading
    the outbox numbered ends up stored once, with the values sent, and no number repeats."""
    from tests.e2e.cluster import WireRecorder

    rng = random.Random(20240607)
    recorder = WireRecorder(mosquitto.port)
    rig.start_ingest()
    broker_restarts = 0
    try:
        for kill in range(KILLS):
            action = RESTART_AT.get(kill)
            if action == "restart":
                mosquitto.restart()
                broker_restarts += 1
            elif action == "kill":
                mosquitto.kill()
                mosquitto.start()
                broker_restarts += 1
            rig.start_buoy()
            rng.choice(STRATEGIES)(rig, rng)
        issued_under_chaos = rig.issued()
        kept = rig.outbox_samples()
        tally = rig.final_tally(timeout=120)
        report(record_property, "daemon SIGKILLs survived", KILLS)
        report(record_property, "broker restarts (one by SIGKILL)", broker_restarts)
        report(record_property, "readings issued", tally.issued)
        report(record_property, "readings lost", len(tally.lost))
        report(record_property, "readings duplicated", len(tally.duplicated))
        assert issued_under_chaos >= KILLS, "the daemon hardly sampled between kills"
        assert tally.lost == [] and tally.duplicated == []
        wait_until(
            lambda: {s.seq for b in recorder.sent() for s in b.samples} >= set(kept),
            30,
            "the recorder to see the outbox's last rows",
        )
        rig.assert_values_as_sent(recorder.sent(), kept)
        assert "Traceback" not in rig.buoy_log.read_text(encoding="utf-8")
    finally:
        recorder.close()
