"""Wire format v1 against its golden vectors, its rules and its documentation.

The golden vectors in ``golden/`` freeze the format: any change to the bytes a message
encodes to fails here. docs/wire-format.md is checked against the code it describes.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cbor2
import pytest

from nemopi import catalogue, wire
from nemopi.sensor_status import SensorStatus
from nemopi.topics import Channel
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

GOLDEN_DIR = Path(__file__).parent / "golden"
DOC = Path(__file__).parents[2] / "docs" / "wire-format.md"
T0 = 1_772_344_800_000  # 2026-03-01T06:00:00Z
GOLDEN_NAMES = (
    "data_worked_example",
    "data_clock_sources",
    "data_sensor_faults",
    "data_version_changes",
    "data_negative_deltas",
    "data_hour_deflated",
    "stored_ranges",
    "status_online",
    "status_offline_will",
    "command_set_interval",
    "reply_ok",
    "reply_refused",
)


# ---------------------------------------------------------------- messages as JSON


def message_to_json(message: Message) -> dict[str, Any]:
    """``{"kind": ..., "message": ...}`` with enums by name: the golden ``.json`` layout."""

    def plain(node: Any) -> Any:
        if isinstance(node, ClockSource | SensorStatus):
            return node.name
        if hasattr(node, "__dataclass_fields__"):
            return {name: plain(getattr(node, name)) for name in node.__dataclass_fields__}
        if isinstance(node, Mapping):
            return {key: plain(value) for key, value in node.items()}
        if isinstance(node, tuple | list):
            return [plain(item) for item in node]
        return node

    return {"kind": wire._KIND_OF[type(message)].name, "message": plain(message)}


def message_from_json(document: Mapping[str, Any]) -> Message:
    m = document["message"]
    kind = Kind[document["kind"]]
    if kind is Kind.DATA:
        samples = tuple(
            Sample(
                seq=s["seq"],
                time_ms=s["time_ms"],
                clock=ClockSource[s["clock"]],
                values={
                    name: Value(v["value"], SensorStatus[v["status"]])
                    for name, v in s["values"].items()
                },
                boot=s["boot"],
                config_version=s["config_version"],
                calibration_version=s["calibration_version"],
            )
            for s in m["samples"]
        )
        return Batch(m["buoy"], samples)
    if kind is Kind.STORED:
        return StoredAck(m["buoy"], tuple((first, last) for first, last in m["ranges"]))
    if kind is Kind.STATUS:
        return Status(**m)
    if kind is Kind.COMMAND:
        return Command(**m)
    return CommandReply(**m)


def golden(name: str) -> tuple[bytes, dict[str, Any]]:
    payload = (GOLDEN_DIR / f"{name}.bin").read_bytes()
    document = json.loads((GOLDEN_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return payload, document


def inflate(payload: bytes) -> bytes:
    return zlib.decompress(payload[2:], -15)


def cbor_body(payload: bytes) -> bytes:
    return inflate(payload) if payload[1] & wire.FLAG_DEFLATE else payload[2:]


# ---------------------------------------------------------------- golden vectors


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden_payload_decodes_to_its_expected_message(name: str) -> None:
    payload, document = golden(name)
    assert decode(payload) == message_from_json(document)


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden_message_encodes_to_the_committed_bytes(name: str) -> None:
    payload, document = golden(name)
    encoded = encode(message_from_json(document))
    assert cbor_body(encoded) == cbor_body(payload)
    assert encoded == payload, (
        f"same CBOR, different deflate stream: is zlib {zlib.ZLIB_RUNTIME_VERSION} a "
        "different implementation (zlib-ng)? Receivers must compare inflated bodies."
    )


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden_json_is_exactly_what_the_message_serialises_to(name: str) -> None:
    _, document = golden(name)
    assert {"description", "kind", "message"} == set(document)
    assert message_to_json(message_from_json(document)) == {
        "kind": document["kind"],
        "message": document["message"],
    }


def test_golden_vectors_cover_every_kind_and_both_compression_modes() -> None:
    headers = {golden(name)[0][1] for name in GOLDEN_NAMES}
    assert {h & ~wire.FLAG_DEFLATE for h in headers} == set(Kind)
    assert Kind.DATA | wire.FLAG_DEFLATE in headers
    assert Kind.DATA in headers


def test_no_golden_file_lies_outside_the_checked_list() -> None:
    on_disk = {p.stem for p in GOLDEN_DIR.iterdir() if p.suffix in (".bin", ".json")}
    assert on_disk == set(GOLDEN_NAMES)


# ---------------------------------------------------------------- encoding rules


def batch(*samples: Sample) -> Batch:
    return Batch("reef-01", samples)


def sample(seq: int = 1, **values: Value) -> Sample:
    return Sample(seq, T0 + seq * 60_000, ClockSource.GPS, values)


def test_small_message_is_sent_raw_and_large_batch_deflated() -> None:
    small = encode(batch(sample(ph=Value(8.1))))
    large = encode(batch(*(sample(i, ph=Value(8.1), turbidity=Value(1.5)) for i in range(1, 200))))
    assert small[1] == Kind.DATA
    assert large[1] == Kind.DATA | wire.FLAG_DEFLATE
    assert len(inflate(large)) > len(large) - 2


@pytest.mark.parametrize(
    ("value", "decoded"),
    [(8.0514, 8.051), (8.0516, 8.052), (-0.0004, 0.0), (7.0, 7.0)],
)
def test_values_travel_rounded_to_the_catalogue_decimals(value: float, decoded: float) -> None:
    out = decode(encode(batch(sample(ph=Value(value)))))
    assert isinstance(out, Batch)
    assert out.samples[0].values["ph"].value == decoded


def test_boot_number_travels_only_with_unsynced_time() -> None:
    unsynced = Sample(1, 1234, ClockSource.UNSYNCED, {}, boot=9)
    synced = Sample(2, T0, ClockSource.BACKFILLED, {}, boot=9)
    out = decode(encode(batch(unsynced, synced)))
    assert isinstance(out, Batch)
    assert [s.boot for s in out.samples] == [9, 0]


def test_versions_are_carried_forward_not_repeated() -> None:
    rows = [
        Sample(i, T0 + i, ClockSource.NTP, {}, config_version=4, calibration_version=2)
        for i in range(1, 4)
    ]
    payload = encode(batch(*rows))
    body = cbor2.loads(cbor_body(payload))
    assert [len(row) for row in body[1]] == [6, 4, 4]
    assert decode(payload) == batch(*rows)


UNDECODABLE_MESSAGES: list[tuple[Message, str]] = [
    (batch(), "1..5000"),
    (batch(sample(1), sample(1)), "repeated"),
    (batch(Sample(1, 0, ClockSource.NTP, {})), "2000..2200"),
    (batch(Sample(0, T0, ClockSource.NTP, {})), "seq 0"),
    (batch(sample(ph=Value(None))), "needs a value"),
    (batch(sample(ph=Value(math.nan))), "not finite"),
    (batch(sample(ph=Value(1e300))), "out of range"),
    (batch(sample(visibility=Value(12.0))), "derived"),
    (batch(sample(salinity=Value(35.0))), "unknown quantity"),
    (Batch("Reef 01", (sample(),)), "buoy id"),
    (StoredAck("reef-01", ((5, 9), (1, 2))), "ascend"),
    (StoredAck("reef-01", ((0, 2),)), "ascend"),
    (Status("reef-01", True, 12), "as_of"),
    (Status("reef-01", True, T0, detail={"nan": math.inf}), "finite"),
    (Status("reef-01", True, T0, detail={"blob": b"\x00"}), "bytes"),
    (Command("", "set_interval"), "command.id"),
    (CommandReply("c-1", True, "x" * 300), "reply.message"),
    (Command("c-1", "set_interval", {"seconds": object()}), "not encodable as CBOR"),
]


@pytest.mark.parametrize(
    ("message", "complaint"), UNDECODABLE_MESSAGES, ids=[c for _, c in UNDECODABLE_MESSAGES]
)
def test_encode_refuses_a_message_no_decoder_would_accept(message: Message, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        encode(message)


# ---------------------------------------------------------------- decoding rules


VALID = bytes.fromhex("0101") + cbor2.dumps(["reef-01", [[1, 1, T0, {1: 8100}]]])


def test_hand_built_payload_decodes() -> None:
    assert decode(VALID) == batch(Sample(1, T0, ClockSource.GPS, {"ph": Value(8.1)}))


BAD_PAYLOADS: list[tuple[bytes, str]] = [
    (b"", "shorter"),
    (VALID + b"\x00", "after the CBOR item"),
    (b"\x02" + VALID[1:], "version 2"),
    (b"\x01\x06" + VALID[2:], "kind 6"),
    (b"\x01\x41" + VALID[2:], "kind 65"),
    (b"\x01\x81" + VALID[2:], "deflate"),
    (VALID[:2] + cbor2.dumps(["reef-01", [[1, 1, T0, {1: [8100, 0]}]]]), "sent bare"),
    (VALID[:2] + cbor2.dumps(["reef-01", [[1, 1, T0, {1: None}]]]), "needs a value"),
    (VALID[:2] + cbor2.dumps(["reef-01", [[1, 1, T0, {4: 12}]]]), "unknown quantity"),
    (VALID[:2] + cbor2.dumps(["reef-01", [[1, 1, T0, {1: 8.1}]]]), "integer"),
    (VALID[:2] + cbor2.dumps(["reef-01", [[1, 1, T0, {}, 1]]]), "4 or 6"),
    (VALID[:2] + cbor2.dumps(["reef-01", [[1, 0, 5, {}]]]), "unsynced time"),
]


@pytest.mark.parametrize(("payload", "complaint"), BAD_PAYLOADS, ids=[c for _, c in BAD_PAYLOADS])
def test_decode_names_what_is_wrong(payload: bytes, complaint: str) -> None:
    with pytest.raises(WireFormatError, match=re.escape(complaint)):
        decode(payload)


def test_decode_rejects_a_valid_message_of_an_unexpected_kind() -> None:
    with pytest.raises(WireFormatError, match="expected a STATUS message, got DATA"):
        decode(VALID, expect=Kind.STATUS)
    assert isinstance(decode(VALID, expect=Kind.DATA), Batch)


# ---------------------------------------------------------------- the document


def doc_section(heading: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#+ |\Z)", text, re.M | re.S)
    assert match, f"no section {heading!r} in {DOC.name}"
    return match.group(1)


def doc_table(heading: str) -> list[dict[str, str]]:
    """The first table under ``heading``, as one dict per row."""
    text = doc_section(heading)
    start = text.index("\n|") + 1
    lines = list(itertools.takewhile(lambda ln: ln.startswith("|"), text[start:].splitlines()))
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip().strip("`") for cell in ln.strip("|").split("|")] for ln in lines[2:]]
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_doc_quantity_table_matches_the_catalogue() -> None:
    documented = [
        (int(r["code"]), r["name"], r["unit"], int(r["decimals"]), r["sent"], r["CF standard name"])
        for r in doc_table("Quantity codes")
    ]
    expected = [
        (
            q.code,
            q.name,
            q.unit,
            q.decimals,
            "no (derived)" if q.derived else "yes",
            q.cf_standard_name or "-",
        )
        for q in catalogue.CATALOGUE
    ]
    assert documented == expected


@pytest.mark.parametrize(
    ("heading", "enum"),
    [("Sensor status codes", SensorStatus), ("Clock sources", ClockSource), ("Kinds", Kind)],
)
def test_doc_code_tables_match_the_enums(heading: str, enum: Any) -> None:
    documented = [(int(r["code"]), r["name"]) for r in doc_table(heading)]
    assert documented == [(member.value, member.name) for member in enum]


def test_doc_sensor_status_table_says_which_statuses_carry_a_value() -> None:
    documented = {r["name"]: r["value"] for r in doc_table("Sensor status codes")}
    assert documented == {s.name: "may" if s.has_value else "none" for s in SensorStatus}


def test_doc_limits_match_the_codec() -> None:
    documented = {r["constant"]: int(r["value"].replace(",", "")) for r in doc_table("Limits")}
    assert documented == {name: getattr(wire, name) for name in documented}
    assert set(documented) >= {"MAX_PAYLOAD_BYTES", "MAX_INFLATED_BYTES", "MAX_SAMPLES"}


def test_doc_topic_table_lists_every_channel() -> None:
    documented = [r["topic"].removeprefix("<prefix>/<buoy>/") for r in doc_table("Topics")]
    assert documented == [channel.value for channel in Channel]


def test_doc_worked_example_shows_the_golden_bytes() -> None:
    section = doc_section("Worked example")
    payload, _ = golden("data_worked_example")
    dump = re.search(r"```text\n([0-9a-f ]+)\n```", section)
    assert dump and bytes.fromhex(dump.group(1)) == payload
    annotated = re.search(r"```text\n(offset.*?)```", section, re.S)
    assert annotated
    listed = "".join(
        line[8:].split("  ")[0] for line in annotated.group(1).splitlines()[1:] if line.strip()
    )
    assert bytes.fromhex(listed) == payload
