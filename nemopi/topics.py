"""The MQTT topic tree (DESIGN.md contract 2): one subtree per buoy under one prefix.

A broker ACL can then confine each buoy to ``<prefix>/<its id>/#``. Buoy ids are restricted
to characters that can never be MQTT wildcards or level separators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

BUOY_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}\Z")
PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*\Z")


class Channel(StrEnum):
    """The last topic levels after ``<prefix>/<buoy>/``."""

    DATA = "data"  # buoy -> ingest, QoS 1
    STATUS = "status"  # buoy -> everyone, retained, Last Will says offline
    STORED = "stored"  # ingest -> buoy: sequence ranges committed
    COMMAND = "cmd"  # admin -> buoy
    REPLY = "cmd/reply"  # buoy -> admin


def is_valid_buoy_id(buoy: str) -> bool:
    return bool(BUOY_ID_RE.match(buoy))


@dataclass(frozen=True, slots=True)
class Topics:
    """Builds and parses topics under one configured prefix."""

    prefix: str = "nemopi"

    def __post_init__(self) -> None:
        if not PREFIX_RE.match(self.prefix):
            raise ValueError(f"invalid topic prefix {self.prefix!r}")

    def topic(self, buoy: str, channel: Channel) -> str:
        if not is_valid_buoy_id(buoy):
            raise ValueError(f"invalid buoy id {buoy!r}")
        return f"{self.prefix}/{buoy}/{channel.value}"

    def all_buoys(self, channel: Channel) -> str:
        """The subscription filter for one channel of every buoy."""
        return f"{self.prefix}/+/{channel.value}"

    def parse(self, topic: str) -> tuple[str, Channel] | None:
        """``(buoy, channel)`` for a topic in this tree, or None for anything else."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return None
        buoy, _, rest = topic[len(head) :].partition("/")
        if not is_valid_buoy_id(buoy):
            return None
        try:
            return buoy, Channel(rest)
        except ValueError:
            return None
