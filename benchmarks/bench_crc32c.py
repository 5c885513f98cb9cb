"""CRC-32C throughput: each bundlefast kernel vs the `crc32c` and
`google_crc32c` packages, one thread, warm cache (the buffer is touched
before timing). Model: google/crc32c src/crc32c_benchmark.cc.

    PYTHONPATH=<build>/pkg python benchmarks/bench_crc32c.py [--max-size 256M]
    PYTHONPATH=<build>/pkg python benchmarks/bench_crc32c.py --copy

--copy measures the fused copy+CRC (crc32c::ExtendCopy, through the
`_core._crc32c_copy` test hook) instead: against a memcpy (np.copyto) into
the same kind of memory, warm (a destination reused, already mapped) and
fresh (a new anonymous mapping per call, so every page is faulted in and
zeroed by the kernel during the copy), and against the plain CRC of the
same bytes. Goal: copy+CRC >= 0.9x memcpy into the same kind of memory.

Prints GB/s (10^9 bytes per second, median of --repeats timed runs, each
long enough to dwarf the timer) per size, plus each column's ratio to the
`crc32c` package. Buffers beyond the last-level cache measure memory
bandwidth as much as the kernel; quote the machine with any number.
"""

# ruff: noqa: T201

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bundlefast import _core

Checksum = Callable[[bytes], object]


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} B"


def candidates() -> dict[str, Checksum]:
    funcs: dict[str, Checksum] = {"bundlefast": _core.crc32c}
    for name in _core._crc32c_backends():
        funcs[f"bf:{name}"] = lambda b, name=name: _core._crc32c_extend(b, 0, name)
    try:
        import crc32c  # ICRAR's package

        funcs["crc32c pkg"] = crc32c.crc32c
    except ImportError:
        print("(crc32c package not installed: pip install crc32c)")
    try:
        import google_crc32c

        funcs["google_crc32c"] = google_crc32c.value
    except ImportError:
        print("(google_crc32c not installed)")
    return funcs


def calibrate(func: Checksum, data: bytes, min_seconds: float) -> int:
    """Calls per timed run so that one run takes at least min_seconds."""
    func(data)  # warm caches and any lazy init
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            func(data)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds or loops >= 1 << 24:
            return loops
        loops *= 2 if elapsed <= 0 else max(2, min(16, int(min_seconds / elapsed) + 1))


def time_all(
    funcs: dict[str, Checksum], data: bytes, repeats: int, min_seconds: float
) -> dict[str, float]:
    """Median seconds per call for each function. Runs are interleaved
    round-robin, so background load on a shared machine hits every column
    alike instead of whichever happened to run at the time."""
    loops = {name: calibrate(func, data, min_seconds) for name, func in funcs.items()}
    samples: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, func in funcs.items():
            start = time.perf_counter()
            for _ in range(loops[name]):
                func(data)
            samples[name].append((time.perf_counter() - start) / loops[name])
    return {name: statistics.median(times) for name, times in samples.items()}


def fresh(n: int) -> Any:
    """A destination never touched before: a new anonymous mapping."""
    import mmap

    import numpy as np

    return np.frombuffer(mmap.mmap(-1, max(n, 1)), dtype=np.uint8)[:n]


def copy_table(sizes: list[int], repeats: int, min_seconds: float) -> int:
    """Fused copy+CRC vs memcpy, warm and fresh, and the plain CRC."""
    import numpy as np

    src_all = np.frombuffer(os.urandom(max(sizes)), dtype=np.uint8)
    print(f"{'size':>10} {'memcpy warm':>12} {'copy+crc warm':>14} {'ratio':>6} "
          f"{'memcpy fresh':>13} {'copy+crc fresh':>15} {'ratio':>6} {'crc':>7}   (GB/s)")  # fmt: skip
    for size in sizes:
        src = src_all[:size]
        warm = np.ones(size, dtype=np.uint8)
        expected = _core._crc32c_extend(src, 0, "portable")
        got = _core._crc32c_copy(warm, src)
        if got != expected or not np.array_equal(warm, src):
            print(f"!! copy+crc is wrong at {size} bytes")
            return 1
        # A fresh destination is mapped inside the timed call (and unmapped
        # when the call drops it): the same few microseconds for memcpy and
        # copy+crc, next to a page fault per 4 KiB.
        funcs: dict[str, Checksum] = {
            "memcpy warm": lambda b, warm=warm: np.copyto(warm, b),
            "copy+crc warm": lambda b, warm=warm: _core._crc32c_copy(warm, b),
            "memcpy fresh": lambda b: np.copyto(fresh(b.size), b),
            "copy+crc fresh": lambda b: _core._crc32c_copy(fresh(b.size), b),
            "crc": _core.crc32c,
        }
        seconds = time_all(funcs, src, repeats, min_seconds)
        rate = {k: size / t / 1e9 for k, t in seconds.items()}
        print(
            f"{human(size):>10} {rate['memcpy warm']:12.2f} {rate['copy+crc warm']:14.2f} "
            f"{rate['copy+crc warm'] / rate['memcpy warm']:6.2f} {rate['memcpy fresh']:13.2f} "
            f"{rate['copy+crc fresh']:15.2f} {rate['copy+crc fresh'] / rate['memcpy fresh']:6.2f} {rate['crc']:7.2f}",
            flush=True,
        )
    print("# ratio = copy+crc throughput / memcpy throughput into the same kind of memory (goal >= 0.9)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-size", type=parse_size, default=256)
    parser.add_argument("--max-size", type=parse_size, default=256 << 20)
    parser.add_argument("--step", type=int, default=4, help="size multiplier between rows")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--min-seconds", type=float, default=0.05, help="per timed run")
    parser.add_argument("--only", default="", help="comma-separated column names to run")
    parser.add_argument("--copy", action="store_true", help="fused copy+CRC vs memcpy (warm, fresh) instead")
    args = parser.parse_args()

    funcs = candidates()
    if args.only:
        keep = set(args.only.split(","))
        funcs = {k: v for k, v in funcs.items() if k in keep}
    print(
        f"# {platform.machine()} {platform.processor() or ''} | Python {sys.version.split()[0]}"
        f" | active kernel: {_core._crc32c_active()} | GB/s = 1e9 B/s, median of {args.repeats}"
    )
    sizes = []
    size = args.min_size
    while size <= args.max_size:
        sizes.append(size)
        size *= args.step
    if args.copy:
        return copy_table(sizes, args.repeats, args.min_seconds)
    names = list(funcs)
    print(f"{'size':>10} " + " ".join(f"{n:>14}" for n in names))

    data_all = os.urandom(max(sizes))
    baseline = "crc32c pkg" if "crc32c pkg" in funcs else None
    for size in sizes:
        data = data_all[:size]
        expected = _core._crc32c_extend(data, 0, "portable")
        for name, func in funcs.items():
            result = func(data)
            if result != expected:
                print(f"!! {name} disagrees at {size} bytes: {result:#x} != {expected:#x}")
                return 1
        seconds = time_all(funcs, data, args.repeats, args.min_seconds)
        rates = {name: size / seconds[name] / 1e9 for name in names}
        cells = []
        for name in names:
            cell = f"{rates[name]:7.2f}"
            if baseline and name != baseline:
                ratio = rates[name] / rates[baseline]
                cell += f" ({ratio:4.2f}x)"
            else:
                cell += " " * 8
            cells.append(f"{cell:>14}")
        print(f"{human(size):>10} " + " ".join(cells), flush=True)
    if baseline:
        print(f"# (Nx) = throughput / {baseline}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
