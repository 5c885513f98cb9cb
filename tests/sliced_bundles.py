"""Helpers shared by the slice, shard, big-endian and TF comparison tests: random values of
every dtype, and partitioned tensors written with ``tests/bundle_builder.py``."""

from __future__ import annotations

import numpy as np

import bundle_builder
from bundle_builder import BundleBuilder, DataType, encode_entry, encode_slice_key

# Every fixed-width dtype: (numpy dtype of the values, dtype enum override or None).
POD_DTYPES = [(np.dtype(t), None) for t in bundle_builder._NUMPY_DTYPES] + [
    (np.dtype(np.int8), DataType.QINT8),
    (np.dtype(np.uint8), DataType.QUINT8),
    (np.dtype(np.int16), DataType.QINT16),
    (np.dtype(np.uint16), DataType.QUINT16),
    (np.dtype(np.int32), DataType.QINT32),
]
POD_IDS = [f"{t.name}{'-' + o.name if o else ''}" for t, o in POD_DTYPES]


def random_values(rng: np.random.Generator, dtype: np.dtype, shape) -> np.ndarray:
    """Values of `dtype` from random bytes (bool: 0/1), so every byte is checked."""
    n = int(np.prod(shape))
    if dtype == np.bool_:
        return rng.integers(0, 2, n).astype(bool).reshape(shape)
    return rng.integers(0, 256, n * dtype.itemsize, dtype=np.uint8).view(dtype).reshape(shape)


def random_strings(rng: np.random.Generator, shape) -> np.ndarray:
    n = int(np.prod(shape))
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8).tobytes()
    return out.reshape(shape)


def region_of(spec) -> tuple:
    return tuple(slice(None) if length == -1 else slice(start, start + length) for start, length in spec)


def add_partitioned(b: BundleBuilder, name, full: np.ndarray, specs, *, dtype=None, shards=None) -> None:
    """Stores `full` as the slices `specs` (one (start, length) per dimension, (0, -1) for
    a full dimension), in the given order and shards, plus its full entry."""
    for n, spec in enumerate(specs):
        part = full[region_of(spec)]
        b.add(encode_slice_key(name, spec), part, dtype=dtype, shard=shards[n] if shards else 0)
    enum = bundle_builder._infer_dtype(bundle_builder._as_array(full), dtype)
    b.add_raw_entry(name, encode_entry(enum, full.shape, slices=specs))


def random_partition(rng: np.random.Generator, shape, max_parts: int = 8) -> list[list[tuple[int, int]]]:
    """A guillotine partition of `shape` into non-overlapping boxes covering it exactly; a
    dimension a box spans fully is written as (0, -1) half of the time, else explicitly."""
    boxes = [[(0, d) for d in shape]]
    for _ in range(int(rng.integers(1, max_parts))):
        i = int(rng.integers(0, len(boxes)))
        box = boxes[i]
        axes = [a for a, (_, n) in enumerate(box) if n >= 2]
        if not axes:
            continue
        a = int(rng.choice(axes))
        start, n = box[a]
        cut = int(rng.integers(1, n))
        boxes[i:i + 1] = [
            [*box[:a], (start, cut), *box[a + 1:]],
            [*box[:a], (start + cut, n - cut), *box[a + 1:]],
        ]
    specs = []
    for box in boxes:
        spec = [(0, -1) if (s, n) == (0, d) and rng.random() < 0.5 else (s, n) for (s, n), d in zip(box, shape)]
        specs.append(spec)
    if len(specs) == 1:  # one slice covering everything would be stored as an ordinary entry
        specs = [[(0, 1), *[(0, -1)] * (len(shape) - 1)], [(1, shape[0] - 1), *[(0, -1)] * (len(shape) - 1)]]
    return specs
