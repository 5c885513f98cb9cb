"""The core's encoders against its decoders (issue 9 item 6): whatever the writer's
block/table builders and entry/header/string encoders produce, the reader's layers decode
back exactly. Each side is also tested against the independent builder elsewhere."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bundlefast import _core
from bundlefast._core import _testing as core

_items = st.dictionaries(st.binary(min_size=1, max_size=16), st.binary(max_size=400), max_size=100).map(
    lambda d: sorted(d.items())
)


@settings(max_examples=60)
@given(_items, st.sampled_from([64, 512, 4096]))
def test_tables_round_trip(items, block_size):
    assert core.table_entries(_core._build_table(items, block_size)) == items


@given(
    st.integers(min_value=1, max_value=23),
    st.lists(st.integers(min_value=0, max_value=1000), max_size=4),  # element count within int64
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=0, max_value=2**50),
    st.integers(min_value=0, max_value=2**50),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_entries_round_trip(dtype, shape, shard, offset, size, crc):
    e = core.decode_entry(_core._encode_bundle_entry(dtype, shape, shard, offset, size, crc), 4)
    assert (e["dtype"], e["shape"], e["shard_id"], e["offset"], e["size"]) == (dtype, shape, shard, offset, size)
    assert e["crc32c"] == (crc or None)


def test_partitioned_entries_round_trip():
    slices = [[(0, 2), (0, -1)], [(2, 3), (1, 4)]]
    e = core.decode_entry(_core._encode_bundle_entry(1, [5, 6], slices=slices), 1)
    assert e["slices"] == slices


@given(st.integers(min_value=1, max_value=1000), st.sampled_from([0, 1]))
def test_headers_round_trip(num_shards, endianness):
    h = core.decode_header(_core._encode_bundle_header(num_shards, endianness))
    assert (h["num_shards"], h["endianness"]) == (num_shards, endianness)


@given(st.lists(st.binary(max_size=300), max_size=40), st.booleans())
def test_string_tensors_round_trip(elements, big_endian):
    payload, masked = _core._encode_string_tensor(elements, big_endian)
    assert core.decode_strings(payload, len(elements), big_endian, True, masked) == elements
