"""Copies made by one read share one arena (csrc/arena.h): every filled array is a writable,
aligned slice of it, based on one owner that unmaps it when the last array dies (here, with
reuse off; tests/test_arena_reuse.py tests the reuse).
Reads under 64 MiB of copies allocate per array (numpy_arrays.h ArenaMinBytes): the tests
here lower that bound to reach the arena with small bundles, and the last one restores it."""

from __future__ import annotations

import gc
import sys

import numpy as np
import pytest

import bundlefast
from bundlefast import _core
from bundle_builder import BundleBuilder
from owned_memory import is_arena, is_mapped

ALIGN = 64  # Arena::kAlign


ARENA_MIN_BYTES = 64 << 20  # numpy_arrays.cc's default


@pytest.fixture(autouse=True)
def arena_for_small_reads():
    """Every test here reads through an arena, small as its bundle is, and a freed arena is
    unmapped, not kept for reuse (tests/test_arena_reuse.py); both bounds are restored after."""
    before = _core._testing.set_arena_min_bytes(0)
    cache_before = _core._testing.set_arena_cache_bytes(0)
    try:
        yield
    finally:
        _core._testing.set_arena_min_bytes(before)
        _core._testing.set_arena_cache_bytes(cache_before)


@pytest.fixture
def bundle(tmp_path):
    rng = np.random.default_rng(7)
    values = {
        "odd": np.arange(3, dtype=np.uint8),  # unaligned in the file: the next payload starts at 3
        "w": rng.standard_normal((300, 40)).astype(np.float32),
        "big": rng.integers(0, 2**60, size=(3, 100_000), dtype=np.int64),  # 2.4 MB: huge pages
        "empty": np.zeros((0, 5), np.float64),
        "half": rng.standard_normal(999).astype(np.float16),
        "s": np.array([b"a", b"bc"], dtype=object),  # strings are not in the arena
    }
    b = BundleBuilder()
    for name, value in values.items():
        b.add(name, value)
    b.write(tmp_path / "m")
    return tmp_path / "m", values


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _fixed(arrays: dict) -> dict:
    return {k: v for k, v in arrays.items() if v.dtype != object}


@pytest.mark.parametrize("mmap", [True, False], ids=["mapped", "pread"])
@pytest.mark.parametrize("verify", [False, True])
def test_copies_share_one_arena(bundle, mmap, verify):
    prefix, values = bundle
    got = bundlefast.load(prefix, copy=True, verify=verify, mmap=mmap)
    fixed = _fixed(got)
    owner = fixed["w"].base
    assert is_arena(owner)
    starts = []
    for name, a in fixed.items():
        np.testing.assert_array_equal(a, values[name], err_msg=name)
        assert a.base is owner, name
        assert a.flags.writeable and a.flags.c_contiguous and a.flags.aligned, name
        assert _address(a) % ALIGN == 0, name
        starts.append((_address(a), a.nbytes, name))
    starts.sort()
    for (a0, n0, name0), (a1, _, name1) in zip(starts, starts[1:]):
        assert a0 + n0 <= a1, f"{name0} overlaps {name1}"  # slices are disjoint
    assert got["s"].base is None and list(got["s"]) == [b"a", b"bc"]  # object arrays: their own


def test_arena_arrays_are_writable_and_never_alias_the_file(bundle):
    prefix, values = bundle
    with bundlefast.open(prefix) as r:
        views = r.load()
        got = r.load(copy=True)
        whole = np.frombuffer(views["w"].base, dtype=np.uint8)
        for name, a in _fixed(got).items():
            assert not np.shares_memory(a, whole), name
        for name, a in _fixed(got).items():
            a[...] = 0 if a.dtype.kind != "f" else 1.5  # writing one array leaves the others and the file alone
        np.testing.assert_array_equal(views["w"], values["w"])
        np.testing.assert_array_equal(r.load()["big"], values["big"])
    assert (got["big"] == 0).all() and (got["w"] == 1.5).all() and (got["odd"] == 0).all()


def test_a_read_without_copy_that_fills_is_read_only(bundle):
    """mmap=False fills every result; without copy=True they stay read-only like views."""
    prefix, values = bundle
    got = bundlefast.load(prefix, mmap=False)
    for name, a in _fixed(got).items():
        assert is_arena(a.base) and not a.flags.writeable, name
        np.testing.assert_array_equal(a, values[name])


def test_one_tensor_takes_an_arena_only_from_the_bound(bundle):
    """A single result below ArenaMinBytes is an ordinary owned array (glibc's heap
    serves it again); from the bound up it fills an arena, which the next big read
    reuses instead of faulting in fresh memory (NumPy maps and unmaps such blocks)."""
    prefix, values = bundle
    big_bytes = values["big"].nbytes
    _core._testing.set_arena_min_bytes(big_bytes + 1)
    with bundlefast.open(prefix) as r:
        a = r.get_array("big", copy=True)
        one = bundlefast.load(prefix, names=["w"], copy=True)["w"]
    assert a.flags.owndata and a.base is None and one.flags.owndata
    np.testing.assert_array_equal(a, values["big"])
    _core._testing.set_arena_min_bytes(big_bytes)
    with bundlefast.open(prefix) as r:
        b = r.get_array("big", copy=True)
    assert is_arena(b.base) and b.flags.writeable and not b.flags.owndata
    np.testing.assert_array_equal(b, values["big"])


def test_arrays_outlive_the_reader_and_each_other(bundle):
    prefix, values = bundle
    with bundlefast.open(prefix) as r:
        got = r.load(copy=True)
    del r
    owner = got["big"].base
    address = _address(got["big"])
    assert is_mapped(address)
    big, w = got.pop("big"), got.pop("w")
    del got
    gc.collect()
    np.testing.assert_array_equal(big, values["big"])  # the others died: these still read
    np.testing.assert_array_equal(w, values["w"])
    del big
    gc.collect()
    np.testing.assert_array_equal(w, values["w"])
    assert is_mapped(address)  # w keeps the whole arena
    detached = w.copy()
    assert detached.base is None  # .copy() detaches from the arena
    del w, owner
    gc.collect()
    assert not is_mapped(address)  # the last array died: the arena is unmapped
    np.testing.assert_array_equal(detached, values["w"])


def test_each_array_holds_one_reference_to_the_owner(bundle):
    prefix, _ = bundle
    got = _fixed(bundlefast.load(prefix, copy=True))
    owner = got["w"].base
    # got's arrays, plus getrefcount's argument and the local name
    assert sys.getrefcount(owner) == len(got) + 2
    views = [got["w"][1:], got["w"].T]  # views of an arena array keep it (and so the arena) alive
    assert all(v.base is got["w"] for v in views)
    assert sys.getrefcount(owner) == len(got) + 2
    got.clear()
    assert sys.getrefcount(owner) == 3  # "w" lives on as the views' base
    assert views[0].sum() == views[1].T[1:].sum()
    del views
    assert sys.getrefcount(owner) == 2  # nothing but this test holds the arena now


def test_a_failed_read_frees_its_arena(bundle, tmp_path):
    """An error after the arena is made (here: a damaged checksum) leaks nothing."""
    prefix, _ = bundle
    data = tmp_path / "m.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[-1] ^= 0xFF  # the last payload
    data.write_bytes(bytes(raw))
    before = _anon_kb()
    for _ in range(20):
        with pytest.raises(bundlefast.errors.ChecksumError):
            bundlefast.load(prefix, copy=True, verify=True)
    gc.collect()
    assert _anon_kb() - before < 20 * 1024  # 20 leaked arenas would be > 50 MB


def _anon_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


def test_reads_under_the_bound_allocate_each_array(bundle, tmp_path):
    """Below 64 MiB of copies, repeated reads reuse memory the allocator holds, which an
    arena cannot: each array is NumPy's own. From the bound up, one arena."""
    prefix, values = bundle
    _core._testing.set_arena_min_bytes(ARENA_MIN_BYTES)  # the default (the fixture restores it)
    for name, a in _fixed(bundlefast.load(prefix, copy=True)).items():
        assert a.flags.owndata and a.base is None and a.flags.writeable, name
        np.testing.assert_array_equal(a, values[name])
    rng = np.random.default_rng(3)
    big = {"a": rng.integers(0, 255, size=ARENA_MIN_BYTES // 2, dtype=np.uint8),
           "b": rng.integers(0, 255, size=ARENA_MIN_BYTES // 2 + 1, dtype=np.uint8)}  # fmt: skip
    b = BundleBuilder()
    for name, value in big.items():
        b.add(name, value)
    b.write(tmp_path / "big")
    got = bundlefast.load(tmp_path / "big", copy=True)
    assert is_arena(got["a"].base) and got["a"].base is got["b"].base
    for name, value in big.items():
        np.testing.assert_array_equal(got[name], value)
