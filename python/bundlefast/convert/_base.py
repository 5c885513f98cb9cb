"""What every format module of ``bundlefast.convert`` provides: a Source and a Target.

A Source lists its tensors from metadata alone (name, dtype, shape) and reads one tensor
at a time; a Target takes one tensor at a time. ``convert`` moves tensors from one to the
other without ever holding the whole checkpoint, so each format module only has to know
its own file layout (through the library that owns it).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TensorMeta:
    """Name, dtype and shape of one tensor, known before its bytes are read."""

    name: str
    dtype: Any  # numpy dtype; None when NumPy has no equivalent (TF variant)
    shape: tuple[int, ...]
    tf_dtype: str | None = None  # a bundle's own dtype name ("qint8", "variant"); None elsewhere

    @property
    def nbytes(self) -> int:
        """Bytes of the value in memory (0 for object arrays, whose size is unknown)."""
        if self.dtype is None or self.dtype.kind == "O":
            return 0
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


class Check:
    """Checksums of a source being verified while a conversion runs (see Source.check)."""

    def wait(self) -> None:
        """Block until done; raise what the verification found (ChecksumError, ...)."""


class Source:
    """A checkpoint file read one tensor at a time. Use as a context manager."""

    format: str = ""

    def tensors(self) -> list[TensorMeta]:
        raise NotImplementedError

    def read(self, name: str) -> np.ndarray:
        """One tensor, its stored checksum verified (for formats that store one) unless
        a running ``check`` covers it."""
        raise NotImplementedError

    def check(self, names: list[str]) -> Check:
        """Start verifying the stored checksums of ``names`` (the order they will be
        read in), alongside the reads; ``run`` waits for it before committing the
        target. Formats without checksums (or that check them while reading) do nothing."""
        return Check()

    def close(self) -> None:
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Target:
    """A checkpoint file written one tensor at a time.

    ``add`` each tensor, then ``finish`` to commit; ``abort`` leaves no partial file.
    """

    format: str = ""

    def cannot_store(self, name: str, dtype: Any) -> str | None:
        """Why this format cannot hold tensor ``name`` of ``dtype`` (None when it can)."""
        raise NotImplementedError

    def add(self, name: str, array: np.ndarray, tf_dtype: str | None = None) -> None:
        """Write one tensor; ``tf_dtype`` is the source bundle's dtype name, for targets
        that can keep it (a bundle keeps qint8 and variant tensors as they were)."""
        raise NotImplementedError

    def finish(self, before_commit: Callable[[], None] = lambda: None) -> None:
        """Write what is left and commit. ``before_commit`` runs last before the file
        appears (after the bytes are written, where a target writes at the end) and may
        raise to stop it: ``run`` passes the source's checksum check, so that a writer
        taking every tensor at once (safetensors, torch) overlaps it."""
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


def temp_path(path: Path) -> Path:
    """Where a target writes before renaming to ``path`` (same directory, so the rename
    is atomic; hidden, and per process)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def dtype_name(dtype: Any) -> str:
    """A dtype as users write it (``float32``, ``bfloat16``, ``string``, ``variant``)."""
    if dtype is None:
        return "variant"
    if dtype.kind == "O":
        return "string"
    return str(dtype.name)


def numpy_dtype(name: str) -> np.dtype:
    """The dtype called ``name`` in NumPy, else in ml_dtypes (``bfloat16``, ``float8_e5m2``)."""
    try:  # not hasattr(np, name): np.bool is a deprecated alias (a warning) in NumPy 1.x
        return np.dtype(name)
    except TypeError:
        pass
    import ml_dtypes

    return np.dtype(getattr(ml_dtypes, name))


def is_plain_numpy(dtype: Any) -> bool:
    """True for NumPy's own numeric and bool dtypes (not object, not ml_dtypes' types)."""
    # The scalar type's module, not the dtype class's: under NumPy 1.x every dtype class,
    # ml_dtypes' too, lives in `numpy`, and ml_dtypes.float8_e5m2 even has kind 'f'.
    return dtype is not None and dtype.kind in "biufc" and dtype.type.__module__.startswith("numpy")


def is_file_backed(array: np.ndarray) -> bool:
    """True when ``array``'s memory is a file mapping (page cache), not anonymous memory.

    Bundle views end in the core's mapped shard; ``np.memmap`` and ``mmap`` count too.
    Targets that must hold every tensor until one final write (safetensors, torch.save)
    use this to keep only mapped memory alive.
    """
    obj: Any = array
    for _ in range(64):  # a base chain is short; the bound only guards against cycles
        if isinstance(obj, (mmap.mmap, np.memmap)) or type(obj).__name__ == "MappedFile":
            return True
        nxt = obj.obj if isinstance(obj, memoryview) else getattr(obj, "base", None)
        if nxt is None:
            return False
        obj = nxt
    return False
