"""``.npz``: NumPy's zip of ``.npy`` members, read and written one member at a time.

Writing streams: each tensor goes through ``numpy.lib.format.write_array`` straight into
its zip member (NumPy writes a contiguous array in 16 MiB chunks), so nothing but the
current tensor is in memory. Reading uses ``numpy.load``, one member per ``read``.
Only NumPy's own dtypes are stored: an ``.npy`` header cannot name ml_dtypes' types
(``numpy.load`` would return raw void bytes) and object arrays would need pickle.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._base import Source, Target, TensorMeta, dtype_name, is_plain_numpy, temp_path

SUFFIX = ".npy"


class NpzSource(Source):
    format = "npz"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._npz: Any = np.load(self.path, allow_pickle=False)

    def tensors(self) -> list[TensorMeta]:
        out = []
        for member in self._npz.zip.namelist():
            if not member.endswith(SUFFIX):
                continue
            name = member[: -len(SUFFIX)]
            with self._npz.zip.open(member) as f:  # the .npy header only, not the data
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                else:  # no public header reader for later versions: read the member
                    array = self._npz[name]
                    shape, dtype = array.shape, array.dtype
            out.append(TensorMeta(name, dtype, tuple(shape)))
        return out

    def read(self, name: str) -> np.ndarray:
        return self._npz[name]

    def close(self) -> None:
        self._npz.close()


class NpzTarget(Target):
    format = "npz"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._tmp = temp_path(self.path)
        self._zip = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def cannot_store(self, name: str, dtype: Any) -> str | None:
        if not is_plain_numpy(dtype):
            return f".npz holds NumPy's own dtypes only, not {dtype_name(dtype)}"
        if "\0" in name:  # zipfile cuts member names at a NUL
            return "a name with a NUL byte cannot be a zip member name"
        return None

    def add(self, name: str, array: np.ndarray, tf_dtype: str | None = None) -> None:
        with self._zip.open(name + SUFFIX, "w", force_zip64=True) as member:
            np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)

    def finish(self, before_commit: Callable[[], None] = lambda: None) -> None:
        self._zip.close()
        before_commit()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._zip.close()
        self._tmp.unlink(missing_ok=True)
