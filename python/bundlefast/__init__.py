"""bundlefast: read TensorFlow checkpoints (V2 tensor bundles) fast, without TensorFlow.

Quick start::

    import bundlefast
    tensors = bundlefast.load("model/ckpt-1")          # {name: read-only ndarray}
    with bundlefast.open("model/ckpt-1") as reader:    # lazy Mapping name -> ndarray
        print(reader.info("dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"))
        reader.verify()                                # check every CRC32C
    weights = bundlefast.load_friendly("model/ckpt-1") # {"model/dense/kernel": ndarray}
    reader = bundlefast.load_checkpoint("model")       # drop-in for tf.train.load_checkpoint

Arrays are zero-copy views over the memory-mapped data shards (read-only;
``copy=True`` gives owned, writable, aligned arrays). A view keeps its shard
mapped for as long as it lives, also after the reader is closed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

try:
    from . import _core
except ImportError as err:  # pragma: no cover - only on a broken install
    msg = (
        "bundlefast's C++ extension (bundlefast._core) is missing or does not load; "
        "build it with `pip install .` from a source checkout"
    )
    raise ImportError(msg) from err

from . import compat, errors, meta
from ._hints import close_names, did_you_mean, name_list
from ._prefix import resolve_prefix
from ._reader import Reader, TensorInfo
from ._restore import RestoreError, RestoreReport, restore
from ._slicing import LazyTensor
from ._state_file import update_checkpoint_state
from .errors import (
    BundleError,
    ChecksumError,
    CorruptionError,
    InvalidArgumentError,
    TensorNotFoundError,
    UnsupportedError,
)

from .compat import (
    CheckpointReader,
    checkpoints_iterator,
    get_checkpoint_state,
    latest_checkpoint,
    list_variables,
    load_checkpoint,
    load_variable,
)

if TYPE_CHECKING:
    import numpy as np

    from ._writer import Writer, save

# Imported on first use: the writer needs NumPy at import, and `import bundlefast`
# must stay cheap for a process that only reads (the time-to-first-tensor budget).
_LAZY = {"Writer": "._writer", "save": "._writer"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bundlefast' has no attribute {name!r}")

__version__: str = _core.__version__

crc32c = _core.crc32c
masked_crc32c = _core.masked_crc32c
mask_crc32c = _core.mask_crc32c
unmask_crc32c = _core.unmask_crc32c

__all__ = [
    "BundleError",
    "CheckpointReader",
    "ChecksumError",
    "CorruptionError",
    "InvalidArgumentError",
    "LazyTensor",
    "Reader",
    "RestoreError",
    "RestoreReport",
    "TensorInfo",
    "TensorNotFoundError",
    "UnsupportedError",
    "Writer",
    "__version__",
    "checkpoints_iterator",
    "compat",
    "crc32c",
    "errors",
    "get_checkpoint_state",
    "latest_checkpoint",
    "list_variables",
    "load",
    "load_checkpoint",
    "load_friendly",
    "load_variable",
    "mask_crc32c",
    "masked_crc32c",
    "meta",
    "open",
    "release_memory",
    "resolve_prefix",
    "restore",
    "save",
    "unmask_crc32c",
    "update_checkpoint_state",
]


def open(  # noqa: A001 - the API name is the point
    prefix: str | os.PathLike[str], *, mmap: bool = True, storage_options: dict[str, Any] | None = None
) -> Reader:
    """Open a checkpoint lazily: a read-only Mapping of name -> array, and a context manager.

    Args:
        prefix: the checkpoint prefix, a ``P.index``/``P.data-…`` path, a directory with a
            ``checkpoint`` state file or a single bundle, or a SavedModel directory; or
            any of those as an fsspec URL (``s3://bucket/run/ckpt-1``, ``gs://...``,
            ``memory://...``, ``simplecache::s3://...``; needs ``bundlefast[remote]``):
            then only the index, and later the byte ranges of what is read, are fetched.
        mmap: map the data shards (the default: arrays can be zero-copy views). With
            ``mmap=False`` shards are read with ``pread`` into owned arrays and never
            mapped: for network filesystems, and files that may change underneath.
        storage_options: for URLs, passed to fsspec (credentials, endpoint, ...).

    Raises:
        FileNotFoundError: no checkpoint there (the message lists what was found).
        CorruptionError / ChecksumError: the index is damaged.
        UnsupportedError: a V1 checkpoint or a newer format version.

    Example:
        >>> with bundlefast.open("ckpt-1") as r:
        ...     for name in r: print(name, r.info(name).shape)
    """
    return Reader(prefix, mmap=mmap, storage_options=storage_options)


def load(
    prefix: str | os.PathLike[str],
    *,
    names: Iterable[str] | None = None,
    verify: bool = False,
    copy: bool = False,
    mmap: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Read tensors of a checkpoint into ``{name: numpy array}``.

    Args:
        prefix: as for :func:`open`.
        names: only these tensors (nothing else is read); all by default.
        verify: check each returned tensor's CRC32C (and both string checksums);
            this reads every byte, so it costs what a checksum of the data costs.
        copy: return owned, writable, aligned arrays instead of read-only views.
            From 64 MiB of copies in one call, they share one block of fresh memory
            (allocated and faulted in at once: faster than an allocation per tensor
            at that size; smaller loads reuse what the allocator holds); it is
            released when the last of them dies, so keeping one tensor keeps the whole
            block; ``array.copy()`` gives a tensor memory of its own. A released
            block is kept for the next load it fits (see :func:`release_memory`).
        mmap: as for :func:`open`; with ``mmap=False`` every array is owned (read-only
            unless ``copy=True``).
        storage_options: as for :func:`open`. From a URL, the byte ranges of the
            requested tensors are fetched concurrently (close ones as one request), and
            every array is owned; a failed or short fetch raises ``BundleOSError`` naming
            the URL and the range, and nothing is returned.

    Returns:
        A dict of arrays. Scalars are 0-d arrays; string tensors are object arrays
        of ``bytes``. Views stay valid after the call: each keeps its shard mapped.
        A view reads the file when it is used, so touching it after the shard file
        was truncated raises SIGBUS in NumPy. With ``copy=True`` every byte is read
        here and nothing is a view: a truncated shard raises ``BundleOSError`` (EIO).

    Raises:
        TensorNotFoundError: a name in ``names`` is not in the checkpoint.
        ChecksumError: with ``verify=True``, a tensor's bytes do not match their CRC.
        CorruptionError, UnsupportedError, FileNotFoundError: see :func:`open`.

    Example:
        >>> w = bundlefast.load("ckpt-1", names=["w"], verify=True)["w"]
    """
    with Reader(prefix, mmap=mmap, storage_options=storage_options) as reader:
        return reader.load(names, verify=verify, copy=copy)


def release_memory() -> int:
    """Free the block of memory bundlefast keeps for reuse; return its size in bytes.

    When the last array of a ``copy=True`` load of 64 MiB or more dies, its block
    is not given back to the system but kept (one block at most) for the next load
    it fits, which then skips the kernel's zeroing and mapping of fresh pages: as
    TensorFlow's and glibc's allocators keep freed memory. So a process may hold
    up to the bound after every array died; the kernel may take the pages back
    under memory pressure (``MADV_FREE``). The bound is ``min(1 GiB, 1/8 of
    physical memory)``, or the environment variable
    ``BUNDLEFAST_ARENA_CACHE_BYTES`` (bytes, read at the first load; ``0`` keeps
    nothing).

    Example:
        >>> del tensors
        >>> bundlefast.release_memory()
        442499072
    """
    return _core.release_memory()


def load_friendly(
    prefix: str | os.PathLike[str],
    *,
    names: Iterable[str] | None = None,
    include_slots: bool = False,
    verify: bool = False,
    copy: bool = False,
    mmap: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Like :func:`load`, but keyed by friendly names (see :meth:`Reader.friendly_names`).

    A TF2 key such as ``model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE`` becomes
    ``model/dense/kernel``. An optimizer slot becomes ``model/dense/kernel@optimizer/m``.
    Name-based (TF1) checkpoints keep their keys, which already are variable names.

    Args:
        prefix: as for :func:`open`.
        names: only these friendly names (slot names included); all by default.
        include_slots: when ``names`` is None, also return optimizer slot variables.
        verify, copy, mmap, storage_options: as for :func:`load`.

    Returns:
        ``{friendly name: array}``. Tensors without a friendly name (the object graph
        itself, tensors the graph does not describe) are left out: use :func:`load`.

    Raises:
        TensorNotFoundError: a name in ``names`` is not a friendly name of the checkpoint.
        CorruptionError: the object graph does not decode. Otherwise as :func:`load`.

    Example:
        >>> weights = bundlefast.load_friendly("ckpt-1")
        >>> weights["model/dense/kernel"].shape
    """
    with Reader(prefix, mmap=mmap, storage_options=storage_options) as reader:
        asked = name_list(names, "load_friendly")
        every = reader.friendly_names(include_slots=include_slots or asked is not None)
        if asked is None:
            wanted = every
        else:
            wanted = {}
            for name in asked:
                if name not in every:
                    msg = f"{name!r} is not a friendly name in {reader.prefix} (Reader.friendly_names() lists them)"
                    if name in reader:
                        msg += f"; it is a tensor key: bundlefast.load(prefix, names=[{name!r}]) takes keys"
                    raise TensorNotFoundError(msg + did_you_mean(close_names(name, every)))
                wanted[name] = every[name]
        arrays = reader.load(list(wanted.values()), verify=verify, copy=copy)
        return {name: arrays[key] for name, key in wanted.items()}


def __dir__() -> list[str]:
    return list(__all__)
