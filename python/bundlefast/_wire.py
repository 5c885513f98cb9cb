"""The one Python reader of the protobuf wire format (varints and fields).

Every proto bundlefast decodes in Python (the TF2 object graph, the ``.meta``
MetaGraphDef, ...) goes through these few functions: bounds-checked, and raising
:class:`~bundlefast.CorruptionError` naming ``what`` and the byte offset on
malformed input. Unknown fields are the caller's to skip, as protobuf does. We do
not depend on the protobuf package.
"""

from __future__ import annotations

from collections.abc import Iterator

from .errors import CorruptionError

WIRE_VARINT, WIRE_FIXED64, WIRE_LEN, WIRE_FIXED32 = 0, 1, 2, 5


def varint(buf: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """Decode a base-128 varint (at most 10 bytes, < 2**64) at ``pos``."""
    result = 0
    for i in range(10):
        if pos >= end:
            raise CorruptionError(f"{what}: truncated varint at byte {pos}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << (7 * i)
        if b < 0x80:
            if i == 9 and b > 1:
                raise CorruptionError(f"{what}: varint overflows 64 bits at byte {pos - 1}")
            return result, pos
    raise CorruptionError(f"{what}: varint longer than 10 bytes at byte {pos - 10}")


def fields(buf: bytes, start: int, end: int, what: str) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field number, wire type, value or start, end)`` for each field of the
    message in ``buf[start:end]``. For varints and fixed fields the third item is the
    value; for length-delimited fields it is the payload's start (payload: ``[v, end)``)."""
    pos = start
    while pos < end:
        key_at = pos
        key, pos = varint(buf, pos, end, what)
        number, wire = key >> 3, key & 7
        if number == 0 or number > 0x1FFFFFFF:
            raise CorruptionError(f"{what}: invalid field number {number} at byte {key_at}")
        if wire == WIRE_VARINT:
            value, pos = varint(buf, pos, end, what)
            yield number, wire, value, pos
        elif wire == WIRE_LEN:
            length, pos = varint(buf, pos, end, what)
            if length > end - pos:
                raise CorruptionError(
                    f"{what}: field {number} at byte {key_at} claims {length} bytes, only {end - pos} remain"
                )
            yield number, wire, pos, pos + length
            pos += length
        elif wire in (WIRE_FIXED64, WIRE_FIXED32):
            size = 8 if wire == WIRE_FIXED64 else 4
            if size > end - pos:
                raise CorruptionError(f"{what}: truncated fixed{size * 8} field {number} at byte {key_at}")
            yield number, wire, int.from_bytes(buf[pos : pos + size], "little"), pos + size
            pos += size
        else:  # 3/4: groups (never used by these protos); 6/7: invalid
            raise CorruptionError(f"{what}: unsupported wire type {wire} (field {number}) at byte {key_at}")


def int32(value: int) -> int:
    """A varint as protobuf's int32: keep the low 32 bits, signed."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def decode_str(buf: bytes, start: int, end: int) -> str:
    # surrogateescape, like the names the reader returns, so keys always compare equal.
    return buf[start:end].decode("utf-8", "surrogateescape")
