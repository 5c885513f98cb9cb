"""Convert checkpoints between TF bundles, ``.safetensors``, ``.npz`` and ``.pt`` files.

    >>> from bundlefast.convert import convert
    >>> report = convert("ckpt-1", "model.safetensors", dtypes={"float32": "bfloat16"})

One module per format (``bundle``, ``safetensors``, ``npz``, ``pt``), each a Source and
a Target over the library that owns the format. ``convert`` plans from metadata alone
(names, dtypes, shapes: refusals happen before anything is written), then moves one
tensor at a time: read (a view for bundles), cast, hand to the target. Destinations are
written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import os
import re
from importlib import import_module
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from ..errors import InvalidArgumentError, TensorNotFoundError
from ._base import Source, Target, TensorMeta, dtype_name, numpy_dtype
from .rename_map import read_rename_map

__all__ = ["FORMATS", "ConvertReport", "convert", "format_of", "open_source", "open_target", "read_rename_map"]

FORMATS = ("bundle", "safetensors", "npz", "pt")
SUFFIXES = {".safetensors": "safetensors", ".npz": "npz", ".pt": "pt", ".pth": "pt"}
# --dtype casts between these (float32 <-> bfloat16 is the usual one)
FLOAT_TYPES = ("float16", "float32", "float64", "bfloat16")


def format_of(path: str | os.PathLike[str], to: str | None = None) -> str:
    """The format of ``path``: ``to`` when given, else from the extension (else a bundle)."""
    if to is not None:
        if to not in FORMATS:
            msg = f"unknown format {to!r}: expected one of {', '.join(FORMATS)}"
            raise InvalidArgumentError(msg)
        return to
    return SUFFIXES.get(Path(path).suffix.lower(), "bundle")


# format -> (module, its Source class, its Target class); a module is imported when used,
# so a conversion needs only its own formats' libraries
_CLASSES = {
    "bundle": ("bundle", "BundleSource", "BundleTarget"),
    "safetensors": ("safetensors", "SafetensorsSource", "SafetensorsTarget"),
    "npz": ("npz", "NpzSource", "NpzTarget"),
    "pt": ("pt", "TorchSource", "TorchTarget"),
}


def _class(fmt: str, role: int) -> Any:
    module = import_module(f".{_CLASSES[fmt][0]}", __name__)
    return getattr(module, _CLASSES[fmt][role])


def open_source(path: str | os.PathLike[str], fmt: str | None = None, *, friendly: bool = False) -> Source:
    """A Source over ``path`` (format from the extension unless ``fmt``)."""
    fmt = format_of(path, fmt)
    if fmt == "bundle":
        return _class(fmt, 1)(path, friendly=friendly)
    if not Path(path).is_file():
        msg = f"{path} does not exist" if not Path(path).exists() else f"{path} is not a file"
        raise FileNotFoundError(msg)
    return _class(fmt, 1)(path)


def open_target(path: str | os.PathLike[str], fmt: str | None = None) -> Target:
    """A Target writing ``path`` (format from the extension unless ``fmt``)."""
    return _class(format_of(path, fmt), 2)(path)


def parse_casts(specs: Iterable[str]) -> dict[str, str]:
    """``["float32:bfloat16"]`` -> ``{"float32": "bfloat16"}``; a bare ``T`` casts every
    floating-point type to ``T``."""
    casts: dict[str, str] = {}
    for spec in specs:
        src, sep, dst = spec.partition(":")
        pairs = [(src, dst)] if sep else [(f, src) for f in FLOAT_TYPES if f != src]
        for a, b in pairs:
            for t in (a, b):
                if t not in FLOAT_TYPES:
                    msg = f"--dtype {spec}: casts are between {', '.join(FLOAT_TYPES)}, not {t!r} (e.g. --dtype float32:bfloat16)"
                    raise InvalidArgumentError(msg)
            casts[a] = b
    return casts


@dataclass
class Step:
    """One tensor of a conversion: read ``source`` and write it as ``name``, cast to ``dtype``."""

    name: str
    source: str
    dtype: Any
    shape: tuple[int, ...]
    cast: bool
    tf_dtype: str | None = None  # the source bundle's dtype name, kept when not cast


@dataclass
class ConvertReport:
    """What a conversion wrote and what it left out (with the reason)."""

    written: list[Step] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source name, why)
    bytes_written: int = 0


def plan(
    tensors: list[TensorMeta],
    target: Target,
    *,
    select: str | None = None,
    rename: Mapping[str, str] | None = None,
    casts: Mapping[str, str] | None = None,
    strict: bool = False,
    where: str = "the source",
) -> tuple[list[Step], list[tuple[str, str]]]:
    """Decide every tensor's fate from metadata; raise before anything is written.

    ``select`` (a regular expression, ``re.search``) picks source names; ``rename`` maps
    target -> source (source names not in it keep their name); ``casts`` maps dtype names.
    Tensors the target cannot hold are skipped with a reason, or refused when ``strict``.
    """
    by_name = {t.name: t for t in tensors}
    if rename:
        missing = sorted(set(rename.values()) - by_name.keys())
        if missing:
            msg = f"the rename map names {len(missing)} tensor(s) not in {where}: {', '.join(map(repr, missing[:5]))}"
            raise TensorNotFoundError(msg)
    outputs: dict[str, list[str]] = {}
    for target_name, source_name in (rename or {}).items():
        outputs.setdefault(source_name, []).append(target_name)
    pattern = re.compile(select) if select else None
    steps: list[Step] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for meta in tensors:
        if pattern is not None and not pattern.search(meta.name):
            continue
        dtype = meta.dtype
        cast_to = (casts or {}).get(dtype_name(dtype))
        if cast_to is not None:
            dtype = numpy_dtype(cast_to)
        why = target.cannot_store(meta.name, dtype)
        if why is not None:
            skipped.append((meta.name, why))
            continue
        for out in outputs.get(meta.name, [meta.name]):
            if out in seen:
                msg = f"two tensors would both be written as {out!r} ({seen[out]!r} and {meta.name!r}): fix the rename map"
                raise InvalidArgumentError(msg)
            seen[out] = meta.name
            cast = cast_to is not None
            steps.append(Step(out, meta.name, dtype, meta.shape, cast, None if cast else meta.tf_dtype))
    if strict and skipped:
        lines = "; ".join(f"{n!r}: {why}" for n, why in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        msg = f"{len(skipped)} tensor(s) cannot be converted to {target.format}: {lines}{more}"
        raise InvalidArgumentError(msg)
    return steps, skipped


def run(source: Source, target: Target, steps: list[Step], progress: Callable[[int], None] | None = None) -> int:
    """Move every step's tensor from ``source`` to ``target``; returns the bytes written.

    The source's checksums are verified alongside the reads and the target's write
    (``Source.check``); the target is committed only after every one passed (its
    ``finish`` waits for the check last), and on any error it is aborted (no file left).
    """
    written = 0
    check = source.check(list(dict.fromkeys(step.source for step in steps)))
    try:
        for step in steps:
            array = source.read(step.source)
            if step.cast:
                array = array.astype(step.dtype)
            target.add(step.name, array, step.tf_dtype)
            written += array.nbytes
            del array  # drop this tensor before the next is read
            if progress is not None:
                progress(1)
        target.finish(check.wait)
    except BaseException:
        with contextlib.suppress(BaseException):
            check.wait()  # the source stays open until its verification has stopped
        target.abort()
        raise
    return written


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    to: str | None = None,
    source_format: str | None = None,
    select: str | None = None,
    rename: Mapping[str, str] | str | os.PathLike[str] | None = None,
    dtypes: Mapping[str, str] | None = None,
    friendly: bool = False,
    strict: bool = False,
) -> ConvertReport:
    """Convert checkpoint ``src`` into ``dst`` (see the module doc; the CLI's ``convert``).

    Args:
        to / source_format: the formats, when the extensions do not say (bundle otherwise).
        select: a regular expression; only source names it matches are converted.
        rename: ``{target: source}`` or a rename-map file (see ``rename_map``).
        dtypes: casts such as ``{"float32": "bfloat16"}``.
        friendly: a bundle source's TF2 keys become object-graph paths.
        strict: refuse (InvalidArgumentError) instead of skipping tensors ``dst`` cannot hold.
    """
    if rename is not None and not isinstance(rename, Mapping):
        rename = read_rename_map(rename)
    with open_source(src, source_format, friendly=friendly) as source:
        target_format = format_of(dst, to)
        target = open_target(dst, target_format)
        try:
            steps, skipped = plan(source.tensors(), target, select=select, rename=rename, casts=dtypes,
                                  strict=strict, where=str(src))  # fmt: skip
        except BaseException:
            target.abort()
            raise
        report = ConvertReport(steps, skipped)
        report.bytes_written = run(source, target, steps)
    return report
