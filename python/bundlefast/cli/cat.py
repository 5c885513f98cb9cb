"""``bundlefast cat PREFIX NAME``: print a tensor, or ``NAME[0:5, :3]``: only that region.

A region is read through ``Reader.get_slice``, so only its bytes are touched (a
contiguous region is a view of the mapped shard). NAME may also be a friendly name
(``model/dense/kernel``) of a TF2 checkpoint.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

import numpy as np

from ._common import EXIT_OK, EXIT_USAGE, CliError, close_names, format_shape, open_location

DESCRIPTION = "Print a tensor, or a region of it (NAME[0:5, :3]) read without loading the rest."
_REGION = re.compile(r"(?s)(.*)\[([^\[\]]*)\]\s*")
_SYNTAX = "a region is integers and slices, e.g. NAME[0:5, :3], NAME[-1], NAME[..., 0]"


def add_parser(commands: Any) -> None:
    p = commands.add_parser("cat", help="print a tensor or a region of it", description=DESCRIPTION)
    p.add_argument("prefix", help="checkpoint prefix, P.index path, checkpoint directory or SavedModel directory")
    p.add_argument("name", help="tensor name (raw key or friendly name), optionally with a region: 'NAME[0:5, :3]'")
    p.add_argument("--full", action="store_true", help="print every element (no '...' summary)")
    p.set_defaults(run=run)


def parse_region(text: str) -> tuple[Any, ...]:
    """``"0:5, :3"`` -> ``(slice(0, 5), slice(None, 3))``; ``...``, ``None`` and negatives too."""
    key: list[Any] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if part == "...":
                key.append(Ellipsis)
            elif part in ("None", "newaxis", "np.newaxis"):
                key.append(None)
            elif ":" in part:
                bounds = part.split(":")
                if len(bounds) > 3:
                    raise ValueError(part)
                key.append(slice(*(int(b) if b.strip() else None for b in bounds)))
            else:
                key.append(int(part))
        except ValueError:
            raise CliError(f"bad region [{text}]: {part!r} is not an index; {_SYNTAX}") from None
    return tuple(key)


def resolve(reader: Any, name: str) -> tuple[str, tuple[Any, ...] | None]:
    """(raw key, region or None) for what the user typed."""
    region = None
    if name not in reader:
        match = _REGION.fullmatch(name)
        if match and (match.group(1) in reader or match.group(1) in _friendly(reader)):
            name, region = match.group(1), parse_region(match.group(2))
    if name in reader:
        return name, region
    friendly = _friendly(reader)
    if name in friendly:
        return friendly[name], region
    close = close_names(name, [*reader, *friendly])
    hint = f"; close names: {', '.join(close)}" if close else ""
    msg = f"no tensor {name!r} in {reader.prefix}{hint}; `bundlefast ls {reader.prefix}` lists them"
    raise CliError(msg, EXIT_USAGE)


def _friendly(reader: Any) -> dict[str, str]:
    try:
        return dict(reader.friendly_names(include_slots=True))
    except ValueError:  # an object graph that does not decode: raw keys still work
        return {}


def run(args: argparse.Namespace) -> int:
    with open_location(args.prefix, args.argv) as reader:
        key, region = resolve(reader, args.name)
        info = reader.info(key)
        if region is None:
            value = reader[key]
            where = ""
        else:
            try:
                value = reader.get_slice(key)[region]
            except IndexError as err:
                raise CliError(f"{args.name}: {err} (the tensor's shape is {format_shape(info.shape)})") from None
            where = f" region [{_region_text(region)}] -> {format_shape(value.shape)}"
        print(f"{key}: {info.tf_dtype} {format_shape(info.shape)}{where}")
        # "unique": the fewest digits that still read back as the same value
        options: dict[str, Any] = {"floatmode": "unique", **({"threshold": sys.maxsize} if args.full else {})}
        with np.printoptions(**options):
            print(np.array2string(np.asarray(value), separator=", ") if value.ndim else repr(value[()]))
    return EXIT_OK


def _region_text(region: tuple[Any, ...]) -> str:
    def one(k: Any) -> str:
        if k is Ellipsis:
            return "..."
        if k is None:
            return "None"
        if isinstance(k, slice):
            text = f"{'' if k.start is None else k.start}:{'' if k.stop is None else k.stop}"
            return text + (f":{k.step}" if k.step is not None else "")
        return str(k)

    return ", ".join(one(k) for k in region)
