"""One damaged entry fails only itself (issue 8, item 3).

Three held-out damage patterns used to take neighbours down through the overlap check:
an entry whose ``size`` is 2^62, one whose ``size`` grew by 4 (no longer numel x
itemsize), and one whose ``offset`` moved so that its payload straddles the end of its
shard. Each entry is now checked on its own first (size against dtype and shape, payload
inside its shard); one that fails is refused alone and takes no part in the overlap check.
The damage is applied to TF-written multi-shard checkpoints; every other tensor must still
load alone, with and without ``verify``, exactly as TensorFlow reads the undamaged file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import bundle_surgery
import bundlefast
import tf_oracle
from bundle_builder import build_table, encode_varint
from bundlefast import errors

pytestmark = pytest.mark.tf  # values come from TensorFlow reading the undamaged checkpoint

CASES = ["sharded_tf1", "tf2_sharding_policy"]
FIXED_WIDTH = {1: 4, 2: 8, 3: 4, 9: 8, 10: 1, 19: 2, 4: 1, 6: 1}  # dtype enum -> itemsize


def _copy(case: str, tmp_path: Path) -> Path:
    prefix = tf_oracle.case_prefix(case)
    shutil.copytree(prefix.parent, tmp_path / case)
    return tmp_path / case / prefix.name


def _replace_field(value: bytes, field: int, new: int) -> bytes:
    """`value` (a BundleEntryProto) with varint field `field` set to `new`."""
    out, pos = bytearray(), 0
    found = False
    while pos < len(value):
        start = pos
        tag, pos = bundle_surgery.varint(value, pos)
        wire = tag & 7
        if wire == 0:
            _, pos = bundle_surgery.varint(value, pos)
        elif wire == 2:
            n, pos = bundle_surgery.varint(value, pos)
            pos += n
        else:
            pos += 8 if wire == 1 else 4
        if tag >> 3 == field:
            out += encode_varint(field << 3) + encode_varint(new)
            found = True
        else:
            out += value[start:pos]
    if not found:
        out += encode_varint(field << 3) + encode_varint(new)
    return bytes(out)


def _victim(prefix: Path) -> tuple[bytes, bundle_surgery.Payload, int]:
    """A fixed-width tensor with a non-empty payload that is not the last one stored in
    its shard (so damage to it reaches a neighbour): (key, its payload, shard size)."""
    items = bundle_surgery.index_entries(Path(f"{prefix}.index").read_bytes())[1:]
    shards = tf_oracle.num_shards(prefix)
    by_shard: dict[int, list[tuple[bytes, bundle_surgery.Payload, bool]]] = {}
    for key, value in items:
        dtype = dict(bundle_surgery.fields(value)).get(1)
        p = bundle_surgery.entry_payload(value)
        if p.size > 0:
            # Slice entries (keys starting with 00) can be neighbours, not victims: a
            # victim must be a tensor that can be named.
            by_shard.setdefault(p.shard, []).append((key, p, dtype in FIXED_WIDTH and not key.startswith(b"\x00")))
    for shard, entries in sorted(by_shard.items()):
        entries.sort(key=lambda e: e[1].offset)
        for key, p, eligible in entries[:-1]:
            if eligible:
                size = Path(f"{prefix}.data-{shard:05d}-of-{shards:05d}").stat().st_size
                return key, p, size
    raise AssertionError(f"{prefix}: no fixed-width tensor has a neighbour after it")


def _damage(prefix: Path, key: bytes, field: int, new: int) -> None:
    index = Path(f"{prefix}.index")
    items = bundle_surgery.index_entries(index.read_bytes())
    index.write_bytes(build_table([(k, _replace_field(v, field, new) if k == key else v) for k, v in items]))


PATTERNS = {
    "size 2^62": lambda p, shard_size: (5, 1 << 62),
    "size + 4": lambda p, shard_size: (5, p.size + 4),
    "straddles the shard end": lambda p, shard_size: (4, shard_size - p.size // 2),
}


@pytest.mark.parametrize("pattern", list(PATTERNS))
@pytest.mark.parametrize("case", CASES)
def test_one_damaged_entry_fails_only_itself(tmp_path, case, pattern):
    original = tf_oracle.case_prefix(case)
    tf = tf_oracle.tf_snapshot(original)
    prefix = _copy(case, tmp_path)
    key, payload, shard_size = _victim(prefix)
    field, new = PATTERNS[pattern](payload, shard_size)
    _damage(prefix, key, field, new)
    bad = key.decode()
    expected = "invalid size in bundle entry" if field == 5 else "lies outside the"
    for verify in (False, True):
        with pytest.raises(errors.CorruptionError, match=expected) as info:
            bundlefast.load(prefix, names=[bad], verify=verify)
        assert repr(bad)[1:-1] in str(info.value)
        assert "overlaps" not in str(info.value)
    others = [name for name in tf if name != bad]
    assert others
    for mmap in (True, False):
        for verify in (False, True):
            for name in others:
                (array,) = bundlefast.load(prefix, names=[name], verify=verify, mmap=mmap).values()
                if tf[name].value is not None:  # variants: TF cannot convert them
                    tf_oracle.assert_same_array(array, tf[name].value, name)
    # Reading everything still fails on the damaged entry, and only on it.
    with pytest.raises(errors.CorruptionError, match=expected):
        bundlefast.load(prefix)


def test_entries_that_are_each_valid_but_overlap_are_still_refused(tmp_path):
    """The isolation above must not weaken the overlap check itself: two entries of the
    right size, inside their shard, sharing bytes, are both refused (here two slices of
    the partitioned 'part', so 'part' fails), and the other tensors still load."""
    prefix = _copy("sharded_tf1", tmp_path)
    items = bundle_surgery.index_entries(Path(f"{prefix}.index").read_bytes())[1:]
    slices = sorted(
        (bundle_surgery.entry_payload(v).offset, k) for k, v in items if k.startswith(b"\x00part\x00")
    )
    (first_offset, _), (_, moved) = slices[-2], slices[-1]
    _damage(prefix, moved, 4, first_offset)
    with pytest.raises(errors.CorruptionError, match=r"overlaps the payload of slice .* of 'part'"):
        bundlefast.load(prefix, names=["part"])
    tf = tf_oracle.tf_snapshot(tf_oracle.case_prefix("sharded_tf1"))
    for name in tf:
        if name != "part":
            (array,) = bundlefast.load(prefix, names=[name], verify=True).values()
            tf_oracle.assert_same_array(array, tf[name].value, name)
