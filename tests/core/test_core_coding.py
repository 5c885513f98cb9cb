"""csrc/coding.h: varints against the independent encoder of tests/bundle_builder.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bundle_builder import encode_varint
from bundlefast import errors
from bundlefast._core import _testing as core


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_varint64_round_trips_both_ways(value):
    encoded = encode_varint(value)
    assert core.put_varint64(value) == encoded
    assert core.get_varint64(encoded + b"\xff\x01") == (value, len(encoded))


@pytest.mark.parametrize(
    "data",
    [b"", b"\x80", b"\xff" * 9, b"\xff" * 10 + b"\x01", b"\xff" * 9 + b"\x02"],
    ids=["empty", "truncated", "truncated-9", "11-bytes", "overflow"],
)
def test_malformed_varints_are_refused(data):
    with pytest.raises(errors.CorruptionError, match="bad varint"):
        core.get_varint64(data)


def test_the_largest_varint64():
    assert core.get_varint64(b"\xff" * 9 + b"\x01") == (2**64 - 1, 10)
