"""Partial reads: ``reader.get_slice(name)[10:20]`` reads only the bytes that region needs.

NumPy basic indexing (integers, slices with any step, ``...``, ``None``) is turned into one
box ``[start, stop)`` per dimension, which the C++ core reads: a contiguous region of one
stored tensor is a zero-copy view, anything else copies just that region, and for a
partitioned tensor only the stored slices that intersect the box are touched. Steps other
than 1 are applied afterwards to the box's bounding array.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from ._reader import Reader, TensorInfo

_INDEX_TYPES = "only integers, slices (`:`), ellipsis (`...`) and numpy.newaxis (`None`) are valid indices"


class LazyTensor:
    """A tensor of an open checkpoint, read lazily one region at a time.

    Index it like a NumPy array; each indexing reads only that region. Results follow
    ``load``: read-only (a view where possible) unless ``copy=True``, which gives owned,
    writable arrays; ``verify=True`` checks the CRC32C of every stored piece read (for an
    ordinary tensor that is the whole tensor, since its checksum covers all of it).

    A LazyTensor pickles as (location, options, name) and reopens the checkpoint where
    it is unpickled.

    Example:
        >>> with bundlefast.open("ckpt-1") as r:
        ...     rows = r.get_slice("embedding")[1000:1010]   # 10 rows, nothing else read
    """

    def __init__(self, reader: Reader, info: TensorInfo, *, verify: bool = False, copy: bool = False) -> None:
        self._reader = reader
        self._verify = verify
        self._copy = copy
        self.name: str = info.name
        self.shape: tuple[int, ...] = tuple(info.shape)
        self.dtype: Any = info.dtype  # None for variant (read as object arrays of bytes)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            msg = "len() of unsized object"
            raise TypeError(msg)
        return self.shape[0]

    def __reduce__(self) -> tuple[Any, ...]:
        # (location, options, name): unpickled in another process (a Dask worker, a
        # spawned DataLoader worker) it reopens the checkpoint there, sharing one Reader
        # per process; no array data travels.
        from ._reader import reopen_slice

        r = self._reader
        return (reopen_slice, (r.location, r.mmap, r.storage_options, self.name, self._verify, self._copy))

    def __repr__(self) -> str:
        return f"<bundlefast.LazyTensor {self.name!r} shape={self.shape} dtype={self.dtype}>"

    def __getitem__(self, key: Any) -> np.ndarray:
        start, stop, out_shape, post = _plan(key, self.shape)
        array = self._reader.read_region(self.name, start, stop, shape=out_shape, verify=self._verify, copy=self._copy)
        if post is None:
            return array
        array = array[post]
        return array.copy() if self._copy else array

    def read(self, start: list[int], stop: list[int]) -> np.ndarray:
        """The box ``[start[d], stop[d])`` of every dimension ``d``, as an array of shape
        ``stop - start``."""
        return self._reader.read_region(self.name, list(start), list(stop), verify=self._verify, copy=self._copy)


def _plan(key: Any, shape: tuple[int, ...]) -> tuple[list[int], list[int], list[int], tuple[Any, ...] | None]:
    """Basic index -> (start, stop, shape of the box's result, step index to apply after or None).

    Integers drop their dimension and ``None`` adds one, both through the result shape
    (so the core returns them directly, a view when possible). Bounds and messages follow
    NumPy.
    """
    if not isinstance(key, tuple):
        key = (key,)
    n_ellipsis = sum(1 for k in key if k is Ellipsis)
    if n_ellipsis > 1:
        msg = "an index can only have a single ellipsis ('...')"
        raise IndexError(msg)
    n_dims = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_dims > len(shape):
        msg = f"too many indices for tensor: tensor is {len(shape)}-dimensional, but {n_dims} were indexed"
        raise IndexError(msg)
    fill = (slice(None),) * (len(shape) - n_dims)
    if n_ellipsis:
        at = key.index(Ellipsis)
        key = key[:at] + fill + key[at + 1 :]
    else:
        key = key + fill

    start: list[int] = []
    stop: list[int] = []
    out_shape: list[int] = []
    post: list[Any] = []
    stepped = False
    axis = 0
    for k in key:
        if k is None:
            out_shape.append(1)
            post.append(slice(None))
            continue
        size = shape[axis]
        if isinstance(k, slice):
            r = range(*k.indices(size))
            if len(r) == 0:
                lo = hi = 0
            else:
                lo, hi = min(r[0], r[-1]), max(r[0], r[-1]) + 1
            start.append(lo)
            stop.append(hi)
            out_shape.append(hi - lo)
            if r.step == 1 or len(r) <= 1:
                post.append(slice(None))
            else:
                stepped = True
                end = r[-1] - lo + (1 if r.step > 0 else -1)
                post.append(slice(r[0] - lo, None if end < 0 else end, r.step))
        else:
            if isinstance(k, bool) or (hasattr(k, "dtype") and getattr(k, "dtype", None) == bool):
                raise IndexError(_INDEX_TYPES)
            try:
                i = operator.index(k)
            except TypeError:
                raise IndexError(_INDEX_TYPES) from None
            if not -size <= i < size:
                msg = f"index {i} is out of bounds for axis {axis} with size {size}"
                raise IndexError(msg)
            i %= size
            start.append(i)
            stop.append(i + 1)
        axis += 1
    return start, stop, out_shape, tuple(post) if stepped else None
