"""The exception hierarchy, and what each error says."""

from __future__ import annotations

import errno

import numpy as np
import pytest

import bundlefast
from bundlefast import errors
from bundle_builder import BundleBuilder, DataType, encode_entry


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.CorruptionError, ValueError),
        (errors.ChecksumError, ValueError),
        (errors.ChecksumError, errors.CorruptionError),
        (errors.UnsupportedError, NotImplementedError),
        (errors.TensorNotFoundError, KeyError),
        (errors.InvalidArgumentError, ValueError),
        (errors.BundleFileNotFoundError, FileNotFoundError),
        (errors.BundleOSError, OSError),
    ],
)
def test_every_error_is_a_bundle_error_and_its_builtin(cls, builtin):
    assert issubclass(cls, errors.BundleError)
    assert issubclass(cls, builtin)


def test_tensor_not_found_message_is_not_repr_quoted():
    assert str(errors.TensorNotFoundError("tensor 'a' not found")) == "tensor 'a' not found"


def _bundle(tmp_path, **tensors):
    b = BundleBuilder()
    for k, v in tensors.items():
        b.add(k, v)
    return b.write(tmp_path / "m")


def test_missing_checkpoint_is_file_not_found_with_errno(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        bundlefast.load(tmp_path / "nothing")
    assert info.value.errno == errno.ENOENT
    assert "nothing.index" in info.value.filename
    assert isinstance(info.value, errors.BundleError)


def test_missing_shard_names_the_file(tmp_path):
    w = _bundle(tmp_path, a=np.zeros(2, np.float32))
    w.data_paths[0].unlink()
    with pytest.raises(FileNotFoundError, match=r"m\.data-00000-of-00001") as info:
        bundlefast.load(tmp_path / "m")
    assert info.value.errno == errno.ENOENT


def test_short_and_foreign_index_files(tmp_path):
    (tmp_path / "m.index").write_bytes(b"x" * 47)
    with pytest.raises(errors.CorruptionError, match=r"m\.index: file is too short to be an sstable"):
        bundlefast.load(tmp_path / "m")
    (tmp_path / "m.index").write_bytes(b"x" * 100)
    with pytest.raises(errors.CorruptionError, match=r"not an sstable \(bad magic number"):
        bundlefast.load(tmp_path / "m")


def test_block_checksum_mismatch_gives_both_crcs(tmp_path):
    w = _bundle(tmp_path, a=np.zeros(2, np.float32))
    raw = bytearray(w.index_path.read_bytes())
    raw[5] ^= 0x01  # inside the first data block (the header entry)
    w.index_path.write_bytes(bytes(raw))
    with pytest.raises(errors.ChecksumError, match=r"block checksum mismatch .*stored 0x[0-9a-f]{8}, computed 0x"):
        bundlefast.open(tmp_path / "m")


def test_tensor_checksum_mismatch_names_file_key_offset_and_crcs(tmp_path):
    w = _bundle(tmp_path, pad=np.zeros(5, np.uint8), a=np.arange(4, dtype=np.float32))
    data = bytearray(w.data_paths[0].read_bytes())
    data[5 + 3] ^= 0x40  # a byte of `a`, which starts at offset 5
    w.data_paths[0].write_bytes(bytes(data))
    assert bundlefast.load(tmp_path / "m")["a"].size == 4  # views do not check
    pattern = r"m\.data-00000-of-00001: crc32c mismatch for 'a' \(offset 5, 16 bytes\): stored 0x[0-9a-f]{8}, computed 0x"
    with pytest.raises(errors.ChecksumError, match=pattern):
        bundlefast.load(tmp_path / "m", verify=True)
    with pytest.raises(errors.ChecksumError, match=pattern):
        bundlefast.open(tmp_path / "m").verify()
    # Damage stays local: the other tensor still verifies.
    assert bundlefast.load(tmp_path / "m", names=["pad"], verify=True)["pad"].size == 5


def test_entry_past_end_of_shard(tmp_path):
    b = BundleBuilder()
    b.add_raw_entry("far", encode_entry(DataType.FLOAT, (4,), offset=1000, size=16))
    b.add("ok", np.ones(2, np.int32))
    b.write(tmp_path / "m")
    with pytest.raises(errors.CorruptionError, match=r"'far' \(offset 1000, 16 bytes\) lies outside the 8-byte file"):
        bundlefast.load(tmp_path / "m")
    assert bundlefast.load(tmp_path / "m", names=["ok"])["ok"].tolist() == [1, 1]


def test_size_that_disagrees_with_shape(tmp_path):
    b = BundleBuilder()
    b.add_raw_entry("bad", encode_entry(DataType.FLOAT, (4,), size=12), b"\0" * 12)
    b.write(tmp_path / "m")
    with pytest.raises(errors.CorruptionError, match=r"'bad': invalid size in bundle entry: stored size 12, expected 4"):
        bundlefast.load(tmp_path / "m")


def test_unreadable_dtypes_are_unsupported_and_others_still_load(tmp_path):
    b = BundleBuilder()
    b.add_raw_entry("res", encode_entry(DataType.RESOURCE, (), size=0))
    b.add_raw_entry("future", encode_entry(77, (2,), size=2), b"\0\0")
    b.add("fine", np.arange(3, dtype=np.int16))
    b.write(tmp_path / "m")
    with pytest.raises(errors.UnsupportedError, match="'future' has dtype DT_77"):
        bundlefast.load(tmp_path / "m", names=["future"])
    with pytest.raises(errors.UnsupportedError, match="'future' has dtype DT_77"):
        bundlefast.load(tmp_path / "m")  # the first unreadable one, in key order
    with pytest.raises(errors.UnsupportedError, match="'res' has dtype DT_RESOURCE"):
        bundlefast.load(tmp_path / "m", names=["res"])
    assert bundlefast.load(tmp_path / "m", names=["fine"])["fine"].tolist() == [0, 1, 2]


def test_newer_format_versions_are_refused(tmp_path):
    b = BundleBuilder(version=(1, 2, ()))
    b.add("a", np.ones(1, np.int8))
    b.write(tmp_path / "m")
    with pytest.raises(errors.UnsupportedError, match="min consumer version 2"):
        bundlefast.load(tmp_path / "m")
    b = BundleBuilder(version=(1, 0, (1,)))
    b.add("a", np.ones(1, np.int8))
    b.write(tmp_path / "m")
    with pytest.raises(errors.UnsupportedError, match="disallows consumer version 1"):
        bundlefast.load(tmp_path / "m")
