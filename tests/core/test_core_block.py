"""csrc/block.cc: one SSTable block, decoded from blocks the independent builder writes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bundle_builder import _BlockBuilder
from bundlefast import errors
from bundlefast._core import _testing as core

_items = st.dictionaries(st.binary(max_size=12), st.binary(max_size=20), max_size=60).map(lambda d: sorted(d.items()))


def _block(items, interval=16):
    b = _BlockBuilder(interval)
    for k, v in items:
        b.add(k, v)
    return b.finish()


@given(_items, st.integers(min_value=1, max_value=20))
def test_every_entry_comes_back_in_order(items, interval):
    assert core.block_entries(_block(items, interval)) == items


def test_an_empty_block():
    assert core.block_entries(_block([])) == []


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b[:3], "bad entry in block|restart"),
        (lambda b: b[:-4] + struct.pack("<I", 1 << 30), "restart"),
        (lambda b: b"\x05" + b[1:], "shared|bad entry"),
    ],
    ids=["too-short", "restart-count", "shared-prefix-too-long"],
)
def test_malformed_blocks_are_corruption(mutate, match):
    block = _block([(b"abc", b"1"), (b"abd", b"2")])
    with pytest.raises(errors.CorruptionError, match=match):
        core.block_entries(mutate(block))
