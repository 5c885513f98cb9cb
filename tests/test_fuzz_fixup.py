"""The fuzzers' index fix-up (tests/fuzz/index_fixup.py; fuzz_common.h is its C++ twin)
lets insertions and deletions reach the parsers instead of dying at "bad magic" or a
block checksum, on TF-written and builder-made (Snappy, many-block) indexes."""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import bundle_builder as bb
import bundlefast
from bundlefast import errors

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
import index_fixup  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
STALE = ("bad magic", "block checksum mismatch", "truncated block read", "bad block handle in footer")


def _builder_index(tmp_path: Path, **kwargs) -> Path:
    b = bb.BundleBuilder(**kwargs)
    for i in range(40):
        b.add(f"layer_{i:02d}/kernel", np.full((3, 2), i, np.float32))
        b.add(f"layer_{i:02d}/name", [f"name {i}".encode()])
    prefix = tmp_path / "built"
    b.write(prefix)
    return prefix


@pytest.fixture(params=["tf:many_keys", "tf:keras_tf2", "snappy", "tiny_blocks"])
def prefix(request, tmp_path) -> Path:
    kind = request.param
    if kind.startswith("tf:"):
        return next((DATA / kind[3:]).glob("*.index")).with_suffix("")
    return _builder_index(tmp_path, **({"compress": "snappy"} if kind == "snappy" else {"block_size": 64}))


def _open_error(index: bytes, prefix: Path, work: Path) -> str | None:
    for shard in prefix.parent.glob(prefix.name + ".data-*"):
        (work / shard.name.replace(prefix.name, "m", 1)).write_bytes(shard.read_bytes())
    (work / "m.index").write_bytes(index)
    try:
        bundlefast.open(work / "m").close()
    except errors.BundleError as e:
        return str(e)
    return None


def test_insertions_and_deletions_reach_the_parsers(prefix, tmp_path, random_seed):
    rng = random.Random(random_seed)
    index = (prefix.parent / (prefix.name + ".index")).read_bytes()
    assert index_fixup.fix_up_index(index, bundlefast.masked_crc32c) == index  # nothing to fix
    stale = []
    for _ in range(60):  # each inside the blocks: a damaged footer is the reader's to refuse
        n = rng.randint(1, 8)
        pos = rng.randrange(0, len(index) - index_fixup.FOOTER_SIZE - n)
        if rng.random() < 0.5:
            mutated = index[:pos] + bytes(rng.randrange(256) for _ in range(n)) + index[pos:]
        else:
            mutated = index[:pos] + index[pos + n:]
        without = _open_error(mutated, prefix, tmp_path)
        assert without is not None and any(s in without for s in STALE), without  # why the fix-up exists
        error = _open_error(index_fixup.fix_up_index(mutated, bundlefast.masked_crc32c), prefix, tmp_path)
        if error is not None and any(s in error for s in STALE):
            stale.append(error)
    assert not stale, stale[:3]


def test_the_stated_index_length_is_only_a_fallback():
    index = next((DATA / "strings").glob("*.index")).read_bytes()
    data = struct.pack("<I", len(index)) + index[:100] + b"\x00\x01" + index[100:] + b"shard bytes"
    assert index_fixup.index_length(data) == len(index) + 2
    assert index_fixup.index_length(struct.pack("<I", 3) + b"no magic here") == 3


def test_snappy_decoder_reads_the_builders_output():
    data = b"abcabcabcabc" * 50 + bytes(range(256)) + b"z" * 300
    assert index_fixup.snappy_uncompress(bb.snappy_compress(data)) == data
    with pytest.raises(ValueError):
        index_fixup.snappy_uncompress(b"\x05\x01")  # a copy before any output
