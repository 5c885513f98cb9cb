#!/usr/bin/env python
"""Write the TensorFlow-made checkpoints under ``tests/data/``.

Every case is a directory ``tests/data/<case>/`` holding exactly one checkpoint
prefix (one ``*.index`` file, found by the tests with a glob). The tests compare
bundlefast against TensorFlow *live*, so no manifest is written: these files only
have to be real TF output. See ``tests/data/README.md`` for what each case covers.

Run with the TensorFlow venv (TF 2.21.0, tensorflow-cpu)::

    TF_CPP_MIN_LOG_LEVEL=3 /work/venv/bin/python tests/data/make_fixtures.py          # all cases
    TF_CPP_MIN_LOG_LEVEL=3 /work/venv/bin/python tests/data/make_fixtures.py strings  # some
    ... make_fixtures.py --out /tmp/elsewhere all_dtypes

A case's directory is deleted and rewritten. Seeds are fixed, so values are the
same on every run (TF 2.21, x86-64); the object-graph protos and ``.meta`` files
are TF's own output and may change with the TF version.

The value builders (``all_dtypes_tensors``, ``string_tensors``, ...) are also
imported by ``tests/tf_oracle.py`` to write checkpoints at test time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import struct
import sys
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _tf():
    import tensorflow as tf

    return tf


def save_v2(prefix: str | os.PathLike[str], tensors: dict, slices: dict | None = None) -> str:
    """Raw ``SaveV2`` (one BundleWriter, one shard) of ``{name: tf.Tensor | np.ndarray}``.

    ``slices`` maps a name to a list of ``(shape_and_slice, value)`` pairs, for
    tensors stored as several slices (the same name appears once per slice).
    """
    tf = _tf()
    from tensorflow.python.ops import io_ops

    names, specs, values = [], [], []
    for name, value in tensors.items():
        names.append(name)
        specs.append("")
        values.append(value if isinstance(value, tf.Tensor) else tf.constant(value))
    for name, parts in (slices or {}).items():
        for spec, value in parts:
            names.append(name)
            specs.append(spec)
            values.append(value if isinstance(value, tf.Tensor) else tf.constant(value))
    io_ops.save_v2(str(prefix), names, specs, values)
    return str(prefix)


def _bits(dtype, words, width) -> np.ndarray:
    """Array of ``dtype`` whose elements have exactly the given bit patterns."""
    utype = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[width]
    return np.asarray(words, dtype=utype).view(dtype)


def _random_bits(rng: np.random.Generator, dtype, n: int) -> np.ndarray:
    """``n`` elements of ``dtype`` made of uniformly random bytes (every bit pattern may occur)."""
    dtype = np.dtype(dtype)
    return rng.integers(0, 256, size=n * dtype.itemsize, dtype=np.uint8).view(dtype)


def _quantized(dtype_name: str, values: np.ndarray):
    """A TF quantized tensor (qint8, quint8, ...) with the raw integer ``values``."""
    tf = _tf()
    return tf.bitcast(tf.constant(values), getattr(tf, dtype_name))


QUANTIZED = {  # TF quantized dtype -> numpy dtype of the same bytes (what TF returns)
    "qint8": np.int8,
    "quint8": np.uint8,
    "qint16": np.int16,
    "quint16": np.uint16,
    "qint32": np.int32,
}

# Float specials as bit patterns: +0, -0, +inf, -inf, qNaN, sNaN, -NaN with payload,
# smallest subnormal, largest finite, smallest normal, -1.
F16_SPECIAL = [0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x7D01, 0xFE01, 0x0001, 0x7BFF, 0x0400, 0xBC00]
BF16_SPECIAL = [0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0xFFC1, 0x0001, 0x7F7F, 0x0080, 0xBF80]
F32_SPECIAL = [
    0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001,
    0xFFC12345, 0x00000001, 0x7F7FFFFF, 0x00800000, 0xBF800000,
]
F64_SPECIAL = [
    0x0000000000000000, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
    0x7FF8000000000000, 0x7FF0000000000001, 0xFFF8123456789ABC, 0x0000000000000001,
    0x7FEFFFFFFFFFFFFF, 0x0010000000000000, 0xBFF0000000000000,
]


# --------------------------------------------------------------------------------------
# Value builders (also used at test time)
# --------------------------------------------------------------------------------------


def all_dtypes_tensors(seed: int = 20260101, n_random: int = 64) -> dict:
    """``{name: tf.Tensor}``: every dtype TF can save, random bit patterns, specials,
    scalars, zero-element tensors and a rank-6 tensor."""
    tf = _tf()
    import ml_dtypes

    rng = np.random.default_rng(seed)
    t: dict = {}
    every_byte = np.arange(256, dtype=np.uint8)
    rng.shuffle(every_byte)

    # IEEE floats: random bits + specials (NaN payloads, sNaN, -0.0, inf, subnormals).
    for name, dt, special, width in [
        ("float16", np.float16, F16_SPECIAL, 2),
        ("bfloat16", ml_dtypes.bfloat16, BF16_SPECIAL, 2),
        ("float32", np.float32, F32_SPECIAL, 4),
        ("float64", np.float64, F64_SPECIAL, 8),
    ]:
        t[f"{name}/random_bits"] = tf.constant(_random_bits(rng, dt, n_random))
        t[f"{name}/special"] = tf.constant(_bits(dt, special, width))
        t[f"{name}/values"] = tf.constant(np.array([[1.0, -2.5, 0.5], [3.0, 1e-3, -7.25]]).astype(dt))
    for name, dt, special, width in [
        ("complex64", np.complex64, F32_SPECIAL, 4),
        ("complex128", np.complex128, F64_SPECIAL, 8),
    ]:
        t[f"{name}/random_bits"] = tf.constant(_random_bits(rng, dt, n_random))
        pairs = [(a, b) for a, b in zip(special, special[::-1])]
        t[f"{name}/special"] = tf.constant(_bits(dt, [w for p in pairs for w in p], width))
        t[f"{name}/values"] = tf.constant(np.array([1 + 2j, 3 - 4j, -0.5j]).astype(dt))

    # 8-bit floats: every one of the 256 bit patterns (shuffled).
    for name in ["float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e4m3b11fnuz", "float8_e5m2fnuz"]:
        dt = getattr(ml_dtypes, name)
        t[f"{name}/all_bits"] = tf.constant(every_byte.view(dt))
        t[f"{name}/values"] = tf.constant(np.array([1.0, -1.0, 3.0, 0.5, 0.0]).astype(dt))

    # Sub-byte types, one element per byte. "valid": every value of the type, high bits 0.
    # "raw_bytes": arbitrary bytes viewed as the type; TF stores the byte verbatim
    # (it does not clear the unused high bits) and returns it verbatim.
    sub = {
        "int4": np.arange(-8, 8),
        "uint4": np.arange(0, 16),
        "int2": np.arange(-2, 2),
        "uint2": np.arange(0, 4),
        "float4_e2m1fn": None,
    }
    for name, valid in sub.items():
        dt = getattr(ml_dtypes, name)
        if valid is None:  # float4: all 16 encodings 0..15 (low nibble)
            arr = np.arange(16, dtype=np.uint8).view(dt)
        else:
            arr = valid.astype(dt)
        t[f"{name}/valid"] = tf.constant(arr)
        t[f"{name}/raw_bytes"] = tf.constant(every_byte.view(dt))

    # Integers: random bits + extremes.
    for dt in [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]:
        name = np.dtype(dt).name
        info = np.iinfo(dt)
        t[f"{name}/random_bits"] = tf.constant(_random_bits(rng, dt, n_random))
        t[f"{name}/extremes"] = tf.constant(np.array([int(info.min), int(info.max), 0, 1, int(info.max) // 2], dtype=dt))

    # Quantized types (TF returns them as plain int8/uint8/int16/uint16/int32).
    for name, dt in QUANTIZED.items():
        info = np.iinfo(dt)
        t[f"{name}/random_bits"] = _quantized(name, _random_bits(rng, dt, n_random))
        t[f"{name}/extremes"] = _quantized(name, np.array([info.min, info.max, 0, 1]).astype(dt))

    t["bool/values"] = tf.constant(rng.integers(0, 2, size=(5, 7)).astype(bool))

    # Scalars (0-d) of every numeric dtype.
    scalars = {
        "float16": np.float16(-1.5),
        "bfloat16": ml_dtypes.bfloat16(3.25),
        "float32": np.float32(np.pi),
        "float64": np.float64(-np.e),
        "complex64": np.complex64(1 - 2j),
        "complex128": np.complex128(-3 + 0.25j),
        "int8": np.int8(-128),
        "int16": np.int16(-2),
        "int32": np.int32(123456789),
        "int64": np.int64(-(2**62)),
        "uint8": np.uint8(255),
        "uint16": np.uint16(65535),
        "uint32": np.uint32(2**32 - 1),
        "uint64": np.uint64(2**64 - 1),
        "bool": np.bool_(True),
        "float8_e4m3fn": ml_dtypes.float8_e4m3fn(448.0),
        "float8_e5m2": ml_dtypes.float8_e5m2(-0.0),
        "float8_e4m3fnuz": ml_dtypes.float8_e4m3fnuz(2.0),
        "float8_e4m3b11fnuz": ml_dtypes.float8_e4m3b11fnuz(0.25),
        "float8_e5m2fnuz": ml_dtypes.float8_e5m2fnuz(-4.0),
        "int4": ml_dtypes.int4(-7),
        "uint4": ml_dtypes.uint4(15),
        "int2": ml_dtypes.int2(-2),
        "uint2": ml_dtypes.uint2(3),
        "float4_e2m1fn": ml_dtypes.float4_e2m1fn(-6.0),
    }
    for name, value in scalars.items():
        t[f"scalar/{name}"] = tf.constant(np.asarray(value))
    t["scalar/float32_nan_payload"] = tf.constant(_bits(np.float32, [0x7FA5A5A5], 4).reshape(()))
    t["scalar/float64_neg_zero"] = tf.constant(np.float64(-0.0))
    for name, dt in QUANTIZED.items():
        t[f"scalar/{name}"] = _quantized(name, np.asarray(7, dtype=dt))

    # Zero-element tensors.
    t["empty/float32_0"] = tf.zeros([0], tf.float32)
    t["empty/int64_0x3"] = tf.zeros([0, 3], tf.int64)
    t["empty/bool_2x0x4"] = tf.zeros([2, 0, 4], tf.bool)
    t["empty/bfloat16_0"] = tf.zeros([0], tf.bfloat16)
    t["empty/complex128_0x3"] = tf.zeros([0, 3], tf.complex128)
    t["empty/uint16_3x0"] = tf.zeros([3, 0], tf.uint16)
    t["empty/int4_0"] = tf.constant(np.zeros([0], dtype=ml_dtypes.int4))
    t["empty/float8_e4m3fn_2x0x4"] = tf.constant(np.zeros([2, 0, 4], dtype=ml_dtypes.float8_e4m3fn))
    t["empty/qint8_0"] = _quantized("qint8", np.zeros([0], np.int8))

    # Higher rank.
    t["rank6/float32"] = tf.constant(np.arange(2 * 1 * 3 * 1 * 2 * 2, dtype=np.float32).reshape(2, 1, 3, 1, 2, 2))
    t["rank6/int8"] = tf.constant(_random_bits(rng, np.int8, 48).reshape(1, 2, 2, 3, 2, 2))
    t["rank6/bool_with_zero_dim"] = tf.zeros([1, 2, 1, 0, 3, 1], tf.bool)
    return t


def string_tensors() -> dict:
    """``{name: tf.Tensor}`` of DT_STRING tensors (edge cases; the 2 MiB ones are made at test time)."""
    tf = _tf()

    def blob(n: int, seed: int) -> bytes:
        return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()

    t: dict = {}
    t["scalar"] = tf.constant(b"hello, bundle")
    t["scalar_empty"] = tf.constant(b"")
    t["scalar_nul"] = tf.constant(b"\x00")
    t["empty_strings"] = tf.constant([b"", b"", b""])
    t["mixed_empty"] = tf.constant([b"ab", b"", b"xyz"])  # FORMAT.md 15.4 vector
    t["nuls"] = tf.constant([b"\x00", b"a\x00b", b"\x00\x00\x00", b"tail\x00"])
    t["non_utf8"] = tf.constant([b"\xff\xfe", b"\x80", b"\xc3\x28", bytes(range(256)), b"\xed\xa0\x80"])
    t["utf8"] = tf.constant(["ключ", "名前", "emoji \U0001F600"])
    for n in (127, 128, 16383, 16384):
        t[f"len_{n}"] = tf.constant([blob(n, n)])
    t["len_varint_boundaries"] = tf.constant([blob(n, 1000 + n) for n in (0, 1, 127, 128, 129, 16383, 16384, 16385)])
    t["zero_elements"] = tf.zeros([0], tf.string)
    t["zero_elements_2x0"] = tf.reshape(tf.constant([], tf.string), [2, 0])
    t["matrix_2x3"] = tf.constant([[b"a", b"bb", b""], [b"\x00d", b"eeeee", b"f" * 200]])
    t["rank3_2x1x2"] = tf.constant([[[b"p", b"q"]], [[b"r", b""]]])
    return t


def random_checkpoint_tensors(seed: int, target_bytes: int = 100_000) -> dict:
    """A random mix of dtypes/shapes (POD and string) totalling about ``target_bytes``."""
    tf = _tf()
    import ml_dtypes

    rng = np.random.default_rng(seed)
    pod = [
        np.float16, ml_dtypes.bfloat16, np.float32, np.float64, np.complex64, np.complex128,
        np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
        ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fnuz,
        ml_dtypes.float8_e4m3b11fnuz, ml_dtypes.float8_e5m2fnuz,
    ]
    t: dict = {}
    total, i = 0, 0
    while total < target_bytes:
        rank = int(rng.integers(0, 5))
        shape = tuple(int(d) for d in rng.integers(0, 9, size=rank))
        n = int(np.prod(shape)) if shape else 1
        kind = int(rng.integers(0, 10))
        name = f"t{i:04d}/" + "".join(rng.choice(list("abcdefghij_./-"), size=int(rng.integers(1, 20))))
        if kind == 0:
            lens = rng.integers(0, 300, size=n)
            vals = [rng.integers(0, 256, int(k), dtype=np.uint8).tobytes() for k in lens]
            t[name] = tf.constant(np.array(vals, dtype=object).reshape(shape)) if n else tf.zeros(shape, tf.string)
            total += int(lens.sum()) + n
        elif kind == 1:
            t[name] = tf.constant(rng.integers(0, 2, size=shape).astype(bool))
            total += n
        elif kind == 2:
            qname = list(QUANTIZED)[int(rng.integers(0, len(QUANTIZED)))]
            t[name] = _quantized(qname, _random_bits(rng, QUANTIZED[qname], n).reshape(shape))
            total += n * np.dtype(QUANTIZED[qname]).itemsize
        else:
            dt = np.dtype(pod[int(rng.integers(0, len(pod)))])
            t[name] = tf.constant(_random_bits(rng, dt, n).reshape(shape))
            total += n * dt.itemsize
        i += 1
    return t


# --------------------------------------------------------------------------------------
# Cases in scope of the reader core
# --------------------------------------------------------------------------------------


def case_keras_tf2(out: Path, steps: int = 1) -> None:
    """Keras 3 (what tf.keras is in TF 2.21) functional model + Adam, one step,
    saved with tf.train.Checkpoint(model=..., optimizer=...)."""
    tf = _tf()
    keras = tf.keras
    keras.utils.set_random_seed(1234)
    ids = keras.Input((5,), dtype="int32", name="ids")
    x = keras.layers.Embedding(20, 4, name="embed")(ids)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    y = keras.layers.Dense(2, name="head")(x)
    model = keras.Model(ids, y)
    opt = keras.optimizers.Adam(learning_rate=1e-2)
    model.compile(optimizer=opt, loss="mse")
    rng = np.random.default_rng(1)
    batch = rng.integers(0, 20, (8, 5)).astype("int32"), rng.standard_normal((8, 2)).astype("float32")
    for _ in range(steps):
        model.train_on_batch(*batch)
    ckpt = tf.train.Checkpoint(model=model, optimizer=opt)
    if steps == 1:
        ckpt.save(str(out / "ckpt"))
    else:
        ckpt.write(str(out / f"ckpt-{steps}"))


def case_keras_tf2_step2(out: Path) -> None:
    """``keras_tf2`` trained one step further (``ckpt-2``): same names, other values, for
    ``bundlefast diff`` (tests/test_cli_diff.py)."""
    case_keras_tf2(out, steps=2)


def case_tf2_slots(out: Path) -> None:
    """TF2 object-based checkpoint with `.OPTIMIZER_SLOT` keys (a v1 Adam optimizer used
    eagerly), assorted variable dtypes and object names that need escaping ('.' and '/')."""
    tf = _tf()
    import ml_dtypes

    rng = np.random.default_rng(7)
    net = tf.Module(name="net")
    net.w = tf.Variable(rng.standard_normal((3, 4)).astype("float32"), name="w")
    net.b = tf.Variable(np.zeros(4, "float64"), name="b")
    net.bf = tf.Variable(rng.standard_normal(5).astype(ml_dtypes.bfloat16), name="bf", trainable=False)
    net.step = tf.Variable(np.int64(3), name="step", trainable=False)
    net.vocab = tf.Variable([b"alpha", b"", b"\xff\x00"], name="vocab", trainable=False)
    net.flag = tf.Variable(True, name="flag", trainable=False)
    odd = tf.Module(name="odd")
    setattr(odd, "dotted.name", tf.Variable(np.arange(3, dtype="int32")))
    setattr(odd, "slash/name", tf.Variable(np.float32(2.5)))
    opt = tf.compat.v1.train.AdamOptimizer(0.1)
    x = tf.constant(rng.standard_normal((2, 3)).astype("float32"))
    opt.minimize(lambda: tf.reduce_sum(tf.cast(tf.matmul(x, net.w), tf.float64) + net.b), var_list=[net.w, net.b])
    ckpt = tf.train.Checkpoint(net=net, optimizer=opt, **{"odd.obj": odd})
    ckpt.save(str(out / "ckpt"))


def case_tf1_saver(out: Path) -> None:
    """TF1 graph-mode tf.compat.v1.train.Saver (V2), with .meta, checkpoint file, global_step and Adam slots."""
    tf = _tf()
    tf1 = tf.compat.v1
    with tf.Graph().as_default():
        tf1.set_random_seed(1)
        gs = tf1.train.get_or_create_global_step()
        with tf1.variable_scope("dense"):
            w = tf1.get_variable("kernel", [4, 3], initializer=tf1.glorot_uniform_initializer(seed=1))
            b = tf1.get_variable("bias", [3], initializer=tf1.zeros_initializer())
        with tf1.variable_scope("emb"):
            e = tf1.get_variable("table", [6, 2], dtype=tf.float64, initializer=tf1.random_normal_initializer(seed=2))
        tf1.get_variable("counts", [3], dtype=tf.int32, initializer=tf1.constant_initializer([1, 2, 3]), trainable=False)
        tf1.get_variable("half", [2, 2], dtype=tf.float16, initializer=tf1.ones_initializer(), trainable=False)
        x = tf1.constant(np.ones((2, 4), "f4"))
        loss = tf1.reduce_sum(tf1.matmul(x, w) + b) + tf1.cast(tf1.reduce_sum(e), tf.float32)
        train = tf1.train.AdamOptimizer(0.1).minimize(loss, global_step=gs)
        saver = tf1.train.Saver(save_relative_paths=True)
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            sess.run(train)
            saver.save(sess, str(out / "model"), global_step=gs)


def case_all_dtypes(out: Path) -> None:
    """Raw SaveV2 of every saveable dtype (see all_dtypes_tensors)."""
    save_v2(out / "all_dtypes", all_dtypes_tensors())


def case_strings(out: Path) -> None:
    """Raw SaveV2 of string tensors (see string_tensors)."""
    save_v2(out / "strings", string_tensors())


def case_many_keys(out: Path) -> None:
    """3000 tiny tensors with ~180-byte names that differ early (so the SSTable's prefix
    compression cannot shrink them): the .index has 3 data blocks of 256 KiB."""
    tf = _tf()
    rng = np.random.default_rng(3000)
    t: dict = {}
    for i in range(3000):
        h = hashlib.sha1(str(i).encode()).hexdigest()[:8]
        name = f"{h}/layer_{i:04d}/" + ("w" * (160 + i % 17)) + f"/{i}"
        k = i % 5
        if k == 0:
            v = tf.constant(np.float32(rng.standard_normal()))
        elif k == 1:
            v = tf.constant(_random_bits(rng, np.int8, 3))
        elif k == 2:
            v = tf.constant(rng.integers(0, 2, 2).astype(bool))
        elif k == 3:
            v = tf.constant(rng.standard_normal((2, 2)).astype(np.float16))
        else:
            v = tf.constant(f"s{i}".encode())
        t[name] = v
    save_v2(out / "many_keys", t)


def case_odd_names(out: Path) -> None:
    """Tensor names TF's Python reader accepts: non-ASCII UTF-8, embedded NUL, spaces,
    a 1-byte name, a very long name, names that are prefixes of each other."""
    tf = _tf()
    names = [
        "ключ/名前", "nul\x00inside", " leading space", "a", "a/b", "a/b/c", "ab", "~tilde",
        "x" * 5000, "dot..and.S/slash", "\x01control",
    ]
    save_v2(out / "odd_names", {n: tf.constant(np.int32(i)) for i, n in enumerate(names)})


# --------------------------------------------------------------------------------------
# Cases for the later issue (slices, shards, SavedModel, variants)
# --------------------------------------------------------------------------------------


def _iota_initializer(shape, dtype=None, partition_info=None):
    """0, 1, 2, ... over the (partition's) shape; partition_info offsets it per part."""
    tf = _tf()
    start = 0
    if partition_info is not None:
        start = partition_info.single_offset(shape) * 100
    return tf.reshape(tf.range(start, start + int(np.prod(shape)), dtype=dtype), shape)


def case_partitioned_tf1(out: Path) -> None:
    """TF1 partitioned variables (fixed_size_partitioner, axis 0 and axis 1) + Adam slots."""
    tf = _tf()
    tf1 = tf.compat.v1
    with tf.Graph().as_default():
        p0 = tf1.get_variable("rows", [7, 2], partitioner=tf1.fixed_size_partitioner(3, axis=0),
                              initializer=tf1.random_normal_initializer(seed=2))
        p1 = tf1.get_variable("cols", [2, 7], partitioner=tf1.fixed_size_partitioner(3, axis=1),
                              initializer=tf1.random_normal_initializer(seed=3))
        tf1.get_variable("ids", [5, 3], dtype=tf.int64, partitioner=tf1.fixed_size_partitioner(2, axis=0),
                         initializer=_iota_initializer, trainable=False)
        plain = tf1.get_variable("plain", [4], initializer=tf1.random_normal_initializer(seed=4))
        loss = tf1.reduce_sum(tf1.matmul(tf1.convert_to_tensor(p0), tf1.convert_to_tensor(p1))) + tf1.reduce_sum(plain)
        train = tf1.train.AdamOptimizer(0.1).minimize(loss)
        saver = tf1.train.Saver(save_relative_paths=True)
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            sess.run(train)
            saver.save(sess, str(out / "model"), write_meta_graph=False)


def case_sharded_tf1(out: Path) -> None:
    """TF1 Saver(sharded=True) over 3 CPU devices -> 3 data shards (num_shards = 3)."""
    tf = _tf()
    tf1 = tf.compat.v1
    with tf.Graph().as_default():
        with tf1.device("/cpu:0"):
            tf1.get_variable("part", [7, 2], partitioner=tf1.fixed_size_partitioner(3, axis=0),
                             initializer=tf1.random_normal_initializer(seed=2))
            tf1.get_variable("a", [3], initializer=tf1.random_normal_initializer(seed=5))
        with tf1.device("/cpu:1"):
            tf1.get_variable("b", [2, 2], dtype=tf.float64, initializer=tf1.random_normal_initializer(seed=6))
            tf1.get_variable("names", [], dtype=tf.string, initializer=tf1.constant_initializer("cpu1"))
        with tf1.device("/cpu:2"):
            tf1.get_variable("c", [5], dtype=tf.int64, initializer=tf1.constant_initializer(np.arange(5)))
        saver = tf1.train.Saver(sharded=True, save_relative_paths=True)
        with tf1.Session(config=tf1.ConfigProto(device_count={"CPU": 3})) as sess:
            sess.run(tf1.global_variables_initializer())
            saver.save(sess, str(out / "model"), write_meta_graph=True)


def case_savev2_slices(out: Path) -> None:
    """Raw SaveV2 with explicit shape_and_slices: row slices, column slices, a 3-D
    middle-dimension split, and an explicit "slice" equal to the full shape (stored as an
    ordinary entry)."""
    tf = _tf()
    rng = np.random.default_rng(11)
    w = rng.standard_normal((4, 3)).astype("float32")
    c = np.arange(10, dtype="int64").reshape(2, 5)
    d = rng.standard_normal((2, 6, 2)).astype("float64")
    save_v2(out / "slices", {"plain": tf.constant(np.int32(5))}, slices={
        "w": [("4 3 0,2:-", w[0:2]), ("4 3 2,2:-", w[2:4])],
        "cols": [("2 5 -:0,2", c[:, 0:2]), ("2 5 -:2,3", c[:, 2:5])],
        "cube": [("2 6 2 -:0,1:-", d[:, 0:1]), ("2 6 2 -:1,4:-", d[:, 1:5]), ("2 6 2 -:5,1:-", d[:, 5:6])],
        "full": [("2 5 0,2:0,5", c.astype("float32"))],
    })


def case_tf2_sharding_policy(out: Path) -> None:
    """TF2 Checkpoint.save with MaxShardSizePolicy: variables split into slices across shards."""
    tf = _tf()
    rng = np.random.default_rng(5)
    m = tf.Module()
    m.a = tf.Variable(rng.standard_normal((10, 8)).astype("float32"))
    m.b = tf.Variable(rng.standard_normal(30).astype("float64"))
    m.c = tf.Variable(rng.integers(0, 100, (4, 5)).astype("int32"))
    m.s = tf.Variable(np.float32(1.0))
    opts = tf.train.CheckpointOptions(
        experimental_sharding_callback=tf.train.experimental.MaxShardSizePolicy(max_shard_size=128))
    tf.train.Checkpoint(m=m).save(str(out / "ckpt"), options=opts)


def case_savedmodel(out: Path) -> None:
    """A tiny tf.saved_model.save export (saved_model.pb + variables/); assets/ and
    fingerprint.pb are removed (not needed to read the variables)."""
    tf = _tf()
    rng = np.random.default_rng(9)

    class Affine(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(rng.standard_normal((3, 2)).astype("float32"))
            self.b = tf.Variable(np.zeros(2, "float32"))

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def __call__(self, x):
            return tf.matmul(x, self.w) + self.b

    tf.saved_model.save(Affine(), str(out))
    for extra in ("assets", "fingerprint.pb"):
        p = out / extra
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def case_variant(out: Path) -> None:
    """DT_VARIANT tensors: a tf.data iterator checkpoint (ITERATOR_STATE) from TF2
    Checkpoint.save. TF's Python reader lists it but cannot get_tensor it."""
    tf = _tf()
    ds = tf.data.Dataset.range(10).map(lambda x: x * 2).batch(3)
    it = iter(ds)
    next(it)
    tf.train.Checkpoint(it=it).save(str(out / "ckpt"))


def case_variant_tensorlist(out: Path) -> None:
    """DT_VARIANT via raw SaveV2: a scalar TensorList and a [2] vector of TensorLists, plus a float."""
    tf = _tf()
    tl = tf.raw_ops.TensorListFromTensor(tensor=tf.constant([[1.0, 2.0], [3.0, 4.0]]), element_shape=tf.constant([2]))
    tl2 = tf.raw_ops.TensorListFromTensor(tensor=tf.constant([7, 8, 9], tf.int64), element_shape=tf.constant([], tf.int32))
    save_v2(out / "tensorlist", {"list": tl, "lists": tf.stack([tl, tl2]), "x": tf.constant(np.float32(1.5))})


# --------------------------------------------------------------------------------------
# Cases for restore into models (issue 11): a .meta graph, a model to restore into
# --------------------------------------------------------------------------------------


def case_meta_tf1(out: Path) -> None:
    """TF1 Saver with its .meta: nested scopes, a partitioned variable, non-trainable and
    resource variables, several dtypes, a local variable (not saved)."""
    tf = _tf()
    tf1 = tf.compat.v1
    with tf.Graph().as_default():
        with tf1.variable_scope("encoder"):
            with tf1.variable_scope("layer_0"):
                tf1.get_variable("kernel", [3, 4], initializer=tf1.random_normal_initializer(seed=1))
                tf1.get_variable("bias", [4], initializer=tf1.zeros_initializer())
            tf1.get_variable("table", [5, 2], partitioner=tf1.fixed_size_partitioner(2, axis=0),
                             initializer=tf1.random_normal_initializer(seed=2))
        with tf1.variable_scope("stats"):
            tf1.get_variable("count", [], dtype=tf.int64, initializer=tf1.constant_initializer(7), trainable=False,
                             use_resource=False)
            tf1.get_variable("scale", [2], dtype=tf.float64, initializer=tf1.ones_initializer(),
                             trainable=False, use_resource=True)
        tf1.get_variable("res", [2, 2], initializer=tf1.constant_initializer(0.5), use_resource=True)
        tf1.get_variable("local", [1], collections=[tf1.GraphKeys.LOCAL_VARIABLES],
                         initializer=tf1.zeros_initializer())
        saver = tf1.train.Saver(save_relative_paths=True, max_to_keep=3)
        with tf1.Session() as sess:
            sess.run([tf1.global_variables_initializer(), tf1.local_variables_initializer()])
            saver.save(sess, str(out / "model"))


def restore_model_class():
    """The Keras model of ``keras_restore``, also rebuilt by the tests to get TF's output:
    Embedding -> LayerNormalization -> Dense(relu) -> Dense."""
    keras = _tf().keras

    class TinyEncoder(keras.Model):
        def __init__(self):
            super().__init__()
            self.embed = keras.layers.Embedding(50, 16)
            self.norm = keras.layers.LayerNormalization(epsilon=1e-5)
            self.ffn = keras.layers.Dense(32, activation="relu")
            self.proj = keras.layers.Dense(8)

        def call(self, ids):
            return self.proj(self.ffn(self.norm(self.embed(ids))))

    return TinyEncoder


def restore_model_input() -> np.ndarray:
    return np.random.default_rng(21).integers(0, 50, (4, 6)).astype("int32")


def case_keras_restore(out: Path) -> None:
    """A subclassed Keras 3 model (see restore_model_class) trained one Adam step, saved
    with tf.train.Checkpoint(model=..., optimizer=...): weights sit under
    optimizer/_trainable_variables/<i> and are also reachable as model/embed/... ."""
    tf = _tf()
    keras = tf.keras
    keras.utils.set_random_seed(4321)
    model = restore_model_class()()
    opt = keras.optimizers.Adam(learning_rate=1e-2)
    model.compile(optimizer=opt, loss="mse")
    ids = restore_model_input()
    model.train_on_batch(ids, np.random.default_rng(2).standard_normal((4, 6, 8)).astype("float32"))
    tf.train.Checkpoint(model=model, optimizer=opt).save(str(out / "ckpt"))


CORE_CASES: dict[str, Callable[[Path], None]] = {
    "keras_tf2": case_keras_tf2,
    "tf2_slots": case_tf2_slots,
    "tf1_saver": case_tf1_saver,
    "all_dtypes": case_all_dtypes,
    "strings": case_strings,
    "many_keys": case_many_keys,
    "odd_names": case_odd_names,
}
LATER_CASES: dict[str, Callable[[Path], None]] = {
    "partitioned_tf1": case_partitioned_tf1,
    "sharded_tf1": case_sharded_tf1,
    "savev2_slices": case_savev2_slices,
    "tf2_sharding_policy": case_tf2_sharding_policy,
    "savedmodel": case_savedmodel,
    "variant": case_variant,
    "variant_tensorlist": case_variant_tensorlist,
}
RESTORE_CASES: dict[str, Callable[[Path], None]] = {
    "meta_tf1": case_meta_tf1,
    "keras_restore": case_keras_restore,
}
#: cases for the command line's tests (tests/test_cli*.py)
CLI_CASES: dict[str, Callable[[Path], None]] = {"keras_tf2_step2": case_keras_tf2_step2}
CASES = {**CORE_CASES, **LATER_CASES, **RESTORE_CASES, **CLI_CASES}


# --------------------------------------------------------------------------------------
# Sanity checks of what was written (independent of bundlefast)
# --------------------------------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def index_summary(index_path: Path) -> dict:
    """num_shards (from the header) and number of SSTable data blocks of a .index file."""
    data = index_path.read_bytes()
    footer = data[-48:]
    assert footer[40:] == struct.pack("<Q", 0xDB4775248B80FB57), "bad magic"
    _, p = _varint(footer, 0)
    _, p = _varint(footer, p)
    idx_off, p = _varint(footer, p)
    idx_size, p = _varint(footer, p)
    block = data[idx_off: idx_off + idx_size]
    n_blocks = struct.unpack("<I", block[-4:])[0]  # index block: restart interval 1
    # header = first entry of the first data block: shared=0, non_shared=0, value_len, value
    _, q = _varint(data, 0)
    _, q = _varint(data, q)
    vlen, q = _varint(data, q)
    hdr = data[q: q + vlen]
    num_shards = 1
    if hdr[:1] == b"\x08":
        num_shards, _ = _varint(hdr, 1)
    return {"num_shards": num_shards, "data_blocks": n_blocks, "index_bytes": len(data)}


def _block_entries(block: bytes):
    """(key, value) pairs of one uncompressed SSTable block."""
    num_restarts = struct.unpack("<I", block[-4:])[0]
    limit = len(block) - 4 - 4 * num_restarts
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        key = key[:shared] + block[pos: pos + non_shared]
        pos += non_shared
        yield key, block[pos: pos + vlen]
        pos += vlen


def index_items(index_path: Path) -> list[tuple[bytes, bytes]]:
    """Every raw (key, value) of a .index file (header "" and slice keys included), in
    order. TF writes uncompressed blocks; this helper does not handle Snappy."""
    data = index_path.read_bytes()
    footer = data[-48:]
    _, p = _varint(footer, 0)
    _, p = _varint(footer, p)
    idx_off, p = _varint(footer, p)
    idx_size, p = _varint(footer, p)
    items = []
    for _, handle in _block_entries(data[idx_off: idx_off + idx_size]):
        off, q = _varint(handle, 0)
        size, q = _varint(handle, q)
        assert data[off + size] == 0, "compressed block"
        items.extend(_block_entries(data[off: off + size]))
    return items


def index_keys(index_path: Path) -> list[bytes]:
    """Every raw key of a .index file, in order."""
    return [k for k, _ in index_items(index_path)]


def find_prefix(case_dir: Path) -> Path:
    """The one checkpoint prefix in a case directory (``<prefix>.index``)."""
    found = sorted(case_dir.rglob("*.index"))
    if len(found) != 1:
        raise RuntimeError(f"{case_dir}: expected exactly one .index file, found {found}")
    return found[0].with_suffix("")


def check_case(name: str, case_dir: Path) -> str:
    tf = _tf()
    prefix = find_prefix(case_dir)
    summary = index_summary(Path(str(prefix) + ".index"))
    reader = tf.train.load_checkpoint(str(prefix))
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    readable = 0
    for key in shapes:
        if dtypes[key] == tf.variant:
            continue  # TF cannot convert DT_VARIANT to numpy
        reader.get_tensor(key)
        readable += 1
    if name == "many_keys":
        assert summary["data_blocks"] >= 3, summary
    if name in ("sharded_tf1", "tf2_sharding_policy"):
        assert summary["num_shards"] > 1, summary
    raw_keys = index_keys(Path(str(prefix) + ".index"))
    n_slices = sum(1 for k in raw_keys if k.startswith(b"\x00"))
    assert raw_keys[0] == b"" and len(raw_keys) == 1 + len(shapes) + n_slices, (len(raw_keys), len(shapes))
    if name in ("partitioned_tf1", "sharded_tf1", "savev2_slices", "tf2_sharding_policy"):
        assert n_slices > 0, name
    size = sum(p.stat().st_size for p in case_dir.rglob("*") if p.is_file())
    return (f"{name:20s} {str(prefix.relative_to(case_dir)):22s} {len(shapes):5d} tensors "
            f"({readable} readable by TF), {n_slices} slice keys, {summary['num_shards']} shard(s), "
            f"{summary['data_blocks']} index data block(s), {size / 1024:8.1f} KiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help=f"cases to (re)write; default all: {', '.join(CASES)}")
    parser.add_argument("--out", type=Path, default=HERE, help="output root (default: tests/data)")
    args = parser.parse_args(argv)
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s): {unknown}")
    tf = _tf()
    tf.config.experimental.enable_op_determinism()
    print(f"TensorFlow {tf.__version__}, keras {tf.keras.__version__}, numpy {np.__version__}")
    for name in args.cases or list(CASES):
        case_dir = args.out / name
        if case_dir.exists():
            shutil.rmtree(case_dir)
        case_dir.mkdir(parents=True)
        CASES[name](case_dir)
        print(check_case(name, case_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
