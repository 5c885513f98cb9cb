"""Bundles with several data shards (FORMAT.md sections 1 and 7): the right file per
entry, missing shards reported only for the tensors that live in them, shard ids checked
against the header, and `%05d` as a minimum width."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import bundlefast
import bundle_surgery
import tf_oracle
from bundle_builder import (
    BundleBuilder,
    DataType,
    build_table,
    encode_entry,
    encode_header,
    encode_slice_key,
    masked_crc32c,
)
from bundlefast import errors
from sliced_bundles import add_partitioned, random_strings


def _copy_case(case: str, tmp_path: Path) -> Path:
    """A private copy of a TF-written fixture (so shards can be deleted)."""
    prefix = tf_oracle.case_prefix(case)
    dst = tmp_path / case
    shutil.copytree(prefix.parent, dst)
    return dst / prefix.name


def _shard_of(entry: bytes) -> int:
    """BundleEntryProto.shard_id (field 3); 0 when absent."""
    return bundle_surgery.entry_payload(entry).shard


def _shards_needed(prefix: Path) -> dict[str, set[int]]:
    """For each listed tensor, the shards its payload (or its slices' payloads) live in."""
    items = dict(tf_oracle.make_fixtures().index_items(Path(f"{prefix}.index")))
    needed: dict[str, set[int]] = {}
    with bundlefast.open(prefix) as r:
        for name in r:
            info = r.info(name)
            if info.slices:
                needed[name] = {_shard_of(items[encode_slice_key(name, s)]) for s in info.slices}
            else:
                needed[name] = {info.shard}
    return needed


# --------------------------------------------------------------------------------------
# TF-written multi-shard checkpoints
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["sharded_tf1", "tf2_sharding_policy"])
def test_every_tensor_reads_from_its_own_shards(case):
    prefix = tf_oracle.case_prefix(case)
    needed = _shards_needed(prefix)
    shards = tf_oracle.num_shards(prefix)
    assert shards > 1 and len(set().union(*needed.values())) > 1
    with bundlefast.open(prefix) as r:
        assert r.num_shards == shards
        for name in r:
            info = r.info(name)
            if not info.slices:
                assert info.data_path == f"{prefix}.data-{info.shard:05d}-of-{shards:05d}"
        r.verify()


@pytest.mark.parametrize("case", ["sharded_tf1", "tf2_sharding_policy"])
def test_a_missing_shard_fails_only_the_tensors_that_live_in_it(tmp_path, case):
    prefix = _copy_case(case, tmp_path)
    needed = _shards_needed(prefix)
    reference = bundlefast.load(prefix, copy=True)
    shards = tf_oracle.num_shards(prefix)
    for gone in range(shards):
        shutil.rmtree(prefix.parent)
        prefix = _copy_case(case, tmp_path)
        missing = Path(f"{prefix}.data-{gone:05d}-of-{shards:05d}")
        missing.unlink()
        fine = sorted(n for n, s in needed.items() if gone not in s)
        broken = sorted(n for n, s in needed.items() if gone in s)
        out = bundlefast.load(prefix, names=fine, verify=True)
        for name in fine:
            assert out[name].tolist() == reference[name].tolist(), name
        for name in broken:
            with pytest.raises(FileNotFoundError, match=missing.name) as info:
                bundlefast.load(prefix, names=[name])
            assert info.value.filename == str(missing)
            assert repr(name)[1:-1] in str(info.value)  # the message names the tensor too
        if broken:
            with pytest.raises(FileNotFoundError):
                bundlefast.load(prefix)


def test_sharded_tf1_without_shard_1(tmp_path):
    """The issue's example: TF1 Saver(sharded=True) over 3 devices, shard 1 deleted."""
    prefix = _copy_case("sharded_tf1", tmp_path)
    Path(f"{prefix}.data-00001-of-00003").unlink()
    out = bundlefast.load(prefix, names=["a", "c", "part"], verify=True)
    assert out["c"].tolist() == [0, 1, 2, 3, 4]
    assert out["part"].shape == (7, 2)
    for name in ("b", "names"):
        with pytest.raises(FileNotFoundError, match=rf"'{name}' \(shard 1 of 3\): .*model\.data-00001-of-00003"):
            bundlefast.load(prefix, names=[name])


def test_partitioned_tensor_across_shards_reads_regions_without_the_missing_shard(tmp_path):
    prefix = _copy_case("tf2_sharding_policy", tmp_path)
    name = "m/a/.ATTRIBUTES/VARIABLE_VALUE"
    full = bundlefast.load(prefix, names=[name], copy=True)[name]
    needed = _shards_needed(prefix)[name]
    items = dict(tf_oracle.make_fixtures().index_items(Path(f"{prefix}.index")))
    with bundlefast.open(prefix) as r:
        slices = r.info(name).slices
    # Delete the shard of the last slice; a region inside the first slice still reads.
    last_shard = _shard_of(items[encode_slice_key(name, slices[-1])])
    first_shard = _shard_of(items[encode_slice_key(name, slices[0])])
    assert last_shard != first_shard and len(needed) > 1
    Path(f"{prefix}.data-{last_shard:05d}-of-00006").unlink()
    (s0, n0), (s1, n1) = [(s, full.shape[d] if n == -1 else n) for d, (s, n) in enumerate(slices[0])]
    with bundlefast.open(prefix) as r:
        lazy = r.get_slice(name, verify=True)
        assert lazy[s0:s0 + n0, s1:s1 + n1].tobytes() == full[s0:s0 + n0, s1:s1 + n1].tobytes()
        with pytest.raises(FileNotFoundError, match=f"data-{last_shard:05d}-of-00006"):
            lazy[...]


# --------------------------------------------------------------------------------------
# Hand-made bundles: shard ids, file names, strings in several shards
# --------------------------------------------------------------------------------------


def test_shard_id_beyond_num_shards_is_corruption_for_that_tensor_only(tmp_path):
    b = BundleBuilder(num_shards=2)
    b.add("ok", np.arange(3, dtype=np.int32), shard=1)
    b.add_raw_entry("far", encode_entry(DataType.FLOAT, (1,), shard_id=5, size=4))
    b.add_raw_entry("neg", encode_entry(DataType.FLOAT, (1,), shard_id=-1, size=4))
    b.write(tmp_path / "m")
    with bundlefast.open(tmp_path / "m") as r:
        assert sorted(r) == ["far", "neg", "ok"]
        assert r["ok"].tolist() == [0, 1, 2]
        with pytest.raises(errors.CorruptionError, match=r"entry 'far': shard_id 5 outside \[0, 2\)"):
            r["far"]
        with pytest.raises(errors.CorruptionError, match=r"entry 'neg': shard_id -1 outside \[0, 2\)"):
            r["neg"]


def _write_index(prefix: Path, num_shards: int, entries: list[tuple[bytes, bytes]]) -> None:
    table = build_table([(b"", encode_header(num_shards)), *sorted(entries)])
    Path(f"{prefix}.index").write_bytes(table)


def test_shard_numbers_wider_than_five_digits(tmp_path):
    """`%05d` is a minimum width: shard 100000 of 100001 is `.data-100000-of-100001`."""
    prefix = tmp_path / "wide"
    x = np.array([1.5, -2.0], np.float32)
    y = np.array([7], np.int64)
    _write_index(prefix, 100001, [
        (b"x", encode_entry(DataType.FLOAT, (2,), shard_id=100000, size=8, masked_crc=masked_crc32c(x.tobytes()))),
        (b"y", encode_entry(DataType.INT64, (1,), shard_id=7, size=8, masked_crc=masked_crc32c(y.tobytes()))),
    ])
    Path(f"{prefix}.data-100000-of-100001").write_bytes(x.tobytes())
    Path(f"{prefix}.data-00007-of-100001").write_bytes(y.tobytes())
    with bundlefast.open(prefix) as r:
        assert r.num_shards == 100001
        assert r.info("x").data_path == f"{prefix}.data-100000-of-100001"
        assert r.info("y").data_path == f"{prefix}.data-00007-of-100001"
        out = r.load(verify=True)
    assert out["x"].tolist() == [1.5, -2.0] and out["y"].tolist() == [7]


def test_a_huge_shard_count_costs_nothing_until_used(tmp_path):
    """A header may claim 2^31 - 1 shards: nothing is allocated per shard."""
    prefix = tmp_path / "huge"
    x = np.arange(4, dtype=np.int16)
    _write_index(prefix, 2**31 - 1, [
        (b"x", encode_entry(DataType.INT16, (4,), shard_id=2**31 - 2, size=8, masked_crc=masked_crc32c(x.tobytes()))),
    ])
    Path(f"{prefix}.data-2147483646-of-2147483647").write_bytes(x.tobytes())
    t0 = time.perf_counter()
    with bundlefast.open(prefix) as r:
        assert r.get_array("x", verify=True).tolist() == [0, 1, 2, 3]
    assert time.perf_counter() - t0 < 1.0


def test_strings_in_several_shards(tmp_path, random_seed):
    rng = np.random.default_rng(random_seed)
    b = BundleBuilder(num_shards=3)
    values = {}
    for shard in range(3):
        values[f"s{shard}"] = random_strings(rng, (4, 3))
        b.add(f"s{shard}", values[f"s{shard}"], shard=shard)
    values["scalar"] = np.array(b"in shard two", dtype=object)
    b.add("scalar", values["scalar"], shard=2)
    values["sliced"] = random_strings(rng, (6, 2))
    add_partitioned(b, "sliced", values["sliced"], [[(0, 2), (0, -1)], [(2, 3), (0, -1)], [(5, 1), (0, -1)]],
                    shards=[2, 0, 1])
    b.add("empty", np.zeros((0,), np.float32), shard=1)
    b.write(tmp_path / "m")
    for kwargs in ({}, {"verify": True}, {"copy": True}):
        out = bundlefast.load(tmp_path / "m", **kwargs)
        for name, v in values.items():
            assert out[name].tolist() == v.tolist(), name
    with bundlefast.open(tmp_path / "m") as r:
        assert [r.info(f"s{i}").shard for i in range(3)] == [0, 1, 2]
        assert r.get_slice("sliced")[1:3, 1].tolist() == values["sliced"][1:3, 1].tolist()


def test_an_empty_shard_file_is_fine(tmp_path):
    b = BundleBuilder(num_shards=2)
    b.add("a", np.ones(2, np.uint8), shard=0)
    b.add("nothing", np.zeros((0, 4), np.float64), shard=1)
    w = b.write(tmp_path / "m")
    assert w.data_paths[1].stat().st_size == 0
    out = bundlefast.load(tmp_path / "m", verify=True)
    assert out["nothing"].shape == (0, 4) and out["a"].tolist() == [1, 1]


@pytest.mark.tf
def test_tf_reads_the_same_multi_shard_bundle(tmp_path, random_seed):
    """The builder's multi-shard bundle is what TF's MergeBundles would make: TF reads it
    to the values bundlefast reads (strings and partitioned float tensors included)."""
    pytest.importorskip("tensorflow")
    rng = np.random.default_rng(random_seed)
    b = BundleBuilder(num_shards=3)
    b.add("s", random_strings(rng, (3, 2)), shard=1)
    b.add("i", rng.integers(-100, 100, (4, 4)).astype(np.int32), shard=2)
    add_partitioned(b, "w", rng.standard_normal((6, 3)).astype(np.float32),
                    [[(0, 2), (0, -1)], [(2, 4), (0, -1)]], shards=[2, 0])
    b.write(tmp_path / "m")
    snap = tf_oracle.tf_snapshot(tmp_path / "m", cache=False)
    ours = bundlefast.load(tmp_path / "m", verify=True)
    assert sorted(ours) == sorted(snap)
    for name, t in snap.items():
        tf_oracle.assert_same_array(ours[name], t.value, name)
