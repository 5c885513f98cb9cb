#!/usr/bin/env python
"""Fresh memory for copies: which way of allocating the destination of a
load(copy=True) comes closest to a memcpy into memory that is already mapped?

    PYTHONPATH=<build>/pkg python benchmarks/bench_alloc.py [--workload bert] [--threads 1]

First touch of new anonymous memory costs a page fault and the zeroing of a
page per 4 KiB; on a small VM that is most of a copy's time and it swings
from run to run (issue 14.1). Each strategy below allocates destinations for
every tensor of a workload's layout (BERT-base sizes by default, no files
needed), copies a warm source into them, and is timed as a whole (allocation
+ copy, what a user waits for), with the allocation alone alongside:

  np.empty per tensor      what bundlefast did first (numpy_arrays.cc MakeEmpty):
                           NumPy mallocs each array; glibc mmaps large ones, and
                           NumPy asks for huge pages (MADV_HUGEPAGE) from 4 MiB up
  ... without THP          the same with NumPy's huge-page hint switched off
  arena, faulted by copy   one anonymous mmap per load, arrays are views of it
  arena + MAP_POPULATE     the same, populated in bulk by the kernel at mmap time
  arena + MADV_HUGEPAGE    2 MiB pages: a fault per 2 MiB instead of per 4 KiB
  arena + THP + populate   huge pages, populated in bulk (MADV_POPULATE_WRITE)
                           in one call
  ... bundlefast's arena   the same as bundlefast does it (csrc/arena.cc,
                           variants.arena_like_bundlefast): 2 MiB-aligned, the
                           populate split in 32 MiB pieces over --threads threads
  ... reused (now)         bundlefast's arena kept when the arrays of the run
                           before died and taken again, as bundlefast keeps one
                           (variants.allocate_like_bundlefast): MADV_FREE, then
                           populate, which finds the pages still there
  per tensor ... POPULATE  the same per tensor of 1 MiB or more (np.empty below)
  np.empty + POPULATE      np.empty per tensor, then the array's own pages
                           prefaulted in one call (MADV_POPULATE_WRITE) from 1 MiB
                           up: what bundlefast did before its arena, and still does
                           for a single result (variants.empty_like_bundlefast)
  pread per tensor         read(2) from the data file straight into np.empty
                           (only with a workload on disk: --work-dir)
  warm destination         the same arrays reused: no fault at all (the target)

The copy is `memcpy` (np.copyto) or bundlefast's fused copy+CRC
(`_core._crc32c_copy`, which streams large copies past the cache) with
--copy. Runs are interleaved (run 1 of every strategy, then run 2, ...) and
reported as min / median / max. Quote the machine and its load with any
number: the first lines of the output say both.
"""

# ruff: noqa: T201

from __future__ import annotations

import argparse
import gc
import mmap
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import variants as V  # noqa: E402
import workloads as W  # noqa: E402

MADV_POPULATE_WRITE = V.MADV_POPULATE_WRITE
ALIGN = 64  # each tensor's start in an arena: a cache line, as NumPy aligns its own allocations


def layout_sizes(args: argparse.Namespace) -> tuple[list[int], str | None, list[int]]:
    """(payload sizes, data file or None, offsets in it) of the workload."""
    meta = W.load_meta(args.work_dir, args.workload) if args.work_dir else None
    if meta is not None:
        rows = meta["layout"]
        return [r[4] for r in rows], str(W.paths(args.work_dir, args.workload)["data"]), [r[3] for r in rows]
    specs = W.WORKLOADS[args.workload]()
    sizes = [int(np.prod(shape, dtype=np.int64)) * np.dtype(dt).itemsize for _, shape, dt in specs]
    return sizes, None, list(np.cumsum([0, *sizes[:-1]]))


# ------------------------------------------------------------ destinations


def per_tensor(sizes: list[int]) -> list[np.ndarray]:
    return [np.empty(n, dtype=np.uint8) for n in sizes]


def arena(sizes: list[int], flags: int = 0, advice: tuple[int, ...] = ()) -> list[np.ndarray]:
    """Views of one anonymous mapping holding every tensor (each 64-byte aligned);
    the mapping lives as long as any view does."""
    starts, total = [], 0
    for n in sizes:
        starts.append(total)
        total += (n + ALIGN - 1) // ALIGN * ALIGN
    m = mmap.mmap(-1, max(total, 1), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | flags)
    for a in advice:
        m.madvise(a)
    whole = np.frombuffer(m, dtype=np.uint8)
    return [whole[s : s + n] for s, n in zip(starts, sizes)]


def per_tensor_populated(sizes: list[int], threshold: int = 1 << 20) -> list[np.ndarray]:
    """Tensors from `threshold` bytes up each get a mapping of their own with
    huge pages, populated in bulk; smaller ones np.empty (a change that stays
    inside MakeEmpty: it needs no total size up front)."""
    out = []
    for n in sizes:
        if n < threshold:
            out.append(np.empty(n, dtype=np.uint8))
            continue
        m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        m.madvise(mmap.MADV_HUGEPAGE)
        m.madvise(MADV_POPULATE_WRITE)
        out.append(np.frombuffer(m, dtype=np.uint8))
    return out


def per_tensor_prefaulted(sizes: list[int]) -> list[np.ndarray]:
    """What bundlefast did before its arena (variants.empty_like_bundlefast)."""
    return [V.empty_like_bundlefast(n) for n in sizes]


def numpy_hugepages(on: bool) -> None:
    from numpy._core import multiarray

    multiarray._set_madvise_hugepage(on)


# ------------------------------------------------------------ copies


def copy_all(dsts: list[np.ndarray], srcs: list[np.ndarray], copy: str, threads: int) -> None:
    """Copies srcs into dsts, the tensors dealt to `threads` threads in
    contiguous runs of about equal bytes (both copies release the GIL)."""
    if copy == "memcpy":
        one: Callable[[np.ndarray, np.ndarray], object] = np.copyto
    else:
        from bundlefast import _core

        one = _core._crc32c_copy

    def run(pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        for d, s in pairs:
            one(d, s)

    pairs = list(zip(dsts, srcs))
    if threads == 1:
        run(pairs)
        return
    total = sum(s.size for s in srcs)
    shares: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(threads)]
    done = 0
    for d, s in pairs:
        shares[min(threads - 1, done * threads // max(total, 1))].append((d, s))
        done += s.size
    ts = [threading.Thread(target=run, args=(share,)) for share in shares]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="bert", choices=sorted(W.WORKLOADS))
    ap.add_argument("--work-dir", type=Path, default=None, help="use this workload's files (adds pread)")
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--copy", choices=("memcpy", "crc"), default="memcpy")
    args = ap.parse_args()

    sizes, data_file, offsets = layout_sizes(args)
    total = sum(sizes)
    if data_file:
        with open(data_file, "rb") as f:
            source = np.frombuffer(f.read(), dtype=np.uint8)
    else:
        source = np.random.default_rng(0).integers(0, 256, size=max(offsets[-1] + sizes[-1], 1), dtype=np.uint8)
    srcs = [source[o : o + n] for o, n in zip(offsets, sizes)]
    warm = per_tensor(sizes)
    copy_all(warm, srcs, "memcpy", 1)  # fault it in once

    def pread_all(dsts: list[np.ndarray]) -> None:
        fd = os.open(data_file, os.O_RDONLY)  # type: ignore[arg-type]
        try:
            for d, o in zip(dsts, offsets):
                if os.preadv(fd, [d], o) != d.size:
                    raise OSError("short read")
        finally:
            os.close(fd)

    thp = (mmap.MADV_HUGEPAGE,)
    strategies: dict[str, tuple[Callable[[], list[np.ndarray]], Callable[[list[np.ndarray]], None] | None]] = {
        "np.empty per tensor (before)": (lambda: per_tensor(sizes), None),
        "np.empty per tensor, no THP": (lambda: per_tensor(sizes), None),
        "arena, faulted by the copy": (lambda: arena(sizes), None),
        "arena + MAP_POPULATE": (lambda: arena(sizes, mmap.MAP_POPULATE), None),
        "arena + MADV_HUGEPAGE": (lambda: arena(sizes, advice=thp), None),
        "arena + THP + POPULATE_WRITE": (lambda: arena(sizes, advice=(*thp, MADV_POPULATE_WRITE)), None),
        "bundlefast's arena, fresh": (lambda: V.arena_like_bundlefast(sizes, args.threads), None),
        "bundlefast's arena, reused (now)": (lambda: V.allocate_like_bundlefast(sizes, args.threads), None),
        "per tensor >= 1 MiB: THP + POPULATE": (lambda: per_tensor_populated(sizes), None),
        "np.empty + POPULATE >= 1 MiB (before)": (lambda: per_tensor_prefaulted(sizes), None),
        "warm destination (target)": (lambda: warm, None),
    }
    if data_file and args.copy == "memcpy" and args.threads == 1:
        strategies["pread per tensor into np.empty"] = (lambda: per_tensor(sizes), pread_all)

    times: dict[str, list[float]] = {k: [] for k in strategies}
    alloc: dict[str, list[float]] = {k: [] for k in strategies}
    load0 = os.getloadavg()
    for _ in range(args.repeat):
        for name, (make, fill) in strategies.items():
            numpy_hugepages("no THP" not in name)
            gc.collect()
            t0 = time.perf_counter()
            try:
                dsts = make()
            except OSError as e:  # e.g. MADV_POPULATE_WRITE on a kernel before 5.14
                print(f"({name}: {e}; dropped)")
                del strategies[name]
                break
            t1 = time.perf_counter()
            if fill is None:
                copy_all(dsts, srcs, args.copy, args.threads)
            else:
                fill(dsts)
            t2 = time.perf_counter()
            times[name].append(t2 - t0)
            alloc[name].append(t1 - t0)
            if name == "warm destination (target)" or _ == 0:
                for d, s in zip(dsts, srcs):
                    if not np.array_equal(d, s):
                        raise SystemExit(f"{name}: the copy differs from the source")
            del dsts
    numpy_hugepages(True)

    print(
        f"# {args.workload}: {len(sizes)} tensors, {total / 1e6:.1f} MB; copy = {args.copy}, {args.threads} thread(s); "
        f"{args.repeat} interleaved runs; loadavg {load0[0]:.2f} -> {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
        f"THP {Path('/sys/kernel/mm/transparent_hugepage/enabled').read_text().strip()}"
    )
    target = statistics.median(times["warm destination (target)"])
    print(f"{'strategy':<34} {'min ms':>8} {'median':>8} {'max ms':>8} {'GB/s':>6} {'alloc ms':>9} {'warm/this':>9}")
    for name in strategies:
        t = times[name]
        med = statistics.median(t)
        print(
            f"{name:<34} {min(t) * 1e3:8.1f} {med * 1e3:8.1f} {max(t) * 1e3:8.1f} {total / med / 1e9:6.2f} "
            f"{statistics.median(alloc[name]) * 1e3:9.1f} {target / med:9.2f}"
        )
    print("# warm/this: median time into the warm destination / this strategy's (1.00 = as fast as a warm memcpy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
