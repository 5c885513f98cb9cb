"""``bundlefast diff A B``: added, removed and changed tensors, with how much they changed.

A and B can be any two checkpoints ``convert`` reads (bundles, .safetensors, .npz, .pt).
Values are compared in chunks of CHUNK elements, so memory stays small however large the
tensors are. Two values are equal when ``|a - b| <= atol + rtol * |b|`` (NumPy's
``isclose``; NaN equals NaN); with the defaults (0, 0) only exact equality is equal.
Exit 0 when nothing differs, 1 when something does.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..convert import open_source
from ..convert._base import TensorMeta, dtype_name
from ._common import EXIT_FAILED, EXIT_OK, format_shape, open_location

CHUNK = 1 << 20

DESCRIPTION = "Compare two checkpoints: added, removed and changed tensors; dtype and shape changes; max differences."


def add_parser(commands: Any) -> None:
    p = commands.add_parser("diff", help="compare two checkpoints", description=DESCRIPTION)
    p.add_argument("a", help="first checkpoint (bundle prefix, .safetensors, .npz or .pt)")
    p.add_argument("b", help="second checkpoint")
    p.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default 0)")
    p.add_argument("--rtol", type=float, default=0.0, help="relative tolerance, times |b| (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON instead of lines")
    p.set_defaults(run=run)


@dataclass
class Change:
    """How one tensor present on both sides differs."""

    name: str
    what: str  # "dtype", "shape" or "values"
    a: str = ""  # dtype or shape on each side, for dtype/shape changes
    b: str = ""
    differing: int = 0  # elements outside the tolerance
    elements: int = 0
    max_abs: float | None = None  # over all elements (numeric tensors only)
    max_rel: float | None = None  # |a - b| / |b| where b != 0


def _numeric(dtype: np.dtype) -> bool:
    """NumPy's numbers and bool, and ml_dtypes' (bfloat16 has kind "V", int4 too)."""
    return dtype.kind in "biufc" or dtype.type.__module__.startswith("ml_dtypes")


def _exact(dtype: np.dtype) -> bool:
    """Integers and bool: compared as they are (an int64 cast to float64 may round)."""
    return dtype.kind in "biu" or (dtype.type.__module__.startswith("ml_dtypes") and "int" in dtype.name)


def compare_values(name: str, a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> Change | None:
    """None when every element is within tolerance, else how they differ."""
    flat_a, flat_b = np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1)
    numeric = _numeric(flat_a.dtype) and _numeric(flat_b.dtype)
    exact = atol == rtol == 0 and _exact(flat_a.dtype) and _exact(flat_b.dtype)
    change = Change(name, "values", elements=flat_a.size)
    max_abs = max_rel = 0.0
    for start in range(0, flat_a.size, CHUNK):
        x, y = flat_a[start : start + CHUNK], flat_b[start : start + CHUNK]
        if x.dtype == y.dtype and x.dtype.kind != "O" and x.tobytes() == y.tobytes():
            continue  # the common case of a diff: identical bytes
        if not numeric:
            change.differing += int(np.count_nonzero(x != y))
            continue
        wide = np.complex128 if "c" in (x.dtype.kind, y.dtype.kind) else np.float64
        with np.errstate(all="ignore"):  # NaN payloads, inf - inf: handled below
            xw, yw = x.astype(wide), y.astype(wide)
            same = (x == y) if exact else (np.isclose(xw, yw, rtol=rtol, atol=atol, equal_nan=True) | (xw == yw))
            change.differing += int(same.size - np.count_nonzero(same))
            gap = np.abs(xw - yw)
            gap = gap[np.isfinite(gap)]
            if gap.size:
                max_abs = max(max_abs, float(gap.max()))
                finite_y = np.abs(yw[np.isfinite(np.abs(xw - yw))])
                rel = gap / finite_y
                rel = rel[np.isfinite(rel)]
                if rel.size:
                    max_rel = max(max_rel, float(rel.max()))
    if numeric:
        change.max_abs, change.max_rel = max_abs, max_rel
    return change if change.differing else None


def compare(a: Any, b: Any, atol: float, rtol: float) -> tuple[list[TensorMeta], list[TensorMeta], list[Change], int]:
    """(only in A, only in B, changes, number of equal tensors) for two open Sources."""
    ta = {t.name: t for t in a.tensors()}
    tb = {t.name: t for t in b.tensors()}
    removed = [t for n, t in ta.items() if n not in tb]
    added = [t for n, t in tb.items() if n not in ta]
    changes: list[Change] = []
    equal = 0
    for name, ma in ta.items():
        mb = tb.get(name)
        if mb is None:
            continue
        if dtype_name(ma.dtype) != dtype_name(mb.dtype):
            changes.append(Change(name, "dtype", dtype_name(ma.dtype), dtype_name(mb.dtype)))
        elif ma.shape != mb.shape:
            changes.append(Change(name, "shape", format_shape(ma.shape), format_shape(mb.shape)))
        else:
            change = compare_values(name, a.read(name), b.read(name), atol, rtol)
            if change is None:
                equal += 1
            else:
                changes.append(change)
    return removed, added, changes, equal


def run(args: argparse.Namespace) -> int:
    with open_location(args.a, args.argv, open_source) as a, open_location(args.b, args.argv, open_source) as b:
        removed, added, changes, equal = compare(a, b, args.atol, args.rtol)
    differ = bool(removed or added or changes)
    if args.json:
        json.dump({
            "removed": [t.name for t in removed], "added": [t.name for t in added],
            "changed": [asdict(c) for c in changes], "equal": equal, "differ": differ,
        }, sys.stdout)  # fmt: skip
        print()
        return EXIT_FAILED if differ else EXIT_OK
    for t in removed:
        print(f"- {t.name}  {dtype_name(t.dtype)} {format_shape(t.shape)}  (only in A)")
    for t in added:
        print(f"+ {t.name}  {dtype_name(t.dtype)} {format_shape(t.shape)}  (only in B)")
    for c in changes:
        if c.what != "values":
            print(f"~ {c.name}  {c.what} {c.a} -> {c.b}")
            continue
        amounts = f", max abs {c.max_abs:.6g}, max rel {c.max_rel:.6g}" if c.max_abs is not None else ""
        print(f"~ {c.name}  {c.differing} of {c.elements} elements differ{amounts}")
    if differ:
        print(f"A and B differ: {len(removed)} removed, {len(added)} added, {len(changes)} changed, {equal} equal")
        return EXIT_FAILED
    print(f"no differences: {equal} tensors equal")
    return EXIT_OK
