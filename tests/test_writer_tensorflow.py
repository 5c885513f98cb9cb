"""TensorFlow reads what bundlefast writes, bit for bit.

* every dtype TF saves, strings, scalars, empty tensors, partitions written with
  ``add_slice`` and several shards, through ``tf.train.load_checkpoint`` and
  ``tf.raw_ops.RestoreV2``;
* ``alignment=1``, one shard, same order: the same ``.index`` and ``.data`` bytes as
  ``SaveV2``;
* ``save(q, load(p), like=p)`` for every fixture in tests/data: TF sees the same names,
  dtypes (qint8, variant ...), shapes and values;
* ``like=`` keeps the TF2 object graph: a Keras model restores the edited weights, and a
  name-based checkpoint restores through ``tf.compat.v1.train.Saver``.

TensorFlow is imported unconditionally: without it these tests fail, they never skip.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import bundlefast
import tensorflow as tf
import tf_oracle
from tf_oracle import (
    CORE_CASES,
    LATER_CASES,
    assert_same_array,
    case_prefix,
    make_fixtures,
    tf_snapshot,
)

pytestmark = pytest.mark.tf


def _restore_v2(prefix, names, dtypes, specs=None):
    return tf.raw_ops.RestoreV2(
        prefix=str(prefix), tensor_names=list(names), shape_and_slices=specs or [""] * len(names), dtypes=list(dtypes)
    )


def _assert_tf_reads(prefix, expected: dict[str, np.ndarray]) -> None:
    """load_checkpoint and RestoreV2 on ``prefix`` return ``expected`` exactly."""
    snap = tf_snapshot(prefix, cache=False)
    assert set(snap) == set(expected)
    for name, value in expected.items():
        assert snap[name].value is not None, name
        assert_same_array(value, snap[name].value, name)
    names = sorted(expected)
    restored = _restore_v2(prefix, names, [tf.as_dtype(snap[n].dtype_name) for n in names])
    for name, tensor in zip(names, restored):
        assert_same_array(expected[name], tensor.numpy(), f"RestoreV2 {name}")


@pytest.mark.parametrize("alignment", [1, 64])
def test_every_dtype_tf_saves(tmp_path, alignment):
    source = case_prefix("all_dtypes")
    values = bundlefast.load(source)
    bundlefast.save(tmp_path / "c", values, like=source, alignment=alignment)
    with bundlefast.open(tmp_path / "c") as ours, bundlefast.open(source) as theirs:
        for name in values:
            assert ours.info(name).tf_dtype == theirs.info(name).tf_dtype, name
    _assert_tf_reads(tmp_path / "c", values)


def test_random_checkpoint_with_strings_scalars_and_empty(tmp_path, random_seed):
    source = tmp_path / "tf"
    tf_oracle.write_random(source, random_seed)
    tf_oracle.write_big_strings(tmp_path / "big", random_seed)
    values = {**bundlefast.load(source), **bundlefast.load(tmp_path / "big")}
    values["scalar_string"] = np.array(b"\x00\xff", dtype=object)
    values["empty_string"] = np.empty((0, 2), dtype=object)
    values["empty_float"] = np.empty((3, 0), dtype=np.float32)
    bundlefast.save(tmp_path / "c", values, like=source)  # like=: quantized dtypes
    _assert_tf_reads(tmp_path / "c", values)


@pytest.mark.parametrize("case", ["all_dtypes", "strings", "many_keys", "odd_names", "random"])
def test_byte_identical_to_savev2(tmp_path, random_seed, case):
    """SaveV2 and bundlefast.save, same tensors in the same order, one shard, alignment 1."""
    mf = make_fixtures()
    tensors = {
        "all_dtypes": lambda: mf.all_dtypes_tensors(seed=random_seed, n_random=129),
        "strings": mf.string_tensors,
        "random": lambda: mf.random_checkpoint_tensors(random_seed, 200_000),
    }.get(case)
    if tensors is None:  # a fixture: its data-file order is TF's add order
        source = case_prefix(case)
        with bundlefast.open(source) as r:
            order = sorted(r, key=lambda n: r.info(n).offset)
        values = bundlefast.load(source)
        mf.save_v2(tmp_path / "tf", {n: values[n] for n in order})
    else:
        mf.save_v2(tmp_path / "tf", tensors())
        with bundlefast.open(tmp_path / "tf") as r:
            order = sorted(r, key=lambda n: (r.info(n).offset, n))
    loaded = bundlefast.load(tmp_path / "tf")
    bundlefast.save(tmp_path / "ours", {n: loaded[n] for n in order}, like=tmp_path / "tf", alignment=1)
    for suffix in (".index", ".data-00000-of-00001"):
        ours = (tmp_path / f"ours{suffix}").read_bytes()
        theirs = (tmp_path / f"tf{suffix}").read_bytes()
        assert ours == theirs, f"{suffix}: {len(ours)} vs {len(theirs)} bytes"


def test_ties_in_offset_keep_add_order(tmp_path):
    """Zero-byte tensors share an offset with the next one; order must still be add order."""
    tensors = {"z": np.zeros(0, np.float32), "a": np.ones(2, np.float32), "e": np.zeros((0, 3), np.int8)}
    make_fixtures().save_v2(tmp_path / "tf", tensors)
    bundlefast.save(tmp_path / "ours", tensors, alignment=1)
    for suffix in (".index", ".data-00000-of-00001"):
        assert (tmp_path / f"ours{suffix}").read_bytes() == (tmp_path / f"tf{suffix}").read_bytes()


def test_partitions_and_shards(tmp_path):
    full = np.arange(8 * 5, dtype=np.float32).reshape(8, 5)
    ids = np.arange(6 * 2, dtype=np.int64).reshape(6, 2)
    with bundlefast.Writer(tmp_path / "c", max_shard_bytes=64) as w:
        w.add_slice("rows", (8, 5), "6,2:-", full[6:])
        w.add_slice("rows", (8, 5), "0,3:-", full[:3])
        w.add_slice("rows", (8, 5), "3,3:-", full[3:6])
        w.add_slice("ids", (6, 2), "-:0,1", ids[:, :1])
        w.add_slice("ids", (6, 2), "-:1,1", ids[:, 1:])
        w.add("plain", np.arange(30, dtype=np.int32))
        w.add("s", np.array([b"x" * 100, b"y"], dtype=object))
        assert w.num_shards > 3
    _assert_tf_reads(tmp_path / "c", {"rows": full, "ids": ids, "plain": np.arange(30, dtype=np.int32),
                                      "s": np.array([b"x" * 100, b"y"], dtype=object)})
    part, col = _restore_v2(tmp_path / "c", ["rows", "ids"], [tf.float32, tf.int64], ["8 5 2,5:1,3", "6 2 -:1,1"])
    np.testing.assert_array_equal(part.numpy(), full[2:7, 1:4])
    np.testing.assert_array_equal(col.numpy(), ids[:, 1:])


@pytest.mark.parametrize("case", CORE_CASES + LATER_CASES)
def test_round_trip_every_fixture(tmp_path, case):
    source = case_prefix(case)
    values = bundlefast.load(source)
    bundlefast.save(tmp_path / "q", values, like=source)
    before, after = tf_snapshot(source), tf_snapshot(tmp_path / "q", cache=False)
    assert set(after) == set(before)
    for name, t in before.items():
        assert (after[name].dtype_name, after[name].shape) == (t.dtype_name, t.shape), name
        if t.value is None:  # variant: TF's Python reader cannot convert it
            assert bundlefast.load(tmp_path / "q")[name].tolist() == values[name].tolist()
        else:
            assert_same_array(tf_oracle.expected_array(after[name].value), t.value, name)
    again = bundlefast.load(tmp_path / "q", verify=True)
    for name, value in values.items():
        assert again[name].dtype == value.dtype
        assert (again[name].tolist() if value.dtype == object else again[name].tobytes()) == (
            value.tolist() if value.dtype == object else value.tobytes()
        ), name


def test_variants_restore_in_tf(tmp_path):
    source = case_prefix("variant_tensorlist")
    bundlefast.save(tmp_path / "q", bundlefast.load(source), like=source)
    for prefix in (source, tmp_path / "q"):
        lists = _restore_v2(prefix, ["lists"], [tf.variant])[0]
        stacked = tf.raw_ops.TensorListStack(
            input_handle=lists[0], element_shape=tf.constant(-1), element_dtype=tf.float32, num_elements=-1
        )
        if prefix == source:
            expected = stacked.numpy()
        else:
            np.testing.assert_array_equal(stacked.numpy(), expected)


def _dense_model(seed: int):
    keras = tf.keras
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, activation=None)(keras.layers.Dense(5, activation="relu")(inputs))
    return keras.Model(inputs, outputs)


def test_keras_checkpoint_edited_with_numpy_restores(tmp_path):
    model = _dense_model(1)
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ref" / "ckpt"))
    weights = bundlefast.load(path, copy=True)
    by_shape = {w.shape: k for k, w in weights.items() if w.dtype == np.float32}
    k1, b1, k2, b2 = (by_shape[s] for s in [(4, 5), (5,), (5, 3), (3,)])
    weights[k1] = weights[k1] * 2 - 0.25
    weights[b1] = weights[b1] + 1
    weights[k2] = -weights[k2]
    weights[b2] = np.array([0.5, -1.5, 2.0], np.float32)
    bundlefast.save(tmp_path / "edited", weights, like=path)

    restored = _dense_model(2)  # other initial weights
    status = tf.train.Checkpoint(model=restored).restore(str(tmp_path / "edited"))
    status.assert_existing_objects_matched()
    x = np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32)
    expected = np.maximum(x @ weights[k1] + weights[b1], 0) @ weights[k2] + weights[b2]
    np.testing.assert_allclose(restored(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_like_checks_the_object_graph(tmp_path):
    source = case_prefix("keras_tf2")
    values = bundlefast.load(source)
    name = next(n for n, v in values.items() if v.dtype == np.float32 and v.ndim == 2)
    with pytest.raises(bundlefast.InvalidArgumentError, match="in the reference"):
        bundlefast.save(tmp_path / "q", {**values, name: values[name][:1]}, like=source)
    with pytest.raises(bundlefast.InvalidArgumentError, match="not being saved"):
        bundlefast.save(tmp_path / "q", {n: v for n, v in values.items() if n != name}, like=source)
    with (
        pytest.raises(bundlefast.InvalidArgumentError, match="dtype taken from like"),
        bundlefast.Writer(tmp_path / "q", like=source) as w,
    ):
        w.add(name, values[name].astype(np.float64))
    assert list(tmp_path.iterdir()) == []


def test_tf1_saver_restores_a_name_based_checkpoint(tmp_path):
    a = np.arange(3, dtype=np.float32) + 0.5
    b = np.arange(4, dtype=np.float64).reshape(2, 2) - 7
    step = np.int64(42)
    bundlefast.save(tmp_path / "model", {"a": a, "scope/b": b, "global_step": step})
    tf1 = tf.compat.v1
    with tf.Graph().as_default():
        va = tf1.get_variable("a", [3], dtype=tf.float32)
        with tf1.variable_scope("scope"):
            vb = tf1.get_variable("b", [2, 2], dtype=tf.float64)
        gs = tf1.train.get_or_create_global_step()
        saver = tf1.train.Saver()
        with tf1.Session() as sess:
            saver.restore(sess, str(tmp_path / "model"))
            got_a, got_b, got_step = sess.run([va, vb, gs])
    np.testing.assert_array_equal(got_a, a)
    np.testing.assert_array_equal(got_b, b)
    assert got_step == 42
