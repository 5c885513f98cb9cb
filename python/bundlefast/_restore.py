"""``bundlefast.restore``: checkpoint values into arrays that already exist, by name.

The restore runs in two phases. **Plan** resolves every target name to a checkpoint tensor
(raw key, ``:0`` tensor name, ``.meta`` variable, object-graph alias), reads the index
metadata, applies ``transform`` (to zero-copy views, so it costs nothing unless the
transform computes), and checks dtype and shape. Nothing is written in this phase: with
``strict`` every problem is collected and raised at once, grouped, with shapes and
close-name suggestions. **Write** copies each value straight into its destination's
memory, largest first, over a small thread pool (NumPy releases the GIL while copying).
NumPy, difflib and the thread pool are imported on first use: ``import bundlefast`` stays
cheap.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

from ._object_graph import OBJECT_GRAPH_KEY
from .errors import InvalidArgumentError

if TYPE_CHECKING:
    import numpy as np

    from ._reader import Reader

# typing.Union, not `|`: this alias is evaluated at import, and `|` on generic aliases needs 3.10.
NameMap = Union[Mapping[str, Optional[str]], Callable[[str], Optional[str]]]
Transform = Callable[[str, "np.ndarray"], Any]

#: lines of each group a report prints before "... and N more"
REPORT_LINES = 20
#: never more copy threads than this, whatever the core's count says
MAX_THREADS = 8


def copy_threads() -> int:
    """Threads restore copies on (each copy releases the GIL): the core's count, one per
    CPU unless ``BUNDLEFAST_NUM_THREADS`` sets it, as for ``load``; at most MAX_THREADS."""
    from . import _core

    return max(1, min(MAX_THREADS, _core.default_threads()))


class RestoreError(InvalidArgumentError):
    """``restore(strict=...)`` found problems; nothing was written. ``.report`` has them all."""

    def __init__(self, report: RestoreReport) -> None:
        super().__init__(str(report))
        self.report = report


@dataclass(frozen=True)
class Mismatch:
    """One target that cannot take its checkpoint value as it is."""

    target: str
    checkpoint_name: str
    problem: str  # "dtype", "shape", "not writable", "transform"
    target_desc: str  # e.g. "float32 [32, 16]"
    checkpoint_desc: str  # e.g. "float32 [16, 32] (after transform)"

    def __str__(self) -> str:
        return f"{self.target}: target {self.target_desc}, checkpoint {self.checkpoint_name!r} {self.checkpoint_desc}"


@dataclass(frozen=True)
class Missing:
    """A target whose checkpoint name is not in the checkpoint."""

    target: str
    checkpoint_name: str
    target_desc: str
    suggestions: tuple[str, ...]

    def __str__(self) -> str:
        looked = "" if self.checkpoint_name == self.target else f" (looked for {self.checkpoint_name!r})"
        hint = f"; did you mean {' or '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        return f"{self.target} [{self.target_desc}]{looked}{hint}"


@dataclass
class RestoreReport:
    """What :func:`restore` did (``strict=False``) or would have refused (``RestoreError``)."""

    prefix: str
    restored: dict[str, str] = field(default_factory=dict)  # target -> checkpoint key
    missing: list[Missing] = field(default_factory=list)
    mismatched: list[Mismatch] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)  # checkpoint keys no target took
    skipped: list[str] = field(default_factory=list)  # targets the map sent to None
    written: bool = True
    unused_is_error: bool = False  # strict="exact"
    total: int = 0  # targets asked for

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched

    def __str__(self) -> str:
        if self.written:
            head = f"restored {len(self.restored)} of {self.total} targets from {self.prefix}"
        else:
            n = len(self.missing) + len(self.mismatched) + (len(self.unused) if self.unused_is_error else 0)
            head = f"restore from {self.prefix}: {n} problem(s) in {self.total} targets, nothing was written"
        lines = [head]
        # A refused restore lists unused tensors only when they are one of its problems.
        unused = self.unused if self.written or self.unused_is_error else []
        groups: list[tuple[str, list[Any]]] = [
            ("missing from the checkpoint", self.missing),
            ("dtype differs", [m for m in self.mismatched if m.problem == "dtype"]),
            ("shape differs", [m for m in self.mismatched if m.problem == "shape"]),
            ("not writable", [m for m in self.mismatched if m.problem == "not writable"]),
            ("transform failed", [m for m in self.mismatched if m.problem == "transform"]),
            ("checkpoint tensors no target took", unused),
            ("skipped by the map", self.skipped),
        ]
        for title, items in groups:
            if items:
                lines.append(f"  {title} ({len(items)}):")
                lines += [f"    {item}" for item in items[:REPORT_LINES]]
                if len(items) > REPORT_LINES:
                    lines.append(f"    ... and {len(items) - REPORT_LINES} more")
        if self.unused and not unused:
            lines.append(f"  ({len(self.unused)} checkpoint tensors no target took: report.unused lists them)")
        return "\n".join(lines)


@dataclass
class _Job:
    target: str
    key: str
    dst: np.ndarray
    region: tuple[slice, ...] | None  # a part of a partitioned variable (.meta names)
    value: np.ndarray | None  # set when a transform produced it; else read at write time


def restore(
    prefix: str | os.PathLike[str],
    target: Any,
    *,
    map: NameMap | None = None,  # noqa: A002 - the API name
    transform: Transform | None = None,
    strict: bool | Literal["exact"] = True,
    verify: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> RestoreReport:
    """Copy checkpoint values into destinations that already exist, by name.

    Args:
        prefix: the checkpoint (anything :func:`bundlefast.open` takes).
        target: a mapping ``name -> destination`` (writable NumPy arrays, CPU torch tensors,
            objects exposing a writable buffer; a 1-D byte buffer takes any tensor of the
            same byte size) or a ``torch.nn.Module`` (its ``state_dict()``).
        map: a dict or callable from target name to checkpoint name; ``None`` (as a value
            or a return) skips that target; names a dict does not list stay as they are.
            A checkpoint name may be a raw key, a ``.meta`` variable name (``scope/v`` or
            ``scope/v:0``, also a part ``scope/v/part_1`` of a partitioned variable, when
            ``P.meta`` sits beside the checkpoint), or any object-graph alias
            (:meth:`Reader.aliases`, friendly names included).
        transform: ``transform(target_name, array) -> array`` changes a value on the way
            (e.g. a TF kernel ``[in, out]`` into a torch Linear weight ``[out, in]`` with
            ``a.T``); it receives a read-only view; dtype and shape are checked after it.
        strict: ``True``: if a target is missing from the checkpoint or its dtype or shape
            differs, raise :class:`RestoreError` listing every problem before writing
            anything. ``"exact"``: also when a checkpoint tensor is left unused (the object
            graph itself excepted). ``False``: restore what fits and report the rest.
        verify: check each tensor's CRC32C as it is read (a ChecksumError then stops the
            restore with the earlier tensors written).
        storage_options: for an fsspec URL, passed to fsspec; the tensors' bytes are then
            fetched in batches of concurrent, coalesced requests.

    Returns:
        A :class:`RestoreReport` (``print`` it): restored, missing, mismatched, unused.

    Example:
        >>> report = bundlefast.restore("ckpt-1", model, map=names, transform=to_torch)
    """
    from ._reader import Reader

    with Reader(prefix, storage_options=storage_options) as reader:
        targets = _targets(target)
        plan = _Planner(reader)
        report = RestoreReport(prefix=str(reader.prefix), unused_is_error=strict == "exact", total=len(targets))
        jobs = plan.jobs(targets, map, transform, report)
        used = {job.key for job in jobs} | {m.checkpoint_name for m in report.mismatched}
        report.unused = sorted(k for k in reader if k not in used and k != OBJECT_GRAPH_KEY)
        if strict and (not report.ok or (strict == "exact" and report.unused)):
            report.written = False
            raise RestoreError(report)
        _write(reader, jobs, verify)
        report.restored = {job.target: job.key for job in jobs}
        return report


# --------------------------------------------------------------------------------------
# Targets and destinations
# --------------------------------------------------------------------------------------


def _targets(target: Any) -> dict[str, Any]:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(target, torch.nn.Module):
        return dict(target.state_dict())
    if isinstance(target, Mapping):
        return dict(target)
    msg = f"restore target must be a mapping of name -> array or a torch.nn.Module, not {type(target).__name__}"
    raise InvalidArgumentError(msg)


def _destination(obj: Any) -> tuple[np.ndarray | None, str]:
    """A writable NumPy view of ``obj``'s memory (or None) and a description of ``obj``."""
    import numpy as np

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.Tensor):
        from .torch import numpy_destination

        return numpy_destination(obj)
    if isinstance(obj, np.ndarray):
        return (obj if obj.flags.writeable else None), _desc(obj.dtype, obj.shape)
    try:
        view = memoryview(obj)
    except TypeError:
        return None, f"{type(obj).__name__} (no buffer)"
    array = np.asarray(view)
    return (None if view.readonly else array), _desc(array.dtype, array.shape)


def _desc(dtype: Any, shape: Any, note: str = "") -> str:
    name = getattr(dtype, "name", str(dtype))
    return f"{name} {list(shape)}{note}"


def _is_raw_bytes(dst: np.ndarray) -> bool:
    return dst.ndim == 1 and dst.dtype.str == "|u1"


# --------------------------------------------------------------------------------------
# Plan: names, metadata, transforms, checks
# --------------------------------------------------------------------------------------


class _Planner:
    """Resolves checkpoint names for one reader (aliases and ``.meta`` built on first need)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self._aliases: dict[str, str] | None = None
        self._meta_names: dict[str, tuple[str, tuple[slice, ...] | None]] | None = None

    def aliases(self) -> dict[str, str]:
        if self._aliases is None:
            names: dict[str, str | None] = {}
            for key, aliases in self.reader.aliases().items():
                for alias in aliases:
                    names[alias] = key if names.get(alias, key) == key else None  # ambiguous: drop
            self._aliases = {a: k for a, k in names.items() if k is not None}
        return self._aliases

    def meta_names(self) -> dict[str, tuple[str, tuple[slice, ...] | None]]:
        """``{graph variable name: (checkpoint key, region)}`` from ``P.meta``, if present
        (both ``scope/v`` and ``scope/v:0``; a part's region in its full tensor)."""
        if self._meta_names is None:
            self._meta_names = {}
            path = Path(f"{self.reader.prefix}.meta")
            if path.is_file():
                from . import meta

                for v in meta.read(path).variables:
                    if v.checkpoint_key in self.reader:
                        where = (v.checkpoint_key, v.partition.region if v.partition else None)
                        self._meta_names[v.name] = self._meta_names[v.tensor_name] = where
        return self._meta_names

    def resolve(self, name: str) -> tuple[str, tuple[slice, ...] | None] | None:
        """``(checkpoint key, region or None)`` for a checkpoint name, or None."""
        reader = self.reader
        if name in reader:
            return name, None
        base, colon, index = name.rpartition(":")
        if colon and index.isdigit() and base in reader:
            return base, None
        if name in self.meta_names():
            return self.meta_names()[name]
        key = self.aliases().get(name)
        return (key, None) if key is not None else None

    def suggestions(self, name: str) -> tuple[str, ...]:
        import difflib

        candidates = [k for k in self.reader if k != OBJECT_GRAPH_KEY]
        candidates += list(self.aliases()) + list(self.meta_names())
        return tuple(difflib.get_close_matches(name, candidates, n=3, cutoff=0.6))

    def jobs(
        self, targets: dict[str, Any], name_map: NameMap | None, transform: Transform | None, report: RestoreReport
    ) -> list[_Job]:
        jobs: list[_Job] = []
        for target, obj in targets.items():
            ckpt_name = _mapped(name_map, target)
            if ckpt_name is None:
                report.skipped.append(target)
                continue
            dst, desc = _destination(obj)
            resolved = self.resolve(ckpt_name)
            if resolved is None:
                hints = self.suggestions(ckpt_name) if len(report.missing) < REPORT_LINES else ()
                report.missing.append(Missing(target, ckpt_name, desc, hints))
                continue
            key, region = resolved
            job = self._check(target, key, region, dst, desc, transform, report)
            if job is not None:
                jobs.append(job)
        return jobs

    def _check(
        self,
        target: str,
        key: str,
        region: tuple[slice, ...] | None,
        dst: np.ndarray | None,
        desc: str,
        transform: Transform | None,
        report: RestoreReport,
    ) -> _Job | None:
        import numpy as np

        info = self.reader.info(key)
        dtype, shape = info.dtype, tuple(info.shape)
        if region is not None:
            shape = tuple(s.stop - s.start for s in region)
        value: np.ndarray | None = None
        note = ""
        if transform is not None:
            source = self.reader[key] if region is None else self.reader.get_slice(key)[region]
            try:
                value = np.asarray(transform(target, source))
            except Exception as err:  # noqa: BLE001 - reported with the target's name
                report.mismatched.append(Mismatch(target, key, "transform", desc, f"{type(err).__name__}: {err}"))
                return None
            dtype, shape, note = value.dtype, value.shape, " (after transform)"
        ckpt_desc = _desc(dtype, shape, note)
        if dst is None:
            report.mismatched.append(Mismatch(target, key, "not writable", desc, ckpt_desc))
            return None
        if _is_raw_bytes(dst) and dtype is not None and dtype != object:
            if dst.size != np.dtype(dtype).itemsize * int(np.prod(shape)):
                report.mismatched.append(Mismatch(target, key, "shape", desc + " (bytes)", ckpt_desc))
                return None
            dst = dst.view(dtype).reshape(shape)
        elif dtype != dst.dtype:
            report.mismatched.append(Mismatch(target, key, "dtype", desc, ckpt_desc))
            return None
        elif tuple(shape) != dst.shape:
            report.mismatched.append(Mismatch(target, key, "shape", desc, ckpt_desc))
            return None
        return _Job(target, key, dst, region, value)


def _mapped(name_map: NameMap | None, target: str) -> str | None:
    if name_map is None:
        return target
    if callable(name_map):
        return name_map(target)
    return name_map.get(target, target)


# --------------------------------------------------------------------------------------
# Write
# --------------------------------------------------------------------------------------


def _read_into(reader: Reader, name: str, dst: np.ndarray, verify: bool) -> None:
    """Read the whole tensor ``name`` into ``dst`` (its dtype and shape, writable).

    The core reads straight into ``dst``'s memory (one copy from the page cache, the
    CRC computed during that copy, the GIL released). A destination the core cannot
    fill in one piece (not C-contiguous, or strings) takes one np.copyto from a view."""
    import numpy as np

    if dst.flags.c_contiguous and dst.dtype != object:
        reader.read_into(name, dst, verify=verify)
    else:
        np.copyto(dst, reader.get_array(name, verify=verify), casting="no")


def _write_one(reader: Reader, job: _Job, verify: bool) -> None:
    import numpy as np

    if job.value is not None:
        if verify:
            reader.verify([job.key])
        np.copyto(job.dst, job.value, casting="no")
    elif job.region is not None:
        np.copyto(job.dst, reader.get_slice(job.key, verify=verify)[job.region], casting="no")
    else:
        _read_into(reader, job.key, job.dst, verify)


def _write(reader: Reader, jobs: list[_Job], verify: bool) -> None:
    if reader.is_remote:  # from a URL: one batch of concurrent requests per ~256 MiB of jobs
        batch: list[_Job] = []
        size = 0
        for i, job in enumerate(jobs):
            batch.append(job)
            size += job.dst.nbytes
            if size >= _REMOTE_BATCH_BYTES or i == len(jobs) - 1:
                with reader.fetched(sorted({j.key for j in batch if j.value is None}), verify=verify):
                    _write_batch(reader, batch, verify)
                batch, size = [], 0
        return
    _write_batch(reader, jobs, verify)


_REMOTE_BATCH_BYTES = 256 << 20


def _write_batch(reader: Reader, jobs: list[_Job], verify: bool) -> None:
    from concurrent.futures import ThreadPoolExecutor

    jobs = sorted(jobs, key=lambda j: j.dst.nbytes, reverse=True)  # big copies start first
    threads = copy_threads()
    if len(jobs) < 2 or threads < 2:
        for job in jobs:
            _write_one(reader, job, verify)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bundlefast-restore") as pool:
        for future in [pool.submit(_write_one, reader, job, verify) for job in jobs]:
            future.result()
