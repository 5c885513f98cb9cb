"""The Reader: an opened checkpoint as a read-only Mapping of name -> array."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _core, _dtypes
from ._hints import hint_missing_names, name_list
from ._prefix import resolve_prefix
from ._slicing import LazyTensor

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class TensorInfo:
    """Metadata of one tensor, read from the index without touching its data."""

    name: str
    dtype: Any  # numpy dtype, or None for dtypes with no NumPy equivalent (variant)
    tf_dtype: str  # TF's Python name: 'float32', 'qint8', 'string', ...
    dtype_enum: int  # the DataType enum value stored in the entry
    shape: tuple[int, ...]
    shard: int
    offset: int  # byte offset of the payload in the shard file
    size: int  # payload bytes (strings: lengths + checksum + bytes)
    crc32c: int | None  # the stored *masked* CRC32C of the payload
    slices: tuple[tuple[tuple[int, int], ...], ...]  # (start, length) per dim; length -1 = all
    data_path: str

    @property
    def crc32c_unmasked(self) -> int | None:
        """The stored CRC32C with TensorFlow's mask removed."""
        return None if self.crc32c is None else _core.unmask_crc32c(self.crc32c)


class Reader(Mapping[str, "np.ndarray"]):
    """An opened TensorFlow checkpoint: a read-only Mapping of name -> array.

    Arrays are zero-copy, read-only views over the mapped data shards; a view
    keeps its shard mapped after the reader is closed. Use as a context manager.

    Example:
        >>> with bundlefast.open("ckpt-1") as r:
        ...     kernel = r["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"]
        ...     r.info("dense/kernel/.ATTRIBUTES/VARIABLE_VALUE").shape
    """

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        _dtypes.install()
        self.prefix: Path = resolve_prefix(prefix)
        self._core: Any = _core.Reader(str(self.prefix))
        self._closed = False

    # -- Mapping --------------------------------------------------------------
    def __getitem__(self, name: str) -> np.ndarray:
        with hint_missing_names(self):
            return self._live().get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._live().keys())

    def __len__(self) -> int:
        return len(self._live())

    def __contains__(self, name: object) -> bool:
        return name in self._live()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._core)} tensors, {self._core.num_shards} shard(s)"
        return f"<bundlefast.Reader {str(self.prefix)!r}: {state}>"

    # -- context manager ------------------------------------------------------
    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the reader's shard mappings. Arrays already returned stay valid."""
        if not self._closed:
            self._core.close()
            self._closed = True

    # -- reading --------------------------------------------------------------
    def get_array(self, name: str, *, verify: bool = False, copy: bool = False) -> np.ndarray:
        """One tensor; ``verify`` checks its CRC32C, ``copy`` returns an owned writable array."""
        with hint_missing_names(self):
            return self._live().get(name, verify, copy)

    def get_slice(self, name: str, *, verify: bool = False, copy: bool = False) -> LazyTensor:
        """``name`` read lazily: index the result like an array to read only that region.

        ``reader.get_slice(name)[10:20]`` reads rows 10..19 and nothing else: a contiguous
        region of an ordinary tensor is a zero-copy view; other regions copy just what they
        need; a partitioned tensor touches only the stored slices that intersect the region.
        """
        return LazyTensor(self, self.info(name), verify=verify, copy=copy)

    def load(
        self, names: Iterable[str] | None = None, *, verify: bool = False, copy: bool = False
    ) -> dict[str, np.ndarray]:
        """Several tensors at once (all by default); see :func:`bundlefast.load`."""
        wanted = name_list(names, "load")
        with hint_missing_names(self):
            return self._live().load(wanted, verify, copy)

    def verify(self, names: Iterable[str] | None = None) -> None:
        """Check the CRC32C of the named tensors (all by default).

        Raises:
            ChecksumError: naming the file, tensor, offset and both CRCs.
        """
        wanted = name_list(names, "verify")
        with hint_missing_names(self):
            self._live().verify(wanted)

    def info(self, name: str) -> TensorInfo:
        """Metadata of ``name`` (dtype, shape, shard, offset, size, stored CRC)."""
        with hint_missing_names(self):
            enum, shape, shard, offset, size, crc, slices = self._live().info(name)
        return TensorInfo(
            name=name,
            dtype=_dtypes.numpy_dtype(enum),
            tf_dtype=_dtypes.tf_name(enum),
            dtype_enum=enum,
            shape=tuple(shape),
            shard=shard,
            offset=offset,
            size=size,
            crc32c=crc,
            slices=slices,
            data_path=self._core.data_path(shard),
        )

    def friendly_names(self, *, include_slots: bool = False) -> dict[str, str]:
        """``{friendly name: raw key}``, built from the TF2 object graph.

        A friendly name is the path of object names from the root, unescaped (for
        example ``model/dense/kernel`` for the key
        ``model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE``). A tensor saved under another
        attribute ``A`` is named ``<path>/A``. An attribute that saves several tensors
        extends ``A`` by each key's suffix, e.g. ``table/table-keys``. The path is the one TF
        used in the key: the first found breadth-first from the root. (For Keras 3 models
        wrapped in ``tf.train.Checkpoint``, this puts model weights under
        ``optimizer/_trainable_variables/<i>``.) With ``include_slots=True``, optimizer slot
        variables are included as ``<variable>@<optimizer>/<slot>``, e.g.
        ``model/dense/kernel@optimizer/m``. Raw keys always keep working for indexing.

        Some tensors have no friendly name and are left out: the object graph itself,
        tensors the graph does not describe, and slot variables unless
        ``include_slots=True``. If two tensors would get the same friendly name, both
        keep their raw keys. A name-based (TF1 ``Saver``) checkpoint has no object graph:
        its keys are already variable names, so every key maps to itself.

        Raises:
            CorruptionError: the object graph does not decode.

        Example:
            >>> with bundlefast.open("ckpt-1") as r:
            ...     kernel = r[r.friendly_names()["model/dense/kernel"]]
        """
        from ._object_graph import reader_friendly_names

        return reader_friendly_names(self, include_slots=include_slots)

    def aliases(self) -> dict[str, tuple[str, ...]]:
        """``{raw key: every name of it}``: each path through the TF2 object graph that
        reaches the tensor, named as :meth:`friendly_names` names them, the friendly name
        first (a Keras 3 kernel saved as ``optimizer/_trainable_variables/1`` is also
        ``model/_operations/3/_kernel``). At most 256 paths per object; a name-based (TF1)
        checkpoint maps every key to itself. See ``_object_graph.aliases_from_graph``."""
        from ._object_graph import reader_aliases

        return reader_aliases(self)

    @property
    def num_shards(self) -> int:
        return int(self._core.num_shards)

    @property
    def big_endian(self) -> bool:
        """True if the bundle's data bytes are big-endian (returned arrays are native)."""
        return int(self._core.endianness) == 1

    def _live(self) -> Any:
        if self._closed:
            msg = f"reader for {self.prefix} is closed"
            raise ValueError(msg)
        return self._core
