"""Checkpoints read from fsspec URLs (memory://, chained simplecache::memory://).

Every read from a URL must equal the same read from the local copy (which the TF
comparison tests prove right), resolve locations by the local rules, and fetch only
what was asked for. The S3 tests (real S3 API on loopback) are in test_remote_s3.py.
"""

from __future__ import annotations

import pickle
import sys
import uuid
from pathlib import Path

import fsspec  # not importorskip: CI installs the remote extra, and a skip would hide it
import numpy as np
import pytest

import bundlefast
from bundlefast import _sources
from bundlefast._frameworks import MissingExtraError
from bundlefast.errors import BundleError, BundleFileNotFoundError, BundleOSError, InvalidArgumentError
from bundle_builder import BundleBuilder



def _upload(fs, local_dir: Path, root: str) -> None:
    for path in sorted(local_dir.rglob("*")):
        if path.is_file():
            fs.pipe_file(f"{root}/{path.relative_to(local_dir).as_posix()}", path.read_bytes())


@pytest.fixture
def memroot():
    """A fresh directory of the process-wide memory:// filesystem, removed afterwards."""
    fs = fsspec.filesystem("memory")
    root = f"/bf-{uuid.uuid4().hex}"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        x, y = a[name], b[name]
        assert x.dtype == y.dtype and x.shape == y.shape, name
        if x.dtype == object:
            assert x.tolist() == y.tolist(), name
        else:
            assert x.tobytes() == y.tobytes(), name


@pytest.mark.parametrize("case", ["keras_tf2", "sharded_tf1", "partitioned_tf1", "all_dtypes", "strings"])
def test_memory_url_equals_local(case, data_dir, memroot):
    fs, root = memroot
    _upload(fs, data_dir / case, root)
    local = data_dir / case
    remote = bundlefast.load(f"memory://{root}", verify=True)
    _same(remote, bundlefast.load(local, verify=True))
    with bundlefast.open(f"memory://{root}") as r:
        assert r.is_remote and r.prefix.startswith("memory://")
        for name in list(r)[:5]:
            _same({name: r[name]}, {name: bundlefast.load(local, names=[name])[name]})


def test_resolution_mirrors_local_rules(data_dir, memroot):
    fs, root = memroot
    _upload(fs, data_dir / "sharded_tf1", f"{root}/ckpt")
    _upload(fs, data_dir / "savedmodel", f"{root}/sm")
    expect = bundlefast.load(data_dir / "sharded_tf1")
    for url in (
        f"memory://{root}/ckpt",  # directory with a `checkpoint` state file
        f"memory://{root}/ckpt/",
        f"memory://{root}/ckpt/model",  # the prefix
        f"memory://{root}/ckpt/model.index",
        f"memory://{root}/ckpt/model.meta",
        f"memory://{root}/ckpt/model.data-00001-of-00003",
        f"simplecache::memory://{root}/ckpt",  # chained
    ):
        with bundlefast.open(url) as r:
            assert r.prefix.endswith(f"{root}/ckpt/model"), url
            _same(r.load(), expect)
    sm = bundlefast.load(f"memory://{root}/sm")
    _same(sm, bundlefast.load(data_dir / "savedmodel"))
    with pytest.raises(BundleFileNotFoundError, match=f"memory://{root}/nothing"):
        bundlefast.open(f"memory://{root}/nothing")
    with pytest.raises(FileNotFoundError, match="no checkpoint in"):
        fs.mkdir(f"{root}/empty")
        fs.pipe_file(f"{root}/empty/readme", b"x")
        bundlefast.open(f"memory://{root}/empty")


def test_state_file_absolute_path_and_two_bundles(data_dir, memroot):
    fs, root = memroot
    _upload(fs, data_dir / "keras_tf2", f"{root}/d")
    fs.pipe_file(f"{root}/d/checkpoint", b'model_checkpoint_path: "/old/machine/dir/ckpt-1"\n')
    assert bundlefast.open(f"memory://{root}/d").prefix.endswith(f"{root}/d/ckpt-1")  # moved TF1 dir
    fs.pipe_file(f"{root}/d/checkpoint", b'model_checkpoint_path: "ckpt-7"\n')
    with pytest.raises(BundleFileNotFoundError, match="names checkpoint 'ckpt-7'"):
        bundlefast.open(f"memory://{root}/d")
    fs.pipe_file(f"{root}/d/checkpoint", b"model_checkpoint_path: [oops\n")
    with pytest.raises(bundlefast.errors.CorruptionError, match=f"memory://{root}/d/checkpoint: not a CheckpointState"):
        bundlefast.open(f"memory://{root}/d")
    assert bundlefast.get_checkpoint_state(f"memory://{root}/d") is None  # TF: logged, None
    fs.rm(f"{root}/d/checkpoint")
    fs.pipe_file(f"{root}/d/other.index", fs.cat_file(f"{root}/d/ckpt-1.index"))
    with pytest.raises(BundleFileNotFoundError, match="holds 2 bundles"):
        bundlefast.open(f"memory://{root}/d")


def _big_bundle(tmp_path: Path, n: int = 6, mib: int = 2) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    b = BundleBuilder()
    arrays = {f"t{i}": rng.integers(0, 255, size=(mib << 20,), dtype=np.uint8) for i in range(n)}
    arrays["small"] = np.arange(10, dtype=np.float32)
    for k, v in arrays.items():
        b.add(k, v)
    # BundleBuilder's CRC is pure Python: fine for a few MiB.
    b.write(tmp_path / "big")
    return tmp_path / "big", arrays


@pytest.fixture(scope="module")
def big_bundle(tmp_path_factory):
    return _big_bundle(tmp_path_factory.mktemp("big"), n=4, mib=1)


@pytest.fixture
def big_url(big_bundle, memroot):
    """(memory:// URL of the big bundle's prefix, its arrays); the store is memroot's."""
    prefix, arrays = big_bundle
    fs, root = memroot
    _upload(fs, prefix.parent, root)
    return f"memory://{root}/big", arrays


def test_one_tensor_fetches_only_its_bytes(big_url):
    url, arrays = big_url
    with bundlefast.open(url) as r:
        index_bytes = r._remote.count.bytes
        assert r._remote.count.requests == 1  # the index, fetched whole, once
        got = r.load(["t2"], verify=True)["t2"]
        np.testing.assert_array_equal(got, arrays["t2"])
        fetched = r._remote.count.bytes - index_bytes
        assert arrays["t2"].nbytes <= fetched <= arrays["t2"].nbytes + (1 << 20)
        assert r._remote.count.requests == 2
        # a region fetches only its span
        before = r._remote.count.bytes
        np.testing.assert_array_equal(r.get_slice("t1")[1000:1100], arrays["t1"][1000:1100])
        assert r._remote.count.bytes - before == 100
        # every tensor: the close ranges are coalesced into few requests
        before = r._remote.count.requests
        _same(r.load(verify=True), arrays)
        assert r._remote.count.requests - before <= 2
        assert all(not f._starts for f in r._remote.files.values())  # nothing kept after a read


def test_failures_are_clear_and_nothing_is_returned(big_bundle, memroot):
    prefix, _ = big_bundle
    fs, root = memroot
    _upload(fs, prefix.parent, root)
    data = f"{root}/big.data-00000-of-00001"
    whole = fs.cat_file(data)

    with bundlefast.open(f"memory://{root}/big") as r:
        r.load(["small"])  # shard opened (its size known)
        fs.pipe_file(data, whole[: len(whole) // 2])  # shrinks under the reader
        with pytest.raises(BundleOSError, match=r"memory://.*big\.data-00000-of-00001: bytes \[\d+, \d+\)") as err:
            r.load()
        assert "shorter" in str(err.value)
        assert all(not f._starts for f in r._remote.files.values())
        with pytest.raises(BundleError, match=r"big\.data-00000-of-00001"):
            r.get_slice("t3")[-10:]  # a single direct read fails the same way

    # truncated when opened: the index points past its end
    with pytest.raises(BundleError, match=r"memory://.*big\.data-00000-of-00001"):
        bundlefast.load(f"memory://{root}/big")
    fs.rm(data)
    with pytest.raises(BundleFileNotFoundError, match=r"memory://.*big\.data-00000-of-00001"):
        bundlefast.load(f"memory://{root}/big", names=["t0"])


def test_pickle_reopens(big_bundle, memroot, tmp_path):
    prefix, arrays = big_bundle
    fs, root = memroot
    _upload(fs, prefix.parent, root)
    for location in (f"memory://{root}/big", str(prefix)):
        with bundlefast.open(location) as r:
            blob = pickle.dumps(r)
            lazy_blob = pickle.dumps(r.get_slice("t1"))
        assert len(blob) < 500 and len(lazy_blob) < 500  # location and options, no data
        with pickle.loads(blob) as again:
            np.testing.assert_array_equal(again["t0"], arrays["t0"])
        lazy = pickle.loads(lazy_blob)
        np.testing.assert_array_equal(lazy[5:9], arrays["t1"][5:9])


def _first_rows(lazy):  # runs in a spawned process
    return lazy[0:3].copy()


def test_spawned_process_reads_a_pickled_lazy_tensor(big_bundle):
    import multiprocessing

    prefix, arrays = big_bundle
    with bundlefast.open(prefix) as r:
        lazy = r.get_slice("t2")
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            got = pool.apply(_first_rows, (lazy,))
    np.testing.assert_array_equal(got, arrays["t2"][:3])


def test_compat_and_friendly_accept_urls(data_dir, memroot):
    fs, root = memroot
    _upload(fs, data_dir / "keras_tf2", root)
    url = f"memory://{root}"
    _same(bundlefast.load_friendly(url), bundlefast.load_friendly(data_dir / "keras_tf2"))
    assert bundlefast.list_variables(url) == bundlefast.list_variables(data_dir / "keras_tf2")
    name = bundlefast.list_variables(url)[-1][0]
    np.testing.assert_array_equal(
        bundlefast.load_variable(url, name), bundlefast.load_variable(data_dir / "keras_tf2", name)
    )
    with bundlefast.load_checkpoint(url) as r:
        assert r.prefix.startswith("memory://")


def test_url_detection_and_options():
    assert _sources.is_url("s3://b/k") and _sources.is_url("simplecache::s3://b/k")
    assert _sources.is_url("memory://x") and _sources.is_url("file:///tmp/x")
    assert not _sources.is_url("/tmp/x") and not _sources.is_url("C://x"[1:]) and not _sources.is_url(b"s3://x")
    with pytest.raises(InvalidArgumentError, match="storage_options apply to fsspec URLs"):
        bundlefast.open("/nonexistent/x", storage_options={"anon": True})


def test_missing_backend_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)  # what an uninstalled package looks like to import
    with pytest.raises(MissingExtraError, match=r"reading checkpoints from URLs needs the fsspec package: "
                                                r"pip install 'bundlefast\[remote\]'"):
        bundlefast.open("s3://bucket/ckpt")


def test_checkpoint_state_of_a_url(data_dir, memroot):
    fs, root = memroot
    _upload(fs, data_dir / "keras_tf2", f"{root}/run")
    url = f"memory://{root}/run"
    state = bundlefast.get_checkpoint_state(url)
    assert state.model_checkpoint_path == f"memory://{root}/run/ckpt-1"
    assert state.all_model_checkpoint_paths == [f"memory://{root}/run/ckpt-1"]
    assert bundlefast.latest_checkpoint(url) == f"memory://{root}/run/ckpt-1"
    assert bundlefast.get_checkpoint_state(f"memory://{root}/nowhere") is None
    fs.pipe_file(f"{root}/run/checkpoint", b'model_checkpoint_path: "ckpt-2"\n')
    assert bundlefast.latest_checkpoint(url) is None  # no such files: None, as TF


def test_fetched_block_batches_one_tensor_reads(big_url, big_bundle):
    url, arrays = big_url
    prefix, _ = big_bundle
    with bundlefast.open(url) as r:
        before = r._remote.count.requests
        with r.fetched():
            assert r._remote.count.requests - before <= 2  # all tensors, coalesced
            during = r._remote.count.requests
            for name in arrays:
                np.testing.assert_array_equal(r[name], arrays[name])
                out = np.empty_like(arrays[name])
                r.read_into(name, out, verify=True)
                np.testing.assert_array_equal(out, arrays[name])
            assert r._remote.count.requests == during  # every read served from memory
        assert all(not f._starts for f in r._remote.files.values())
    with bundlefast.open(prefix) as local, local.fetched(["t0"]):  # a no-op locally
        np.testing.assert_array_equal(local["t0"], arrays["t0"])


def test_restore_from_a_url_fetches_in_one_batch(big_url):
    url, arrays = big_url
    targets = {name: np.zeros_like(a) for name, a in arrays.items()}
    with bundlefast.open(url) as r:
        opened = type(r._remote)
    counts = []
    real_prefetch = opened.prefetch

    def counting(self, ranges):
        kept = real_prefetch(self, ranges)
        counts.append(self.count.requests)
        return kept

    opened.prefetch = counting
    try:
        report = bundlefast.restore(url, targets, verify=True)
    finally:
        opened.prefetch = real_prefetch
    assert report.restored == {name: name for name in arrays}
    for name, a in arrays.items():
        np.testing.assert_array_equal(targets[name], a)
    # the index, then one batch of <= 2 requests; the reads of each tensor found their
    # bytes held and asked for nothing more
    assert counts and max(counts) <= 3


def test_file_url_and_command_line(big_bundle):
    import json
    import os
    import subprocess
    import sys

    prefix, arrays = big_bundle
    url = f"file://{prefix}"
    _same(bundlefast.load(url, verify=True), arrays)
    out = subprocess.run(
        [sys.executable, "-m", "bundlefast", url, "--json"], capture_output=True, text=True, env=os.environ, check=True
    ).stdout
    assert sorted(row["name"] for row in json.loads(out)["tensors"]) == sorted(arrays)
