"""Writer benchmark: bundlefast.save against TensorFlow's SaveV2 and against a
write-plus-CRC roofline, measured in the same run (ratios, not absolute times).

    python benchmarks/bench_write.py            # BERT-base (440 MB, 207 tensors), 50k small tensors
    python benchmarks/bench_write.py --quick    # small versions, about a minute
    python benchmarks/bench_write.py --save-once many   # one save, to run under callgrind

Per-tensor costs are best compared in instructions, which other jobs on the machine do
not change: build with symbols (``BUILD_TYPE=RelWithDebInfo tools/devbuild.sh DIR``) and
count the instructions in the extension's calls only (the arrays' generation is Python):

    valgrind --tool=callgrind --collect-atstart=no \
        --toggle-collect='pybind11::cpp_function::dispatcher*' \
        python benchmarks/bench_write.py --save-once many

For each workload the arrays are generated once (benchmarks/workloads.py, same seed in
every process) and saved to a fresh prefix per repeat. The table gives min, median and max
of the repeats; ratios use medians. Rows:

* ``bf.save``: ``bundlefast.save(alignment=1, sync=False)``, the same bytes and the same
  durability as SaveV2 (which does not fsync);
* ``bf.save(a64)``: the default alignment, no fsync;
* ``bf.save(sync)``: the default call (alignment 64, fsync of files and directory). The
  only row that waits for the disk: it has no like-for-like peer (neither SaveV2 nor the
  roofline fsyncs), so read it as "what durability costs here", not against the others;
* ``tf.SaveV2``: ``io_ops.save_v2`` in a child process (TensorFlow is never imported
  here), tensors converted to ``tf.constant`` before timing. No fsync: TF's
  ``BundleWriter::Finish`` (tensor_bundle.cc) closes the files and renames them, nothing
  more;
* ``roof write``: the same payload bytes with one ``os.write`` per tensor into one file,
  no fsync;
* ``roof write+crc``: the same plus CRC32C of every tensor (bundlefast's kernel).

Every row first runs once untimed: TF's first ``SaveV2`` alone spends seconds of CPU on
one-time setup (the 6-8 s "outlier" of earlier tables). Between runs (untimed) every
file written is deleted and ``os.sync()`` flushes dirty
pages, so no run pays for the writeback of the one before. A run far above its row's
median is then almost always CPU taken by other processes on a shared machine; to tell,
each run also records its CPU time and involuntary context switches, and the page
cache's dirty bytes when it started, and the table explains any run over 1.5x its
median with them (wall much above CPU with many involuntary switches: preempted; wall
above CPU with few: waiting, e.g. dirty-page throttling, then see the dirty bytes).
The "CPU median" column (user + system CPU of the process, median) is the steadier
number on a machine shared with other jobs, where wall clock waits for a core.

All run on one thread: the writer copies and checksums on the calling thread, SaveV2
writes from one thread, and the roofline is single-threaded (``BUNDLEFAST_NUM_THREADS``
and TF's thread pools are set to 1 in every process).

Peak memory: a child process generates the arrays, resets its RSS high-water mark
(``/proc/self/clear_refs``), saves with the default call, and reports the peak RSS growth
(anonymous and file-backed together, so at least the anonymous growth); the target is at
most 64 MiB over the data the caller holds, and the table says whether it holds. Linux
only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import workloads
from proc_memory import proc_status  # noqa: E402

os.environ["BUNDLEFAST_NUM_THREADS"] = "1"


def _arrays(name: str) -> dict:
    return dict(workloads.arrays(workloads.WORKLOADS[name]()))


def _fresh(work: Path, tag: str, i: int) -> str:
    d = work / f"{tag}-{i}"
    d.mkdir(parents=True, exist_ok=True)
    return str(d / "ckpt")


# -------------------------------------------------------------------- one timed run


def _dirty_bytes() -> int:
    """Dirty + Writeback of the whole page cache (/proc/meminfo), in bytes."""
    total = 0
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Dirty", "Writeback"):
                total += int(rest.split()[0]) * 1024
    return total


def _timed(fn) -> dict:
    """Wall and CPU seconds of ``fn()``, its involuntary context switches, and the dirty
    page cache when it started."""
    dirty = _dirty_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu = time.process_time()
    start = time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall": wall, "cpu": cpu, "nivcsw": after.ru_nivcsw - before.ru_nivcsw, "dirty": dirty}


# -------------------------------------------------------------------- in-process rows


def bench_bundlefast(name: str, work: Path, repeat: int) -> dict[str, list[dict]]:
    import bundlefast

    tensors = _arrays(name)
    rows = {
        "bf.save": lambda i: bundlefast.save(_fresh(work, "bf", i), tensors, alignment=1, sync=False),
        "bf.save(a64)": lambda i: bundlefast.save(_fresh(work, "bf64", i), tensors, sync=False),
        "bf.save(sync)": lambda i: bundlefast.save(_fresh(work, "bfsync", i), tensors),
        "roof write": lambda i: _roofline(tensors, _fresh(work, "w", i), crc=False),
        "roof write+crc": lambda i: _roofline(tensors, _fresh(work, "wc", i), crc=True),
    }
    runs: dict[str, list[dict]] = {row: [] for row in rows}
    for fn in rows.values():  # untimed warm-up, as in the TensorFlow child
        fn(repeat)
    _clear(work)
    for i in range(repeat):  # interleaved, so drift in machine load hits every row alike
        for row, fn in rows.items():
            runs[row].append(_timed(lambda: fn(i)))
            _clear(work)
    return runs


def _clear(work: Path) -> None:
    """Delete what a repeat wrote and flush dirty pages (untimed), so every run starts
    from the same page-cache state: otherwise a run can be throttled by the writeback
    of the one before it, and which row that hits is luck."""
    for d in work.iterdir():
        for f in d.iterdir():
            f.unlink()
    os.sync()


def _roofline(tensors: dict, prefix: str, crc: bool) -> int:
    from bundlefast import _core

    total = 0
    fd = os.open(prefix + ".data", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        for a in tensors.values():
            view = memoryview(a.reshape(-1).view("u1"))
            if crc:
                total ^= _core.crc32c(view)
            os.write(fd, view)
    finally:
        os.close(fd)
    return total


# -------------------------------------------------------------------- child processes


def _tf_child(name: str, work: str, repeat: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow.python.ops import io_ops

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tensors = _arrays(name)
    names = list(tensors)
    constants = [tf.constant(tensors[n]) for n in names]
    specs = [""] * len(names)
    # Untimed: TF's first op run pays one-time setup (seconds of CPU), no part of a save.
    io_ops.save_v2(_fresh(Path(work), "tfwarm", 0), names, specs, constants)
    _clear(Path(work))
    runs = []
    for i in range(repeat):
        runs.append(_timed(lambda: io_ops.save_v2(_fresh(Path(work), "tf", i), names, specs, constants)))
        _clear(Path(work))
    print(json.dumps({"tf.SaveV2": runs}))


def _memory_child(name: str, work: str) -> None:
    import bundlefast
    import numpy as np

    tensors = _arrays(name)
    data = sum(a.nbytes for a in tensors.values())
    bundlefast.save(_fresh(Path(work), "warm", 0), {"x": np.zeros(1)})  # import-time allocations
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    before = proc_status()
    bundlefast.save(_fresh(Path(work), "mem", 0), tensors)
    after = proc_status()
    print(json.dumps({"data": data, "peak_growth": after["VmHWM"] - before["VmRSS"],
                      "anon_after": after["RssAnon"] - before["RssAnon"]}))


def _save_once(name: str, work: str) -> None:
    """One untimed warm-up save of one tensor, then one save of the workload."""
    import bundlefast

    tensors = _arrays(name)
    first = next(iter(tensors))
    bundlefast.save(_fresh(Path(work), "warm", 0), {first: tensors[first]}, alignment=1, sync=False)
    bundlefast.save(_fresh(Path(work), "once", 0), tensors, alignment=1, sync=False)


def _child(args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, __file__, *args], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -------------------------------------------------------------------- report


def run(name: str, repeat: int, work: Path) -> dict:
    runs = bench_bundlefast(name, work, repeat)
    runs.update(_child(["--tf-child", name, str(work), str(repeat)]))
    medians = {row: statistics.median(r["wall"] for r in rs) for row, rs in runs.items()}
    memory = _child(["--memory-child", name, str(work)])
    return {"medians": medians, "runs": runs, "memory": memory}


OUTLIER = 1.5  # a run this many times its row's median gets an explanation line
MEMORY_SLACK = 64 * 2**20


def table(results: dict[str, dict]) -> str:
    lines = []
    for name, r in results.items():
        m = r["medians"]
        mem = r["memory"]
        lines.append(f"{name}: {workloads.DESCRIPTIONS[name]}, {mem['data'] / 1e6:.0f} MB")
        lines.append(
            f"  {'row':<16}{'min':>9}{'median':>10}{'max':>10}{'vs SaveV2':>11}{'vs write+crc':>14}{'CPU median':>12}"
        )
        notes = []
        for row, t in m.items():
            walls = [run["wall"] for run in r["runs"][row]]
            cpu = statistics.median(run["cpu"] for run in r["runs"][row])
            lines.append(
                f"  {row:<16}{min(walls) * 1000:>7.1f}ms{t * 1000:>8.1f}ms{max(walls) * 1000:>8.1f}ms"
                f"{m['tf.SaveV2'] / t:>10.2f}x{m['roof write+crc'] / t:>13.2f}x{cpu * 1000:>10.1f}ms"
            )
            for i, run in enumerate(r["runs"][row]):
                if run["wall"] > OUTLIER * t:
                    notes.append(
                        f"  outlier {row} run {i}: {run['wall'] * 1000:.1f} ms wall, {run['cpu'] * 1000:.1f} ms CPU, "
                        f"{run['nivcsw']} involuntary context switches, {run['dirty'] / 2**20:.0f} MiB dirty at start"
                    )
        lines.extend(notes)
        verdict = "holds" if mem["peak_growth"] <= MEMORY_SLACK else "EXCEEDED"
        lines.append(
            f"  peak RSS growth during save: {mem['peak_growth'] / 2**20:.1f} MiB "
            f"(target <= 64 MiB over the {mem['data'] / 2**20:.0f} MiB the caller holds: {verdict}); "
            f"anonymous memory kept: {mem['anon_after'] / 2**20:.1f} MiB"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--tf-child"]:
        _tf_child(argv[1], argv[2], int(argv[3]))
        return 0
    if argv[:1] == ["--memory-child"]:
        _memory_child(argv[1], argv[2])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small workloads, about a minute")
    ap.add_argument("--repeat", type=int, default=None, help="repeats per row (default 5, --quick 3)")
    ap.add_argument("--work-dir", type=Path, default=None, help="where to write (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--save-once", metavar="WORKLOAD", default=None,
                    help="only save WORKLOAD once, no table (for callgrind)")
    args = ap.parse_args(argv)
    if args.save_once:
        with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
            _save_once(args.save_once, tmp)
        return 0
    names = ["bert-quick", "many-quick"] if args.quick else ["bert", "many"]
    repeat = args.repeat or (3 if args.quick else 5)
    results = {}
    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        for name in names:
            results[name] = run(name, repeat, Path(tmp) / name)
            print(table({name: results[name]}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
