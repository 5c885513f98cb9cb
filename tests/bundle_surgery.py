"""Reading and re-checksumming the inside of a written bundle, for corruption tests.

`bundle_builder` writes bundles; this module takes existing ones (TF-written fixtures)
apart just far enough to aim damage: the (key, value) entries of an uncompressed index,
each entry's payload location, and the block trailers, which it can recompute so that a
mutated index still passes the block checksums ("consistent checksums" damage). Like
the builder, it does not use bundlefast to parse anything; only the CRC function is
passed in, so callers can use a fast one.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

FOOTER_SIZE = 48


def varint(data: bytes, pos: int, end: int | None = None) -> tuple[int, int]:
    """(value, next position) of the varint at `pos`; ValueError if malformed or past `end`."""
    end = len(data) if end is None else min(end, len(data))
    value = shift = 0
    while pos < end and shift < 70:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos
    raise ValueError("bad varint")


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * restarts
    out, key, pos = [], b"", 0
    while 0 <= pos < limit:
        shared, pos = varint(block, pos, limit)
        non_shared, pos = varint(block, pos, limit)
        value_len, pos = varint(block, pos, limit)
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        out.append((key, block[pos : pos + value_len]))
        pos += value_len
    return out


def _footer_handles(index: bytes) -> tuple[tuple[int, int], tuple[int, int]]:
    f = len(index) - FOOTER_SIZE
    if f < 0:
        raise ValueError("too short")
    meta_offset, pos = varint(index, f, f + 40)
    meta_size, pos = varint(index, pos, f + 40)
    offset, pos = varint(index, pos, f + 40)
    size, _ = varint(index, pos, f + 40)
    return (meta_offset, meta_size), (offset, size)


def data_block_handles(index: bytes) -> list[tuple[int, int]]:
    """(offset, size) of every data block the index block names."""
    _, (offset, size) = _footer_handles(index)
    handles = []
    for _, value in _block_entries(index[offset : offset + size]):
        block_offset, pos = varint(value, 0)
        block_size, _ = varint(value, pos)
        handles.append((block_offset, block_size))
    return handles


def index_entries(index: bytes) -> list[tuple[bytes, bytes]]:
    """(key, value) of every entry of an uncompressed index, the header ("") first."""
    entries = []
    for offset, size in data_block_handles(index):
        entries += _block_entries(index[offset : offset + size])
    return entries


@dataclass(frozen=True)
class Payload:
    shard: int
    offset: int
    size: int


def fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Top-level (field number, value) pairs of a serialized proto: ints for varints,
    bytes for length-delimited and fixed-width fields."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        value: int | bytes
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 2:
            n, pos = varint(buf, pos)
            value, pos = buf[pos : pos + n], pos + n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            value, pos = buf[pos : pos + n], pos + n
        else:
            raise ValueError(f"wire type {wire}")
        out.append((field, value))
    return out


def entry_payload(value: bytes) -> Payload:
    """shard_id / offset / size of a serialized BundleEntryProto (fields 3, 4, 5)."""
    found = {3: 0, 4: 0, 5: 0}
    for field, v in fields(value):
        if field in found and isinstance(v, int):
            found[field] = v
    return Payload(found[3], found[4], found[5])


def fix_block_trailers(index: bytes, masked_crc32c: Callable[[bytes], int]) -> bytes:
    """Recompute the trailer CRC of the index block and of every data block it names,
    as far as they decode; whatever does not decode is left alone."""
    out = bytearray(index)

    def fix(offset: int, size: int) -> bool:
        if offset < 0 or size < 0 or offset + size + 5 > len(out):
            return False
        out[offset + size + 1 : offset + size + 5] = struct.pack("<I", masked_crc32c(bytes(out[offset : offset + size + 1])))
        return True

    try:
        _, (offset, size) = _footer_handles(bytes(out))
        if not fix(offset, size):
            return bytes(out)
        for handle_offset, handle_size in data_block_handles(bytes(out)):
            fix(handle_offset, handle_size)
    except (ValueError, IndexError, struct.error):
        pass
    return bytes(out)


def snappy_uncompress(data: bytes) -> bytes:
    """A raw Snappy block (preamble length, literals and copies); ValueError if malformed."""
    n, pos = varint(data, 0)
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            length = (tag >> 2) + 1
            if length > 60:
                extra = length - 60
                length = int.from_bytes(data[pos : pos + extra], "little") + 1
                pos += extra
            if pos + length > len(data):
                raise ValueError("literal past the end")
            out += data[pos : pos + length]
            pos += length
            continue
        width = (1, 2, 4)[kind - 1]
        if pos + width > len(data):
            raise ValueError("copy past the end")
        if kind == 1:
            length, offset = 4 + ((tag >> 2) & 7), ((tag >> 5) << 8) | data[pos]
        else:
            length, offset = (tag >> 2) + 1, int.from_bytes(data[pos : pos + width], "little")
        pos += width
        if offset == 0 or offset > len(out) or len(out) + length > n:
            raise ValueError("bad copy")
        for _ in range(length):  # copies may overlap their own output
            out.append(out[-offset])
    if len(out) != n:
        raise ValueError("length mismatch")
    return bytes(out)
