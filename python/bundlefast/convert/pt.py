"""``.pt``: a PyTorch state dict, written with ``torch.save`` and read with ``torch.load``.

``torch.save`` pickles the whole dict in one call, so the tensors are collected first,
in mapped memory (``_collect``): ``torch.from_numpy`` shares the array's memory, so a
view of a bundle shard stays a view. Reading uses ``torch.load(mmap=True,
weights_only=True)``: tensors stay in the file until each is converted.

NumPy cannot hold torch's bfloat16 and float8 natively, and torch cannot wrap
ml_dtypes arrays: those go through an unsigned integer view of the same bits.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UnsupportedError
from ._base import Source, TensorMeta, dtype_name, numpy_dtype
from ._collect import CollectingTarget
from .._frameworks import require

# dtype names torch and NumPy (or ml_dtypes) share; torch.<name> is the torch dtype.
_SHARED = (
    "bool", "uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
    "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
)  # fmt: skip
# unsigned types torch has (and saves, and takes from NumPy) from 2.3 on
_SINCE_2_3 = ("uint16", "uint32", "uint64")
# ml_dtypes types, handed to torch as the unsigned integer of their width
_BITS = {"bfloat16": "uint16", "float8_e4m3fn": "uint8", "float8_e5m2": "uint8",
         "float8_e4m3fnuz": "uint8", "float8_e5m2fnuz": "uint8"}  # fmt: skip


def _torch(purpose: str) -> Any:
    return require("torch", "torch", purpose)


def to_torch(torch: Any, array: np.ndarray) -> Any:
    """A torch tensor sharing ``array``'s memory (read-only arrays included)."""
    name = array.dtype.name
    if array.size == 0:
        # an empty view shares its address with the next tensor in the shard, and
        # torch.save refuses two storages at one address with different dtypes
        return torch.empty(array.shape, dtype=getattr(torch, name))
    with warnings.catch_warnings():
        # from_numpy warns that writes through the tensor would reach a read-only
        # array; nothing writes here, torch.save only reads.
        warnings.simplefilter("ignore", UserWarning)
        if name in _BITS:
            return torch.from_numpy(array.view(_BITS[name])).view(getattr(torch, name))
        return torch.from_numpy(array)


def to_numpy(tensor: Any) -> np.ndarray:
    """A NumPy array sharing ``tensor``'s memory (``bundlefast.torch``'s integer-view trick
    for bfloat16 and float8)."""
    from ..torch import numpy_destination

    array, what = numpy_destination(tensor.detach().cpu().contiguous())
    if array is None:
        msg = f"cannot convert a {what} tensor to NumPy"
        raise UnsupportedError(msg)
    return array


class TorchSource(Source):
    format = "pt"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        torch = _torch("reading .pt files")
        try:
            state = torch.load(self.path, map_location="cpu", mmap=True, weights_only=True)
        except RuntimeError:  # a file in torch's legacy (pre-zip) format cannot be mapped
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        self._tensors: dict[str, Any] = {}
        self.skipped: list[str] = []
        self._flatten(torch, "", state)

    def _flatten(self, torch: Any, prefix: str, value: Any) -> None:
        """Nested dicts ({"model": {...}}) become dotted names, as in a state dict."""
        if isinstance(value, Mapping):
            for key, item in value.items():
                self._flatten(torch, f"{prefix}{key}" if not prefix else f"{prefix}.{key}", item)
        elif isinstance(value, torch.Tensor):
            self._tensors[prefix] = value
        else:
            self.skipped.append(prefix)

    def tensors(self) -> list[TensorMeta]:
        out = []
        for name, t in self._tensors.items():
            dtype = str(t.dtype).removeprefix("torch.")
            out.append(TensorMeta(name, numpy_dtype(dtype) if dtype in _SHARED else None, tuple(t.shape)))
        return out

    def read(self, name: str) -> np.ndarray:
        return to_numpy(self._tensors[name])


class TorchTarget(CollectingTarget):
    format = "pt"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._torch = _torch("writing .pt files")
        super().__init__(path)

    def cannot_store(self, name: str, dtype: Any) -> str | None:
        if dtype is not None and dtype.kind != "O" and dtype.name in _SHARED and hasattr(self._torch, dtype.name):
            return None
        if dtype is not None and dtype.name in _SINCE_2_3:
            # the torch extra asks for torch>=2.1 (bundlefast.torch needs no more)
            return f"torch {self._torch.__version__} has no {dtype.name} type (torch>=2.3 has)"
        return f"torch has no {dtype_name(dtype)} type"

    def write(self, arrays: dict[str, np.ndarray], path: Path) -> None:
        self._torch.save({name: to_torch(self._torch, a) for name, a in arrays.items()}, path)
