"""A half-open link: the path to the broker dies without a FIN or RST reaching the buoy.

A TCP proxy between the daemon and Mosquitto stops forwarding in both directions and closes
nothing, as a cellular link that drops out does. Only silence can tell: paho alone gives up
after about two keepalive intervals (a PINGREQ after one, no PINGRESP within another), so the
uplink closes a connection that has heard nothing from the broker for 1.4 intervals
(``buoy.link_watch``). The daemon must drop the dead link within 1.5 intervals, reconnect
(new connections through the proxy work again) and lose nothing; and a healthy link that
carries nothing but paho's pings must never be taken for a dead one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from buoy.backoff import Backoff
from buoy.config import BuoyConfig
from buoy.link_watch import LinkWatch
from buoy.uplink import Connected, Uplink
from tests.brokers import Mosquitto
from tests.buoy.conftest import BUOY
from tests.buoy.processes import BlackHoleProxy, Rig, report, wait_until

KEEPALIVE_S = 5  # the lowest keepalive the configuration allows


@pytest.mark.slow
def test_daemon_drops_a_silently_dead_link_reconnects_and_loses_nothing(
    tmp_path: Path, mosquitto: Mosquitto, record_property: Callable[[str, object], None]
) -> None:
    """The daemon closes the black-holed connection within 1.5 keepalive intervals,
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
        assert detected_after <= 1.5 * KEEPALIVE_S

        rig.stop_buoy()
        tally = rig.final_tally(timeout=60)
        assert tally.lost == [] and tally.duplicated == []
    finally:
        rig.close()
        proxy.close()


def test_link_watch_fires_once_after_silence_and_not_while_packets_arrive() -> None:
    fired: list[tuple[object, float]] = []
    done = threading.Event()

    def on_silence(token: object) -> None:
        fired.append((token, time.monotonic()))
        done.set()

    watch = LinkWatch(0.3, on_silence)
    watch.start()
    try:
        watch.arm("link-1")
        for _ in range(10):  # 0.5 s of packets every 0.05 s: never silent for 0.3 s
            time.sleep(0.05)
            watch.heard()
        assert fired == []
        last_heard = time.monotonic()
        assert done.wait(5)
        (token, at), *more = fired
        assert token == "link-1" and more == []
        assert 0.3 <= at - last_heard < 2.0
        watch.arm("link-2")
        watch.disarm()  # the connection went away by itself: nothing to close
        time.sleep(0.6)
        assert len(fired) == 1
    finally:
        watch.close()
        watch.close()


@pytest.mark.slow
def test_an_idle_healthy_link_is_never_taken_for_a_dead_one(
    make_config: Callable[..., BuoyConfig],
) -> None:
    """With nothing to send, only paho's PINGREQ/PINGRESP cross the link; the watch must
    count a PINGRESP as the broker heard, or it would drop a good link every 1.4 intervals."""
    config = make_config(mqtt={"keepalive_s": KEEPALIVE_S})
    uplink = Uplink(BUOY, config.mqtt, Backoff(0.05, 0.2), lambda: round(time.time() * 1000))
    uplink.start()
    connections = 0
    try:
        deadline = time.monotonic() + 4 * KEEPALIVE_S
        while time.monotonic() < deadline:
            event = uplink.next_event(0.5)
            connections += isinstance(event, Connected)
    finally:
        uplink.stop()
    assert connections == 1
