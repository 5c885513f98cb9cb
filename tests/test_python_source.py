"""Byte sources written in Python (the hook remote storage will use): the core reads the
index and every shard through ``open_file(path)`` objects with ``size`` and
``read_into(offset, out)``, never touching the files itself, and gets the same tensors."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import bundlefast
import tf_oracle
from bundlefast import _core, errors


class MemoryFile:
    def __init__(self, data: bytes, log: list) -> None:
        self.data, self.size, self.log = data, len(data), log

    def read_into(self, offset: int, out: memoryview) -> None:
        self.log.append((offset, len(out), threading.get_ident()))
        out[:] = self.data[offset : offset + len(out)]


def _opener(prefix: Path, log: list, fail: set[str] = frozenset()):
    files = {str(p): p.read_bytes() for p in prefix.parent.iterdir() if p.name.startswith(prefix.name + ".")}

    def open_file(path: str) -> MemoryFile:
        if path not in files or path in fail:
            raise FileNotFoundError(2, "no such object", path)
        return MemoryFile(files[path], log)

    return open_file


@pytest.mark.parametrize("case", ["sharded_tf1", "all_dtypes", "strings", "partitioned_tf1", "tf2_sharding_policy"])
def test_a_python_source_reads_like_the_files(case):
    prefix = tf_oracle.case_prefix(case)
    want = bundlefast.load(prefix, copy=True)
    log: list = []
    r = _core.Reader(str(prefix), open_file=_opener(prefix, log))
    for verify in (False, True):
        got = r.load(None, verify, False)
        assert got.keys() == want.keys()
        for name, array in got.items():
            assert array.dtype == want[name].dtype and array.shape == want[name].shape, name
            if array.dtype == object:
                assert array.tolist() == want[name].tolist(), name
            else:
                assert array.tobytes() == want[name].tobytes(), name
    assert log  # every byte came through read_into
    for name, array in want.items():
        if array.dtype != object:
            out = np.empty_like(array)
            r.read_into(name, out, True)
            assert out.tobytes() == array.tobytes(), name


def test_errors_of_a_python_source_are_bundlefast_errors():
    prefix = tf_oracle.case_prefix("sharded_tf1")
    shard1 = f"{prefix}.data-00001-of-00003"
    r = _core.Reader(str(prefix), open_file=_opener(prefix, [], fail={shard1}))
    with pytest.raises(errors.BundleFileNotFoundError, match="no such object") as info:
        r.get("b", False, False)
    assert info.value.filename == shard1
    assert r.get("a", True, False).tolist() == bundlefast.load(prefix)["a"].tolist()

    def broken(path: str):
        class Broken:
            size = Path(path).stat().st_size

            def read_into(self, offset, out):
                if path.endswith(".index"):
                    out[:] = Path(path).read_bytes()[offset : offset + len(out)]
                    return
                raise RuntimeError("connection reset")

        return Broken()

    r = _core.Reader(str(prefix), open_file=broken)
    with pytest.raises(errors.BundleOSError, match=r"data-00000-of-00003: 'a' \(offset 0, 12 bytes\) could not be "
                                                   r"read: .*connection reset"):
        r.get("a", False, False)
