"""``bundlefast convert SRC DST``: between TF bundles, .safetensors, .npz and .pt files.

The formats come from the extensions (``.safetensors``, ``.npz``, ``.pt``/``.pth``;
anything else is a bundle prefix) or from ``--from`` / ``--to``. Tensors stream one at a
time (see ``bundlefast.convert``); those the destination cannot hold (strings in a
.safetensors file, bfloat16 in an .npz) are skipped and listed on stderr, or refused up
front with ``--strict``. Partitioned variables come out assembled.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

from ..convert import FORMATS, format_of, open_source, open_target, parse_casts, plan, read_rename_map, run as run_steps
from ._common import EXIT_OK, CliError, human_bytes, open_location, warn
from ._progress import progress_bar

DESCRIPTION = "Convert a checkpoint between a TF bundle, .safetensors, .npz and a PyTorch state dict (.pt)."
EPILOG = """examples:
  bundlefast convert ckpt-1 model.safetensors
  bundlefast convert ckpt-1 weights.npz --select '^model/' --dtype bfloat16:float32
  bundlefast convert model.safetensors out/ckpt --to bundle --rename names.txt
--rename FILE: one 'TARGET SOURCE' pair per line (# comments), or a JSON object {"TARGET": "SOURCE"}."""


def add_parser(commands: Any) -> None:
    p = commands.add_parser("convert", help="convert to/from safetensors, npz, pt", description=DESCRIPTION,
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("src", help="source: bundle prefix (or directory), .safetensors, .npz or .pt file")
    p.add_argument("dst", help="destination file, or a bundle prefix")
    p.add_argument("--to", choices=FORMATS, help="destination format (default: from DST's extension)")
    p.add_argument("--from", dest="source_format", choices=FORMATS, help="source format (default: from SRC)")
    p.add_argument("--select", metavar="REGEX", help="only tensors whose name matches (re.search)")
    p.add_argument("--rename", metavar="MAPFILE", help="rename map: 'TARGET SOURCE' lines or a JSON object")
    p.add_argument("--dtype", action="append", default=[], metavar="FROM:TO",
                   help="cast, e.g. float32:bfloat16 (repeatable); a bare TO casts every float type")  # fmt: skip
    p.add_argument("--friendly", action="store_true", help="name TF2 tensors by object path (model/dense/kernel)")
    p.add_argument("--strict", action="store_true", help="fail instead of skipping tensors DST cannot hold")
    p.add_argument("--force", action="store_true", help="replace DST if it exists")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    p.set_defaults(run=run)


def _exists(dst: str, fmt: str) -> Path | None:
    path = Path(dst + ".index") if fmt == "bundle" else Path(dst)
    return path if path.exists() else None


def run(args: argparse.Namespace) -> int:
    casts = parse_casts(args.dtype)
    rename = read_rename_map(args.rename) if args.rename else None
    fmt = format_of(args.dst, args.to)
    existing = _exists(args.dst, fmt)
    if existing is not None and not args.force:
        raise CliError(f"{existing} exists: add --force to replace it, or choose another destination")
    opener = partial(open_source, fmt=args.source_format, friendly=args.friendly)
    with open_location(args.src, args.argv, opener) as source:
        target = open_target(args.dst, fmt)
        try:
            steps, skipped = plan(source.tensors(), target, select=args.select, rename=rename, casts=casts,
                                  strict=args.strict, where=args.src)  # fmt: skip
        except BaseException:
            target.abort()
            raise
        for name, why in skipped:
            warn(f"skipped {name!r}: {why}")
        for name in getattr(source, "skipped", []):
            warn(f"skipped {name!r}: not a tensor")
        bar = progress_bar(len(steps), "convert", unit="tensor", enabled=not args.no_progress)
        try:
            written = run_steps(source, target, steps, bar.update)
        finally:
            bar.close()
    if skipped:
        warn(f"{len(skipped)} tensor(s) skipped (--strict makes that an error; --select chooses tensors)")
    print(f"wrote {len(steps)} tensors ({human_bytes(written)}) to {args.dst} ({fmt})")
    return EXIT_OK
