"""Wire format v1: how buoys, the ingest and admins talk over MQTT (docs/wire-format.md).

A payload is a two-byte header (format version, message kind and a deflate flag) followed by
one CBOR item (RFC 8949), raw-deflated when that makes it smaller. Data batches are compact
because buoys pay for every byte over cellular: values travel as integers at the catalogue's
``decimals``, delta-coded against the same quantity's previous value in the batch, and
sequence numbers and times are delta-coded against the previous sample.

``encode`` turns any message into bytes; ``decode`` turns bytes from anyone into a message or
raises ``WireFormatError`` -- never any other exception, whatever the bytes.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import cbor2

from nemopi import catalogue
from nemopi.sensor_status import SensorStatus
from nemopi.topics import is_valid_buoy_id

VERSION = 1
FLAG_DEFLATE = 0x80
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_INFLATED_BYTES = 1024 * 1024
MAX_SAMPLES = 5000
MAX_SEQ = 2**63 - 1
MAX_DETAIL_ENTRIES = 256
MAX_DETAIL_DEPTH = 3
MAX_TEXT = 256
# Times outside this window are not readings from this world: 2000-01-01 .. 2200-01-01 UTC.
MIN_UTC_MS = 946_684_800_000
MAX_UTC_MS = 7_258_118_400_000
MAX_MONOTONIC_MS = 2**53
# Largest |value x 10**decimals|: below 2**51, scaled / 10**decimals comes back to the same
# integer when scaled again, so a decoded value re-encodes exactly (2**53 did not).
MAX_SCALED = 2**50


class WireFormatError(ValueError):
    """A payload that is not a valid v1 message. ``reason`` is short and safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Kind(IntEnum):
    DATA = 1
    STORED = 2
    STATUS = 3
    COMMAND = 4
    REPLY = 5


class ClockSource(IntEnum):
    """Where a sample's time came from (DESIGN.md contract 4)."""

    UNSYNCED = 0  # no trustworthy clock: time_ms is milliseconds since boot number ``boot``
    GPS = 1  # UTC from a GPS fix with RMC valid
    NTP = 2  # UTC from the system clock while NTP said it was synchronised
    BACKFILLED = 3  # taken unsynced, its UTC worked out later from a fix in the same boot


@dataclass(frozen=True, slots=True)
class Value:
    value: float | None
    status: SensorStatus = SensorStatus.OK


@dataclass(frozen=True, slots=True)
class Sample:
    seq: int
    time_ms: int
    clock: ClockSource
    values: Mapping[str, Value]
    boot: int = 0
    config_version: int = 0
    calibration_version: int = 0

    @property
    def synced(self) -> bool:
        return self.clock is not ClockSource.UNSYNCED


@dataclass(frozen=True, slots=True)
class Batch:
    buoy: str
    samples: tuple[Sample, ...]


@dataclass(frozen=True, slots=True)
class StoredAck:
    """Inclusive ``(first, last)`` sequence ranges the ingest has committed, ascending."""

    buoy: str
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Status:
    buoy: str
    online: bool
    as_of_ms: int
    valid_until_ms: int | None = None
    next_report_ms: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    name: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CommandReply:
    id: str
    ok: bool
    message: str = ""
    result: Mapping[str, Any] = field(default_factory=dict)


Message = Batch | StoredAck | Status | Command | CommandReply
_KIND_OF: dict[type, Kind] = {
    Batch: Kind.DATA,
    StoredAck: Kind.STORED,
    Status: Kind.STATUS,
    Command: Kind.COMMAND,
    CommandReply: Kind.REPLY,
}


# ---------------------------------------------------------------- encoding


def encode(message: Message) -> bytes:
    """The payload for ``message``. A message that could not be decoded raises ValueError."""
    kind = _KIND_OF[type(message)]
    item = _ENCODERS[kind](message)
    try:
        body = cbor2.dumps(item)
    except cbor2.CBOREncodeError as exc:
        raise ValueError(f"not encodable as CBOR: {exc}") from None
    packed = _deflate(body)
    if len(packed) < len(body):
        payload = bytes((VERSION, kind | FLAG_DEFLATE)) + packed
    else:
        payload = bytes((VERSION, kind)) + body
    try:  # the decoder holds every rule of the format; nothing it rejects may leave
        decode(payload, kind)
    except WireFormatError as exc:
        raise ValueError(f"message breaks the wire format: {exc.reason}") from None
    return payload


def _deflate(body: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(body) + compressor.flush()


def _encode_batch(batch: Batch) -> list[Any]:
    _check_buoy(batch.buoy, ValueError)
    if not 1 <= len(batch.samples) <= MAX_SAMPLES:
        raise ValueError(f"a batch holds 1..{MAX_SAMPLES} samples, not {len(batch.samples)}")
    out: list[Any] = []
    prev_seq = 0
    prev_utc = 0
    prev_versions = (0, 0)
    last_scaled: dict[int, int] = {}
    for s in batch.samples:
        if not 1 <= s.seq <= MAX_SEQ:
            raise ValueError(f"seq {s.seq} out of range")
        if s.clock is ClockSource.UNSYNCED:
            when: Any = [s.boot, s.time_ms]
        else:
            when = s.time_ms - prev_utc
            prev_utc = s.time_ms
        row: list[Any] = [s.seq - prev_seq, int(s.clock), when, _encode_values(s, last_scaled)]
        prev_seq = s.seq
        versions = (s.config_version, s.calibration_version)
        if versions != prev_versions:
            row.extend(versions)
            prev_versions = versions
        out.append(row)
    return [batch.buoy, out]


def _encode_values(sample: Sample, last_scaled: dict[int, int]) -> dict[int, Any]:
    encoded: dict[int, Any] = {}
    for name, v in sample.values.items():
        try:
            q = catalogue.by_name(name)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        if q.derived:
            raise ValueError(f"{name} is derived on the dashboard and is not sent")
        if v.value is None:
            if v.status is SensorStatus.OK:
                raise ValueError(f"{name}: an OK status needs a value")
            encoded[q.code] = [None, int(v.status)]
            continue
        if not math.isfinite(v.value):
            raise ValueError(f"{name}: value {v.value!r} is not finite; report a status")
        scaled = round(v.value * 10**q.decimals)
        delta = scaled - last_scaled.get(q.code, 0)
        last_scaled[q.code] = scaled
        encoded[q.code] = delta if v.status is SensorStatus.OK else [delta, int(v.status)]
    return encoded


def _encode_stored(ack: StoredAck) -> list[Any]:
    _check_buoy(ack.buoy, ValueError)
    flat: list[int] = []
    for first, last in ack.ranges:
        flat.extend((first, last))
    return [ack.buoy, flat]


def _encode_status(status: Status) -> dict[str, Any]:
    return {
        "buoy": status.buoy,
        "online": status.online,
        "as_of": status.as_of_ms,
        "valid_until": status.valid_until_ms,
        "next_report": status.next_report_ms,
        "detail": dict(status.detail),
    }


def _encode_command(command: Command) -> dict[str, Any]:
    return {"id": command.id, "name": command.name, "args": dict(command.args)}


def _encode_reply(reply: CommandReply) -> dict[str, Any]:
    return {"id": reply.id, "ok": reply.ok, "message": reply.message, "result": dict(reply.result)}


_ENCODERS: dict[Kind, Any] = {
    Kind.DATA: _encode_batch,
    Kind.STORED: _encode_stored,
    Kind.STATUS: _encode_status,
    Kind.COMMAND: _encode_command,
    Kind.REPLY: _encode_reply,
}


# ---------------------------------------------------------------- decoding


def decode(payload: bytes, expect: Kind | None = None) -> Message:
    """The message in ``payload``; ``WireFormatError`` for anything that is not one.

    ``expect`` rejects a valid message of another kind (a status sent on a data topic).
    """
    try:
        return _decode(payload, expect)
    except WireFormatError:
        raise
    except Exception as exc:  # hostile bytes may trip anything below; one error type out
        raise WireFormatError(f"malformed payload ({type(exc).__name__})") from exc


def _decode(payload: bytes, expect: Kind | None) -> Message:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise WireFormatError("payload is not bytes")
    payload = bytes(payload)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise WireFormatError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    if len(payload) < 3:
        raise WireFormatError("payload shorter than header and body")
    if payload[0] != VERSION:
        raise WireFormatError(f"unsupported wire format version {payload[0]}")
    flags = payload[1]
    try:
        kind = Kind(flags & ~FLAG_DEFLATE)
    except ValueError:
        raise WireFormatError(f"unknown message kind {flags & ~FLAG_DEFLATE}") from None
    if expect is not None and kind is not expect:
        raise WireFormatError(f"expected a {expect.name} message, got {kind.name}")
    body = payload[2:]
    if flags & FLAG_DEFLATE:
        body = _inflate(body)
    stream = io.BytesIO(body)
    item = cbor2.CBORDecoder(stream).decode()
    if stream.tell() != len(body):
        raise WireFormatError("bytes after the CBOR item")
    return _DECODERS[kind](item)


def _inflate(body: bytes) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(body, MAX_INFLATED_BYTES)
    except zlib.error as exc:
        raise WireFormatError("corrupt deflate stream") from exc
    if inflater.unconsumed_tail:
        raise WireFormatError(f"inflates beyond {MAX_INFLATED_BYTES} bytes")
    if not inflater.eof or inflater.unused_data:
        raise WireFormatError("truncated or padded deflate stream")
    return out


def _decode_batch(item: Any) -> Batch:
    buoy, rows = _array(item, 2, "batch")
    _check_buoy(buoy, WireFormatError)
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_SAMPLES:
        raise WireFormatError(f"a batch holds 1..{MAX_SAMPLES} samples")
    samples: list[Sample] = []
    seen: set[int] = set()
    prev_seq = 0
    prev_utc = 0
    versions = (0, 0)
    last_scaled: dict[int, int] = {}
    for row in rows:
        if not isinstance(row, list) or len(row) not in (4, 6):
            raise WireFormatError("a sample is an array of 4 or 6 items")
        seq = prev_seq + _int(row[0], "seq delta")
        if not 1 <= seq <= MAX_SEQ or seq in seen:
            raise WireFormatError(f"seq {seq} out of range or repeated in batch")
        seen.add(seq)
        prev_seq = seq
        clock = _enum(ClockSource, row[1], "clock")
        boot = 0
        if clock is ClockSource.UNSYNCED:
            boot, time_ms = _array(row[2], 2, "unsynced time")
            boot = _int(boot, "boot")
            time_ms = _int(time_ms, "monotonic time")
            if not (0 <= boot <= MAX_SEQ and 0 <= time_ms <= MAX_MONOTONIC_MS):
                raise WireFormatError("unsynced time out of range")
        else:
            time_ms = prev_utc + _int(row[2], "time delta")
            prev_utc = time_ms
            if not MIN_UTC_MS <= time_ms <= MAX_UTC_MS:
                raise WireFormatError(f"time {time_ms} ms outside 2000..2200")
        if len(row) == 6:
            versions = (_int(row[4], "config version"), _int(row[5], "calibration version"))
            if not all(0 <= v <= MAX_SEQ for v in versions):
                raise WireFormatError("version out of range")
        values = _decode_values(row[3], last_scaled)
        samples.append(Sample(seq, time_ms, clock, values, boot, *versions))
    return Batch(buoy, tuple(samples))


def _decode_values(item: Any, last_scaled: dict[int, int]) -> dict[str, Value]:
    if not isinstance(item, dict):
        raise WireFormatError("values must be a map")
    values: dict[str, Value] = {}
    for code, entry in item.items():
        q = catalogue.by_code(code) if type(code) is int else None
        if q is None or q.derived:
            raise WireFormatError(f"unknown quantity code {code!r}")
        if isinstance(entry, list):
            delta, status_code = _array(entry, 2, "value with status")
            status = _enum(SensorStatus, status_code, "sensor status")
            if status is SensorStatus.OK:
                raise WireFormatError("an OK value is sent bare, not with a status")
        else:
            delta, status = entry, SensorStatus.OK
        if delta is None:
            if status is SensorStatus.OK:
                raise WireFormatError("an OK status needs a value")
            values[q.name] = Value(None, status)
            continue
        scaled = last_scaled.get(q.code, 0) + _int(delta, "value")
        if abs(scaled) > MAX_SCALED:
            raise WireFormatError(f"{q.name} value out of range")
        last_scaled[q.code] = scaled
        values[q.name] = Value(scaled / 10**q.decimals, status)
    return values


def _decode_stored(item: Any) -> StoredAck:
    buoy, flat = _array(item, 2, "stored ack")
    _check_buoy(buoy, WireFormatError)
    if not isinstance(flat, list) or len(flat) % 2 or len(flat) > 2 * MAX_SAMPLES:
        raise WireFormatError("stored ranges must be an even-length array")
    ranges: list[tuple[int, int]] = []
    prev_last = 0
    for i in range(0, len(flat), 2):
        first, last = _int(flat[i], "range start"), _int(flat[i + 1], "range end")
        if not prev_last < first <= last <= MAX_SEQ:
            raise WireFormatError("stored ranges must ascend without overlap")
        ranges.append((first, last))
        prev_last = last
    return StoredAck(buoy, tuple(ranges))


def _decode_status(item: Any) -> Status:
    m = _map(item, {"buoy", "online", "as_of", "valid_until", "next_report", "detail"}, "status")
    _check_buoy(m["buoy"], WireFormatError)
    if type(m["online"]) is not bool:
        raise WireFormatError("status.online must be a boolean")
    return Status(
        buoy=m["buoy"],
        online=m["online"],
        as_of_ms=_utc(m["as_of"], "status.as_of"),
        valid_until_ms=_optional_utc(m["valid_until"], "status.valid_until"),
        next_report_ms=_optional_utc(m["next_report"], "status.next_report"),
        detail=_detail(m["detail"]),
    )


def _decode_command(item: Any) -> Command:
    m = _map(item, {"id", "name", "args"}, "command")
    return Command(
        _text(m["id"], "command.id"), _text(m["name"], "command.name"), _detail(m["args"])
    )


def _decode_reply(item: Any) -> CommandReply:
    m = _map(item, {"id", "ok", "message", "result"}, "reply")
    if type(m["ok"]) is not bool:
        raise WireFormatError("reply.ok must be a boolean")
    return CommandReply(
        _text(m["id"], "reply.id"),
        m["ok"],
        _text(m["message"], "reply.message", allow_empty=True),
        _detail(m["result"]),
    )


_DECODERS: dict[Kind, Any] = {
    Kind.DATA: _decode_batch,
    Kind.STORED: _decode_stored,
    Kind.STATUS: _decode_status,
    Kind.COMMAND: _decode_command,
    Kind.REPLY: _decode_reply,
}


# ---------------------------------------------------------------- validation helpers


def _check_buoy(buoy: Any, error: type[Exception]) -> None:
    if not isinstance(buoy, str) or not is_valid_buoy_id(buoy):
        raise error(f"invalid buoy id {str(buoy)[:40]!r}")


def _array(item: Any, length: int, what: str) -> list[Any]:
    if not isinstance(item, list) or len(item) != length:
        raise WireFormatError(f"{what} must be an array of {length} items")
    return item


def _map(item: Any, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(item, dict) or set(item) != keys:
        raise WireFormatError(f"{what} must be a map with exactly the keys {sorted(keys)}")
    return item


def _int(item: Any, what: str) -> int:
    if type(item) is not int:
        raise WireFormatError(f"{what} must be an integer")
    return item


def _enum(enum: Any, item: Any, what: str) -> Any:
    try:
        return enum(_int(item, what))
    except ValueError:
        raise WireFormatError(f"unknown {what} {item}") from None


def _utc(item: Any, what: str) -> int:
    value = _int(item, what)
    if not MIN_UTC_MS <= value <= MAX_UTC_MS:
        raise WireFormatError(f"{what} outside 2000..2200")
    return value


def _optional_utc(item: Any, what: str) -> int | None:
    return None if item is None else _utc(item, what)


def _text(item: Any, what: str, allow_empty: bool = False) -> str:
    if not isinstance(item, str) or len(item) > MAX_TEXT or (not item and not allow_empty):
        raise WireFormatError(f"{what} must be a text of 1..{MAX_TEXT} characters")
    return item


def _detail(item: Any) -> dict[str, Any]:
    """A small nested map of scalars (health detail, command arguments and results)."""
    budget = [MAX_DETAIL_ENTRIES]

    def walk(node: Any, depth: int) -> Any:
        if isinstance(node, dict):
            if depth >= MAX_DETAIL_DEPTH:
                raise WireFormatError("detail nested too deeply")
            budget[0] -= len(node)
            if budget[0] < 0:
                raise WireFormatError("detail has too many entries")
            return {_text(k, "detail key"): walk(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            budget[0] -= len(node)
            if budget[0] < 0 or depth >= MAX_DETAIL_DEPTH:
                raise WireFormatError("detail list too long or too deep")
            return [walk(v, depth + 1) for v in node]
        if node is None or type(node) in (bool, int):
            return node
        if type(node) is float:
            if not math.isfinite(node):
                raise WireFormatError("detail numbers must be finite")
            return node
        if isinstance(node, str):
            return _text(node, "detail text", allow_empty=True)
        raise WireFormatError(f"detail holds a {type(node).__name__}")

    if not isinstance(item, dict):
        raise WireFormatError("detail must be a map")
    return walk(item, 0)  # type: ignore[no-any-return]
