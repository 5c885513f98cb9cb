"""Replays the fuzz inputs kept in ``tests/fuzz/regressions/`` and the fuzz seeds.

Every input that once crashed, hung or raised the wrong exception stays here, in the
input format of the harness that found it (see ``tests/fuzz/``):

* ``regressions/bundle/*``: fixed32 LE index length, the index, one data shard
  (``fuzz_bundle`` and the atheris harness ``fuzz_load.py``);
* ``regressions/tensor/*``: a BundleEntryProto and its data shard (``fuzz_tensor``).

Each is replayed through the public Python API by the atheris harness's own reading
routine, which lets nothing but ``bundlefast.errors.BundleError`` / ``OSError`` escape.
The C++ targets replay the same files in ``tests/fuzz/run_fuzz.sh``.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

import bundlefast
from bundle_builder import BundleBuilder
from bundle_surgery import entry_payload

FUZZ = Path(__file__).resolve().parent / "fuzz"
sys.path.insert(0, str(FUZZ))

import fuzz_load  # noqa: E402
import make_seeds  # noqa: E402

REGRESSIONS = FUZZ / "regressions"


def _files(kind: str) -> list[Path]:
    return sorted(p for p in (REGRESSIONS / kind).iterdir() if p.is_file() and not p.name.startswith("."))


def split_tensor_input(data: bytes) -> tuple[int, bytes, bytes]:
    """(flags, entry, shard) as FuzzedDataProvider hands them to fuzz_tensor.cc: the flags
    byte is taken from the end, then a backslash-escaped string, then the rest."""
    flags, data = (data[-1], data[:-1]) if data else (0, b"")
    entry = bytearray()
    pos = 0
    while pos < len(data) and len(entry) < 4096:
        c = data[pos]
        pos += 1
        if c == 0x5C and pos < len(data):
            c = data[pos]
            pos += 1
            if c != 0x5C:
                break
        entry.append(c)
    return flags, bytes(entry), data[pos:]


def write_tensor_input(data: bytes, prefix: Path) -> None:
    """The bundle fuzz_tensor.cc builds around the input: key "t" holding the entry."""
    flags, entry, shard = split_tensor_input(data)
    if flags & 2:
        try:
            p = entry_payload(entry)
        except (ValueError, IndexError):
            p = None
        if p is not None and p.offset + p.size <= len(shard):
            entry += b"\x35" + struct.pack("<I", bundlefast.masked_crc32c(shard[p.offset : p.offset + p.size]))
    b = BundleBuilder(big_endian=bool(flags & 1))
    b.add_raw_entry("t", entry)
    written = b.write(prefix)
    written.data_paths[0].write_bytes(shard)


@pytest.mark.parametrize("path", _files("bundle"), ids=lambda p: p.name)
def test_bundle_regression(path, tmp_path):
    fuzz_load.run_one(path.read_bytes(), tmp_path)


@pytest.mark.parametrize("path", _files("tensor"), ids=lambda p: p.name)
def test_tensor_regression(path, tmp_path):
    write_tensor_input(path.read_bytes(), tmp_path / "t")
    fuzz_load.read_all(tmp_path / "t")


def test_split_tensor_input_round_trips_make_seeds_encoding():
    entry, shard = b"\x08\x01\\\x12\x00", b"data\\"
    seed = make_seeds._length_prefixed(entry) + shard + bytes([3])
    assert split_tensor_input(seed) == (3, entry, shard)


def test_fuzz_seeds_replay(tmp_path_factory):
    """The seed corpora (TF-written bundles + builder-made ones) pass the harness rules."""
    seeds = tmp_path_factory.mktemp("seeds")
    make_seeds.main(str(seeds))
    for path in sorted((seeds / "bundle").iterdir()):
        fuzz_load.run_one(path.read_bytes(), tmp_path_factory.mktemp("b"))
    for path in sorted((seeds / "tensor").iterdir())[::10]:
        work = tmp_path_factory.mktemp("t")
        write_tensor_input(path.read_bytes(), work / "t")
        fuzz_load.read_all(work / "t")
