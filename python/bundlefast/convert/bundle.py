"""TensorFlow bundles (``P.index`` + ``P.data-*``): read with ``bundlefast.open``, written
with ``bundlefast.Writer``, one tensor at a time.

Reading hands out zero-copy views of the mapped shards; a partitioned variable comes
out assembled, under its full name and shape, as ``tf.train.load_checkpoint`` shows it.
With ``friendly=True`` TF2 keys are replaced by their object-graph paths
(``model/dense/kernel`` for ``model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE``, slots as
``...@optimizer/m``) and tensors without one (the object graph itself) are left out.

Checksums: a conversion verifies every tensor it reads (``check``). The views a
conversion hands to a writer are verified on a thread of their own, in the order the
writer reads them: the core's threaded CRC pass runs ahead of the writer and faults the
shard's pages in as it goes, so the writer (safetensors' ``serialize_file``, a write()
from the mapping) copies from resident pages instead of taking the page faults inside
its write calls, which cost more than the whole CRC pass (BERT-base, 440 MB: a write
from a cold mapping ~2.5x the CPU of one from a verified one). Assembled partitioned
tensors are copied anyway, and verified by that copy (the core's fused copy+CRC).
A remote source verifies each tensor as it is fetched.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ._base import Check, Source, Target, TensorMeta


class BackgroundVerify(Check):
    """``reader.verify(keys)`` on its own thread (the core releases the GIL)."""

    def __init__(self, reader: Any, keys: list[str]) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._verify, args=(reader, keys), name="bundlefast-verify", daemon=True)
        self._thread.start()

    def _verify(self, reader: Any, keys: list[str]) -> None:
        try:
            reader.verify(keys)
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
            self._error = err

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


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
        self._checked: frozenset[str] = frozenset()  # keys a running check verifies
        self._check: Check = Check()

    def tensors(self) -> list[TensorMeta]:
        out = []
        for name, key in self._keys.items():
            info = self._reader.info(key)
            out.append(TensorMeta(name, info.dtype, tuple(info.shape), info.tf_dtype))
        return out

    def check(self, names: list[str]) -> Check:
        if self._reader.is_remote:
            return Check()  # read() verifies each tensor as it is fetched
        keys = [self._keys[name] for name in names]
        views = [key for key in keys if not self._reader.info(key).slices]
        self._check.wait()
        self._check = BackgroundVerify(self._reader, views)
        self._checked = frozenset(views)
        return self._check

    def read(self, name: str) -> np.ndarray:
        key = self._keys[name]
        return self._reader.get_array(key, verify=key not in self._checked)

    def close(self) -> None:
        # Never close the reader under its verifying thread. What it found was raised
        # by `run`'s wait; a check nobody waited for had no conversion to stop.
        with contextlib.suppress(BaseException):
            self._check.wait()
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

    def finish(self, before_commit: Callable[[], None] = lambda: None) -> None:
        before_commit()  # the data went out with each add; close() writes the index and commits
        self._writer.close()

    def abort(self) -> None:
        self._writer.abort()
