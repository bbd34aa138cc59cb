"""The ``nemopi`` command: one entry point with a subcommand per process.

Each subcommand imports its process lazily, so a buoy never imports Flask or SQLAlchemy and
``nemopi --help`` works on any install. Configuration errors end the process with exit code 2
and a message that names the file and the key.
"""

from __future__ import annotations

import argparse
import json
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
    from buoy.daemon import BuoyBusy, run

    try:
        return run(args.config, simulate=args.simulate)
    except BuoyBusy as exc:
        log.error("%s", exc)
        return 1


def _buoy_calibrate(args: argparse.Namespace) -> int:
    from buoy.calibrate import calibrate, check_procedure
    from buoy.calibration import CalibrationStore
    from buoy.config import load_buoy_config
    from buoy.daemon import buoy_lock, open_instruments
    from sensors.errors import SensorError

    config = load_buoy_config(args.config)
    configure_logging(config.log_level, f"calibrate[{config.buoy_id}]")
    try:
        if args.procedure != "show":
            check_procedure(args.procedure, args.value)
        with (
            buoy_lock(config.data_dir, "nemopi buoy calibrate"),
            CalibrationStore.in_dir(config.data_dir) as store,
        ):
            if args.procedure != "show":
                instruments, clock = open_instruments(config, args.simulate, store)
                with instruments:
                    calibrate(instruments, store, args.procedure, args.value, clock=clock)
            summary = store.current().summary()
    except ConfigError:
        raise
    except (ValueError, RuntimeError, SensorError) as exc:  # BuoyBusy is a RuntimeError
        log.error("%s: %s", args.procedure, exc)
        return 1
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def _buoy_add(args: argparse.Namespace) -> int:
    from dashboard.buoy_admin import add
    from dashboard.registry import Registration

    registration = Registration(
        args.buoy_id, args.name, args.lat, args.lon, args.radius_m, args.timezone
    )
    return add(args.config, registration, args.password_file)


def _buoy_list(args: argparse.Namespace) -> int:
    from dashboard.buoy_admin import show

    return show(args.config)


def _shop_add(args: argparse.Namespace) -> int:
    from dashboard.shops import add_command

    return add_command(args.config, args.name, args.base_url)


def _shop_list(args: argparse.Namespace) -> int:
    from dashboard.shops import list_command

    return list_command(args.config)


def _shop_revoke(args: argparse.Namespace) -> int:
    from dashboard.shops import revoke_command

    return revoke_command(args.config, args.name)


def _ingest(args: argparse.Namespace) -> int:
    from dashboard.ingest import run

    return run(args.config)


def _web(args: argparse.Namespace) -> int:
    from dashboard.serve import run

    return run(args.config)


def _qc_rerun(args: argparse.Namespace) -> int:
    from dashboard.qc.command import rerun

    return rerun(args.config, args.buoy, args.since, args.until)


def _rollups_rebuild(args: argparse.Namespace) -> int:
    from dashboard.rollups import rebuild_command

    return rebuild_command(args.config, args.buoy, args.since, args.until)


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
        "buoy",
        help="the buoy firmware daemon; registering buoys on the server",
        description="Commands that run on the buoy (run, calibrate) or on the server (add, list).",
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
    buoy_add = buoy_commands.add_parser(
        "add",
        help="register a buoy (on the server), optionally with its broker credentials",
        description="Register a buoy in the database the ingest's config names, so that the "
        "ingest stores its data; with --password-file, also add its broker user (the buoy id) "
        "to a Mosquitto password file and print the new password once.",
    )
    buoy_add.add_argument("buoy_id", metavar="ID", help="the buoy id, as in its config")
    buoy_add.add_argument("--name", required=True, help="a name people recognise")
    buoy_add.add_argument("--lat", type=float, required=True, help="mooring latitude (°N)")
    buoy_add.add_argument("--lon", type=float, required=True, help="mooring longitude (°E)")
    buoy_add.add_argument(
        "--radius-m", type=float, default=50.0, help="mooring swing radius (default: %(default)s)"
    )
    buoy_add.add_argument(
        "--timezone", default="UTC", help="IANA time zone of the site (default: %(default)s)"
    )
    buoy_add.add_argument("--config", type=Path, required=True, help="the ingest's TOML file")
    buoy_add.add_argument(
        "--password-file", type=Path, help="Mosquitto password file to add the buoy's user to"
    )
    buoy_add.set_defaults(handler=_buoy_add)
    buoy_list = buoy_commands.add_parser(
        "list", help="list the buoys the database knows", description="List every buoy."
    )
    buoy_list.add_argument("--config", type=Path, required=True, help="the ingest's TOML file")
    buoy_list.set_defaults(handler=_buoy_list)
    buoy_calibrate = buoy_commands.add_parser(
        "calibrate",
        help="calibrate a part (pH buffers, turbidity clear water, gas zero) and record it",
        description="Run one calibration step through the part's driver and record it in the "
        "buoy's calibration history (calibration.sqlite3 in data_dir), then print the current "
        "calibration. Stop the daemon first (systemctl stop nemopi-buoy): the parts can be "
        "driven by one process at a time, and this command refuses while the daemon runs. "
        "Procedures: ph.mid, ph.low, ph.high with the probe in a buffer (VALUE is the "
        "buffer's pH, default 7, 4, 10; mid first, it clears the other points), ph.clear, "
        "turbidity.clear_water with the probe in clear water, no2.zero and no.zero with the "
        "cells in zero air after their warm-up; show prints the calibration and touches no "
        "part. See docs/calibration.md.",
    )
    buoy_calibrate.add_argument("--config", type=Path, required=True, help="the buoy's TOML file")
    buoy_calibrate.add_argument(
        "procedure",
        metavar="PROCEDURE",
        help="ph.mid | ph.low | ph.high | ph.clear | turbidity.clear_water | no2.zero | "
        "no.zero | show",
    )
    buoy_calibrate.add_argument(
        "value", metavar="VALUE", type=float, nargs="?", help="the buffer's pH (ph.mid/low/high)"
    )
    buoy_calibrate.add_argument(
        "--simulate",
        action="store_true",
        help="calibrate the emulated parts of the simulated buoy (as `buoy run --simulate`)",
    )
    buoy_calibrate.set_defaults(handler=_buoy_calibrate)

    shop = commands.add_parser(
        "shop",
        help="dive shops that report visibility, each with its own secret link",
        description="Give a dive shop a link that signs its phones in to report the "
        "visibility its divers saw (see docs/visibility-reports.md), list the shops, or stop "
        "a shop's link.",
    )
    shop_commands = shop.add_subparsers(dest="shop_command", required=True, metavar="COMMAND")
    shop_add = shop_commands.add_parser(
        "add",
        help="add a shop and print its link once",
        description="Add the shop (or give a revoked shop a new link) and print its link. "
        "Only a hash of the link is stored: it cannot be shown again.",
    )
    shop_add.add_argument("name", metavar="NAME", help="the shop's name, as divers know it")
    shop_add.add_argument("--config", type=Path, required=True, help="the web app's TOML file")
    shop_add.add_argument(
        "--base-url",
        help="the dashboard's public address, e.g. https://reefs.example.org "
        "(default: the host and port of the web config)",
    )
    shop_add.set_defaults(handler=_shop_add)
    shop_list = shop_commands.add_parser(
        "list", help="list the shops", description="List every shop and whether its link works."
    )
    shop_list.add_argument("--config", type=Path, required=True, help="the web app's TOML file")
    shop_list.set_defaults(handler=_shop_list)
    shop_revoke = shop_commands.add_parser(
        "revoke",
        help="stop a shop's link and sign its phones out",
        description="Stop the shop's link; phones signed in with it are signed out at their "
        "next request. Its reports stay. `shop add` gives it a new link.",
    )
    shop_revoke.add_argument("name", metavar="NAME", help="the shop's name")
    shop_revoke.add_argument("--config", type=Path, required=True, help="the web app's TOML file")
    shop_revoke.set_defaults(handler=_shop_revoke)

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

    qc = commands.add_parser(
        "qc", help="quality control", description="Quality control of stored readings."
    )
    qc_commands = qc.add_subparsers(dest="qc_command", required=True, metavar="COMMAND")
    qc_rerun = qc_commands.add_parser(
        "rerun",
        help="flag stored readings with the current QC configuration",
        description="Flag every stored reading in range with the QC configuration the ingest's "
        "file names, under its version; other versions' flags and the readings stay as they are.",
    )
    _range_arguments(qc_rerun, "samples")
    qc_rerun.set_defaults(handler=_qc_rerun)

    rollups = commands.add_parser(
        "rollups", help="chart roll-ups", description="The pre-aggregated buckets charts read."
    )
    rollups_commands = rollups.add_subparsers(
        dest="rollups_command", required=True, metavar="COMMAND"
    )
    rebuild = rollups_commands.add_parser(
        "rebuild",
        help="recompute chart roll-ups from the stored readings",
        description="Recompute every chart bucket in range from the stored readings and the "
        "current QC flags; the readings themselves are left as they are.",
    )
    _range_arguments(rebuild, "buckets")
    rebuild.set_defaults(handler=_rollups_rebuild)
    return parser


def _range_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """The ingest's config and the buoy and time range a re-computation is limited to."""
    parser.add_argument("--config", type=Path, required=True, help="the ingest's TOML file")
    parser.add_argument("--buoy", help="only this buoy id")
    parser.add_argument("--since", help=f"only {what} at or after this ISO 8601 time (UTC)")
    parser.add_argument("--until", help=f"only {what} at or before this ISO 8601 time (UTC)")


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
