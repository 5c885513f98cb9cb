"""Prefix resolution (``bundlefast.resolve_prefix``, FORMAT.md section 10) and the parser
of the ``checkpoint`` state file. Checkpoints are made with the pure-Python bundle
writer, except the V1 and TF1-Saver ones, which TF writes at test time (marked ``tf``)."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from bundle_builder import BundleBuilder
from hypothesis import given
from hypothesis import strategies as st
from tf_oracle import DATA_DIR

import bundlefast
import tf_oracle
from bundlefast import _prefix, _state_file
from bundlefast._prefix import StateFileError, parse_checkpoint_state, resolve_prefix
from bundlefast.errors import CorruptionError, UnsupportedError


def _bundle(prefix: Path, value: float = 1.0) -> Path:
    b = BundleBuilder()
    b.add("x", np.float32(value))
    b.write(prefix)
    return prefix


def _value(path: object) -> float:
    return float(bundlefast.load(path)["x"])  # type: ignore[arg-type]


def _state(d: Path, text: str) -> None:
    (d / "checkpoint").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------
# Each accepted form
# --------------------------------------------------------------------------------------


def test_prefix_and_file_paths(tmp_path):
    p = _bundle(tmp_path / "ckpt-7", 7.0)
    (tmp_path / "ckpt-7.meta").write_bytes(b"not read")
    for arg in (p, str(p), os.fsencode(p), f"{p}.index", f"{p}.data-00000-of-00001", f"{p}.meta"):
        assert resolve_prefix(arg) == p, arg
    assert _value(f"{p}.index") == 7.0


def test_index_of_an_index(tmp_path):
    """``X.index`` is the prefix X ... unless ``X.index.index`` exists (FORMAT 10.1)."""
    a = _bundle(tmp_path / "a")
    _bundle(tmp_path / "a.index", 2.0)  # a.index.index: prefix "a.index"
    assert resolve_prefix(f"{a}.index") == Path(f"{a}.index")
    assert _value(f"{a}.index") == 2.0


def test_directory_with_state_file_relative_and_absolute(tmp_path):
    _bundle(tmp_path / "ckpt-1", 1.0)
    _bundle(tmp_path / "ckpt-2", 2.0)
    _state(tmp_path, 'model_checkpoint_path: "ckpt-2"\nall_model_checkpoint_paths: "ckpt-1"\n'
                     'all_model_checkpoint_paths: "ckpt-2"\n')
    assert resolve_prefix(tmp_path) == tmp_path / "ckpt-2"
    assert _value(tmp_path) == 2.0
    _state(tmp_path, f'model_checkpoint_path: "{tmp_path / "ckpt-1"}"\n')
    assert resolve_prefix(tmp_path) == tmp_path / "ckpt-1"
    sub = tmp_path / "sub"
    sub.mkdir()
    _state(sub, 'model_checkpoint_path: "../ckpt-2"\n')
    assert _value(sub) == 2.0


def test_state_file_with_c_escaped_names(tmp_path):
    name = 'we"ird\\name \u00e9\t1'
    _bundle(tmp_path / name, 3.0)
    _state(tmp_path, 'model_checkpoint_path: "we\\"ird\\\\name \\303\\251\\t1"\n')
    assert resolve_prefix(tmp_path) == tmp_path / name
    _state(tmp_path, "model_checkpoint_path: 'we\"ird\\\\name \\u00e9\\x091'  # comment\n")
    assert _value(tmp_path) == 3.0


def test_directory_with_one_bundle(tmp_path):
    p = _bundle(tmp_path / "only")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "only.index.tempstate123").write_bytes(b"")
    assert resolve_prefix(tmp_path) == p


def test_savedmodel_directory(tmp_path):
    assert resolve_prefix(DATA_DIR / "savedmodel") == DATA_DIR / "savedmodel" / "variables" / "variables"
    (tmp_path / "saved_model.pb").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"SavedModel directory, but .*variables\.index does not exist"):
        resolve_prefix(tmp_path)
    (tmp_path / "variables").mkdir()
    _bundle(tmp_path / "variables" / "variables", 4.0)
    assert _value(tmp_path) == 4.0
    assert _value(tmp_path / "variables") == 4.0  # a directory with one bundle


def test_fixture_directories():
    for case in ("keras_tf2", "tf2_slots", "tf1_saver", "all_dtypes", "savedmodel", "sharded_tf1"):
        found = sorted((DATA_DIR / case).rglob("*.index"))
        assert resolve_prefix(DATA_DIR / case) == found[0].with_suffix(""), case


@pytest.mark.parametrize("name", ["a[1]", "star*", "q?", "[!x]", "a{b,c}"])
def test_glob_metacharacters_are_literal(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    p = _bundle(d / f"ck{name}", 5.0)
    assert resolve_prefix(p) == p
    assert resolve_prefix(f"{p}.index") == p
    assert resolve_prefix(d) == p
    _state(d, f'model_checkpoint_path: "ck{name}"\n')
    assert _value(d) == 5.0


def test_glob_pattern_never_matches_other_files(tmp_path):
    _bundle(tmp_path / "x1")
    for pattern in ("x?", "x*", "x[1]"):
        with pytest.raises(FileNotFoundError) as err:
            resolve_prefix(tmp_path / pattern)
        assert f"{tmp_path / pattern}.index does not exist" in str(err.value)


# --------------------------------------------------------------------------------------
# Errors: what was found, and the call that works
# --------------------------------------------------------------------------------------


def test_missing_prefix_lists_near_names(tmp_path):
    _bundle(tmp_path / "ckpt-10")
    with pytest.raises(FileNotFoundError) as err:
        resolve_prefix(tmp_path / "ckpt-1")
    msg = str(err.value)
    assert "ckpt-10.index" in msg and f"bundlefast.load({str(tmp_path / 'ckpt-10')!r})" in msg
    assert err.value.filename == f"{tmp_path / 'ckpt-1'}.index"
    with pytest.raises(FileNotFoundError, match=r"directory .* does not exist"):
        resolve_prefix(tmp_path / "nope" / "ckpt")
    with pytest.raises(FileNotFoundError, match="empty checkpoint path"):
        resolve_prefix("")


def test_two_bundles_without_state_file(tmp_path):
    _bundle(tmp_path / "a")
    _bundle(tmp_path / "b")
    with pytest.raises(FileNotFoundError) as err:
        resolve_prefix(tmp_path)
    msg = str(err.value)
    assert "2 bundles (a, b)" in msg and f"bundlefast.load({str(tmp_path / 'b')!r})" in msg


def test_empty_directory(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "readme").write_text("")
    with pytest.raises(FileNotFoundError, match=r"no checkpoint in directory .*found readme, sub/"):
        resolve_prefix(tmp_path)


def test_data_file_without_index(tmp_path):
    p = _bundle(tmp_path / "m")
    os.unlink(f"{p}.index")
    with pytest.raises(FileNotFoundError, match=r"data shard, but its index .*m.index does not exist"):
        resolve_prefix(f"{p}.data-00000-of-00001")
    Path(f"{p}.data-00000-of-00001x").write_bytes(b"junk")
    with pytest.raises(FileNotFoundError, match="is a file, not a checkpoint"):
        resolve_prefix(f"{p}.data-00000-of-00001x")


def test_renamed_index_file(tmp_path):
    p = _bundle(tmp_path / "m")
    os.rename(f"{p}.index", tmp_path / "renamed")
    with pytest.raises(FileNotFoundError, match="V2 index file, but an index must be named"):
        resolve_prefix(tmp_path / "renamed")


def test_state_file_naming_missing_checkpoint(tmp_path):
    _bundle(tmp_path / "ckpt-1")
    _state(tmp_path, 'model_checkpoint_path: "ckpt-3"\nall_model_checkpoint_paths: "ckpt-1"\n'
                     'all_model_checkpoint_paths: "ckpt-3"\n')
    with pytest.raises(FileNotFoundError) as err:
        resolve_prefix(tmp_path)
    msg = str(err.value)
    assert "names checkpoint 'ckpt-3'" in msg and "also lists" in msg
    assert f"bundlefast.load({str(tmp_path / 'ckpt-1')!r})" in msg
    _state(tmp_path, 'model_checkpoint_path: "ckpt-3"\n')
    with pytest.raises(FileNotFoundError, match="holds bundle"):
        resolve_prefix(tmp_path)


def test_moved_directory_with_absolute_paths(tmp_path):
    """What TF1 Saver leaves behind: absolute paths that go stale when the directory moves."""
    old = tmp_path / "old"
    old.mkdir()
    _bundle(old / "model-5")
    _state(old, f'model_checkpoint_path: "{old / "model-5"}"\nall_model_checkpoint_paths: "{old / "model-5"}"\n')
    assert resolve_prefix(old) == old / "model-5"
    new = tmp_path / "new"
    old.rename(new)
    with pytest.raises(FileNotFoundError) as err:
        resolve_prefix(new)
    msg = str(err.value)
    assert "moved" in msg and "absolute" in msg and str(old / "model-5") in msg
    assert f"bundlefast.load({str(new / 'model-5')!r})" in msg


@pytest.mark.tf
def test_moved_tf1_saver_directory(tmp_path):
    tf = pytest.importorskip("tensorflow")
    tf1 = tf.compat.v1
    old = tmp_path / "run"
    old.mkdir()
    with tf.Graph().as_default():
        tf1.get_variable("w", [2], initializer=tf1.ones_initializer())
        saver = tf1.train.Saver()  # save_relative_paths=False: absolute paths
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            saver.save(sess, str(old / "model"), global_step=5)
    assert str(old) in (old / "checkpoint").read_text()
    new = tmp_path / "moved"
    shutil.move(str(old), str(new))
    with pytest.raises(FileNotFoundError, match="directory was moved"):
        resolve_prefix(new)
    np.testing.assert_array_equal(bundlefast.load(new / "model-5")["w"], [1.0, 1.0])


def test_bad_state_files(tmp_path):
    _bundle(tmp_path / "a")
    _state(tmp_path, 'model_checkpoint_path: ""\nall_model_checkpoint_paths: "a"\n')
    with pytest.raises(CorruptionError, match="empty model_checkpoint_path; it lists 'a'"):
        resolve_prefix(tmp_path)
    _state(tmp_path, 'model_checkpoint_path: "a"\nbogus: 1\n')
    with pytest.raises(StateFileError, match=r"checkpoint: not a CheckpointState text proto: line 2, column 1"):
        resolve_prefix(tmp_path)
    assert isinstance(StateFileError("x"), ValueError)


# --------------------------------------------------------------------------------------
# V1 checkpoints are recognised and refused
# --------------------------------------------------------------------------------------


def _tf1_v1_save(directory: Path, *, sharded: bool) -> str:
    tf = pytest.importorskip("tensorflow")
    return tf_oracle.tf1_save(tf, directory, v1=True, sharded=sharded, global_step=3)


@pytest.mark.tf
def test_v1_plain_refused(tmp_path):
    path = _tf1_v1_save(tmp_path, sharded=False)
    assert Path(path) == tmp_path / "model-3" and not Path(f"{path}.index").exists()
    for arg in (path, tmp_path):
        with pytest.raises(UnsupportedError, match=r"model-3 is a V1 checkpoint .* only V2"):
            resolve_prefix(arg)
    with pytest.raises(UnsupportedError, match="V1 checkpoint"):
        bundlefast.load(path)


@pytest.mark.tf
def test_v1_sharded_refused(tmp_path):
    path = _tf1_v1_save(tmp_path, sharded=True)
    assert path.endswith("model-3-?????-of-00002")
    for arg in (path, tmp_path, tmp_path / "model-3-00001-of-00002"):
        with pytest.raises(UnsupportedError, match="V1 checkpoint"):
            resolve_prefix(arg)


def test_sstable_kind_on_non_tables(tmp_path):
    (tmp_path / "short").write_bytes(b"abc")
    (tmp_path / "long").write_bytes(bytes(100))
    assert _prefix._sstable_kind(tmp_path / "short") is None
    assert _prefix._sstable_kind(tmp_path / "long") is None
    assert _prefix._sstable_kind(tmp_path / "missing") is None
    p = _bundle(tmp_path / "v2")
    assert _prefix._sstable_kind(Path(f"{p}.index")) == "v2"


# --------------------------------------------------------------------------------------
# The text-format parser
# --------------------------------------------------------------------------------------


def test_parse_checkpoint_state():
    s = parse_checkpoint_state(
        '# written by hand\nmodel_checkpoint_path: "ckpt-3"\n'
        'all_model_checkpoint_paths: ["ckpt-2", \'ckpt-\' "3"]\n'
        "all_model_checkpoint_timestamps: 1795639009.4107747; all_model_checkpoint_timestamps: -inf,\n"
        "last_preserved_timestamp: 5f\n"
    )
    assert s.model_checkpoint_path == "ckpt-3"
    assert s.all_model_checkpoint_paths == ["ckpt-2", "ckpt-3"]
    assert s.all_model_checkpoint_timestamps == [1795639009.4107747, float("-inf")]
    assert s.last_preserved_timestamp == 5.0
    assert parse_checkpoint_state("") == _prefix.CheckpointState()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('model_checkpoint_path "a"', "line 1, column 23"),
        ('model_checkpoint_path: "a', "line 1, column 24"),
        ('\n\n  x: "a"', "line 3, column 3"),
        ("model_checkpoint_path: 5", "line 1, column 24"),
        ('model_checkpoint_path: "\\400"', "line 1, column 24"),
        ('model_checkpoint_path: "\\377"', "line 1"),
        ('model_checkpoint_path: ["a"]', "line 1"),
        ("all_model_checkpoint_paths: [\"a\" \"b\"", "line 1"),
        ("last_preserved_timestamp: 0x1", "line 1"),
    ],
)
def test_parse_errors_give_the_position(text, where):
    with pytest.raises(StateFileError, match=where):
        parse_checkpoint_state(text)


@pytest.mark.tf
@given(st.text(alphabet=st.sampled_from(list("\\xuUN01789afAF{}?'\"qnt\u00e9\u4e2d")), max_size=12))
def test_c_unescape_matches_protobuf(text):
    pytest.importorskip("tensorflow")
    from google.protobuf import text_encoding

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected: bytes | None = text_encoding.CUnescape(text)
        except (ValueError, LookupError):
            expected = None
    try:
        got: bytes | None = _state_file._c_unescape(text)
    except (ValueError, LookupError):
        got = None
    assert got == expected, text
