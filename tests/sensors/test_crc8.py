"""Sensirion CRC-8 and word framing against the datasheet's vectors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.crc8 import crc8, decode_words, encode_words
from sensors.errors import ChecksumError, GarbageResponse

words = st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=6)


def test_crc_of_beef_is_the_datasheet_check_value_0x92() -> None:
    assert crc8(b"\xbe\xef") == 0x92


def test_crc_of_no_bytes_is_the_initial_value() -> None:
    assert crc8(b"") == 0xFF


@pytest.mark.parametrize(
    ("values", "wire"),
    [
        # 500 ppm, 25.0 °C, 50 %RH: the measurement frame worked out in SENSORS.md §3.1.
        ((0x01F4, 0x6666, 0x8000), "01F4 33 6666 93 8000 A2"),
        # FRC target 480 ppm and the FRC answer for -50 ppm (SCD4x datasheet p.13 example).
        ((480,), "01E0 B4"),
        ((0x7FCE,), "7FCE 7B"),
        # ASC enable argument (same page).
        ((1,), "0001 B0"),
    ],
)
def test_words_are_framed_big_endian_with_the_datasheet_crcs(
    values: tuple[int, ...], wire: str
) -> None:
    assert encode_words(*values) == bytes.fromhex(wire)
    assert decode_words(bytes.fromhex(wire)) == values


@given(words)
def test_decoding_an_encoded_frame_gives_back_the_words(values: list[int]) -> None:
    assert decode_words(encode_words(*values)) == tuple(values)


@given(words, st.data())
def test_any_single_bit_error_is_caught_as_a_checksum_error(
    values: list[int], data: st.DataObject
) -> None:
    frame = bytearray(encode_words(*values))
    bit = data.draw(st.integers(0, len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ChecksumError):
        decode_words(bytes(frame))


def test_a_frame_that_is_not_whole_words_is_garbage() -> None:
    with pytest.raises(GarbageResponse):
        decode_words(bytes.fromhex("01F433 66"))


def test_a_value_wider_than_16_bits_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="16-bit"):
        encode_words(0x10000)
