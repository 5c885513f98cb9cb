"""The bulk paths of verify and copy: piece order, the worker pool, and pread copies.

``load(verify=True)`` and ``load(copy=True)`` cut payloads into pieces, visit them in
file order (not key order), hand them to a pool of worker threads, and copy big pieces
with ``pread`` from a descriptor of the mapped file instead of out of the mapping.
These tests pin what must not change with any of that: results equal the zero-copy
views, whatever the thread count, byte order or shard layout; a forked child can still
use the pool; and a copy never reads a file that replaced the one that was mapped.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pytest

import bundlefast
from bundle_builder import BundleBuilder
from owned_memory import owns_its_memory


def _bundle(tmp_path, *, big_endian: bool = False):
    """Big and small tensors whose data order is not their key order, over two shards."""
    rng = np.random.default_rng(5)
    b = BundleBuilder(big_endian=big_endian, num_shards=2)
    expected = {
        "z/first_written": rng.standard_normal(1_300_000).astype(np.float32),  # > 4 MiB: several pieces
        "a/second": rng.integers(-(2**40), 2**40, size=(200, 70)),  # 112 KB: pread-sized
        "m/tiny": np.arange(5, dtype=np.int16),  # copied out of the mapping
        "b/other_shard": rng.standard_normal((300, 100)).astype(np.float64),
        "c/half": rng.standard_normal(40_000).astype(np.float16),
    }
    for name, value in expected.items():
        b.add(name, value, shard=1 if name == "b/other_shard" else 0)
    b.write(tmp_path / "m")
    return tmp_path / "m", expected


@pytest.mark.parametrize("big_endian", [False, True], ids=["little", "big-endian"])
@pytest.mark.parametrize("threads", ["1", "2", "5"])
def test_copy_and_verify_return_the_stored_values(tmp_path, monkeypatch, big_endian, threads):
    monkeypatch.setenv("BUNDLEFAST_NUM_THREADS", threads)
    prefix, expected = _bundle(tmp_path, big_endian=big_endian)
    for kwargs in ({"copy": True}, {"verify": True}, {"verify": True, "copy": True}):
        got = bundlefast.load(prefix, **kwargs)
        assert sorted(got) == sorted(expected)
        for name, value in expected.items():
            assert got[name].dtype == value.dtype.newbyteorder("=")
            np.testing.assert_array_equal(got[name], value, err_msg=f"{name} {kwargs}")
            if kwargs.get("copy"):
                assert got[name].flags.writeable and owns_its_memory(got[name])


def test_the_pool_works_in_a_forked_child(tmp_path, monkeypatch):
    """Workers do not survive fork(); the child must start its own, not wait for the parent's."""
    monkeypatch.setenv("BUNDLEFAST_NUM_THREADS", "2")
    prefix, expected = _bundle(tmp_path)
    bundlefast.load(prefix, verify=True, copy=True)  # the parent's pool exists now
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() of a threaded process
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        code = 1
        try:
            got = bundlefast.load(prefix, verify=True, copy=True)
            code = 0 if all(np.array_equal(got[n], v) for n, v in expected.items()) else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung in load(verify=True, copy=True)")
        time.sleep(0.01)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


def test_a_copy_never_reads_a_file_that_replaced_the_mapped_one(tmp_path):
    """Copies pread() from the path only if it still names the mapped file (same inode)."""
    prefix, expected = _bundle(tmp_path)
    data = tmp_path / "m.data-00000-of-00002"
    with bundlefast.open(prefix) as reader:
        view = reader["z/first_written"]  # maps shard 0
        replacement = tmp_path / "replacement"
        replacement.write_bytes(bytes(data.stat().st_size))  # same size, all zeros
        os.replace(replacement, data)
        copied = reader.get_array("z/first_written", copy=True)
        np.testing.assert_array_equal(copied, expected["z/first_written"])
        np.testing.assert_array_equal(copied, view)


def test_verifying_a_tiny_checkpoint_is_not_held_up_by_threads(tmp_path, monkeypatch):
    """A few KB are checked on the calling thread: no wake-up of a helper to wait for.

    (Starting and joining a thread per call once made a 5 KB verify take ~9 ms on a busy
    2-core machine.) Timing is noisy, so this only rules out the gross regression.
    """
    monkeypatch.setenv("BUNDLEFAST_NUM_THREADS", "2")
    b = BundleBuilder()
    for i in range(100):
        b.add(f"t{i:03d}", np.arange(16, dtype=np.float32) + i)
    b.write(tmp_path / "small")
    with bundlefast.open(tmp_path / "small") as reader:
        reader.verify()
        best = min(_timed(reader.verify) for _ in range(20))
    assert best < 2e-3, f"verify of 6 KB took {best * 1e3:.2f} ms at best"


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
