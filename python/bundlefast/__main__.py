"""Command line: ``python -m bundlefast PREFIX`` (or ``bundlefast PREFIX``).

Lists the tensors of a checkpoint (name, dtype, shape, bytes); ``--verify``
checks every CRC32C; ``--json`` prints the same as JSON. Exit status 0 on
success, 1 on a damaged or unreadable checkpoint (the message says why).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from . import BundleError, Reader


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bundlefast", description="Inspect a TensorFlow checkpoint without TensorFlow.")
    p.add_argument("prefix", help="checkpoint prefix, P.index path, checkpoint directory or SavedModel directory")
    p.add_argument("--verify", action="store_true", help="check the CRC32C of every tensor")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        with Reader(args.prefix) as reader:
            rows = []
            for name in reader:
                info = reader.info(name)
                rows.append({"name": name, "dtype": info.tf_dtype, "shape": list(info.shape), "bytes": info.size})
            verified = None
            if args.verify:
                t0 = time.perf_counter()
                reader.verify()
                verified = time.perf_counter() - t0
            prefix = str(reader.prefix)
            shards = reader.num_shards
    except (BundleError, OSError) as err:
        print(f"bundlefast: {err}", file=sys.stderr)
        return 1
    total = sum(r["bytes"] for r in rows)
    if args.json:
        json.dump({"prefix": prefix, "num_shards": shards, "tensors": rows, "verified": args.verify}, sys.stdout)
        print()
        return 0
    width = max((len(r["name"]) for r in rows), default=4)
    print(f"{'name':<{width}}  {'dtype':<13} {'shape':<20} {'bytes':>12}")
    for r in rows:
        shape = "[" + ",".join(str(d) for d in r["shape"]) + "]"
        print(f"{r['name']:<{width}}  {r['dtype']:<13} {shape:<20} {r['bytes']:>12}")
    print(f"{len(rows)} tensors, {total} bytes, {shards} shard(s): {prefix}")
    if verified is not None:
        print(f"verified: every CRC32C matches ({verified * 1e3:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
