"""Sensirion's CRC-8 and the CRC-protected 16-bit words of its I2C protocol.

Every 16-bit data word a Sensirion sensor sends, and every argument word it accepts, travels
big-endian and is followed by a CRC-8 of its two bytes: polynomial 0x31 (x^8 + x^5 + x^4 + 1),
initial value 0xFF, no reflection, no final XOR; the datasheet's check value is
CRC(0xBEEF) = 0x92 (SCD4x datasheet p.19, [C5] in SENSORS.md). Command codes carry no CRC.

Pure: bytes in, integers out, so the driver and its emulator share one definition and the
byte-level tests pin it to the datasheet.
"""

from __future__ import annotations

from sensors.errors import ChecksumError, GarbageResponse

POLYNOMIAL = 0x31
INITIAL = 0xFF
WORD_BYTES = 3  # two data bytes, one CRC


def crc8(data: bytes) -> int:
    """The Sensirion CRC-8 of ``data``."""
    crc = INITIAL
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ POLYNOMIAL) if crc & 0x80 else (crc << 1)
            crc &= 0xFF
    return crc


def encode_words(*words: int) -> bytes:
    """Each word as two big-endian bytes followed by its CRC."""
    out = bytearray()
    for word in words:
        if not 0 <= word <= 0xFFFF:
            raise ValueError(f"not a 16-bit word: {word}")
        pair = word.to_bytes(2, "big")
        out += pair
        out.append(crc8(pair))
    return bytes(out)


def decode_words(frame: bytes) -> tuple[int, ...]:
    """The words of ``frame``; ``ChecksumError`` names the first word whose CRC does not match."""
    if len(frame) % WORD_BYTES:
        raise GarbageResponse(f"{len(frame)} bytes is not a whole number of words", frame)
    words = []
    for index in range(0, len(frame), WORD_BYTES):
        pair, crc = frame[index : index + 2], frame[index + 2]
        if crc8(pair) != crc:
            raise ChecksumError(
                f"word {index // WORD_BYTES}: CRC {crc:#04x}, expected {crc8(pair):#04x}", frame
            )
        words.append(int.from_bytes(pair, "big"))
    return tuple(words)
