"""``mmap=False``: shards read with ``pread`` into owned arrays, never mapped (issue 9).

For network filesystems (page faults on a mapping are slow there) and files that may
change underneath. Every fixture must read exactly as the mapped path reads it and as
TensorFlow does; regions and partitioned tensors too; and a shard that shrinks is an
error, not a SIGBUS. Also ``Reader.read_into`` (whole tensors into a caller's buffer).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

import bundlefast
import tf_oracle
from bundle_builder import BundleBuilder
from bundlefast import errors

DATA_DIR = Path(__file__).resolve().parent / "data"
CASES = sorted(p.name for p in DATA_DIR.iterdir() if p.is_dir() and len(list(p.rglob("*.index"))) == 1)


def _same(a: np.ndarray, b: np.ndarray, name: str) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape, name
    if a.dtype == object:
        assert a.ravel().tolist() == b.ravel().tolist(), name
    else:
        assert a.tobytes() == b.tobytes(), name


def _mapped_files() -> str:
    return Path("/proc/self/maps").read_text() if Path("/proc/self/maps").exists() else ""


def _owns_its_memory(a: np.ndarray) -> bool:
    base = a
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return not isinstance(base, bundlefast._core.MappedFile)


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES)
def test_every_fixture_reads_as_tf(case):
    prefix = tf_oracle.case_prefix(case)
    tf = tf_oracle.tf_snapshot(prefix)
    out = bundlefast.load(prefix, verify=True, mmap=False)
    assert sorted(out) == sorted(tf)
    for name, array in out.items():
        if tf[name].value is not None:  # variants: TF cannot convert them
            tf_oracle.assert_same_array(array, tf[name].value, name)


@pytest.mark.parametrize("case", CASES)
def test_every_fixture_reads_as_the_mapped_path(case):
    prefix = tf_oracle.case_prefix(case)
    mapped = bundlefast.load(prefix, copy=True)
    for verify in (False, True):
        for copy in (False, True):
            with bundlefast.open(prefix, mmap=False) as r:
                out = r.load(verify=verify, copy=copy)
                assert str(prefix) + ".data-" not in _mapped_files()  # never mapped
            assert out.keys() == mapped.keys()
            for name, array in out.items():
                _same(array, mapped[name], name)
                assert _owns_its_memory(array), name
                assert array.flags.writeable == copy, name


@pytest.mark.parametrize("case", ["partitioned_tf1", "savev2_slices", "tf2_sharding_policy", "all_dtypes", "strings"])
def test_regions_read_as_the_mapped_path(case):
    prefix = tf_oracle.case_prefix(case)
    rng = np.random.default_rng(1234)
    with bundlefast.open(prefix) as mapped, bundlefast.open(prefix, mmap=False) as unmapped:
        for name in mapped:
            shape = mapped.info(name).shape
            if mapped.info(name).dtype is None:  # variants: no regions
                continue
            for _ in range(4):
                start = [int(rng.integers(0, d + 1)) for d in shape]
                stop = [int(rng.integers(s, d + 1)) for s, d in zip(start, shape)]
                for verify in (False, True):
                    want = mapped.read_region(name, start, stop, verify=verify, copy=True)
                    got = unmapped.read_region(name, start, stop, verify=verify)
                    _same(got, want, f"{name}[{start}:{stop}]")
                    assert _owns_its_memory(got)
                    lazy = unmapped.get_slice(name)[tuple(slice(a, b) for a, b in zip(start, stop))]
                    _same(lazy, want, name)


def test_a_bad_region_is_invalid_argument_on_both_paths():
    prefix = tf_oracle.case_prefix("partitioned_tf1")
    for mmap in (True, False):
        with bundlefast.open(prefix, mmap=mmap) as r:
            name = next(n for n in r if r.info(n).shape)
            shape = r.info(name).shape
            with pytest.raises(errors.InvalidArgumentError, match="does not lie inside its shape"):
                r.read_region(name, [0] * len(shape), [d + 1 for d in shape])
            with pytest.raises(errors.InvalidArgumentError, match="one bound per dimension"):
                r.read_region(name, [0], [])


def _bundle_to_truncate(tmp_path):
    b = BundleBuilder()
    b.add("first", np.arange(4, dtype=np.float32))
    b.add("big", np.arange(1 << 16, dtype=np.float32))
    b.add("strings", [b"x" * 5000] * 10)
    rows = np.arange(64 * 512, dtype=np.float32).reshape(64, 512)
    b.add_slice("parted", (64, 512), [(0, 32), (0, -1)], rows[:32])
    b.add_slice("parted", (64, 512), [(32, 32), (0, -1)], rows[32:])
    return b.write(tmp_path / "m")


@pytest.mark.parametrize("name", ["big", "strings", "parted"])
@pytest.mark.parametrize("verify", [False, True])
def test_a_shard_that_shrinks_is_an_error_not_a_crash(tmp_path, name, verify):
    written = _bundle_to_truncate(tmp_path)
    with bundlefast.open(written.index_path.with_suffix(""), mmap=False) as r:
        assert r["first"].tolist() == [0, 1, 2, 3]
        os.truncate(written.data_paths[0], 4096)
        with pytest.raises(errors.BundleOSError, match=r"m\.data-00000-of-00001: .*could not be read: the file was "
                                                       r"truncated after it was opened") as info:
            r.get_array(name, verify=verify)
        assert info.value.errno == errno.EIO
        assert r.get_array("first", verify=True).tolist() == [0, 1, 2, 3]


# --------------------------------------------------------------------------------------
# read_into
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("case", ["all_dtypes", "partitioned_tf1", "tf2_sharding_policy", "savev2_slices"])
def test_read_into_fills_a_callers_buffer(case, mmap):
    prefix = tf_oracle.case_prefix(case)
    with bundlefast.open(prefix, mmap=mmap) as r:
        for name in r:
            want = r.get_array(name, copy=True)
            if want.dtype == object:
                with pytest.raises(errors.InvalidArgumentError, match="no fixed byte size"):
                    r.read_into(name, bytearray(16))
                continue
            for verify in (False, True):
                out = np.full(want.shape, 0x5A, dtype=np.uint8) if want.dtype.itemsize == 1 else None
                buf = bytearray(want.nbytes) if out is None else out
                r.read_into(name, buf, verify=verify)
                assert np.asarray(buf).tobytes() == want.tobytes(), name


def test_read_into_checks_size_and_writability():
    prefix = tf_oracle.case_prefix("sharded_tf1")
    with bundlefast.open(prefix) as r:
        nbytes = r.get_array("b").nbytes
        with pytest.raises(errors.InvalidArgumentError, match=f"takes {nbytes} bytes, but the buffer holds 3"):
            r.read_into("b", bytearray(3))
        with pytest.raises((BufferError, TypeError)):
            r.read_into("b", bytes(nbytes))  # read-only
        with pytest.raises((BufferError, ValueError)):
            r.read_into("b", np.zeros((nbytes, 2), dtype=np.uint8)[:, 0])  # not contiguous
        with pytest.raises(errors.TensorNotFoundError):
            r.read_into("nope", bytearray(nbytes))


def test_read_into_verifies(tmp_path):
    b = BundleBuilder()
    b.add("x", np.arange(1000, dtype=np.float64))
    written = b.write(tmp_path / "m")
    data = bytearray(written.data_paths[0].read_bytes())
    data[100] ^= 0x01
    written.data_paths[0].write_bytes(bytes(data))
    for mmap in (True, False):
        with bundlefast.open(tmp_path / "m", mmap=mmap) as r:
            buf = bytearray(8000)
            r.read_into("x", buf)  # not verified: the damaged bytes come through
            with pytest.raises(errors.ChecksumError, match=r"crc32c mismatch for 'x'"):
                r.read_into("x", buf, verify=True)


def test_a_closed_reader_raises_a_bundlefast_error():
    r = bundlefast.open(tf_oracle.case_prefix("sharded_tf1"))
    r.close()
    for call in (lambda: r["a"], lambda: r.read_into("a", bytearray(12)), lambda: r.info("a")):
        with pytest.raises(errors.InvalidArgumentError, match="closed"):
            call()


@pytest.mark.parametrize("case", ["keras_tf2", "tf2_slots"])
def test_load_friendly_without_mapping(case):
    prefix = tf_oracle.case_prefix(case)
    want = bundlefast.load_friendly(prefix, include_slots=True)
    got = bundlefast.load_friendly(prefix, include_slots=True, mmap=False)
    assert got.keys() == want.keys()
    for name in want:
        _same(got[name], want[name], name)
        assert _owns_its_memory(got[name])
