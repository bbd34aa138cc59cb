"""Property tests: the codec round-trips what buoys send and survives whatever anyone sends.

``decode`` promises one outcome for any bytes: a valid message or ``WireFormatError``. A valid
message must then re-encode, and decode back to itself, so the ingest never stores a reading
that differs from the one on the wire.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nemopi import catalogue, wire
from nemopi.sensor_status import SensorStatus
from nemopi.topics import BUOY_ID_RE
from nemopi.wire import (
    Batch,
    ClockSource,
    Command,
    CommandReply,
    Kind,
    Message,
    Sample,
    Status,
    StoredAck,
    Value,
    WireFormatError,
    decode,
    encode,
)

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.bin"))
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

buoys = st.from_regex(BUOY_ID_RE, fullmatch=True)
utc_ms = st.integers(wire.MIN_UTC_MS, wire.MAX_UTC_MS)
small_or_any = st.one_of(st.integers(0, 20), st.integers(0, wire.MAX_SEQ))


@st.composite
def values(draw: st.DrawFn) -> dict[str, Value]:
    """Readings quantised to their catalogue decimals, inside their physical range."""
    chosen = draw(st.lists(st.sampled_from(catalogue.measured()), unique=True, max_size=6))
    out: dict[str, Value] = {}
    for q in chosen:
        scale = 10**q.decimals
        scaled = draw(st.integers(round(q.valid_min * scale), round(q.valid_max * scale)))
        status = draw(st.sampled_from(SensorStatus))
        has_value = status is SensorStatus.OK or draw(st.booleans())
        out[q.name] = Value(scaled / scale if has_value else None, status)
    return out


@st.composite
def samples(draw: st.DrawFn, seq: int) -> Sample:
    clock = draw(st.sampled_from(ClockSource))
    if clock is ClockSource.UNSYNCED:
        time_ms = draw(st.integers(0, wire.MAX_MONOTONIC_MS))
        boot = draw(small_or_any)
    else:
        time_ms, boot = draw(utc_ms), 0
    return Sample(seq, time_ms, clock, draw(values()), boot, draw(small_or_any), draw(small_or_any))


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    seqs = draw(
        st.lists(st.integers(1, wire.MAX_SEQ), min_size=1, max_size=12, unique=True)
        | st.integers(1, 10**9).map(lambda first: list(range(first, first + 25)))
    )
    return Batch(draw(buoys), tuple(draw(samples(seq)) for seq in seqs))


@st.composite
def stored_acks(draw: st.DrawFn) -> StoredAck:
    bounds = sorted(draw(st.lists(st.integers(1, wire.MAX_SEQ), unique=True, max_size=20)))
    pairs = list(zip(bounds[::2], bounds[1::2], strict=False))
    singles = draw(st.booleans())
    return StoredAck(draw(buoys), tuple((b, b) for b, _ in pairs) if singles else tuple(pairs))


texts = st.text(max_size=12)
keys = st.text(min_size=1, max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
details = st.dictionaries(
    keys,
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=8,
    ).filter(lambda v: _depth(v) < wire.MAX_DETAIL_DEPTH),
    max_size=5,
)


def _depth(node: Any) -> int:
    if isinstance(node, dict):
        return 1 + max((_depth(v) for v in node.values()), default=0)
    if isinstance(node, list):
        return 1 + max((_depth(v) for v in node), default=0)
    return 0


optional_utc = st.none() | utc_ms
messages = st.one_of(
    batches(),
    stored_acks(),
    st.builds(Status, buoys, st.booleans(), utc_ms, optional_utc, optional_utc, details),
    st.builds(Command, st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20), details),
    st.builds(CommandReply, st.text(min_size=1, max_size=20), st.booleans(), texts, details),
)


def decodes_safely(payload: bytes) -> Message | None:
    """The message in ``payload`` or None, asserting that any failure is a WireFormatError."""
    try:
        message = decode(payload)
    except WireFormatError:
        return None
    # Whatever a decoder accepts is a message the encoder reproduces exactly.
    assert decode(encode(message)) == message
    return message


# ---------------------------------------------------------------- round trips


@FAST
@given(batches())
def test_quantised_batch_comes_back_exactly(batch: Batch) -> None:
    assert decode(encode(batch), expect=Kind.DATA) == batch


@FAST
@given(messages)
def test_reencoding_a_decoded_message_gives_the_same_bytes(message: Message) -> None:
    payload = encode(message)
    assert encode(decode(payload)) == payload
    assert decode(payload) == message


@FAST
@given(batches(), st.data())
def test_decoded_values_equal_the_value_rounded_to_its_decimals(
    batch: Batch, data: st.DataObject
) -> None:
    first = batch.samples[0]
    noisy = {
        name: Value(
            None if v.value is None else v.value + data.draw(st.floats(-0.49, 0.49)) / 10**dec,
            v.status,
        )
        for name, v in first.values.items()
        for dec in [catalogue.by_name(name).decimals]
    }
    out = decode(encode(Batch(batch.buoy, (Sample(1, first.time_ms, first.clock, noisy),))))
    assert isinstance(out, Batch)
    assert out.samples[0].values == first.values


# ---------------------------------------------------------------- arbitrary input


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_wire_format_error(payload: bytes) -> None:
    decodes_safely(payload)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Kind)), st.booleans(), st.binary(max_size=200))
def test_arbitrary_body_behind_a_valid_header_is_handled(
    kind: Kind, deflated: bool, body: bytes
) -> None:
    if deflated:
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = packer.compress(body) + packer.flush()
    decodes_safely(bytes((wire.VERSION, kind | (wire.FLAG_DEFLATE if deflated else 0))) + body)


cbor_items = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=6)
    | st.binary(max_size=4),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.integers(-2, 25), inner),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Kind)), cbor_items)
def test_wrong_types_anywhere_in_the_structure_raise_wire_format_error(
    kind: Kind, item: Any
) -> None:
    decodes_safely(bytes((wire.VERSION, kind)) + cbor2.dumps(item))


@FAST
@given(st.sampled_from(GOLDEN), st.data())
def test_any_truncation_of_a_valid_payload_is_rejected_or_decoded(
    path: Path, data: st.DataObject
) -> None:
    payload = path.read_bytes()
    cut = data.draw(st.integers(0, len(payload) - 1))
    assert decodes_safely(payload[:cut]) is None


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(GOLDEN), st.data())
def test_any_single_byte_change_is_rejected_or_decoded(path: Path, data: st.DataObject) -> None:
    payload = bytearray(path.read_bytes())
    where = data.draw(st.integers(0, len(payload) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != payload[where]))
    payload[where] = new
    decodes_safely(bytes(payload))


@FAST
@given(batches(), st.data())
def test_a_changed_value_byte_never_decodes_to_the_original(
    batch: Batch, data: st.DataObject
) -> None:
    payload = encode(batch)
    if payload[1] & wire.FLAG_DEFLATE:
        payload = bytes((wire.VERSION, Kind.DATA)) + zlib.decompress(payload[2:], -15)
    changed = bytearray(payload)
    where = data.draw(st.integers(2, len(changed) - 1))
    changed[where] ^= data.draw(st.integers(1, 255))
    assert decodes_safely(bytes(changed)) != batch


# ---------------------------------------------------------------- hostile structures


def data_payload(item: Any) -> bytes:
    return bytes((wire.VERSION, Kind.DATA)) + cbor2.dumps(item)


def row(*extra: Any, values: Any = None) -> list[Any]:
    return [1, int(ClockSource.GPS), 1_772_344_800_000, {} if values is None else values, *extra]


def deflated(kind: Kind, body: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return bytes((wire.VERSION, kind | wire.FLAG_DEFLATE)) + packer.compress(body) + packer.flush()


def bomb() -> bytes:
    """A valid CBOR text of 4 MiB: inflates far past the cap from a few kilobytes."""
    size = 4 * 1024 * 1024
    return deflated(Kind.COMMAND, b"\x7a" + size.to_bytes(4, "big") + b"a" * size)


HOSTILE: dict[str, bytes] = {
    "array declaring 2**63 items": bytes((1, 1)) + b"\x9b\x7f" + b"\xff" * 7,
    "text declaring 2**63 bytes": bytes((1, 3)) + b"\x7b\x7f" + b"\xff" * 7,
    "map declaring 2**32 entries": bytes((1, 4)) + b"\xba\xff\xff\xff\xff\x01",
    "nesting 100,000 deep": bytes((1, 1)) + b"\x81" * 100_000,
    "nesting inside a deflated body": deflated(Kind.DATA, b"\x81" * 200_000),
    "deflate bomb over the inflate cap": bomb(),
    "payload over the size cap": bytes((1, 1)) + b"\x00" * wire.MAX_PAYLOAD_BYTES,
    "deflate stream with trailing bytes": deflated(Kind.DATA, cbor2.dumps(["b", [row()]]))
    + b"\x00",
    "truncated deflate stream": deflated(Kind.DATA, cbor2.dumps(["b", [row()]]))[:-2],
    "indefinite array never closed": bytes((1, 1)) + b"\x9f\x01\x02",
    "NaN value": data_payload(["b", [row(values={1: math.nan})]]),
    "infinite value": data_payload(["b", [row(values={1: math.inf})]]),
    "float time": data_payload(["b", [[1, 1, 1.7e12, {}]]]),
    "NaN in status detail": bytes((1, 3))
    + cbor2.dumps(
        {
            "buoy": "b",
            "online": True,
            "as_of": 1_772_344_800_000,
            "valid_until": None,
            "next_report": None,
            "detail": {"x": math.nan},
        }
    ),
    "boolean as seq delta": data_payload(["b", [[True, 1, 1_772_344_800_000, {}]]]),
    "boolean as quantity code": data_payload(["b", [row(values={True: 5})]]),
    "text as quantity code": data_payload(["b", [row(values={"ph": 5})]]),
    "unknown quantity code": data_payload(["b", [row(values={99: 5})]]),
    "derived quantity code": data_payload(["b", [row(values={6: 5})]]),
    "unknown sensor status": data_payload(["b", [row(values={1: [5, 99]})]]),
    "unknown clock source": data_payload(["b", [[1, 9, 1_772_344_800_000, {}]]]),
    "repeated seq": data_payload(["b", [row(), [0, 1, 0, {}]]]),
    "seq stepping below 1": data_payload(["b", [row(), [-1, 1, 0, {}]]]),
    "seq beyond 2**63 - 1": data_payload(["b", [[2**63, 1, 1_772_344_800_000, {}]]]),
    "value beyond the scaled limit": data_payload(["b", [row(values={13: 2**50 + 1})]]),
    "negative version": data_payload(["b", [row(-1, 0)]]),
    "unknown tag as a value": data_payload(["b", [row(values={1: cbor2.CBORTag(4000, 5)})]]),
    "date tag as time": data_payload(["b", [[1, 1, cbor2.CBORTag(1, 1.7e9), {}]]]),
    "empty batch": data_payload(["b", []]),
    "5001 samples": deflated(
        Kind.DATA, cbor2.dumps(["b", [row(), *([1, 1, 60_000, {}] for _ in range(5000))]])
    ),
    "upper-case buoy id": data_payload(["Reef", [row()]]),
    "buoy id with a newline": data_payload(["reef\n", [row()]]),
    "buoy id with a wildcard": data_payload(["reef/#", [row()]]),
    "stored ranges overlapping": bytes((1, 2)) + cbor2.dumps(["b", [1, 5, 5, 9]]),
    "stored range reversed": bytes((1, 2)) + cbor2.dumps(["b", [9, 5]]),
    "stored odd length": bytes((1, 2)) + cbor2.dumps(["b", [1, 5, 9]]),
    "command with an extra key": bytes((1, 4))
    + cbor2.dumps({"id": "c", "name": "n", "args": {}, "sudo": True}),
    "detail nested four deep": bytes((1, 4))
    + cbor2.dumps({"id": "c", "name": "n", "args": {"a": {"b": {"c": {}}}}}),
    "detail with 257 entries": bytes((1, 4))
    + cbor2.dumps({"id": "c", "name": "n", "args": {"a": list(range(257))}}),
    "detail text over 256 characters": bytes((1, 4))
    + cbor2.dumps({"id": "c", "name": "n", "args": {"a": "x" * 257}}),
}


@pytest.mark.parametrize("payload", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_payload_raises_wire_format_error(payload: bytes) -> None:
    with pytest.raises(WireFormatError):
        decode(payload)


def test_deflate_bomb_is_small_on_the_wire_and_stopped_at_the_cap() -> None:
    payload = bomb()
    assert len(payload) < wire.MAX_PAYLOAD_BYTES
    with pytest.raises(WireFormatError, match="inflates beyond"):
        decode(payload)


def test_hostile_fixtures_are_well_formed_apart_from_their_one_fault() -> None:
    """The structural fixtures above differ from a valid batch only where their name says."""
    assert isinstance(decode(data_payload(["b", [row()]])), Batch)
    assert isinstance(decode(data_payload(["b", [row(3, 4, values={13: 2**50})]])), Batch)
    assert isinstance(
        decode(bytes((1, 4)) + cbor2.dumps({"id": "c", "name": "n", "args": {"a": {"b": {}}}})),
        Command,
    )
