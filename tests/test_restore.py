"""``bundlefast.restore`` into NumPy arrays and buffers: names (raw keys, ``:0``, ``.meta``
variables and parts, object-graph aliases), maps, transforms, strict errors that list every
problem before writing anything, and the strict=False report."""

from __future__ import annotations

import array
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tf_oracle import case_prefix

import bundlefast
import bundlefast.meta
from bundlefast import RestoreError
from bundlefast._restore import copy_threads
from bundlefast.errors import ChecksumError, InvalidArgumentError

KERAS = case_prefix("keras_restore")
META = case_prefix("meta_tf1")
K = "/.ATTRIBUTES/VARIABLE_VALUE"


def _expected(prefix, key):
    with bundlefast.open(prefix) as reader:
        return np.array(reader[key])


def _zeros_like_checkpoint(prefix, keys):
    with bundlefast.open(prefix) as reader:
        return {k: np.zeros(reader.info(k).shape, reader.info(k).dtype) for k in keys}


def test_restore_raw_keys_into_numpy():
    with bundlefast.open(KERAS) as reader:
        keys = [k for k in reader if k != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    target = _zeros_like_checkpoint(KERAS, keys)
    report = bundlefast.restore(KERAS, target, strict="exact")
    assert report.ok and report.written and not report.unused
    assert report.restored == {k: k for k in keys}
    for k in keys:
        assert target[k].tobytes() == _expected(KERAS, k).tobytes(), k
    assert "restored 25 of 25 targets" in str(report) or f"restored {len(keys)} of {len(keys)}" in str(report)


def test_aliases_and_friendly_names_are_accepted():
    target = {"model/ffn/_kernel": np.zeros((16, 32), "f4"), "optimizer/_trainable_variables/0": np.zeros((50, 16), "f4")}
    report = bundlefast.restore(KERAS, target)
    assert report.restored == {"model/ffn/_kernel": f"model/ffn/_kernel{K}",
                               "optimizer/_trainable_variables/0": f"model/embed/_embeddings{K}"}
    assert np.array_equal(target["optimizer/_trainable_variables/0"], _expected(KERAS, f"model/embed/_embeddings{K}"))


def test_meta_variable_names_and_partition_parts():
    """``scope/v``, ``scope/v:0`` and each part of a partitioned variable (its region)."""
    meta = bundlefast.meta.read(f"{META}.meta")
    target = {}
    for v in meta.global_variables:
        target[v.tensor_name if v.partition else v.name] = np.zeros(v.shape, v.dtype)
    report = bundlefast.restore(META, target, strict="exact")
    assert report.ok and not report.unused
    table = _expected(META, "encoder/table")
    assert np.array_equal(target["encoder/table/part_0:0"], table[0:3])
    assert np.array_equal(target["encoder/table/part_1:0"], table[3:5])
    assert np.array_equal(target["encoder/layer_0/kernel"], _expected(META, "encoder/layer_0/kernel"))
    assert target["stats/count"][()] == 7


def test_map_dict_callable_and_skip():
    dst = {"k": np.zeros((16, 32), "f4"), "b": np.zeros(32, "f4"), "ignored": np.zeros(1)}
    report = bundlefast.restore(KERAS, dst, map={"k": "model/ffn/_kernel", "b": "model/ffn/bias", "ignored": None})
    assert report.skipped == ["ignored"] and set(report.restored) == {"k", "b"}
    dst2 = {"ffn.bias": np.zeros(32, "f4")}
    bundlefast.restore(KERAS, dst2, map=lambda name: "model/" + name.replace(".", "/"))
    assert np.array_equal(dst2["ffn.bias"], dst["b"])


def test_transform_is_checked_after():
    kernel = _expected(KERAS, f"model/ffn/_kernel{K}")
    dst = {"model/ffn/_kernel": np.zeros((32, 16), "f4")}
    seen = []

    def transpose(name, a):
        seen.append((name, a.flags.writeable))
        return a.T

    bundlefast.restore(KERAS, dst, transform=transpose)
    assert seen == [("model/ffn/_kernel", False)]  # a read-only view came in
    assert np.array_equal(dst["model/ffn/_kernel"], kernel.T)
    with pytest.raises(RestoreError, match=r"(?s)shape differs.*float32 \[16, 32\].*after transform"):
        bundlefast.restore(KERAS, {"model/ffn/_kernel": np.zeros((16, 32), "f4")}, transform=lambda n, a: a.T)


def test_strict_lists_every_problem_grouped_and_writes_nothing():
    dst = {
        "model/embed/_embeddings": np.full((50, 16), 7, "f4"),  # fits
        "model/norm/gama": np.zeros(16, "f4"),  # misspelled
        "nothing/like/this/at/all": np.zeros(2, "f4"),
        "model/ffn/bias": np.zeros(31, "f4"),  # shape
        "model/proj/bias": np.zeros(8, "f8"),  # dtype
        "model/proj/_kernel": np.zeros((32, 8), "f4"),
    }
    dst["model/proj/_kernel"].flags.writeable = False
    with pytest.raises(RestoreError) as info:
        bundlefast.restore(KERAS, dst)
    err = info.value
    assert isinstance(err, InvalidArgumentError) and isinstance(err, ValueError)
    text = str(err)
    assert "5 problem(s) in 6 targets, nothing was written" in text
    assert "missing from the checkpoint (2)" in text
    assert "model/norm/gama [float32 [16]]; did you mean 'model/norm/gamma'" in text
    assert "nothing/like/this/at/all [float32 [2]]" in text
    assert "dtype differs (1):\n    model/proj/bias: target float64 [8], checkpoint" in text and "float32 [8]" in text
    assert "shape differs (1):\n    model/ffn/bias: target float32 [31]" in text and "float32 [32]" in text
    assert "not writable (1)" in text
    assert "(20 checkpoint tensors no target took: report.unused lists them)" in text
    assert (dst["model/embed/_embeddings"] == 7).all()  # nothing was written
    assert [m.target for m in err.report.missing] == ["model/norm/gama", "nothing/like/this/at/all"]


def test_strict_false_restores_what_fits_and_reports():
    dst = {"model/embed/_embeddings": np.zeros((50, 16), "f4"), "model/ffn/bias": np.zeros(31, "f4"), "x": np.zeros(1)}
    report = bundlefast.restore(KERAS, dst, strict=False)
    assert not report.ok and report.written
    assert list(report.restored) == ["model/embed/_embeddings"]
    assert np.array_equal(dst["model/embed/_embeddings"], _expected(KERAS, f"model/embed/_embeddings{K}"))
    assert [m.target for m in report.missing] == ["x"]
    assert [m.target for m in report.mismatched] == ["model/ffn/bias"]
    text = str(report)
    assert text.startswith(f"restored 1 of 3 targets from {KERAS}")
    assert "checkpoint tensors no target took (22)" in text and "... and 2 more" in text


def test_exact_also_refuses_unused_tensors():
    dst = {"model/ffn/bias": np.zeros(32, "f4")}
    bundlefast.restore(KERAS, dst)  # strict=True does not mind unused tensors
    with pytest.raises(RestoreError, match=r"checkpoint tensors no target took \(23\)"):
        bundlefast.restore(KERAS, dst, strict="exact")


def test_buffers_as_destinations():
    want = _expected(KERAS, f"model/ffn/bias{K}")
    raw = bytearray(want.nbytes)  # a 1-D byte buffer takes any tensor of its byte size
    typed = array.array("f", [0.0] * 32)  # a typed buffer must match dtype and shape
    bundlefast.restore(KERAS, {"model/ffn/bias": raw, "model/ffn/bias ": typed},
                       map={"model/ffn/bias ": "model/ffn/bias"})
    assert bytes(raw) == want.tobytes() and np.array_equal(np.frombuffer(typed, "f4"), want)
    with pytest.raises(RestoreError, match="not writable"):
        bundlefast.restore(KERAS, {"model/ffn/bias": bytes(want.nbytes)})
    with pytest.raises(RestoreError, match=r"(?s)shape differs.*\(bytes\)"):
        bundlefast.restore(KERAS, {"model/ffn/bias": bytearray(3)})
    with pytest.raises(InvalidArgumentError, match="mapping of name -> array"):
        bundlefast.restore(KERAS, [np.zeros(1)])


def test_non_contiguous_destination():
    big = np.zeros((32, 2), "f4")
    bundlefast.restore(KERAS, {"model/ffn/bias": big[:, 1]})
    assert np.array_equal(big[:, 1], _expected(KERAS, f"model/ffn/bias{K}")) and not big[:, 0].any()


def test_verify_catches_a_flipped_byte(tmp_path):
    import shutil

    for f in KERAS.parent.iterdir():
        shutil.copy(f, tmp_path / f.name)
    prefix = tmp_path / KERAS.name
    with bundlefast.open(prefix) as reader:
        info = reader.info(f"model/ffn/_kernel{K}")
    data = bytearray(Path(info.data_path).read_bytes())
    data[info.offset + 5] ^= 0x40
    Path(info.data_path).write_bytes(data)
    dst = {"model/ffn/_kernel": np.zeros((16, 32), "f4")}
    bundlefast.restore(prefix, dst)  # without verify the damaged value is copied as it is
    with pytest.raises(ChecksumError):
        bundlefast.restore(prefix, dst, verify=True)


def _threads_that_copied(monkeypatch) -> set[int]:
    """Restore every tensor of KERAS; the idents of the threads that copied them."""
    import bundlefast._restore as restore_module

    threads = set()
    real = restore_module._read_into

    def spy(reader, name, dst, verify):
        threads.add(threading.get_ident())
        time.sleep(0.02)  # long enough that the pool hands the next copy to another thread
        real(reader, name, dst, verify)

    monkeypatch.setattr(restore_module, "_read_into", spy)
    with bundlefast.open(KERAS) as reader:
        keys = [k for k in reader if k != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    bundlefast.restore(KERAS, _zeros_like_checkpoint(KERAS, keys))
    return threads


def test_copies_run_on_several_threads(monkeypatch):
    threads = _threads_that_copied(monkeypatch)
    n = copy_threads()
    assert len(threads) >= (2 if n > 1 else 1)
    assert threading.get_ident() not in threads or n == 1


@pytest.mark.parametrize("setting", ["1", "2"])
def test_copy_threads_follow_bundlefast_num_threads(monkeypatch, setting):
    """One knob for every threaded path: BUNDLEFAST_NUM_THREADS sets restore's copy
    threads as it sets load's, so a 1-thread benchmark of restore is really one thread."""
    monkeypatch.setenv("BUNDLEFAST_NUM_THREADS", setting)
    assert copy_threads() == int(setting)
    threads = _threads_that_copied(monkeypatch)
    if setting == "1":
        assert threads == {threading.get_ident()}
    else:
        assert len(threads) == 2 and threading.get_ident() not in threads


def test_keras3_model_path_names_the_optimizer_saved_kernel():
    """The issue's example: restore by the model's path although TF saved the kernel under
    optimizer/_trainable_variables/1."""
    prefix = case_prefix("keras_tf2")
    key = f"optimizer/_trainable_variables/1{K}"
    with bundlefast.open(prefix) as reader:
        dst = {"model/_operations/3/_kernel": np.zeros(reader.info(key).shape, "f4"), "res:0": np.zeros(1)}
    report = bundlefast.restore(prefix, dst, map={"res:0": None})
    assert report.restored == {"model/_operations/3/_kernel": key}
    assert np.array_equal(dst["model/_operations/3/_kernel"], _expected(prefix, key))


def test_tensor_names_with_output_index():
    dst = {"res:0": np.zeros((2, 2), "f4"), "stats/count:0": np.zeros((), "i8")}
    assert bundlefast.restore(META, dst).restored == {"res:0": "res", "stats/count:0": "stats/count"}
    assert (dst["res:0"] == 0.5).all() and dst["stats/count:0"][()] == 7
