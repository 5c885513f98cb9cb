"""``bundlefast.compat`` (the ``tf.train``-compatible surface) against TensorFlow 2.21.

Tests marked ``tf`` run TF and bundlefast side by side on the same inputs. They cover
every checkpoint in ``tests/data`` and state files written at test time, including the
inputs on which both must fail. The other tests need no TensorFlow.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import shutil
import threading
import time
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from bundle_builder import BundleBuilder
from bundle_builder import encode_slice_key as oracle_slice_key
from hypothesis import given
from hypothesis import strategies as st
from tf_oracle import CORE_CASES, DATA_DIR, LATER_CASES, assert_tf_compatible_value, case_prefix

import bundlefast
import tf_oracle
from bundlefast import compat
from bundlefast.errors import BundleError, TensorNotFoundError, UnsupportedError

ALL_CASES = CORE_CASES + LATER_CASES


@pytest.fixture(scope="module")
def tf():
    """TensorFlow, or skip."""
    return pytest.importorskip("tensorflow")


def _bundle(prefix: Path, **tensors: object) -> Path:
    b = BundleBuilder()
    for name, value in (tensors or {"x": np.float32(1.0)}).items():
        b.add(name, value)
    b.write(prefix)
    return prefix


def _state(directory: Path, text: str, name: str = "checkpoint") -> None:
    (directory / name).write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------
# Readers side by side, on every checkpoint in tests/data
# --------------------------------------------------------------------------------------


def _sliced_names(prefix: Path) -> set[str]:
    with bundlefast.open(prefix) as r:
        return {n for n in r if not n.startswith("\x00") and r.info(n).slices}


@pytest.mark.tf
@pytest.mark.parametrize("case", ALL_CASES)
def test_reader_matches_tf(tf, case):
    prefix = str(case_prefix(case))
    theirs = tf.train.load_checkpoint(prefix)
    ours = bundlefast.load_checkpoint(prefix)
    assert isinstance(ours, bundlefast.CheckpointReader)

    shapes = theirs.get_variable_to_shape_map()
    assert ours.get_variable_to_shape_map() == shapes
    assert all(type(d) is int for s in ours.get_variable_to_shape_map().values() for d in s)
    assert ours.debug_string() == theirs.debug_string()
    assert bundlefast.list_variables(prefix) == tf.train.list_variables(prefix)

    their_dtypes, our_dtypes = theirs.get_variable_to_dtype_map(), ours.get_variable_to_dtype_map()
    assert our_dtypes.keys() == their_dtypes.keys()
    for name, t in their_dtypes.items():
        o = our_dtypes[name]
        assert o == t and t == o and not o.__ne__(t), name
        assert (repr(o), str(o), o.name, o.as_datatype_enum) == (repr(t), str(t), t.name, t.as_datatype_enum)
        if t in (tf.variant, tf.resource):
            with pytest.raises(TypeError):
                o.as_numpy_dtype  # noqa: B018 - TF raises KeyError here
        else:
            assert o.as_numpy_dtype == t.as_numpy_dtype, name

    for name in sorted(shapes):
        assert ours.has_tensor(name) and ours.has_tensor(name.encode("utf-8", "surrogateescape"))
        try:
            expected = theirs.get_tensor(name)
        except tf.errors.OpError:  # DT_VARIANT: TF cannot convert it to NumPy
            assert their_dtypes[name] == tf.variant
            with pytest.raises(UnsupportedError):
                ours.get_tensor(name)
            continue
        got = ours.get_tensor(name)
        assert_tf_compatible_value(got, expected, name)
        if isinstance(got, np.ndarray):  # TF returns fresh writable arrays
            assert got.flags.writeable, name
            got.flat[:1] = got.flat[1:2] if got.size > 1 else got.flat[:1]
            again = ours.get_tensor(name)
            assert_tf_compatible_value(again, expected, name)

    for missing in ["no/such/tensor", sorted(shapes)[0] + "x", b"no/such/bytes"]:
        assert not ours.has_tensor(missing) and not theirs.has_tensor(missing)
        with pytest.raises(tf.errors.NotFoundError):
            theirs.get_tensor(missing)
        with pytest.raises(TensorNotFoundError) as err:
            ours.get_tensor(missing)
        assert isinstance(err.value, KeyError)
    # TF quirk: the header's empty key "is" a tensor for has_tensor, then fails to read.
    assert theirs.has_tensor("") and not ours.has_tensor("")
    with pytest.raises(TensorNotFoundError):
        ours.get_tensor("")

    for name in sorted(shapes)[:3]:
        if their_dtypes[name] == tf.variant:
            continue
        expected = tf.train.load_variable(prefix, name + ":0")
        assert_tf_compatible_value(bundlefast.load_variable(prefix, name + ":0"), expected, name)
    with pytest.raises(TensorNotFoundError):
        bundlefast.load_variable(prefix, "no/such:0")
    with pytest.raises(tf.errors.NotFoundError):
        tf.train.load_variable(prefix, "no/such:0")
    ours.close()


def _same_outcome(call_ours, call_theirs, tf):
    """Run both; both must return equal values or both raise ValueError."""
    try:
        expected = call_theirs()
    except ValueError:
        with pytest.raises(ValueError):
            call_ours()
        return None
    assert call_ours() == expected
    return expected


@pytest.mark.tf
@pytest.mark.parametrize("case", ALL_CASES)
def test_directory_functions_match_tf(tf, case):
    d = DATA_DIR / case
    for arg in (str(d), str(d) + os.sep, d):
        latest = _same_outcome(
            lambda arg=arg: bundlefast.latest_checkpoint(arg), lambda arg=arg: tf.train.latest_checkpoint(arg), tf
        )
        assert latest is None or isinstance(latest, str)
        theirs = tf.train.get_checkpoint_state(arg)
        ours = bundlefast.get_checkpoint_state(arg)
        assert (ours is None) == (theirs is None)
        if theirs is not None:
            assert ours.model_checkpoint_path == theirs.model_checkpoint_path
            assert ours.all_model_checkpoint_paths == list(theirs.all_model_checkpoint_paths)
        _same_outcome(
            lambda arg=arg: bundlefast.load_checkpoint(arg).get_variable_to_shape_map(),
            lambda arg=arg: tf.train.load_checkpoint(arg).get_variable_to_shape_map(),
            tf,
        )
        _same_outcome(lambda arg=arg: bundlefast.list_variables(arg), lambda arg=arg: tf.train.list_variables(arg), tf)


def test_directory_without_state_file_raises_value_error_with_hint():
    with pytest.raises(ValueError, match="Couldn't find 'checkpoint' file") as err:
        bundlefast.load_checkpoint(DATA_DIR / "savedmodel")
    assert isinstance(err.value, BundleError)
    assert "variables/variables" in str(err.value) and "load_checkpoint(" in str(err.value)
    with pytest.raises(ValueError, match="all_dtypes"):
        bundlefast.load_checkpoint(DATA_DIR / "all_dtypes")
    # A file path is read directly, without TF's directory rule.
    assert bundlefast.load_checkpoint(DATA_DIR / "savedmodel" / "variables" / "variables").has_tensor(
        "w/.ATTRIBUTES/VARIABLE_VALUE"
    )


# --------------------------------------------------------------------------------------
# The `checkpoint` state file: parsing and latest_checkpoint, side by side
# --------------------------------------------------------------------------------------

STATE_TEXTS = {
    "plain": 'model_checkpoint_path: "a"\nall_model_checkpoint_paths: "a"\n',
    "empty_file": "",
    "comments": '# hi\nmodel_checkpoint_path: "a" # trailing\n',
    "list_syntax": 'model_checkpoint_path: "a"\nall_model_checkpoint_paths: ["x", "a"]\n',
    "empty_list": 'model_checkpoint_path: "a"\nall_model_checkpoint_paths: []\n',
    "unknown_field": 'model_checkpoint_path: "a"\nfoo: 1\n',
    "single_quotes": "model_checkpoint_path: 'a'\n",
    "repeated_scalar": 'model_checkpoint_path: "zz"\nmodel_checkpoint_path: "a"\n',
    "concatenated": "model_checkpoint_path: \"a\" 'b' \"c\"\n",
    "escapes": 'model_checkpoint_path: "\\x41\\101\\t\\\\\\"\\\'\\?\\u00e9\\303\\251\\q\\x4g"\n',
    "bad_utf8_escape": 'model_checkpoint_path: "\\377"\n',
    "octal_too_big": 'model_checkpoint_path: "\\400"\n',
    "surrogate_escape": 'model_checkpoint_path: "\\ud800"\n',
    "astral_escape": 'model_checkpoint_path: "\\U0001F600"\n',
    "no_colon": 'model_checkpoint_path "a"\n',
    "separators": 'model_checkpoint_path: "a"; all_model_checkpoint_paths: "a",\n',
    "one_line": 'model_checkpoint_path: "a" all_model_checkpoint_paths: "a"',
    "timestamps": (
        'model_checkpoint_path: "a"\nall_model_checkpoint_timestamps: 1.5\n'
        "all_model_checkpoint_timestamps: [2, inf, -1e3, .5, 1., -Infinity, 1e400]\n"
        "last_preserved_timestamp: 3f\n"
    ),
    "timestamp_nan": 'model_checkpoint_path: "a"\nlast_preserved_timestamp: nan\n',
    "timestamp_hex": 'model_checkpoint_path: "a"\nlast_preserved_timestamp: 0x10\n',
    "timestamp_octal": 'model_checkpoint_path: "a"\nlast_preserved_timestamp: 010\n',
    "timestamp_string": 'model_checkpoint_path: "a"\nlast_preserved_timestamp: "1"\n',
    "only_all_paths": 'all_model_checkpoint_paths: "a"\n',
    "empty_path": 'model_checkpoint_path: ""\n',
    "unterminated": 'model_checkpoint_path: "a',
    "newline_in_string": 'model_checkpoint_path: "a\nb"\n',
    "int_for_string": "model_checkpoint_path: 5\n",
    "missing_target": 'model_checkpoint_path: "gone"\n',
    "absolute_missing": 'model_checkpoint_path: "/nonexistent/dir/model-5"\n',
    "utf8_name": 'model_checkpoint_path: "ключ"\n',
    "dot": 'model_checkpoint_path: "."\n',
    "crlf": 'model_checkpoint_path: "a"\r\nall_model_checkpoint_paths: "a"\r\n',
    "tabs_and_blank_lines": '\n\n\tmodel_checkpoint_path\t:\t"a"\n\n',
}


def _state_dir(root: Path, case: str) -> Path:
    d = root / case
    d.mkdir()
    _bundle(d / "a")
    _bundle(d / "ключ")
    (d / "checkpoint").write_bytes(STATE_TEXTS[case].encode("utf-8"))
    return d


def _same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.tf
@pytest.mark.parametrize("case", sorted(STATE_TEXTS))
def test_state_file_matches_tf(tf, tmp_path, case):
    d = _state_dir(tmp_path, case)
    try:
        theirs = tf.train.get_checkpoint_state(str(d))
    except ValueError as err:
        with pytest.raises(ValueError) as ours_err:
            bundlefast.get_checkpoint_state(str(d))
        assert str(ours_err.value) == str(err)
        with pytest.raises(ValueError):
            bundlefast.latest_checkpoint(d)
        return
    ours = bundlefast.get_checkpoint_state(str(d))
    assert (ours is None) == (theirs is None), (ours, theirs)
    if theirs is not None:
        assert ours.model_checkpoint_path == theirs.model_checkpoint_path
        assert ours.all_model_checkpoint_paths == list(theirs.all_model_checkpoint_paths)
        assert len(ours.all_model_checkpoint_timestamps) == len(theirs.all_model_checkpoint_timestamps)
        assert all(map(_same_float, ours.all_model_checkpoint_timestamps, theirs.all_model_checkpoint_timestamps))
        assert _same_float(ours.last_preserved_timestamp, theirs.last_preserved_timestamp)
    assert bundlefast.latest_checkpoint(str(d)) == tf.train.latest_checkpoint(str(d))


def test_non_utf8_state_file_is_a_value_error(tmp_path):
    """TF lets a UnicodeDecodeError (a ValueError) escape for a non-UTF-8 state file."""
    (tmp_path / "checkpoint").write_bytes(b'model_checkpoint_path: "\xff"\n')
    with pytest.raises(ValueError, match="not UTF-8"):
        bundlefast.latest_checkpoint(tmp_path)


def test_latest_checkpoint_cases(tmp_path, caplog):
    assert bundlefast.latest_checkpoint(tmp_path) is None  # no state file
    _bundle(tmp_path / "ckpt-1")
    _bundle(tmp_path / "ckpt-2")
    _state(tmp_path, 'model_checkpoint_path: "ckpt-2"\nall_model_checkpoint_paths: "ckpt-1"\n')
    assert bundlefast.latest_checkpoint(tmp_path) == os.path.join(str(tmp_path), "ckpt-2")
    _state(tmp_path, f'model_checkpoint_path: "{tmp_path}/ckpt-1"\n')  # absolute
    assert bundlefast.latest_checkpoint(tmp_path) == f"{tmp_path}/ckpt-1"
    _state(tmp_path, 'model_checkpoint_path: "ckpt-2"\n', name="other_state")
    assert bundlefast.latest_checkpoint(tmp_path, "other_state") == os.path.join(str(tmp_path), "ckpt-2")
    _state(tmp_path, 'model_checkpoint_path: "ckpt-9"\n')
    with caplog.at_level(logging.ERROR, logger="bundlefast"):
        assert bundlefast.latest_checkpoint(tmp_path) is None
    assert "Couldn't match files for checkpoint" in caplog.text
    _state(tmp_path, 'model_checkpoint_path: ""\n')
    with pytest.raises(ValueError, match="Invalid checkpoint state loaded from"):
        bundlefast.latest_checkpoint(tmp_path)
    (tmp_path / "checkpoint").unlink()
    (tmp_path / "checkpoint").mkdir()  # unreadable: ignored, as TF does
    assert bundlefast.latest_checkpoint(tmp_path) is None


def test_glob_characters_are_literal(tmp_path):
    for name in ("a[1]", "star*", "q?"):
        d = tmp_path / name
        d.mkdir()
        _bundle(d / "ck", w=np.arange(3, dtype=np.int32))
        _state(d, 'model_checkpoint_path: "ck"\n')
        assert bundlefast.latest_checkpoint(d) == os.path.join(str(d), "ck")
        np.testing.assert_array_equal(bundlefast.load_variable(d, "w"), [0, 1, 2])
        np.testing.assert_array_equal(bundlefast.load_variable(d / "ck", "w"), [0, 1, 2])
    _bundle(tmp_path / "x1")
    for pattern in ("x?", "x[12]", "x*"):  # TF globs these onto x1 and fails; we never match x1
        with pytest.raises(FileNotFoundError):
            bundlefast.load_checkpoint(tmp_path / pattern)


@pytest.mark.tf
def test_glob_characters_in_tf(tf, tmp_path):
    """What TF does with the same paths (the differences test_glob_characters_are_literal fixes)."""
    d = tmp_path / "a[1]"
    d.mkdir()
    _bundle(d / "ck")
    with pytest.raises(tf.errors.NotFoundError):
        tf.train.load_checkpoint(str(d / "ck"))
    assert bundlefast.load_checkpoint(d / "ck").has_tensor("x")
    _bundle(tmp_path / "x1")
    with pytest.raises(tf.errors.OpError):
        tf.train.load_checkpoint(str(tmp_path / "x?"))


@pytest.mark.tf
def test_index_path_quirk(tf):
    """TF opens ``P.index`` as a V1 table and lists nothing; we read checkpoint P."""
    index = str(case_prefix("tf2_slots")) + ".index"
    assert tf.train.load_checkpoint(index).get_variable_to_shape_map() == {}
    assert bundlefast.load_checkpoint(index).get_variable_to_shape_map() == tf.train.load_checkpoint(
        str(case_prefix("tf2_slots"))
    ).get_variable_to_shape_map()


# --------------------------------------------------------------------------------------
# V1 checkpoints and moved TF1 directories, written by TF at test time
# --------------------------------------------------------------------------------------


@pytest.mark.tf
@pytest.mark.parametrize("sharded", [False, True], ids=["plain", "sharded"])
def test_v1_checkpoint_refused(tf, tmp_path, sharded):
    path = tf_oracle.tf1_save(tf, tmp_path, v1=True, sharded=sharded)
    assert tf.train.load_checkpoint(path).get_variable_to_shape_map() == {"a": [3], "b": [2]}
    assert bundlefast.latest_checkpoint(tmp_path) == tf.train.latest_checkpoint(str(tmp_path)) == path
    for arg in (path, tmp_path):
        with pytest.raises(UnsupportedError, match="V1 checkpoint"):
            bundlefast.load_checkpoint(arg)


@pytest.mark.tf
def test_moved_tf1_directory(tf, tmp_path):
    """TF1 Saver writes absolute paths; after a move TF finds nothing, and so do we."""
    old = tmp_path / "old"
    old.mkdir()
    tf_oracle.tf1_save(tf, old, v1=False)
    new = tmp_path / "new"
    old.rename(new)
    assert tf.train.latest_checkpoint(str(new)) is None
    assert bundlefast.latest_checkpoint(new) is None
    with pytest.raises(ValueError, match="moved"):
        bundlefast.load_checkpoint(new)
    with pytest.raises(ValueError):
        tf.train.load_checkpoint(str(new))
    assert bundlefast.list_variables(new / "model-5") == tf.train.list_variables(str(new / "model-5"))


# --------------------------------------------------------------------------------------
# DType
# --------------------------------------------------------------------------------------


def test_dtype_without_tf():
    f32 = compat.DType(1)
    assert repr(f32) == "tf.float32" and str(f32) == "<dtype: 'float32'>"
    assert f32 == "float32" and f32 == "float" and f32 != "tf.float32" and f32 != "float64"
    assert f32 == 1 and f32 != 2 and f32 != True  # noqa: E712
    assert f32 == np.float32 and f32 == np.dtype("float32") and f32 != np.float64
    assert f32 == compat.DType(1) and f32 != compat.DType(2) and f32 != None  # noqa: E711
    assert f32.as_numpy_dtype is np.float32 and f32.as_datatype_enum == 1 and not f32.is_quantized
    assert compat.DType(7).as_numpy_dtype is object and compat.DType(7) == np.dtype(object)
    assert compat.DType(14).as_numpy_dtype is ml_dtypes.bfloat16 and compat.DType(14) == ml_dtypes.bfloat16
    q = compat.DType(11)
    assert q.is_quantized and q.as_numpy_dtype == np.dtype([("qint8", "i1")]) and q == q.as_numpy_dtype
    assert q != np.int8 and compat.DType(6) == np.int8
    assert compat.DType(19) == "half" and compat.DType(2) == "double"
    with pytest.raises(TypeError, match="variant"):
        compat.DType(21).as_numpy_dtype  # noqa: B018
    assert {compat.DType(1): "x"}[compat.DType(1)] == "x"
    assert pickle.loads(pickle.dumps(f32)) == f32


@pytest.mark.tf
def test_dtype_against_tf(tf):
    for enum in range(1, 34):
        t = tf.dtypes.as_dtype(enum)
        o = compat.DType(enum)
        assert o == t and t == o and tf.as_dtype(o) is t, t
        assert (repr(o), str(o), o.name, o.is_quantized) == (repr(t), str(t), t.name, t.is_quantized)
        if enum not in (20, 21):
            assert o.as_numpy_dtype == t.as_numpy_dtype, t
            assert o == t.as_numpy_dtype and t == o.as_numpy_dtype
        for other in (tf.dtypes.as_dtype(e) for e in (1, 7, 9)):
            assert (o == other) == (t == other)
            assert (o == other.name) == (t == other.name)


# --------------------------------------------------------------------------------------
# Slice keys (FORMAT.md 6.2 and 15.5)
# --------------------------------------------------------------------------------------


def test_slice_key_vectors():
    assert compat.encode_slice_key(b"w", ((0, 2), (0, -1))) == bytes.fromhex("00 77 00 01 01 02 80 82 80 7f")
    assert compat.encode_slice_key(b"a\x00b\xffc", ((100, 200), (0, -1))) == bytes.fromhex(
        "00 61 00 ff 62 ff 00 63 00 01 01 02 c0 64 c0 c8 80 7f"
    )
    assert compat.encode_slice_key(b"neg", ((4294967296, 3), (0, -1))) == bytes.fromhex(
        "00 6e 65 67 00 01 01 02 f9 00 00 00 00 83 80 7f"
    )
    vectors = {0: "80", 1: "81", 63: "bf", 64: "c0 40", -1: "7f", -64: "40", -65: "3f bf", 100: "c0 64",
               8191: "df ff", 8192: "e0 20 00", -8193: "1f df ff", 2**31: "f8 80 00 00 00",
               2**40: "fd 00 00 00 00 00", 2**62: "ff c0 40 00 00 00 00 00 00 00",
               2**63 - 1: "ff c0 7f ff ff ff ff ff ff ff", -(2**63): "00 3f 80 00 00 00 00 00 00 00"}
    for v, hexbytes in vectors.items():
        # key = 00 | name "" (00 01) | rank 1 (01 01) | sint(v) | sint(0) = 80
        assert compat.encode_slice_key(b"", [(v, 0)])[5:-1] == bytes.fromhex(hexbytes), v


@given(
    st.binary(max_size=20),
    st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=5),
)
def test_slice_key_matches_oracle(name, extents):
    assert compat.encode_slice_key(name, tuple(extents)) == oracle_slice_key(name, extents)


def test_sliced_tensors_are_listed_like_tf(tmp_path):
    """Partitioned tensors appear once with their full shape; debug_string lists the slices."""
    b = BundleBuilder()
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    b.add_slice("w", (4, 3), [(0, 2), (0, -1)], w[:2])
    b.add_slice("w", (4, 3), [(2, 2), (0, -1)], w[2:])
    b.add("plain", np.int32(5))
    b.write(tmp_path / "s")
    r = bundlefast.load_checkpoint(tmp_path / "s")
    assert r.get_variable_to_shape_map() == {"plain": [], "w": [4, 3]}
    assert r.debug_string() == (
        b"\x00w\x00\x01\x01\x02\x80\x82\x80\x7f (DT_FLOAT) [2,3]\n"
        b"\x00w\x00\x01\x01\x02\x82\x82\x80\x7f (DT_FLOAT) [2,3]\n"
        b"plain (DT_INT32) []\n"
    )
    assert r.has_tensor("w") and not r.has_tensor(oracle_slice_key("w", [(0, 2), (0, -1)]))


# --------------------------------------------------------------------------------------
# get_tensor types, without TF
# --------------------------------------------------------------------------------------


def test_get_tensor_types(tmp_path):
    _bundle(
        tmp_path / "t",
        f=np.float32(3.0), s=np.array(b"hi", dtype=object), bf=np.array(ml_dtypes.bfloat16(1.5)),
        strs=np.array([b"a", b""], dtype=object), m=np.arange(6, dtype=np.int64).reshape(2, 3),
    )
    r = bundlefast.load_checkpoint(tmp_path / "t")
    assert type(r.get_tensor("f")) is np.float32 and r.get_tensor("f") == 3.0
    assert r.get_tensor(b"s") == b"hi" and type(r.get_tensor("s")) is bytes
    assert type(r.get_tensor("bf")) is ml_dtypes.bfloat16
    strs = r.get_tensor("strs")
    assert strs.dtype == object and strs.tolist() == [b"a", b""]
    m = r.get_tensor("m")
    assert m.flags.writeable and m.flags.owndata
    m[0, 0] = 99
    assert r.get_tensor("m")[0, 0] == 0
    with pytest.raises(TypeError):
        r.get_tensor(5)  # type: ignore[arg-type]
    with r:
        pass
    with pytest.raises(ValueError, match="closed"):
        r.get_tensor("m")


# --------------------------------------------------------------------------------------
# checkpoints_iterator
# --------------------------------------------------------------------------------------


def _publish(d: Path, name: str) -> str:
    _bundle(d / name)
    _state(d, f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n')
    return os.path.join(str(d), name)


def _scenario(d: Path):
    """ckpt-1 exists; the first timeout_fn call publishes ckpt-2, the second says stop."""
    first = _publish(d, "ckpt-1")
    calls = []

    def timeout_fn() -> bool:
        calls.append(1)
        if len(calls) == 1:
            _publish(d, "ckpt-2")
            return False
        return True

    return first, timeout_fn


@pytest.mark.tf
def test_checkpoints_iterator_matches_tf(tf, tmp_path):
    (tmp_path / "tf").mkdir()
    (tmp_path / "bf").mkdir()
    _, fn = _scenario(tmp_path / "tf")
    theirs = list(tf.train.checkpoints_iterator(str(tmp_path / "tf"), timeout=0.1, timeout_fn=fn))
    _, fn = _scenario(tmp_path / "bf")
    it = bundlefast.checkpoints_iterator(str(tmp_path / "bf"), timeout=0.1, timeout_fn=fn, seconds_to_sleep=0.01)
    ours = list(it)
    assert [Path(p).name for p in ours] == [Path(p).name for p in theirs] == ["ckpt-1", "ckpt-2"]
    (tmp_path / "empty").mkdir()
    assert list(tf.train.checkpoints_iterator(str(tmp_path / "empty"), timeout=0.1)) == []
    assert list(bundlefast.checkpoints_iterator(tmp_path / "empty", timeout=0.1)) == []


def test_checkpoints_iterator_waits_for_new_checkpoints(tmp_path):
    first = _publish(tmp_path, "ckpt-1")
    it = bundlefast.checkpoints_iterator(tmp_path, timeout=10, seconds_to_sleep=0.02)
    assert next(it) == first

    def later() -> None:
        time.sleep(0.2)
        _publish(tmp_path, "ckpt-2")

    writer = threading.Thread(target=later)
    t0 = time.monotonic()
    writer.start()
    assert next(it) == os.path.join(str(tmp_path), "ckpt-2")
    assert time.monotonic() - t0 >= 0.15
    writer.join()
    it.close()
    # Timeout without a new checkpoint: stops.
    t0 = time.monotonic()
    it = bundlefast.checkpoints_iterator(tmp_path, timeout=0.2, seconds_to_sleep=0.02)
    assert list(it) == [os.path.join(str(tmp_path), "ckpt-2")]
    assert time.monotonic() - t0 < 5


def test_checkpoints_iterator_min_interval(tmp_path):
    _publish(tmp_path, "ckpt-1")
    it = bundlefast.checkpoints_iterator(tmp_path, min_interval_secs=0.3, timeout=0.05, seconds_to_sleep=0.01)
    t0 = time.monotonic()
    next(it)
    assert list(it) == []  # after waiting min_interval_secs, then timing out
    assert time.monotonic() - t0 >= 0.3


# --------------------------------------------------------------------------------------
# The public surface
# --------------------------------------------------------------------------------------


def test_exported():
    for name in compat.__all__:
        assert hasattr(compat, name)
    for name in ("CheckpointReader", "load_checkpoint", "list_variables", "load_variable", "latest_checkpoint",
                 "checkpoints_iterator", "get_checkpoint_state", "compat"):
        assert name in bundlefast.__all__ and name in dir(bundlefast)
    assert bundlefast.load_checkpoint is compat.load_checkpoint


def test_list_and_load_variable_without_tf(tmp_path):
    _bundle(tmp_path / "m", b=np.zeros(2, np.float32), a=np.int64(7))
    _state(tmp_path, 'model_checkpoint_path: "m"\n')
    assert bundlefast.list_variables(tmp_path) == [("a", []), ("b", [2])]
    assert bundlefast.load_variable(tmp_path, "a:0") == 7
    assert bundlefast.load_variable(str(tmp_path / "m.index"), "a") == 7
    with pytest.raises(TensorNotFoundError, match="c"):
        bundlefast.load_variable(tmp_path, "c:0")
    shutil.rmtree(tmp_path)
    with pytest.raises(FileNotFoundError):
        bundlefast.load_checkpoint(tmp_path / "m")
