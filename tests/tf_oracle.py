"""TensorFlow as the test oracle: read a checkpoint with ``tf.train.load_checkpoint``
and compare what bundlefast returns with it, bit for bit.

Only imported by the TF comparison tests (after ``pytest.importorskip("tensorflow")``);
nothing here imports bundlefast, and TensorFlow is imported lazily.

The contract being checked (see ``tests/data/README.md`` for what TF returns per dtype):

* ``bundlefast.load`` returns ``numpy.ndarray`` always, 0-d for scalars (a 0-d object array
  holding ``bytes`` for a scalar string). Its dtype is the numpy dtype TF's
  ``get_tensor`` returns: quantized types come back as plain int8/uint8/int16/uint16/int32,
  bfloat16/float8/int4/int2/float4 as ``ml_dtypes`` dtypes, strings as ``object`` arrays of
  ``bytes``. Bytes are identical (NaN payloads, -0.0 and the unused high bits of int4/int2
  included), so arrays are compared with ``tobytes()``, never with ``==``.
* ``bundlefast.load_checkpoint(prefix).get_tensor(name)`` returns exactly TF's Python type:
  numpy/ml_dtypes scalars for 0-d numeric tensors, ``bytes`` for a 0-d string.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import bundle_surgery

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DATA_DIR = Path(__file__).resolve().parent / "data"

#: fixture cases the reader core must handle (tests/test_against_tensorflow.py)
CORE_CASES = ["keras_tf2", "tf2_slots", "tf1_saver", "all_dtypes", "strings", "many_keys", "odd_names"]
#: cases for the slices/shards/SavedModel/variant issue (tests/test_against_tensorflow_sliced.py)
LATER_CASES = [
    "partitioned_tf1", "sharded_tf1", "savev2_slices", "tf2_sharding_policy",
    "savedmodel", "variant", "variant_tensorlist",
]

#: ``load`` keyword sets every case is compared under
LOAD_MODES = {
    "default": {},
    "verify": {"verify": True},
    "copy": {"copy": True},
    "verify_copy": {"verify": True, "copy": True},
}


@functools.lru_cache(maxsize=1)
def make_fixtures():
    """``tests/data/make_fixtures.py`` as a module (its value builders)."""
    path = DATA_DIR / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("_bundlefast_make_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def case_prefix(case: str) -> Path:
    """The checkpoint prefix of ``tests/data/<case>/`` (the one ``*.index`` file in it)."""
    found = sorted((DATA_DIR / case).rglob("*.index"))
    if len(found) != 1:
        raise FileNotFoundError(
            f"tests/data/{case}: expected one .index file, found {[str(p) for p in found]}; "
            "regenerate with tests/data/make_fixtures.py"
        )
    return found[0].with_suffix("")


@dataclass(frozen=True)
class TFTensor:
    name: str
    dtype_name: str  # TF DType name: "float32", "qint8", "string", "variant", ...
    shape: tuple[int, ...]
    value: Any  # what get_tensor returned (None for DT_VARIANT, which TF cannot convert)


@functools.lru_cache(maxsize=None)
def _tf_snapshot(prefix: str) -> dict[str, TFTensor]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    out = {}
    for name in shapes:
        dtype = dtypes[name]
        value = None if dtype == tf.variant else reader.get_tensor(name)
        out[name] = TFTensor(name, dtype.name, tuple(int(d) for d in shapes[name]), value)
    return out


def tf_snapshot(prefix: str | os.PathLike[str], *, cache: bool = True) -> dict[str, TFTensor]:
    """Everything TF's ``CheckpointReader`` reports for ``prefix`` (cached per prefix unless
    ``cache=False``, for checkpoints written at test time)."""
    if cache:
        return _tf_snapshot(str(prefix))
    return _tf_snapshot.__wrapped__(str(prefix))


def expected_array(tf_value: Any) -> np.ndarray:
    """What ``bundlefast.load`` must return for a tensor TF returned as ``tf_value``."""
    if isinstance(tf_value, bytes):  # 0-d string
        out = np.empty((), dtype=object)
        out[()] = tf_value
        return out
    return np.asarray(tf_value)


def _fmt(b: bytes, limit: int = 48) -> str:
    return b[:limit].hex(" ") + (" ..." if len(b) > limit else "")


def assert_same_array(actual: Any, tf_value: Any, name: str) -> None:
    """``actual`` (from bundlefast.load) equals TF's ``tf_value`` bit for bit."""
    expected = expected_array(tf_value)
    assert isinstance(actual, np.ndarray), f"{name!r}: got {type(actual).__name__}, not numpy.ndarray"
    assert actual.shape == expected.shape, f"{name!r}: shape {actual.shape} != TF {expected.shape}"
    assert actual.dtype == expected.dtype, f"{name!r}: dtype {actual.dtype} != TF {expected.dtype}"
    if expected.dtype == object:
        got = actual.ravel().tolist()
        want = expected.ravel().tolist()
        bad = [type(x).__name__ for x in got if type(x) is not bytes]
        assert not bad, f"{name!r}: string elements must be bytes, got {sorted(set(bad))}"
        if got != want:
            first = next(i for i, (g, w) in enumerate(zip(got, want)) if g != w)
            raise AssertionError(
                f"{name!r}: string element {first} differs: len {len(got[first])} vs TF "
                f"{len(want[first])}; {got[first][:40]!r} vs {want[first][:40]!r}"
            )
    else:
        got_b, want_b = actual.tobytes(), expected.tobytes()
        if got_b != want_b:
            first = next(i for i, (g, w) in enumerate(zip(got_b, want_b)) if g != w)
            raise AssertionError(
                f"{name!r} ({expected.dtype}{list(expected.shape)}): bytes differ from TF at "
                f"byte {first}: {_fmt(got_b[first:])} vs TF {_fmt(want_b[first:])}"
            )


def assert_tf_compatible_value(actual: Any, tf_value: Any, name: str) -> None:
    """``actual`` (from bundlefast's TF-compatible ``get_tensor``) has exactly TF's Python
    type (numpy/ml_dtypes scalar, ``bytes``, ``numpy.ndarray``) and the same bits."""
    assert type(actual) is type(tf_value), (
        f"{name!r}: type {type(actual).__module__}.{type(actual).__qualname__} != TF "
        f"{type(tf_value).__module__}.{type(tf_value).__qualname__}"
    )
    if isinstance(tf_value, bytes):
        assert actual == tf_value, f"{name!r}: {actual[:40]!r} != TF {tf_value[:40]!r}"
        return
    if not isinstance(tf_value, np.ndarray):  # numpy / ml_dtypes scalar
        assert np.asarray(actual).dtype == np.asarray(tf_value).dtype, name
    assert_same_array(np.asarray(actual) if not isinstance(actual, np.ndarray) else actual, tf_value, name)


def dtype_matches(info_dtype: Any, tf_tensor: TFTensor, array_dtype: np.dtype) -> bool:
    """Whether ``reader.info(name).dtype`` names the tensor's dtype. Accepts a numpy dtype
    (what ``load`` returns), TF's dtype name ("qint8", "string"), a ``DT_*`` name, or the
    DataType enum value."""
    candidates = {tf_tensor.dtype_name, "DT_" + tf_tensor.dtype_name.upper()}
    if isinstance(info_dtype, (int, np.integer)) and not isinstance(info_dtype, bool):
        import tensorflow as tf

        return int(info_dtype) == tf.as_dtype(tf_tensor.dtype_name).as_datatype_enum
    text = getattr(info_dtype, "name", None) or str(info_dtype)
    if text in candidates:
        return True
    try:
        return np.dtype(info_dtype) == array_dtype
    except TypeError:
        return False


# --------------------------------------------------------------------------------------
# Checkpoints written at test time
# --------------------------------------------------------------------------------------


def write_big_strings(prefix: str | os.PathLike[str], seed: int) -> None:
    """String tensors whose elements are 2 MiB and 2 MiB + 1 bytes (plus small neighbours)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def blob(n: int) -> bytes:
        return rng.integers(0, 256, n, dtype=np.uint8).tobytes()

    mib2 = 2 * 1024 * 1024
    make_fixtures().save_v2(prefix, {
        "two_mib": tf.constant([blob(mib2)]),
        "two_mib_plus_1": tf.constant(blob(mib2 + 1)),  # scalar
        "mixed": tf.constant([b"", blob(mib2 + 1), b"x", blob(127), blob(128)]),
        "after": tf.constant(np.float32(seed % 1000)),
    })


def write_random(prefix: str | os.PathLike[str], seed: int, target_bytes: int = 100_000) -> None:
    """A random mix of every POD dtype, strings, bools and quantized types, ~``target_bytes``."""
    mf = make_fixtures()
    mf.save_v2(prefix, mf.random_checkpoint_tensors(seed, target_bytes))


def write_all_dtypes(prefix: str | os.PathLike[str], seed: int) -> None:
    """The all_dtypes case with a different seed (different random bit patterns)."""
    mf = make_fixtures()
    mf.save_v2(prefix, mf.all_dtypes_tensors(seed=seed, n_random=257))


# --------------------------------------------------------------------------------------
# Independent checks of reader.info(): the bytes at (shard, offset, size) in the data file
# --------------------------------------------------------------------------------------


def _mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _crc32c_oracle() -> Any:
    """The ``crc32c`` package: the CRC oracle independent of bundlefast. A hard requirement of
    the ``test`` extra; without it the payload and CRC checks cannot run, so fail, never skip."""
    try:
        import crc32c
    except ImportError as e:
        raise ImportError(
            "the TF oracle needs the 'crc32c' package to check payloads and CRCs: "
            "pip install 'bundlefast[test]' (or pip install crc32c)"
        ) from e
    return crc32c


def expected_payload(array: np.ndarray) -> tuple[bytes, int]:
    """``(payload bytes, masked entry crc32c)`` TF writes for ``array`` (FORMAT.md 4.1, 4.2, 5)."""
    import struct

    crc32c = _crc32c_oracle()

    if array.dtype != object:
        data = array.tobytes()
        return data, _mask(crc32c.crc32c(data))
    elements = array.ravel().tolist()
    lengths = b"".join(struct.pack("<I" if len(s) <= 0xFFFFFFFF else "<Q", len(s)) for s in elements)
    c_len = crc32c.crc32c(lengths)
    stored = struct.pack("<I", _mask(c_len))
    body = b"".join(elements)
    payload = b"".join(_varint(len(s)) for s in elements) + stored + body
    return payload, _mask(crc32c.crc32c(stored + body, c_len))


def num_shards(prefix: str | os.PathLike[str]) -> int:
    return int(make_fixtures().index_summary(Path(f"{prefix}.index"))["num_shards"])


def check_info(info: Any, prefix: str | os.PathLike[str], tf_tensor: TFTensor, array: np.ndarray,
               shards: int) -> None:
    """``reader.info(name)`` of a non-sliced tensor: shape, dtype, and the shard/offset/size/crc32c
    it reports locate exactly the payload TF would write for ``array``."""
    name = tf_tensor.name
    assert tuple(int(d) for d in info.shape) == tf_tensor.shape, f"{name!r}: info.shape {info.shape}"
    assert dtype_matches(info.dtype, tf_tensor, array.dtype), f"{name!r}: info.dtype {info.dtype!r}"
    assert 0 <= info.shard < shards, f"{name!r}: info.shard {info.shard} of {shards}"
    data_file = Path(f"{prefix}.data-{int(info.shard):05d}-of-{shards:05d}")
    with open(data_file, "rb") as f:
        f.seek(int(info.offset))
        stored = f.read(int(info.size))
    assert len(stored) == int(info.size), f"{name!r}: offset+size past the end of {data_file.name}"
    if array.dtype != object:
        assert int(info.size) == array.nbytes, f"{name!r}: info.size {info.size} != nbytes {array.nbytes}"
    payload, masked = expected_payload(array)
    assert stored == payload, f"{name!r}: bytes at {data_file.name}@{info.offset} are not its payload"
    unmasked = ((masked - 0xA282EAD8) & 0xFFFFFFFF)
    unmasked = ((unmasked >> 17) | (unmasked << 15)) & 0xFFFFFFFF
    assert int(info.crc32c) in (masked, unmasked), (
        f"{name!r}: info.crc32c {int(info.crc32c):#010x}, expected masked {masked:#010x} "
        f"(or unmasked {unmasked:#010x})"
    )


def _proto_tags(buf: bytes) -> set[int]:
    """Field numbers present at the top level of a serialized proto."""
    return {field for field, _ in bundle_surgery.fields(buf)}


def sliced_names(prefix: str | os.PathLike[str]) -> set[str]:
    """Names whose full entry lists slices (BundleEntryProto field 7): their data lives in
    hidden slice entries, so ``info(name)`` has no single shard/offset."""
    items = make_fixtures().index_items(Path(f"{prefix}.index"))
    return {k.decode() for k, v in items if k and k[:1] != b"\x00" and 7 in _proto_tags(v)}


def tf1_save(tf: Any, directory: Path, *, v1: bool, sharded: bool = False, global_step: int = 5) -> str:
    """Save variables a [3] (zeros, /cpu:0) and b [2] (ones, /cpu:1) with a TF1 Saver in
    the V1 or V2 format; returns the path Saver.save returned."""
    tf1 = tf.compat.v1
    with tf.Graph().as_default():
        with tf1.device("/cpu:0"):
            tf1.get_variable("a", [3], initializer=tf1.zeros_initializer())
        with tf1.device("/cpu:1"):
            tf1.get_variable("b", [2], initializer=tf1.ones_initializer())
        version = tf1.train.SaverDef.V1 if v1 else tf1.train.SaverDef.V2
        saver = tf1.train.Saver(write_version=version, sharded=sharded)
        with tf1.Session(config=tf1.ConfigProto(device_count={"CPU": 2})) as sess:
            sess.run(tf1.global_variables_initializer())
            return saver.save(sess, str(directory / "model"), global_step=global_step, write_meta_graph=False)


# --------------------------------------------------------------------------------------
# TF's values, as digests kept beside the tests (tests/tf_digests.json): an oracle for
# runs without TensorFlow (tests/test_corruption.py under the sanitizers, the minimum-
# versions venv). test_tf_digests_are_current checks them against TF whenever it runs.
# --------------------------------------------------------------------------------------

DIGESTS_PATH = Path(__file__).resolve().parent / "tf_digests.json"


def value_digest(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bits (string elements length-prefixed)."""
    import hashlib

    h = hashlib.sha256(f"{array.dtype.str}|{array.dtype.name}|{list(array.shape)}|".encode())
    if array.dtype == object:
        for element in array.ravel().tolist():
            h.update(len(element).to_bytes(8, "little") + element)
    else:
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def checkpoint_digest(values: dict[str, np.ndarray | None]) -> str:
    """One SHA-256 over every name and value_digest (None: a DT_VARIANT, name only)."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(values):
        value = values[name]
        h.update(f"{name}\0{'-' if value is None else value_digest(value)}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def tf_checkpoint_digest(prefix: str | os.PathLike[str]) -> str:
    """checkpoint_digest of what TF's get_tensor returns for every tensor of ``prefix``."""
    snapshot = tf_snapshot(prefix)
    return checkpoint_digest({n: None if t.value is None else expected_array(t.value) for n, t in snapshot.items()})


def reference_digests() -> dict[str, str]:
    """{case: checkpoint digest} as last written from TF by ``python tests/tf_oracle.py``."""
    import json

    return json.loads(DIGESTS_PATH.read_text(encoding="utf-8"))


def digest_cases() -> list[str]:
    """The fixtures with one bundle each (those tests/test_corruption.py damages)."""
    return sorted(p.name for p in DATA_DIR.iterdir() if p.is_dir() and len(list(p.rglob("*.index"))) == 1)


if __name__ == "__main__":  # regenerate tests/tf_digests.json (needs TensorFlow)
    import json

    DIGESTS_PATH.write_text(
        json.dumps({case: tf_checkpoint_digest(case_prefix(case)) for case in digest_cases()}, indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {DIGESTS_PATH}")
