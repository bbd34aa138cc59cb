"""``nemopi demo``: the whole system on one machine, for trying it and for the end-to-end test.

It starts a private MQTT broker (Mosquitto on a free port when ``mosquitto`` is installed,
otherwise the embedded Python broker, and says which), writes a configuration file for every
process into the data folder, starts the ingest, the web dashboard and three simulated buoys
on different reefs as child processes, waits until the dashboard answers and prints its
address, and a demo dive shop's link for reporting visibility (a new one each run: only its
hash is stored). Ctrl-C (or SIGTERM) stops the buoys first, then the ingest and web, then the
broker.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from nemopi.demo_configs import DEMO_BUOYS, write_buoy_config, write_ingest_config, write_web_config
from nemopi.logsetup import configure_logging
from nemopi.processes import Child

log = logging.getLogger("nemopi.demo")
STARTUP_TIMEOUT_S = 60.0
DEMO_SHOP = "Demo Dive Shop"


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path
    web_port: int = 8080
    speedup: float = 1.0
    embedded_broker: bool = False


def free_port(preferred: int = 0) -> int:
    """``preferred`` if nothing listens there, else a port the kernel picks."""
    for candidate in (preferred, 0) if preferred else (0,):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free TCP port")


def _nemopi(*args: str) -> list[str]:
    return [sys.executable, "-m", "nemopi.cli", *args]


def _broker_child(options: DemoOptions, port: int, logs: Path) -> tuple[Child, str]:
    mosquitto = None if options.embedded_broker else shutil.which("mosquitto")
    if mosquitto:
        folder = options.data_dir / "mosquitto"
        folder.mkdir(exist_ok=True)
        config = folder / "mosquitto.conf"
        config.write_text(
            "# Written by nemopi demo: a private broker for this machine only.\n"
            f"listener {port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {folder.resolve()}/\n"
            "max_queued_messages 100000\n" + ("user root\n" if os.geteuid() == 0 else ""),
            # Started as root, Mosquitto drops to its own user, which cannot write its
            # persistence file into a folder the demo's user owns.
            encoding="utf-8",
        )
        child = Child("broker", [mosquitto, "-c", str(config)], logs / "broker.log")
        return child, f"Mosquitto ({mosquitto}) on 127.0.0.1:{port}"
    child = Child("broker", _nemopi("broker", "--port", str(port)), logs / "broker.log")
    return child, (
        f"embedded Python broker (amqtt) on 127.0.0.1:{port} -- mosquitto was "
        "not found; install it (apt-get install mosquitto) for the real thing"
    )


def _wait_for_port(port: int, child: Child, deadline: float) -> None:
    while time.monotonic() < deadline:
        if child.exited() is not None:
            raise RuntimeError(f"{child.name} exited at start:\n{child.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{child.name} did not listen on port {port}")


def _wait_for_http(url: str, child: Child, deadline: float) -> None:
    while time.monotonic() < deadline:
        if child.exited() is not None:
            raise RuntimeError(f"{child.name} exited at start:\n{child.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer")


def _demo_shop_token(web_config: Path) -> str:
    """A new link token for the demo's dive shop; the shop's earlier link stops working."""
    from dashboard.config import load_web_config
    from dashboard.db import make_engine
    from dashboard.shops import add_shop, list_shops, revoke_shop

    now = datetime.now(UTC)
    engine = make_engine(load_web_config(web_config).database.url)
    try:
        with engine.begin() as conn:
            if any(s.name == DEMO_SHOP and s.revoked_at is None for s in list_shops(conn)):
                revoke_shop(conn, DEMO_SHOP, now)
            return add_shop(conn, DEMO_SHOP, now)
    finally:
        engine.dispose()


def _say(line: str) -> None:
    """The demo's own words to the person who started it (stdout, unlike the logs)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_demo(options: DemoOptions) -> int:
    configure_logging("INFO", "demo")
    # Creating the demo's schema is no news to the person starting it: the banner comes first.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    data_dir = options.data_dir.resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    options = DemoOptions(data_dir, options.web_port, options.speedup, options.embedded_broker)

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    broker_port = free_port()
    web_port = free_port(options.web_port)
    broker, broker_description = _broker_child(options, broker_port, logs)
    ingest_config = write_ingest_config(data_dir, broker_port)
    web_config = write_web_config(data_dir, web_port)
    shop_token = _demo_shop_token(web_config)
    ingest = Child("ingest", _nemopi("ingest", "--config", str(ingest_config)), logs / "ingest.log")
    web = Child("web", _nemopi("web", "--config", str(web_config)), logs / "web.log")
    buoys = [
        Child(
            f"buoy {b.buoy_id}",
            _nemopi(
                "buoy",
                "run",
                "--simulate",
                "--config",
                str(write_buoy_config(data_dir, b, broker_port, options.speedup)),
            ),
            logs / f"buoy-{b.buoy_id}.log",
        )
        for b in DEMO_BUOYS
    ]
    # Stop order: buoys first (they keep unconfirmed readings), then ingest and web, broker last.
    stop_order = [*buoys, ingest, web, broker]
    url = f"http://127.0.0.1:{web_port}/"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        broker.start()
        _wait_for_port(broker_port, broker, deadline)
        ingest.start()
        web.start()
        _wait_for_http(url, web, deadline)
        for child in buoys:
            child.start()
        _say(f"Broker:    {broker_description}")
        _say(f"Data:      {data_dir} (SQLite database, buoy outboxes, configs)")
        _say(f"Logs:      {logs}")
        _say(f"Buoys:     {', '.join(b.buoy_id for b in DEMO_BUOYS)} (simulated reefs)")
        _say(f"Dashboard: {url}")
        _say(f"Shop link: {url}shop/{shop_token} ({DEMO_SHOP}: report visibility)")
        _say("Press Ctrl-C to stop.")
        while not stop.wait(0.5):
            for child in stop_order:
                code = child.exited()
                if code is not None:
                    log.error(
                        "%s exited with code %s; stopping the demo. Its log ends:\n%s",
                        child.name,
                        code,
                        child.tail(),
                    )
                    return 1
        return 0
    except (RuntimeError, TimeoutError, OSError) as exc:
        log.error("the demo could not start: %s", exc)
        return 1
    finally:
        for child in stop_order:
            child.stop()
        _say("Stopped.")
