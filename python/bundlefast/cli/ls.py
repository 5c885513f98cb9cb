"""``bundlefast ls PREFIX``: the tensors of a checkpoint, with totals.

The size column is ``stored_bytes``: what the tensor occupies in its data file. For a
fixed-width dtype that is elements x itemsize; a string tensor also stores its varint
lengths and a checksum, so it is larger than its text. ``--tree`` groups by the TF2
object graph (friendly names, optimizer slots under their variable); ``--meta`` lists
the variables of the ``P.meta`` graph a TF1 Saver writes next to the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ._common import EXIT_OK, EXIT_USAGE, CliError, format_shape, human_bytes, open_location

DESCRIPTION = "List the tensors of a checkpoint: name, dtype, shape, stored bytes, shard; totals."


def add_parser(commands: Any) -> None:
    p = commands.add_parser("ls", help="list tensors (the default command)", description=DESCRIPTION)
    p.add_argument("prefix", help="checkpoint prefix, P.index path, checkpoint directory or SavedModel directory")
    p.add_argument("--tree", action="store_true", help="group by the TF2 object graph (friendly names, slots)")
    p.add_argument("--meta", action="store_true", help="list the variables of the P.meta graph instead")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def stored_bytes(info: Any) -> int:
    """Bytes in the data files; a partitioned tensor's slices hold its values exactly."""
    if not info.slices:
        return int(info.size)
    itemsize = info.dtype.itemsize if info.dtype is not None and info.dtype.kind != "O" else 0
    return int(np.prod(info.shape, dtype=np.int64)) * itemsize


def rows_of(reader: Any) -> list[dict[str, Any]]:
    rows = []
    for name in reader:
        info = reader.info(name)
        rows.append({
            "name": name,
            "dtype": info.tf_dtype,
            "shape": list(info.shape),
            "stored_bytes": stored_bytes(info),
            "shard": info.shard if not info.slices else None,
            "slices": len(info.slices),
        })  # fmt: skip
    return rows


def run(args: argparse.Namespace) -> int:
    if args.meta:
        return _run_meta(args)
    with open_location(args.prefix, args.argv) as reader:
        rows = rows_of(reader)
        friendly = {key: name for name, key in reader.friendly_names(include_slots=True).items()} if args.tree else {}
        prefix, shards = str(reader.prefix), reader.num_shards
    totals = {"tensors": len(rows), "stored_bytes": sum(r["stored_bytes"] for r in rows), "shards": shards}
    if args.json:
        for r in rows:
            if args.tree:
                r["friendly"] = friendly.get(r["name"])
        json.dump({"prefix": prefix, "num_shards": shards, "tensors": rows, "totals": totals}, sys.stdout)
        print()
        return EXIT_OK
    if args.tree:
        _print_tree(rows, friendly)
    else:
        _print_table(rows)
    print(f"{totals['tensors']} tensors, {totals['stored_bytes']} stored bytes ({human_bytes(totals['stored_bytes'])}), "
          f"{shards} shard(s): {prefix}")  # fmt: skip
    return EXIT_OK


def _where(r: dict[str, Any]) -> str:
    return f"{r['slices']} slices" if r["slices"] else str(r["shard"])


def _print_table(rows: list[dict[str, Any]]) -> None:
    shapes = [format_shape(r["shape"]) for r in rows]
    width = max((len(r["name"]) for r in rows), default=4)
    shape_w = max(map(len, shapes), default=5)
    lines = [f"{'name':<{width}}  {'dtype':<13} {'shape':<{shape_w}} {'stored_bytes':>12}  shard"]
    lines += [f"{r['name']:<{width}}  {r['dtype']:<13} {shape:<{shape_w}} {r['stored_bytes']:>12}  {_where(r)}"
              for r, shape in zip(rows, shapes)]  # fmt: skip
    sys.stdout.write("\n".join(lines) + "\n")


def _print_tree(rows: list[dict[str, Any]], friendly: dict[str, str]) -> None:
    """One line per object; a tensor under its object path, a slot as ``@optimizer/slot``
    under its variable; tensors the graph does not name are listed last by key."""
    tree: dict[str, Any] = {}
    loose = []
    for r in rows:
        name = friendly.get(r["name"])
        if name is None:
            loose.append(r)
            continue
        path, at, slot = name.partition("@")
        node = tree
        for part in path.split("/") + ([at + slot] if at else []):
            node = node.setdefault(part, {})
        node[""] = r  # the tensor at this node
    _print_nodes(tree, 0)
    if loose:
        print("(not in the object graph)")
        for r in loose:
            print(f"  {r['name']}  {_leaf(r)}")


def _leaf(r: dict[str, Any]) -> str:
    return f"{r['dtype']} {format_shape(r['shape'])} {r['stored_bytes']} B"


def _natural(part: str) -> tuple[int, int, str]:
    """Sort key: numbered children (Keras' ``_variables/10``) in numeric order, first."""
    return (0, int(part), "") if part.isdigit() else (1, 0, part)


def _print_nodes(node: dict[str, Any], depth: int) -> None:
    for part in sorted((p for p in node if p), key=_natural):
        child = node[part]
        r = child.get("")
        print("  " * depth + part + (f"  {_leaf(r)}" if r is not None else "/"))
        _print_nodes(child, depth + 1)


def _run_meta(args: argparse.Namespace) -> int:
    """The variables of ``P.meta`` (``bundlefast.meta.read``), and whether each is saved."""
    try:
        from .. import meta  # the .meta MetaGraphDef reader, when this build has it
    except ImportError:
        msg = "this bundlefast cannot read .meta graphs (no bundlefast.meta); `bundlefast ls PREFIX` lists the tensors"
        raise CliError(msg, EXIT_USAGE) from None
    with open_location(args.prefix, args.argv) as reader:
        path = Path(str(reader.prefix) + ".meta")
        keys = set(reader)
    if not path.is_file():
        msg = (f"there is no {path} (a TF1 Saver writes one unless write_meta_graph=False); "
               f"`bundlefast ls {args.prefix}` lists the tensors")  # fmt: skip
        raise CliError(msg, EXIT_USAGE)
    rows = []
    for v in meta.read(path).variables:
        shape = getattr(v, "shape", None)
        key = getattr(v, "checkpoint_key", v.name)
        rows.append({
            "name": v.name, "dtype": getattr(v, "tf_dtype", ""), "shape": None if shape is None else list(shape),
            "trainable": bool(getattr(v, "trainable", False)), "checkpoint_key": key, "saved": key in keys,
        })  # fmt: skip
    if args.json:
        json.dump({"meta": str(path), "variables": rows}, sys.stdout)
        print()
        return EXIT_OK
    width = max((len(r["name"]) for r in rows), default=4)
    print(f"{'name':<{width}}  {'dtype':<13} {'shape':<14} trainable  in checkpoint")
    for r in rows:
        shape = "?" if r["shape"] is None else format_shape(r["shape"])
        saved = "yes" if r["saved"] else f"no ({r['checkpoint_key']})"
        print(f"{r['name']:<{width}}  {r['dtype']:<13} {shape:<14} {'yes' if r['trainable'] else 'no':<9}  {saved}")
    print(f"{len(rows)} variables, {sum(r['saved'] for r in rows)} in the checkpoint: {path}")
    return EXIT_OK
