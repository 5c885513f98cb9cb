"""The timed operations, the cache control around them, and the checks after them.

Imported only by ``run.py``'s child processes. Nothing heavy is imported at module
level: TensorFlow is only ever imported in a child of its own (its thread pools and
memory never skew another library's numbers), and each peak-RSS child imports only
the library it measures.

Every variant is ``op(wl) -> result``: ``result`` is what a user would hold on to
(the dict of arrays, the copied buffer, ...), kept alive until the timer stopped
and, in RSS children, until /proc/self/status was read.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class Workload:
    name: str
    prefix: str
    index: str
    data: str
    safetensors: str
    layout: list  # [name, numpy dtype str, shape, offset, size, masked crc] in key order
    one: str  # the tensor "one tensor out of many" reads
    data_bytes: int

    @classmethod
    def from_meta(cls, work_dir: Path, meta: dict) -> Workload:
        d = work_dir / meta["name"]
        layout = meta["layout"]
        return cls(
            name=meta["name"],
            prefix=str(d / "ckpt"),
            index=str(d / "ckpt.index"),
            data=str(d / "ckpt.data-00000-of-00001"),
            safetensors=str(d / "model.safetensors"),
            layout=layout,
            one=layout[len(layout) // 2][0],
            data_bytes=meta["data_bytes"],
        )


@dataclass(frozen=True)
class Variant:
    name: str
    library: str  # "bundlefast", "tensorflow" or "baseline" (TF variants run in their own child)
    label: str  # for the table and chart
    op: Callable[[Workload], Any]
    files: Callable[[Workload], list[str]]  # what a cold run drops from the page cache
    reads_all: bool  # touches every payload byte (throughput is meaningful)
    threads: str | None = None  # BUNDLEFAST_NUM_THREADS while it runs (None: unset, the default)
    check: str = "tensors"  # how run() checks the result: tensors | names | one | bytes | crc


# ---------------------------------------------------------------- bundlefast


def _bf_open(wl: Workload) -> Any:
    import bundlefast

    with bundlefast.open(wl.prefix) as r:
        return list(r)


def _bf_load(wl: Workload) -> Any:
    import bundlefast

    return bundlefast.load(wl.prefix)


def _bf_verify(wl: Workload) -> Any:
    import bundlefast

    return bundlefast.load(wl.prefix, verify=True)


def _bf_copy(wl: Workload) -> Any:
    import bundlefast

    return bundlefast.load(wl.prefix, copy=True)


def _bf_one(wl: Workload) -> Any:
    import bundlefast

    with bundlefast.open(wl.prefix) as r:
        return r[wl.one]


# ---------------------------------------------------------------- TensorFlow


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    return tf


def _tf_open(wl: Workload) -> Any:
    return _tf().train.load_checkpoint(wl.prefix).get_variable_to_shape_map()


def _tf_load(wl: Workload) -> Any:
    r = _tf().train.load_checkpoint(wl.prefix)
    return {k: r.get_tensor(k) for k in r.get_variable_to_shape_map()}


def _tf_one(wl: Workload) -> Any:
    return _tf().train.load_checkpoint(wl.prefix).get_tensor(wl.one)


# ---------------------------------------------------------------- baselines


def _st_load(wl: Workload) -> Any:
    from safetensors.numpy import load_file

    return load_file(wl.safetensors)


def _np_memmap(wl: Workload) -> Any:
    import numpy as np

    mm = np.memmap(wl.data, dtype=np.uint8, mode="r")
    return {
        name: np.ndarray(tuple(shape), dtype=np.dtype(dt), buffer=mm, offset=off)
        for name, dt, shape, off, _size, _crc in wl.layout
    }


def _map(path: str) -> mmap.mmap:
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)


def _roof_memcpy(wl: Workload) -> Any:
    import numpy as np

    m = _map(wl.data)
    src = np.frombuffer(m, dtype=np.uint8)
    dst = np.empty(src.size, dtype=np.uint8)  # fresh memory: its page faults are part of the cost
    np.copyto(dst, src)  # one memmove
    del src
    m.close()
    return dst


def _roof_crc32c(wl: Workload) -> Any:
    import crc32c

    m = _map(wl.data)
    c = crc32c.crc32c(m)  # one thread, the package's hardware kernel
    m.close()
    return c


READ_CHUNK = 16 << 20


def _read_into(path: str, chunk: int | None) -> Any:
    import numpy as np

    dst = np.empty(os.path.getsize(path), dtype=np.uint8)
    view = memoryview(dst)
    done = 0
    with open(path, "rb", buffering=0) as f:
        while done < dst.size:  # one call per chunk (Linux caps a read at ~2 GiB anyway)
            n = f.readinto(view[done : None if chunk is None else done + chunk])
            if not n:
                raise OSError(f"{path} shrank while being read")
            done += n
    return dst


def _roof_read(wl: Workload) -> Any:
    # 16 MiB per readinto, as cat or shutil would read. It and the single call
    # below are both bimodal cold on Linux 6.18 (440 MB: ~155 ms or 200-1000
    # ms from run to run); run.py takes the faster median as the roofline.
    return _read_into(wl.data, READ_CHUNK)


def _roof_read_whole(wl: Workload) -> Any:
    return _read_into(wl.data, None)


def _ckpt_files(wl: Workload) -> list[str]:
    return [wl.index, wl.data]


def _data_file(wl: Workload) -> list[str]:
    return [wl.data]


def _st_file(wl: Workload) -> list[str]:
    return [wl.safetensors]


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant("bf.open", "bundlefast", "bundlefast open (index only)", _bf_open, _ckpt_files, False, check="names"),
        Variant("bf.load", "bundlefast", "bundlefast load (views)", _bf_load, _ckpt_files, False),
        Variant("bf.verify1", "bundlefast", "bundlefast load(verify) 1 thread", _bf_verify, _ckpt_files, True, "1"),
        Variant("bf.verify2", "bundlefast", "bundlefast load(verify) 2 threads", _bf_verify, _ckpt_files, True, "2"),
        Variant("bf.copy", "bundlefast", "bundlefast load(copy)", _bf_copy, _ckpt_files, True),
        Variant("bf.one", "bundlefast", "bundlefast one tensor", _bf_one, _ckpt_files, False, check="one"),
        Variant("tf.open", "tensorflow", "TF load_checkpoint + shape map", _tf_open, _ckpt_files, False, check="names"),
        Variant("tf.load", "tensorflow", "TF load_checkpoint + get_tensor all", _tf_load, _ckpt_files, True),
        Variant("tf.one", "tensorflow", "TF one tensor", _tf_one, _ckpt_files, False, check="one"),
        Variant("st.load", "baseline", "safetensors.numpy load_file", _st_load, _st_file, True),
        Variant("np.memmap", "baseline", "numpy memmap views", _np_memmap, _data_file, False),
        Variant("roof.memcpy", "baseline", "roofline: mmap + memcpy to fresh", _roof_memcpy, _data_file, True, check="bytes"),
        Variant("roof.crc32c", "baseline", "roofline: CRC32C (crc32c pkg, 1 thr)", _roof_crc32c, _data_file, True, check="crc"),
        Variant("roof.read", "baseline", "roofline: readinto, 16 MiB calls", _roof_read, _data_file, True, check="bytes"),
        Variant("roof.read1", "baseline", "readinto, one call for the file", _roof_read_whole, _data_file, True, check="bytes"),
    ]
}


def available(variant: Variant) -> str | None:
    """None if the variant can run here, else why not."""
    import importlib.util

    need = {
        "tf.": "tensorflow",
        "st.": "safetensors",
        "roof.crc32c": "crc32c",
    }
    for prefix, module in need.items():
        if variant.name.startswith(prefix) and importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    return None


# ---------------------------------------------------------------- page cache


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]


def drop_cache(files: list[str]) -> None:
    """Evicts the files' pages (clean, unmapped pages go; needs no privileges)."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def resident_fraction(path: str) -> float:
    """Fraction of the file's pages in the page cache (mincore on a fresh mapping)."""
    size = os.path.getsize(path)
    if size == 0:
        return 1.0
    page = mmap.PAGESIZE
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            return float("nan")
        try:
            n = (size + page - 1) // page
            vec = (ctypes.c_ubyte * n)()
            if _libc.mincore(addr, size, vec) != 0:
                return float("nan")
            return sum(b & 1 for b in vec) / n
        finally:
            _libc.munmap(addr, size)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- checks


def touch(result: Any) -> None:
    """Reads one byte of every page of every array in `result` (maps file-backed views in)."""
    import numpy as np

    arrays = result.values() if isinstance(result, dict) else [result]
    for a in arrays:
        if isinstance(a, np.ndarray) and a.dtype != object and a.nbytes:
            flat = a.reshape(-1).view(np.uint8)
            int(flat[:: mmap.PAGESIZE].sum())


def check(variant: Variant, wl: Workload, result: Any) -> bool | None:
    """Compares `result` with the bytes in the data file (read independently, via np.memmap)."""
    import numpy as np

    mm = np.memmap(wl.data, dtype=np.uint8, mode="r")
    by_name = {row[0]: row for row in wl.layout}

    def same(name: str, array: Any) -> bool:
        _, dt, shape, off, size, _ = by_name[name]
        a = np.asarray(array)
        return (
            a.dtype == np.dtype(dt)
            and list(a.shape) == list(shape)
            and bool(np.array_equal(np.ascontiguousarray(a).reshape(-1).view(np.uint8), mm[off : off + size]))
        )

    if variant.check == "names":
        return sorted(result) == sorted(by_name)
    if variant.check == "one":
        return same(wl.one, result)
    if variant.check == "bytes":
        return bool(np.array_equal(result, mm))
    if variant.check == "crc":
        # A second, independent implementation over the file read in chunks.
        try:
            import google_crc32c
        except ImportError:
            return None  # unchecked
        h = google_crc32c.Checksum()
        with open(wl.data, "rb") as f:
            while chunk := f.read(64 << 20):
                h.update(chunk)
        return result == int.from_bytes(h.digest(), "big")
    # "tensors": every name present, first/middle/last tensors byte-identical.
    if sorted(result) != sorted(by_name):
        return False
    names = [wl.layout[0][0], wl.one, wl.layout[-1][0]]
    return all(same(n, result[n]) for n in names)

