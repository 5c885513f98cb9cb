"""Hostile bundles, one check of the untrusted-input checklist (STYLE.md 2.4) at a time.

Each test builds a bundle that lies in one specific way and checks three things: the
error is the documented class (never a crash, a MemoryError or a hang), its message
names the file, the key and the numbers involved, and the damage stays with what it
touches: undamaged tensors still load with ``verify=True``, and only damage to the
header, footer or a block fails at open. (``test_errors.py`` has the common cases; this
file has the adversarial ones.)
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import bundlefast
from bundle_builder import (
    BundleBuilder,
    DataType,
    _BlockBuilder,
    build_table,
    crc32c,
    encode_entry,
    encode_header,
    encode_varint,
    mask,
    masked_crc32c,
    snappy_compress,
    string_payload,
)
from bundle_surgery import data_block_handles, fix_block_trailers
from bundlefast import errors

MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")


def _good_and(tmp_path: Path, key: str, entry: bytes, payload: bytes | None = None) -> Path:
    """A bundle with one hostile entry `key` and one good tensor 'good'."""
    b = BundleBuilder()
    b.add("good", np.arange(5, dtype=np.int32))
    b.add_raw_entry(key, entry, payload)
    b.write(tmp_path / "m")
    return tmp_path / "m"


def _assert_isolated(
    prefix: Path, bad: str, exc: type[Exception], match: str, *, verify_only: bool = False, arrays_only: bool = False
) -> None:
    """`bad` fails with `exc`/`match` every way it can be read (with verify=True only,
    for checksum errors; only where arrays are built, for NumPy limits); 'good' still loads."""
    if not verify_only:
        with pytest.raises(exc, match=match):
            bundlefast.load(prefix, names=[bad])
        with pytest.raises(exc, match=match):
            bundlefast.load(prefix)  # everything: the bad one fails the call
    with pytest.raises(exc, match=match):
        bundlefast.load(prefix, names=[bad], verify=True, copy=True)
    with pytest.raises(exc, match=match):
        bundlefast.load(prefix, verify=True)
    if not arrays_only:
        with bundlefast.open(prefix) as reader, pytest.raises(exc, match=match):
            reader.verify([bad])
    good = bundlefast.load(prefix, names=["good"], verify=True)["good"]
    assert good.tolist() == [0, 1, 2, 3, 4]


# --------------------------------------------------------------------------------------
# Entries: counts, sizes, shapes, dtypes
# --------------------------------------------------------------------------------------


def test_string_tensor_claiming_2_60_elements_is_refused_before_allocating(tmp_path):
    payload, crc = string_payload([b"ab", b"c"])
    entry = encode_entry(DataType.STRING, [2**60], offset=20, size=len(payload), masked_crc=crc)
    prefix = _good_and(tmp_path, "huge", entry, payload)
    # A MemoryError (or the OOM killer) here would mean it allocated first.
    _assert_isolated(prefix, "huge", errors.CorruptionError,
                     r"m\.data-00000-of-00001: string tensor 'huge' \(offset 20, 9 bytes\): "
                     r"string tensor of 1152921504606846976 elements cannot fit in 9 bytes")


def test_string_element_claiming_one_tib_is_refused(tmp_path):
    payload = encode_varint(1 << 40) + bytes(4) + b"abc"
    entry = encode_entry(DataType.STRING, [1], offset=20, size=len(payload))
    prefix = _good_and(tmp_path, "tib", entry, payload)
    _assert_isolated(prefix, "tib", errors.CorruptionError,
                     r"m\.data-00000-of-00001: string tensor 'tib' \(offset 20, 13 bytes\): "
                     r"string element 0 has length 1099511627776, more than the 13-byte payload holds")


@pytest.mark.parametrize(("lengths", "found"), [((2, 2), 4), ((1, 3), 4), ((2, 4), 6), ((2, 3, 0), None)])
def test_string_lengths_must_account_for_every_byte(tmp_path, lengths, found):
    """TF ignores bytes after the last string, so a length that is one short shifts or
    drops data silently, even with consistent checksums (FORMAT.md 11). Here the
    checksums are recomputed for the lying lengths: only the exact-size rule catches it."""
    values = [b"ab", b"xyz"]
    strings = b"".join(values)
    len_crc = 0
    for n in lengths:
        len_crc = crc32c(n.to_bytes(4, "little"), len_crc)
    checksum = mask(len_crc).to_bytes(4, "little")
    entry_crc = crc32c(strings[: sum(lengths)], crc32c(checksum, len_crc))
    payload = b"".join(encode_varint(n) for n in lengths) + checksum + strings
    entry = encode_entry(DataType.STRING, [2], offset=20, size=len(payload), masked_crc=mask(entry_crc))
    prefix = _good_and(tmp_path, "s", entry, payload)
    match = (rf"string tensor 's' \(offset 20, {len(payload)} bytes\): string lengths add up to {found} bytes, "
             rf"but the payload has {len(payload) - len(lengths) - 4} bytes after" if found
             else r"string tensor 's'.*: string lengths add up to 5 bytes, but the payload has 6 bytes after")
    _assert_isolated(prefix, "s", errors.CorruptionError, match)


def test_string_checksum_messages_give_stored_and_computed_values(tmp_path):
    b = BundleBuilder()
    b.add("good", np.arange(5, dtype=np.int32))
    b.add("s", [b"ab", b"", b"xyz"])
    w = b.write(tmp_path / "m")
    loc = w["s"]
    data = bytearray(w.data_paths[0].read_bytes())
    data[loc.offset + loc.size - 1] ^= 0x01  # last byte of "xyz"
    w.data_paths[0].write_bytes(bytes(data))
    payload = bytes(data[loc.offset : loc.offset + loc.size])
    computed = crc32c(payload[3 + 4 :], crc32c(payload[3:7], 0x2BA19404))  # C_len of [2, 0, 3] (FORMAT 15.4)
    stored = 0xE11C4EA0
    assert bundlefast.load(tmp_path / "m", names=["s"])["s"].tolist() == [b"ab", b"", b"xy{"]  # no verify
    _assert_isolated(tmp_path / "m", "s", errors.ChecksumError,
                     rf"m\.data-00000-of-00001: string tensor 's' \(offset {loc.offset}, 12 bytes\): "
                     rf"crc32c mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}", verify_only=True)
    # The length checksum: change it, and the message shows both values there too.
    data[loc.offset + loc.size - 1] ^= 0x01
    data[loc.offset + 3] ^= 0x01
    w.data_paths[0].write_bytes(bytes(data))
    with pytest.raises(errors.ChecksumError, match=r"string length checksum mismatch \(offset 3 in the payload\): "
                                                   rf"stored 0x[0-9a-f]{{8}}, computed 0x2ba19404"):
        bundlefast.load(tmp_path / "m", names=["s"], verify=True)


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ([-1, 3], r"invalid tensor shape \[-1,3\]"),
        ([2**40, 2**40], r"invalid tensor shape \[1099511627776,1099511627776\]: .*overflows int64"),
        ([1] * 255, r"invalid tensor shape: rank above the maximum of 254"),
    ],
)
def test_bad_shapes_fail_only_their_entry(tmp_path, shape, match):
    prefix = _good_and(tmp_path, "bad", encode_entry(DataType.FLOAT, shape, offset=20, size=4), b"\0" * 4)
    _assert_isolated(prefix, "bad", errors.CorruptionError, r"m\.index: entry 'bad': " + match)
    with bundlefast.open(prefix) as r, pytest.raises(errors.CorruptionError, match=match):
        r.info("bad")


def test_offset_plus_size_that_overflows_is_out_of_range(tmp_path):
    entry = encode_entry(DataType.INT8, [16], offset=2**63 - 8, size=16)
    prefix = _good_and(tmp_path, "wrap", entry)
    _assert_isolated(prefix, "wrap", errors.CorruptionError,
                     r"m\.data-00000-of-00001: 'wrap' \(offset 9223372036854775800, 16 bytes\) lies outside the 20-byte file")


def test_negative_offset_and_size(tmp_path):
    prefix = _good_and(tmp_path, "neg", encode_entry(DataType.INT8, [0], offset=-5, size=0))
    _assert_isolated(prefix, "neg", errors.CorruptionError, r"entry 'neg': negative offset -5 or size 0")


def test_unparseable_entry_fails_only_itself(tmp_path):
    # Field 2 (shape) claims 100 bytes but the entry ends after 3.
    prefix = _good_and(tmp_path, "garbage", b"\x08\x01\x12\x64\x00")
    _assert_isolated(prefix, "garbage", errors.CorruptionError,
                     r"m\.index: entry 'garbage': entry is not a parseable BundleEntryProto")


@pytest.mark.parametrize(("dtype", "name"), [(101, "DT_101"), (20, "DT_RESOURCE"), (0, "DT_INVALID"), (-3, "DT_-3")])
def test_unknown_and_unreadable_dtypes_are_unsupported(tmp_path, dtype, name):
    prefix = _good_and(tmp_path, "odd", encode_entry(dtype, [2], offset=20, size=2), b"\0\0")
    _assert_isolated(prefix, "odd", errors.UnsupportedError, f"'odd' has dtype {name}")


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ([0, 2**62], r"shape \[0,4611686018427387904\] with 4-byte elements is too big for a NumPy array"),
        ([0] * 65, r"shape \[[0,]+\] has 65 dimensions; NumPy arrays have at most"),
    ],
)
def test_valid_shapes_numpy_cannot_hold_are_unsupported(tmp_path, shape, match):
    """TF accepts these (zero elements, rank <= 254); NumPy cannot build them."""
    prefix = _good_and(tmp_path, "wide", encode_entry(DataType.FLOAT, shape, offset=20, size=0,
                                                      masked_crc=masked_crc32c(b"")))
    _assert_isolated(prefix, "wide", errors.UnsupportedError, r"m\.index: 'wide': " + match, arrays_only=True)
    payload, crc = string_payload([])
    prefix = _good_and(tmp_path, "wide_s", encode_entry(DataType.STRING, shape, offset=20, size=4, masked_crc=crc),
                       payload)
    _assert_isolated(prefix, "wide_s", errors.UnsupportedError, r"'wide_s': shape .*", arrays_only=True)


# --------------------------------------------------------------------------------------
# The index file: header, blocks, handles, key order
# --------------------------------------------------------------------------------------


def _trailer(stored: bytes) -> bytes:
    return b"\x00" + struct.pack("<I", masked_crc32c(stored + b"\x00"))


def _table(blocks: list[bytes], handles: list[tuple[int, int]] | None = None) -> bytes:
    """Data blocks laid out with valid trailers, then an empty metaindex block, an index
    block naming `handles` (default: the blocks as laid out) and the footer."""
    out = bytearray()
    laid_out = []
    for block in blocks:
        laid_out.append((len(out), len(block)))
        out += block + _trailer(block)
    meta = _BlockBuilder(16).finish()
    meta_handle = (len(out), len(meta))
    out += meta + _trailer(meta)
    index = _BlockBuilder(1)
    for i, (offset, size) in enumerate(handles if handles is not None else laid_out):
        index.add(b"%05d" % i, encode_varint(offset) + encode_varint(size))
    index_block = index.finish()
    index_handle = (len(out), len(index_block))
    out += index_block + _trailer(index_block)
    footer = b"".join(encode_varint(v) for v in (*meta_handle, *index_handle))
    return bytes(out) + footer.ljust(40, b"\0") + MAGIC


def _block(items: list[tuple[bytes, bytes]]) -> bytes:
    b = _BlockBuilder(16)
    for key, value in items:
        b.add(key, value)
    return b.finish()


HEADER = (b"", encode_header(1))
GOOD = (b"good", encode_entry(DataType.INT8, [0], masked_crc=masked_crc32c(b"")))


def _open_index(tmp_path: Path, index: bytes, match: str, exc: type[Exception] = errors.CorruptionError) -> None:
    (tmp_path / "m.index").write_bytes(index)
    (tmp_path / "m.data-00000-of-00001").write_bytes(b"")
    with pytest.raises(exc, match=match):
        bundlefast.open(tmp_path / "m")


def test_well_formed_hand_made_table_opens(tmp_path):
    (tmp_path / "m.index").write_bytes(_table([_block([HEADER]), _block([GOOD])]))
    (tmp_path / "m.data-00000-of-00001").write_bytes(b"")
    assert bundlefast.load(tmp_path / "m", verify=True)["good"].shape == (0,)


def test_data_block_handle_outside_the_file(tmp_path):
    table = _table([_block([HEADER, GOOD])], handles=[(0, 10_000)])
    _open_index(tmp_path, table, r"m\.index: data block at offset 0: truncated block read \(offset 0, 10000 bytes plus "
                                 r"trailer, file is \d+ bytes\)")


def test_footer_handle_outside_the_file(tmp_path):
    table = bytearray(_table([_block([HEADER, GOOD])]))
    footer = len(table) - 48
    table[footer : footer + 40] = (encode_varint(0) * 2 + encode_varint(2**62) + encode_varint(5)).ljust(40, b"\0")
    _open_index(tmp_path, bytes(table), r"m\.index: index block: truncated block read \(offset 4611686018427387904")


def test_overlapping_data_blocks_are_refused(tmp_path):
    """Blocks must follow each other: otherwise a small index could make the reader
    checksum one large region once per handle (quadratic work, effectively a hang)."""
    first = _block([HEADER])
    second = _block([GOOD])
    table = _table([first, second], handles=[(0, len(first)), (0, len(first))])
    _open_index(tmp_path, table, r"m\.index: data block at offset 0: bad block handle in index block: the block "
                                 rf"starts before the previous data block ends \(offset {len(first) + 5}\)")


def test_keys_out_of_order_and_duplicates_across_blocks(tmp_path):
    b1, b2 = _block([HEADER, (b"b", GOOD[1])]), _block([(b"a", GOOD[1])])
    _open_index(tmp_path, _table([b1, b2]), r"m\.index: keys out of order: 'a' follows 'b'")
    b1, b2 = _block([HEADER, (b"b", GOOD[1])]), _block([(b"b", GOOD[1])])
    _open_index(tmp_path, _table([b1, b2]), r"m\.index: keys out of order: 'b' follows 'b'")


def test_restart_count_that_does_not_fit_the_block(tmp_path):
    block = bytearray(_block([HEADER, GOOD]))
    block[-4:] = struct.pack("<I", 2**30)
    _open_index(tmp_path, _table([bytes(block)]),
                r"data block at offset 0: bad block contents: 1073741824 restart points do not fit in \d+ bytes")


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        # value_len of the header entry (byte 2) made huge: runs past the restart array
        (lambda b: b[:2] + encode_varint(2**31) + b[3:], r"bad entry in block: key of 0 and value of 2147483648 bytes"),
        # an entry header whose varint never ends before the restart array
        (lambda b: b"\x80" * (len(b) - 8) + b[-8:], r"bad entry in block: truncated entry header \(block offset 0\)"),
        # the second entry shares more bytes than the previous key has
        (lambda b: b[:9] + b"\x09" + b[10:], r"bad entry in block: shares 9 bytes with a previous key of 0"),
    ],
)
def test_malformed_block_entries(tmp_path, patch, match):
    block = _block([HEADER, (b"good", GOOD[1])])
    assert block[9] == 0  # the second entry starts at 9 with shared = 0
    _open_index(tmp_path, _table([patch(block)]), r"m\.index: data block at offset 0: " + match)


def test_snappy_block_that_lies_about_its_length(tmp_path):
    raw = _block([HEADER, GOOD])
    compressed = snappy_compress(raw)
    lie = encode_varint(2**31) + compressed[len(encode_varint(len(raw))):]
    table = bytearray(_table([lie]))
    table[len(lie)] = 1  # trailer type: Snappy
    table[len(lie) + 1 : len(lie) + 5] = struct.pack("<I", masked_crc32c(lie + b"\x01"))
    _open_index(tmp_path, bytes(table), r"corrupted compressed block contents.*snappy: declared length 2147483648 "
                                        r"cannot come from \d+ bytes")


@pytest.mark.parametrize(
    ("header", "exc", "match"),
    [
        (encode_header(0), errors.CorruptionError, r"header says num_shards = 0, expected at least 1"),
        (b"\x1a\x05\x08", errors.CorruptionError, r"unable to parse header"),
        (encode_header(1, version=(-1, 0, ())), errors.UnsupportedError, r"checkpoint producer version -1 below"),
    ],
)
def test_header_damage_fails_at_open(tmp_path, header, exc, match):
    _open_index(tmp_path, build_table([(b"", header), GOOD]), r"m\.index: " + match, exc)


def test_first_key_must_be_the_header(tmp_path):
    _open_index(tmp_path, build_table([GOOD]), r"m\.index: first key is 'good', expected the header entry")


def test_block_damage_with_consistent_checksums_is_still_caught_at_open(tmp_path):
    b = BundleBuilder(block_size=64)
    for i in range(20):
        b.add(f"t{i:02d}", np.full(3, i, np.int16))
    w = b.write(tmp_path / "m")
    index = bytearray(w.index_path.read_bytes())
    offset, size = data_block_handles(bytes(index))[1]
    index[offset + size - 4 : offset + size] = struct.pack("<I", 200)  # restart count
    w.index_path.write_bytes(fix_block_trailers(bytes(index), masked_crc32c))
    with pytest.raises(errors.CorruptionError, match=rf"data block at offset {offset}: bad block contents"):
        bundlefast.open(tmp_path / "m")


# --------------------------------------------------------------------------------------
# Files that are not what they claim
# --------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_as_data_shard_does_not_hang(tmp_path):
    w = _bundle_with_one_tensor(tmp_path)
    w.data_paths[0].unlink()
    os.mkfifo(w.data_paths[0])
    # In a child process: if open() blocked on the FIFO, the timeout kills it.
    code = textwrap.dedent(f"""
        import bundlefast
        from bundlefast import errors
        try:
            bundlefast.load({str(tmp_path / 'm')!r})
        except errors.BundleOSError as e:
            print("error:", e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    assert "not a regular file" in out.stdout


def _bundle_with_one_tensor(tmp_path: Path):
    b = BundleBuilder()
    b.add("x", np.arange(3, dtype=np.float32))
    return b.write(tmp_path / "m")


def test_a_directory_as_data_shard(tmp_path):
    w = _bundle_with_one_tensor(tmp_path)
    w.data_paths[0].unlink()
    w.data_paths[0].mkdir()
    with pytest.raises(errors.BundleOSError, match=r"m\.data-00000-of-00001"):
        bundlefast.load(tmp_path / "m")


# --------------------------------------------------------------------------------------
# Payloads that share bytes
# --------------------------------------------------------------------------------------


def test_entries_whose_payloads_overlap_are_refused(tmp_path):
    """TF writes each payload once. Entries that alias one range would let a small index
    multiply the memory and checksum work of a load; both sides of an overlap are refused."""
    x = np.arange(16, dtype=np.float32)
    b = BundleBuilder()
    b.add("good", np.arange(5, dtype=np.int32))  # offset 0, 20 bytes
    b.add_raw_entry("a", encode_entry(DataType.FLOAT, [16], offset=b.tell(), size=64,
                                      masked_crc=masked_crc32c(x.tobytes())), x.tobytes())
    b.add_raw_entry("b", encode_entry(DataType.FLOAT, [8], offset=52, size=32,
                                      masked_crc=masked_crc32c(x.tobytes()[32:])))
    b.add_raw_entry("empty", encode_entry(DataType.FLOAT, [0], offset=30, masked_crc=masked_crc32c(b"")))
    b.write(tmp_path / "m")
    match = r"m\.index: entry 'a': its payload 'a' \(shard 0, offset 20, 64 bytes\) overlaps the payload of 'b' " \
            r"\(shard 0, offset 52, 32 bytes\)"
    _assert_isolated(tmp_path / "m", "a", errors.CorruptionError, match)
    # (Loading everything reports 'a', the first in key order.)
    _assert_isolated(tmp_path / "m", "b", errors.CorruptionError, r"entry '[ab]': its payload .* overlaps .*'[ab]'")
    # Empty payloads own no bytes: one may sit anywhere.
    assert bundlefast.load(tmp_path / "m", names=["empty"], verify=True)["empty"].shape == (0,)


def test_thousands_of_aliases_cost_nothing(tmp_path):
    x = np.zeros(1 << 16, dtype=np.float64)  # 512 KiB
    b = BundleBuilder()
    b.add("good", np.arange(5, dtype=np.int32))
    b.add("x", x)
    entry = encode_entry(DataType.DOUBLE, [1 << 16], offset=20, size=x.nbytes, masked_crc=masked_crc32c(x.tobytes()))
    for i in range(3000):  # 1.5 GiB of copies, 1.5 GiB of CRC, if they were read
        b.add_raw_entry(f"alias{i:04d}", entry)
    b.write(tmp_path / "m")
    with bundlefast.open(tmp_path / "m") as r:
        with pytest.raises(errors.CorruptionError, match="overlaps"):
            r.load(copy=True, verify=True)
        assert r.load(["good"], verify=True, copy=True)["good"].tolist() == [0, 1, 2, 3, 4]


# --------------------------------------------------------------------------------------
# Work and memory bounded by the index's size
# --------------------------------------------------------------------------------------


def _one_restart_block(items: list[tuple[bytes, bytes]], common: int) -> bytes:
    """A block whose only restart point is its first entry: every later key shares a
    prefix with the one before (TF restarts every 16 entries). All keys but the first
    start with the same `common` bytes."""
    out, last = bytearray(), b""
    for key, value in items:
        shared = 0
        if last and key:
            shared = common + len(os.path.commonprefix([key[common:], last[common:]]))
        out += encode_varint(shared) + encode_varint(len(key) - shared) + encode_varint(len(value))
        out += key[shared:] + value
        last = key
    return bytes(out) + struct.pack("<II", 0, 1)


def test_keys_that_expand_far_beyond_the_block_are_refused(tmp_path):
    """2000 keys of 3 KB sharing a prefix take ~30 KB in a one-restart block but 6 MB once
    expanded (and every key is kept): refused as soon as they pass 16x the block. (Scaled
    up, a 350 KB index made 4 GB of keys before this check.)"""
    base = b"k" * 3000
    items = [HEADER] + [(base + b"%05d" % i, GOOD[1]) for i in range(2000)]
    block = _one_restart_block(items, len(base))
    assert len(block) < 40_000
    _open_index(tmp_path, _table([block]), r"data block at offset 0: bad block contents: its keys expand to more "
                                           rf"than {16 * len(block)} bytes, 16 times the block's size")
    # The same keys with TF's restart interval are fine.
    (tmp_path / "m.index").write_bytes(_table([_block(items)]))
    with bundlefast.open(tmp_path / "m") as r:
        assert len(r) == 2000


def test_a_million_slices_of_a_long_name_cost_one_pass(tmp_path):
    """Hiding slice entries must not encode one key per listed slice: 200k slices of a
    300 KB name would be 60 GB of key bytes (minutes), for a 700 KB index."""
    import time

    name = b"n" * 300_000
    entry = encode_entry(DataType.FLOAT, [4]) + b"\x3a\x00" * 200_000  # 200k rank-0 slices
    (tmp_path / "m.index").write_bytes(build_table([HEADER, (name, entry)]))
    (tmp_path / "m.data-00000-of-00001").write_bytes(b"")
    t0 = time.perf_counter()
    with bundlefast.open(tmp_path / "m") as r:
        assert list(r) == [name.decode()]
        with pytest.raises(errors.CorruptionError, match=r"stored slice 0 of 200000 .*has rank 0, but the tensor"):
            r.get_array(name.decode())
    assert time.perf_counter() - t0 < 10


def test_missing_name_with_a_lone_surrogate_is_tensor_not_found(tmp_path):
    """Non-UTF-8 keys are spelled with lone surrogates; a missing one must be a KeyError,
    not pybind11's RuntimeError from casting the name for the message."""
    b = BundleBuilder()
    b.add(b"\xffkey", np.arange(2, dtype=np.int8))
    b.write(tmp_path / "m")
    with bundlefast.open(tmp_path / "m") as r:
        assert r["\udcffkey"].tolist() == [0, 1]
        with pytest.raises(errors.TensorNotFoundError, match=r"tensor '\\xffother' not found in .*m\.index"):
            r["\udcffother"]
        assert "\udcffother" not in r and r.get("\udcffother") is None
