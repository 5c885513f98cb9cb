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

    def row(self, name: str) -> list:
        return next(r for r in self.layout if r[0] == name)

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
    check: str = "tensors"  # how check() checks the result: tensors | names | one | bytes | crc | raw


# Thread counts: every multi-threaded variant and roofline uses all cores, and
# says so; the one-thread ones set BUNDLEFAST_NUM_THREADS=1.
ALL_CORES = os.cpu_count() or 1


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


def _bf_verify_copy(wl: Workload) -> Any:
    """What TF's get_tensor loop does: read, check and copy every byte."""
    import bundlefast

    return bundlefast.load(wl.prefix, verify=True, copy=True)


def _bf_one(wl: Workload) -> Any:
    import bundlefast

    with bundlefast.open(wl.prefix) as r:
        return r[wl.one]


def _bf_one_verify_copy(wl: Workload) -> Any:
    import bundlefast

    with bundlefast.open(wl.prefix) as r:
        return r.get_array(wl.one, verify=True, copy=True)


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
# Views of the data file with the offsets known in advance (from the index,
# parsed before timing): they read no data, like bundlefast's views.


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


def _np_memmap_one(wl: Workload) -> Any:
    import numpy as np

    _, dt, shape, off, _, _ = wl.row(wl.one)
    return np.memmap(wl.data, dtype=np.dtype(dt), mode="r", offset=off, shape=tuple(shape))


def _frombuffer(m: mmap.mmap, row: list) -> Any:
    import numpy as np

    _, dt, shape, off, size, _ = row
    dtype = np.dtype(dt)
    return np.frombuffer(m, dtype=dtype, count=size // dtype.itemsize, offset=off).reshape(shape)


def _py_frombuffer(wl: Workload) -> Any:
    """The floor of any Python view API: mmap once, one np.frombuffer per tensor."""
    m = _map(wl.data)
    return {row[0]: _frombuffer(m, row) for row in wl.layout}


def _py_frombuffer_one(wl: Workload) -> Any:
    return _frombuffer(_map(wl.data), wl.row(wl.one))


def _map(path: str) -> mmap.mmap:
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)


# ---------------------------------------------------------------- rooflines
# What the hardware allows for the same bytes by the simplest means, at the
# same thread count as the bundlefast variant they are compared with.


def _in_threads(work: Callable[[int], Any], threads: int) -> list[Any]:
    """work(0), ..., work(threads - 1), each in a thread of its own (the work
    must release the GIL: np.copyto and the crc32c package do)."""
    import threading

    if threads == 1:
        return [work(0)]
    out: list[Any] = [None] * threads

    def run(i: int) -> None:
        out[i] = work(i)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def _share(total: int, threads: int, i: int) -> tuple[int, int]:
    """Thread i's contiguous byte range [lo, hi) of `total` bytes."""
    return total * i // threads, total * (i + 1) // threads


MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)  # Linux 5.14+; Python 3.13 names it
MADV_FREE = getattr(mmap, "MADV_FREE", 8)  # Linux 4.5+
PREFAULT_BYTES = 1 << 20  # csrc/bindings/numpy_arrays.cc kPrefaultBytes (a single result's np.empty)
ARENA_ALIGN = 64  # csrc/arena.h Arena::kAlign: where each tensor starts in the arena
HUGE_PAGE = 2 << 20  # csrc/arena.cc kHugePage
POPULATE_PIECE = 32 << 20  # csrc/arena.cc kPopulatePiece
ARENA_MIN_BYTES = 64 << 20  # csrc/bindings/numpy_arrays.cc: smaller loads allocate per array


def empty_like_bundlefast(n: int) -> Any:
    """A fresh uint8 array of n bytes allocated as bundlefast allocates a
    single copied result (numpy_arrays.cc MakeEmpty): np.empty, and from 1 MiB
    up its whole pages prefaulted in one madvise(MADV_POPULATE_WRITE) (best
    effort, as there: an older kernel refuses and the copy faults them in)."""
    import numpy as np

    a = np.empty(n, dtype=np.uint8)
    if n >= PREFAULT_BYTES:
        page = mmap.PAGESIZE
        lo = (a.ctypes.data + page - 1) // page * page
        hi = (a.ctypes.data + n) // page * page
        if hi > lo:
            _libc.madvise(lo, hi - lo, MADV_POPULATE_WRITE)
    return a


def allocate_like_bundlefast(sizes: list[int], threads: int) -> list[Any]:
    """Uint8 arrays of `sizes` bytes allocated as bundlefast allocates the
    copies of one load: one arena from ARENA_MIN_BYTES in all (and two arrays
    or more), else each array on its own (reader_py.cc FillArena). The arena is
    the one kept from a load whose arrays all died, when it fits, as bundlefast
    reuses its own (csrc/arena.cc Arena::Take, Arena::Recycle); else fresh."""
    total = sum((n + ARENA_ALIGN - 1) // ARENA_ALIGN * ARENA_ALIGN for n in sizes)
    if len(sizes) >= 2 and total >= ARENA_MIN_BYTES:
        arena = _take_arena(total) or _map_arena(total)
        return _arena_arrays(arena, sizes, threads, populate=True, recycle=True)
    return [empty_like_bundlefast(n) for n in sizes]


def arena_like_bundlefast(sizes: list[int], threads: int, populate: bool = True) -> list[Any]:
    """Fresh uint8 arrays of `sizes` bytes allocated as bundlefast allocates
    the copies of a load when it keeps no arena for reuse (csrc/arena.cc): one
    anonymous mapping, aligned to 2 MiB and marked MADV_HUGEPAGE, each array a
    64-byte-aligned slice of it, populated by MADV_POPULATE_WRITE in 32 MiB
    pieces shared by `threads` threads (ctypes releases the GIL). With
    populate=False the copy faults the pages in (what callers of this function
    time, they time in full). The mapping lives as long as any of the arrays
    does, and is unmapped after (never kept for reuse)."""
    total = sum((n + ARENA_ALIGN - 1) // ARENA_ALIGN * ARENA_ALIGN for n in sizes)
    return _arena_arrays(_map_arena(total), sizes, threads, populate=populate, recycle=False)


@dataclass
class _Arena:
    """One anonymous mapping `m`; the arena is its `capacity` bytes from `skip` on."""

    m: mmap.mmap
    skip: int
    capacity: int

    @property
    def address(self) -> int:
        import numpy as np

        return np.frombuffer(self.m, dtype=np.uint8).ctypes.data + self.skip


def _map_arena(total: int) -> _Arena:
    huge = total >= HUGE_PAGE
    mapped = (total + HUGE_PAGE - 1) // HUGE_PAGE * HUGE_PAGE if huge else max(total, 1)
    m = mmap.mmap(-1, mapped + (HUGE_PAGE if huge else 0), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    arena = _Arena(m, 0, mapped)
    if huge:
        arena.skip = (-arena.address) % HUGE_PAGE  # the 2 MiB-aligned start
        _libc.madvise(arena.address, mapped, mmap.MADV_HUGEPAGE)
    return arena


def _arena_arrays(arena: _Arena, sizes: list[int], threads: int, populate: bool, recycle: bool) -> list[Any]:
    """The arrays of `sizes` bytes, 64-byte-aligned slices of `arena` in
    order, after populating its pages up to the huge page of the last byte
    used (Arena::Populate). With recycle=True the arena goes to
    _recycle_arena when the last of them dies."""
    import weakref

    import numpy as np

    starts, total = [], 0
    for n in sizes:
        starts.append(total)
        total += (n + ARENA_ALIGN - 1) // ARENA_ALIGN * ARENA_ALIGN
    whole = np.frombuffer(arena.m, dtype=np.uint8)  # the slices' base: its death is the last array's
    base = whole.ctypes.data + arena.skip
    if populate:
        length = min(arena.capacity, (total + HUGE_PAGE - 1) // HUGE_PAGE * HUGE_PAGE)
        pieces = list(range(0, length, POPULATE_PIECE))

        def work(i: int) -> None:
            for lo in pieces[i::threads]:
                _libc.madvise(base + lo, min(POPULATE_PIECE, length - lo), MADV_POPULATE_WRITE)

        _in_threads(work, min(threads, len(pieces)) or 1)
    out = [whole[arena.skip + s : arena.skip + s + n] for s, n in zip(starts, sizes)]
    if recycle:
        weakref.finalize(whole, _recycle_arena, arena).atexit = False  # at exit the arrays may live on
    return out


def _arena_cache_bytes() -> int:
    """csrc/arena.cc DefaultRetainBytes: BUNDLEFAST_ARENA_CACHE_BYTES, else
    min(1 GiB, 1/8 of physical memory in whole pages)."""
    env = os.environ.get("BUNDLEFAST_ARENA_CACHE_BYTES", "")
    if env.isdigit():
        return int(env)
    page = os.sysconf("SC_PAGE_SIZE")
    return min(1 << 30, os.sysconf("SC_PHYS_PAGES") // 8 * page)


_RETAINED: list[_Arena] = []  # the one arena kept for reuse, as bundlefast keeps one


def _take_arena(total: int) -> _Arena | None:
    """The kept arena if it holds `total` bytes and needs no more than twice that (Arena::Take)."""
    if _RETAINED and total <= _RETAINED[0].capacity <= 2 * total:
        return _RETAINED.pop()
    return None


def _recycle_arena(arena: _Arena) -> None:
    """Keep `arena` (its pages MADV_FREE, the one kept before unmapped) if
    within the cap, else unmap it (Arena::Recycle)."""
    if arena.capacity > _arena_cache_bytes():
        arena.m.close()
        return
    _libc.madvise(arena.address, arena.capacity, MADV_FREE)
    if _RETAINED:
        _RETAINED.pop().m.close()
    _RETAINED.append(arena)


def _memcpy(wl: Workload, threads: int) -> Any:
    """Copies every tensor's bytes out of the mapped data file into arrays
    allocated as bundlefast allocates the copies of a load
    (allocate_like_bundlefast: one arena per load of 64 MiB or more, the one
    a previous load freed when it fits), the
    bytes split evenly across `threads` threads (a tensor may be split
    between two threads, as bundlefast splits large tensors)."""
    import numpy as np

    m = _map(wl.data)
    src = np.frombuffer(m, dtype=np.uint8)
    names = [row[0] for row in wl.layout]
    out = dict(zip(names, allocate_like_bundlefast([row[4] for row in wl.layout], threads)))  # as bundlefast's
    total = sum(row[4] for row in wl.layout)

    def work(i: int) -> None:
        lo, hi = _share(total, threads, i)
        pos = 0  # start of this tensor in the concatenated stream
        for name, _, _, off, size, _ in wl.layout:
            a, b = max(lo, pos), min(hi, pos + size)
            if a < b:
                np.copyto(out[name][a - pos : b - pos], src[off + a - pos : off + b - pos])
            pos += size

    _in_threads(work, threads)
    return out  # the map closes when `src`, its last view, goes


def _crc(wl: Workload, threads: int) -> Any:
    """CRC32C of the mapped data file with the crc32c package (hardware kernel),
    `threads` threads over contiguous pieces, combined as one CRC."""
    import crc32c

    m = _map(wl.data)
    view = memoryview(m)
    size = len(m)
    pieces = _in_threads(lambda i: crc32c.crc32c(view[slice(*_share(size, threads, i))]), threads)
    crc = pieces[0]
    for i in range(1, threads):
        lo, hi = _share(size, threads, i)
        crc = _crc_combine(crc, pieces[i], hi - lo)
    view.release()
    m.close()
    return crc


def _crc_combine(crc_a: int, crc_b: int, len_b: int) -> int:
    """crc32c(A + B) from the two CRCs: zlib's crc32_combine, in Python (a few
    microseconds, once per thread), so the roofline needs nothing of bundlefast."""

    def mulmod(a: int, b: int) -> int:  # reflected polynomials, as the register holds them
        p = 0
        for k in range(32):
            if a & (1 << (31 - k)):
                p ^= b
            b = (b >> 1) ^ 0x82F63B78 if b & 1 else b >> 1
        return p

    x = 1 << 30  # x^1
    power = 1 << 31  # x^0
    n = 8 * len_b
    while n:
        if n & 1:
            power = mulmod(power, x)
        x = mulmod(x, x)
        n >>= 1
    return mulmod(power, crc_a) ^ crc_b


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


N = ALL_CORES
_N = str(N)
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant("bf.open", "bundlefast", "bundlefast open (index only)", _bf_open, _ckpt_files, False, check="names"),
        Variant("bf.load", "bundlefast", "bundlefast load: views, reads no data", _bf_load, _ckpt_files, False),
        Variant("bf.vc1", "bundlefast", "bundlefast load(verify,copy) 1 thr", _bf_verify_copy, _ckpt_files, True, "1"),
        Variant("bf.vcN", "bundlefast", f"bundlefast load(verify,copy) {N} thr", _bf_verify_copy, _ckpt_files, True, _N),
        Variant("bf.verify1", "bundlefast", "bundlefast load(verify) 1 thr", _bf_verify, _ckpt_files, True, "1"),
        Variant("bf.verifyN", "bundlefast", f"bundlefast load(verify) {N} thr", _bf_verify, _ckpt_files, True, _N),
        Variant("bf.copy1", "bundlefast", "bundlefast load(copy) 1 thr", _bf_copy, _ckpt_files, True, "1"),
        Variant("bf.copyN", "bundlefast", f"bundlefast load(copy) {N} thr", _bf_copy, _ckpt_files, True, _N),
        Variant("bf.one", "bundlefast", "bundlefast one tensor: view, no data", _bf_one, _ckpt_files, False, check="one"),
        Variant("bf.one.vc", "bundlefast", "bundlefast one tensor (verify,copy)", _bf_one_verify_copy, _ckpt_files, False,
                check="one"),
        Variant("tf.open", "tensorflow", "TF load_checkpoint + shape map", _tf_open, _ckpt_files, False, check="names"),
        Variant("tf.load", "tensorflow", "TF load_checkpoint + get_tensor all", _tf_load, _ckpt_files, True),
        Variant("tf.one", "tensorflow", "TF one tensor", _tf_one, _ckpt_files, False, check="one"),
        Variant("st.load", "baseline", "safetensors.numpy load_file", _st_load, _st_file, True),
        Variant("np.memmap", "baseline", "numpy memmap views, reads no data", _np_memmap, _data_file, False),
        Variant("py.frombuffer", "baseline", "mmap + np.frombuffer views (floor)", _py_frombuffer, _data_file, False),
        Variant("np.memmap.one", "baseline", "numpy memmap one tensor, no data", _np_memmap_one, _data_file, False,
                check="one"),
        Variant("py.frombuffer.one", "baseline", "mmap + np.frombuffer one tensor", _py_frombuffer_one, _data_file, False,
                check="one"),
        Variant("roof.memcpy1", "baseline", "roofline: memcpy to arena, 1 thr", lambda wl: _memcpy(wl, 1), _data_file,
                True, "1", check="raw"),
        Variant("roof.memcpyN", "baseline", f"roofline: memcpy to arena, {N} thr", lambda wl: _memcpy(wl, N),
                _data_file, True, _N, check="raw"),
        Variant("roof.crc1", "baseline", "roofline: CRC32C (crc32c pkg), 1 thr", lambda wl: _crc(wl, 1), _data_file,
                True, "1", check="crc"),
        Variant("roof.crcN", "baseline", f"roofline: CRC32C (crc32c pkg), {N} thr", lambda wl: _crc(wl, N),
                _data_file, True, _N, check="crc"),
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
        "roof.crc": "crc32c",
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
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


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


def check(variant: Variant, wl: Workload, result: Any) -> bool:
    """Checks `result` against the data file, read independently of bundlefast:
    the layout comes from the tests' own index parser (tests/bundle_surgery.py),
    every tensor's bytes from np.memmap, every stored CRC from the crc32c package.
    A variant's result is correct only if the file itself checks out too."""
    import crc32c
    import numpy as np
    import workloads as W

    layout = W.independent_layout(wl.index)
    by_name = {row[0]: row for row in layout}
    mm = np.memmap(wl.data, dtype=np.uint8, mode="r")

    def stored_crc_ok(name: str) -> bool:
        _, _, _, off, size, masked = by_name[name]
        rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
        return crc32c.crc32c(mm[off : off + size]) == ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF

    def same(name: str, array: Any) -> bool:
        _, dt, shape, off, size, _ = by_name[name]
        a = np.asarray(array)
        return (
            a.dtype == np.dtype(dt)
            and list(a.shape) == list(shape)
            and bool(np.array_equal(np.ascontiguousarray(a).reshape(-1).view(np.uint8), mm[off : off + size]))
            and stored_crc_ok(name)
        )

    if variant.check == "names":
        return sorted(result) == sorted(by_name)
    if variant.check == "one":
        return same(wl.one, result)
    if variant.check == "bytes":  # the whole data file, read into one buffer
        return bool(np.array_equal(result, mm))
    if variant.check == "crc":  # the whole file's CRC, recomputed from plain reads in chunks
        crc = 0
        with open(wl.data, "rb") as f:
            while chunk := f.read(64 << 20):
                crc = crc32c.crc32c(chunk, crc)
        return result == crc
    if variant.check == "raw":  # the memcpy roofline: each tensor's bytes, as uint8
        return sorted(result) == sorted(by_name) and all(
            bool(np.array_equal(result[n], mm[r[3] : r[3] + r[4]])) and stored_crc_ok(n) for n, r in by_name.items()
        )
    # "tensors": every tensor present, with its dtype, shape and bytes.
    return sorted(result) == sorted(by_name) and all(same(n, result[n]) for n in by_name)
