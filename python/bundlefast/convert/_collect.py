"""Holding every tensor for a writer that takes them all in one call, in mapped memory.

``safetensors``' ``serialize_file`` and ``torch.save`` need the whole dict of tensors at
once (a safetensors header lists every tensor before the first byte of data; a torch
file is one pickle). Arrays that already live in a file mapping (bundle views, memmaps)
are held as they are: they cost page cache, not anonymous memory. Any other array (a
cast, an assembled partitioned variable, a tensor read into memory) is appended to one
unlinked scratch file next to the destination and held as a view of that file. So the
anonymous memory of a conversion stays near the largest tensor, not the checkpoint.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._base import Target, is_file_backed, temp_path

# Arrays up to this many bytes stay in memory (up to SMALL_TOTAL in all): spilling a
# scalar to a file and mapping it back would cost more than it saves.
SMALL = 64 * 1024
SMALL_TOTAL = 64 * 1024 * 1024
ALIGN = 64


class MappedCollection:
    """An ordered ``{name: array}`` whose arrays are file-backed or small."""

    def __init__(self, near: Path) -> None:
        self._dir = near.parent if str(near.parent) else Path(".")
        self._held: dict[str, Any] = {}  # name -> array, or (offset, dtype, shape) in the scratch file
        self._small_total = 0
        self._scratch: Any = None
        self._map: mmap.mmap | None = None

    def add(self, name: str, array: np.ndarray) -> None:
        if is_file_backed(array) or (array.nbytes <= SMALL and self._small_total + array.nbytes <= SMALL_TOTAL):
            if not is_file_backed(array):
                self._small_total += array.nbytes
            self._held[name] = array
            return
        if self._scratch is None:
            # unlinked at once: the OS reclaims it however this process ends
            self._scratch = tempfile.TemporaryFile(prefix=".bundlefast-convert-", dir=self._dir)  # noqa: SIM115
        offset = -self._scratch.tell() % ALIGN + self._scratch.tell()
        self._scratch.seek(offset)
        np.ascontiguousarray(array).tofile(self._scratch)
        self._held[name] = (offset, array.dtype, array.shape)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every tensor added, in order; spilled ones as read-only views of the scratch file."""
        if self._scratch is not None and self._map is None:
            self._scratch.flush()
            self._map = mmap.mmap(self._scratch.fileno(), 0, access=mmap.ACCESS_READ)
        out: dict[str, np.ndarray] = {}
        for name, held in self._held.items():
            if isinstance(held, tuple):
                offset, dtype, shape = held
                count = int(np.prod(shape, dtype=np.int64))
                out[name] = np.frombuffer(self._map, dtype=dtype, count=count, offset=offset).reshape(shape)
            else:
                out[name] = held
        return out

    def close(self) -> None:
        """Drop the scratch file (arrays returned by ``arrays`` must be gone by now)."""
        self._held.clear()
        if self._map is not None:
            with contextlib.suppress(BufferError):  # a caller still holds a view: the mapping goes with it
                self._map.close()
            self._map = None
        if self._scratch is not None:
            self._scratch.close()
            self._scratch = None


class CollectingTarget(Target):
    """A Target whose library writes every tensor in one call (``write``), given the
    tensors held in a MappedCollection; the file appears at ``path`` only when complete."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._held = MappedCollection(self.path)

    def write(self, arrays: dict[str, np.ndarray], path: Path) -> None:
        raise NotImplementedError

    def add(self, name: str, array: np.ndarray, tf_dtype: str | None = None) -> None:
        self._held.add(name, array)

    def finish(self, before_commit: Callable[[], None] = lambda: None) -> None:
        tmp = temp_path(self.path)
        try:
            self.write(self._held.arrays(), tmp)
            before_commit()
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
            self._held.close()

    def abort(self) -> None:
        self._held.close()
