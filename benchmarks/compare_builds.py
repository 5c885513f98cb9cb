"""Two builds of bundlefast side by side, in one sitting: before/after tables.

    python benchmarks/compare_builds.py OLD_PKG NEW_PKG [--repeat 9] [--callgrind]

OLD_PKG and NEW_PKG are importable package directories (``tools/devbuild.sh B``
makes ``B/pkg``). Every case (a ``bundlefast.load`` mode on a workload, at a
thread count) runs in fresh child processes, one per build, and the builds are
interleaved: round 1 of old, round 1 of new, round 2 of new, round 2 of old, ...
so load that comes and goes on the machine hits both alike. Each child does a
warm-up call, then ``--repeat`` timed calls; the table gives min and median per
build and new/old of each, and the median minor page faults per call (getrusage
around each call): fresh memory is dear on a VM, so a build that touches more
new pages per call shows it there even when its instruction count is lower. Only public API is called (``bundlefast.load`` and
``bundlefast.open``), so any two versions compare, whatever their run.py calls
their variants.

``--callgrind`` instead counts instructions (valgrind's callgrind): one child
per build and thread count runs every mode once to warm up and once measured,
with ``os.getppid()`` between steps as the dump marker, so each measured load
is its own dump. Instruction counts repeat to a fraction of a percent whatever
else runs on the machine, which wall clock on a shared machine does not.

Workloads come from ``benchmarks/workloads.py`` (``many``: 50,000 small tensors;
``bert``: 440 MB), generated into ``--work-dir`` if missing.
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

HERE = Path(__file__).resolve().parent

# mode -> keyword arguments of bundlefast.load ("one": open + one tensor by name)
MODES = {
    "views": {},
    "verify": {"verify": True},
    "copy": {"copy": True},
    "verify+copy": {"verify": True, "copy": True},
    "one": None,
}
DEFAULT_CASES = (
    "many:views:1,many:verify:1,many:verify:2,many:copy:1,many:copy:2,many:verify+copy:2,many:one:1,"
    "bert:views:1,bert:verify:1,bert:verify:2,bert:copy:2,bert:one:1"
)


def child(prefix: str, mode: str, repeat: int, one: str) -> None:
    """Times one mode in this process (PYTHONPATH picks the build); prints JSON."""
    import numpy  # noqa: F401  both builds pay NumPy's import outside the timer

    import bundlefast

    def run():
        if MODES[mode] is None:
            with bundlefast.open(prefix) as r:
                return r[one]
        return bundlefast.load(prefix, **MODES[mode])

    run()  # warm: page cache, lazy imports, first-use setup
    times, faults = [], []
    for _ in range(repeat):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t0)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
        del out
    print(json.dumps({"times": times, "faults": faults, "version": getattr(bundlefast, "__version__", "?")}))


def callgrind_child(prefix: str, modes: list[str], one: str) -> None:
    """Every mode twice (warm-up, measured); os.getppid() marks the callgrind dumps."""
    import numpy  # noqa: F401

    try:
        import ml_dtypes  # noqa: F401  an older build imports it eagerly: both pay it before the marks
    except ImportError:
        pass
    import bundlefast

    os.getppid()  # end of startup
    for mode in modes:
        for _ in range(2):
            if MODES[mode] is None:
                with bundlefast.open(prefix) as r:
                    out = r[one]
            else:
                out = bundlefast.load(prefix, **MODES[mode])
            del out
            os.getppid()


def workload(work_dir: Path, name: str) -> tuple[str, str]:
    meta_path = work_dir / name / "meta.json"
    if not meta_path.exists():
        subprocess.run([sys.executable, str(HERE / "workloads.py"), name, str(work_dir)], check=True)
    layout = json.loads(meta_path.read_text())["layout"]
    return str(work_dir / name / "ckpt"), layout[len(layout) // 2][0]


def env_for(pkg: str, threads: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=pkg, BUNDLEFAST_NUM_THREADS=threads)
    env.pop("PYTHONSTARTUP", None)
    return env


def time_cases(args, cases) -> None:
    results = {c: {"old": [], "new": []} for c in cases}
    faults = {c: {"old": [], "new": []} for c in cases}
    for rnd in range(args.rounds):
        for c in cases:
            wl, mode, threads = c
            prefix, one = workload(args.work_dir, wl)
            order = ("old", "new") if rnd % 2 == 0 else ("new", "old")
            for which in order:
                pkg = args.old if which == "old" else args.new
                cmd = [sys.executable, __file__, "--child", prefix, mode, str(args.repeat), one]
                out = subprocess.run(cmd, env=env_for(pkg, threads), capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(f"{which} {c} failed:\n{out.stderr}")
                report = json.loads(out.stdout.splitlines()[-1])
                results[c][which] += report["times"]
                faults[c][which] += report.get("faults", [])
    print(f"{'workload':<8} {'mode':<12} {'thr':>3} {'old min':>9} {'new min':>9} {'new/old':>7}"
          f" {'old med':>9} {'new med':>9} {'new/old':>7} {'old flt':>8} {'new flt':>8}"
          f"   (ms, median minor faults per call; {args.rounds} rounds x {args.repeat})")
    for (wl, mode, threads), r in results.items():
        omin, nmin = min(r["old"]) * 1e3, min(r["new"]) * 1e3
        omed, nmed = statistics.median(r["old"]) * 1e3, statistics.median(r["new"]) * 1e3
        oflt, nflt = (statistics.median(faults[(wl, mode, threads)][w] or [0]) for w in ("old", "new"))
        print(f"{wl:<8} {mode:<12} {threads:>3} {omin:9.2f} {nmin:9.2f} {nmin / omin:7.3f}"
              f" {omed:9.2f} {nmed:9.2f} {nmed / omed:7.3f} {oflt:8.0f} {nflt:8.0f}")


def callgrind_cases(args, cases) -> None:
    groups: dict[tuple[str, str], list[str]] = {}
    for wl, mode, threads in cases:
        groups.setdefault((wl, threads), []).append(mode)
    counts: dict[tuple, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="bf-callgrind-") as tmp:
        for (wl, threads), modes in groups.items():
            prefix, one = workload(args.work_dir, wl)
            for which, pkg in (("old", args.old), ("new", args.new)):
                out = Path(tmp) / f"{which}-{wl}-{threads}.out"
                cmd = ["valgrind", "--tool=callgrind", "--dump-before=getppid", f"--callgrind-out-file={out}",
                       sys.executable, __file__, "--callgrind-child", prefix, ",".join(modes), one]
                proc = subprocess.run(cmd, env=env_for(pkg, threads), capture_output=True, text=True)
                if proc.returncode != 0:
                    raise SystemExit(f"{which} {wl} failed:\n{proc.stderr[-3000:]}")
                # Dumps: .1 startup, then per mode .(2k+2) warm-up, .(2k+3) measured.
                for k, mode in enumerate(modes):
                    text = Path(f"{out}.{2 * k + 3}").read_text()
                    total = next(int(line.split()[1]) for line in text.splitlines()
                                 if line.startswith(("summary:", "totals:")))
                    counts.setdefault((wl, mode, threads), {})[which] = total
    print(f"{'workload':<8} {'mode':<12} {'thr':>3} {'old instr':>14} {'new instr':>14} {'new/old':>7}")
    for (wl, mode, threads), c in counts.items():
        print(f"{wl:<8} {mode:<12} {threads:>3} {c['old']:>14,} {c['new']:>14,} {c['new'] / c['old']:7.3f}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child(argv[1], argv[2], int(argv[3]), argv[4])
        return
    if argv and argv[0] == "--callgrind-child":
        callgrind_child(argv[1], argv[2].split(","), argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", help="package directory of the old build (its bundlefast/ inside)")
    ap.add_argument("new", help="package directory of the new build")
    ap.add_argument("--cases", default=DEFAULT_CASES, help="comma-separated workload:mode:threads")
    ap.add_argument("--rounds", type=int, default=6, help="child processes per build and case (interleaved)")
    ap.add_argument("--repeat", type=int, default=9, help="timed calls per child")
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/bundlefast-bench"))
    ap.add_argument("--callgrind", action="store_true", help="instruction counts instead of wall clock")
    args = ap.parse_args(argv)
    cases = []
    for c in args.cases.split(","):
        wl, mode, threads = c.split(":")
        if mode not in MODES:
            raise SystemExit(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        cases.append((wl, mode, threads))
    (callgrind_cases if args.callgrind else time_cases)(args, cases)


if __name__ == "__main__":
    main()
