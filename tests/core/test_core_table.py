"""csrc/table.cc: whole SSTables (footer, index block, data blocks, trailers, Snappy)
from the independent builder, and SniffTable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tf_oracle
from bundle_builder import build_table
from bundlefast import _core, errors
from bundlefast._core import _testing as core

_items = st.dictionaries(st.binary(min_size=1, max_size=12), st.binary(max_size=300), max_size=80).map(lambda d: sorted(d.items()))


@settings(max_examples=50)
@given(_items, st.sampled_from([64, 256, 4096]), st.sampled_from(["none", "snappy"]))
def test_every_entry_comes_back_in_order(items, block_size, compress):
    assert core.table_entries(build_table(items, block_size=block_size, compress=compress)) == items


def test_a_flipped_byte_fails_a_block_trailer():
    table = bytearray(build_table([(b"a", b"x" * 100)]))
    table[5] ^= 0x40
    with pytest.raises(errors.ChecksumError):
        core.table_entries(bytes(table))


def test_keys_out_of_order_are_corruption():
    """The builder refuses disorder, so swap two keys of equal length in a written table
    and fix the trailers (bundle_surgery's consistent-checksum damage)."""
    import bundle_surgery
    from bundle_builder import masked_crc32c

    table = build_table([(b"AAAA", b"1"), (b"ZZZZ", b"2")]).replace(b"ZZZZ", b"0000")
    with pytest.raises(errors.CorruptionError, match="order|increasing"):
        core.table_entries(bundle_surgery.fix_block_trailers(table, masked_crc32c))


def test_bad_magic():
    with pytest.raises(errors.CorruptionError, match="magic"):
        core.table_entries(b"\0" * 48)


@pytest.mark.parametrize(
    ("case", "kind"), [("sharded_tf1", "v2"), ("all_dtypes", "v2")]
)
def test_sniffing_a_v2_index(case, kind):
    prefix = tf_oracle.case_prefix(case)
    assert _core.table_kind(f"{prefix}.index") == kind
    assert _core.table_kind(f"{prefix}.data-00000-of-{tf_oracle.num_shards(prefix):05d}") is None


def test_sniffing_other_tables_and_files(tmp_path):
    other = tmp_path / "other"
    other.write_bytes(build_table([(b"k", b"\x12v")]))
    v1 = tmp_path / "v1"
    v1.write_bytes(build_table([(b"", b"\x0a\x00")]))
    short = tmp_path / "short"
    short.write_bytes(b"\x57\xfb\x80\x8b\x24\x75\x47\xdb")
    assert _core.table_kind(str(other)) == "sstable"
    assert _core.table_kind(str(v1)) == "v1"
    assert _core.table_kind(str(short)) is None
    assert _core.table_kind(str(tmp_path / "missing")) is None
    assert _core.table_kind(str(tmp_path)) is None
