"""A broker that PUBACKs and then loses the message: only the ingest's stored acks are proof.

Mosquitto writes its persistence file only every ``autosave_interval`` (here an hour) and on a
clean shutdown. Messages it PUBACKed and queued for the offline ingest's persistent session
are gone when it is SIGKILLed. The buoy must not have pruned them on the PUBACK.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from nemopi import wire
from nemopi.sensor_status import SensorStatus
from nemopi.topics import Channel, Topics
from nemopi.wire import Batch, ClockSource, Sample, Value
from tests.brokers import Mosquitto
from tests.buoy.processes import Rig, report, wait_until
from tests.dashboard.ingest_harness import register_buoys
from tests.dashboard.stored import stored_samples
from tests.e2e.cluster import WireRecorder

# Kill -9 chaos on real processes: run alone, after the rest (see test.sh).
pytestmark = pytest.mark.serial

SPEEDUP = 100.0
INTERVAL_S = 20.0
RESEND_AFTER_S = 2000.0  # 20 s of real time: no resend before the measurement is taken
PROBE = "probe-buoy"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    workdir = tmp_path / "lazy-mosquitto"
    workdir.mkdir()
    broker = Mosquitto(workdir, extra_config="autosave_interval 3600\n").start()
    yield broker
    broker.stop()


def publish_probe(port: int) -> None:
    """One sample of another buoy on the data topic: queued behind whatever the broker
    still holds for the offline ingest, so once it is stored, the queue has been delivered."""
    sample = Sample(1, 1_780_000_000_000, ClockSource.NTP, {"ph": Value(8.05, SensorStatus.OK)})
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="probe")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        topic = Topics("nemopi").topic(PROBE, Channel.DATA)
        client.publish(topic, wire.encode(Batch(PROBE, (sample,))), qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
        client._reset_sockets()  # paho frees its wake-up socket pair only on __del__


@pytest.mark.slow
def test_readings_the_broker_acked_then_lost_in_a_crash_are_sent_again(
    tmp_path: Path, broker: Mosquitto, record_property: Callable[[str, object], None]
) -> None:
    """Readings PUBACKed by a broker that is then SIGKILLed before its autosave never reach
    the ingest by themselves; the buoy, still waiting for the stored acknowledgement, sends
    them again, and in the end every reading is stored exactly once."""
    rig = Rig(
        tmp_path,
        broker.port,
        sampling={"interval_s": INTERVAL_S},
        uplink={"resend_after_s": RESEND_AFTER_S, "max_batch": 10},
        simulation={"speedup": SPEEDUP},
    )
    register_buoys(rig.engine, PROBE)
    recorder = WireRecorder(broker.port)
    try:
        rig.start_ingest()
        rig.start_buoy()
        rig.wait_stored(set(range(1, 6)), 60, "the first readings")
        rig.stop_ingest()
        broker.restart()  # a clean restart saves the ingest's session, so messages queue for it

        def acked_not_stored() -> set[int]:
            return rig.broker_acked() - set(rig.stored_seqs())

        wait_until(lambda: len(acked_not_stored()) >= 10, 60, "PUBACKs while the ingest is away")
        pubacked = acked_not_stored()
        broker.kill()
        published_before_crash = len(recorder.sent())
        broker.start()
        publish_probe(broker.port)
        rig.start_ingest()
        wait_until(
            lambda: (PROBE, 1) in stored_samples(rig.engine), 60, "the ingest to empty its queue"
        )
        lost_by_puback_pruning = sorted(pubacked - set(rig.stored_seqs()))
        resent = {
            s.seq for b in recorder.sent()[published_before_crash:] for s in b.samples
        } & pubacked
        assert not resent, "a resend came before the measurement; raise RESEND_AFTER_S"
        report(record_property, "PUBACKed while the ingest was away", len(pubacked))
        report(record_property, "lost had rows been pruned on PUBACK", len(lost_by_puback_pruning))
        assert lost_by_puback_pruning, "the broker kept what it acked: the scenario did not happen"

        rig.wait_stored(pubacked, 90, "the buoy to send the lost readings again")
        rig.stop_buoy()
        kept = rig.outbox_samples()
        tally = rig.final_tally(timeout=60)
        report(record_property, "readings lost", len(tally.lost))
        assert tally.lost == [] and tally.duplicated == []
        rig.assert_values_as_sent(recorder.sent(), kept)
    finally:
        recorder.close()
        rig.close()
