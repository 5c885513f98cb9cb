"""Big-endian bundles (FORMAT.md section 8), made with ``tests/bundle_builder.py``.

Data bytes are in the writer's order; protos, varints and SSTable integers are not. The
reader checks every CRC on the stored bytes, then swaps each element (each component of
a complex number) into native order. 1-byte types need no swap and are accepted, unlike
TF, which refuses them. String length checksums are computed over big-endian lengths.
Where TF can read the same bundle, it must return the same values.
"""

from __future__ import annotations

import sys

import ml_dtypes
import numpy as np
import pytest

import bundlefast
import tf_oracle
from bundle_builder import BundleBuilder, DataType, encode_entry, string_payload
from bundlefast import errors
from owned_memory import owns_its_memory
from sliced_bundles import POD_DTYPES, POD_IDS, add_partitioned, random_strings, random_values

pytestmark = pytest.mark.skipif(sys.byteorder != "little", reason="the tests swap relative to a little-endian host")

SHAPES = [(), (7,), (3, 4), (0, 2), (2, 1, 3)]

# 1-byte memcpy types that TF's swap table lacks (FORMAT.md 8): TF refuses them in a BE bundle.
TF_REFUSES = {
    np.dtype(t)
    for t in (
        ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz, ml_dtypes.float8_e4m3b11fnuz,
        ml_dtypes.float8_e5m2fnuz, ml_dtypes.int4, ml_dtypes.uint4, ml_dtypes.int2, ml_dtypes.uint2,
        ml_dtypes.float4_e2m1fn,
    )
}


def _every_dtype_bundle(prefix, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    b = BundleBuilder(big_endian=True)
    values = {}
    for (dtype, enum), ident in zip(POD_DTYPES, POD_IDS):
        for shape in SHAPES:
            name = f"{ident}/{'x'.join(map(str, shape)) or 'scalar'}"
            values[name] = random_values(rng, dtype, shape)
            b.add(name, values[name], dtype=enum)
    values["strings"] = random_strings(rng, (4, 3))
    b.add("strings", values["strings"])
    b.write(prefix)
    return values


@pytest.mark.parametrize("mode", [{}, {"verify": True}, {"copy": True}, {"verify": True, "copy": True}],
                         ids=["default", "verify", "copy", "verify_copy"])
def test_every_dtype_reads_in_native_order(tmp_path, random_seed, mode):
    values = _every_dtype_bundle(tmp_path / "be", random_seed)
    with bundlefast.open(tmp_path / "be") as r:
        assert r.big_endian
    out = bundlefast.load(tmp_path / "be", **mode)
    assert sorted(out) == sorted(values)
    for name, want in values.items():
        got = out[name]
        assert got.shape == want.shape, name
        if want.dtype == object:
            assert got.tolist() == want.tolist(), name
            continue
        assert got.dtype == want.dtype and got.dtype.isnative, name
        assert got.tobytes() == want.tobytes(), name
        # Swapped into a new array: owned, read-only unless copy=True.
        assert owns_its_memory(got) and got.flags.writeable == bool(mode.get("copy")), name


def test_complex_numbers_swap_each_component(tmp_path):
    """(1+2j) as big-endian complex64 is `3f 80 00 00 40 00 00 00`: real first, each float
    swapped on its own (not the 8 bytes as one unit)."""
    b = BundleBuilder(big_endian=True)
    b.add("c64", np.array([1 + 2j, 3 - 4j], np.complex64))
    b.add("c128", np.array([-0.5 + 0.25j], np.complex128))
    w = b.write(tmp_path / "m")
    raw = w.data_paths[0].read_bytes()
    assert raw[w["c64"].offset: w["c64"].offset + 8] == bytes.fromhex("3f800000 40000000")
    out = bundlefast.load(tmp_path / "m", verify=True)
    assert out["c64"].tolist() == [1 + 2j, 3 - 4j]
    assert out["c128"].tolist() == [-0.5 + 0.25j]


def test_one_byte_types_need_no_swap_and_are_accepted(tmp_path):
    b = BundleBuilder(big_endian=True)
    b.add("e4m3", np.array([1.0, -1.0, 3.0, 0.5], ml_dtypes.float8_e4m3fn))
    b.add("int4", np.array([1, -1, 3, -8, 7], ml_dtypes.int4))
    b.add("raw_int4", np.arange(256, dtype=np.uint8).view(ml_dtypes.int4))  # high nibbles kept verbatim
    b.add("fp4", np.array([1.0, -1.0, 3.0, 0.5], ml_dtypes.float4_e2m1fn))
    w = b.write(tmp_path / "m")
    raw = w.data_paths[0].read_bytes()
    assert raw[w["e4m3"].offset: w["e4m3"].offset + 4] == bytes.fromhex("38 b8 44 30")
    out = bundlefast.load(tmp_path / "m", verify=True)
    assert out["e4m3"].tobytes() == bytes.fromhex("38 b8 44 30")
    assert out["int4"].tobytes() == bytes.fromhex("01 0f 03 08 07")
    assert out["raw_int4"].tobytes() == bytes(range(256))
    assert out["fp4"].tobytes() == bytes.fromhex("02 0a 05 01")


def test_crc_is_checked_on_the_stored_bytes(tmp_path):
    b = BundleBuilder(big_endian=True)
    b.add("pad", np.zeros(3, np.uint8))
    b.add("d", np.arange(4, dtype=np.float64))
    w = b.write(tmp_path / "m")
    # The stored CRC covers the big-endian bytes: bundlefast's CRC of them matches it.
    loc = w["d"]
    raw = bytearray(w.data_paths[0].read_bytes())
    assert bundlefast.mask_crc32c(bundlefast.crc32c(bytes(raw[loc.offset: loc.offset + loc.size]))) == loc.masked_crc
    bundlefast.load(tmp_path / "m", verify=True)
    raw[loc.offset + 8] ^= 0x01  # the most significant byte of element 1
    w.data_paths[0].write_bytes(bytes(raw))
    assert bundlefast.load(tmp_path / "m")["d"][1] != 1.0  # read, unchecked
    with pytest.raises(errors.ChecksumError, match=r"crc32c mismatch for 'd' \(offset 3, 32 bytes\)"):
        bundlefast.load(tmp_path / "m", verify=True)


def test_strings_use_big_endian_length_checksums(tmp_path):
    values = [b"ab", b"", b"xyz", b"\x00" * 300]
    b = BundleBuilder(big_endian=True)
    b.add("s", np.array(values, dtype=object))
    # The same strings with a little-endian length checksum: wrong in a BE bundle.
    payload, crc = string_payload(values, big_endian=False)
    b.add_raw_entry("le_checksum", encode_entry(DataType.STRING, (4,), offset=b.tell(), size=len(payload),
                                                masked_crc=crc), payload)
    w = b.write(tmp_path / "m")
    assert bundlefast.load(tmp_path / "m", names=["s"], verify=True)["s"].tolist() == values
    # Unverified reads do not look at checksums.
    assert bundlefast.load(tmp_path / "m", names=["le_checksum"])["le_checksum"].tolist() == values
    with pytest.raises(errors.ChecksumError, match="string length checksum mismatch"):
        bundlefast.load(tmp_path / "m", names=["le_checksum"], verify=True)
    # A flipped bit in the stored (big-endian) length checksum.
    loc = w["s"]
    raw = bytearray(w.data_paths[0].read_bytes())
    raw[loc.offset + 5] ^= 0x80  # varints 02 00 03 ac 02, then the checksum
    w.data_paths[0].write_bytes(bytes(raw))
    with pytest.raises(errors.ChecksumError, match=r"string tensor 's' .*string length checksum mismatch"):
        bundlefast.load(tmp_path / "m", names=["s"], verify=True)


def test_partial_reads_of_big_endian_tensors_are_swapped_copies(tmp_path, random_seed):
    rng = np.random.default_rng(random_seed)
    b = BundleBuilder(big_endian=True)
    plain = rng.standard_normal((6, 5)).astype(np.float32)
    sliced = rng.integers(-(2**40), 2**40, (6, 5))
    b.add("plain", plain)
    add_partitioned(b, "sliced", sliced, [[(0, 3), (0, -1)], [(3, 3), (0, 2)], [(3, 3), (2, 3)]])
    b.write(tmp_path / "m")
    with bundlefast.open(tmp_path / "m") as r:
        for name, full in (("plain", plain), ("sliced", sliced)):
            lazy = r.get_slice(name, verify=True)
            for key in [slice(1, 3), (4, slice(None)), (slice(None), 2), (slice(2, 5), slice(1, 4))]:
                got = lazy[key]
                assert got.dtype.isnative and got.flags.owndata and not got.flags.writeable
                assert got.tobytes() == np.ascontiguousarray(full[key]).tobytes(), (name, key)


@pytest.mark.tf
def test_tf_reads_the_same_big_endian_bundle_to_the_same_values(tmp_path, random_seed):
    """TF reads the builder's BE bundle to our values for every dtype it can swap, and
    refuses the 1-byte types bundlefast accepts (the TF quirk not copied)."""
    tf = pytest.importorskip("tensorflow")
    values = _every_dtype_bundle(tmp_path / "be", random_seed)
    ours = bundlefast.load(tmp_path / "be", verify=True)
    reader = tf.train.load_checkpoint(str(tmp_path / "be"))
    checked = refused = 0
    for name, want in values.items():
        if want.dtype in TF_REFUSES and want.size:
            with pytest.raises(Exception, match="Byte-swapping not supported"):
                reader.get_tensor(name)
            refused += 1
            continue
        if want.dtype in TF_REFUSES:
            continue  # empty: TF skips the swap
        tf_oracle.assert_same_array(ours[name], reader.get_tensor(name), name)
        checked += 1
    assert checked > 50 and refused == 4 * len(TF_REFUSES)
