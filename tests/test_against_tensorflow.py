"""bundlefast against TensorFlow, bit for bit, on checkpoints TensorFlow wrote.

The checkpoints are ``tests/data/<case>/`` (``tests/data/make_fixtures.py``) plus ones
written into ``tmp_path`` at test time with a fresh random seed. For each, the names
``bundlefast`` reports must be the names ``tf.train.load_checkpoint`` reports, and every
array must have TF's shape, numpy dtype and bytes (see ``tests/tf_oracle.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

import tf_oracle
from tf_oracle import CORE_CASES, LOAD_MODES, assert_same_array, case_prefix, tf_snapshot

pytestmark = pytest.mark.tf

tf = pytest.importorskip("tensorflow")

import bundlefast  # noqa: E402


def _assert_names(actual, expected, what: str) -> None:
    actual, expected = set(actual), set(expected)
    missing, extra = sorted(expected - actual), sorted(actual - expected)
    assert not missing and not extra, (
        f"{what}: {len(missing)} names missing (e.g. {missing[:3]}), {len(extra)} unexpected (e.g. {extra[:3]})"
    )


def _assert_load_matches(prefix, snap, mode: str) -> None:
    loaded = bundlefast.load(prefix, **LOAD_MODES[mode])
    assert isinstance(loaded, dict)
    _assert_names(loaded, snap, f"load({mode})")
    copy = LOAD_MODES[mode].get("copy", False)
    for name, t in snap.items():
        array = loaded[name]
        assert_same_array(array, t.value, name)
        if copy:
            assert array.flags.writeable, f"{name!r}: copy=True must give a writeable array"
            assert array.flags.aligned, f"{name!r}: copy=True must give an aligned array"
        elif array.dtype != object:
            assert not array.flags.writeable, f"{name!r}: copy=False must give a read-only view"


# --------------------------------------------------------------------------------------
# Checkpoints in tests/data
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CORE_CASES)
def test_names_match_tf(case):
    prefix = case_prefix(case)
    snap = tf_snapshot(prefix)
    loaded = bundlefast.load(str(prefix))
    assert all(type(name) is str for name in loaded)
    _assert_names(loaded, snap, "load")
    if any(name.endswith("/.ATTRIBUTES/VARIABLE_VALUE") for name in snap):
        assert "_CHECKPOINTABLE_OBJECT_GRAPH" in loaded


@pytest.mark.parametrize("mode", list(LOAD_MODES))
@pytest.mark.parametrize("case", CORE_CASES)
def test_values_match_tf(case, mode):
    prefix = case_prefix(case)
    _assert_load_matches(prefix, tf_snapshot(prefix), mode)


@pytest.mark.parametrize("case", CORE_CASES)
def test_load_names_subset(case):
    prefix = case_prefix(case)
    snap = tf_snapshot(prefix)
    names = sorted(snap)[::7][:40]
    for kwargs in ({}, {"verify": True}, {"copy": True}):
        loaded = bundlefast.load(prefix, names=names, **kwargs)
        _assert_names(loaded, names, f"load(names=..., {kwargs})")
        for name in names:
            assert_same_array(loaded[name], snap[name].value, name)
    assert bundlefast.load(prefix, names=[]) == {}
    with pytest.raises(KeyError):
        bundlefast.load(prefix, names=[names[0], "no/such/tensor"])


@pytest.mark.parametrize("case", CORE_CASES)
def test_open_matches_tf(case):
    prefix = case_prefix(case)
    snap = tf_snapshot(prefix)
    shards = tf_oracle.num_shards(prefix)
    with bundlefast.open(prefix) as reader:
        assert isinstance(reader, Mapping)
        assert len(reader) == len(snap)
        _assert_names(reader, snap, "open")
        _assert_names(reader.keys(), snap, "open().keys()")
        for name, t in snap.items():
            assert name in reader
            array = reader[name]
            assert_same_array(array, t.value, name)
            tf_oracle.check_info(reader.info(name), prefix, t, array, shards)
        assert "no/such/tensor" not in reader
        with pytest.raises(KeyError):
            reader["no/such/tensor"]
        reader.verify()
        reader.verify(names=sorted(snap)[:3])


@pytest.mark.parametrize("case", CORE_CASES)
def test_load_checkpoint_returns_tf_types(case):
    """The TF-compatible reader returns exactly what TF's returns: numpy/ml_dtypes scalars
    for 0-d numeric tensors, ``bytes`` for a 0-d string, ndarrays otherwise."""
    prefix = case_prefix(case)
    snap = tf_snapshot(prefix)
    reader = bundlefast.load_checkpoint(str(prefix))
    assert reader.get_variable_to_shape_map() == {n: list(t.shape) for n, t in snap.items()}
    for name, t in snap.items():
        assert reader.has_tensor(name)
        tf_oracle.assert_tf_compatible_value(reader.get_tensor(name), t.value, name)


# --------------------------------------------------------------------------------------
# Checkpoints the tests never saw: written by TF into tmp_path with a random seed
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", ["big_strings", "random", "all_dtypes"])
def test_unseen_checkpoint_matches_tf(tmp_path, random_seed, writer):
    prefix = tmp_path / f"{writer}-{random_seed}"
    getattr(tf_oracle, f"write_{writer}")(prefix, random_seed)
    snap = tf_snapshot(prefix, cache=False)
    for mode in LOAD_MODES:
        _assert_load_matches(prefix, snap, mode)
    shards = tf_oracle.num_shards(prefix)
    with bundlefast.open(prefix) as reader:
        _assert_names(reader, snap, "open")
        for name, t in snap.items():
            tf_oracle.check_info(reader.info(name), prefix, t, reader[name], shards)
        reader.verify()


def test_big_strings_have_tf_lengths(tmp_path, random_seed):
    """2 MiB and 2 MiB + 1 byte elements (3-byte and 4-byte varint lengths) keep their length."""
    prefix = tmp_path / "big"
    tf_oracle.write_big_strings(prefix, random_seed)
    loaded = bundlefast.load(prefix, verify=True)
    mib2 = 2 * 1024 * 1024
    assert [len(s) for s in loaded["two_mib"].tolist()] == [mib2]
    assert loaded["two_mib_plus_1"].shape == () and len(loaded["two_mib_plus_1"][()]) == mib2 + 1
    assert [len(s) for s in loaded["mixed"].tolist()] == [0, mib2 + 1, 1, 127, 128]
    assert loaded["after"].dtype == np.float32
