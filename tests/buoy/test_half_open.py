"""A half-open link: the path to the broker dies without a FIN or RST reaching the buoy.

A TCP proxy between the daemon and Mosquitto stops forwarding in both directions and closes
nothing, as a cellular link that drops out does. Only the MQTT keepalive can notice: paho
sends a PINGREQ once nothing has arrived for a keepalive interval and gives up when no PINGRESP
follows within another, so the daemon drops the dead connection within two intervals (plus
a second of paho's loop). It must then reconnect (new connections through the proxy work
again) and lose nothing.

The issue asks for detection within 1.5 intervals; paho's rule does not guarantee that
(measured: 7.8 s with a 5 s keepalive). Meeting it needs a shorter keepalive handed to paho,
which costs airtime, so it is left to a decision rather than asserted here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.brokers import Mosquitto
from tests.buoy.processes import BlackHoleProxy, Rig, report, wait_until

KEEPALIVE_S = 5  # the lowest keepalive the configuration allows
PAHO_LOOP_S = 1.0  # paho checks the keepalive once per pass of its network loop


@pytest.mark.slow
def test_daemon_drops_a_silently_dead_link_reconnects_and_loses_nothing(
    tmp_path: Path, mosquitto: Mosquitto, record_property: Callable[[str, object], None]
) -> None:
    """The daemon closes the black-holed connection within paho's two keepalive intervals,
    reconnects on a fresh one, and every reading is stored exactly once."""
    proxy = BlackHoleProxy(mosquitto.port)
    rig = Rig(
        tmp_path,
        mosquitto.port,
        mqtt={"port": proxy.port, "keepalive_s": KEEPALIVE_S},
        sampling={"interval_s": 20.0},
        uplink={"resend_after_s": 300.0},
        simulation={"speedup": 100.0},
    )
    try:
        rig.start_ingest()
        rig.start_buoy()
        rig.wait_stored(set(range(1, 4)), 60, "the first readings")
        holed_at = proxy.black_hole()
        (dead,) = [link for link in proxy.links if link.holed.is_set()]
        wait_until(lambda: dead.client_closed_at is not None, 60, "the daemon to drop the link")
        assert dead.client_closed_at is not None
        detected_after = dead.client_closed_at - holed_at
        report(record_property, "half-open link detected after (s)", round(detected_after, 2))
        wait_until(lambda: proxy.links_opened_after(holed_at), 30, "a reconnect via the proxy")
        issued = rig.issued()
        rig.wait_stored(set(range(1, issued + 1)), 60, "the readings taken meanwhile")
        assert detected_after <= 2 * KEEPALIVE_S + PAHO_LOOP_S

        rig.stop_buoy()
        rig.reconfigure(sampling={"interval_s": 86400.0})
        before = rig.issued()
        rig.start_buoy()
        rig.drain(after=before, timeout=60)
        rig.stop_buoy()
        tally = rig.tally()
        assert tally.lost == [] and tally.duplicated == []
    finally:
        rig.close()
        proxy.close()
