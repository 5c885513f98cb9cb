"""bundlefast.save and bundlefast.Writer without TensorFlow: every value kind the reader
returns round-trips, inputs are checked before anything is written, shards and alignment
work, and no file is left behind by a failed or aborted save.

TensorFlow reading what we write is tests/test_writer_tensorflow.py; crash safety is
tests/test_writer_crash.py."""

from __future__ import annotations

import array
import os

import bundlefast
import ml_dtypes
import numpy as np
import pytest
from bundlefast import InvalidArgumentError, UnsupportedError

ML_DTYPES = [
    ml_dtypes.bfloat16, ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz,
    ml_dtypes.float8_e4m3b11fnuz, ml_dtypes.float8_e5m2fnuz, ml_dtypes.int4, ml_dtypes.uint4,
    ml_dtypes.int2, ml_dtypes.uint2, ml_dtypes.float4_e2m1fn,
]
NUMPY_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
                np.uint16, np.uint32, np.uint64, np.complex64, np.complex128, np.bool_]


def _files(directory) -> set[str]:
    return {p.name for p in directory.iterdir()}


def _assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    if expected.dtype == object:
        assert actual.tolist() == expected.tolist()
    else:
        assert actual.tobytes() == expected.tobytes()


SUB_BYTE_INTS = {"int4", "uint4", "int2", "uint2"}


def _values(rng: np.random.Generator, dtype) -> np.ndarray:
    """A 3x4 array of `dtype`: random bit patterns, except where only some are values."""
    dtype = np.dtype(dtype)
    if dtype == bool:
        return rng.integers(0, 2, size=(3, 4)).astype(bool)
    if dtype.name in SUB_BYTE_INTS:
        info = ml_dtypes.iinfo(dtype)
        return rng.integers(int(info.min), int(info.max) + 1, size=(3, 4)).astype(dtype)
    if dtype.name == "float4_e2m1fn":
        return rng.standard_normal((3, 4)).astype(dtype)
    return rng.integers(0, 256, size=12 * dtype.itemsize, dtype=np.uint8).view(dtype).reshape(3, 4)


@pytest.mark.parametrize("dtype", NUMPY_DTYPES + ML_DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_dtype_round_trips(tmp_path, random_seed, dtype):
    rng = np.random.default_rng(random_seed)
    values = {"x": _values(rng, dtype), "scalar": _values(rng, dtype)[0, 0].reshape(()),
              "empty": np.zeros((0, 3), dtype=dtype)}
    bundlefast.save(tmp_path / "c", values)
    loaded = bundlefast.load(tmp_path / "c", verify=True)
    for name, value in values.items():
        _assert_same(loaded[name], value)


def test_strings_scalars_and_empty(tmp_path):
    every_byte = bytes(range(256))
    values = {
        "s": np.array([b"ab", b"", b"xyz", b"\x00", every_byte], dtype=object),
        "scalar": b"just bytes",
        "empty_scalar": b"",
        "np_bytes": np.array([b"a\x00", b"bc"]),  # fixed-width: NumPy strips trailing NULs
        "list": [b"one", b"two"],
        "2d": np.array([[b"a" * 128, b"b" * 16384], [b"", b"c"]], dtype=object),
        "none": np.empty((0, 2), dtype=object),
        "py_int": 3,
        "py_float": 2.5,
        "py_list": [[1, 2], [3, 4]],
    }
    bundlefast.save(tmp_path / "c", values)
    loaded = bundlefast.load(tmp_path / "c", verify=True)
    assert loaded["s"].tolist() == values["s"].tolist()
    assert loaded["scalar"].shape == () and loaded["scalar"][()] == b"just bytes"
    assert loaded["empty_scalar"][()] == b""
    assert loaded["np_bytes"].tolist() == [b"a", b"bc"]
    assert loaded["list"].tolist() == [b"one", b"two"]
    assert loaded["2d"].tolist() == values["2d"].tolist()
    assert loaded["none"].shape == (0, 2) and loaded["none"].dtype == object
    _assert_same(loaded["py_int"], np.asarray(3))
    _assert_same(loaded["py_float"], np.asarray(2.5))
    _assert_same(loaded["py_list"], np.asarray([[1, 2], [3, 4]]))


def test_buffer_protocol_views_and_strided_inputs(tmp_path):
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    values = {
        "array.array": array.array("i", [1, 2, 3]),
        "memoryview": memoryview(np.arange(5, dtype=np.int16)),
        "strided": base[:, ::2],
        "transposed": base.T,
        "big_endian": np.arange(4, dtype=">i4"),
        "readonly": np.frombuffer(b"\x01\x02\x03\x04", dtype=np.uint8),
    }
    bundlefast.save(tmp_path / "a", values)
    # values read back from our own reader are read-only views over a mapping
    views = bundlefast.load(tmp_path / "a")
    assert not views["strided"].flags.writeable
    bundlefast.save(tmp_path / "b", views)
    for prefix in ("a", "b"):
        loaded = bundlefast.load(tmp_path / prefix, verify=True)
        _assert_same(loaded["array.array"], np.array([1, 2, 3], dtype=np.int32))
        _assert_same(loaded["memoryview"], np.arange(5, dtype=np.int16))
        _assert_same(loaded["strided"], np.ascontiguousarray(base[:, ::2]))
        _assert_same(loaded["transposed"], np.ascontiguousarray(base.T))
        _assert_same(loaded["big_endian"], np.arange(4, dtype=np.int32))
        _assert_same(loaded["readonly"], np.array([1, 2, 3, 4], dtype=np.uint8))


def test_dtypes_override_keeps_tf_dtypes(tmp_path):
    q = np.array([-3, 4], dtype=np.int8)
    bundlefast.save(tmp_path / "c", {"q": q, "u": np.array([7], np.uint16), "i": q},
                    dtypes={"q": "qint8", "u": "quint16"})
    with bundlefast.open(tmp_path / "c") as r:
        assert (r.info("q").tf_dtype, r.info("u").tf_dtype, r.info("i").tf_dtype) == ("qint8", "quint16", "int8")
        _assert_same(r.get_array("q"), q)


def test_default_alignment_aligns_every_payload(tmp_path):
    values = {f"t{i}": np.arange(i, dtype=np.int8) for i in range(1, 20)}
    values["s"] = np.array([b"abc"], dtype=object)
    bundlefast.save(tmp_path / "c", values)
    with bundlefast.open(tmp_path / "c") as r:
        for name in values:
            assert r.info(name).offset % bundlefast._writer.DEFAULT_ALIGNMENT == 0
        for name, value in values.items():
            if value.dtype != object:
                assert r[name].ctypes.data % 64 == 0


def test_max_shard_bytes_splits_into_shards(tmp_path):
    values = {f"t{i:02d}": np.full(100, i, dtype=np.float32) for i in range(10)}  # 400 bytes each
    bundlefast.save(tmp_path / "c", values, max_shard_bytes=1000, alignment=1)
    assert sorted(p.name for p in tmp_path.glob("c.data-*")) == [f"c.data-{i:05d}-of-00005" for i in range(5)]
    with bundlefast.open(tmp_path / "c") as r:
        assert r.num_shards == 5
        assert [r.info(f"t{i:02d}").shard for i in range(10)] == [i // 2 for i in range(10)]
        for name, value in values.items():
            _assert_same(r.get_array(name, verify=True), value)
    # a tensor bigger than the limit gets a shard of its own
    bundlefast.save(tmp_path / "d", {"small": np.zeros(1, np.int8), "big": np.zeros(5000, np.int8)},
                    max_shard_bytes=100)
    with bundlefast.open(tmp_path / "d") as r:
        assert (r.num_shards, r.info("small").shard, r.info("big").shard) == (2, 0, 1)


def test_writer_slices_in_any_order(tmp_path):
    full = np.arange(6 * 5, dtype=np.int64).reshape(6, 5)
    with bundlefast.Writer(tmp_path / "c") as w:
        w.add_slice("m", (6, 5), "4,2:-", full[4:])
        w.add_slice("m", [6, 5], "0,4:0,2", full[:4, :2])
        w.add_slice("m", (6, 5), "6 5 0,4:2,3", full[:4, 2:])  # SaveV2's form, shape first
        w.add("plain", np.ones(2))
    with bundlefast.open(tmp_path / "c") as r:
        assert len(r.info("m").slices) == 3
        _assert_same(r.get_array("m", verify=True), full)


@pytest.mark.parametrize(
    ("spec", "shape", "match"),
    [
        ("0,2", (2, 3), "has 1 dimensions"),
        ("0,5:-", (5, 3), "does not fit"),
        ("0,2:-", (3, 3), "has shape"),
        ("x:-", (2, 3), "bad slice spec"),
        ("4 4 0,2:-", (2, 3), "is for shape"),
    ],
)
def test_bad_slice_specs(tmp_path, spec, shape, match):
    with pytest.raises(InvalidArgumentError, match=match), bundlefast.Writer(tmp_path / "c") as w:
        w.add_slice("m", (4, 3), spec, np.zeros(shape, np.float32))
    assert _files(tmp_path) == set()


def test_overlapping_incomplete_and_inconsistent_slices(tmp_path):
    with pytest.raises(InvalidArgumentError, match="overlaps the slice 0,2:-"), bundlefast.Writer(tmp_path / "c") as w:
        w.add_slice("m", (4, 3), "0,2:-", np.zeros((2, 3), np.float32))
        w.add_slice("m", (4, 3), "1,2:-", np.zeros((2, 3), np.float32))
    with pytest.raises(InvalidArgumentError, match="cover 6 of its 12 elements"), bundlefast.Writer(tmp_path / "c") as w:
        w.add_slice("m", (4, 3), "0,2:-", np.zeros((2, 3), np.float32))
    with pytest.raises(InvalidArgumentError, match="earlier slices are DT_FLOAT"), bundlefast.Writer(tmp_path / "c") as w:
        w.add_slice("m", (4, 3), "0,2:-", np.zeros((2, 3), np.float32))
        w.add_slice("m", (4, 3), "2,2:-", np.zeros((2, 3), np.float64))
    with pytest.raises(InvalidArgumentError, match="already added whole"), bundlefast.Writer(tmp_path / "c") as w:
        w.add("m", np.zeros((4, 3), np.float32))
        w.add_slice("m", (4, 3), "2,2:-", np.zeros((2, 3), np.float32))
    assert _files(tmp_path) == set()


@pytest.mark.parametrize(
    ("tensors", "error", "match"),
    [
        ({"": np.zeros(1)}, InvalidArgumentError, "empty tensor name is reserved"),
        ({"s": np.array([b"a", "b"], dtype=object)}, InvalidArgumentError, "element 1 is str"),
        ({"s": np.array([b"a", None], dtype=object)}, InvalidArgumentError, "element 1 is NoneType"),
        ({"u": np.array(["text"])}, InvalidArgumentError, "holds str"),
        ({"d": np.array(["2020-01-01"], dtype="datetime64[D]")}, UnsupportedError, "no TensorFlow equivalent"),
        ({"v": np.zeros(2, dtype=[("a", "i4")])}, UnsupportedError, "no TensorFlow equivalent"),
        ({1: np.zeros(1)}, InvalidArgumentError, "names must be str or bytes"),
        ({"ok": np.zeros(3), "x": np.zeros(3, np.float32)}, InvalidArgumentError, "needs a float64 array"),
        ({"r": np.zeros(3)}, UnsupportedError, "resource cannot be saved"),
        ({"b": np.zeros(3)}, InvalidArgumentError, "is not a TensorFlow dtype"),
        ({"n": np.zeros(3, np.int8)}, InvalidArgumentError, "only be saved as string or variant|needs a"),
    ],
)
def test_bad_input_fails_before_anything_is_written(tmp_path, tensors, error, match):
    dtypes = {"x": "float64", "r": "resource", "b": "no_such_type", "n": "string"}
    with pytest.raises(error, match=match):
        bundlefast.save(tmp_path / "c", {"first": np.ones(4), **tensors}, dtypes=dtypes)
    assert _files(tmp_path) == set()


def test_duplicate_names(tmp_path):
    with pytest.raises(InvalidArgumentError, match="given twice"):
        bundlefast.save(tmp_path / "c", {"k": np.ones(1), b"k": np.ones(1)})
    with pytest.raises(InvalidArgumentError, match="added twice"), bundlefast.Writer(tmp_path / "c") as w:
        w.add("k", np.ones(1))
        w.add("k", np.ones(1))
    assert _files(tmp_path) == set()


def test_exception_in_with_block_leaves_nothing_and_keeps_the_old_checkpoint(tmp_path):
    bundlefast.save(tmp_path / "c", {"old": np.ones(3)})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(RuntimeError, match="boom"), bundlefast.Writer(tmp_path / "c") as w:
        w.add("new", np.zeros(10**5))
        assert any(".tempstate" in name for name in _files(tmp_path))
        raise RuntimeError("boom")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    w.abort()  # a second abort is harmless
    with pytest.raises(InvalidArgumentError, match="closed"):
        w.add("late", np.ones(1))


def test_abort_and_garbage_collection_remove_temp_files(tmp_path):
    w = bundlefast.Writer(tmp_path / "c")
    w.add("a", np.ones(3))
    w.abort()
    assert _files(tmp_path) == set()
    w = bundlefast.Writer(tmp_path / "d")
    w.add("a", np.ones(3))
    del w
    assert _files(tmp_path) == set()


def test_save_over_replaces_and_cleans_stale_shards_and_temp_files(tmp_path):
    prefix = tmp_path / "c"
    bundlefast.save(prefix, {f"t{i}": np.full(300, i, np.float32) for i in range(6)}, max_shard_bytes=3700)
    assert len(list(tmp_path.glob("c.data-*-of-00002"))) == 2
    # leftovers of interrupted saves: ours and TF's temp names; other prefixes are kept
    leftovers = ["c.index.tempstate123", "c.data-00000.tempstate9", "c.data-00000-of-00001.tempstate77"]
    for name in leftovers:
        (tmp_path / name).write_bytes(b"junk")
    keep = ["c.other.index", "cc.data-00000-of-00002", "c.index.tempstateX", "notes.txt"]
    for name in keep:
        (tmp_path / name).write_bytes(b"keep")
    old = bundlefast.load(prefix)  # views over the old shards stay valid
    bundlefast.save(prefix, {"new": np.arange(4)})
    assert _files(tmp_path) == {"c.index", "c.data-00000-of-00001", *keep}
    _assert_same(bundlefast.load(prefix, verify=True)["new"], np.arange(4))
    _assert_same(old["t5"], np.full(300, 5, np.float32))


def test_save_returns_prefix_and_creates_directory(tmp_path):
    out = bundlefast.save(tmp_path / "a" / "b" / "ckpt", {"x": np.ones(1)})
    assert out == str(tmp_path / "a" / "b" / "ckpt")
    assert bundlefast.load(out)["x"][0] == 1


def test_empty_checkpoint(tmp_path):
    bundlefast.save(tmp_path / "c", {})
    assert _files(tmp_path) == {"c.index", "c.data-00000-of-00001"}
    assert bundlefast.load(tmp_path / "c") == {}


def _tricky_keys(rng: np.random.Generator, shared_prefix: bool) -> list[str]:
    """Keys that stress the index's key order: thousands under one long shared prefix
    (two data blocks' worth), keys equal in the 8 bytes after that prefix and different
    later, keys that are prefixes of others, NUL and 0xff bytes."""
    base = "model/layer_with_weights-"
    keys = [f"{base}{i}/{kind}/.ATTRIBUTES/VARIABLE_VALUE"
            for i in rng.permutation(1200) for kind in ("kernel", "bias", "gamma", "beta", "step")]
    keys += [f"{base}7/kernel/{tail}" for tail in ("a", "b", "", "\x00", "a\x00", "ab")]
    keys += [base + "7/kern", base + "7/kernel\x00", base + b"7/\xff".decode("utf-8", "surrogateescape")]
    if not shared_prefix:
        keys += ["p", "p/a", "p/a/b", "\x00", "\x00\x00", b"\xff".decode("utf-8", "surrogateescape"), "m", "model"]
    return list(dict.fromkeys(keys))


@pytest.mark.parametrize("order", ["random", "sorted"])
@pytest.mark.parametrize("shared_prefix", [True, False], ids=["shared-prefix", "mixed"])
def test_index_order_matches_an_independent_writer(tmp_path, order, shared_prefix):
    """The writer sorts keys once at the end (a radix pass over the bytes after the
    prefix all keys share, whole keys on ties); the pure-Python builder sorts with
    Python's bytes order. Both files must be identical."""
    import bundle_builder as bb

    rng = np.random.default_rng(7)
    keys = _tricky_keys(rng, shared_prefix)
    if order == "random":
        keys = [keys[i] for i in rng.permutation(len(keys))]
    else:
        keys.sort(key=lambda k: k.encode("utf-8", "surrogateescape"))
    tensors = {k: np.full((i % 3,) * (i % 4), i, dtype=np.int32 if i % 2 else np.float16) for i, k in enumerate(keys)}
    bundlefast.save(tmp_path / "ours", tensors, alignment=1)
    builder = bb.BundleBuilder()
    for k, v in tensors.items():
        builder.add(k.encode("utf-8", "surrogateescape"), v)
    builder.write(tmp_path / "theirs")
    assert (tmp_path / "ours.index").read_bytes() == (tmp_path / "theirs.index").read_bytes()
    assert (tmp_path / "ours.data-00000-of-00001").read_bytes() == (tmp_path / "theirs.data-00000-of-00001").read_bytes()


def test_non_utf8_names_round_trip(tmp_path):
    names = ["ключ/名前", "nul\x00inside", b"\xff\xfe raw".decode("utf-8", "surrogateescape")]
    bundlefast.save(tmp_path / "c", {n: np.ones(1) for n in names})
    assert sorted(bundlefast.load(tmp_path / "c")) == sorted(names)


def test_writer_in_threads(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with bundlefast.Writer(tmp_path / "c") as w, ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: w.add(f"t{i}", np.full(1000, i)), range(64)))
    loaded = bundlefast.load(tmp_path / "c", verify=True)
    for i in range(64):
        _assert_same(loaded[f"t{i}"], np.full(1000, i))


def test_bad_arguments(tmp_path):
    with pytest.raises(InvalidArgumentError, match="alignment"):
        bundlefast.Writer(tmp_path / "c", alignment=0)
    with pytest.raises(InvalidArgumentError, match="max_shard_bytes"):
        bundlefast.Writer(tmp_path / "c", max_shard_bytes=0)
    with pytest.raises(InvalidArgumentError, match="directory"):
        bundlefast.Writer(str(tmp_path) + os.sep)
    assert _files(tmp_path) == set()
