"""An MQTT broker in pure Python (amqtt), for trying nemopi on a machine without Mosquitto.

Only ``nemopi demo`` uses it, and only when ``mosquitto`` is not on PATH. It listens on the
loopback interface only and allows anonymous clients, so it is not for deployment. amqtt 0.12
does not deliver messages queued for a persistent session while its subscriber is away; nemopi
loses nothing to that because a buoy keeps every reading until the ingest confirms it stored it.
"""

from __future__ import annotations

import asyncio
import logging
import signal

log = logging.getLogger(__name__)


def broker_config(port: int) -> dict[str, object]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


async def _serve(port: int) -> None:
    from amqtt.broker import Broker

    broker = Broker(broker_config(port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await broker.start()
    log.info("embedded MQTT broker (amqtt) listening on 127.0.0.1:%d", port)
    await stop.wait()
    await broker.shutdown()
    log.info("embedded MQTT broker stopped")


def run(port: int) -> int:
    asyncio.run(_serve(port))
    return 0
