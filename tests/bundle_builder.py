"""Independent pure-Python writer of TensorFlow V2 tensor bundles, used as a test oracle.

Why this exists: TensorFlow on this machine only writes valid, little-endian, uncompressed,
unpadded bundles. The reader under test must also handle big-endian payloads, Snappy index
blocks, alignment padding and every kind of broken input. This module writes all of those
(and what TF does write, byte for byte the same), following /work/shared/FORMAT.md; section
numbers below refer to it.

It deliberately imports nothing from bundlefast, including its CRC: a bug shared by the
reader and its oracle would be invisible. Everything here is slow and simple on purpose.

Example:
    b = BundleBuilder(big_endian=True)
    b.add("w", np.arange(6, dtype=np.float32).reshape(2, 3))
    written = b.write(tmp_path / "ckpt")      # ckpt.index, ckpt.data-00000-of-00001
    written["w"].offset                       # where to flip a byte for a CRC test
"""

from __future__ import annotations

import enum
import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ml_dtypes
import numpy as np

# --------------------------------------------------------------------------- CRC-32C (5)

_CRC_POLY_REFLECTED = 0x82F63B78
_MASK_DELTA = 0xA282EAD8


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC_POLY_REFLECTED if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C of `data`, continuing from the CRC `crc` of the bytes before it (TF Extend)."""
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mask(crc: int) -> int:
    """Masked form in which every CRC is stored in a bundle: rotate right 15, add delta."""
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def unmask(masked: int) -> int:
    """Inverse of `mask`; TF error messages print unmasked CRCs."""
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    return mask(crc32c(data))


# ------------------------------------------------------------------ varints and protos (3)


def encode_varint(value: int) -> bytes:
    """Protobuf/LevelDB base-128 varint; negative values use the 10-byte two's complement."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _fixed32(value: int, big_endian: bool = False) -> bytes:
    return value.to_bytes(4, "big" if big_endian else "little")


def _tag(field: int, wire_type: int) -> bytes:
    return encode_varint(field << 3 | wire_type)


def _int_field(field: int, value: int) -> bytes:
    """A proto3 varint scalar; omitted at its default 0, as the C++ serializer does (3.7)."""
    return _tag(field, 0) + encode_varint(value) if value else b""


def _message_field(field: int, payload: bytes) -> bytes:
    return _tag(field, 2) + encode_varint(len(payload)) + payload


class DataType(enum.IntEnum):
    """TF DataType enum values (FORMAT 3.6)."""

    INVALID = 0
    FLOAT = 1
    DOUBLE = 2
    INT32 = 3
    UINT8 = 4
    INT16 = 5
    INT8 = 6
    STRING = 7
    COMPLEX64 = 8
    INT64 = 9
    BOOL = 10
    QINT8 = 11
    QUINT8 = 12
    QINT32 = 13
    BFLOAT16 = 14
    QINT16 = 15
    QUINT16 = 16
    UINT16 = 17
    COMPLEX128 = 18
    HALF = 19
    RESOURCE = 20
    VARIANT = 21
    UINT32 = 22
    UINT64 = 23
    FLOAT8_E5M2 = 24
    FLOAT8_E4M3FN = 25
    FLOAT8_E4M3FNUZ = 26
    FLOAT8_E4M3B11FNUZ = 27
    FLOAT8_E5M2FNUZ = 28
    INT4 = 29
    UINT4 = 30
    INT2 = 31
    UINT2 = 32
    FLOAT4_E2M1FN = 33


_NUMPY_DTYPES: dict[np.dtype, DataType] = {
    np.dtype(np.float32): DataType.FLOAT,
    np.dtype(np.float64): DataType.DOUBLE,
    np.dtype(np.int32): DataType.INT32,
    np.dtype(np.uint8): DataType.UINT8,
    np.dtype(np.int16): DataType.INT16,
    np.dtype(np.int8): DataType.INT8,
    np.dtype(np.complex64): DataType.COMPLEX64,
    np.dtype(np.int64): DataType.INT64,
    np.dtype(np.bool_): DataType.BOOL,
    np.dtype(ml_dtypes.bfloat16): DataType.BFLOAT16,
    np.dtype(np.uint16): DataType.UINT16,
    np.dtype(np.complex128): DataType.COMPLEX128,
    np.dtype(np.float16): DataType.HALF,
    np.dtype(np.uint32): DataType.UINT32,
    np.dtype(np.uint64): DataType.UINT64,
    np.dtype(ml_dtypes.float8_e5m2): DataType.FLOAT8_E5M2,
    np.dtype(ml_dtypes.float8_e4m3fn): DataType.FLOAT8_E4M3FN,
    np.dtype(ml_dtypes.float8_e4m3fnuz): DataType.FLOAT8_E4M3FNUZ,
    np.dtype(ml_dtypes.float8_e4m3b11fnuz): DataType.FLOAT8_E4M3B11FNUZ,
    np.dtype(ml_dtypes.float8_e5m2fnuz): DataType.FLOAT8_E5M2FNUZ,
    np.dtype(ml_dtypes.int4): DataType.INT4,
    np.dtype(ml_dtypes.uint4): DataType.UINT4,
    np.dtype(ml_dtypes.int2): DataType.INT2,
    np.dtype(ml_dtypes.uint2): DataType.UINT2,
    np.dtype(ml_dtypes.float4_e2m1fn): DataType.FLOAT4_E2M1FN,
}

# Bytes per element of every fixed-width dtype (4.1); quantized types have no NumPy twin.
_ITEMSIZE: dict[DataType, int] = {
    **{dt: np.dtype(npt).itemsize for npt, dt in _NUMPY_DTYPES.items()},
    DataType.QINT8: 1,
    DataType.QUINT8: 1,
    DataType.QINT16: 2,
    DataType.QUINT16: 2,
    DataType.QINT32: 4,
}

_COMPLEX = (DataType.COMPLEX64, DataType.COMPLEX128)


def encode_shape(dims: Sequence[int]) -> bytes:
    """TensorShapeProto body: every dim emitted, a size-0 dim as an empty Dim (3.7 rule 5)."""
    return b"".join(_message_field(2, _int_field(1, d)) for d in dims)


def encode_slice(extents: Sequence[tuple[int, int]]) -> bytes:
    """TensorSliceProto body; (0, -1) is a full dimension, written as an empty Extent."""
    parts = []
    for start, length in extents:
        body = b"" if length == -1 else _int_field(1, start) + _tag(2, 0) + encode_varint(length)
        parts.append(_message_field(1, body))
    return b"".join(parts)


def encode_entry(
    dtype: int,
    shape: Sequence[int],
    *,
    shard_id: int = 0,
    offset: int = 0,
    size: int = 0,
    masked_crc: int = 0,
    slices: Sequence[Sequence[tuple[int, int]]] = (),
) -> bytes:
    """BundleEntryProto exactly as TF serializes it (3.3, 3.7); `masked_crc` is as stored."""
    crc = _tag(6, 5) + _fixed32(masked_crc) if masked_crc else b""
    return b"".join(
        [
            _int_field(1, dtype),
            _message_field(2, encode_shape(shape)),
            _int_field(3, shard_id),
            _int_field(4, offset),
            _int_field(5, size),
            crc,
            *(_message_field(7, encode_slice(s)) for s in slices),
        ]
    )


Version = tuple[int, int, Sequence[int]]


def encode_header(
    num_shards: int = 1, *, big_endian: bool = False, version: Version | None = (1, 0, ())
) -> bytes:
    """BundleHeaderProto (3.1); `version` is (producer, min_consumer, bad_consumers) or None
    to omit the VersionDef, which TF accepts as all-zero."""
    out = _int_field(1, num_shards) + _int_field(2, int(big_endian))
    if version is not None:
        producer, min_consumer, bad_consumers = version
        packed = b"".join(encode_varint(v) for v in bad_consumers)
        body = _int_field(1, producer) + _int_field(2, min_consumer)
        out += _message_field(3, body + (_message_field(3, packed) if packed else b""))
    return out


# --------------------------------------------------------------- OrderedCode slice keys (6.2)

_OC_HEADER1 = (0x80, 0xC0, 0xE0, 0xF0, 0xF8, 0xFC, 0xFE, 0xFF, 0xFF, 0xFF)
_OC_HEADER2 = (0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0xC0)


def _oc_uint(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes([len(body)]) + body


def _oc_str(data: bytes) -> bytes:
    escaped = bytearray()
    for byte in data:
        escaped += {0x00: b"\x00\xff", 0xFF: b"\xff\x00"}.get(byte, bytes([byte]))
    return bytes(escaped) + b"\x00\x01"


def oc_sint(value: int) -> bytes:
    """OrderedCode WriteSignedNumIncreasing: 1..10 bytes whose memcmp order is numeric order."""
    magnitude = value if value >= 0 else ~value
    n = magnitude.bit_length() // 7 + 1
    body = bytearray(value.to_bytes(10, "big", signed=True)[-n:])
    body[0] ^= _OC_HEADER1[n - 1]
    if n > 1:
        body[1] ^= _OC_HEADER2[n - 1]
    return bytes(body)


def encode_slice_key(name: str | bytes, extents: Sequence[tuple[int, int]]) -> bytes:
    """EncodeTensorNameSlice: the index key of one stored slice; full dimension = (0, -1)."""
    key = _oc_uint(0) + _oc_str(_key_bytes(name)) + _oc_uint(len(extents))
    return key + b"".join(oc_sint(start) + oc_sint(length) for start, length in extents)


# ---------------------------------------------------------------------- payloads (4.2, 4.3)


def _string_length_crc(lengths: Iterable[int], big_endian: bool) -> int:
    """C_len of 4.2: lengths as fixed 4-byte integers, 8-byte when they do not fit."""
    order = "big" if big_endian else "little"
    crc = 0
    for n in lengths:
        crc = crc32c(n.to_bytes(4 if n <= 0xFFFFFFFF else 8, order), crc)
    return crc


def string_payload(values: Iterable[bytes], big_endian: bool = False) -> tuple[bytes, int]:
    """DT_STRING payload (4.2) and its masked entry CRC.

    The CRC is returned too because it is not a CRC of the payload bytes: it covers the
    lengths as fixed-width integers, so a caller could not recompute it from the payload.
    """
    values = [bytes(v) for v in values]
    len_crc = _string_length_crc((len(v) for v in values), big_endian)
    checksum = _fixed32(mask(len_crc), big_endian)
    crc = crc32c(checksum, len_crc)
    for value in values:
        crc = crc32c(value, crc)
    varints = b"".join(encode_varint(len(v)) for v in values)
    return varints + checksum + b"".join(values), mask(crc)


def variant_payload(elements: Iterable[bytes], big_endian: bool = False) -> tuple[bytes, int]:
    """DT_VARIANT payload (4.3) and its masked entry CRC (one running CRC, 8-byte lengths)."""
    order = "big" if big_endian else "little"
    out = bytearray()
    crc = 0
    for element in elements:
        crc = crc32c(element, crc32c(len(element).to_bytes(8, order), crc))
        checksum = _fixed32(mask(crc), big_endian)
        crc = crc32c(checksum, crc)
        out += encode_varint(len(element)) + element + checksum
    return bytes(out), mask(crc)


def _pod_payload(array: np.ndarray, dtype: DataType, big_endian: bool) -> bytes:
    """Row-major element bytes in the requested byte order (4.1, 8).

    Complex numbers swap each component separately, as TF's byte_swap_tensor does.
    """
    array = np.ascontiguousarray(array)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    unit = _ITEMSIZE[dtype] // (2 if dtype in _COMPLEX else 1)
    if unit > 1 and big_endian != (sys.byteorder == "big"):
        array = array.reshape(-1).view(f"u{unit}").byteswap()
    return array.tobytes()


# ------------------------------------------------------------------------- Snappy (2.3)


def snappy_compress(data: bytes) -> bytes:
    """A valid raw Snappy stream for `data`: greedy matches found by a 4-byte hash table.

    It compresses less well than real Snappy, which does not matter: readers only have to
    decode valid streams, and this emits every element kind a decoder must handle
    (short and long literals, overlapping copies).
    """
    out = bytearray(encode_varint(len(data)))
    last_seen: dict[bytes, int] = {}
    literal_start = pos = 0
    while pos + 4 <= len(data):
        word = data[pos : pos + 4]
        candidate = last_seen.get(word)
        last_seen[word] = pos
        if candidate is None or pos - candidate > 0xFFFF:
            pos += 1
            continue
        length = 4
        while pos + length < len(data) and data[candidate + length] == data[pos + length]:
            length += 1
        out += _snappy_literal(data[literal_start:pos]) + _snappy_copy(pos - candidate, length)
        pos += length
        literal_start = pos
    return bytes(out + _snappy_literal(data[literal_start:]))


def _snappy_literal(literal: bytes) -> bytes:
    if not literal:
        return b""
    n = len(literal) - 1
    if n < 60:
        return bytes([n << 2]) + literal
    width = (n.bit_length() + 7) // 8
    return bytes([(59 + width) << 2]) + n.to_bytes(width, "little") + literal


def _snappy_copy(offset: int, length: int) -> bytes:
    """Copies with a 2-byte offset (tag 10), at most 64 bytes each."""
    out = bytearray()
    while length:
        chunk = min(length, 64)
        out += bytes([(chunk - 1) << 2 | 0b10]) + offset.to_bytes(2, "little")
        length -= chunk
    return bytes(out)


# ---------------------------------------------------------------------- SSTable (2.1-2.7)

TF_BLOCK_SIZE = 262144
_MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")
_FOOTER_HANDLES_SIZE = 40
_COMPRESS_MODES = ("none", "snappy", "auto")


def _check_compress(compress: str) -> None:
    if compress not in _COMPRESS_MODES:
        raise ValueError(f"compress must be one of {_COMPRESS_MODES}, got {compress!r}")


def shortest_separator(start: bytes, limit: bytes) -> bytes:
    """LevelDB FindShortestSeparator: a short K with start <= K < limit (2.7)."""
    i = 0
    while i < min(len(start), len(limit)) and start[i] == limit[i]:
        i += 1
    if i < min(len(start), len(limit)) and start[i] < 0xFF and start[i] + 1 < limit[i]:
        return start[:i] + bytes([start[i] + 1])
    return start


def short_successor(key: bytes) -> bytes:
    """LevelDB FindShortSuccessor: a short K >= key, used after the last data block (2.7)."""
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes([byte + 1])
    return key


@dataclass(frozen=True)
class BlockHandle:
    """Where a block sits in the index file; `size` excludes the 5-byte trailer."""

    offset: int
    size: int

    def encode(self) -> bytes:
        return encode_varint(self.offset) + encode_varint(self.size)


class _BlockBuilder:
    """One SSTable block: prefix-compressed entries plus the restart array (2.4)."""

    def __init__(self, restart_interval: int) -> None:
        self._interval = restart_interval
        self._buf = bytearray()
        self._restarts = [0]
        self._since_restart = 0
        self._last_key = b""

    def empty(self) -> bool:
        return not self._buf

    def size_estimate(self) -> int:
        return len(self._buf) + 4 * len(self._restarts) + 4

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self._since_restart < self._interval:
            limit = min(len(key), len(self._last_key))
            while shared < limit and key[shared] == self._last_key[shared]:
                shared += 1
        else:
            self._restarts.append(len(self._buf))
            self._since_restart = 0
        self._buf += encode_varint(shared) + encode_varint(len(key) - shared)
        self._buf += encode_varint(len(value)) + key[shared:] + value
        self._last_key = key
        self._since_restart += 1

    def finish(self) -> bytes:
        restarts = b"".join(_fixed32(r) for r in self._restarts)
        return bytes(self._buf) + restarts + _fixed32(len(self._restarts))


class _TableWriter:
    """TF's table builder (2.7), recording block handles so tests can aim corruption."""

    def __init__(self, block_size: int, compress: str) -> None:
        _check_compress(compress)
        self._block_size = block_size
        self._compress = compress
        self._out = bytearray()
        self._data = _BlockBuilder(16)
        self._index = _BlockBuilder(1)
        self._pending: BlockHandle | None = None
        self._last_key = b""
        self._num_entries = 0
        self.data_blocks: list[BlockHandle] = []

    def add(self, key: bytes, value: bytes) -> None:
        if self._num_entries and key <= self._last_key:
            raise ValueError(f"keys must be strictly increasing: {key!r} after {self._last_key!r}")
        if self._num_entries and len(key) + len(value) >= 2 * self._block_size:
            self._flush()
        if self._pending is not None:
            separator = shortest_separator(self._last_key, key)
            self._index.add(separator, self._pending.encode())
            self._pending = None
        self._last_key = key
        self._num_entries += 1
        self._data.add(key, value)
        if self._data.size_estimate() >= self._block_size:
            self._flush()

    def finish(self) -> tuple[bytes, BlockHandle, BlockHandle]:
        """Returns (file bytes, metaindex handle, index handle)."""
        self._flush()
        metaindex = self._write_block(_BlockBuilder(16).finish())
        if self._pending is not None:
            self._index.add(short_successor(self._last_key), self._pending.encode())
        index = self._write_block(self._index.finish())
        handles = metaindex.encode() + index.encode()
        self._out += handles.ljust(_FOOTER_HANDLES_SIZE, b"\x00") + _MAGIC
        return bytes(self._out), metaindex, index

    def _flush(self) -> None:
        if self._data.empty():
            return
        self._pending = self._write_block(self._data.finish())
        self.data_blocks.append(self._pending)
        self._data = _BlockBuilder(16)

    def _write_block(self, raw: bytes) -> BlockHandle:
        stored, block_type = self._maybe_compress(raw)
        handle = BlockHandle(len(self._out), len(stored))
        trailer_crc = masked_crc32c(stored + block_type)
        self._out += stored + block_type + _fixed32(trailer_crc)
        return handle

    def _maybe_compress(self, raw: bytes) -> tuple[bytes, bytes]:
        """LevelDB keeps Snappy output only if it saves at least 1/8; "snappy" forces it."""
        if self._compress == "none":
            return raw, b"\x00"
        compressed = snappy_compress(raw)
        if self._compress == "snappy" or len(compressed) < len(raw) - len(raw) // 8:
            return compressed, b"\x01"
        return raw, b"\x00"


def build_table(
    items: Iterable[tuple[bytes, bytes]], block_size: int = TF_BLOCK_SIZE, compress: str = "none"
) -> bytes:
    """An SSTable of (key, value) pairs in strictly increasing key order, as TF writes it."""
    writer = _TableWriter(block_size, compress)
    for key, value in items:
        writer.add(key, value)
    return writer.finish()[0]


# ------------------------------------------------------------------------------ bundles


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else bytes(key)


def data_filename(prefix: str | os.PathLike[str], shard: int, num_shards: int) -> Path:
    """`P.data-%05d-of-%05d` (section 1)."""
    return Path(f"{os.fspath(prefix)}.data-{shard:05d}-of-{num_shards:05d}")


@dataclass(frozen=True)
class EntryLocation:
    """Where an entry's payload went: enough to corrupt or truncate exactly that tensor."""

    path: Path
    shard: int
    offset: int
    size: int
    masked_crc: int | None  # None for raw entries: the builder did not compute it


@dataclass(frozen=True)
class WrittenBundle:
    """What `BundleBuilder.write` produced. Indexing by key (str or bytes) gives the
    payload location of any entry that has one (not the full entry of a sliced tensor)."""

    index_path: Path
    data_paths: tuple[Path, ...]
    entries: dict[bytes, EntryLocation]
    data_blocks: tuple[BlockHandle, ...]
    metaindex_block: BlockHandle
    index_block: BlockHandle

    def __getitem__(self, key: str | bytes) -> EntryLocation:
        return self.entries[_key_bytes(key)]


@dataclass
class _SlicedTensor:
    dtype: DataType
    shape: tuple[int, ...]
    slices: list[list[tuple[int, int]]]


def _as_array(values: object) -> np.ndarray:
    """NumPy array of the values; text becomes an object array of exact bytes.

    (Going through a fixed-width 'S' array would drop trailing NUL bytes.)
    """
    if isinstance(values, np.ndarray) and values.dtype.kind not in "SU":
        return values
    array = np.asarray(values)
    if array.dtype.kind in "SU":
        array = np.array(values.tolist() if isinstance(values, np.ndarray) else values, object)
    return array


def _infer_dtype(array: np.ndarray, override: int | None) -> DataType:
    """The dtype enum for `array`; an override must agree with its element width."""
    native = array.dtype if array.dtype.isnative else array.dtype.newbyteorder("=")
    if native.kind == "O":
        dtype = DataType.STRING
    elif native in _NUMPY_DTYPES:
        dtype = _NUMPY_DTYPES[native]
    else:
        raise TypeError(f"no TF dtype for NumPy dtype {array.dtype}")
    if override is None or override == dtype:
        return dtype
    override = DataType(override)
    if dtype is DataType.STRING or _ITEMSIZE.get(override) != array.dtype.itemsize:
        raise ValueError(f"cannot store {array.dtype} data as {override.name}")
    return override


def _element_bytes(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"string tensor elements must be bytes or str, got {type(value).__name__}")


class BundleBuilder:
    """Collects tensors and writes a bundle exactly as TF's BundleWriter (+MergeBundles) would.

    Payloads go to their shard's data file in add order; the index is written sorted
    (section 9). Everything TF never writes here is an option: `big_endian`,
    `data_alignment`, `num_shards`, `compress`, `version`, and a small `block_size` to
    get many index blocks from few keys.
    """

    def __init__(
        self,
        *,
        big_endian: bool = False,
        data_alignment: int = 1,
        num_shards: int = 1,
        block_size: int = TF_BLOCK_SIZE,
        compress: str = "none",
        version: Version | None = (1, 0, ()),
    ) -> None:
        if data_alignment < 1 or num_shards < 1 or block_size < 1:
            raise ValueError("data_alignment, num_shards and block_size must be >= 1")
        _check_compress(compress)  # fail at construction, not at write()
        self._big_endian = big_endian
        self._alignment = data_alignment
        self._block_size = block_size
        self._compress = compress
        self._header = encode_header(num_shards, big_endian=big_endian, version=version)
        self._data = [bytearray() for _ in range(num_shards)]
        self._entries: dict[bytes, bytes] = {}
        self._sliced: dict[bytes, _SlicedTensor] = {}
        self._locations: dict[bytes, tuple[int, int, int, int | None]] = {}  # without paths

    def add(
        self, key: str | bytes, values: object, *, dtype: int | None = None, shard: int = 0
    ) -> None:
        """Adds one tensor. NumPy (and ml_dtypes) arrays map to their dtype; bytes/str
        (scalars, lists or arrays) become DT_STRING. `dtype` relabels same-width data,
        e.g. int8 as QINT8."""
        array = _as_array(values)
        tf_dtype = _infer_dtype(array, dtype)
        if tf_dtype is DataType.STRING:
            elements = (_element_bytes(v) for v in array.reshape(-1).tolist())
            payload, crc = string_payload(elements, self._big_endian)
        else:
            payload = _pod_payload(array, tf_dtype, self._big_endian)
            crc = masked_crc32c(payload)
        self._add_payload_entry(_key_bytes(key), tf_dtype, array.shape, payload, crc, shard)

    def add_variant(
        self,
        key: str | bytes,
        elements: Sequence[bytes],
        *,
        shape: Sequence[int] | None = None,
        shard: int = 0,
    ) -> None:
        """Adds a DT_VARIANT tensor of serialized VariantTensorDataProto `elements`
        (default shape: [len(elements)])."""
        shape = (len(elements),) if shape is None else tuple(shape)
        if math.prod(shape) != len(elements):
            raise ValueError(f"shape {shape} does not hold {len(elements)} elements")
        payload, crc = variant_payload(elements, self._big_endian)
        self._add_payload_entry(_key_bytes(key), DataType.VARIANT, shape, payload, crc, shard)

    def add_slice(
        self,
        name: str | bytes,
        full_shape: Sequence[int],
        slice_spec: Sequence[tuple[int, int]],
        values: object,
        *,
        shard: int = 0,
    ) -> None:
        """Adds one slice of partitioned tensor `name` (section 6.1), like TF AddSlice.

        `slice_spec` has one (start, length) per dimension, length -1 meaning the whole
        dimension. The full entry collects the slices in add order. A spec that covers the
        whole tensor is stored as an ordinary entry, as SaveV2 does.
        """
        key = _key_bytes(name)
        array = _as_array(values)
        full_shape = tuple(full_shape)
        spec = [(int(s), int(n)) for s, n in slice_spec]
        if array.shape != _slice_shape(full_shape, spec):
            raise ValueError(f"values of shape {array.shape} do not fit slice {spec}")
        if all(n == -1 or (s, n) == (0, d) for (s, n), d in zip(spec, full_shape)):
            self.add(key, array, shard=shard)
            return
        tf_dtype = _infer_dtype(array, None)
        full = self._sliced.get(key)
        if full is None:
            self._check_new_key(key)
            full = _SlicedTensor(tf_dtype, full_shape, [])
        elif (full.dtype, full.shape) != (tf_dtype, full_shape):
            raise ValueError(f"slice of {key!r} disagrees with earlier slices on dtype or shape")
        self.add(encode_slice_key(key, spec), array, shard=shard)
        self._sliced[key] = full
        full.slices.append(spec)

    def add_raw_entry(
        self, key: str | bytes, entry: bytes, payload: bytes | None = None, *, shard: int = 0
    ) -> None:
        """Stores `entry` verbatim as the value of `key`, for hand-made or broken entries.

        `payload`, if given, is appended to the shard's data file at `tell(shard)`; build
        `entry` with `encode_entry(..., offset=builder.tell(shard))` to point at it.
        """
        key = _key_bytes(key)
        self._check_new_key(key)
        if payload is not None:
            self._locations[key] = (shard, self._append(shard, payload), len(payload), None)
        self._entries[key] = entry

    def tell(self, shard: int = 0) -> int:
        """Offset at which the next payload of `shard` will start."""
        return len(self._data[shard])

    def _index_items(self) -> list[tuple[bytes, bytes]]:
        """The (key, value) pairs of the index table, header first, in key order."""
        full_entries = {
            key: encode_entry(t.dtype, t.shape, slices=t.slices) for key, t in self._sliced.items()
        }
        return [(b"", self._header), *sorted({**self._entries, **full_entries}.items())]

    def write(self, prefix: str | os.PathLike[str]) -> WrittenBundle:
        """Writes `prefix.index` and every `prefix.data-*` file; returns their layout."""
        table = _TableWriter(self._block_size, self._compress)
        for key, value in self._index_items():
            table.add(key, value)
        index_bytes, metaindex, index = table.finish()
        index_path = Path(f"{os.fspath(prefix)}.index")
        index_path.write_bytes(index_bytes)
        num_shards = len(self._data)
        data_paths = tuple(data_filename(prefix, i, num_shards) for i in range(num_shards))
        for path, data in zip(data_paths, self._data):
            path.write_bytes(bytes(data))
        entries = {
            key: EntryLocation(data_paths[shard], shard, offset, size, crc)
            for key, (shard, offset, size, crc) in self._locations.items()
        }
        return WrittenBundle(
            index_path, data_paths, entries, tuple(table.data_blocks), metaindex, index
        )

    def _add_payload_entry(
        self,
        key: bytes,
        dtype: DataType,
        shape: Sequence[int],
        payload: bytes,
        crc: int,
        shard: int,
    ) -> None:
        self._check_new_key(key)
        offset = self._append(shard, payload)
        self._entries[key] = encode_entry(
            dtype, shape, shard_id=shard, offset=offset, size=len(payload), masked_crc=crc
        )
        self._locations[key] = (shard, offset, len(payload), crc)

    def _check_new_key(self, key: bytes) -> None:
        if not key:
            raise ValueError("the empty key is reserved for the bundle header")
        if key in self._entries or key in self._sliced:
            raise ValueError(f"duplicate key {key!r}")

    def _append(self, shard: int, payload: bytes) -> int:
        """Appends a payload plus zero padding up to the data alignment (section 4)."""
        data = self._data[shard]
        offset = len(data)
        data += payload
        data += bytes(-len(data) % self._alignment)
        return offset


def _slice_shape(full_shape: tuple[int, ...], spec: list[tuple[int, int]]) -> tuple[int, ...]:
    """Shape of a slice; raises if the spec does not lie inside `full_shape`."""
    if len(spec) != len(full_shape) or not spec:
        raise ValueError(f"slice {spec} needs one extent per dimension of {full_shape}, rank >= 1")
    shape = []
    for (start, length), dim in zip(spec, full_shape):
        if length == -1 and start == 0:
            shape.append(dim)
        elif start >= 0 and length >= 0 and start + length <= dim:
            shape.append(length)
        else:
            raise ValueError(f"extent ({start}, {length}) is outside dimension {dim}")
    return tuple(shape)
