"""The durable command log: every remote command, from the moment it arrives until it is answered.

Why: MQTT at QoS 1 delivers a command at least once, and the buoy can lose power at any
instant. So a command is recorded *received* (with the decoded command) before it acts, and
*applied* (with its reply) after. Then:

* a command received just before a crash is found by ``unapplied()`` at the next start and
  applied then, not lost;
* a command id seen again gets the stored reply, and does not act again.

The one window left is between a handler's effect and the commit of its reply: a crash there
applies the command again at the next start. Handlers therefore set state rather than change
it by steps (an interval *becomes* 300 s), so that applying twice equals applying once.

The log also keeps two small facts about remote configuration, since both must survive
restarts and live where remote changes are remembered: the version of the configuration in
force, and the record of a configuration on trial (``buoy.commands.ConfigRollback``).

Storage: SQLite in WAL mode with ``synchronous=FULL``, one transaction per step, each fsynced
before the call returns. Commands and replies are kept in their wire encoding. Only the
newest ``KEEP_APPLIED`` answered commands are kept: an id re-delivered after that many newer
commands would act again, far beyond any broker's redelivery. One thread uses a log.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buoy.closeable import Closeable
from buoy.durable_sqlite import prepare_durable
from nemopi import wire
from nemopi.wire import Command, CommandReply

log = logging.getLogger(__name__)

COMMAND_LOG_FILE = "commands.sqlite3"
SCHEMA_VERSION = 1
KEEP_APPLIED = 1000

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS commands (n INTEGER PRIMARY KEY AUTOINCREMENT, "
    "id TEXT NOT NULL UNIQUE, command BLOB NOT NULL, received_ms INTEGER NOT NULL, "
    "reply BLOB, applied_ms INTEGER)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


class CommandLogError(RuntimeError):
    """A command log that cannot be used (closed, or written by newer firmware)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A logged command; ``reply`` is None until it has been applied."""

    command: Command
    reply: CommandReply | None


class CommandLog(Closeable):
    """The command log at ``path``; a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Default isolation: a write statement opens a transaction, ``with db`` commits it.
        self._db: sqlite3.Connection | None = sqlite3.connect(path, check_same_thread=False)
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    @classmethod
    def in_dir(cls, data_dir: Path) -> CommandLog:
        """The log of the buoy whose data folder is ``data_dir`` (created if missing)."""
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(data_dir / COMMAND_LOG_FILE)

    def _open(self) -> None:
        db = self._conn
        prepare_durable(db, self.path, SCHEMA_VERSION, CommandLogError)
        with db:
            for statement in _SCHEMA:
                db.execute(statement)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # ------------------------------------------------------------ commands

    def receive(self, command: Command, utc_ms: int) -> Entry:
        """Record ``command`` as received, durably, unless its id is already logged.

        Returns the logged entry: this command with no reply when it is new (or was received
        but never applied), else the command first logged under that id and its reply.
        """
        body = wire.encode(command)
        with self._conn as db:
            db.execute(
                "INSERT INTO commands (id, command, received_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                (command.id, body, utc_ms),
            )
            stored, reply = db.execute(
                "SELECT command, reply FROM commands WHERE id = ?", (command.id,)
            ).fetchone()
        if stored != body:
            log.warning("command id %r was used before for another command", command.id)
        return Entry(_command(stored), None if reply is None else _reply(reply))

    def record_reply(self, reply: CommandReply, utc_ms: int) -> None:
        """Record the command ``reply.id`` as applied with ``reply``, durably."""
        body = wire.encode(reply)
        with self._conn as db:
            updated = db.execute(
                "UPDATE commands SET reply = ?, applied_ms = ? WHERE id = ? AND reply IS NULL",
                (body, utc_ms, reply.id),
            ).rowcount
            db.execute(
                "DELETE FROM commands WHERE reply IS NOT NULL AND n NOT IN "
                "(SELECT n FROM commands WHERE reply IS NOT NULL ORDER BY n DESC LIMIT ?)",
                (KEEP_APPLIED,),
            )
        if not updated:
            log.warning("reply to command %r not recorded: not pending", reply.id)

    def unapplied(self) -> list[Command]:
        """Commands received but never answered, in the order they arrived."""
        rows = self._conn.execute("SELECT command FROM commands WHERE reply IS NULL ORDER BY n")
        return [_command(body) for (body,) in rows]

    def reply_for(self, command_id: str) -> CommandReply | None:
        row = self._conn.execute(
            "SELECT reply FROM commands WHERE id = ?", (command_id,)
        ).fetchone()
        return None if row is None or row[0] is None else _reply(row[0])

    # ------------------------------------------------------------ remote configuration

    def config_version(self) -> int:
        """The version of the configuration in force; 0 before any remote replacement."""
        value = self._meta("config_version")
        return 0 if value is None else int(value)

    def set_config_version(self, version: int) -> None:
        self._set_meta("config_version", version)

    def config_trial(self) -> dict[str, Any] | None:
        """The stored record of a configuration on trial, or None."""
        value = self._meta("config_trial")
        return None if value is None else dict(value)

    def set_config_trial(self, record: Mapping[str, Any] | None) -> None:
        """Store (or with None, clear) the record of a configuration on trial."""
        self._set_meta("config_trial", None if record is None else dict(record))

    def _meta(self, key: str) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _set_meta(self, key: str, value: Any) -> None:
        with self._conn as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    (key, json.dumps(value, allow_nan=False, sort_keys=True)),
                )

    # ------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close the database; safe to call twice."""
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise CommandLogError(f"{self.path}: command log is closed")
        return self._db


def _command(body: bytes) -> Command:
    message = wire.decode(body, expect=wire.Kind.COMMAND)
    assert isinstance(message, Command)
    return message


def _reply(body: bytes) -> CommandReply:
    message = wire.decode(body, expect=wire.Kind.REPLY)
    assert isinstance(message, CommandReply)
    return message
