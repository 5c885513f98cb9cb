"""Fixing up a mutated ``.index`` so that mutations reach bundlefast's parsers: the Python
twin of ``FixUpIndex`` in ``fuzz_common.h`` (see there for the reasoning), for the atheris
harness.

A blind insertion or deletion inside a block shifts every later block, so the footer's
handles, the index block's handles and the trailer CRCs go stale and the reader stops at
"bad magic" or "block checksum mismatch". ``fix_up_index`` finds the one mutated block
(the first whose trailer no longer matches at its shifted place), gives it the size
change, rewrites the handles and the footer, and recomputes every trailer, reading a
Snappy-compressed index block through a small Snappy decoder. The mutated bytes stay.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from bundle_surgery import FOOTER_SIZE, snappy_uncompress, varint

MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")
TRAILER = 5
Crc = Callable[[bytes], int]  # masked CRC32C


def index_length(data: bytes) -> int:
    """Where the ``.index`` of a fuzz_bundle input ends: after the first magic number past
    the 4-byte length, else the length the input states."""
    stated = min(struct.unpack_from("<I", data)[0], len(data) - 4)
    at = data.find(MAGIC, 4 + FOOTER_SIZE - 8)
    return stated if at < 0 else at + 8 - 4


def _trailer_matches(f: bytes | bytearray, offset: int, size: int, crc: Crc) -> bool:
    if offset < 0 or size < 0 or offset + size + TRAILER > len(f):
        return False
    return struct.unpack_from("<I", f, offset + size + 1)[0] == crc(bytes(f[offset : offset + size + 1]))


def _fix_trailer(f: bytearray, offset: int, size: int, crc: Crc) -> None:
    if 0 <= offset and 0 <= size and offset + size + TRAILER <= len(f):
        struct.pack_into("<I", f, offset + size + 1, crc(bytes(f[offset : offset + size + 1])))


def _handle(value: bytes, pos: int = 0) -> tuple[tuple[int, int], int]:
    offset, pos = varint(value, pos)
    size, pos = varint(value, pos)
    return (offset, size), pos


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def _encode_handle(h: tuple[int, int]) -> bytes:
    return _encode_varint(h[0]) + _encode_varint(h[1])


def _block_entries(f: bytes | bytearray, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of the block at (offset, size): Snappy blocks (type 1) decompressed."""
    block = bytes(f[offset : offset + size])
    if f[offset + size] == 1:
        block = snappy_uncompress(block)
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise ValueError("bad restart count")
    out, key, pos = [], b"", 0
    while pos < limit:
        shared, pos = varint(block, pos, limit)
        non_shared, pos = varint(block, pos, limit)
        value_len, pos = varint(block, pos, limit)
        if shared > len(key) or pos + non_shared + value_len > limit:
            raise ValueError("bad entry")
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        out.append((key, block[pos : pos + value_len]))
        pos += value_len
    return out


def _encode_block(entries: list[tuple[bytes, bytes]]) -> bytes:
    """An uncompressed block, a restart at every entry (TF's index block layout)."""
    body, restarts = bytearray(), []
    for key, value in entries:
        restarts.append(len(body))
        body += b"\0" + _encode_varint(len(key)) + _encode_varint(len(value)) + key + value
    restarts = restarts or [0]
    return bytes(body) + b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))


def fix_block_trailers(index: bytes, crc: Crc) -> bytes:
    """Recompute the trailers of the metaindex and index blocks and of every data block
    the (possibly Snappy-compressed) index block names, as far as they decode."""
    f = bytearray(index)
    try:
        meta, pos = _handle(bytes(f[-FOOTER_SIZE:]))
        idx, _ = _handle(bytes(f[-FOOTER_SIZE:]), pos)
        for h in (meta, idx):
            _fix_trailer(f, *h, crc)
        for _, value in _block_entries(f, *idx):
            _fix_trailer(f, *_handle(value)[0], crc)
    except (ValueError, IndexError, struct.error):
        pass
    return bytes(f)


def fix_up_index(index: bytes, crc: Crc) -> bytes:
    """Re-lay handles and footer after an insertion or deletion, then fix every trailer."""
    n = len(index)
    if n < FOOTER_SIZE or index[-8:] != MAGIC:
        return fix_block_trailers(index, crc)
    f = bytearray(index)
    try:
        footer = bytes(f[-FOOTER_SIZE:-8])
        meta, pos = _handle(footer)
        idx, _ = _handle(footer, pos)
        blocks_end = n - FOOTER_SIZE - TRAILER
        if not _trailer_matches(f, blocks_end - idx[1], idx[1], crc):
            # The index block itself was mutated: the blocks before it did not move, only
            # its size changed (and its handles are whatever the mutation made them).
            idx = (idx[0], blocks_end - idx[0])
            out = f[: blocks_end + TRAILER] + (_encode_handle(meta) + _encode_handle(idx)).ljust(40, b"\0") + MAGIC
            return fix_block_trailers(bytes(out), crc)
        idx = (blocks_end - idx[1], idx[1])
        entries = [(k, _handle(v)[0]) for k, v in _block_entries(f, *idx)]
    except (ValueError, IndexError, struct.error):
        return fix_block_trailers(index, crc)
    sizes = [h[1] for _, h in entries] + [meta[1]]
    delta = idx[0] - sum(s + TRAILER for s in sizes)
    cursor, placed = 0, []
    for size in sizes:
        if delta and not _trailer_matches(f, cursor, size, crc):
            size += delta
            delta = 0
            if size < 0:
                return fix_block_trailers(index, crc)
        placed.append((cursor, size))
        cursor += size + TRAILER
    meta = placed.pop()
    out = bytearray(f[: idx[0]])
    if placed == [h for _, h in entries]:  # the index block's handles hold: keep its bytes
        out += f[idx[0] : idx[0] + idx[1] + TRAILER]
    else:
        block = _encode_block([(k, _encode_handle(h)) for (k, _), h in zip(entries, placed)])
        idx = (idx[0], len(block))
        out += block + bytes(TRAILER)
    out += (_encode_handle(meta) + _encode_handle(idx)).ljust(40, b"\0") + MAGIC
    return fix_block_trailers(bytes(out), crc)
