"""``.safetensors``: written with safetensors' own writer, read with its ``safe_open``.

safetensors' writer cannot stream: ``serialize_file`` takes every tensor in one call,
because the header (names, dtypes, offsets) comes before the first data byte. It takes
them by pointer, though (``TensorSpec``; safetensors 0.8 copies nothing on the Python
side), so the tensors are collected in mapped memory (``_collect``): views of the
bundle's shards as they are, anything computed (casts, assembled partitions) in a
scratch file. ``benchmarks/bench_cli.py`` measures the peak RSS this gives.

Reading: ``safe_open(..., framework="numpy")`` one tensor at a time. Its NumPy backend
cannot build float8 arrays (it looks for ``numpy.float8_*``), so those few dtypes are
read as a ``numpy.memmap`` of the tensor's bytes at the offsets the header gives.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._base import Source, TensorMeta, dtype_name, numpy_dtype
from ._collect import CollectingTarget
from .._frameworks import require

# safetensors dtype code -> dtype name (NumPy's or ml_dtypes'); what serialize_file takes.
_DTYPES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16",
    "U32": "uint32", "I32": "int32", "U64": "uint64", "I64": "int64",
    "F16": "float16", "F32": "float32", "F64": "float64", "BF16": "bfloat16", "C64": "complex64",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
    "F8_E4M3FNUZ": "float8_e4m3fnuz", "F8_E5M2FNUZ": "float8_e5m2fnuz",
}  # fmt: skip
_STORABLE = frozenset(_DTYPES.values())


class SafetensorsSource(Source):
    format = "safetensors"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        library = require("safetensors", "safetensors", "reading .safetensors files")
        self._file = library.safe_open(str(self.path), framework="numpy")
        self._meta: dict[str, tuple[str, tuple[int, ...]]] = {}
        for name in self._file.keys():  # noqa: SIM118 - a safe_open handle, not a dict
            view = self._file.get_slice(name)
            self._meta[name] = (view.get_dtype(), tuple(view.get_shape()))

    def tensors(self) -> list[TensorMeta]:
        return [TensorMeta(n, numpy_dtype(_DTYPES[code]) if code in _DTYPES else None, shape)
                for n, (code, shape) in self._meta.items()]  # fmt: skip

    def read(self, name: str) -> np.ndarray:
        code, shape = self._meta[name]
        if not _DTYPES.get(code, "").startswith("float8"):
            return self._file.get_tensor(name)
        # safe_open validated the header; take this tensor's offsets from it.
        with self.path.open("rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            begin, _ = json.loads(f.read(header_len))[name]["data_offsets"]
        return np.memmap(self.path, dtype=numpy_dtype(_DTYPES[code]), mode="r", offset=8 + header_len + begin, shape=shape)

    def close(self) -> None:
        self._file.__exit__(None, None, None)


class SafetensorsTarget(CollectingTarget):
    format = "safetensors"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        require("safetensors.numpy", "safetensors", "writing .safetensors files")
        super().__init__(path)

    def cannot_store(self, name: str, dtype: Any) -> str | None:
        if dtype is not None and dtype.kind != "O" and dtype.name in _STORABLE:
            return None
        return f"safetensors has no {dtype_name(dtype)} type"

    def write(self, arrays: dict[str, np.ndarray], path: Path) -> None:
        from safetensors.numpy import save_file

        save_file(arrays, str(path))
