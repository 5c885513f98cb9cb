"""bundlefast.load / bundlefast.open on bundles made by the independent test writer."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import bundlefast
from bundle_builder import BundleBuilder, DataType

# (numpy dtype, TF enum) for every fixed-width dtype; ml_dtypes types included.
POD_DTYPES = [
    (np.float16, DataType.HALF),
    (np.float32, DataType.FLOAT),
    (np.float64, DataType.DOUBLE),
    (ml_dtypes.bfloat16, DataType.BFLOAT16),
    (ml_dtypes.float8_e5m2, DataType.FLOAT8_E5M2),
    (ml_dtypes.float8_e4m3fn, DataType.FLOAT8_E4M3FN),
    (ml_dtypes.float8_e4m3fnuz, DataType.FLOAT8_E4M3FNUZ),
    (ml_dtypes.float8_e4m3b11fnuz, DataType.FLOAT8_E4M3B11FNUZ),
    (ml_dtypes.float8_e5m2fnuz, DataType.FLOAT8_E5M2FNUZ),
    (ml_dtypes.float4_e2m1fn, DataType.FLOAT4_E2M1FN),
    (ml_dtypes.int4, DataType.INT4),
    (ml_dtypes.uint4, DataType.UINT4),
    (ml_dtypes.int2, DataType.INT2),
    (ml_dtypes.uint2, DataType.UINT2),
    (np.int8, DataType.INT8),
    (np.int16, DataType.INT16),
    (np.int32, DataType.INT32),
    (np.int64, DataType.INT64),
    (np.uint8, DataType.UINT8),
    (np.uint16, DataType.UINT16),
    (np.uint32, DataType.UINT32),
    (np.uint64, DataType.UINT64),
    (np.bool_, DataType.BOOL),
    (np.complex64, DataType.COMPLEX64),
    (np.complex128, DataType.COMPLEX128),
]

# Quantized types are stored like their integer twins and returned as TF returns them.
QUANTIZED = [
    (np.int8, DataType.QINT8),
    (np.uint8, DataType.QUINT8),
    (np.int16, DataType.QINT16),
    (np.uint16, DataType.QUINT16),
    (np.int32, DataType.QINT32),
]


_ML_INTEGERS = (ml_dtypes.int4, ml_dtypes.uint4, ml_dtypes.int2, ml_dtypes.uint2)


def _random_values(rng: np.random.Generator, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    if dt == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dt.kind in "iu" and dt.itemsize < 8:
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt)
    if dt.kind in "iu":
        return rng.integers(0, 2**63, size=shape).astype(dt)
    if dt in (np.float16, np.float32, np.float64, np.complex64, np.complex128):
        # Every bit pattern, NaNs and infinities included.
        return np.frombuffer(rng.bytes(n * dt.itemsize), dtype=dt).reshape(shape).copy()
    if dt.type in _ML_INTEGERS:
        # int4/uint4/int2/uint2: every value in range, never one the type cannot hold
        # (casting -1.3 to uint4 is undefined, and ml_dtypes >= 0.7 warns on it).
        info = ml_dtypes.iinfo(dt)
        return rng.integers(int(info.min), int(info.max), size=shape, endpoint=True).astype(dt)
    # ml_dtypes narrow float types: values they can hold, rounded from float32 (signed
    # and finite, so the cast is defined for every one of them).
    return rng.standard_normal(size=shape).astype(np.float32).astype(dt)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize(("dtype", "enum"), POD_DTYPES, ids=lambda x: getattr(x, "__name__", str(x)))
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 5), (2, 0, 4), (2, 3, 1, 2)])
def test_every_pod_dtype_round_trips(tmp_path, dtype, enum, shape):
    rng = np.random.default_rng(int(enum) * 100 + len(shape))
    values = _random_values(rng, dtype, shape)
    b = BundleBuilder()
    b.add("pad", np.zeros(3, np.uint8))  # puts the tensor at an odd (unaligned) offset
    b.add("t", values)
    b.write(tmp_path / "m")
    for kwargs in ({}, {"verify": True}, {"copy": True}):
        out = bundlefast.load(tmp_path / "m", **kwargs)["t"]
        assert isinstance(out, np.ndarray)
        assert _same(out, values), kwargs
    with bundlefast.open(tmp_path / "m") as r:
        info = r.info("t")
        assert info.dtype_enum == enum
        assert info.shape == shape
        assert info.dtype == np.dtype(dtype)


@pytest.mark.parametrize(("dtype", "enum"), QUANTIZED)
def test_quantized_types_come_back_as_plain_integers(tmp_path, dtype, enum):
    values = np.arange(-3, 3).astype(dtype)
    b = BundleBuilder()
    b.add("q", values, dtype=enum)
    b.write(tmp_path / "m")
    out = bundlefast.load(tmp_path / "m", verify=True)["q"]
    assert _same(out, values)
    with bundlefast.open(tmp_path / "m") as r:
        assert r.info("q").tf_dtype == DataType(enum).name.lower()


def test_strings_round_trip_with_both_checksums(tmp_path):
    values = [b"", b"a", b"\x00\xff\x80", "é".encode(), b"x" * 127, b"y" * 128, b"z" * 16383, b"w" * 16384]
    b = BundleBuilder()
    b.add("s", np.array(values, dtype=object))
    b.add("scalar", b"just one")
    b.add("empty", np.array([], dtype=object))
    b.add("grid", np.array([[b"a", b"bb"], [b"ccc", b""]], dtype=object))
    b.write(tmp_path / "m")
    for kwargs in ({}, {"verify": True}, {"copy": True}):
        out = bundlefast.load(tmp_path / "m", **kwargs)
        assert out["s"].dtype == object
        assert out["s"].tolist() == values
        assert out["scalar"].shape == ()
        assert out["scalar"][()] == b"just one"
        assert out["empty"].shape == (0,)
        assert out["grid"].tolist() == [[b"a", b"bb"], [b"ccc", b""]]
        assert out["s"].flags.writeable == bool(kwargs.get("copy"))


def test_names_reads_only_the_named_tensors(tmp_path):
    b = BundleBuilder(num_shards=2)
    b.add("a", np.arange(4, dtype=np.int32), shard=0)
    b.add("b", np.arange(5, dtype=np.int64), shard=1)
    written = b.write(tmp_path / "m")
    written.data_paths[1].unlink()  # `a` must not need shard 1
    out = bundlefast.load(tmp_path / "m", names=["a"], verify=True)
    assert list(out) == ["a"]
    assert out["a"].tolist() == [0, 1, 2, 3]
    with pytest.raises(FileNotFoundError, match=r"m\.data-00001-of-00002"):
        bundlefast.load(tmp_path / "m", names=["b"])
    with pytest.raises(bundlefast.TensorNotFoundError, match="'nope' not found"):
        bundlefast.load(tmp_path / "m", names=["nope"])


def test_reader_is_a_mapping_and_context_manager(tmp_path):
    b = BundleBuilder()
    b.add("x", np.float32(2.5))
    b.add("y/z", np.ones((2, 2), np.float64))
    b.write(tmp_path / "m")
    with bundlefast.open(tmp_path / "m") as r:
        assert list(r) == ["x", "y/z"]
        assert len(r) == 2
        assert "x" in r
        assert "nope" not in r
        assert r.get("nope") is None
        assert r["x"].shape == ()
        assert float(r["x"]) == 2.5
        info = r.info("y/z")
        assert (info.shard, info.size) == (0, 32)
        assert info.crc32c_unmasked == bundlefast.crc32c(np.ones((2, 2), np.float64).tobytes())
        r.verify()
        r.verify(["x"])
    with pytest.raises(ValueError, match="closed"):
        r["x"]


def test_many_index_blocks_and_snappy_blocks(tmp_path):
    names = [f"layer_{i:05d}/kernel" for i in range(2000)]
    for compress in ("none", "snappy"):
        b = BundleBuilder(block_size=1024, compress=compress)
        for i, n in enumerate(names):
            b.add(n, np.full(3, i, np.int32))
        written = b.write(tmp_path / compress)
        assert len(written.data_blocks) > 20
        out = bundlefast.load(tmp_path / compress, verify=True)
        assert list(out) == names
        assert all(out[n].tolist() == [i] * 3 for i, n in enumerate(names))


def test_keys_that_are_not_utf8_round_trip(tmp_path):
    b = BundleBuilder()
    b.add(b"caf\xe9", np.int8(1))
    b.write(tmp_path / "m")
    out = bundlefast.load(tmp_path / "m")
    (name,) = out
    assert name.encode("utf-8", "surrogateescape") == b"caf\xe9"
    assert bundlefast.load(tmp_path / "m", names=[name])[name] == 1


def test_format_md_minimal_bundle_bytes(tmp_path):
    # FORMAT.md 15.3: the 117-byte index TF writes for one scalar float x = 1.0.
    index = bytes.fromhex(
        "000006" "08011a020801" "00010b78" "080112002804 35 81a5da2b".replace(" ", "")
        + "0000000001000000" "00385adf39"
        + "0000000001000000" "00c0f2a1b0"
        + "0001027900200000000001000000" "00c24c0642"
        + "2508320e" + "00" * 36 + "57fb808b247547db"
    )
    assert len(index) == 117
    (tmp_path / "min.index").write_bytes(index)
    (tmp_path / "min.data-00000-of-00001").write_bytes(bytes.fromhex("0000803f"))
    out = bundlefast.load(tmp_path / "min", verify=True)
    assert list(out) == ["x"]
    assert out["x"].dtype == np.float32
    assert out["x"][()] == 1.0
