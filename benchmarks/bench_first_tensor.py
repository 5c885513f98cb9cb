#!/usr/bin/env python
"""Time to first tensor (issue #8.2): a new Python process that imports the
library, opens a checkpoint and reads one tensor, timed from the parent
(interpreter start-up included: what a user of a script or CLI waits for).

    PYTHONPATH=<build>/pkg python benchmarks/bench_first_tensor.py [--repeat 7]

bundlefast: `import bundlefast; bundlefast.load(P, names=[name])`;
TensorFlow: `import tensorflow; tf.train.load_checkpoint(P).get_tensor(name)`;
on the same small checkpoint holding float32, int64 and string tensors only
(no type that needs ml_dtypes). Each child also reports whether it imported
ml_dtypes and checks the tensor it read against the values written. One
untimed run of each warms the file cache; the median of --repeat runs is
reported. run.py calls measure() for its summary and targets.
"""

# ruff: noqa: T201

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TENSOR = "model/dense/kernel"  # the one read; float32 256x256


def arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(8)
    return {
        TENSOR: rng.standard_normal((256, 256), dtype=np.float32),
        "model/dense/bias": rng.standard_normal((256,), dtype=np.float32),
        "global_step": np.array(1234, dtype=np.int64),
        "vocab": np.array([f"token{i}".encode() for i in range(1000)], dtype=object),
    }


def ensure_checkpoint(work_dir: Path) -> tuple[str, str]:
    """(prefix, how it was written) of the checkpoint, written once into work_dir/first."""
    d = work_dir / "first"
    prefix = d / "ckpt"
    stamp = d / "written-by.txt"
    if stamp.is_file() and (d / "ckpt.index").is_file():
        return str(prefix), stamp.read_text()
    d.mkdir(parents=True, exist_ok=True)
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); import bench_first_tensor as b; "
        "print(b.write(sys.argv[1]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(prefix), str(Path(__file__).resolve().parent)],
        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"writing the first-tensor checkpoint failed:\n{proc.stderr}")
    stamp.write_text(proc.stdout.strip())
    return str(prefix), stamp.read_text()


def write(prefix: str) -> str:
    """Writes the checkpoint with TF's SaveV2 when TF is importable, else with tests/bundle_builder.py."""
    try:
        import tensorflow as tf
        from tensorflow.python.ops import io_ops
    except ImportError:
        sys.path.insert(0, str(REPO / "tests"))
        import bundle_builder

        b = bundle_builder.BundleBuilder()
        for name, a in arrays().items():
            b.add(name, a)
        b.write(prefix)
        return "tests/bundle_builder.py"
    items = sorted(arrays().items())
    io_ops.save_v2(prefix, [n for n, _ in items], [""] * len(items), [tf.constant(a) for _, a in items])
    return f"tensorflow {tf.__version__} SaveV2"


# Each child prints {"ok": ..., "ml_dtypes": ...}; the parent times the whole process.
CHILD = {
    "bundlefast": (
        "import sys, bundlefast, numpy as np\n"
        "a = bundlefast.load(sys.argv[1], names=[sys.argv[2]])[sys.argv[2]]\n"
        "print(__import__('json').dumps({'sum': float(np.float64(a.sum(dtype=np.float64))), "
        "'ml_dtypes': 'ml_dtypes' in sys.modules}))\n"
    ),
    "tensorflow": (
        "import sys, tensorflow as tf, numpy as np\n"
        "a = tf.train.load_checkpoint(sys.argv[1]).get_tensor(sys.argv[2])\n"
        "print(__import__('json').dumps({'sum': float(np.float64(a.sum(dtype=np.float64))), "
        "'ml_dtypes': 'ml_dtypes' in sys.modules}))\n"
    ),
}


def run_child(library: str, prefix: str, env: dict[str, str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD[library], prefix, TENSOR], capture_output=True, text=True, env=env, check=False
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{library} child failed:\n{proc.stderr}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = float(arrays()[TENSOR].sum(dtype=np.float64))
    if report["sum"] != expected:
        raise RuntimeError(f"{library} read the wrong values: sum {report['sum']} != {expected}")
    return elapsed, report


def measure(work_dir: Path, repeat: int, with_tf: bool, env: dict[str, str] | None = None) -> dict:
    """Median wall time of the fresh processes, and what they imported."""
    env = {**(env or os.environ), "TF_CPP_MIN_LOG_LEVEL": "3"}
    prefix, how = ensure_checkpoint(work_dir)
    out: dict = {"repeat": repeat, "what": f"a 4-tensor checkpoint (float32, int64, string) written by {how}"}
    libraries = ["bundlefast", "tensorflow"] if with_tf else ["bundlefast"]
    runs: dict[str, list[float]] = {lib: [] for lib in libraries}
    for lib in libraries:
        _, report = run_child(lib, prefix, env)  # warms the file cache
        if lib == "bundlefast":
            out["bundlefast_imports_ml_dtypes"] = report["ml_dtypes"]
    for _ in range(repeat):  # interleaved, so a change of machine load hits both
        for lib in libraries:
            runs[lib].append(run_child(lib, prefix, env)[0])
    for lib in libraries:
        out[f"{lib}_s"] = statistics.median(runs[lib])
        out[f"{lib}_runs"] = runs[lib]
    return out


# The first full load in a new process, imports excluded: the case of a script
# that loads a checkpoint once, where every library's output is fresh memory
# (repeated loads in one process may reuse memory an allocator kept). Each
# child first loads the small first-tensor checkpoint (argv[2]), untimed, so
# that lazy imports and one-time set-up are not counted either.
FIRST_LOAD = {
    "bundlefast": (
        "import sys, time, json, bundlefast\n"
        "bundlefast.load(sys.argv[2], verify=True, copy=True)\n"
        "t = time.perf_counter()\n"
        "d = bundlefast.load(sys.argv[1], verify=True, copy=True)\n"
        "t = time.perf_counter() - t\n"
        "print(json.dumps({'s': t, 'n': len(d), 'bytes': sum(a.nbytes for a in d.values())}))\n"
    ),
    "tensorflow": (
        "import sys, time, json, tensorflow as tf\n"
        "w = tf.train.load_checkpoint(sys.argv[2])\n"
        "[w.get_tensor(k) for k in w.get_variable_to_shape_map()]\n"
        "t = time.perf_counter()\n"
        "r = tf.train.load_checkpoint(sys.argv[1])\n"
        "d = {k: r.get_tensor(k) for k in r.get_variable_to_shape_map()}\n"
        "t = time.perf_counter() - t\n"
        "print(json.dumps({'s': t, 'n': len(d), 'bytes': sum(a.nbytes for a in d.values())}))\n"
    ),
}


def measure_first_load(
    work_dir: Path, prefix: str, data_bytes: int, repeat: int, with_tf: bool, env: dict[str, str]
) -> dict:
    """Median over `repeat` new processes of the first load(verify, copy) of
    `prefix` (bundlefast at 1 thread and at all cores) and of TF's get_tensor
    loop, imports and one-time set-up excluded."""
    warm_up, _ = ensure_checkpoint(work_dir)
    runs: dict[str, list[float]] = {"bundlefast 1 thr": [], f"bundlefast {os.cpu_count()} thr": []}
    if with_tf:
        runs["tensorflow"] = []
    threads = {"bundlefast 1 thr": "1", f"bundlefast {os.cpu_count()} thr": str(os.cpu_count())}
    keys = list(runs)
    for round_ in range(repeat):
        # Rotate who goes first: a process's first touch of fresh memory is slow when the
        # pages it gets were handed back to the hypervisor (free page reporting, about
        # 2 s after a free), so a fixed order would give each variant its own conditions.
        for key in keys[round_ % len(keys) :] + keys[: round_ % len(keys)]:
            lib = "tensorflow" if key == "tensorflow" else "bundlefast"
            child_env = {**env, "TF_CPP_MIN_LOG_LEVEL": "3", "BUNDLEFAST_NUM_THREADS": threads.get(key, "1")}
            proc = subprocess.run(
                [sys.executable, "-c", FIRST_LOAD[lib], prefix, warm_up],
                capture_output=True, text=True, env=child_env, check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"{key} first load failed:\n{proc.stderr}")
            report = json.loads(proc.stdout.strip().splitlines()[-1])
            if report["bytes"] != data_bytes:  # every fixed-width tensor, each byte once
                raise RuntimeError(f"{key} loaded {report['bytes']} bytes, the data file holds {data_bytes}")
            runs[key].append(report["s"])
    return {key: {"median_s": statistics.median(t), "runs": t} for key, t in runs.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work-dir", type=Path, default=Path(os.environ.get("BUNDLEFAST_BENCH_DIR", "/tmp/bundlefast-bench")))
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-tf", action="store_true")
    args = ap.parse_args()
    import importlib.util

    with_tf = not args.no_tf and importlib.util.find_spec("tensorflow") is not None
    r = measure(args.work_dir, args.repeat, with_tf)
    print(f"# first tensor, new process, median of {r['repeat']} (min-max); {r['what']}; loadavg {os.getloadavg()[0]:.2f}")
    for lib in ("bundlefast", "tensorflow"):
        if f"{lib}_s" in r:
            print(f"{lib:<11} {r[f'{lib}_s'] * 1e3:7.0f} ms  ({min(r[f'{lib}_runs']) * 1e3:.0f}-{max(r[f'{lib}_runs']) * 1e3:.0f})")
    print(f"bundlefast imported ml_dtypes: {r['bundlefast_imports_ml_dtypes']}")
    if "tensorflow_s" in r:
        ratio = r["bundlefast_s"] / r["tensorflow_s"]
        print(f"bundlefast / TF = {ratio:.3f} (floor <= 0.1: {'PASS' if ratio <= 0.1 else 'FAIL'})")
    print(f"bundlefast <= 0.3 s: {'PASS' if r['bundlefast_s'] <= 0.3 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
