"""A freed arena is kept for the next read that fits (csrc/arena.h, Arena::Take / Recycle):
one at most, at most the cap's bytes, never while any array of it lives. The tests lower the
arena bound (numpy_arrays.h ArenaMinBytes) to reach the arena with small bundles and set the
cap themselves; the fixture restores both and frees what is kept."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import bundlefast
from bundlefast import _core
from bundle_builder import BundleBuilder
from owned_memory import is_arena, is_mapped

T = _core._testing
HUGE_PAGE = 2 << 20  # csrc/arena.cc kHugePage: arenas from this size are multiples of it


@pytest.fixture(autouse=True)
def reuse_on():
    min_before = T.set_arena_min_bytes(0)
    cap_before = T.set_arena_cache_bytes(1 << 30)
    bundlefast.release_memory()  # whatever an earlier test left
    try:
        yield
    finally:
        T.set_arena_min_bytes(min_before)
        T.set_arena_cache_bytes(cap_before)
        bundlefast.release_memory()


def _write(path, values: dict) -> str:
    b = BundleBuilder()
    for name, value in values.items():
        b.add(name, value)
    b.write(path)
    return str(path)


def _values(seed: int, big: int = 300_000) -> dict:
    """Tensors of a few MB (huge pages), odd sizes so slices have slack between them."""
    rng = np.random.default_rng(seed)
    return {
        "odd": rng.integers(0, 255, size=3, dtype=np.uint8),
        "big": rng.integers(0, 2**60, size=(big,), dtype=np.int64),
        "w": rng.standard_normal((301, 41)).astype(np.float32),
        "half": rng.standard_normal(999).astype(np.float16),
        "s": np.array([b"a", b"bc"], dtype=object),  # strings: never in the arena
    }


@pytest.fixture
def bundle(tmp_path):
    values = _values(7)
    return _write(tmp_path / "m", values), values


def _fixed(arrays: dict) -> dict:
    return {k: v for k, v in arrays.items() if v.dtype != object}


def _span(a: np.ndarray) -> tuple[int, int]:
    lo = a.__array_interface__["data"][0]
    return lo, lo + a.nbytes


def _start(arrays: dict) -> int:
    """The arena's first byte: where the read put its first filled array."""
    return min(_span(a)[0] for a in _fixed(arrays).values())


def _load_and_drop(prefix: str) -> int:
    """Loads copies and lets them all die: their arena is free. Returns where it starts."""
    got = bundlefast.load(prefix, copy=True)
    start = _start(got)
    del got
    gc.collect()
    return start


def _check(arrays: dict, values: dict) -> None:
    for name, value in values.items():
        if value.dtype == object:
            assert list(arrays[name]) == list(value), name
        else:
            np.testing.assert_array_equal(arrays[name], value, err_msg=name)


def _disjoint(xs: dict, ys: dict) -> None:
    for nx, x in _fixed(xs).items():
        for ny, y in _fixed(ys).items():
            assert not np.shares_memory(x, y), (nx, ny)
            (x0, x1), (y0, y1) = _span(x), _span(y)
            assert x1 <= y0 or y1 <= x0, (nx, ny)


def test_the_next_load_takes_the_freed_arena(bundle):
    prefix, values = bundle
    first = bundlefast.load(prefix, copy=True, verify=True)
    owner = first["w"].base
    assert is_arena(owner)
    start = _start(first)
    assert T.retained_arena() is None  # in use: not kept
    del first, owner
    gc.collect()
    kept = T.retained_arena()
    assert kept is not None and kept[0] == start
    assert kept[1] % HUGE_PAGE == 0 and kept[1] >= sum(a.nbytes for a in _fixed(_values(7)).values())
    second = bundlefast.load(prefix, copy=True, verify=True)
    assert _start(second) == start  # the same memory, taken, not mapped anew
    assert T.retained_arena() is None
    _check(second, values)
    assert all(a.flags.writeable for a in _fixed(second).values())


def test_a_live_array_never_shares_memory_with_a_new_load(bundle):
    prefix, values = bundle
    keep = bundlefast.load(prefix, copy=True)
    for a in _fixed(keep).values():
        a[...] = 1  # the new load must not see or overwrite this
    other = bundlefast.load(prefix, copy=True)  # nothing retained: a fresh arena
    _disjoint(keep, other)
    assert all((a == 1).all() for a in _fixed(keep).values())
    _check(other, values)


def test_one_surviving_array_keeps_its_arena_from_reuse(bundle):
    prefix, values = bundle
    got = bundlefast.load(prefix, copy=True)
    start = _start(got)
    w = got["w"]
    del got
    gc.collect()
    assert T.retained_arena() is None  # w still holds it
    w[...] = -1.0
    again = bundlefast.load(prefix, copy=True)
    assert _start(again) != start
    _disjoint({"w": w}, again)
    assert (w == -1.0).all()
    _check(again, values)
    del w, again
    gc.collect()
    assert T.retained_arena() is not None


def test_many_load_drop_cycles_keep_every_live_value(tmp_path):
    """Two bundles of the same size with different values, loaded in turn; some results are
    kept alive over the next loads. Every live array keeps its values and its own memory."""
    bundles = [(_write(tmp_path / f"m{i}", v), v) for i, v in enumerate([_values(1), _values(2)])]
    rng = np.random.default_rng(0)
    live: list[tuple[dict, dict]] = []
    starts = set()
    for i in range(40):
        prefix, values = bundles[i % 2]
        got = bundlefast.load(prefix, copy=True, verify=bool(i % 3))
        starts.add(_start(got))
        for kept, _ in live:
            _disjoint(kept, got)
        live.append((got, values))
        if len(live) > 2 or rng.random() < 0.5:
            live.pop(int(rng.integers(len(live))))
        del got
        gc.collect()
        for kept, kept_values in live:
            _check(kept, kept_values)
    assert len(starts) < 40  # some loads did reuse an arena


def test_threads_loading_at_once_never_share_an_arena(tmp_path):
    """Arenas are taken with the GIL released: a mutex keeps two reads from taking the
    same one. Each thread marks its result and checks the mark after its next load."""
    prefix = _write(tmp_path / "m", _values(5))
    errors: list[str] = []

    def work(mark: int) -> None:
        try:
            previous = None
            for _ in range(15):
                got = bundlefast.load(prefix, copy=True, verify=True)
                big = got["big"]
                if previous is not None and not (previous == mark).all():
                    errors.append(f"thread {mark}: its previous result was overwritten")
                big[...] = mark
                previous = big
                del got
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"thread {mark}: {e!r}")

    threads = [threading.Thread(target=work, args=(m,)) for m in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_an_arena_over_the_cap_is_unmapped(bundle):
    prefix, _ = bundle
    start = _load_and_drop(prefix)
    capacity = T.retained_arena()[1]
    bundlefast.release_memory()
    assert not is_mapped(start)

    T.set_arena_cache_bytes(capacity - 1)  # one byte too few
    start = _load_and_drop(prefix)
    assert T.retained_arena() is None and not is_mapped(start)

    T.set_arena_cache_bytes(capacity)  # exactly enough
    start = _load_and_drop(prefix)
    assert T.retained_arena() == (start, capacity)


def test_zero_keeps_nothing_and_lowering_the_cap_frees_what_is_kept(bundle):
    prefix, _ = bundle
    start = _load_and_drop(prefix)
    assert T.retained_arena()[0] == start
    assert T.set_arena_cache_bytes(0) == 1 << 30  # returns the bound it replaces
    assert T.retained_arena() is None and not is_mapped(start)
    start = _load_and_drop(prefix)
    assert T.retained_arena() is None and not is_mapped(start)


def test_release_memory_unmaps_the_kept_arena(bundle):
    prefix, _ = bundle
    start = _load_and_drop(prefix)
    capacity = T.retained_arena()[1]
    assert is_mapped(start)
    assert bundlefast.release_memory() == capacity
    assert T.retained_arena() is None and not is_mapped(start)
    assert bundlefast.release_memory() == 0


def test_a_much_smaller_load_leaves_a_big_arena_alone(tmp_path):
    """A read takes the kept arena only if it needs at least half of it: a small read does
    not pin a big block. The big block stays kept for a read it fits."""
    big_prefix = _write(tmp_path / "big", _values(1, big=1_000_000))  # 8 MB: 8 MiB arena
    small_prefix, small_values = _write(tmp_path / "small", _values(2)), _values(2)  # 2.4 MB
    big_start = _load_and_drop(big_prefix)
    small = bundlefast.load(small_prefix, copy=True)
    assert _start(small) != big_start
    assert T.retained_arena()[0] == big_start
    _check(small, small_values)
    del small
    gc.collect()
    assert T.retained_arena()[0] != big_start  # the newest freed arena is the one kept


def test_a_smaller_load_that_fits_reuses_and_sees_only_its_own_bytes(tmp_path):
    """Reused memory is not zeroed: every byte of every array is the new read's own."""
    values_a, values_b = _values(1, big=400_000), _values(2, big=300_000)
    a_prefix, b_prefix = _write(tmp_path / "a", values_a), _write(tmp_path / "b", values_b)
    got = bundlefast.load(a_prefix, copy=True)
    start = _start(got)
    for a in _fixed(got).values():
        a.view(np.uint8)[...] = 0xAB  # what a reuse must not leak
    del got, a
    gc.collect()
    got = bundlefast.load(b_prefix, copy=True, mmap=False)  # pread into the arena
    assert _start(got) == start
    _check(got, values_b)


def _child(code: str, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_the_cap_default_and_environment_variable():
    code = "from bundlefast import _core; print(_core._testing.set_arena_cache_bytes(0))"
    env = {k: v for k, v in os.environ.items() if k != "BUNDLEFAST_ARENA_CACHE_BYTES"}
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    default = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(default.stdout) == min(1 << 30, physical // 8 // os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PAGE_SIZE"))
    assert _child(code, BUNDLEFAST_ARENA_CACHE_BYTES="12345") == "12345"
    assert _child(code, BUNDLEFAST_ARENA_CACHE_BYTES="0") == "0"


def test_the_environment_variable_zero_keeps_nothing(bundle):
    prefix, _ = bundle
    code = (
        "import gc, bundlefast; from bundlefast import _core; _core._testing.set_arena_min_bytes(0)\n"
        f"got = bundlefast.load({prefix!r}, copy=True); del got; gc.collect()\n"
        "print(_core._testing.retained_arena())"
    )
    assert _child(code, BUNDLEFAST_ARENA_CACHE_BYTES="0") == "None"
    assert _child(code, BUNDLEFAST_ARENA_CACHE_BYTES=str(1 << 30)).startswith("(")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_drops_the_kept_arena_and_still_loads(bundle):
    prefix, values = bundle
    alive = bundlefast.load(prefix, copy=True)
    got = bundlefast.load(prefix, copy=True)
    del got
    gc.collect()
    kept = T.retained_arena()
    assert kept is not None
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        status = 1
        try:
            ok = T.retained_arena() is None  # its copy of the parent's block is gone
            again = bundlefast.load(prefix, copy=True, verify=True)
            _check(again, values)
            _check(alive, values)  # the parent's live arrays are inherited intact
            del again
            gc.collect()
            status = 0 if ok and T.retained_arena() is not None else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert T.retained_arena() == kept  # the parent's is untouched
    again = bundlefast.load(prefix, copy=True)
    assert _start(again) == kept[0]
    _check(again, values)
    _check(alive, values)
