"""Partitioned (sliced) tensors: slice keys, listing, assembly, registration errors, and
partial reads with ``Reader.get_slice`` (FORMAT.md section 6).

Bundles are made with ``tests/bundle_builder.py``; the TensorFlow-written fixtures are
compared against TF itself in ``test_against_tensorflow_sliced.py``.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import bundlefast
from bundle_builder import BundleBuilder, DataType, encode_entry, encode_slice_key, oc_sint
from bundlefast import _core, errors
from sliced_bundles import POD_DTYPES, POD_IDS, add_partitioned, random_partition, random_strings, random_values

# --------------------------------------------------------------------------------------
# Slice keys (OrderedCode), FORMAT.md 6.2 and 15.5
# --------------------------------------------------------------------------------------


def test_slice_key_vectors_from_the_format_spec():
    key = _core.encode_slice_key
    assert key(b"w", [(0, 2), (0, -1)]) == bytes.fromhex("00 77 00 01 01 02 80 82 80 7f")
    assert key(b"w", [(2, 2), (0, -1)]) == bytes.fromhex("00 77 00 01 01 02 82 82 80 7f")
    assert key(b"a\x00b\xffc", [(100, 200), (0, -1)]) == bytes.fromhex(
        "00 61 00 ff 62 ff 00 63 00 01 01 02 c0 64 c0 c8 80 7f"
    )
    assert key(b"big", [(70000, 5), (0, 1)]) == bytes.fromhex("00 62 69 67 00 01 01 02 e1 11 70 85 80 81")
    assert key(b"neg", [(4294967296, 3), (0, -1)]) == bytes.fromhex("00 6e 65 67 00 01 01 02 f9 00 00 00 00 83 80 7f")


OC_SINT = {
    0: "80", 1: "81", 63: "bf", 64: "c0 40", -1: "7f", -64: "40", -65: "3f bf", 100: "c0 64",
    8191: "df ff", 8192: "e0 20 00", -8193: "1f df ff", 2**31: "f8 80 00 00 00",
    2**40: "fd 00 00 00 00 00", 2**63 - 1: "ff c0 7f ff ff ff ff ff ff ff",
    2**62: "ff c0 40 00 00 00 00 00 00 00", -(2**63): "00 3f 80 00 00 00 00 00 00 00",
}


@pytest.mark.parametrize("value", list(OC_SINT))
def test_signed_ordered_code_vectors(value):
    # A rank-1 key "00 'n' 00 01 01 01" followed by OC_sint(start) OC_sint(length).
    key = _core.encode_slice_key(b"n", [(value, 0)])
    assert key == bytes.fromhex("00 6e 00 01 01 01") + bytes.fromhex(OC_SINT[value]) + b"\x80"


def test_slice_keys_agree_with_the_builder_and_sort_numerically(random_seed):
    rng = np.random.default_rng(random_seed)
    edges = [0, 1, -1, 63, 64, -64, -65, 2**31, -(2**31), 2**62, 2**63 - 1, -(2**63)]
    values = edges + [int(v) for v in rng.integers(-(2**63), 2**63 - 1, 200, dtype=np.int64)]
    values += [int(v) >> int(s) for v, s in zip(rng.integers(-(2**63), 2**63 - 1, 200, dtype=np.int64),
                                                rng.integers(0, 63, 200))]
    for v in values:
        assert oc_sint(v) == _core.encode_slice_key(b"", [(v, 0)])[5:-1]
    ordered = sorted(set(values))
    encoded = [oc_sint(v) for v in ordered]
    assert encoded == sorted(encoded), "OrderedCode must sort like the numbers"
    for _ in range(50):
        name = rng.integers(0, 256, int(rng.integers(0, 12)), dtype=np.uint8).tobytes()
        spec = [(int(rng.integers(-5, 1 << 40)), int(rng.integers(-1, 1 << 40))) for _ in range(int(rng.integers(0, 5)))]
        assert _core.encode_slice_key(name, spec) == encode_slice_key(name, spec)


# --------------------------------------------------------------------------------------
# Listing: slice entries are hidden exactly as TF's CheckpointReader hides them
# --------------------------------------------------------------------------------------


def test_listing_hides_exactly_the_slice_keys_of_full_entries(tmp_path):
    b = BundleBuilder()
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    add_partitioned(b, "w", w, [[(0, 2), (0, -1)], [(2, 2), (0, -1)]])
    b.add("plain", np.ones(3, np.int8))
    b.add(b"\x00orphan", np.ones(2, np.int16))  # starts with 00 like a slice key, but no full entry lists it
    b.write(tmp_path / "m")
    with bundlefast.open(tmp_path / "m") as r:
        assert list(r) == ["\x00orphan", "plain", "w"]
        assert len(r) == 3
        hidden = encode_slice_key("w", [(0, 2), (0, -1)])
        assert hidden not in r
        with pytest.raises(KeyError, match="slice entry of a partitioned tensor"):
            r.get_array(hidden)
        assert r["\x00orphan"].tolist() == [1, 1]
        info = r.info("w")
        assert info.shape == (4, 3) and info.tf_dtype == "float32"
        assert info.slices == (((0, 2), (0, -1)), ((2, 2), (0, -1)))
    assert sorted(bundlefast.load(tmp_path / "m")) == ["\x00orphan", "plain", "w"]


def test_a_slice_spec_numerically_different_from_its_key_is_not_hidden(tmp_path):
    """TF rebuilds keys from the protos: an explicit (0, 4) extent is not the same key as
    a full (0, -1) one, so a mismatching slice entry stays listed and the tensor is
    missing a slice (FORMAT.md 6.1)."""
    b = BundleBuilder()
    w = np.arange(8, dtype=np.int32).reshape(4, 2)
    b.add(encode_slice_key("w", [(0, 2), (0, -1)]), w[:2])
    b.add(encode_slice_key("w", [(2, 2), (0, 2)]), w[2:])  # stored under an explicit extent
    b.add_raw_entry("w", encode_entry(DataType.INT32, (4, 2), slices=[[(0, 2), (0, -1)], [(2, 2), (0, -1)]]))
    b.write(tmp_path / "m")
    with bundlefast.open(tmp_path / "m") as r:
        assert len(r) == 2  # "w" and the unmatched slice entry
        with pytest.raises(errors.CorruptionError, match=r"'w': slice 2,2:- is missing"):
            r["w"]


# --------------------------------------------------------------------------------------
# Assembly: every dtype, every layout, byte for byte
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "enum"), POD_DTYPES, ids=POD_IDS)
@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
def test_every_fixed_width_dtype_assembles(tmp_path, dtype, enum, big_endian):
    rng = np.random.default_rng(int(dtype.num) * 7 + big_endian)
    full = random_values(rng, dtype, (5, 4, 3))
    specs = [[(0, 2), (0, -1), (0, -1)], [(2, 3), (0, 1), (0, -1)], [(2, 3), (1, 3), (0, 2)], [(2, 3), (1, 3), (2, 1)]]
    b = BundleBuilder(big_endian=big_endian)
    add_partitioned(b, "t", full, specs[::-1], dtype=enum)  # any order
    b.write(tmp_path / "m")
    for kwargs in ({}, {"verify": True}, {"copy": True}):
        out = bundlefast.load(tmp_path / "m", **kwargs)["t"]
        assert out.dtype == dtype and out.shape == full.shape
        assert out.tobytes() == full.tobytes()
        assert out.flags.owndata and out.flags.c_contiguous  # assembled: an owned array
        assert out.flags.writeable == bool(kwargs.get("copy"))


@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
def test_strings_assemble(tmp_path, big_endian, random_seed):
    rng = np.random.default_rng(random_seed)
    full = random_strings(rng, (6, 5))
    b = BundleBuilder(big_endian=big_endian)
    add_partitioned(b, "s", full, [[(0, 3), (0, 2)], [(3, 3), (0, -1)], [(0, 3), (2, 3)]])
    b.write(tmp_path / "m")
    for kwargs in ({}, {"verify": True}, {"copy": True}):
        out = bundlefast.load(tmp_path / "m", **kwargs)["s"]
        assert out.dtype == object and out.shape == (6, 5)
        assert out.tolist() == full.tolist()
        assert all(type(x) is bytes for x in out.ravel())
        assert out.flags.writeable == bool(kwargs.get("copy"))


def test_random_partitions_of_random_shapes(tmp_path, random_seed):
    rng = np.random.default_rng(random_seed)
    b = BundleBuilder(num_shards=3)
    expected = {}
    for i in range(40):
        rank = int(rng.integers(1, 5))
        shape = tuple(int(d) for d in rng.integers(2, 6, rank))
        kind = i % 4
        if kind == 0:
            full = random_strings(rng, shape)
        else:
            dtype, enum = POD_DTYPES[int(rng.integers(0, len(POD_DTYPES)))]
            full = random_values(rng, dtype, shape)
        specs = random_partition(rng, shape)
        order = rng.permutation(len(specs))
        shards = [int(s) for s in rng.integers(0, 3, len(specs))]
        add_partitioned(b, f"t{i}", full, [specs[j] for j in order], dtype=None if kind == 0 else enum, shards=shards)
        expected[f"t{i}"] = full
    b.write(tmp_path / "m")
    for kwargs in ({}, {"verify": True}):
        out = bundlefast.load(tmp_path / "m", **kwargs)
        assert sorted(out) == sorted(expected)
        for name, full in expected.items():
            if full.dtype == object:
                assert out[name].tolist() == full.tolist(), name
            else:
                assert out[name].tobytes() == full.tobytes(), name
                assert out[name].shape == full.shape


def test_zero_element_partitioned_tensor(tmp_path):
    b = BundleBuilder()
    full = np.zeros((4, 0), np.float32)
    add_partitioned(b, "z", full, [[(0, 2), (0, -1)], [(2, 2), (0, -1)]])
    b.write(tmp_path / "m")
    out = bundlefast.load(tmp_path / "m", verify=True)["z"]
    assert out.shape == (4, 0) and out.dtype == np.float32


def test_slices_in_several_shards_are_each_checksummed(tmp_path):
    b = BundleBuilder(num_shards=2)
    w = np.arange(20, dtype=np.float64).reshape(5, 4)
    add_partitioned(b, "w", w, [[(0, 2), (0, -1)], [(2, 3), (0, -1)]], shards=[0, 1])
    written = b.write(tmp_path / "m")
    loc = written[encode_slice_key("w", [(2, 3), (0, -1)])]
    data = bytearray(loc.path.read_bytes())
    data[loc.offset + 9] ^= 0x10
    loc.path.write_bytes(bytes(data))
    assert bundlefast.load(tmp_path / "m")["w"].shape == (5, 4)  # no verify: not checked
    pattern = (r"m\.data-00001-of-00002: crc32c mismatch for slice 2,3:- of 'w' "
               rf"\(offset {loc.offset}, 96 bytes\): stored 0x[0-9a-f]{{8}}, computed 0x[0-9a-f]{{8}}")
    with pytest.raises(errors.ChecksumError, match=pattern):
        bundlefast.load(tmp_path / "m", verify=True)
    with pytest.raises(errors.ChecksumError, match=pattern):
        bundlefast.open(tmp_path / "m").verify()
    # A region that needs only the intact slice verifies fine.
    with bundlefast.open(tmp_path / "m") as r:
        assert r.get_slice("w", verify=True)[:2].tolist() == w[:2].tolist()
        with pytest.raises(errors.ChecksumError):
            r.get_slice("w", verify=True)[1:3]


def test_string_slice_checksum(tmp_path):
    b = BundleBuilder()
    s = np.array([b"alpha", b"beta", b"gamma", b"delta"], dtype=object)
    add_partitioned(b, "s", s, [[(0, 2)], [(2, 2)]])
    written = b.write(tmp_path / "m")
    loc = written[encode_slice_key("s", [(2, 2)])]
    data = bytearray(loc.path.read_bytes())
    data[loc.offset + loc.size - 1] ^= 0x01  # last byte of "delta"
    loc.path.write_bytes(bytes(data))
    assert bundlefast.load(tmp_path / "m")["s"].tolist()[:2] == [b"alpha", b"beta"]
    with pytest.raises(errors.ChecksumError, match=r"string tensor slice 2,2 of 's'"):
        bundlefast.load(tmp_path / "m", verify=True)


# --------------------------------------------------------------------------------------
# Registration and coverage errors name the tensor (FORMAT.md 6.3)
# --------------------------------------------------------------------------------------


def _broken(tmp_path, slices, stored, *, shape=(4, 3), dtype=DataType.FLOAT):
    """A full entry `w` listing `slices`, and slice entries for (spec, array) in `stored`."""
    b = BundleBuilder()
    for spec, array in stored:
        b.add(encode_slice_key("w", spec), array)
    b.add_raw_entry("w", encode_entry(dtype, shape, slices=slices))
    b.add("ok", np.arange(3, dtype=np.int32))
    b.write(tmp_path / "m")
    return tmp_path / "m"


TOP = [(0, 2), (0, -1)]
BOTTOM = [(2, 2), (0, -1)]
F2x3 = np.zeros((2, 3), np.float32)


@pytest.mark.parametrize(
    ("slices", "stored", "pattern"),
    [
        ([[(0, 2)]], [([(0, 2)], np.zeros(2, np.float32))],
         r"'w': stored slice 0 of 1 of this partitioned tensor: slice 0,2 has rank 1, but the tensor has rank 2"),
        ([TOP, [(3, 2), (0, -1)]], [(TOP, F2x3)],
         r"'w': stored slice 1 of 2 .*slice 3,2:- does not lie inside shape \[4,3\] \(dimension 0: start 3, length 2\)"),
        ([TOP, [(-1, 1), (0, -1)]], [(TOP, F2x3)], r"'w': .*slice -1,1:- does not lie inside shape \[4,3\]"),
        ([TOP, [(1, 3), (0, -1)]], [(TOP, F2x3), ([(1, 3), (0, -1)], np.zeros((3, 3), np.float32))],
         r"'w': partitioned tensor has overlapping slices 0,2:- and 1,3:-"),
        ([TOP], [(TOP, F2x3)],
         r"'w': the 1 stored slices of this partitioned tensor DT_FLOAT \[4,3\] hold 6 of the 12 elements of region 0,4:0,3"),
        ([TOP, BOTTOM], [(TOP, F2x3)], r"'w': slice 2,2:- is missing: the index has no entry under its slice key"),
        ([TOP, BOTTOM], [(TOP, F2x3), (BOTTOM, np.zeros((2, 3), np.float64))],
         r"'w': slice 2,2:- has dtype DT_DOUBLE, but the tensor has dtype DT_FLOAT"),
        ([TOP, BOTTOM], [(TOP, F2x3), (BOTTOM, np.zeros((2, 2), np.float32))],
         r"'w': slice 2,2:- has shape \[2,2\], expected \[2,3\]"),
    ],
    ids=["rank", "outside", "negative", "overlap", "coverage", "missing", "dtype", "shape"],
)
def test_bad_partitions_are_corruption_naming_the_tensor(tmp_path, slices, stored, pattern):
    prefix = _broken(tmp_path, slices, stored)
    with pytest.raises(errors.CorruptionError, match=r"m\.index: " + pattern):
        bundlefast.load(prefix)
    with pytest.raises(errors.CorruptionError, match=pattern):
        bundlefast.open(prefix).verify()
    assert bundlefast.load(prefix, names=["ok"])["ok"].tolist() == [0, 1, 2]


def test_insufficient_slices_fail_only_for_regions_they_do_not_cover(tmp_path):
    prefix = _broken(tmp_path, [TOP], [(TOP, np.arange(6, dtype=np.float32).reshape(2, 3))])
    with bundlefast.open(prefix) as r:
        assert r.get_slice("w")[1].tolist() == [3, 4, 5]
        with pytest.raises(errors.CorruptionError, match=r"hold 3 of the 6 elements of region 1,2:0,3"):
            r.get_slice("w")[1:3]


def test_unreadable_dtype_of_a_partitioned_tensor(tmp_path):
    prefix = _broken(tmp_path, [TOP, BOTTOM], [], dtype=DataType.RESOURCE)
    with pytest.raises(errors.UnsupportedError, match="'w' has dtype DT_RESOURCE"):
        bundlefast.load(prefix, names=["w"])
    assert bundlefast.load(prefix, names=["ok"])["ok"].tolist() == [0, 1, 2]


# --------------------------------------------------------------------------------------
# get_slice: partial reads
# --------------------------------------------------------------------------------------


@pytest.fixture
def partial(tmp_path, random_seed):
    """Ordinary and partitioned tensors of several dtypes, with their full values."""
    rng = np.random.default_rng(random_seed)
    b = BundleBuilder(num_shards=2)
    values = {
        "plain_f32": random_values(rng, np.dtype(np.float32), (9, 5, 3)),
        "plain_c128": random_values(rng, np.dtype(np.complex128), (4, 6)),
        "plain_bf16": random_values(rng, np.dtype(ml_dtypes.bfloat16), (7,)),
        "plain_str": random_strings(rng, (5, 4)),
        "scalar": np.float64(2.5),
        "sliced_i64": random_values(rng, np.dtype(np.int64), (8, 6)),
        "sliced_str": random_strings(rng, (6, 4)),
        "sliced_u16": random_values(rng, np.dtype(np.uint16), (5, 4, 6)),
    }
    for name in ("plain_f32", "plain_c128", "plain_bf16", "plain_str", "scalar"):
        b.add(name, values[name], shard=1)
    add_partitioned(b, "sliced_i64", values["sliced_i64"], [[(0, 3), (0, -1)], [(3, 5), (0, 2)], [(3, 5), (2, 4)]],
                    shards=[0, 1, 0])
    add_partitioned(b, "sliced_str", values["sliced_str"], [[(0, -1), (0, 1)], [(0, -1), (1, 3)]], shards=[1, 0])
    add_partitioned(b, "sliced_u16", values["sliced_u16"], random_partition(rng, (5, 4, 6)))
    b.write(tmp_path / "m")
    return tmp_path / "m", values, rng


def _random_index(rng: np.random.Generator, shape) -> tuple:
    key = []
    for d in shape:
        kind = int(rng.integers(0, 6))
        if kind == 0:
            key.append(int(rng.integers(-d, d)))
        elif kind == 1:
            key.append(slice(None))
        elif kind == 2:
            a, c = sorted(int(x) for x in rng.integers(-d - 2, d + 3, 2))
            key.append(slice(a, c))
        elif kind == 3:
            key.append(slice(int(rng.integers(-d, d)), None, int(rng.choice([-3, -2, -1, 2, 3]))))
        elif kind == 4:
            key.append(slice(int(rng.integers(0, d + 1)), int(rng.integers(0, d + 1))))
        else:
            key.append(None)
            key.append(slice(None))
    if rng.random() < 0.2 and key:
        key[int(rng.integers(0, len(key)))] = Ellipsis
        key = [k for i, k in enumerate(key) if k is not Ellipsis or i == key.index(Ellipsis)]
    return tuple(key)


def test_get_slice_matches_numpy_indexing(partial):
    prefix, values, rng = partial
    with bundlefast.open(prefix) as r:
        for name, full in values.items():
            lazy = r.get_slice(name)
            assert lazy.shape == np.shape(full) and lazy.ndim == np.ndim(full)
            full = np.asarray(full)
            for _ in range(60):
                key = _random_index(rng, full.shape)
                try:
                    want = full[key]
                except IndexError:
                    with pytest.raises(IndexError):
                        lazy[key]
                    continue
                if not isinstance(want, np.ndarray):  # numpy gives a scalar; we, like load(), a 0-d array
                    scalar, want = want, np.empty((), full.dtype)
                    want[()] = scalar
                got = lazy[key]
                assert isinstance(got, np.ndarray)
                assert got.shape == want.shape and got.dtype == want.dtype, (name, key)
                if full.dtype == object:
                    assert got.tolist() == np.asarray(want).tolist(), (name, key)
                else:
                    assert got.tobytes() == np.ascontiguousarray(want).tobytes(), (name, key)
                assert not got.flags.writeable


def test_get_slice_basic_forms(partial):
    prefix, values, _ = partial
    with bundlefast.open(prefix) as r:
        f = values["plain_f32"]
        lazy = r.get_slice("plain_f32")
        assert len(lazy) == 9 and "plain_f32" in repr(lazy)
        assert lazy[10:20].shape == (0, 5, 3)
        assert lazy[3].tobytes() == f[3].tobytes()
        assert lazy[-1, 2].tobytes() == f[-1, 2].tobytes()
        assert lazy[..., 1].tobytes() == f[..., 1].tobytes()
        assert lazy[None, 2:4, ..., None].shape == (1, 2, 5, 3, 1)
        assert lazy[np.int64(4), np.int32(1), 2] == f[4, 1, 2]
        assert lazy.read([1, 0, 0], [3, 5, 3]).tobytes() == f[1:3].tobytes()
        with pytest.raises(IndexError, match="out of bounds for axis 0 with size 9"):
            lazy[9]
        with pytest.raises(IndexError, match="too many indices"):
            lazy[1, 2, 3, 4]
        with pytest.raises(IndexError, match="single ellipsis"):
            lazy[..., 1, ...]
        with pytest.raises(IndexError, match="only integers, slices"):
            lazy[[1, 2]]
        with pytest.raises(IndexError, match="only integers, slices"):
            lazy[True]
        scalar = r.get_slice("scalar")
        assert scalar[()] == 2.5 and scalar[...].shape == ()
        with pytest.raises(TypeError):
            len(scalar)
        with pytest.raises(errors.InvalidArgumentError, match=r"'plain_f32': region 0,10:0,5:0,3"):
            lazy.read([0, 0, 0], [10, 5, 3])
        with pytest.raises(KeyError):
            r.get_slice("nope")
    with pytest.raises(ValueError, match="closed"):
        lazy[0]


def _mapping(array: np.ndarray) -> np.ndarray:
    """The shard mapping a view lives in (following .base to the MappedFile)."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    assert type(base).__name__ == "MappedFile", type(base)
    return np.frombuffer(base, np.uint8)


def _inside(view: np.ndarray, mapping: np.ndarray) -> bool:
    start = mapping.__array_interface__["data"][0]
    at = view.__array_interface__["data"][0]
    return start <= at and at + view.nbytes <= start + mapping.nbytes


def test_contiguous_regions_are_zero_copy_views(partial):
    prefix, values, _ = partial
    with bundlefast.open(prefix) as r:
        lazy = r.get_slice("plain_f32")
        for key in [slice(2, 5), 4, (3, slice(1, 4)), (7, 2), (slice(None),)]:
            v = lazy[key]
            assert not v.flags.owndata and not v.flags.writeable
            assert _inside(v, _mapping(v)), key
        # Not contiguous in the payload: a copy of just that region.
        c = lazy[:, 1:3]
        assert c.flags.owndata and not c.flags.writeable
        assert c.tobytes() == values["plain_f32"][:, 1:3].tobytes()
        # copy=True: owned and writable, even where a view was possible.
        w = r.get_slice("plain_f32", copy=True)[2:5]
        assert w.flags.owndata and w.flags.writeable
        w[0] = 0
        # A region inside one stored slice is a view of that slice's payload.
        s = r.get_slice("sliced_i64")
        v = s[1:3]
        assert not v.flags.owndata and _inside(v, _mapping(v))
        assert v.tobytes() == values["sliced_i64"][1:3].tobytes()
        # Spanning two slices: assembled.
        a = s[2:4]
        assert a.flags.owndata and a.tobytes() == values["sliced_i64"][2:4].tobytes()


def test_regions_touch_only_the_slices_they_need(partial):
    """Deleting the shard of some slices leaves regions that avoid them readable."""
    prefix, values, _ = partial
    prefix.with_name("m.data-00001-of-00002").unlink()
    with bundlefast.open(prefix) as r:
        s = r.get_slice("sliced_i64", verify=True)
        assert s[:3, 1:].tobytes() == values["sliced_i64"][:3, 1:].tobytes()  # slice 0 only (shard 0)
        assert s[3:, 2:].tobytes() == values["sliced_i64"][3:, 2:].tobytes()  # slice 2 only (shard 0)
        with pytest.raises(FileNotFoundError, match=r"slice 3,5:0,2 of 'sliced_i64' \(shard 1 of 2\)"):
            s[3:, 1:3]
        t = r.get_slice("sliced_str")
        assert t[:, 1:].tolist() == values["sliced_str"][:, 1:].tolist()
        with pytest.raises(FileNotFoundError, match=r"m\.data-00001-of-00002"):
            t[:, 0]


def test_hostile_partitions_never_crash(tmp_path, random_seed):
    """Random full entries (overlapping, out-of-range, huge, negative extents; wrong rank)
    with random slice entries (missing, wrong shape or dtype) either read correctly or
    raise a BundleError, for whole reads and random regions."""
    rng = np.random.default_rng(random_seed)
    extremes = [0, 1, 2, 3, -1, -2, 2**31, 2**62, 2**63 - 1, -(2**63)]

    def extent(dim: int) -> tuple[int, int]:
        if rng.random() < 0.3:
            return (0, -1)
        if rng.random() < 0.2:
            return (int(rng.choice(extremes)), int(rng.choice(extremes)))
        start = int(rng.integers(0, dim + 1))
        return (start, int(rng.integers(0, dim - start + 2)))

    for trial in range(60):
        rank = int(rng.integers(0, 4))
        shape = tuple(int(d) for d in rng.integers(0, 5, rank))
        if rng.random() < 0.1:
            shape = (2**40, *shape[1:]) if rank else shape
        b = BundleBuilder()
        specs = []
        for _ in range(int(rng.integers(1, 5))):
            r = rank if rng.random() < 0.9 else int(rng.integers(0, 4))
            spec = [extent(shape[d] if d < rank else 3) for d in range(r)]
            if spec in specs:
                continue
            specs.append(spec)
            if rng.random() < 0.85:
                sshape = tuple(min(shape[d], 4) if n == -1 and d < rank else max(0, min(n, 4))
                               for d, (_, n) in enumerate(spec))
                if rng.random() < 0.1:
                    sshape = (*sshape, 1)
                dtype = np.float32 if rng.random() < 0.9 else np.int16
                b.add(encode_slice_key("t", spec), np.zeros(sshape, dtype))
        b.add_raw_entry("t", encode_entry(DataType.FLOAT, shape, slices=specs))
        b.write(tmp_path / f"m{trial}")
        for verify in (False, True):
            try:
                out = bundlefast.load(tmp_path / f"m{trial}", verify=verify)["t"]
                assert out.shape == shape and not out.any()
            except errors.BundleError:
                pass
            with bundlefast.open(tmp_path / f"m{trial}") as r:
                for _ in range(3):
                    start = [int(rng.integers(0, min(d, 6) + 1)) for d in shape]
                    stop = [int(rng.integers(a, min(d, 8) + 1)) for a, d in zip(start, shape)]
                    try:
                        region = r.get_slice("t", verify=verify).read(start, stop)
                        assert region.shape == tuple(b - a for a, b in zip(start, stop))
                    except errors.BundleError:
                        pass
