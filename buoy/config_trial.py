"""A remotely replaced configuration on the card: put in force on trial, kept or rolled back.

Why: a configuration sent over MQTT can be valid TOML with valid values and still cut the buoy
off (a mistyped broker port, a revoked password). Nobody can walk out to fix it, so the buoy
keeps the file it replaced as ``<config>.previous`` and restores it, with its version, unless
the new one checks in (``buoy.commands.ConfigRollback``).

Each step is ordered so that a power cut anywhere leaves a state the next start settles:

* ``begin_trial``: the previous file, then the trial record and version, then the new file
  (written to a temporary file, fsynced, renamed). Cut before the rename, the file still
  equals ``.previous`` and ``settle_at_start`` rolls the version back.
* ``roll_back``: the previous file back in place (atomically), then the version, then the
  trial record cleared. Cut half-way, the trial is still open and is rolled back again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from buoy.command_log import CommandLog
from buoy.commands import ConfigRollback, PendingConfig, RollbackDecision

log = logging.getLogger(__name__)

# A new configuration has at least this long (or three status intervals) to check in.
MIN_TRIAL_S = 600.0
# Daemon starts under a configuration on trial before it is rolled back.
MAX_TRIAL_STARTS = 3


def previous_path(config_path: Path) -> Path:
    return config_path.with_name(config_path.name + ".previous")


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` so that a power cut leaves the old or the new file whole."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    tmp.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def begin_trial(
    config_path: Path, pending: PendingConfig, command_log: CommandLog, now_s: float
) -> ConfigRollback:
    """Put ``pending`` in the configuration file on trial; the trial, as recorded."""
    write_atomically(previous_path(config_path), config_path.read_text(encoding="utf-8"))
    trial = ConfigRollback(
        version=pending.version,
        previous_version=command_log.config_version(),
        deadline_s=max(3 * pending.config.uplink.status_interval_s, MIN_TRIAL_S),
        max_starts=MAX_TRIAL_STARTS,
        started_at_s=now_s,
    )
    command_log.set_config_trial(trial.to_record())
    command_log.set_config_version(pending.version)
    write_atomically(config_path, pending.text)
    log.warning(
        "configuration v%d written to %s on trial (v%d kept as %s)",
        pending.version,
        config_path,
        trial.previous_version,
        previous_path(config_path).name,
    )
    return trial


def roll_back(config_path: Path, command_log: CommandLog, trial: ConfigRollback) -> None:
    """Restore the configuration file and version that ``trial`` replaced."""
    previous = previous_path(config_path).read_text(encoding="utf-8")
    write_atomically(config_path, previous)
    command_log.set_config_version(trial.previous_version)
    command_log.set_config_trial(None)
    log.error(
        "configuration v%d never checked in (%d start(s)): v%d restored",
        trial.version,
        trial.starts,
        trial.previous_version,
    )


def open_trial(command_log: CommandLog) -> ConfigRollback | None:
    """The trial recorded in ``command_log``; a record this firmware cannot read is logged
    and cleared (the configuration in force then stays)."""
    record = command_log.config_trial()
    if record is None:
        return None
    try:
        return ConfigRollback.from_record(record)
    except ValueError as exc:
        log.error("dropping an unreadable configuration trial: %s", exc)
        command_log.set_config_trial(None)
        return None


def settle_at_start(config_path: Path, command_log: CommandLog) -> None:
    """Count this start against the open trial, if any, and roll back what must be.

    Runs before the configuration is loaded and the hardware built, so a configuration that
    crashes the daemon or cannot build its parts is rolled back after ``max_starts`` starts.
    """
    trial = open_trial(command_log)
    if trial is None:
        return
    if not previous_path(config_path).exists():
        log.error(
            "%s is missing: configuration v%d kept", previous_path(config_path), trial.version
        )
        command_log.set_config_trial(None)
        return
    trial = trial.restarted(0.0)
    landed = config_path.read_bytes() != previous_path(config_path).read_bytes()
    if not landed or trial.decide(0.0) is RollbackDecision.ROLL_BACK:
        roll_back(config_path, command_log, trial)
        return
    command_log.set_config_trial(trial.to_record())
    log.warning(
        "configuration v%d on trial: start %d of at most %d before it is rolled back",
        trial.version,
        trial.starts,
        trial.max_starts,
    )


def rebased(trial: ConfigRollback, now_s: float) -> ConfigRollback:
    """``trial`` with its deadline counted from ``now_s`` on the running daemon's clock."""
    return dataclasses.replace(trial, started_at_s=now_s)
