"""The ingest worker: MQTT messages in, database rows and "stored" confirmations out.

Threads and the single writer: paho's network thread (``loop_start``) only turns each message
into a ``Received`` and puts it on a queue. The thread that calls ``IngestWorker.process`` is
the one writer: it takes up to ``GROUP_MAX`` queued messages, handles them in one transaction,
commits, publishes a ``StoredAck`` per buoy (QoS 1), and only then acknowledges the messages to
the broker (paho manual acks). Until that PUBACK the broker keeps each message in this client's
persistent session (fixed client id, clean_session False) and delivers it again after a crash
or reconnect; storage is idempotent, so a second delivery changes nothing but is confirmed
again. A message is acked only on the connection that delivered it: after a reconnect the
broker re-sends it, and an old message id may by then name another message.

A database that fails (locked, disk full, server gone, a deadlock between workers) is retried
with backoff and nothing is acked meanwhile; a message the database itself refuses is
quarantined so that it cannot block the messages behind it. ``_committed`` is the one place
that acts on a committed group: stored acks, metrics, broker acks.

Scale-out: with ``shared_group`` set, several workers (each with its own client id) share one
subscription to the data topics, ``$share/<group>/<prefix>/+/data``, and the broker hands each
message to one of them. Statuses are few and retained, so every worker subscribes to them
plainly. Each group is handled in topic order, so that workers lock buoys in the same order.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from dashboard import process as proc
from dashboard import rollups
from dashboard.config import IngestConfig, load_ingest_config
from dashboard.db import make_engine
from dashboard.heartbeat import Heartbeat
from dashboard.intake import Intake, Outcome, Received, stored_acks
from dashboard.metrics import IngestMetrics, MetricsServer
from dashboard.planner_stats import StatsKeeper
from dashboard.qc.runner import runner_for_ingest
from dashboard.quarantine import Reason
from nemopi.topics import Channel, Topics
from nemopi.wire import encode

log = logging.getLogger(__name__)

GROUP_MAX = 100
RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
QUEUE_POLL_S = 0.2
UNDECODABLE_TOPIC = "(topic is not UTF-8)"


class IngestWorker:
    """Connects on ``start()``; ``process(stop)`` runs the writer until ``stop`` is set;
    ``close()`` (safe twice) disconnects. Unprocessed messages stay unacknowledged."""

    def __init__(self, config: IngestConfig, engine: Engine) -> None:
        self._config = config
        self._engine = engine
        self._topics = Topics(config.mqtt.prefix)
        self._intake = Intake(self._topics, config)
        self._qc = runner_for_ingest(engine, config.qc_file)
        self.metrics = IngestMetrics()
        self._metrics_server: MetricsServer | None = None
        self._inbox: queue.Queue[Received] = queue.Queue()
        self._connection = 0
        self._subscribed = threading.Event()
        self._client = self._make_client()
        self._started = False
        self._stats = StatsKeeper(engine)
        self._heartbeat = Heartbeat(
            engine, config.client_id, config.heartbeat_s, self._client.is_connected
        )

    def _make_client(self) -> mqtt.Client:
        settings = self._config.mqtt
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._config.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if settings.username:
            client.username_pw_set(settings.username, settings.password())
        if settings.ca_file is not None:
            client.tls_set(ca_certs=str(settings.ca_file))
        client.enable_logger(logging.getLogger("dashboard.ingest.mqtt"))
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        return client

    def start(self) -> None:
        settings = self._config.mqtt
        if self._config.metrics_port:
            self._metrics_server = MetricsServer(
                self.metrics, self._config.metrics_host, self._config.metrics_port
            )
        self._client.connect_async(settings.host, settings.port, settings.keepalive_s)
        self._client.loop_start()
        self._started = True
        log.info("connecting to the broker at %s:%d", settings.host, settings.port)

    def wait_until_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def close(self) -> None:
        if self._started:
            self._started = False
            self._client.disconnect()
            self._client.loop_stop()
            self._client._reset_sockets()  # paho frees its wake-up socket pair only on __del__
        if self._metrics_server is not None:
            self._metrics_server.close()
            self._metrics_server = None

    def __enter__(self) -> IngestWorker:
        self.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------ network thread

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Any,
    ) -> None:
        if reason_code.is_failure:
            log.error("the broker refused the connection: %s", reason_code)
            return
        self._connection += 1
        log.info("connected (session present: %s)", flags.session_present)
        client.subscribe([(topic, 1) for topic in self._subscriptions()])

    def _subscriptions(self) -> tuple[str, str]:
        data = self._topics.all_buoys(Channel.DATA)
        if self._config.shared_group:
            data = f"$share/{self._config.shared_group}/{data}"
        return data, self._topics.all_buoys(Channel.STATUS)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _mid: int,
        reason_codes: list[ReasonCode],
        _properties: Any,
    ) -> None:
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            log.error("the broker refused a subscription: %s", refused)
            return
        log.info("subscribed to %s and %s", *self._subscriptions())
        self._subscribed.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = UNDECODABLE_TOPIC
        self._inbox.put(
            Received(
                topic=topic,
                payload=bytes(message.payload),
                mid=message.mid,
                qos=message.qos,
                retain=bool(message.retain),
                received_at=datetime.now(UTC),
                connection=self._connection,
            )
        )

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Any,
    ) -> None:
        self._subscribed.clear()
        if self._started:
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    # ------------------------------------------------------------ writer thread

    def process(self, stop: threading.Event) -> None:
        """Store what arrives until ``stop`` is set (checked at least every 0.2 s), beating
        the heartbeat at start and then on schedule, also while idle."""
        self._heartbeat.tick()
        if self._qc is not None:
            self._qc.recover()  # flags what a crash left between a commit and its QC
        while not stop.is_set():
            group = self._take_group()
            if group:
                self._commit(group, stop)
            self._heartbeat.tick()

    def _take_group(self) -> list[Received]:
        try:
            group = [self._inbox.get(timeout=QUEUE_POLL_S)]
        except queue.Empty:
            return []
        while len(group) < GROUP_MAX:
            try:
                group.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return group

    def _commit(self, group: list[Received], stop: threading.Event) -> None:
        group = sorted(group, key=lambda message: message.topic)  # stable: per-topic order kept
        delay = RETRY_MIN_S
        refused: str | None = None
        while True:
            try:
                outcomes = self._store(group, refused)
            except SQLAlchemyError as exc:
                if _is_transient(exc):
                    log.warning("database unavailable (%s); retrying in %.1f s", exc, delay)
                    if stop.wait(delay):
                        return
                    delay = min(2 * delay, RETRY_MAX_S)
                    continue
                if len(group) > 1:
                    for message in group:
                        self._commit([message], stop)
                    return
                if refused is not None:
                    raise
                log.error("the database refused a message on %s: %s", group[0].topic, exc)
                refused = type(exc).__name__
                continue
            self._committed(group, outcomes)
            return

    def _store(self, group: list[Received], refused: str | None) -> list[Outcome]:
        with self._engine.begin() as conn:
            if refused is not None:
                return [self._intake.reject(conn, group[0], Reason.REFUSED, refused)]
            return self._intake.handle_group(conn, group)

    def _committed(self, group: list[Received], outcomes: list[Outcome]) -> None:
        """Everything that follows the commit of ``group``: confirmations to the buoys, the
        metrics, and only then the broker acks that let the broker forget the messages."""
        results = [outcome.stored for outcome in outcomes if outcome.stored is not None]
        if any(result.new_seqs for result in results):
            self._heartbeat.stored()
        self._stats.stored(sum(len(result.new_seqs) for result in results))
        for ack in stored_acks(results):
            self._client.publish(self._topics.topic(ack.buoy, Channel.STORED), encode(ack), qos=1)
        self._record(outcomes, datetime.now(UTC))
        current = self._connection
        for message in group:
            if message.connection == current:
                self._client.ack(message.mid, message.qos)
        if self._qc is not None:
            self._qc.after_commit(results)

    def _record(self, outcomes: list[Outcome], now: datetime) -> None:
        for outcome in outcomes:
            if outcome.rejected is not None:
                self.metrics.quarantined(outcome.rejected)
            if outcome.stored is not None:
                stored = outcome.stored
                duplicates = len(stored.seqs) - len(stored.new_seqs)
                self.metrics.batch(
                    stored.buoy, stored.new_readings, duplicates, outcome.newest, now
                )
                log.debug(
                    "%s: %d samples, %d new", stored.buoy, len(stored.seqs), len(stored.new_seqs)
                )
            elif outcome.buoy is not None:
                self.metrics.message(outcome.buoy)


def _is_transient(exc: SQLAlchemyError) -> bool:
    """A failure of the database, not of the data: retry the same work later."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def run(config_path: Path) -> int:
    """The ingest process: runs until SIGTERM or SIGINT, then disconnects and returns 0."""
    config = proc.start(config_path, load_ingest_config, "ingest")
    if config is None:
        return proc.EXIT_CONFIG
    if not proc.upgrade(config.database.url):
        return proc.EXIT_DATABASE
    stop = threading.Event()
    engine = make_engine(config.database.url)
    try:
        rollups.rebuild_if_missing(engine)
        with proc.stop_signals(stop.set), IngestWorker(config, engine) as worker:
            worker.process(stop)
    finally:
        engine.dispose()
    log.info("stopped")
    return proc.EXIT_OK
