"""Zero-copy is a promise: views share the mapping, stay read-only, and outlive the reader."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bundlefast
from bundle_builder import BundleBuilder, DataType, encode_entry
from owned_memory import owns_its_memory


@pytest.fixture
def bundle(tmp_path):
    b = BundleBuilder()
    b.add("odd", np.arange(3, dtype=np.uint8))  # shifts the next payload to offset 3
    b.add("w", np.arange(12, dtype=np.float32).reshape(3, 4))
    b.add("empty", np.zeros((0, 5), np.float64))
    b.write(tmp_path / "m")
    return tmp_path / "m"


def _mapping(arr: np.ndarray) -> np.ndarray:
    """The whole shard mapping behind a view, as a uint8 array (no copy)."""
    owner = arr.base
    assert isinstance(owner, bundlefast._core.MappedFile)
    return np.frombuffer(owner, dtype=np.uint8)


def test_views_point_into_the_shard_mapping(bundle):
    arrays = bundlefast.load(bundle)
    w = arrays["w"]
    whole = _mapping(w)
    assert np.shares_memory(w, whole)
    start = w.__array_interface__["data"][0] - whole.__array_interface__["data"][0]
    assert start == 3  # the entry's offset: no copy, no realignment
    assert whole.size == len(w.base) == 3 + 48
    assert not w.flags.writeable
    assert not w.flags.aligned  # TF packs at alignment 1: we hand out unaligned views
    with pytest.raises(ValueError, match="read-only"):
        w[0, 0] = 1.0
    assert np.shares_memory(arrays["odd"], whole)


def test_views_outlive_the_reader(bundle):
    with bundlefast.open(bundle) as r:
        w = r["w"]
    del r
    gc.collect()
    assert w.sum() == sum(range(12))
    assert "m.data-00000-of-00001" in w.base.path


def test_zero_element_views_have_a_valid_address(bundle):
    e = bundlefast.load(bundle, names=["empty"])["empty"]
    assert e.shape == (0, 5)
    assert e.__array_interface__["data"][0] != 0


def test_copy_true_gives_owned_writable_aligned_arrays(bundle):
    arrays = bundlefast.load(bundle, copy=True)
    w = arrays["w"]
    assert owns_its_memory(w)  # NumPy's, or its slice of the read's arena (test_arena.py)
    assert w.flags.writeable
    assert w.flags.aligned
    w[0, 0] = 42.0  # writable, and it does not touch the file
    assert bundlefast.load(bundle)["w"][0, 0] == 0.0


def test_all_views_of_a_shard_share_one_owner(bundle):
    arrays = bundlefast.load(bundle)
    assert arrays["w"].base is arrays["odd"].base


_RSS_CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import bundlefast

    def status():
        fields = {}
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("RssAnon", "RssFile", "VmHWM"):
                    fields[key] = int(value.split()[0]) * 1024
        return fields

    before = status()
    arrays = bundlefast.load(sys.argv[1], copy=sys.argv[2] == "copy")
    total = 0.0
    for a in arrays.values():  # touch every page of every tensor
        total += float(a.astype(np.float64, copy=False).sum()) if a.size else 0.0
    after = status()
    print(json.dumps({"before": before, "after": after}))
    """
)


@pytest.mark.slow
def test_views_add_no_anonymous_memory(tmp_path):
    """A 256 MiB checkpoint read as views is paged in from the file, never copied."""
    b = BundleBuilder()
    rows = np.ones((1024, 1024), np.float32).tobytes()
    for i in range(64):
        # Raw entries skip the builder's pure-Python CRC, which would take a minute
        # here; this test never verifies.
        entry = encode_entry(DataType.FLOAT, (1024, 1024), offset=b.tell(), size=len(rows))
        b.add_raw_entry(f"t{i:02d}", entry, rows)
    b.write(tmp_path / "big")
    size = 64 * len(rows)

    def run(mode: str) -> dict:
        out = subprocess.run(
            [sys.executable, "-c", _RSS_CHILD, str(tmp_path / "big"), mode],
            check=True, capture_output=True, text=True,
        )
        return json.loads(out.stdout)

    views = run("views")
    anon = views["after"]["RssAnon"] - views["before"]["RssAnon"]
    file_backed = views["after"]["RssFile"] - views["before"]["RssFile"]
    assert anon < size * 0.10, f"views grew anonymous RSS by {anon} bytes"
    assert file_backed > size * 0.9, f"the data should be file-backed, grew {file_backed}"

    copies = run("copy")  # the control: copy=True must show up as anonymous memory
    anon_copy = copies["after"]["RssAnon"] - copies["before"]["RssAnon"]
    assert anon_copy > size * 0.9



def _resident_bytes_of(path) -> int:
    """RSS of this process's mappings of the file ``path`` (/proc/self/smaps): only the
    shard's pages, whatever else the process maps meanwhile (library code is file RSS too)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
                inside = len(fields) >= 6 and fields[5] == str(path)
            elif inside and fields[0] == "Rss:":
                total += int(fields[1]) * 1024
    return total


def test_region_views_give_their_pages_back_when_they_die(tmp_path):
    """A long-lived reader streaming regions (a Dask worker) keeps only the regions still
    alive resident: a big region view's pages leave the process when its last array
    dies, while overlapping views stay valid and small views share the shard's owner."""
    rows, cols = 8192, 1024  # 32 MiB of float32, row r filled with r
    table = np.repeat(np.arange(rows, dtype=np.float32)[:, None], cols, axis=1)
    b = BundleBuilder()
    b.add_raw_entry("t", encode_entry(DataType.FLOAT, table.shape, offset=0, size=table.nbytes), table.tobytes())
    b.write(tmp_path / "big")
    shard = tmp_path / "big.data-00000-of-00001"
    region_bytes = 4096 * cols * 4  # 16 MiB
    with bundlefast.open(tmp_path / "big") as reader:
        lazy = reader.get_slice("t")
        big = lazy[0:4096]
        assert float(big.sum(dtype=np.float64)) == float(np.arange(4096).sum() * cols)  # touches every page
        assert _resident_bytes_of(shard) >= region_bytes  # the control: reading it mapped it in

        inner = lazy[1024:3072]  # 8 MiB inside `big`; its owner is its own
        small = lazy[5:6]  # 4 KiB: shares the shard's owner, released with the mapping
        assert isinstance(small.base, bundlefast._core.MappedFile)
        assert not isinstance(big.base, bundlefast._core.MappedFile)
        # What stays mapped after a release is what the kernel mapped around the views'
        # ends (fault-around, large folios: up to 2 MiB on ext4): bound it by 4 MiB.
        left = region_bytes // 4
        del big
        gc.collect()
        assert _resident_bytes_of(shard) < left
        np.testing.assert_array_equal(inner[:, 0], np.arange(1024, 3072, dtype=np.float32))  # refaulted
        np.testing.assert_array_equal(small, table[5:6])
        assert _resident_bytes_of(shard) >= 2048 * cols * 4
        del inner
        gc.collect()
        assert _resident_bytes_of(shard) < left
        again = lazy[0:4096]  # the same bytes, read again after release
        np.testing.assert_array_equal(again[:, 7], np.arange(4096, dtype=np.float32))
