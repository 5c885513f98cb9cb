"""Reads of many tensors whose data is not in key order (as TF writes them: the index
is sorted, the data file is in write order).

ReadPlan hands its byte jobs to RunByteJobs in file order (BundleReader::file_rank),
and RunByteJobs runs consecutive pieces read from one mapping under one SIGBUS guard.
These tests pin what must not change with that: every result lands in its own array,
in request order, names repeated or not, over several shards; a shard that shrinks
names the first tensor (in request order) that cannot be read, and the tensors before
the cut still read afterwards.
"""

from __future__ import annotations

import errno
import os
import signal

import numpy as np
import pytest

import bundlefast
from bundle_builder import BundleBuilder
from bundlefast import errors

# Write order reversed against key order, and spread over two shards.
N = 300


def _values(i: int) -> np.ndarray:
    return (np.arange(64, dtype=np.float32) + 1000 * i).reshape(8, 8)


def _build(tmp_path, num_shards: int = 2):
    b = BundleBuilder(num_shards=num_shards)
    for i in reversed(range(N)):  # data in reverse key order
        b.add(f"t{i:04d}", _values(i), shard=i % num_shards)
    b.add("strings", [b"abc", b"", b"z" * 300])
    return b.write(tmp_path / "m")


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("verify, copy", [(False, False), (True, False), (False, True), (True, True)])
def test_every_tensor_lands_in_its_own_array(tmp_path, verify, copy, mmap):
    w = _build(tmp_path)
    out = bundlefast.load(w.index_path.with_suffix(""), verify=verify, copy=copy, mmap=mmap)
    assert list(out) == sorted(out)  # request (key) order, not file order
    for i in range(N):
        np.testing.assert_array_equal(out[f"t{i:04d}"], _values(i))
    assert out["strings"].tolist() == [b"abc", b"", b"z" * 300]


@pytest.mark.parametrize("verify, copy", [(True, False), (False, True), (True, True)])
def test_names_asked_for_twice_or_out_of_order(tmp_path, verify, copy):
    w = _build(tmp_path)
    names = [f"t{i:04d}" for i in (7, 3, 7, 250, 3, 0)] * 40  # more than half the entries
    with bundlefast.open(w.index_path.with_suffix("")) as r:
        out = r.load(names, verify=verify, copy=copy)
        arrays = [r.get_array(n, verify=verify, copy=copy) for n in names]
    for n in names:
        np.testing.assert_array_equal(out[n], _values(int(n[1:])))
    for n, a in zip(names, arrays):
        np.testing.assert_array_equal(a, _values(int(n[1:])))


def test_a_corrupt_tensor_among_many_is_the_one_named(tmp_path):
    w = _build(tmp_path, num_shards=1)
    with bundlefast.open(w.index_path.with_suffix("")) as r:
        info = r.info("t0123")
    data = bytearray(w.data_paths[0].read_bytes())
    data[info.offset + 5] ^= 0x40
    w.data_paths[0].write_bytes(bytes(data))
    for copy in (False, True):
        with pytest.raises(errors.ChecksumError, match="t0123"):
            bundlefast.load(w.index_path.with_suffix(""), verify=True, copy=copy)


@pytest.mark.skipif(not hasattr(signal, "SIGBUS"), reason="POSIX only")
@pytest.mark.parametrize("verify, copy", [(True, False), (False, True), (True, True)])
def test_a_shrunk_shard_names_the_first_tensor_it_cut(tmp_path, verify, copy):
    w = _build(tmp_path, num_shards=1)
    prefix = w.index_path.with_suffix("")
    keep = 8192
    with bundlefast.open(prefix) as r:
        infos = {f"t{i:04d}": r.info(f"t{i:04d}") for i in range(N)}
        r.get_array("t0000")  # maps the shard
        os.truncate(w.data_paths[0], keep)
        cut = sorted(n for n, i in infos.items() if i.offset + i.size > keep)
        with pytest.raises(errors.BundleOSError) as e:
            r.load([f"t{i:04d}" for i in range(N)], verify=verify, copy=copy)
        assert e.value.errno == errno.EIO
        assert repr(cut[0]) in str(e.value), str(e.value)
        # The reader carries on: tensors wholly before the cut still read.
        whole = [n for n, i in infos.items() if i.offset + i.size <= keep]
        assert len(whole) > 10
        out = r.load(whole, verify=verify, copy=copy)
        for n in whole:
            np.testing.assert_array_equal(out[n], _values(int(n[1:])))
