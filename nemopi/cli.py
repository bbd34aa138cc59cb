"""The ``nemopi`` command: one entry point with a subcommand per process.

Each subcommand imports its process lazily, so a buoy never imports Flask or SQLAlchemy and
``nemopi --help`` works on any install. Configuration errors end the process with exit code 2
and a message that names the file and the key.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from nemopi import __version__
from nemopi.configfile import ConfigError
from nemopi.logsetup import configure_logging

log = logging.getLogger("nemopi")


def _demo(args: argparse.Namespace) -> int:
    from nemopi.demo import DemoOptions, run_demo

    return run_demo(
        DemoOptions(
            data_dir=args.data_dir,
            web_port=args.web_port,
            speedup=args.speedup,
            embedded_broker=args.embedded_broker,
        )
    )


def _buoy_run(args: argparse.Namespace) -> int:
    from buoy.daemon import run

    return run(args.config, simulate=args.simulate)


def _ingest(args: argparse.Namespace) -> int:
    from dashboard.ingest import run

    return run(args.config)


def _web(args: argparse.Namespace) -> int:
    from dashboard.serve import run

    return run(args.config)


def _broker(args: argparse.Namespace) -> int:
    from nemopi.embedded_broker import run

    configure_logging(args.log_level, "broker")
    return run(args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nemopi",
        description="Reef-monitoring buoy firmware and dashboard. Each subcommand runs one "
        "process; `nemopi demo` runs them all on this machine.",
    )
    parser.add_argument("--version", action="version", version=f"nemopi {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run broker, ingest, web and three simulated buoys on this machine",
        description="Start a private MQTT broker (Mosquitto when installed, else an embedded "
        "Python broker), the ingest, the web dashboard and three simulated buoys on "
        "different reefs; print the dashboard's address. Ctrl-C stops everything.",
    )
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data/demo"),
        help="folder for databases, outboxes, configs and logs (default: %(default)s)",
    )
    demo.add_argument(
        "--web-port",
        type=int,
        default=8080,
        help="dashboard port; another free port is used if it is taken (default: %(default)s)",
    )
    demo.add_argument(
        "--speedup",
        type=float,
        default=1.0,
        help="simulated reef time runs this many times faster (default: %(default)s)",
    )
    demo.add_argument(
        "--embedded-broker",
        action="store_true",
        help="use the embedded Python broker even when mosquitto is installed",
    )
    demo.set_defaults(handler=_demo)

    buoy = commands.add_parser(
        "buoy", help="the buoy firmware daemon", description="Commands that run on the buoy."
    )
    buoy_commands = buoy.add_subparsers(dest="buoy_command", required=True, metavar="COMMAND")
    buoy_run = buoy_commands.add_parser(
        "run",
        help="sample sensors, keep an outbox, publish to the broker",
        description="Run the buoy daemon: sample on schedule, store every reading in the SQLite "
        "outbox, publish batches over MQTT, delete readings once the ingest confirms them.",
    )
    buoy_run.add_argument("--config", type=Path, required=True, help="the buoy's TOML file")
    buoy_run.add_argument(
        "--simulate",
        action="store_true",
        help="drive the real drivers from emulated devices on a simulated reef",
    )
    buoy_run.set_defaults(handler=_buoy_run)

    ingest = commands.add_parser(
        "ingest",
        help="store what buoys publish, exactly once",
        description="Subscribe to every buoy's data, store each reading once keyed by "
        "(buoy, seq), and confirm what is stored back to the buoy.",
    )
    ingest.add_argument("--config", type=Path, required=True, help="the ingest's TOML file")
    ingest.set_defaults(handler=_ingest)

    web = commands.add_parser(
        "web",
        help="serve the dashboard",
        description="Serve the public dashboard and its JSON API.",
    )
    web.add_argument("--config", type=Path, required=True, help="the web app's TOML file")
    web.set_defaults(handler=_web)

    broker = commands.add_parser(
        "broker",
        help="an embedded MQTT broker for trying nemopi without Mosquitto",
        description="Run amqtt on 127.0.0.1 with anonymous access. For demos only: deploy "
        "Mosquitto with the configuration in deploy/.",
    )
    broker.add_argument("--port", type=int, default=1883, help="TCP port (default: %(default)s)")
    broker.add_argument("--log-level", default="INFO", help="logging level (default: %(default)s)")
    broker.set_defaults(handler=_broker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        configure_logging("ERROR")
        log.error("configuration error: %s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
