"""Loading a checkpoint from S3: bundlefast's ranged reads vs download-then-load.

A real S3 API on loopback (moto's server, in its own process) behind a proxy that holds
every request for ``--latency`` seconds (tests/support_remote.py), read with s3fs by both
contenders. moto reads a whole object for every ranged GET, so the proxy answers ranged
GETs from objects it fetched whole once (during the warm-up), as S3 would (206):

* ``bundlefast.load("s3://...")``: the index, then the tensors' byte ranges, fetched
  concurrently and coalesced;
* the usual way without it: ``fs.get`` the checkpoint's files to a local directory with
  fsspec, then ``bundlefast.load`` them locally (mmap; the files are in the page cache).

Also timed: one tensor (``names=[...]``), where only its bytes travel. The table gives
seconds (median of ``--repeat``), requests and bytes through the proxy, and the ratio
download-then-load / bundlefast (above 1: bundlefast is faster).

    python benchmarks/bench_remote.py           # BERT-base (440 MB), 20 ms a request
    python benchmarks/bench_remote.py --quick   # BERT-tiny-like (16 MB), for CI
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import bundlefast  # noqa: E402
import workloads as W  # noqa: E402
from support_remote import s3_server_process  # noqa: E402


def _timed(fn, repeat: int, s3) -> tuple[float, int, int]:
    """Median seconds of ``fn()``, and the requests and bytes of its last run."""
    times = []
    for _ in range(repeat):
        s3.traffic()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    traffic = s3.traffic()
    return statistics.median(times), len(traffic.requests), traffic.body_bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="BERT-tiny-like workload, one repetition")
    ap.add_argument("--latency", type=float, default=0.02, help="seconds each request is held (default 0.02)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "bundlefast-bench")
    args = ap.parse_args()
    name = "bert-quick" if args.quick else "bert"
    repeat = 1 if args.quick else args.repeat
    meta = W.load_meta(args.work_dir, name) or W.generate(name, args.work_dir, "python")
    local = W.paths(args.work_dir, name)
    one = max(meta["layout"], key=lambda row: row[4])[0]  # the biggest tensor (the embedding)

    with s3_server_process(serve_ranges=True) as s3, tempfile.TemporaryDirectory() as tmp:
        fs = s3.filesystem()
        s3.make_bucket("bench")
        for f in (local["index"], local["data"]):  # the checkpoint only (not meta.json, .safetensors)
            fs.pipe_file(f"bench/{name}/{f.name}", f.read_bytes())
        url = f"s3://bench/{name}/ckpt"
        # One cached s3fs instance for both (its session setup, ~1 s here, is not the point)
        options = {**s3.options(), "skip_instance_cache": False}
        s3.set_delay(args.latency)
        expect = bundlefast.load(local["prefix"])

        def ranged() -> None:
            got = bundlefast.load(url, storage_options=options)
            assert len(got) == len(expect)

        def download_then_load() -> None:
            import s3fs

            fs = s3fs.S3FileSystem(**options)
            dest = Path(tmp) / f"dl-{time.monotonic_ns()}"
            fs.get(f"bench/{name}/", str(dest), recursive=True)
            got = bundlefast.load(dest / "ckpt")
            assert len(got) == len(expect)

        def ranged_one() -> None:
            bundlefast.load(url, names=[one], storage_options=options)

        for fn in (ranged, download_then_load):  # warm-up: imports, sessions, moto's caches
            fn()
        rows = [
            ("bundlefast.load(s3://...)", *_timed(ranged, repeat, s3)),
            ("fsspec get + bundlefast.load(local)", *_timed(download_then_load, repeat, s3)),
            (f"bundlefast.load(s3://..., names=[{one!r}])", *_timed(ranged_one, repeat, s3)),
        ]
    size = meta["data_bytes"] + meta["index_bytes"]
    print(f"{meta['description']}: {meta['num_tensors']} tensors, {size / 1e6:.1f} MB; "
          f"loopback S3 (moto) with {args.latency * 1000:.0f} ms a request; median of {repeat}")
    print(f"{'what':<60} {'seconds':>8} {'requests':>9} {'MB moved':>9}")
    for what, seconds, requests, moved in rows:
        print(f"{what:<60} {seconds:8.3f} {requests:9d} {moved / 1e6:9.1f}")
    print(f"ratio download-then-load / bundlefast ranged load: {rows[1][1] / rows[0][1]:.2f}x")
    print(f"ratio download-then-load / bundlefast one tensor:  {rows[1][1] / rows[2][1]:.2f}x")


if __name__ == "__main__":
    main()
