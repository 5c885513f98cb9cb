"""A sum over a tensor of more than 2 GiB: bundlefast.dask on two worker processes vs NumPy.

Contenders, over the same bytes (a float32 tensor of random values; the file is real,
not sparse, and warm in the page cache for both):

* NumPy, one process: ``np.memmap`` of the payload, ``.sum(dtype=float64)``;
* ``bundlefast.dask.from_bundle(...).sum(dtype=float64)`` on a
  ``LocalCluster(n_workers=2, processes=True, threads_per_worker=1)``: chunks read with
  ``pread`` (the default) and, second row, as views of each worker's mapping (``mmap=True``).

Reported: seconds (best of ``--repeat``), the ratio NumPy / dask (floor 0.7x: two
processes should not lose much to one, and win where the sum is CPU-bound), and each
worker's peak RSS during the timed computation (VmHWM after a reset: growth, and the
peak itself), against the chunk size. ``mmap=False`` pays for faulting in fresh memory
for every chunk, which some VMs make slow (first touch of fresh pages).

    python benchmarks/bench_dask.py            # 2.15 GiB tensor
    python benchmarks/bench_dask.py --quick    # 256 MiB, for CI
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import bundlefast  # noqa: E402
from support_remote import peak_rss, reset_peak_rss  # noqa: E402

FLOOR = 0.7
COLS = 768


def write_tensor(prefix: Path, rows: int) -> None:
    """A (rows, 768) float32 tensor ``emb`` of seeded random values, written block by
    block (the CRC streamed with it), indexed by tests/bundle_builder.py."""
    from bundle_builder import BundleBuilder, DataType, encode_entry

    rng = np.random.default_rng(0)
    crc, block = 0, 65_536
    tmp = Path(f"{prefix}.data.tmp")
    with open(tmp, "wb") as f:
        for start in range(0, rows, block):
            data = rng.standard_normal((min(block, rows - start), COLS), dtype=np.float32).tobytes()
            crc = bundlefast.crc32c(data, crc)
            f.write(data)
    b = BundleBuilder()
    size = rows * COLS * 4
    b.add_raw_entry("emb", encode_entry(DataType.FLOAT, (rows, COLS), size=size, masked_crc=bundlefast.mask_crc32c(crc)))
    b.write(prefix)
    tmp.replace(f"{prefix}.data-00000-of-00001")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 256 MiB tensor, one repetition")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "bundlefast-bench")
    args = ap.parse_args()
    rows = (256 << 20) // (COLS * 4) if args.quick else (2**31) // (COLS * 4) + 1024  # 2.15 GiB: over 2^31 bytes
    repeat = 1 if args.quick else args.repeat
    prefix = args.work_dir / f"dask-{rows}" / "emb"
    if not Path(f"{prefix}.index").is_file():
        prefix.parent.mkdir(parents=True, exist_ok=True)
        write_tensor(prefix, rows)

    import dask
    from distributed import Client, LocalCluster

    import bundlefast.dask

    with bundlefast.open(prefix) as r:
        offset = r.info("emb").offset
    memmap = np.memmap(f"{prefix}.data-00000-of-00001", dtype=np.float32, mode="r", offset=offset, shape=(rows, COLS))

    def best(fn):
        fn()  # warm: page cache, imports, worker processes
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            value = fn()
            times.append(time.perf_counter() - start)
        return min(times), value

    numpy_s, want = best(lambda: memmap.sum(dtype=np.float64))
    results = []
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, Client(
        cluster
    ) as client:
        for mmap in (False, True):
            x = bundlefast.dask.from_bundle(prefix, "emb", mmap=mmap)
            seconds, got = best(lambda: x.sum(dtype=np.float64).compute())
            assert np.isclose(got, want, rtol=1e-9), (got, want)
            base = client.run(reset_peak_rss)
            dask.compute(x.sum(dtype=np.float64))
            peaks = client.run(peak_rss)
            growth = [f"+{round((peaks[w] - base[w]) / 2**20)} (peak {round(peaks[w] / 2**20)})" for w in peaks]
            chunk_mib = x.chunks[0][0] * COLS * 4 / 2**20
            results.append((f"bundlefast.dask, 2 workers, mmap={mmap}", seconds, growth, chunk_mib))

    size = rows * COLS * 4
    print(f"sum over one float32 tensor of {size / 2**30:.3f} GiB ({size} bytes), warm, best of {repeat}")
    print(f"{'what':<44} {'seconds':>8} {'GB/s':>6} {'ratio':>6}  peak RSS growth per worker")
    print(f"{'numpy memmap sum, 1 process':<44} {numpy_s:8.3f} {size / numpy_s / 1e9:6.2f} {1:6.2f}")
    for what, seconds, growth, chunk_mib in results:
        ratio = numpy_s / seconds
        flag = "" if ratio >= FLOOR else f"  BELOW FLOOR {FLOOR}x"
        print(f"{what:<44} {seconds:8.3f} {size / seconds / 1e9:6.2f} {ratio:6.2f}  {', '.join(growth)} MiB "
              f"(chunks of {chunk_mib:.0f} MiB){flag}")
    print("RSS of a worker with mmap=True counts the mapped file pages it touched (page cache, shared and "
          "reclaimable), already resident from the warm-up; with mmap=False it counts owned chunks.")


if __name__ == "__main__":
    main()
