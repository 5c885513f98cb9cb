"""Writing checkpoints: :func:`save` and the streaming :class:`Writer`.

The C++ core does the writing (payloads CRC'd while they are copied into a bounded
buffer, the index built as TF builds it, temp files renamed into place); this module
turns Python values into what the core takes and checks them first, so bad input fails
before a byte is written.

Default alignment: 64. Every payload then starts on a 64-byte boundary of its shard, so
every zero-copy view the reader hands out is aligned for every dtype (complex128 needs
16), for AVX-512 loads and for frameworks that want 64-byte aligned buffers (XLA, torch
``from_numpy`` fast paths), and a tensor never shares a cache line with its neighbour.
The cost is at most 63 padding bytes per tensor (13 KB for a 200-tensor BERT). TF reads
padded bundles (``BundleWriter::Options::data_alignment``); ``alignment=1`` writes what
``SaveV2`` writes, byte for byte.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core, _dtypes
from .errors import InvalidArgumentError, UnsupportedError

__all__ = ["DEFAULT_ALIGNMENT", "Writer", "save"]

DEFAULT_ALIGNMENT = 64
_BUFFER_BYTES = 1 << 20
_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_DT_STRING = 7
_DT_RESOURCE = 20
_DT_VARIANT = 21
_QUANTIZED = {11, 12, 13, 15, 16}  # qint8, quint8, qint32, qint16, quint16
_ALIASES = {"half": "float16", "str": "string", "bytes": "string"}

DTypeLike = Any  # "qint8", 11, np.int8, tf.qint8, ...


# --------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _numpy_to_enum(with_ml_dtypes: bool) -> dict[np.dtype, int]:
    """NumPy dtype -> the DataType that holds it (int8 -> INT8, never QINT8). Without
    ``with_ml_dtypes`` only NumPy's own types, so saving them never imports ml_dtypes
    (whose import alone can take a second)."""
    table: dict[np.dtype, int] = {}
    for enum in range(_dtypes.NUM_DTYPES):
        if enum in _QUANTIZED or (not with_ml_dtypes and _dtypes.needs_ml_dtypes(enum)):
            continue
        dtype = _dtypes.numpy_dtype(enum)
        if dtype is not None and dtype != np.dtype(object):
            table.setdefault(dtype, enum)
    return table


def _enum_of(dtype: np.dtype) -> int | None:
    """The DataType of arrays of ``dtype``, or None."""
    enum = _numpy_to_enum(False).get(dtype)
    if enum is None and "ml_dtypes" in sys.modules:  # an ml_dtypes array implies the import
        enum = _numpy_to_enum(True).get(dtype)
    return enum


def _tf_enum(spec: DTypeLike, where: str) -> int:
    """The DataType enum value that ``spec`` names."""
    enum: int | None = None
    if hasattr(spec, "as_datatype_enum"):  # a tf.DType, without importing TF
        enum = int(spec.as_datatype_enum)
    elif isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        enum = int(spec)
    elif isinstance(spec, str):
        name = spec.lower().removeprefix("dt_")
        name = _ALIASES.get(name, name)
        for i in range(_dtypes.NUM_DTYPES):
            if _dtypes.tf_name(i) == name:
                enum = i
    else:
        try:
            enum = _enum_of(np.dtype(spec))
        except TypeError:
            enum = None
    if enum is None or not 0 < enum < _dtypes.NUM_DTYPES:
        raise InvalidArgumentError(f"{where}: {spec!r} is not a TensorFlow dtype")
    if enum == _DT_RESOURCE:
        raise UnsupportedError(f"{where}: dtype resource cannot be saved in a checkpoint")
    return enum


# --------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------


@dataclass
class _Tensor:
    """A value checked and ready for the core: its key, dtype, shape and data."""

    name: str
    key: bytes
    enum: int
    shape: tuple[int, ...]
    array: np.ndarray  # fixed-width dtypes (maybe not yet contiguous), or an object array

    def payload(self) -> Any:
        if self.enum in (_DT_STRING, _DT_VARIANT):
            return self.array.reshape(-1).tolist()
        # One tensor at a time: a non-contiguous or byte-swapped input costs one
        # copy of that tensor, never of the checkpoint.
        array = self.array
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        return np.ascontiguousarray(array)


@dataclass
class _Run:
    """Consecutive C-contiguous native ndarrays under str names: written in one core call."""

    keys: list[str] = field(default_factory=list)
    enums: list[int] = field(default_factory=list)
    arrays: list[np.ndarray] = field(default_factory=list)


def _check_unique(plan: list[_Run | _Tensor]) -> None:
    """Mapping keys are unique, but ``"k"`` and ``b"k"`` name the same tensor."""
    seen: set[bytes] = set()
    for item in plan:
        pairs = [(item.name, item.key)] if isinstance(item, _Tensor) else (
            (k, k.encode("utf-8", "surrogateescape")) for k in item.keys)
        for name, key in pairs:
            if key in seen:
                raise InvalidArgumentError(f"tensor {name!r} is given twice")
            seen.add(key)


def _key(name: str | bytes) -> bytes:
    if isinstance(name, bytes):
        key = name
    elif isinstance(name, str):
        # Keys are bytes; the reader decodes them with surrogateescape, so this round-trips.
        key = name.encode("utf-8", "surrogateescape")
    else:
        raise InvalidArgumentError(f"tensor names must be str or bytes, got {type(name).__name__}: {name!r}")
    if not key:
        raise InvalidArgumentError("the empty tensor name is reserved for the bundle header")
    return key


def _as_array(value: Any, where: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        array = value
        if array.dtype.kind == "S":  # fixed-width bytes: NumPy's own bytes conversion
            array = array.astype(object)
    elif isinstance(value, (bytes, bytearray)):
        array = np.empty((), dtype=object)
        array[()] = bytes(value)
    else:
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as err:
            raise InvalidArgumentError(f"{where}: NumPy cannot view {type(value).__name__} as an array: {err}") from None
        if array.dtype.kind == "S":  # a list of bytes: keep the objects, not padded copies
            array = np.array(value, dtype=object)
    if array.dtype.kind == "U":
        raise InvalidArgumentError(f"{where}: holds str; string tensors hold bytes (encode them, e.g. UTF-8)")
    return array


def _check_bytes(array: np.ndarray, where: str) -> None:
    for i, item in enumerate(array.reshape(-1)):
        if not isinstance(item, bytes):
            raise InvalidArgumentError(
                f"{where}: element {i} is {type(item).__name__} ({item!r:.40}); string tensors hold bytes"
            )


def _prepare(name: str | bytes, value: Any, tf_dtype: DTypeLike | None) -> _Tensor:
    key = _key(name)
    label = name if isinstance(name, str) else key.decode("utf-8", "backslashreplace")
    where = f"tensor {label!r}"
    array = _as_array(value, where)
    wanted = None if tf_dtype is None else _tf_enum(tf_dtype, where)
    if array.dtype == object:
        enum = _DT_STRING if wanted is None else wanted
        if enum not in (_DT_STRING, _DT_VARIANT):
            raise InvalidArgumentError(
                f"{where}: an object array can only be saved as string or variant, not {_dtypes.tf_name(enum)}"
            )
        _check_bytes(array, where)
    else:
        native = array.dtype.newbyteorder("=")
        own = _enum_of(native)
        if own is None:
            raise UnsupportedError(f"{where}: NumPy dtype {array.dtype} has no TensorFlow equivalent")
        enum = own if wanted is None else wanted
        if enum != own and _dtypes.numpy_dtype(enum) != native:
            raise InvalidArgumentError(
                f"{where}: dtype {_dtypes.tf_name(enum)} needs a {_dtypes.numpy_dtype(enum)} array, got {array.dtype}"
            )
    return _Tensor(label, key, enum, tuple(int(d) for d in array.shape), array)


# --------------------------------------------------------------------------------------
# Slice specs
# --------------------------------------------------------------------------------------

_EXTENT = re.compile(r"\s*(-|(\d+)\s*,\s*(\d+))\s*")


def parse_slice_spec(spec: str, full_shape: tuple[int, ...], where: str) -> list[tuple[int, int]]:
    """TF's slice syntax: per dimension ``-`` (all of it) or ``start,length``, joined by
    ``:``, e.g. ``"0,2:-"``. SaveV2's ``"4 3 0,2:-"`` form (full shape first) is accepted
    too, and its shape must be ``full_shape``. Returns (start, length) pairs, length -1 for
    a full dimension."""
    text = spec.strip()
    parts = text.split(" ")
    if len(parts) > 1:
        try:
            dims = tuple(int(p) for p in parts[:-1] if p)
        except ValueError:
            raise InvalidArgumentError(f"{where}: bad slice spec {spec!r}") from None
        if dims != tuple(full_shape):
            raise InvalidArgumentError(
                f"{where}: slice spec {spec!r} is for shape {list(dims)}, but the full shape is {list(full_shape)}"
            )
        text = parts[-1]
    extents = []
    for part in text.split(":"):
        m = _EXTENT.fullmatch(part)
        if not m:
            raise InvalidArgumentError(f"{where}: bad slice spec {spec!r}: expected '-' or 'start,length' per dimension")
        extents.append((0, -1) if m.group(1) == "-" else (int(m.group(2)), int(m.group(3))))
    if len(extents) != len(full_shape):
        raise InvalidArgumentError(
            f"{where}: slice spec {spec!r} has {len(extents)} dimensions, the full shape {list(full_shape)} has {len(full_shape)}"
        )
    return extents


# --------------------------------------------------------------------------------------
# like=: the reference checkpoint's dtypes and object graph
# --------------------------------------------------------------------------------------


class _Reference:
    """What ``like=prefix`` contributes: TF dtypes by name, the object graph, and the
    (dtype, shape) of every variable the graph names."""

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        from ._object_graph import parse_object_graph
        from ._reader import Reader

        with Reader(prefix) as reader:
            self.prefix = str(reader.prefix)
            infos = {name: reader.info(name) for name in reader}
            self.graph: bytes | None = None
            self.graph_keys: list[str] = []
            if _OBJECT_GRAPH_KEY in infos:
                self.graph = reader.get_array(_OBJECT_GRAPH_KEY, copy=True)[()]
                graph = parse_object_graph(self.graph)
                # Attributes can name keys the checkpoint does not hold (a tf.data
                # iterator's ITERATOR next to its ITERATOR_STATE); only saved ones count.
                self.graph_keys = [
                    a.checkpoint_key for node in graph.nodes for a in node.attributes if a.checkpoint_key in infos
                ]
        self.graph_key_set = set(self.graph_keys)
        self.enums = {name: info.dtype_enum for name, info in infos.items()}
        self.shapes = {name: info.shape for name, info in infos.items()}

    def check(self, tensor: _Tensor) -> None:
        """A tensor the graph names must keep its reference dtype and shape."""
        if tensor.name not in self.graph_key_set:
            return
        enum, shape = self.enums[tensor.name], self.shapes[tensor.name]
        if (tensor.enum, tensor.shape) != (enum, shape):
            raise InvalidArgumentError(
                f"tensor {tensor.name!r} is {_dtypes.tf_name(tensor.enum)} {list(tensor.shape)}, but in the "
                f"reference {self.prefix} it is {_dtypes.tf_name(enum)} {list(shape)} (like= keeps the object graph, "
                "which restores it with that dtype and shape)"
            )

    def check_complete(self, names: Iterable[str]) -> None:
        present = set(names)
        missing = [k for k in self.graph_keys if k not in present]
        if missing:
            shown = ", ".join(repr(k) for k in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise InvalidArgumentError(
                f"the object graph of {self.prefix} names {len(missing)} tensor(s) that are not being saved: {shown}"
            )


# --------------------------------------------------------------------------------------
# Writer and save
# --------------------------------------------------------------------------------------


class Writer:
    """Write a checkpoint tensor by tensor; commit on a clean exit or :meth:`close`.

    Each :meth:`add` writes that tensor's bytes at once (the writer holds a bounded
    buffer, never the checkpoint). Nothing appears at ``prefix`` until the commit; on an
    exception inside the ``with`` block (or :meth:`abort`) every file written is removed.
    Saving over an existing checkpoint replaces it safely (see :func:`save`).

    Example:
        >>> with bundlefast.Writer("out/ckpt") as w:
        ...     w.add("w", np.zeros((4, 3), np.float32))
        ...     w.add_slice("v", (4, 3), "0,2:-", np.ones((2, 3), np.float32))
        ...     w.add_slice("v", (4, 3), "2,2:-", np.ones((2, 3), np.float32))
    """

    def __init__(
        self,
        prefix: str | os.PathLike[str],
        *,
        alignment: int = DEFAULT_ALIGNMENT,
        max_shard_bytes: int | None = None,
        like: str | os.PathLike[str] | None = None,
        dtypes: Mapping[str, DTypeLike] | None = None,
        sync: bool = True,
    ) -> None:
        path = os.fspath(prefix)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not path or path.endswith(os.sep):
            raise InvalidArgumentError(f"{path!r} is not a checkpoint prefix (it names a directory)")
        if not isinstance(alignment, int) or alignment < 1:
            raise InvalidArgumentError(f"alignment must be a positive int, got {alignment!r}")
        if max_shard_bytes is not None and (not isinstance(max_shard_bytes, int) or max_shard_bytes < 1):
            raise InvalidArgumentError(f"max_shard_bytes must be a positive int or None, got {max_shard_bytes!r}")
        self.prefix = path
        self._dtypes = dict(dtypes or {})
        self._reference = _Reference(like) if like is not None else None
        self._names: set[str] = set()
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)  # TF's BundleWriter creates it too
        self._core: Any = _core.BundleWriter(path, alignment, max_shard_bytes or 0, _BUFFER_BYTES, sync)
        self._open = True

    # -- context manager ------------------------------------------------------
    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        if getattr(self, "_open", False):
            self.abort()

    # -- adding ---------------------------------------------------------------
    def _dtype_for(self, name: str | bytes, dtype: DTypeLike | None) -> DTypeLike | None:
        if dtype is not None:
            return dtype
        if isinstance(name, str) and name in self._dtypes:
            return self._dtypes[name]
        if self._reference is not None and isinstance(name, str):
            return self._reference.enums.get(name)
        return None

    def _prepared(self, name: str | bytes, value: Any, dtype: DTypeLike | None) -> _Tensor:
        self._check_open()
        try:
            return _prepare(name, value, self._dtype_for(name, dtype))
        except InvalidArgumentError as err:
            # A reference dtype NumPy's value cannot take (float32 data for an int64
            # variable): say it is the reference's, since the caller did not ask for it.
            if dtype is None and self._reference is not None and name in self._reference.enums:
                raise InvalidArgumentError(f"{err} (dtype taken from like={self._reference.prefix})") from None
            raise

    def add(self, name: str | bytes, value: Any, *, dtype: DTypeLike | None = None) -> None:
        """Write one tensor.

        Args:
            name: the key (``str``; ``bytes`` for keys that are not UTF-8). Not empty, not
                added before.
            value: anything NumPy views as an array without a copy (ndarrays, read-only
                views from :func:`bundlefast.load`, buffer-protocol objects, scalars);
                strings as ``bytes`` or object arrays of ``bytes``.
            dtype: the TF dtype when NumPy's cannot say it (``"qint8"`` for an int8
                array, ``"variant"`` for an object array of serialized
                ``VariantTensorDataProto``); default from ``dtypes=`` or ``like=``.

        Raises:
            InvalidArgumentError: duplicate or empty name, non-bytes objects, a dtype the
                value cannot have. UnsupportedError: a dtype TF cannot save.
        """
        tensor = self._prepared(name, value, dtype)
        self._write(tensor)

    def add_slice(
        self,
        name: str | bytes,
        full_shape: Iterable[int],
        slice_spec: str,
        value: Any,
        *,
        dtype: DTypeLike | None = None,
    ) -> None:
        """Write one slice of a partitioned tensor of shape ``full_shape``.

        ``slice_spec`` is TF's syntax: ``"0,2:-"`` is rows 0-1, all columns. Slices of a
        name may come in any order and must not overlap; by :meth:`close` they must cover
        the tensor. A slice that covers the whole tensor is saved as an ordinary tensor,
        as TF does.

        Raises:
            InvalidArgumentError: a bad spec, a spec that does not fit ``full_shape``, a
                value whose shape is not the slice's, overlapping slices, a dtype or full
                shape that differs from the name's earlier slices.
        """
        tensor = self._prepared(name, value, dtype)
        full = tuple(int(d) for d in full_shape)
        extents = parse_slice_spec(slice_spec, full, f"tensor {tensor.name!r}")
        if self._reference is not None:
            self._reference.check(_Tensor(tensor.name, tensor.key, tensor.enum, full, tensor.array))
        self._core.add_slice(tensor.key, list(full), extents, tensor.enum, list(tensor.shape), tensor.payload())
        self._names.add(tensor.name)

    def _write_plan(self, plan: list[_Run | _Tensor]) -> None:
        """Write checked tensors in order: a run of plain arrays with one core call (one
        GIL release for thousands of small tensors), the others one by one (so a
        non-contiguous one is copied only just before it is written)."""
        for item in plan:
            if isinstance(item, _Tensor):
                self._write(item)
            else:
                self._core.add_many(item.keys, item.enums, item.arrays, [None] * len(item.keys))
                self._names.update(item.keys)

    def _write(self, tensor: _Tensor) -> None:
        if self._reference is not None:
            self._reference.check(tensor)
        self._core.add(tensor.key, tensor.enum, list(tensor.shape), tensor.payload())
        self._names.add(tensor.name)

    # -- finishing ------------------------------------------------------------
    def close(self) -> None:
        """Commit: check that partitioned tensors are complete and, with ``like=``, that
        every variable of the reference's object graph was written; add the object graph;
        write the index and rename everything into place. On error nothing is committed
        and the writer's files are removed."""
        if not self._open:
            return
        try:
            reference = self._reference
            if reference is not None and reference.graph is not None:
                reference.check_complete(self._names)
                if _OBJECT_GRAPH_KEY not in self._names:
                    self.add(_OBJECT_GRAPH_KEY, reference.graph, dtype="string")
            self._core.finish()
        except BaseException:
            self.abort()
            raise
        self._open = False

    def abort(self) -> None:
        """Give up: remove every file written so far. The checkpoint at ``prefix``, if
        any, is untouched."""
        if getattr(self, "_open", False):
            self._open = False
            self._core.abort()

    @property
    def num_shards(self) -> int:
        """Data shards used so far."""
        return int(self._core.num_shards)

    def _check_open(self) -> None:
        if not self._open:
            raise InvalidArgumentError(f"the writer for {self.prefix} is closed")


def save(
    prefix: str | os.PathLike[str],
    tensors: Mapping[str, Any],
    *,
    alignment: int = DEFAULT_ALIGNMENT,
    max_shard_bytes: int | None = None,
    like: str | os.PathLike[str] | None = None,
    dtypes: Mapping[str, DTypeLike] | None = None,
    sync: bool = True,
) -> str:
    """Save ``{name: array}`` as a TensorFlow checkpoint at ``prefix``; return ``prefix``.

    TensorFlow reads the result bit for bit (``tf.train.load_checkpoint``, ``RestoreV2``,
    ``tf.train.Checkpoint.restore`` with ``like=``). Every value is checked before
    anything is written.

    Args:
        prefix: the checkpoint prefix; ``prefix.index`` and ``prefix.data-*`` are written.
            Its directory is created if needed.
        tensors: name -> value; see :meth:`Writer.add`. Payloads are written in this order.
        alignment: payloads start at multiples of this many bytes (default 64, see the
            module docs); ``1`` gives exactly ``tf.raw_ops.SaveV2``'s bytes.
        max_shard_bytes: start a new data shard before one would grow past this size.
        like: a reference checkpoint: its TF dtypes are used for tensors of the same name
            (``qint8``, ``variant`` ...), and its TF2 object graph is written too, after
            checking that every variable it names is saved with the reference's dtype and
            shape, so ``tf.train.Checkpoint(...).restore(prefix)`` works.
        dtypes: ``{name: TF dtype}`` for tensors NumPy cannot type (``"qint8"``,
            ``"variant"``); wins over ``like``.
        sync: fsync the files and the directory before returning (default). Only turn it
            off for throwaway output.

    Saving over an existing checkpoint never leaves a mix: the new files are written
    under temporary names, the old index is removed, the data files are renamed into
    place, and the new index's rename commits. A crash before that leaves the old
    checkpoint; inside the short swap, no checkpoint at ``prefix``. To never be without a
    checkpoint, save every step under a new prefix and then call
    :func:`update_checkpoint_state`, which switches ``checkpoint`` atomically and deletes
    old ones.

    Raises:
        InvalidArgumentError, UnsupportedError: bad input (nothing is written).
        OSError: the files cannot be written (nothing is committed).
    """
    writer_dtypes = dict(dtypes or {})
    reference = _Reference(like) if like is not None else None
    overridden = set(writer_dtypes) | (set(reference.enums) if reference is not None else set())
    # Check everything first. A C-contiguous native ndarray under a plain name (the
    # bulk of any model) needs only its dtype looked up; the rest goes through _prepare.
    with Writer(prefix, alignment=alignment, max_shard_bytes=max_shard_bytes, sync=sync) as writer:
        # The bulk case (plain arrays under str names) is checked and written in one
        # core call; anything else is checked here in full before a byte is written.
        if overridden or not writer._core.add_plain(list(tensors), list(tensors.values()), _numpy_to_enum(False)):
            plan = _plan(tensors, writer_dtypes, reference, overridden)
            if any(not isinstance(name, str) for name in tensors):  # only then can two keys collide
                _check_unique(plan)
            if reference is not None and reference.graph is not None:
                reference.check_complete(t.name for t in plan if isinstance(t, _Tensor))
            writer._reference = reference
            writer._write_plan(plan)
    return writer.prefix


def _plan(
    tensors: Mapping[str, Any],
    writer_dtypes: Mapping[str, DTypeLike],
    reference: _Reference | None,
    overridden: set[str],
) -> list[_Run | _Tensor]:
    """Check every tensor; runs of plain arrays stay as they are, the rest is prepared."""
    plan: list[_Run | _Tensor] = []
    run = _Run()
    table = _numpy_to_enum(False)
    for name, value in tensors.items():
        enum = None
        if type(value) is np.ndarray and type(name) is str and name and name not in overridden:
            enum = table.get(value.dtype)
            if enum is None:
                enum = _enum_of(value.dtype)
            if enum is not None and not value.flags.c_contiguous:
                enum = None
        if enum is not None:
            run.keys.append(name)
            run.enums.append(enum)
            run.arrays.append(value)
            continue
        wanted = writer_dtypes.get(name) if isinstance(name, str) else None
        if wanted is None and reference is not None and isinstance(name, str):
            wanted = reference.enums.get(name)
        tensor = _prepare(name, value, wanted)
        if reference is not None:
            reference.check(tensor)
        if run.keys:
            plan.append(run)
            run = _Run()
        plan.append(tensor)
    if run.keys:
        plan.append(run)
    return plan
