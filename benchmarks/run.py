#!/usr/bin/env python
"""bundlefast benchmark suite: one command, every number in one run.

    python benchmarks/run.py            # full run (several minutes)
    python benchmarks/run.py --quick    # small workloads, < 1 min (CI)
    python benchmarks/run.py --huge     # also a checkpoint with one tensor > 2**31 bytes

Generates the workloads once into --work-dir (default /tmp/bundlefast-bench), then
times bundlefast, TensorFlow, safetensors, numpy memmap and the hardware rooflines
warm and cold, measures peak RSS and import time, and writes a table (stdout),
results.json and results.png. See benchmarks/README.md for how to read them.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import variants as V  # noqa: E402
import workloads as W  # noqa: E402
from proc_memory import proc_status  # noqa: E402

# Variants timed for every workload, in table order. "N" is all cores.
TIMED = [
    "bf.vc1", "bf.vcN", "tf.load", "roof.memcpy1", "roof.memcpyN",
    "bf.verify1", "bf.verifyN", "roof.crc1", "roof.crcN",
    "bf.copy1", "bf.copyN", "st.load",
    "bf.load", "np.memmap", "py.frombuffer",
    "bf.one.vc", "tf.one", "bf.one", "np.memmap.one", "py.frombuffer.one",
    "bf.open", "tf.open",
    "roof.read", "roof.read1",
]  # fmt: skip
# Variants whose peak RSS is measured (one fresh child each).
RSS = ["bf.load", "bf.one", "bf.verifyN", "bf.vcN", "tf.load", "st.load", "np.memmap", "roof.read"]

# Like for like: what each variant is compared with (ratio = their time / its
# time). The same work only: TF's get_tensor loop reads, checks and copies
# every byte, so only load(verify, copy) is set against it; views, which read
# no data, against other views.
COMPARE_WITH = {
    "bf.vc1": ["tf.load"],
    "bf.vcN": ["tf.load"],
    "bf.load": ["np.memmap", "py.frombuffer"],
    "bf.one.vc": ["tf.one"],
    "bf.one": ["np.memmap.one", "py.frombuffer.one"],
    "bf.open": ["tf.open"],
}
SHORT = {
    "tf.load": "TF", "tf.one": "TF", "tf.open": "TF",
    "np.memmap": "memmap", "np.memmap.one": "memmap", "py.frombuffer": "frombuf", "py.frombuffer.one": "frombuf",
}  # fmt: skip
# The roofline at the same thread count: the same bytes moved (copy) or
# checksummed (verify) by the simplest means.
ROOF_OF = {
    "bf.vc1": "roof.memcpy1", "bf.vcN": "roof.memcpyN",
    "bf.copy1": "roof.memcpy1", "bf.copyN": "roof.memcpyN",
    "bf.verify1": "roof.crc1", "bf.verifyN": "roof.crcN",
}  # fmt: skip


# ============================================================== child processes


def _env_threads(threads: str | None) -> None:
    if threads is None:
        os.environ.pop("BUNDLEFAST_NUM_THREADS", None)
    else:
        os.environ["BUNDLEFAST_NUM_THREADS"] = threads


def _cpu_busy() -> tuple[float, float, float] | None:
    """(seconds all CPUs were busy, of which stolen by the hypervisor, now) from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    hz = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) / hz, steal / hz, time.perf_counter()


def _own_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def other_load(start: tuple | None, own_start: float) -> dict | None:
    """Cores kept busy by everything except this process since `start` (and hypervisor steal)."""
    end = _cpu_busy()
    if start is None or end is None or end[2] <= start[2]:
        return None
    wall = end[2] - start[2]
    own = _own_cpu() - own_start
    return {
        "other_cores": max(0.0, (end[0] - start[0] - own) / wall),
        "steal_cores": (end[1] - start[1]) / wall,
    }


def child_time(spec: dict) -> dict:
    """Times spec["variants"] on one workload, warm then cold.

    Variants are interleaved (run 1 of every variant, then run 2, ...), so a
    change in machine load during the child shifts every variant alike
    instead of biasing the ratios between them.
    """
    wl = V.Workload.from_meta(Path(spec["work_dir"]), W.load_meta(Path(spec["work_dir"]), spec["workload"]))
    vs = [V.VARIANTS[name] for name in spec["variants"]]
    out: dict[str, Any] = {v.name: {"warm": [], "cold": []} for v in vs}
    busy0, own0 = _cpu_busy(), _own_cpu()
    for v in vs:  # warm-up: fills the page cache, does lazy imports; then check the result
        _env_threads(v.threads)
        result = v.op(wl)
        out[v.name]["correct"] = V.check(v, wl, result)
        del result
    for mode, repeat in (("warm", spec["warm"]), ("cold", spec["cold"])):
        for i in range(repeat):
            for v in vs:
                _env_threads(v.threads)
                gc.collect()  # also unmaps views of the last run: mapped pages cannot be dropped
                if mode == "cold":
                    V.drop_cache(v.files(wl))
                    if i == 0:
                        out[v.name]["resident_after_drop"] = max(V.resident_fraction(f) for f in v.files(wl))
                t0 = time.perf_counter()
                result = v.op(wl)
                out[v.name][mode].append(time.perf_counter() - t0)
                del result
    _env_threads(None)
    load = other_load(busy0, own0)
    for v in vs:
        out[v.name]["machine"] = load
    return out


def child_rss(spec: dict) -> dict:
    """Peak RSS of one variant run once in this fresh process (page cache warm)."""
    wl = V.Workload.from_meta(Path(spec["work_dir"]), W.load_meta(Path(spec["work_dir"]), spec["workload"]))
    v = V.VARIANTS[spec["variant"]]
    _env_threads(v.threads)
    import numpy  # noqa: F401  every variant uses it: not part of the op's memory

    if v.library == "tensorflow":
        V._tf()
    elif v.library == "bundlefast":
        import bundlefast  # noqa: F401
    before = proc_status()
    result = v.op(wl)
    after = proc_status()
    V.touch(result)  # views: map every page in, to show it is file-backed, not a copy
    touched = proc_status()
    del result
    return {"before": before, "after": after, "touched": touched}


def child_env() -> dict[str, str]:
    """Environment of every child. OPENBLAS_NUM_THREADS=1: NumPy's OpenBLAS
    otherwise starts a thread per core at import that spins for a while, which
    on a 2-core machine steals time from whatever is being measured (nothing
    here calls BLAS). TF_CPP_MIN_LOG_LEVEL=3 silences TF's C++ logging."""
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def run_child(mode: str, spec: dict) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".json", prefix="bench-") as out:
        spec = {**spec, "out": out.name}
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "_child", mode, json.dumps(spec)],
            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"child {mode} {spec.get('variants') or spec.get('variant')} failed:\n{proc.stderr}")
        return json.loads(Path(out.name).read_text())


def import_time(module: str, repeat: int) -> list[float]:
    """Wall time of `python -c "import MODULE"` in fresh processes."""
    times = []
    code = "pass" if module == "" else f"import {module}"
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=child_env(), check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


# ============================================================== orchestration


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ensure_workload(name: str, work_dir: Path, builder: str, regenerate: bool) -> dict:
    meta = None if regenerate else W.load_meta(work_dir, name)
    if meta is None:
        log(f"generating workload {name} with {builder} into {work_dir / name}")
        proc = subprocess.run(
            [sys.executable, str(HERE / "workloads.py"), name, str(work_dir), "--builder", builder],
            env=child_env(), capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"generating {name} failed:\n{proc.stderr}")
        meta = W.load_meta(work_dir, name)
        assert meta is not None
    return meta


def environment() -> dict:
    def version(mod: str) -> str | None:
        if importlib.util.find_spec(mod) is None:
            return None
        try:
            from importlib.metadata import version as v

            return v({"tensorflow": "tensorflow-cpu", "crc32c": "crc32c"}.get(mod, mod))
        except Exception:  # noqa: BLE001 - metadata names vary (tensorflow vs tensorflow-cpu)
            try:
                from importlib.metadata import version as v

                return v(mod)
            except Exception:  # noqa: BLE001
                return "?"

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    import bundlefast

    try:
        commit = subprocess.run(
            ["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "bundlefast": bundlefast.__version__,
        "bundlefast_path": str(Path(bundlefast.__file__).parent),
        "bundlefast_crc32c_backend": bundlefast._core._crc32c_active(),
        "bundlefast_default_threads": bundlefast._core.default_threads(),
        "tensorflow": version("tensorflow"),
        "safetensors": version("safetensors"),
        "crc32c": version("crc32c"),
        "git_commit": commit,
        "loadavg_start": os.getloadavg(),
    }


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def summarize(name: str, meta: dict, timed: dict, rss: dict) -> dict:
    rows: dict[str, Any] = {}
    for vname, r in timed.items():
        v = V.VARIANTS[vname]
        warm, cold = median(r["warm"]), median(r["cold"])
        row = {
            "label": v.label,
            "warm_s": warm,
            "cold_s": cold,
            "cold_min_s": min(r["cold"]) if r["cold"] else None,
            "cold_max_s": max(r["cold"]) if r["cold"] else None,
            "warm_runs": r["warm"],
            "cold_runs": r["cold"],
            "correct": r["correct"],
            "resident_after_drop": r.get("resident_after_drop"),
            "machine": r.get("machine"),
            "threads": v.threads,
        }
        if v.reads_all:
            row["warm_gbps"] = meta["data_bytes"] / warm / 1e9 if warm else None
            row["cold_gbps"] = meta["data_bytes"] / cold / 1e9 if cold else None
        if vname in rss:
            s = rss[vname]
            row["rss"] = {
                "anon_delta": s["touched"]["RssAnon"] - s["before"]["RssAnon"],
                "file_delta": s["touched"]["RssFile"] - s["before"]["RssFile"],
                "peak_delta": max(0, s["touched"]["VmHWM"] - s["before"]["VmRSS"]),
                "anon_after_op": s["after"]["RssAnon"] - s["before"]["RssAnon"],
                "raw": s,
            }
        rows[vname] = row
    # Ratios: speedup over the like-for-like comparisons, throughput over the
    # same-thread-count roofline, cold throughput over a plain read.
    for vname, row in rows.items():
        row["compare"] = {}
        for ref in COMPARE_WITH.get(vname, []):
            if ref in rows:
                row["compare"][ref] = {
                    mode: rows[ref][f"{mode}_s"] / row[f"{mode}_s"]
                    for mode in ("warm", "cold")
                    if rows[ref][f"{mode}_s"] and row[f"{mode}_s"]
                }
        roof = rows.get(ROOF_OF.get(vname, ""))
        if roof and roof["warm_s"] and row["warm_s"]:
            row["roof_warm"] = ROOF_OF[vname]
            row["x_roof_warm"] = roof["warm_s"] / row["warm_s"]
        if V.VARIANTS[vname].reads_all:
            # The cold reference is the faster of the two plain reads: each is
            # bimodal from run to run on Linux 6.18, and a roofline is a best case.
            reads = [rows[r]["cold_s"] for r in ("roof.read", "roof.read1") if r in rows and rows[r]["cold_s"]]
            if reads and row["cold_s"]:
                row["x_read_cold"] = min(reads) / row["cold_s"]
    return {
        "description": meta["description"],
        "generator": meta["generator"],
        "num_tensors": meta["num_tensors"],
        "data_bytes": meta["data_bytes"],
        "index_bytes": meta["index_bytes"],
        "variants": rows,
    }


def evaluate_targets(results: dict, quick: bool) -> list[dict]:
    """The floors of issues #14.2 and #8.2, and those of issue #5 that compare
    like with like, each as (value, goal, pass)."""
    bert_name = "bert-quick" if quick else "bert"
    bert = results["workloads"].get(bert_name, {}).get("variants", {})
    many_name = "many-quick" if quick else "many"
    many_wl = results["workloads"].get(many_name, {})
    many = many_wl.get("variants", {})
    n = V.ALL_CORES
    out = []

    def add(what: str, value: float | None, goal: float, higher: bool, unit: str = "x") -> None:
        ok = None if value is None else (value >= goal if higher else value <= goal)
        out.append({"target": what, "value": value, "goal": goal, "higher_is_better": higher, "unit": unit, "pass": ok})

    def g(rows: dict, v: str, key: str) -> float | None:
        return rows.get(v, {}).get(key)

    def vs(rows: dict, v: str, ref: str, mode: str = "warm") -> float | None:
        return rows.get(v, {}).get("compare", {}).get(ref, {}).get(mode)

    # Issue #14.2: the one-pass verify+copy.
    add(f"{bert_name}: load(verify,copy) 1 thread vs TF full load, warm", vs(bert, "bf.vc1", "tf.load"), 2.0, True)
    add(f"{bert_name}: load(verify,copy) {n} threads vs TF full load, warm", vs(bert, "bf.vcN", "tf.load"), 2.5, True)
    add(f"{bert_name}: load(verify,copy) 1 thread vs 1-thread memcpy to arena, warm",
        g(bert, "bf.vc1", "x_roof_warm"), 0.9, True)  # fmt: skip
    add(f"{bert_name}: load(verify,copy) {n} threads vs {n}-thread memcpy to arena, warm",
        g(bert, "bf.vcN", "x_roof_warm"), 0.9, True)  # fmt: skip
    # Issue #5, same thread counts on both sides.
    add(f"{bert_name}: load(verify) 1 thread vs 1-thread CRC32C, warm", g(bert, "bf.verify1", "x_roof_warm"), 0.95, True)
    add(f"{bert_name}: load(verify) {n} threads vs {n}-thread CRC32C, warm", g(bert, "bf.verifyN", "x_roof_warm"), 0.8, True)
    add(f"{bert_name}: load(copy) {n} threads vs {n}-thread memcpy to arena, warm", g(bert, "bf.copyN", "x_roof_warm"), 0.8,
        True)  # fmt: skip
    for v in ("bf.vc1", "bf.vcN", "bf.verifyN"):
        add(f"{bert_name}: {V.VARIANTS[v].label} vs plain read, cold", g(bert, v, "x_read_cold"), 0.9, True)
    tensors = many_wl.get("num_tensors")
    per = g(many, "bf.load", "warm_s")
    add(f"{many_name}: load (views) per tensor, warm", per / tensors * 1e6 if per and tensors else None, 1.0, False, "us")
    add(f"{many_name}: open vs TF load_checkpoint+shape map, warm", vs(many, "bf.open", "tf.open"), 5, True)
    rss = bert.get("bf.load", {}).get("rss")
    data = results["workloads"].get(bert_name, {}).get("data_bytes")
    add(
        f"{bert_name}: views, anonymous RSS growth / data bytes",
        rss["anon_delta"] / data if rss and data else None, 0.05, False, "",
    )  # fmt: skip
    imp = results.get("import", {})
    if imp.get("bundlefast_s") and imp.get("tensorflow_s"):
        add("import bundlefast / import tensorflow", imp["bundlefast_s"] / imp["tensorflow_s"], 1 / 30, False, "")
    # Issue #8.2: time to first tensor in a new process.
    first = results.get("first_tensor", {})
    if first.get("bundlefast_s"):
        if first.get("tensorflow_s"):
            add("first tensor, new process: bundlefast / TF", first["bundlefast_s"] / first["tensorflow_s"], 0.1, False, "")
        add("first tensor, new process: bundlefast", first["bundlefast_s"], 0.3, False, " s")
    return out


# ============================================================== output


def _ms(s: float | None) -> str:
    if s is None:
        return "-"
    ms = s * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def _x(v: float | None, digits: int = 2) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}x" if v >= 100 else f"{v:.{digits}f}x"


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _mb(b: float | None) -> str:
    return "-" if b is None else f"{b / 1e6:.1f}"


def table(results: dict) -> str:
    lines = []
    env = results["environment"]
    lines.append(
        f"bundlefast {env['bundlefast']} ({env['git_commit'] or 'no git'}), crc32c backend "
        f"{env['bundlefast_crc32c_backend']}, default threads {env['bundlefast_default_threads']} | "
        f"{env['cpu']}, {env['cores']} cores, {env['memory_gib']} GiB, Linux {env['kernel']} | "
        f"Python {env['python']}, NumPy {env['numpy']}, TF {env['tensorflow']}, "
        f"safetensors {env['safetensors']}, crc32c {env['crc32c']} | "
        f"loadavg {env['loadavg_start'][0]:.2f} -> {results['loadavg_end'][0]:.2f}"
    )
    lines.append(
        f"warm: median of {results['repeat_warm']} runs (after one warm-up); cold: min/median/max of "
        f"{results['repeat_cold']} runs (posix_fadvise DONTNEED on the files first); 'thr' = threads (N = all "
        f"{V.ALL_CORES} cores); 'x vs' = the named variant's time / this one's, for the same work only (TF reads, "
        "checks and copies every byte: load(verify,copy) does the same; views read no data and are compared with "
        "views); roof = throughput / the same-thread-count roofline's (memcpy into arrays allocated as bundlefast allocates its copies, CRC32C for "
        "verify); cold/read = cold throughput / the faster cold readinto's; RSS columns: growth over the process "
        "before the op, after touching every page of the result; ok = every tensor checked against the data file "
        "read independently (tests' index parser, crc32c package)"
    )
    hdr = (
        f"{'variant':<40} {'warm ms':>9} {'GB/s':>6} {'cold ms min/med/max':>21} {'GB/s':>6} "
        f"{'x vs (warm)':>24} {'x vs (cold)':>24} "
        f"{'roof (warm)':>13} {'cold/read':>9} {'anon MB':>8} {'file MB':>8} {'peak MB':>8} {'ok':>3}"
    )
    for wname, w in results["workloads"].items():
        lines.append("")
        lines.append(
            f"== {wname}: {w['description']}; {w['num_tensors']} tensors, {w['data_bytes'] / 1e6:.1f} MB data, "
            f"{w['index_bytes'] / 1e3:.1f} KB index; written by {w['generator']}"
        )
        lines.append(hdr)
        lines.append("-" * len(hdr))
        for vname, r in w["variants"].items():
            rss = r.get("rss") or {}
            roof = "-"
            if r.get("x_roof_warm") is not None:
                roof = f"{r['x_roof_warm']:.2f} {r['roof_warm'].split('.')[1][:7]}"
            cmp = {
                mode: ", ".join(f"{_x(x[mode])} {SHORT.get(ref, ref)}" for ref, x in r.get("compare", {}).items() if mode in x)
                or "-"
                for mode in ("warm", "cold")
            }
            cold = "-" if r["cold_s"] is None else f"{_ms(r['cold_min_s'])}/{_ms(r['cold_s'])}/{_ms(r['cold_max_s'])}"
            ok = {True: "yes", False: "NO", None: "-"}[r["correct"]]
            lines.append(
                f"{r['label']:<40} {_ms(r['warm_s']):>9} {_f(r.get('warm_gbps')):>6} "
                f"{cold:>21} {_f(r.get('cold_gbps')):>6} "
                f"{cmp['warm']:>24} {cmp['cold']:>24} {roof:>13} "
                f"{_f(r.get('x_read_cold')):>9} "
                f"{_mb(rss.get('anon_delta')):>8} {_mb(rss.get('file_delta')):>8} {_mb(rss.get('peak_delta')):>8} "
                f"{ok:>3}"
            )
        resid = [r.get("resident_after_drop") for r in w["variants"].values() if r.get("resident_after_drop") is not None]
        if resid:
            lines.append(f"(cold runs: at most {max(resid):.1%} of a file's pages were still cached after the drop)")
        loads = {}
        for vname, r in w["variants"].items():
            if r.get("machine"):
                group = "TF" if vname.startswith("tf.") else "bundlefast + baselines"
                loads[group] = r["machine"]
        if loads:
            lines.append(
                "(other processes kept busy, on average: "
                + "; ".join(
                    f"{m['other_cores']:.2f} of {os.cpu_count()} cores during the {g} timings"
                    + (f", {m['steal_cores']:.2f} stolen by the hypervisor" if m["steal_cores"] >= 0.01 else "")
                    for g, m in loads.items()
                )
                + ")"
            )
    imp = results.get("import")
    if imp:
        lines.append("")
        tf = f"{imp['tensorflow_s'] * 1e3:.0f} ms" if imp.get("tensorflow_s") else "n/a"
        ratio = f" (1/{imp['tensorflow_s'] / imp['bundlefast_s']:.0f})" if imp.get("tensorflow_s") else ""
        lines.append(
            f"import (fresh `python -c`, median of {imp['repeat']}): bundlefast {imp['bundlefast_s'] * 1e3:.1f} ms, "
            f"tensorflow {tf}{ratio}; bare interpreter {imp['python_s'] * 1e3:.1f} ms"
        )
    lines.append("")
    first = results.get("first_tensor")
    if first:
        tf = f"{first['tensorflow_s'] * 1e3:.0f} ms" if first.get("tensorflow_s") else "n/a"
        lines.append(
            f"first tensor (new process: import, open, read one tensor; median of {first['repeat']}): "
            f"bundlefast {first['bundlefast_s'] * 1e3:.0f} ms (ml_dtypes imported: {first['bundlefast_imports_ml_dtypes']}), "
            f"TF (import tensorflow, load_checkpoint, get_tensor) {tf}; on {first['what']}"
        )
    first_load = results.get("first_load")
    if first_load:
        v = first_load["variants"]
        tf = v.get("tensorflow", {}).get("median_s")
        lines.append(
            f"first load(verify,copy) of {first_load['workload']} in a new process, imports excluded (median "
            f"[min-max] of {first_load['repeat']}, order rotated): "
            + ", ".join(
                f"{k} {x['median_s'] * 1e3:.0f} ms [{min(x['runs']) * 1e3:.0f}-{max(x['runs']) * 1e3:.0f}]"
                + (f" ({tf / x['median_s']:.2f}x TF)" if tf and k != "tensorflow" else "")
                for k, x in v.items()
            )
        )
    lines.append("")
    lines.append("targets (issues #14, #8, #5; set for the full-size workloads, informative only with --quick):"
                 if results["quick"] else "targets (issues #14, #8, #5):")
    for t in results["targets"]:
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[t["pass"]]
        val = "-" if t["value"] is None else f"{t['value']:.3g}{t['unit']}"
        op = ">=" if t["higher_is_better"] else "<="
        lines.append(f"  [{mark}] {t['target']}: {val} ({op} {t['goal']:.3g}{t['unit']})")
    return "\n".join(lines)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wls = list(results["workloads"].items())
    fig, axes = plt.subplots(1, len(wls), figsize=(7.5 * len(wls), 6.5), squeeze=False)
    for ax, (wname, w) in zip(axes[0], wls):
        rows = [(r["label"], r["warm_s"], r["cold_s"]) for r in w["variants"].values()]
        ys = range(len(rows))
        ax.barh([y - 0.2 for y in ys], [r[1] * 1e3 if r[1] else 0 for r in rows], 0.4, label="warm")
        ax.barh([y + 0.2 for y in ys], [r[2] * 1e3 if r[2] else 0 for r in rows], 0.4, label="cold")
        ax.set_yticks(list(ys), [r[0] for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("median time, ms (log scale; shorter is better)")
        ax.set_title(f"{wname}: {w['num_tensors']} tensors, {w['data_bytes'] / 1e6:.0f} MB", fontsize=10)
        ax.grid(axis="x", which="both", alpha=0.3)
        ax.legend(fontsize=8)
    env = results["environment"]
    fig.suptitle(
        f"bundlefast {env['bundlefast']} on {env['cpu']} ({env['cores']} cores), Python {env['python']}, "
        f"NumPy {env['numpy']}, TF {env['tensorflow']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ============================================================== main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="bundlefast benchmark suite (see benchmarks/README.md)")
    ap.add_argument("--quick", action="store_true", help="small workloads and few repeats (< 1 min, for CI)")
    ap.add_argument("--huge", action="store_true", help="also a checkpoint with one tensor over 2**31 bytes")
    ap.add_argument("--work-dir", type=Path, default=Path(os.environ.get("BUNDLEFAST_BENCH_DIR", "/tmp/bundlefast-bench")))
    ap.add_argument("--out", type=Path, default=None, help="directory for results.json/.png (default: work dir)")
    ap.add_argument("--repeat", type=int, default=None, help="warm runs per variant (default 9, quick 5)")
    ap.add_argument("--cold-repeat", type=int, default=None, help="cold runs per variant (default 9, quick 3; 0: none)")
    ap.add_argument("--import-repeat", type=int, default=None,
                    help="fresh processes per import and per first tensor (default 7, quick 3; 0: none)")
    ap.add_argument("--workloads", default=None, help="comma-separated subset, e.g. bert,many")
    ap.add_argument("--variants", default=None, help="comma-separated subset of variant names (prefixes work: bf.)")
    ap.add_argument("--no-tf", action="store_true", help="skip TensorFlow even if installed")
    ap.add_argument("--no-rss", action="store_true", help="skip the peak-RSS children")
    ap.add_argument("--builder", choices=("auto", "tf", "python"), default="auto", help="how to write workloads")
    ap.add_argument("--regenerate", action="store_true", help="rewrite the cached workloads")
    args = ap.parse_args(argv)

    warm_n = args.repeat if args.repeat is not None else (5 if args.quick else 9)
    cold_n = args.cold_repeat if args.cold_repeat is not None else (3 if args.quick else 9)
    imp_n = args.import_repeat if args.import_repeat is not None else (3 if args.quick else 7)
    have_tf = not args.no_tf and importlib.util.find_spec("tensorflow") is not None
    builder = args.builder if args.builder != "auto" else ("tf" if importlib.util.find_spec("tensorflow") else "python")
    names = ["bert-quick", "many-quick"] if args.quick else ["bert", "many"]
    if args.huge:
        names.append("huge")
    if args.workloads:
        names = [n for n in args.workloads.split(",") if n]
    wanted = [v for v in TIMED if not args.variants or any(v.startswith(p) for p in args.variants.split(","))]
    if not have_tf:
        wanted = [v for v in wanted if not v.startswith("tf.")]
    skipped = {v: why for v in wanted if (why := V.available(V.VARIANTS[v]))}
    wanted = [v for v in wanted if v not in skipped]
    for v, why in skipped.items():
        log(f"skipping {v}: {why}")

    args.work_dir.mkdir(parents=True, exist_ok=True)
    out_dir = args.out or args.work_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "quick": args.quick,
        "repeat_warm": warm_n,
        "repeat_cold": cold_n,
        "environment": environment(),
        "workloads": {},
    }
    for name in names:
        meta = ensure_workload(name, args.work_dir, builder, args.regenerate)
        timed: dict[str, Any] = {}
        groups: dict[str, list[str]] = {}
        for v in wanted:
            if v.startswith("st.") and not meta.get("safetensors"):
                continue
            # TF in a child of its own (its threads and memory stay out of the
            # other numbers); bundlefast and the baselines share one, interleaved.
            lib = V.VARIANTS[v].library
            groups.setdefault("tensorflow" if lib == "tensorflow" else "bundlefast + baselines", []).append(v)
        for lib, vs in groups.items():
            log(f"{name}: timing {lib}: {', '.join(vs)}")
            spec = {"work_dir": str(args.work_dir), "workload": name, "variants": vs, "warm": warm_n, "cold": cold_n}
            timed.update(run_child("time", spec))
        rss: dict[str, Any] = {}
        if not args.no_rss:
            for v in RSS:
                if v in timed:
                    log(f"{name}: peak RSS of {v}")
                    rss[v] = run_child("rss", {"work_dir": str(args.work_dir), "workload": name, "variant": v})
        results["workloads"][name] = summarize(name, meta, {v: timed[v] for v in wanted if v in timed}, rss)

    if imp_n > 0:
        log("import times")
        imp: dict[str, Any] = {"repeat": imp_n}
        import_time("bundlefast", 1)  # first run warms the file cache for the .so
        imp["python_s"] = median(import_time("", imp_n))
        imp["bundlefast_s"] = median(import_time("bundlefast", imp_n))
        if have_tf:
            import_time("tensorflow", 1)
            imp["tensorflow_s"] = median(import_time("tensorflow", imp_n))
        results["import"] = imp
    if imp_n > 0:
        log("time to first tensor")
        import bench_first_tensor

        results["first_tensor"] = bench_first_tensor.measure(args.work_dir, imp_n, have_tf, child_env())
        bert_name = "bert-quick" if args.quick else "bert"
        if bert_name in results["workloads"]:
            log(f"{bert_name}: first load(verify, copy) in new processes")
            results["first_load"] = {
                "workload": bert_name,
                "repeat": imp_n,
                "variants": bench_first_tensor.measure_first_load(
                    args.work_dir, str(W.paths(args.work_dir, bert_name)["prefix"]),
                    results["workloads"][bert_name]["data_bytes"], imp_n, have_tf, child_env(),
                ),
            }  # fmt: skip
    results["loadavg_end"] = os.getloadavg()
    results["seconds"] = round(time.perf_counter() - t_start, 1)
    results["targets"] = evaluate_targets(results, args.quick)

    print(table(results))
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    try:
        chart(results, out_dir / "results.png")
        png = f", {out_dir / 'results.png'}"
    except ImportError:
        png = " (no chart: matplotlib is not installed)"
    print(f"\nwrote {out_dir / 'results.json'}{png} in {results['seconds']:.0f} s")
    return 0


def child_main(mode: str, spec_json: str) -> None:
    spec = json.loads(spec_json)
    result = child_time(spec) if mode == "time" else child_rss(spec)
    Path(spec["out"]).write_text(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "_child":
        child_main(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
