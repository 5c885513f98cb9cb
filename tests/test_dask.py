"""bundlefast.dask: Dask arrays over a checkpoint, computed on a real two-process cluster.

The big table is 2.25 GiB of int32 (589,824 x 1024) in a sparse file whose every
4096th row holds a known pattern (support_remote.write_pattern_table), so results are
checked exactly against NumPy while the disk holds a few MiB.
"""

from __future__ import annotations

import pickle
import sys
import time

import dask  # not importorskip: CI installs the dask extra, and a skip would hide it
import numpy as np
import pytest
from distributed import Client, LocalCluster

import bundlefast
import bundlefast.dask
from bundlefast._frameworks import MissingExtraError
from bundle_builder import BundleBuilder
from support_remote import expected_table_sums, pattern_row, peak_rss, reset_peak_rss, s3_server, write_pattern_table

ROWS, COLS, EVERY = 589_824, 1024, 4096
CHUNK_ROWS = 32_768  # 128 MiB chunks (dask's "auto" size for this table)


# Older dask (the declared minimums' venv) warns when a local scheduler runs while the
# module's distributed client is active; running one on purpose is what these tests check.
_LOCAL_SCHEDULER_ON_PURPOSE = pytest.mark.filterwarnings(
    "ignore:Running on a single-machine scheduler when a distributed client is active:UserWarning"
)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("table") / "emb"
    write_pattern_table(prefix, ROWS, COLS, EVERY)
    return prefix


@pytest.fixture(scope="module")
def client():
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, memory_limit="4GiB"
    ) as cluster, Client(cluster) as c:
        yield c


def test_reductions_and_row_gather_on_two_worker_processes(client, table):
    x = bundlefast.dask.from_bundle(table, "table")
    assert x.shape == (ROWS, COLS) and x.dtype == np.int32
    assert x.chunks[0][0] == CHUNK_ROWS and x.chunks[1] == (COLS,)
    graph_bytes = len(pickle.dumps(dict(x.__dask_graph__())))
    assert graph_bytes < 100_000  # names, slices and the pickled (location, name): no data

    start = time.perf_counter()
    col_sums, top = dask.compute(x.sum(axis=0, dtype=np.int64), x.max())  # one read of each chunk
    seconds = time.perf_counter() - start
    _, want_cols = expected_table_sums(ROWS, COLS, EVERY)
    np.testing.assert_array_equal(col_sums, want_cols)
    assert top == pattern_row((ROWS - 1) // EVERY * EVERY, COLS).max()
    print(f"sum of {x.nbytes / 2**30:.2f} GiB on 2 workers: {seconds:.2f} s; graph {graph_bytes} bytes")

    rows = [0, EVERY, 5, ROWS - 1, EVERY * 100, EVERY * 100 + 1]
    got = x[rows].compute()
    for i, r in enumerate(rows):
        want = pattern_row(r, COLS) if r % EVERY == 0 else np.zeros(COLS, np.int32)
        np.testing.assert_array_equal(got[i], want)
    np.testing.assert_array_equal(x[EVERY * 7, 10:20].compute(), pattern_row(EVERY * 7, COLS)[10:20])


@pytest.mark.parametrize("mmap", [False, True])
def test_worker_peak_memory_stays_within_a_few_chunks(client, table, mmap):
    """Owned chunks (pread) or views: a worker holds a chunk or two at a time, not all
    it has read. Measured as each worker's peak RSS (VmHWM) growth over 4 chunks per
    worker: a view's pages leave the worker when the chunk is dropped (Dask's nanny
    pauses and restarts workers by RSS, file pages included)."""
    x = bundlefast.dask.from_bundle(table, "table", mmap=mmap)[: 8 * CHUNK_ROWS]
    base = client.run(reset_peak_rss)
    col_sums = x.sum(axis=0, dtype=np.int64).compute()
    peaks = client.run(peak_rss)
    _, want_cols = expected_table_sums(8 * CHUNK_ROWS, COLS, EVERY)
    np.testing.assert_array_equal(col_sums, want_cols)
    chunk_bytes = CHUNK_ROWS * COLS * 4
    growth = {w: peaks[w] - base[w] for w in peaks}
    print(f"mmap={mmap}: peak RSS growth per worker (MiB): {[round(g / 2**20) for g in growth.values()]}, "
          f"chunk {chunk_bytes >> 20} MiB, {x.nbytes >> 20} MiB read")
    # Views hold only the chunk being summed. Owned chunks also leave what the allocator
    # keeps after a free (ASan's quarantine keeps 256 MiB): a looser bound, still under
    # the 4 chunks each worker reads.
    bound = 3 * chunk_bytes if mmap else 4 * chunk_bytes
    assert all(g < bound for g in growth.values()), growth


@_LOCAL_SCHEDULER_ON_PURPOSE
def test_partitioned_variable_over_two_shards(client, tmp_path):
    full = np.arange(100 * 6, dtype=np.float32).reshape(100, 6)
    b = BundleBuilder(num_shards=2)
    b.add_slice("part", (100, 6), [(0, 37), (0, -1)], full[:37], shard=0)
    b.add_slice("part", (100, 6), [(37, 63), (0, -1)], full[37:], shard=1)
    b.add("other", np.ones(3, np.int64), shard=1)
    b.write(tmp_path / "p")
    arrays = bundlefast.dask.load(tmp_path / "p")
    assert sorted(arrays) == ["other", "part"]
    np.testing.assert_array_equal(arrays["other"].compute(), np.ones(3, np.int64))
    x = bundlefast.dask.from_bundle(tmp_path / "p", "part", chunks=(30, 4))
    assert x.chunks == ((30, 30, 30, 10), (4, 2))
    np.testing.assert_array_equal(x.compute(), full)  # chunks that straddle the two slices
    np.testing.assert_array_equal(client.compute(x.sum(axis=1)).result(), full.sum(axis=1))
    np.testing.assert_array_equal(x[[3, 40, 99]].compute(scheduler="sync"), full[[3, 40, 99]])


def test_s3_source_on_the_cluster(client, tmp_path):
    rows, cols, every = 8192, 512, 64  # 16 MiB
    write_pattern_table(tmp_path / "emb", rows, cols, every)
    with s3_server() as s3:
        s3.upload(tmp_path, "ckpts/emb")
        x = bundlefast.dask.from_bundle("s3://ckpts/emb/emb", "table", chunks=(1024, cols),
                                        storage_options=s3.options())
        s3.proxy.reset()
        total = x.sum(dtype=np.int64).compute()
        traffic = s3.proxy.reset()
        gathered = x[[0, 64, 65, rows - 64]].compute()
        gather_traffic = s3.proxy.reset()
    want_total, _ = expected_table_sums(rows, cols, every)
    assert total == want_total
    np.testing.assert_array_equal(gathered[1], pattern_row(64, cols))
    np.testing.assert_array_equal(gathered[2], np.zeros(cols, np.int32))
    data = [rng for _, path, rng in traffic.requests if ".data-" in path]
    print(f"S3 sum: {len(traffic.requests)} requests, {len(data)} data GETs, {traffic.body_bytes} bytes; "
          f"gather of 4 rows: {gather_traffic.body_bytes} bytes")
    assert len(data) == 8  # one ranged GET per chunk, on the workers
    assert traffic.body_bytes < x.nbytes + (1 << 20)  # plus listings and index, per worker
    # the gather reads only the two chunks that hold those rows
    assert gather_traffic.body_bytes < 2 * 1024 * cols * 4 + (1 << 20)


@_LOCAL_SCHEDULER_ON_PURPOSE
def test_local_scheduler_and_pickled_array(table):
    x = bundlefast.dask.from_bundle(table, "table", chunks=(EVERY, COLS))
    y = pickle.loads(pickle.dumps(x))
    np.testing.assert_array_equal(y[EVERY * 3 : EVERY * 3 + 2].compute(scheduler="threads")[0],
                                  pattern_row(EVERY * 3, COLS))


def test_variant_refused(tmp_path):
    b = BundleBuilder()
    b.add_variant("v", [b""])
    b.write(tmp_path / "v")
    with pytest.raises(bundlefast.UnsupportedError, match="DT_VARIANT"):
        bundlefast.dask.from_bundle(tmp_path / "v", "v")


def test_missing_dask_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "dask.array", None)  # what an uninstalled package looks like to import
    b = BundleBuilder()
    b.add("x", np.ones(3, np.float32))
    b.write(tmp_path / "p")
    with pytest.raises(MissingExtraError, match=r"bundlefast.dask needs the dask package: pip install 'bundlefast\[dask\]'"):
        bundlefast.dask.from_bundle(tmp_path / "p", "x")
