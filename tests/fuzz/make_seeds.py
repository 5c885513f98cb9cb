#!/usr/bin/env python
"""Write the seed corpora of the fuzz targets into OUT_DIR/{bundle,tensor}.

Seeds are real bundles: every TF-written checkpoint under ``tests/data`` (single-shard
ones as they are, multi-shard ones with their first shard), plus a few that TF cannot
write here, made with ``tests/bundle_builder.py`` (Snappy index blocks, big-endian data,
many small blocks, padding, slices). Input formats (see the harness sources):

* ``bundle``: fixed32 LE index length, the ``.index`` bytes, then one data shard.
* ``tensor``: the entry proto escaped as FuzzedDataProvider reads it back, the data
  shard, and last a flags byte (bit 0 big-endian, bit 1 make the payload's checksums right
  for its dtype): FuzzedDataProvider takes integers from the end of the input.

    python tests/fuzz/make_seeds.py OUT_DIR
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS))

import numpy as np  # noqa: E402

import bundle_builder as bb  # noqa: E402
from bundle_surgery import index_entries  # noqa: E402


def _length_prefixed(data: bytes) -> bytes:
    """How FuzzedDataProvider.ConsumeRandomLengthString reads `data` back: a backslash is
    escaped by doubling it, and a backslash followed by another byte ends the string."""
    return data.replace(b"\\", b"\\\\") + b"\\x"


def builder_bundles(tmp: Path) -> list[Path]:
    """Bundles TF does not write here: Snappy blocks, big-endian, tiny blocks, padding."""
    prefixes = []

    def add_all(b: bb.BundleBuilder) -> None:
        b.add("f32", np.arange(6, dtype=np.float32).reshape(2, 3))
        b.add("i64", np.array([1, -2, 3], dtype=np.int64))
        b.add("c64", np.array([1 + 2j], dtype=np.complex64))
        b.add("s", [b"ab", b"", b"xyz"])
        b.add("empty_s", np.array([], dtype=object).reshape(0))
        b.add("scalar", np.float64(2.5))
        b.add_slice("w", (4, 3), [(0, 2), (0, -1)], np.ones((2, 3), np.float32))
        b.add_slice("w", (4, 3), [(2, 2), (0, -1)], np.zeros((2, 3), np.float32))

    for name, kwargs in {
        "snappy": {"compress": "snappy"},
        "big_endian": {"big_endian": True},
        "tiny_blocks": {"block_size": 64},
        "aligned": {"data_alignment": 64},
    }.items():
        b = bb.BundleBuilder(**kwargs)
        add_all(b)
        b.write(tmp / name)
        prefixes.append(tmp / name)
    return prefixes


def main(out_dir: str) -> None:
    out = Path(out_dir)
    (out / "bundle").mkdir(parents=True, exist_ok=True)
    (out / "tensor").mkdir(parents=True, exist_ok=True)
    (out / "builder").mkdir(parents=True, exist_ok=True)
    prefixes = [p.with_suffix("") for p in sorted((TESTS / "data").rglob("*.index"))]
    prefixes += builder_bundles(out / "builder")
    n_bundle = n_tensor = 0
    for prefix in prefixes:
        index = prefix.with_name(prefix.name + ".index").read_bytes()
        shards = sorted(prefix.parent.glob(prefix.name + ".data-*"))
        if not shards:
            continue
        data = shards[0].read_bytes()
        name = f"{prefix.parent.name}_{prefix.name}"
        (out / "bundle" / name).write_bytes(struct.pack("<I", len(index)) + index + data)
        n_bundle += 1
        if name.endswith("_snappy"):
            continue  # entries of compressed blocks are not parsed here
        header, *entries = index_entries(index)
        flags = 1 if b"\x10\x01" in header[1] else 0
        for i, (key, value) in enumerate(entries[:40]):
            # Every other seed asks the harness for dtype-correct CRCs (flags bit 1), so
            # mutated payloads pass verification and reach decoding from the start.
            seed_flags = flags | (2 if i % 2 else 0)
            (out / "tensor" / f"{name}_{i}").write_bytes(_length_prefixed(value) + data + bytes([seed_flags]))
            n_tensor += 1
    print(f"seeds: {n_bundle} bundles, {n_tensor} tensors in {out}")


if __name__ == "__main__":
    main(sys.argv[1])
