"""Dask arrays over a checkpoint: each chunk is one region read, done where it is computed.

    import bundlefast.dask
    table = bundlefast.dask.from_bundle("s3://bucket/run/ckpt-9", "embedding/table")
    table[[3, 17, 99]].compute()            # reads those rows' chunks only
    table.sum(axis=0).compute()             # every chunk once, on the cluster's workers

The task graph holds a :class:`~bundlefast.LazyTensor`, which pickles as (location,
options, name): a worker reopens the checkpoint itself (one shared reader per process)
and reads each chunk's bytes with ``get_slice`` -- from a local file, or by ranged
requests for a URL. No array data is in the graph. Partitioned tensors work: a chunk
touches only the stored slices it intersects.

Needs the ``dask`` extra (``pip install 'bundlefast[dask]'``; ``dask[distributed]`` for
clusters).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ._reader import shared_reader
from .errors import UnsupportedError

__all__ = ["from_bundle", "load"]


def _dask_array() -> Any:
    from ._frameworks import require

    return require("dask.array", "dask", "bundlefast.dask")


def from_bundle(
    location: str | os.PathLike[str],
    name: str,
    *,
    chunks: Any = "auto",
    storage_options: dict[str, Any] | None = None,
    mmap: bool = True,
    verify: bool = False,
) -> Any:
    """Tensor ``name`` of the checkpoint at ``location`` as a lazy ``dask.array.Array``.

    Args:
        location: anything :func:`bundlefast.open` takes: a prefix, file or directory,
            or an fsspec URL.
        name: the tensor's key (ordinary or partitioned).
        chunks: as for ``dask.array.from_array`` (``"auto"``: about dask's
            ``array.chunk-size``, 128 MiB by default).
        storage_options: for URLs, passed to fsspec on every worker.
        mmap: each worker maps local shards and a chunk is a zero-copy view of the
            mapping (page cache, not worker heap), whose pages leave the worker's RSS
            when the chunk is dropped. ``mmap=False`` reads each chunk with
            ``pread`` into owned memory: for network filesystems, where page faults are
            slow. URLs are always read into owned memory.
        verify: check the CRC32C of each stored piece a chunk reads (for an ordinary
            tensor that reads the whole tensor per chunk: meant for small tensors).

    Raises:
        UnsupportedError: a DT_VARIANT tensor (no array dtype).
        TensorNotFoundError, FileNotFoundError, ...: as :func:`bundlefast.open`.
    """
    da = _dask_array()
    from dask.base import tokenize

    reader = _reader(location, mmap, storage_options)
    lazy = reader.get_slice(name, verify=verify)
    if lazy.dtype is None:
        msg = f"{reader.prefix}: {name!r} is a DT_VARIANT tensor, which has no array dtype for dask"
        raise UnsupportedError(msg)
    import numpy as np

    token = tokenize(reader.location, name, mmap, storage_options, verify, chunks, reader.info(name))
    return da.from_array(
        lazy,
        chunks=chunks,
        name=f"bundlefast-{token}",
        lock=False,
        asarray=False,
        fancy=False,
        meta=np.empty((0,) * lazy.ndim, dtype=lazy.dtype),
    )


def load(
    location: str | os.PathLike[str],
    names: Iterable[str] | None = None,
    *,
    chunks: Any = "auto",
    storage_options: dict[str, Any] | None = None,
    mmap: bool = True,
    verify: bool = False,
) -> dict[str, Any]:
    """``{name: dask array}`` for ``names`` (all tensors with an array dtype by default;
    variants are left out then). Arguments as for :func:`from_bundle`."""
    reader = _reader(location, mmap, storage_options)
    if names is None:
        names = [n for n in reader if reader.info(n).tf_dtype != "variant"]
    options = {"chunks": chunks, "storage_options": storage_options, "mmap": mmap, "verify": verify}
    return {n: from_bundle(reader.location, n, **options) for n in names}


def _reader(location: str | os.PathLike[str], mmap: bool, storage_options: dict[str, Any] | None) -> Any:
    from ._sources import is_url

    where = location if is_url(location) else os.path.abspath(os.fspath(location))
    return shared_reader(str(where), mmap, storage_options)
