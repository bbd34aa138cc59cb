"""The buoy's MQTT link: one persistent session to the broker, kept up by its own thread.

Promises:

* Client id = buoy id, MQTT 3.1.1, ``clean_session=False``: the broker keeps the buoy's
  subscription and queues ``stored`` acknowledgements while the link is down.
* A Last Will publishes a retained ``Status(online=False)`` on ``<prefix>/<buoy>/status`` when
  the link dies without a clean disconnect.
* Subscribes to its own ``<prefix>/<buoy>/stored`` and ``<prefix>/<buoy>/cmd`` only (exact
  topics, never a wildcard); a payload on stored that is not a valid ``StoredAck`` for this
  buoy is logged and ignored. A command payload is handed over undecoded: the daemon's thread
  decodes, logs and answers it (``buoy.commands``), never paho's.
* Reconnects with exponential backoff and full jitter (``buoy.backoff``): paho's network
  thread does the reconnecting, but each of its waits is set from our backoff just before it
  starts (paho's own waits are the same on every buoy, so a fleet would reconnect in step).
* paho's in-memory queue stays small and bounded: the outbox is the buffer, not RAM.
* A connection that hears nothing from the broker for 1.4 x ``keepalive_s`` is closed
  without a DISCONNECT (so the broker still publishes the Last Will) and paho reconnects:
  a half-open link is given up within 1.5 x keepalive (``buoy.link_watch``), where paho alone
  takes about 2 x. paho reports every packet it receives in a ``Received ...`` log line,
  the one public signal it gives for a PINGRESP; that is what counts as hearing the broker.
* Nothing here touches the outbox. What happens on paho's network thread (connected, a
  PUBACK, a stored acknowledgement) becomes an event in a queue that the daemon's thread
  drains. An exception in a callback is logged by paho and never ends that thread.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from buoy.backoff import Backoff
from buoy.link_watch import SILENCE_FACTOR, LinkWatch
from nemopi import wire
from nemopi.broker_settings import MqttSettings
from nemopi.topics import Channel, Topics
from nemopi.wire import Batch, CommandReply, Sample, Status, StoredAck

log = logging.getLogger(__name__)

QOS = 1
# One data batch and a few status reports can be in flight; anything more waits in the outbox.
MAX_INFLIGHT = 4
MAX_QUEUED = 8


@dataclass(frozen=True, slots=True)
class Connected:
    """The broker accepted the connection (and the stored topic is subscribed)."""


@dataclass(frozen=True, slots=True)
class Published:
    """The broker acknowledged (PUBACK) the publish with message id ``mid``."""

    mid: int


@dataclass(frozen=True, slots=True)
class Stored:
    """The ingest says it has stored these sequence ranges."""

    ack: StoredAck


@dataclass(frozen=True, slots=True)
class CommandReceived:
    """A payload arrived on this buoy's command topic (not yet decoded or checked)."""

    payload: bytes


Event = Connected | Published | Stored | CommandReceived


class Uplink:
    """The MQTT link of buoy ``buoy``. ``start()`` it, drain ``next_event()``, ``stop()`` it.

    ``utc_ms`` dates the Last Will, which is set afresh each time a connection is opened.
    """

    def __init__(
        self,
        buoy: str,
        settings: MqttSettings,
        backoff: Backoff,
        utc_ms: Callable[[], int],
    ) -> None:
        topics = Topics(settings.prefix)
        self.buoy = buoy
        self.data_topic = topics.topic(buoy, Channel.DATA)
        self.status_topic = topics.topic(buoy, Channel.STATUS)
        self.stored_topic = topics.topic(buoy, Channel.STORED)
        self.command_topic = topics.topic(buoy, Channel.COMMAND)
        self.reply_topic = topics.topic(buoy, Channel.REPLY)
        self._settings = settings
        self._backoff = backoff
        self._utc_ms = utc_ms
        self._events: queue.Queue[Event] = queue.Queue()
        self._connected = threading.Event()
        self._started = False
        self._watch = LinkWatch(SILENCE_FACTOR * settings.keepalive_s, self._close_silent)
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        s = self._settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.buoy,
            clean_session=False,
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        client.enable_logger(logging.getLogger(f"{__name__}.paho"))
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.max_queued_messages_set(MAX_QUEUED)
        if s.username:
            client.username_pw_set(s.username, s.password())
        if s.ca_file is not None:
            client.tls_set(ca_certs=str(s.ca_file))
        client.suppress_exceptions = True
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_log = self._on_log
        client.connect_async(s.host, s.port, s.keepalive_s)
        return client

    # ------------------------------------------------------------ used by the daemon's thread

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Start paho's network thread; it connects, and reconnects, by itself."""
        if self._started:
            raise RuntimeError("uplink already started")
        self._started = True
        self._watch.start()
        self._client.loop_start()

    def next_event(self, timeout: float) -> Event | None:
        """The next event, waiting up to ``timeout`` seconds; None when there was none."""
        try:
            return self._events.get(timeout=timeout) if timeout > 0 else self._events.get_nowait()
        except queue.Empty:
            return None

    def publish_batch(self, samples: Sequence[Sample]) -> int | None:
        """Hand a batch to paho; its message id, or None when paho did not take it."""
        return self._publish(self.data_topic, wire.encode(Batch(self.buoy, tuple(samples))))

    def publish_status(self, status: Status) -> int | None:
        """Publish a retained status report; its message id, or None when paho did not take it."""
        return self._publish(self.status_topic, wire.encode(status), retain=True)

    def publish_reply(self, reply: CommandReply) -> int | None:
        """Publish the answer to a command (not retained); its message id, or None when paho
        did not take it."""
        return self._publish(self.reply_topic, wire.encode(reply))

    def _publish(self, topic: str, payload: bytes, retain: bool = False) -> int | None:
        if not self.connected:
            return None
        info = self._client.publish(topic, payload, qos=QOS, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.info("publish on %s not taken: %s", topic, mqtt.error_string(info.rc))
            return None
        return info.mid

    def stop(self) -> None:
        """Disconnect cleanly (no Last Will) and end the network thread; safe to call twice."""
        if not self._started:
            return
        self._started = False
        self._client.disconnect()
        self._client.loop_stop()
        # paho keeps the socket pair that wakes its network thread until the client is
        # finalised, which in a reference cycle can be never; there is no public call.
        self._client._reset_sockets()
        self._watch.close()
        self._connected.clear()

    # ------------------------------------------------------------ paho's network thread

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        will = wire.encode(Status(self.buoy, online=False, as_of_ms=self._utc_ms()))
        client.will_set(self.status_topic, will, QOS, retain=True)

    def _wait_before_reconnecting(self, reason: object) -> None:
        wait = self._backoff.next_wait()
        self._client.reconnect_delay_set(wait, wait)  # type: ignore[arg-type]
        log.info("broker link down (%s); reconnecting in %.1f s", reason, wait)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        log.info("connected to %s:%d", self._settings.host, self._settings.port)
        self._backoff.reset()
        self._watch.arm(client.socket())
        client.subscribe([(self.stored_topic, QOS), (self.command_topic, QOS)])
        self._connected.set()
        self._events.put(Connected())

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self._connected.clear()
        self._watch.disarm()
        if self._started:
            self._wait_before_reconnecting(reason)
        else:
            log.info("disconnected from the broker")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._wait_before_reconnecting("connection failed")

    def _on_log(self, client: mqtt.Client, userdata: Any, level: int, message: str) -> None:
        if message.startswith("Received "):
            self._watch.heard()

    # ------------------------------------------------------------ the link watch's thread

    def _close_silent(self, sock: object) -> None:
        """Shut the silent connection ``sock`` down under paho, which then sees it closed
        and reconnects; a connection paho has replaced meanwhile is left alone."""
        if not isinstance(sock, socket.socket) or self._client.socket() is not sock:
            return
        log.warning(
            "nothing heard from the broker for %.1f s: closing the link", self._watch.limit_s
        )
        # A duplicate descriptor of the same connection: shutting it down ends the connection
        # without touching paho's socket object (a TLS one is not safe to share).
        with (
            contextlib.suppress(OSError),
            socket.fromfd(sock.fileno(), sock.family, sock.type) as dup,
        ):
            dup.shutdown(socket.SHUT_RDWR)

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        self._events.put(Published(mid))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self.command_topic:
            self._events.put(CommandReceived(bytes(message.payload)))
            return
        if message.topic != self.stored_topic:
            log.warning("ignoring a message on %s", message.topic)
            return
        try:
            ack = wire.decode(message.payload, expect=wire.Kind.STORED)
        except wire.WireFormatError as exc:
            log.warning("ignoring a bad stored acknowledgement: %s", exc.reason)
            return
        assert isinstance(ack, StoredAck)
        if ack.buoy != self.buoy:
            log.warning("ignoring a stored acknowledgement for buoy %r", ack.buoy)
            return
        self._events.put(Stored(ack))
