"""The Reader: an opened checkpoint as a read-only Mapping of name -> array."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _core, _dtypes
from ._hints import hint_missing_names, name_list
from .errors import InvalidArgumentError
from ._prefix import resolve_prefix
from ._slicing import LazyTensor
from ._sources import is_url, resolve_url

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class TensorInfo:
    """Metadata of one tensor, read from the index without touching its data."""

    name: str
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
    def dtype(self) -> Any:
        """The NumPy dtype of the tensor's arrays, or None for dtypes with no NumPy
        equivalent (variant). Resolved when asked: for bfloat16, float8 and int4-like
        types this imports ml_dtypes, which listings (tf_dtype) never need."""
        return _dtypes.numpy_dtype(self.dtype_enum)

    @property
    def crc32c_unmasked(self) -> int | None:
        """The stored CRC32C with TensorFlow's mask removed."""
        return None if self.crc32c is None else _core.unmask_crc32c(self.crc32c)


class Reader(Mapping[str, "np.ndarray"]):
    """An opened TensorFlow checkpoint: a read-only Mapping of name -> array.

    Arrays are zero-copy, read-only views over the mapped data shards; a view
    keeps its shard mapped after the reader is closed. With ``mmap=False`` shards are
    read with ``pread`` into owned arrays instead and never mapped. An fsspec URL
    (``s3://bucket/ckpt-1``, ``memory://``, ``simplecache::gs://...``) is read with
    ranged requests for just the bytes each read needs (``storage_options`` go to
    fsspec); its arrays are owned. Use as a context manager. A Reader pickles as its
    location and options and reopens where it is unpickled.

    Example:
        >>> with bundlefast.open("ckpt-1") as r:
        ...     kernel = r["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"]
        ...     r.info("dense/kernel/.ATTRIBUTES/VARIABLE_VALUE").shape
    """

    def __init__(
        self, prefix: str | os.PathLike[str], *, mmap: bool = True, storage_options: dict[str, Any] | None = None
    ) -> None:
        self.mmap = mmap
        self.storage_options = storage_options
        self._remote: Any = None
        self.prefix: Path | str
        if is_url(prefix):
            where = resolve_url(str(prefix), storage_options)
            self.prefix = where.shown_prefix
            self._remote = where.opener
            self._core: Any = _core.Reader(self.prefix, open_file=self._remote)
        else:
            if storage_options:
                msg = f"storage_options apply to fsspec URLs only, not to the local path {os.fsdecode(prefix)!r}"
                raise InvalidArgumentError(msg)
            self.prefix = resolve_prefix(prefix)
            self._core = _core.Reader(str(self.prefix), mmap)
        self._closed = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (self.location, self.mmap, self.storage_options))

    @property
    def location(self) -> str:
        """Where this reader reopens from when unpickled: the URL, or the absolute prefix."""
        return self.prefix if isinstance(self.prefix, str) else os.path.abspath(self.prefix)

    @property
    def is_remote(self) -> bool:
        """True if the checkpoint is read through fsspec (a URL)."""
        return self._remote is not None

    # -- Mapping --------------------------------------------------------------
    def __getitem__(self, name: str) -> np.ndarray:
        with hint_missing_names(self):
            if self._remote is None:  # the common case pays for no fetch context
                return self._live().get(name)
            with self._fetched([name]):
                return self._core.get(name)

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
            if self._remote is None:
                return self._live().get(name, verify, copy)
            with self._fetched([name], verify=verify):
                return self._core.get(name, verify, copy)

    def get_slice(self, name: str, *, verify: bool = False, copy: bool = False) -> LazyTensor:
        """``name`` read lazily: index the result like an array to read only that region.

        ``reader.get_slice(name)[10:20]`` reads rows 10..19 and nothing else: a contiguous
        region of an ordinary tensor is a zero-copy view; other regions copy just what they
        need; a partitioned tensor touches only the stored slices that intersect the region.
        A region view of 64 KiB or more gives its pages back to the kernel when its last
        array dies (they stay in the page cache), so streaming a big tensor through one
        reader keeps only the regions still alive resident.
        """
        return LazyTensor(self, self.info(name), verify=verify, copy=copy)

    def load(
        self, names: Iterable[str] | None = None, *, verify: bool = False, copy: bool = False
    ) -> dict[str, np.ndarray]:
        """Several tensors at once (all by default); see :func:`bundlefast.load`."""
        wanted = name_list(names, "load")
        with hint_missing_names(self):
            if self._remote is None:
                return self._live().load(wanted, verify, copy)
            out: dict[str, np.ndarray] = {}
            for batch in self._batches(self._live().keys() if wanted is None else wanted):
                with self._fetched(batch, verify=verify):
                    out.update(self._core.load(batch, verify, copy))
            return out

    def read_region(
        self,
        name: str,
        start: list[int],
        stop: list[int],
        *,
        shape: list[int] | None = None,
        verify: bool = False,
        copy: bool = False,
    ) -> np.ndarray:
        """The box ``[start[d], stop[d])`` of tensor ``name``, as an array of shape
        ``stop - start`` (or ``shape``, any shape with as many elements). Reads only the
        bytes needed; a contiguous region of one stored part is a view unless ``copy``
        (from 64 KiB up, one that releases its pages when it dies: see :meth:`get_slice`).

        Raises:
            InvalidArgumentError: the box does not lie inside the tensor's shape.
        """
        start, stop = list(start), list(stop)
        if self._remote is None:
            return self._live().read_region(name, start, stop, shape, verify, copy)
        with self._fetched(name, start, stop, verify=verify):
            return self._core.read_region(name, start, stop, shape, verify, copy)

    def read_into(self, name: str, out: Any, *, verify: bool = False) -> None:
        """Read the whole of tensor ``name`` (ordinary or partitioned, native byte order)
        into ``out``: a writable, C-contiguous buffer of exactly the tensor's byte size
        (e.g. a NumPy array or a framework tensor's memory). The GIL is released.

        Raises:
            InvalidArgumentError: ``out`` has the wrong size, or the tensor holds strings.
            BufferError / TypeError: ``out`` is not a writable C-contiguous buffer.
        """
        with hint_missing_names(self), self._fetched([name], verify=verify):
            self._live().read_into(name, out, verify)

    def verify(self, names: Iterable[str] | None = None) -> None:
        """Check the CRC32C of the named tensors (all by default).

        Raises:
            ChecksumError: naming the file, tensor, offset and both CRCs.
        """
        wanted = name_list(names, "verify")
        with hint_missing_names(self):
            if self._remote is None:
                self._live().verify(wanted)
                return
            for batch in self._batches(self._live().keys() if wanted is None else wanted):
                with self._fetched(batch, verify=True):
                    self._core.verify(batch)

    def info(self, name: str) -> TensorInfo:
        """Metadata of ``name`` (dtype, shape, shard, offset, size, stored CRC)."""
        with hint_missing_names(self):
            entry = self._live().info(name)
        return TensorInfo(
            name=name,
            tf_dtype=_dtypes.tf_name(entry.dtype),
            dtype_enum=entry.dtype,
            shape=tuple(entry.shape),
            shard=entry.shard,
            offset=entry.offset,
            size=entry.size,
            crc32c=entry.masked_crc32c,
            slices=tuple(tuple(tuple(extent) for extent in s) for s in entry.slices),
            data_path=self._core.data_path(entry.shard),
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
            raise InvalidArgumentError(msg)
        return self._core

    # -- remote reads: plan, fetch in one batch, then read from memory ----------
    @contextlib.contextmanager
    def fetched(self, names: Iterable[str] | None = None, *, verify: bool = False) -> Iterator[None]:
        """For a checkpoint read from a URL: fetch the bytes of ``names`` (all by default)
        now, in one batch of concurrent, coalesced requests, and keep them for the block;
        reads inside it (``reader[name]``, ``read_into``, regions) are served from memory.
        A no-op for local files. ``load`` does this by itself; use it around many
        one-tensor reads (e.g. restoring into a model tensor by tensor).

        Example:
            >>> with bundlefast.open("s3://bucket/ckpt-9") as r, r.fetched():
            ...     for name in r: model[name].copy_(torch.from_numpy(r[name]))
        """
        wanted = list(self._live().keys() if names is None else names)
        with self._fetched(wanted, verify=verify):
            yield

    @contextlib.contextmanager
    def _fetched(
        self, names: Any, start: list[int] | None = None, stop: list[int] | None = None, *, verify: bool = False
    ) -> Iterator[None]:
        """For a remote checkpoint, fetch every byte range the read of ``names`` (or of
        the region ``[start, stop)`` of one name) will touch, concurrently, before it runs;
        the core then reads them from memory (nothing to do for local files)."""
        if self._remote is None:
            yield
            return
        core = self._live()
        planned = core.fetches(names, start, stop, verify)
        files = {shard: self._remote.files[core.data_path(shard)] for shard in {f[0] for f in planned}}
        kept = self._remote.prefetch([(files[shard], offset, size) for shard, offset, size in planned])
        try:
            yield
        finally:
            self._remote.release(kept)

    def _batches(self, names: list[str]) -> Iterator[list[str]]:
        """``names`` in runs of about _BATCH_BYTES of payload: a remote ``load`` holds one
        run's fetched bytes (besides the arrays) at a time."""
        batch: list[str] = []
        size = 0
        for name in names:
            batch.append(name)
            size += max(self._core.info(name).size, 0)
            if size >= _BATCH_BYTES:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch


# A remote load fetches at most this many payload bytes ahead of the arrays it fills.
_BATCH_BYTES = 256 << 20


def _reopen(location: str, mmap: bool, storage_options: dict[str, Any] | None) -> Reader:
    return Reader(location, mmap=mmap, storage_options=storage_options)


_shared_lock = threading.Lock()
_shared: dict[tuple[str, bool, str], Reader] = {}


def shared_reader(location: str, mmap: bool, storage_options: dict[str, Any] | None) -> Reader:
    """One Reader per (location, options) in this process, for unpickled lazy tensors
    (a Dask worker runs many chunk reads of one checkpoint: it parses the index once).
    Never closed by its users; it lives as long as the process."""
    key = (location, mmap, repr(sorted((storage_options or {}).items())))
    with _shared_lock:
        reader = _shared.get(key)
        if reader is None or reader._closed:
            reader = _shared[key] = Reader(location, mmap=mmap, storage_options=storage_options)
        return reader


def reopen_slice(
    location: str, mmap: bool, storage_options: dict[str, Any] | None, name: str, verify: bool, copy: bool
) -> LazyTensor:
    """An unpickled LazyTensor: ``name`` of this process's shared reader of ``location``."""
    return shared_reader(location, mmap, storage_options).get_slice(name, verify=verify, copy=copy)
