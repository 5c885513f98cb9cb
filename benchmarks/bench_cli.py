#!/usr/bin/env python
"""The command line's speed targets (issue 12), as same-run ratios.

    python benchmarks/bench_cli.py            # BERT-base (440 MB) and 50,000 tensors
    python benchmarks/bench_cli.py --quick    # BERT-tiny-like and 5,000 tensors (CI)

1. ``convert`` of the BERT-sized checkpoint to .safetensors, against
   ``safetensors.numpy.save_file`` of the same arrays already in memory (loaded with
   ``copy=True`` before the clock starts). convert also verifies every CRC32C of the
   source (on a thread beside safetensors' writer, which then copies from pages the
   check has faulted in). Target: convert <= 1.1x save_file. Each run is
   a fresh process, its imports done before the clock starts; its peak RSS (VmHWM) and
   anonymous RSS after the write are reported.
2. ``bundlefast ls`` on the 50,000-tensor checkpoint against TensorFlow's
   ``inspect_checkpoint`` (which prints the same: every name, dtype and shape), each a
   fresh process from start to exit, imports included, output to /dev/null. Target:
   ls <= 1/10 of inspect_checkpoint.

The workloads are benchmarks/workloads.py's (cached in --work-dir, shared with run.py).
Page cache warm: each variant runs once untimed first. Medians of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workloads as W  # noqa: E402
from proc_memory import proc_status  # noqa: E402


def child(mode: str, prefix: str, out: str) -> dict:
    """One measured run in this (fresh) process."""
    # Imports are not part of either side's cost (issue 8 measures them): numpy,
    # ml_dtypes (1 s and more on a busy machine), bundlefast, safetensors.
    import ml_dtypes  # noqa: F401
    import numpy  # noqa: F401

    import bundlefast

    if mode == "st.save_file":
        from safetensors.numpy import save_file

        arrays = bundlefast.load(prefix, copy=True)  # "the same arrays in memory"
        before = proc_status()
        t0 = time.perf_counter()
        save_file(arrays, out)
    else:
        from bundlefast.convert import convert

        import safetensors.numpy  # noqa: F401 - same import cost as the other side

        before = proc_status()
        t0 = time.perf_counter()
        convert(prefix, out)
    seconds = time.perf_counter() - t0
    after = proc_status()
    return {"seconds": seconds, "before": before, "after": after}


def run_child(mode: str, prefix: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "_child", mode, str(prefix), str(out)],
                          capture_output=True, text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def wall(cmd: list[str]) -> float:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OPENBLAS_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - t0


def ensure(name: str, work_dir: Path) -> Path:
    if W.load_meta(work_dir, name) is None:
        print(f"generating workload {name} into {work_dir}", file=sys.stderr)
        subprocess.run([sys.executable, str(HERE / "workloads.py"), name, str(work_dir)], check=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, capture_output=True)  # fmt: skip
    return W.paths(work_dir, name)["prefix"]


def bench_convert(prefix: Path, repeat: int) -> dict:
    rows: dict[str, list[dict]] = {"bf.convert": [], "st.save_file": []}
    with tempfile.TemporaryDirectory(prefix="bench-cli-", dir=prefix.parent) as tmp:
        for i in range(repeat + 1):  # the first round warms the page cache, untimed
            for mode in rows:
                out = Path(tmp) / f"{mode}-{i}.safetensors"
                result = run_child(mode, prefix, out)
                out.unlink()
                if i:
                    rows[mode].append(result)
    summary = {}
    for mode, runs in rows.items():
        summary[mode] = {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "peak_rss": max(r["after"]["VmHWM"] for r in runs),
            "rss_before": statistics.median(r["before"]["VmRSS"] for r in runs),
            "anon_after": statistics.median(r["after"]["RssAnon"] for r in runs),
        }
    summary["ratio"] = summary["bf.convert"]["seconds"] / summary["st.save_file"]["seconds"]
    return summary


def bench_ls(prefix: Path, repeat: int) -> dict:
    cmds = {
        "bf.ls": [sys.executable, "-m", "bundlefast", "ls", str(prefix)],
        "tf.inspect_checkpoint": [
            sys.executable, "-m", "tensorflow.python.tools.inspect_checkpoint", f"--file_name={prefix}",
        ],
        # context: an interpreter that starts and imports bundlefast (ls itself imports
        # neither NumPy nor ml_dtypes: tests/test_cli.py pins that)
        "import bundlefast": [sys.executable, "-c", "import bundlefast"],
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for i in range(repeat + 1):
        for k, cmd in cmds.items():
            t = wall(cmd)
            if i:
                times[k].append(t)
    summary = {k: {"seconds": statistics.median(v)} for k, v in times.items()}
    summary["ratio"] = summary["bf.ls"]["seconds"] / summary["tf.inspect_checkpoint"]["seconds"]
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small workloads, 2 repeats")
    ap.add_argument("--repeat", type=int, default=None, help="measured runs per variant (default 5, quick 2)")
    ap.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "bundlefast-bench")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    repeat = args.repeat or (2 if args.quick else 5)
    bert, many = ("bert-quick", "many-quick") if args.quick else ("bert", "many")
    convert = bench_convert(ensure(bert, args.work_dir), repeat)
    ls = bench_ls(ensure(many, args.work_dir), repeat)
    mb = 1 / 2**20
    print(f"convert {bert} -> .safetensors ({W.DESCRIPTIONS[bert]}), median of {repeat}, fresh process each:")
    for mode in ("bf.convert", "st.save_file"):
        r = convert[mode]
        print(f"  {mode:<14} {r['seconds'] * 1e3:9.1f} ms   peak RSS {r['peak_rss'] * mb:7.1f} MiB "
              f"(before the write {r['rss_before'] * mb:7.1f} MiB, anonymous after {r['anon_after'] * mb:7.1f} MiB)")  # fmt: skip
    print("  (peak RSS counts the mapped shard's pages, which are page cache; anonymous memory is what a")
    print("   process owns: convert holds views of the shard, save_file the arrays it was given)")
    print(f"  convert / save_file = {convert['ratio']:.2f}x   (target <= 1.1x)")
    print(f"ls {many} ({W.DESCRIPTIONS[many]}), whole process, median of {repeat}:")
    for k in ("bf.ls", "tf.inspect_checkpoint", "import bundlefast"):
        print(f"  {k:<22} {ls[k]['seconds'] * 1e3:9.1f} ms")
    print(f"  ls / inspect_checkpoint = {ls['ratio']:.3f}x   (target <= 0.1x)")
    if args.json:
        args.json.write_text(json.dumps({"quick": args.quick, "convert": convert, "ls": ls}, indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        print(json.dumps(child(*sys.argv[2:5])))
        sys.exit(0)
    sys.exit(main())
