"""csrc/bundle_entry.cc and the index as BundleReader sees it: header and entry protos
from the independent encoder, and what Open checks entry by entry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bundlefast
from bundle_builder import BundleBuilder, DataType, encode_entry, encode_header
from bundlefast import errors
from bundlefast._core import _testing as core

_dims = st.lists(st.integers(min_value=0, max_value=1000), max_size=5)


@given(
    st.sampled_from(list(DataType)),
    _dims,
    st.integers(min_value=0, max_value=7),
    st.integers(min_value=0, max_value=2**40),
    st.integers(min_value=0, max_value=2**40),
    st.integers(min_value=1, max_value=2**32 - 1),
)
def test_entries_round_trip(dtype, shape, shard, offset, size, crc):
    e = core.decode_entry(encode_entry(int(dtype), shape, shard_id=shard, offset=offset, size=size, masked_crc=crc), 8)
    assert (e["dtype"], e["shape"], e["shard_id"], e["offset"], e["size"], e["crc32c"]) == (
        int(dtype), shape, shard, offset, size, crc
    )
    assert e["slices"] == []


def test_slices_round_trip():
    e = core.decode_entry(encode_entry(1, [4, 6], slices=[[(0, 2), (0, -1)], [(2, 2), (0, -1)]]), 1)
    assert e["slices"] == [[(0, 2), (0, -1)], [(2, 2), (0, -1)]]


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (encode_entry(1, [2], shard_id=3), "shard"),
        (encode_entry(1, [-1 & (2**64 - 1)]), "dim|negative|shape"),
        (encode_entry(1, [2**40, 2**40]), "element|overflow|int64"),
        (b"\x08", "not a parseable BundleEntryProto"),
    ],
    ids=["shard-out-of-range", "negative-dim", "too-many-elements", "truncated"],
)
def test_bad_entries_are_corruption(entry, match):
    with pytest.raises(errors.CorruptionError, match=match):
        core.decode_entry(entry, 2)


def test_headers_round_trip():
    h = core.decode_header(encode_header(5, big_endian=True))
    assert (h["num_shards"], h["endianness"], h["producer"]) == (5, 1, 1)


def test_a_header_from_the_future_is_unsupported():
    with pytest.raises(errors.UnsupportedError):
        core.decode_header(encode_header(1, version=(1, 99, ())))


def test_open_checks_each_entry_alone(tmp_path):
    """Size against dtype and shape is checked at open, per entry: the bad entry fails
    with its own message, its neighbour (whose bytes it would overlap) loads."""
    b = BundleBuilder()
    b.add("good", np.arange(5, dtype=np.int32))  # offset 0, 20 bytes
    b.add_raw_entry("bad", encode_entry(DataType.FLOAT, [4], offset=0, size=20), b"")
    b.write(tmp_path / "m")
    with pytest.raises(errors.CorruptionError, match=r"'bad': invalid size in bundle entry: stored size 20, "
                                                     r"expected 4 elements x 4 bytes"):
        bundlefast.load(tmp_path / "m", names=["bad"])
    assert bundlefast.load(tmp_path / "m", names=["good"], verify=True)["good"].tolist() == [0, 1, 2, 3, 4]


def test_keys_with_control_bytes_are_quoted_safely(tmp_path):
    b = BundleBuilder()
    b.add(b"a\x00b\x1b[31m", np.arange(3, dtype=np.float32))
    b.write(tmp_path / "m")
    with pytest.raises(errors.TensorNotFoundError) as info:
        bundlefast.load(tmp_path / "m", names=[b"a\x00b\x1b[32m".decode()])
    assert "\x00" not in str(info.value) and "\x1b" not in str(info.value)
    assert r"'a\x00b\x1b[32m'" in str(info.value)
