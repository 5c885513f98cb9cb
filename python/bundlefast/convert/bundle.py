"""TensorFlow bundles (``P.index`` + ``P.data-*``): read with ``bundlefast.open``, written
with ``bundlefast.Writer``, one tensor at a time.

Reading hands out zero-copy views of the mapped shards; a partitioned variable comes
out assembled, under its full name and shape, as ``tf.train.load_checkpoint`` shows it.
With ``friendly=True`` TF2 keys are replaced by their object-graph paths
(``model/dense/kernel`` for ``model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE``, slots as
``...@optimizer/m``) and tensors without one (the object graph itself) are left out.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._base import Source, Target, TensorMeta


class BundleSource(Source):
    format = "bundle"

    def __init__(self, prefix: str | os.PathLike[str], *, friendly: bool = False) -> None:
        import bundlefast

        self._reader = bundlefast.open(prefix)
        self.path = self._reader.prefix
        if friendly:
            self._keys = self._reader.friendly_names(include_slots=True)
        else:
            self._keys = {name: name for name in self._reader}

    def tensors(self) -> list[TensorMeta]:
        out = []
        for name, key in self._keys.items():
            info = self._reader.info(key)
            out.append(TensorMeta(name, info.dtype, tuple(info.shape), info.tf_dtype))
        return out

    def read(self, name: str) -> np.ndarray:
        return self._reader[self._keys[name]]

    def close(self) -> None:
        self._reader.close()


class BundleTarget(Target):
    format = "bundle"

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        import bundlefast

        self._writer = bundlefast.Writer(prefix)

    def cannot_store(self, name: str, dtype: Any) -> str | None:
        return None  # every dtype a source can hold; variants come only from bundles

    def add(self, name: str, array: np.ndarray, tf_dtype: str | None = None) -> None:
        self._writer.add(name, array, dtype=tf_dtype)

    def finish(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.abort()
