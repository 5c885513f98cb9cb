"""``bundlefast.meta``: the ``.meta`` MetaGraphDef of a TF1 Saver, read without TensorFlow,
compared with what TensorFlow's ``import_meta_graph`` builds from the same file; and
hostile bytes (truncations, mutations) that must parse or raise CorruptionError."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from restore_support import require
from tf_oracle import DATA_DIR, case_prefix

import bundlefast
import bundlefast.meta
from bundlefast.errors import CorruptionError

META_FILES = {
    "meta_tf1": DATA_DIR / "meta_tf1" / "model.meta",
    "tf1_saver": DATA_DIR / "tf1_saver" / "model-1.meta",
    "sharded_tf1": DATA_DIR / "sharded_tf1" / "model.meta",
}


def _tf_view(meta_path):
    """What TensorFlow makes of a .meta file: per variable (op name, tensor name, base dtype,
    shape, slice info, checkpoint key), trainable/local names, collections, SaverDef."""
    tf = require("tensorflow")
    from tensorflow.python.training.saving import saveable_object_util

    tf1 = tf.compat.v1
    with tf.Graph().as_default() as graph:
        saver = tf1.train.import_meta_graph(str(meta_path))
        key_of = {}  # variable op name -> the key TF's Saver saves it under
        for key, value in saveable_object_util.op_list_to_dict(tf1.global_variables()).items():
            for v in value if isinstance(value, list) else [value]:
                op = v.op  # a variable, or (graph mode) the tensor the Saver reads
                key_of[op.inputs[0].op.name if op.type == "ReadVariableOp" else op.name] = key
        variables = {}
        for v in tf1.global_variables() + tf1.local_variables():
            info = v._save_slice_info
            part = None if info is None else (info.full_name, tuple(info.full_shape), tuple(info.var_offset),
                                              tuple(info.var_shape))
            variables[v.name] = (v.op.name, v.dtype.base_dtype.name, tuple(v.shape.as_list()), part,
                                 key_of.get(v.op.name))
        return {
            "global": [v.name for v in tf1.global_variables()],
            "local": [v.name for v in tf1.local_variables()],
            "trainable": {v.name for v in tf1.trainable_variables()},
            "variables": variables,
            "collections": set(graph.get_all_collection_keys()),
            "saver_def": saver.saver_def,
        }


@pytest.mark.tf
@pytest.mark.parametrize("case", list(META_FILES))
def test_variables_match_import_meta_graph(case):
    meta = bundlefast.meta.read(META_FILES[case])
    tf_view = _tf_view(META_FILES[case])
    assert [v.tensor_name for v in meta.global_variables] == tf_view["global"]
    assert [v.tensor_name for v in meta.variables if "local_variables" in v.collections] == tf_view["local"]
    assert {v.tensor_name for v in meta.trainable_variables} == tf_view["trainable"]
    assert set(meta.collections) == tf_view["collections"]
    for v in meta.variables:
        op_name, dtype, shape, part, key = tf_view["variables"][v.tensor_name]
        assert (v.name, v.tf_dtype, v.shape) == (op_name, dtype, shape), v
        got_part = None if v.partition is None else (
            v.partition.full_name, v.partition.full_shape, v.partition.offset, v.partition.shape)
        assert got_part == part, v
        if "variables" in v.collections:
            assert v.checkpoint_key == key, v  # the key TF's Saver uses for it


@pytest.mark.tf
@pytest.mark.parametrize("case", list(META_FILES))
def test_saver_def_matches_tf(case):
    meta = bundlefast.meta.read(META_FILES[case])
    want = _tf_view(META_FILES[case])["saver_def"]
    got = meta.saver_def
    assert got is not None
    assert (got.filename_tensor_name, got.save_tensor_name, got.restore_op_name) == (
        want.filename_tensor_name, want.save_tensor_name, want.restore_op_name)
    assert (got.max_to_keep, got.sharded, got.version) == (want.max_to_keep, want.sharded, want.version)
    assert got.keep_checkpoint_every_n_hours == pytest.approx(want.keep_checkpoint_every_n_hours)


@pytest.mark.parametrize("case", list(META_FILES))
def test_saved_keys_are_the_checkpoint_keys(case):
    """What the graph's save ops write is exactly what the checkpoint beside it holds, and
    every saved global variable's checkpoint_key is one of those keys."""
    meta = bundlefast.meta.read(META_FILES[case])
    with bundlefast.open(case_prefix(case)) as reader:
        assert set(meta.saved_keys) == set(reader)
        for v in meta.global_variables:
            assert v.checkpoint_key in reader
            info = reader.info(v.checkpoint_key)
            assert info.dtype == v.dtype
            assert info.shape == (v.partition.full_shape if v.partition else v.shape)


def test_meta_tf1_fixture_covers_what_it_claims():
    meta = bundlefast.meta.read(META_FILES["meta_tf1"])
    by_name = {v.name: v for v in meta.variables}
    assert by_name["encoder/layer_0/kernel"].trainable
    assert not by_name["stats/count"].trainable and not by_name["stats/count"].is_resource
    assert by_name["stats/scale"].is_resource
    parts = [v for v in meta.variables if v.partition]
    assert [p.name for p in parts] == ["encoder/table/part_0", "encoder/table/part_1"]
    assert parts[1].partition.region == (slice(3, 5), slice(0, 2))
    assert meta.variable("encoder/table/part_1:0") is parts[1]
    assert meta.variable("res").tensor_name == "res:0"
    with pytest.raises(KeyError, match="no variable 'nope'"):
        meta.variable("nope")
    assert "local_variables" in meta.variable("local").collections


def test_read_names_the_file(tmp_path):
    path = tmp_path / "bad.meta"
    path.write_bytes(META_FILES["meta_tf1"].read_bytes()[:1000])
    with pytest.raises(CorruptionError, match=r"bad\.meta: MetaGraphDef.* byte \d+"):
        bundlefast.meta.read(path)
    with pytest.raises(FileNotFoundError):
        bundlefast.meta.read(tmp_path / "missing.meta")


def test_empty_meta_is_an_empty_graph():
    meta = bundlefast.meta.parse(b"")
    assert meta.variables == () and meta.saver_def is None and meta.collections == ()


def _parses_or_corrupt(data: bytes) -> None:
    try:
        bundlefast.meta.parse(data)
    except CorruptionError as err:
        assert str(err)


def test_truncations_parse_or_raise():
    """Every truncation in the first 2 KiB and the last 64 bytes, and every 13th one between
    (about 3300 of the 17 KB file; each parse is a few ms)."""
    data = META_FILES["meta_tf1"].read_bytes()
    lengths = set(range(min(2048, len(data)))) | set(range(2048, len(data), 13)) | set(range(len(data) - 64, len(data)))
    for n in sorted(lengths):
        _parses_or_corrupt(data[:n])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutations_parse_or_raise(data):
    blob = bytearray(META_FILES[data.draw(st.sampled_from(sorted(META_FILES)))].read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    _parses_or_corrupt(bytes(blob))


def test_hostile_lengths_are_bounded(random_seed):
    """Huge claimed lengths and deep junk fail fast with our error, not a big allocation."""
    rng = random.Random(random_seed)
    huge_len = b"\x12" + b"\xff\xff\xff\xff\x0f"  # graph_def claims 4 GiB
    with pytest.raises(CorruptionError, match="claims"):
        bundlefast.meta.parse(huge_len + b"\x00" * 16)
    for _ in range(200):
        _parses_or_corrupt(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))))


def test_readme_meta_listing(monkeypatch):
    """The ``.meta`` listing in README.md is this file's real output (run as a doctest)."""
    import doctest
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text()
    block = text.split("A TF1 `Saver`'s `.meta` graph, without TensorFlow:", 1)[1].split("```python\n", 1)[1]
    block = block.split("```", 1)[0]
    monkeypatch.chdir(root)
    test = doctest.DocTestParser().get_doctest(block, {"bundlefast": bundlefast}, "README.md", "README.md", 0)
    assert len(test.examples) >= 3
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test)
    assert result.failed == 0
