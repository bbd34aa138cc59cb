"""A real buoy daemon, a real ingest and a real Mosquitto for the durability tests.

``Rig`` runs ``nemopi buoy run --simulate`` and ``nemopi ingest`` as the CLI starts them
(``tests.e2e.cluster``), reads the buoy's outbox as another process would, and checks at the
receiving side that every issued sequence number was stored exactly once with the values the
buoy sent. ``BlackHoleProxy`` stands between the buoy and the broker and can stop forwarding
without closing anything, like a link that dies without a reset.
"""

from __future__ import annotations

import contextlib
import logging
import math
import select
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError

from buoy.daemon import OUTBOX_FILE
from buoy.outbox import Outbox
from nemopi import wire
from nemopi.demo_configs import write_ingest_config
from nemopi.wire import Batch, Sample, Value
from tests.brokers import free_port
from tests.buoy.conftest import BUOY, write_config
from tests.dashboard.ingest_harness import register_buoys
from tests.dashboard.stored import ReadingKey, expected_readings, stored_readings, stored_samples
from tests.e2e.cluster import nemopi_process, stop, wait_until

__all__ = ["BUOY", "BlackHoleProxy", "Rig", "Tally", "report", "wait_until"]

figures = logging.getLogger("tests.figures")
LOG_TAIL = 3000  # characters of each process's log in a timed-out wait's message


def report(record_property: Callable[[str, object], None], name: str, value: object) -> None:
    """Keep a measured figure with the test's result (JUnit XML) and log it (``log_cli``)."""
    record_property(name, value)
    figures.info("%s: %s", name, value)


@dataclass(frozen=True)
class Tally:
    """What the receiving side holds for sequence numbers 1..issued."""

    issued: int
    lost: list[int]
    duplicated: list[int]


class Rig:
    """One simulated buoy process and one ingest process in ``workdir``, both on ``port``.

    ``tables`` are the buoy config tables (``sampling``, ``uplink``, ``mqtt``, ``simulation``);
    ``reconfigure()`` rewrites them for the next start.
    """

    def __init__(self, workdir: Path, port: int, **tables: dict[str, Any]) -> None:
        self.workdir = workdir
        self.port = port
        self.buoy_log = workdir / "buoy.log"
        self.ingest_log = workdir / "ingest.log"
        self.outbox_path = workdir / "data" / OUTBOX_FILE
        self.config_path = workdir / "buoy.toml"
        self.tables = tables
        self.reconfigure()
        self.ingest_config = write_ingest_config(workdir, port)
        self.engine = create_engine(f"sqlite:///{workdir / 'nemopi.sqlite3'}")
        register_buoys(self.engine, BUOY)
        self.buoy: subprocess.Popen[bytes] | None = None
        self.ingest: subprocess.Popen[bytes] | None = None

    def reconfigure(self, **tables: dict[str, Any]) -> None:
        for name, values in tables.items():
            self.tables[name] = {**self.tables.get(name, {}), **values}
        write_config(self.config_path, self.port, self.workdir / "data", **self.tables)

    # ------------------------------------------------------------ processes

    def start_buoy(self) -> subprocess.Popen[bytes]:
        assert self.buoy is None or self.buoy.poll() is not None, "the buoy is still running"
        self.buoy = nemopi_process(
            self.buoy_log, "buoy", "run", "--simulate", "--config", str(self.config_path)
        )
        return self.buoy

    def kill_buoy(self) -> None:
        """SIGKILL the buoy daemon, whatever it is doing."""
        assert self.buoy is not None
        self.buoy.kill()
        self.buoy.wait(20)

    def stop_buoy(self) -> None:
        """SIGTERM the buoy; it must stop cleanly (exit status 0)."""
        assert self.buoy is not None
        assert stop(self.buoy) == 0, f"the buoy did not stop cleanly; see {self.buoy_log}"

    def start_ingest(self) -> None:
        self.ingest = nemopi_process(self.ingest_log, "ingest", "--config", str(self.ingest_config))

    def stop_ingest(self) -> None:
        assert self.ingest is not None
        assert stop(self.ingest) == 0, "the ingest did not stop cleanly"
        self.ingest = None

    def close(self) -> None:
        for process in (self.buoy, self.ingest):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(20)
        self.engine.dispose()

    # ------------------------------------------------------------ the buoy's outbox

    def _outbox_query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` on the outbox, read beside the daemon; [] before it exists."""
        if not self.outbox_path.exists():
            return []
        db = sqlite3.connect(self.outbox_path, timeout=10)
        try:
            return db.execute(sql).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            db.close()

    def issued(self) -> int:
        """The highest sequence number the outbox has handed out."""
        rows = self._outbox_query("SELECT value FROM meta WHERE key = 'next_seq'")
        return int(rows[0][0]) - 1 if rows else 0

    def waiting(self) -> set[int]:
        """Sequence numbers still in the outbox (not yet confirmed as stored)."""
        return {seq for (seq,) in self._outbox_query("SELECT seq FROM samples")}

    def broker_acked(self) -> set[int]:
        """Outbox rows the broker has acknowledged (PUBACK) and the ingest not yet confirmed."""
        return {
            seq for (seq,) in self._outbox_query("SELECT seq FROM samples WHERE sent_at NOT NULL")
        }

    def outbox_samples(self) -> dict[int, Sample]:
        """Every sample in the outbox, decoded by the outbox itself; the buoy must be stopped."""
        assert self.buoy is None or self.buoy.poll() is not None
        with Outbox(self.outbox_path, BUOY, resend_after_s=1.0) as outbox:
            return {s.seq: s for s in outbox.due(limit=10**9, now=math.inf)}

    # ------------------------------------------------------------ the receiving side

    def stored_seqs(self) -> list[int]:
        """Stored sequence numbers of the buoy, one entry per stored row."""
        try:
            return [seq for buoy, seq in stored_samples(self.engine) if buoy == BUOY]
        except SQLAlchemyError:  # the ingest has not created its tables yet
            return []

    def wait_stored(self, seqs: set[int], timeout: float, what: str) -> None:
        self._wait(lambda: seqs <= set(self.stored_seqs()), timeout, what)

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """``wait_until``, with the end of both processes' logs should it time out."""
        try:
            wait_until(condition, timeout, what)
        except AssertionError as exc:
            tails = "\n".join(
                f"--- the end of {log.name}:\n{log.read_text(errors='replace')[-LOG_TAIL:]}"
                for log in (self.buoy_log, self.ingest_log)
                if log.exists()
            )
            raise AssertionError(f"{exc}\n{tails}") from None

    def drain(self, after: int, timeout: float) -> None:
        """Wait until the running buoy has issued a number above ``after`` (so it is past
        start-up), its outbox is empty and all it issued is stored."""

        def drained() -> bool:
            issued = self.issued()
            if issued <= after or self.waiting():
                return False
            return set(range(1, issued + 1)) <= set(self.stored_seqs())

        self._wait(drained, timeout, "the buoy's outbox to drain into the ingest")

    def final_tally(self, timeout: float) -> Tally:
        """Start the stopped buoy for one last sample and a full drain, stop it, and tally.

        A buoy sampling every few tenths of a second always has a reading in flight when it
        is stopped; one that samples once a day empties its outbox, so whatever is missing
        after that is really lost."""
        assert self.buoy is None or self.buoy.poll() is not None, "stop the buoy first"
        before = self.issued()
        self.reconfigure(sampling={"interval_s": 86400.0})
        self.start_buoy()
        self.drain(after=before, timeout=timeout)
        self.stop_buoy()
        return self.tally()

    def tally(self) -> Tally:
        issued = self.issued()
        counts = Counter(self.stored_seqs())
        return Tally(
            issued,
            lost=[seq for seq in range(1, issued + 1) if seq not in counts],
            duplicated=sorted(seq for seq, n in counts.items() if n > 1),
        )

    def assert_values_as_sent(self, sent: list[Batch], kept: dict[int, Sample]) -> None:
        """Stored values equal what went over the wire and what the outbox held.

        Every copy of one sequence number on the wire must be the same sample, and each
        stored reading must equal it; ``kept`` (outbox rows read while the buoy was stopped)
        must equal what was stored for them, as the wire carries them (it rounds each value to
        its quantity's decimals).
        """
        copies: dict[int, Sample] = {}
        for batch in sent:
            for sample in batch.samples:
                first = copies.setdefault(sample.seq, sample)
                assert first == sample, f"seq {sample.seq} went out as two different samples"
        stored: dict[ReadingKey, Value] = dict(stored_readings(self.engine))
        for key, value in expected_readings([b for b in sent if b.buoy == BUOY]):
            assert stored.get(key) == value, f"{key}: stored {stored.get(key)}, sent {value}"
        for seq, sample in kept.items():
            on_wire = wire.decode(wire.encode(Batch(BUOY, (sample,))), expect=wire.Kind.DATA)
            assert isinstance(on_wire, Batch)
            for name, value in on_wire.samples[0].values.items():
                key = (BUOY, seq, name)
                assert stored.get(key) == value, f"{key}: stored {stored.get(key)}, kept {value}"


# ---------------------------------------------------------------- a link that dies silently


@dataclass
class _Link:
    client: socket.socket
    upstream: socket.socket
    opened_at: float
    holed: threading.Event = field(default_factory=threading.Event)
    client_closed_at: float | None = None


class BlackHoleProxy:
    """Forwards TCP from a free local port to ``target_port``, one thread per connection.

    ``black_hole()`` makes every open connection swallow what it receives in both directions
    without closing or resetting anything; connections opened afterwards forward normally.
    It notes when the client gives up on a black-holed connection (closes its end).
    """

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.links: list[_Link] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            link = _Link(client, upstream, time.monotonic())
            with self._lock:
                self.links.append(link)
            threading.Thread(target=self._pump, args=(link,), daemon=True).start()

    def _pump(self, link: _Link) -> None:
        peers = {link.client: link.upstream, link.upstream: link.client}
        while not self._closing.is_set():
            readable, _, _ = select.select(list(peers), [], [], 0.2)
            for sock in readable:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    if sock is link.client and link.client_closed_at is None:
                        link.client_closed_at = time.monotonic()
                    if not link.holed.is_set():
                        self._close(link)
                        return
                    peers.pop(sock, None)  # a dead link passes no FIN on either
                    if not peers:
                        return
                    continue
                if not link.holed.is_set():
                    with contextlib.suppress(OSError):
                        peers[sock].sendall(data)

    @staticmethod
    def _close(link: _Link) -> None:
        for sock in (link.client, link.upstream):
            with contextlib.suppress(OSError):
                sock.close()

    def black_hole(self) -> float:
        """Swallow everything on the open connections from now on; the monotonic time."""
        at = time.monotonic()
        with self._lock:
            for link in self.links:
                link.holed.set()
        return at

    def links_opened_after(self, at: float) -> list[_Link]:
        with self._lock:
            return [link for link in self.links if link.opened_at > at]

    def close(self) -> None:
        self._closing.set()
        self._server.close()
        self._thread.join(5)
        with self._lock:
            for link in self.links:
                self._close(link)
