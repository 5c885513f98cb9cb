#!/usr/bin/env python
"""Restore into preallocated torch tensors, against the same bytes copied other ways.

    python benchmarks/bench_restore.py           # the BERT-base workload (440 MB)
    python benchmarks/bench_restore.py --quick   # the BERT-tiny-like one (17.5 MB), seconds

Workloads are run.py's (generated once into --work-dir, default /tmp/bundlefast-bench).
Each variant runs in a fresh child process, page cache warm:

* ``bundlefast.restore``: ``restore(prefix, {name: preallocated torch tensor})``, open
  included, on 1 thread and on N (``BUNDLEFAST_NUM_THREADS``; N = the CPUs, at most 8).
* ``memcpy``: the same bytes into the same destinations, one ``np.copyto`` per tensor from
  a mapping of the data file at offsets known in advance, on 1 thread and on N (a thread
  pool over tensors, biggest first, as restore does; ``np.copyto`` releases the GIL).
  Each restore row is compared with the memcpy row of its own thread count.
* ``torch.load``: an equivalent state-dict file (``torch.save`` of the same tensors).
* ``safetensors.torch.load_file``: the workload's ``.safetensors`` file. Its tensors are
  backed by a mapping of the file, not copied into memory the caller owns (hence its
  speed and near-zero anonymous memory): not the same job, shown for reference.

Destinations of the first two are allocated and touched before timing (a model's
parameters exist already); the others allocate their results, as they must. Time is the
median of --repeat runs after one warm-up. Peak anonymous memory is RssAnon sampled
every millisecond from before the destinations exist to the end of one run, so it counts
the destinations (or results) plus whatever else the method needed; the target is the
destinations' bytes + 64 MiB.
"""

from __future__ import annotations

import argparse
import json
import mmap
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from proc_memory import proc_status  # benchmarks/ is on the path from here on

MIB = 1 << 20


def _rss_anon() -> int:
    return proc_status().get("RssAnon", 0)


class PeakAnon:
    """Samples RssAnon on a thread; ``peak - start`` is what the measured code added."""

    def __enter__(self) -> PeakAnon:
        self.start = self.peak = _rss_anon()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, _rss_anon())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_anon())


# ============================================================== variants (child side)


def _destinations(layout: list) -> dict[str, Any]:
    import numpy as np
    import torch

    out = {}
    for name, dtype, shape, *_ in layout:
        t = torch.empty(shape, dtype=torch.from_numpy(np.empty(0, dtype)).dtype)
        t.zero_()  # touch every page: a model's parameters are resident
        out[name] = t
    return out


def _restore(spec: dict, dst: dict) -> Callable[[], Any]:
    import bundlefast

    return lambda: bundlefast.restore(spec["prefix"], dst)


def _memcpy(spec: dict, dst: dict) -> Callable[[], Any]:
    threads = int(spec["threads"])
    layout = sorted(spec["layout"], key=lambda row: row[4], reverse=True)  # biggest first

    def run() -> None:
        with open(spec["data"], "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            _copy_tensors(m, layout, dst, threads)  # returns holding no export of m, so m closes

    return run


def _copy_tensors(m: mmap.mmap, layout: list, dst: dict, threads: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    whole = np.frombuffer(m, np.uint8)

    def copy(row: list) -> None:
        name, _, _, offset, size, _ = row
        np.copyto(dst[name].numpy().reshape(-1).view(np.uint8), whole[offset : offset + size])

    if threads == 1:
        for row in layout:
            copy(row)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(copy, layout))


def _torch_load(spec: dict, dst: dict) -> Callable[[], Any]:
    import torch

    return lambda: torch.load(spec["pt"], weights_only=True)


def _safetensors(spec: dict, dst: dict) -> Callable[[], Any]:
    from safetensors.torch import load_file

    return lambda: load_file(spec["safetensors"])


def _variants(n: int) -> dict[str, tuple[Callable[[dict, dict], Callable[[], Any]], bool, int | None]]:
    """name: (make the op, does it write into preallocated destinations?, threads)."""
    return {
        "bundlefast.restore, 1 thread": (_restore, True, 1),
        "memcpy, 1 thread": (_memcpy, True, 1),
        f"bundlefast.restore, {n} threads": (_restore, True, n),
        f"memcpy, {n} threads": (_memcpy, True, n),
        "torch.load": (_torch_load, False, None),
        "safetensors.torch.load_file": (_safetensors, False, None),
    }


def child(variant: str, spec: dict) -> dict:
    import numpy  # noqa: F401 - imports are not part of anyone's memory
    import torch  # noqa: F401

    import bundlefast  # noqa: F401

    make, preallocated, _ = _variants(spec["n"])[variant]
    with PeakAnon() as mem:
        dst = _destinations(spec["layout"]) if preallocated else {}
        op = make(spec, dst)
        result = op()  # the warm-up run is also the measured-memory run
        del result
    times = []
    for _ in range(spec["repeat"]):
        t0 = time.perf_counter()
        result = op()
        times.append(time.perf_counter() - t0)
        del result
    if preallocated:  # the values must be right, or the timing means nothing
        with open(spec["data"], "rb") as f:
            for name, _, _, offset, size, _ in spec["layout"][:: max(1, len(spec["layout"]) // 16)]:
                f.seek(offset)
                assert dst[name].numpy().tobytes() == f.read(size), name
    return {"seconds": statistics.median(times), "peak_anon": mem.peak - mem.start}


# ============================================================== orchestration


def _ensure_pt(work_dir: Path, name: str, prefix: str) -> Path:
    """The workload as a torch state-dict file (written once, next to the checkpoint)."""
    pt = work_dir / name / "model.pt"
    if not pt.is_file():
        import torch

        import bundlefast

        state = {k: torch.from_numpy(v) for k, v in bundlefast.load(prefix, copy=True).items()}
        torch.save(state, pt)
    return pt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the small BERT-like workload")
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/bundlefast-bench"))
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per variant (default 5, quick 3)")
    ap.add_argument("--builder", choices=("tf", "python"), default="tf", help="who writes the workload")
    args = ap.parse_args(argv)

    import run as R
    import workloads as W

    name = "bert-quick" if args.quick else "bert"
    meta = R.ensure_workload(name, args.work_dir, args.builder, regenerate=False)
    p = W.paths(args.work_dir, name)
    spec = {
        "prefix": str(p["prefix"]), "data": str(p["data"]), "safetensors": str(p["safetensors"]),
        "pt": str(_ensure_pt(args.work_dir, name, str(p["prefix"]))), "layout": meta["layout"],
        "repeat": args.repeat or (3 if args.quick else 5),
    }  # fmt: skip
    from bundlefast._restore import copy_threads

    n = spec["n"] = copy_threads()  # what restore uses by default on this machine
    target_bytes = sum(size for *_, size, _ in meta["layout"])
    results = {}
    for variant, (_, _, threads) in _variants(n).items():
        env = R.child_env()
        if threads is not None:
            env["BUNDLEFAST_NUM_THREADS"] = str(threads)
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "_child", variant],
            input=json.dumps({**spec, "threads": threads}), env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"{variant} failed:\n{proc.stderr}")
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])

    variants = _variants(n)
    memcpy_at = {threads: results[v]["seconds"] for v, (make, _, threads) in variants.items() if make is _memcpy}

    def baseline(variant: str) -> float:
        """The memcpy row of the variant's thread count (1 thread for the single-call loaders)."""
        return memcpy_at[variants[variant][2] or 1]

    print(f"{meta['description']}: {len(meta['layout'])} tensors, {target_bytes / MIB:.1f} MiB, page cache warm")
    print(f"{'variant':32s} {'time':>10s} {'GB/s':>7s} {'vs memcpy':>10s} {'peak anon':>10s} {'- targets':>10s}")
    for variant, r in results.items():
        s, anon = r["seconds"], r["peak_anon"]
        print(f"{variant:32s} {s * 1e3:8.1f}ms {target_bytes / s / 1e9:7.2f} {baseline(variant) / s:9.2f}x "
              f"{anon / MIB:8.1f}MB {(anon - target_bytes) / MIB:+8.1f}MB")  # fmt: skip
    print("(vs memcpy: against the memcpy row of the same thread count; torch.load and safetensors"
          " against the 1-thread one)")
    for variant in dict.fromkeys(("bundlefast.restore, 1 thread", f"bundlefast.restore, {n} threads")):
        restore = results[variant]
        ratio = baseline(variant) / restore["seconds"]
        extra = (restore["peak_anon"] - target_bytes) / MIB
        print(f"target: {variant} >= 0.9x memcpy at its thread count: {ratio:.2f}x "
              f"{'met' if ratio >= 0.9 else 'NOT met'}; peak anon <= targets + 64 MiB: {extra:+.1f} MiB "
              f"{'met' if extra <= 64 else 'NOT met'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_child":
        print(json.dumps(child(sys.argv[2], json.loads(sys.stdin.read()))))
        sys.exit(0)
    sys.exit(main())
