"""Damaged TF-written bundles: the original data, or a bundlefast error. Never a crash.

Every checkpoint TensorFlow wrote into ``tests/data`` is damaged at random (hypothesis)
in its index or one of its data shards: single byte flips, truncations, insertions and
deletions. The rules checked after each mutation:

* Nothing but ``bundlefast.errors.BundleError`` (which includes ``BundleOSError``)
  escapes, with or without ``verify``.
* Index damage is caught by the block checksums: either the bundle does not open, or it
  opens with exactly the original names and every tensor reads back unchanged.
* Index damage with *consistent* block checksums (the trailers recomputed after the
  mutation, as a deliberate forger would) can change what an entry says, but with
  ``verify=True`` every returned tensor is still exactly the bytes its stored CRC covers.
* Data damage with ``verify=True``: a tensor whose payload holds a changed byte is never
  returned (ChecksumError or CorruptionError); every other tensor still reads back
  unchanged, through ``load(names=...)`` too (damage stays with what it touches).

The oracles are not the code under test: "unchanged" means equal to what TensorFlow reads
from the pristine fixture (every pristine value is checked against TF's digest in
``tests/tf_digests.json``, which a ``tf`` test keeps current); where each tensor's bytes
live comes from the index as ``tests/bundle_surgery.py`` parses it; CRCs come from the
``crc32c`` package.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import bundlefast
import tf_oracle
from bundle_builder import data_filename, encode_slice_key
from bundle_surgery import Payload, entry_payload, fields, fix_block_trailers, index_entries
from bundlefast import errors
from tf_oracle import case_prefix

CASES = tf_oracle.digest_cases()
DT_VARIANT = 21

# Examples per (test, case); CI keeps the default. The total is printed in the report
# that tests/fuzz/run_fuzz.sh and the issue refer to: 4 tests x len(CASES) cases.
EXAMPLES = 40
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the source tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Pristine:
    """A fixture as TF wrote it, read once without damage."""

    prefix: Path
    files: dict[str, bytes]  # file name -> bytes, index and every shard
    index_name: str
    shard_names: tuple[str, ...]
    values: dict[str, np.ndarray]  # name -> array, equal to what TF reads (digest-checked)
    payloads: dict[str, tuple[Payload, ...]]  # name -> every stored range it reads


def _extents(slice_proto: bytes) -> list[tuple[int, int]]:
    """TensorSliceProto (field 1: Extent {start 1, length 2}) -> (start, length); -1 = all."""
    out = []
    for _, extent in fields(slice_proto):
        assert isinstance(extent, bytes)
        got = dict(fields(extent))
        out.append((int(got.get(1, 0)), int(got[2]) if 2 in got else -1))
    return out


def _entries(index: bytes, *, slice_entries: bool = False) -> dict[str, bytes]:
    """name -> serialized BundleEntryProto of every tensor (the header, whose key is empty,
    left out; slice entries, whose keys start with a 0 byte, only if asked for: a damaged
    full entry can leave its slices listed as tensors of their own)."""
    return {k.decode("utf-8", "surrogateescape"): v for k, v in index_entries(index)
            if k and (slice_entries or k[:1] != b"\0")}


def _payloads(index: bytes) -> dict[str, tuple[Payload, ...]]:
    """Where each name's bytes live, from the index as bundle_surgery parses it: its own
    payload, or (a partitioned tensor, field 7) those of all its slice entries."""
    by_key = dict(index_entries(index))
    out = {}
    for name, value in _entries(index).items():
        slices = [v for f, v in fields(value) if f == 7 and isinstance(v, bytes)]
        if slices:
            keys = [encode_slice_key(name.encode("utf-8", "surrogateescape"), _extents(s)) for s in slices]
            out[name] = tuple(entry_payload(by_key[k]) for k in keys)
        else:
            out[name] = (entry_payload(value),)
    return out


def _variants(index: bytes) -> set[str]:
    return {name for name, value in _entries(index).items() if dict(fields(value)).get(1) == DT_VARIANT}


def _masked_crc32c(data: bytes) -> int:
    return tf_oracle._mask(tf_oracle._crc32c_oracle().crc32c(data))


_PRISTINE: dict[str, Pristine] = {}


def pristine(case: str) -> Pristine:
    if case not in _PRISTINE:
        prefix = case_prefix(case)
        files = {p.name: p.read_bytes() for p in prefix.parent.iterdir() if p.name.startswith(prefix.name + ".")}
        index_name = prefix.name + ".index"
        num_shards = tf_oracle.num_shards(prefix)
        shards = tuple(data_filename(prefix, i, num_shards).name for i in range(num_shards))
        values = bundlefast.load(prefix, verify=True, copy=True)
        variants = _variants(files[index_name])
        got = tf_oracle.checkpoint_digest({n: None if n in variants else v for n, v in values.items()})
        want = tf_oracle.reference_digests().get(case)
        assert want is not None, f"{case}: no TF digest in tests/tf_digests.json: run python tests/tf_oracle.py"
        assert got == want, (
            f"{case}: the pristine fixture does not read as TensorFlow reads it (or tests/tf_digests.json "
            "is stale: test_tf_digests_are_current tells which)"
        )
        payloads = _payloads(files[index_name])
        assert set(payloads) == set(values), f"{case}: bundle_surgery and bundlefast list different names"
        _PRISTINE[case] = Pristine(prefix, files, index_name, shards, values, payloads)
    return _PRISTINE[case]


@contextmanager
def damaged_copy(p: Pristine, name: str, data: bytes) -> Iterator[Path]:
    """A temporary copy of the bundle with file `name` replaced by `data`."""
    with tempfile.TemporaryDirectory(prefix="bundlefast-corrupt-") as tmp:
        for file_name, content in p.files.items():
            (Path(tmp) / file_name).write_bytes(data if file_name == name else content)
        yield Path(tmp) / p.prefix.name


def same(actual: np.ndarray, expected: np.ndarray) -> bool:
    if actual.dtype != expected.dtype or actual.shape != expected.shape:
        return False
    if expected.dtype == object:
        return list(actual.reshape(-1)) == list(expected.reshape(-1))
    return np.ascontiguousarray(actual).tobytes() == np.ascontiguousarray(expected).tobytes()


@st.composite
def mutations(draw: st.DrawFn, size: int) -> tuple[str, int, bytes]:
    """(kind, position, bytes): flip XORs one byte, insert adds bytes, delete removes
    len(bytes) bytes, truncate cuts the file at the position."""
    kind = draw(st.sampled_from(["flip", "flip", "truncate", "insert", "delete"]))
    event(kind)  # shown by --hypothesis-show-statistics
    pos = draw(st.integers(0, max(size - 1, 0)))
    if kind == "flip":
        return kind, pos, bytes([draw(st.integers(1, 255))])
    if kind == "insert":
        return kind, pos, draw(st.binary(min_size=1, max_size=8))
    if kind == "delete":
        return kind, pos, bytes(draw(st.integers(1, 8)))
    return kind, pos, b""


def mutate(data: bytes, mutation: tuple[str, int, bytes]) -> bytes:
    kind, pos, extra = mutation
    if kind == "flip":
        if not data:
            return data
        out = bytearray(data)
        out[pos] ^= extra[0]
        return bytes(out)
    if kind == "insert":
        return data[:pos] + extra + data[pos:]
    if kind == "delete":
        return data[:pos] + data[pos + len(extra) :]
    return data[:pos]


def changed_range(mutation: tuple[str, int, bytes]) -> tuple[int, int]:
    """Offsets [lo, hi) of the original file whose content may differ (or vanish)."""
    kind, pos, extra = mutation
    return (pos, pos + 1) if kind == "flip" else (pos, 1 << 64)


def read_everything(prefix: Path, *, verify: bool) -> dict[str, np.ndarray | BaseException]:
    """Each name's array, or the BundleError reading it raised; plus a full load()."""
    out: dict[str, np.ndarray | BaseException] = {}
    try:
        reader = bundlefast.open(prefix)
    except errors.BundleError as e:
        return {"": e}
    with reader:
        for name in reader:
            try:
                reader.info(name)
                out[name] = reader.get_array(name, verify=verify)
            except errors.BundleError as e:
                out[name] = e
        try:
            reader.load(verify=verify)
        except errors.BundleError:
            pass
    return out


@pytest.mark.parametrize("case", CASES)
@SETTINGS
@given(data=st.data())
def test_index_damage_is_caught_by_block_checksums(case, data):
    p = pristine(case)
    index = p.files[p.index_name]
    m = data.draw(mutations(len(index)), label="mutation")
    with damaged_copy(p, p.index_name, mutate(index, m)) as prefix:
        result = read_everything(prefix, verify=True)
    if "" in result:
        return  # refused at open
    assert set(result) == set(p.values), "an index that opens must list the original names"
    for name, got in result.items():
        assert not isinstance(got, BaseException), f"{name!r}: {got}"
        assert same(got, p.values[name]), name


@pytest.mark.parametrize("case", CASES)
@SETTINGS
@given(data=st.data())
def test_index_damage_with_consistent_block_checksums(case, data):
    p = pristine(case)
    index = p.files[p.index_name]
    m = data.draw(mutations(len(index)), label="mutation")
    damaged = fix_block_trailers(mutate(index, m), _masked_crc32c)
    with damaged_copy(p, p.index_name, damaged) as prefix:
        for verify in (False, True):
            result = read_everything(prefix, verify=verify)
        if "" in result:
            return
        # The entries as the damaged index says them, parsed without bundlefast.
        entries = _entries(damaged, slice_entries=True)
        for name, got in result.items():
            if isinstance(got, BaseException) or got.dtype == object:
                continue
            entry = dict(fields(entries[name]))
            if 7 in entry:  # partitioned: assembled from several CRCs
                continue
            # verify=True returned exactly the bytes the stored CRC (field 6) covers.
            stored_crc = int.from_bytes(entry.get(6, b"\0\0\0\0"), "little")
            assert _masked_crc32c(np.ascontiguousarray(got).tobytes()) == stored_crc, name


def _shard_mutation(p: Pristine, data: st.DataObject) -> tuple[int, str, tuple[str, int, bytes]]:
    shard = data.draw(st.integers(0, len(p.shard_names) - 1), label="shard")
    name = p.shard_names[shard]
    return shard, name, data.draw(mutations(len(p.files[name])), label="mutation")


@pytest.mark.parametrize("case", CASES)
@SETTINGS
@given(data=st.data())
def test_data_damage_fails_only_the_tensors_it_touches(case, data):
    p = pristine(case)
    shard, file_name, m = _shard_mutation(p, data)
    original = p.files[file_name]
    lo, hi = changed_range(m)
    touched = {
        name
        for name, ranges in p.payloads.items()
        # An empty payload counts from its offset: truncating there removes it too.
        if any(r.shard == shard and r.offset < hi and lo < r.offset + max(r.size, 1) for r in ranges)
    }
    untouched = sorted(set(p.values) - touched)
    with damaged_copy(p, file_name, mutate(original, m)) as prefix:
        result = read_everything(prefix, verify=True)
        assert "" not in result, "data damage must not stop the bundle from opening"
        for name, got in result.items():
            if isinstance(got, BaseException):
                assert name in touched, f"{name!r} does not use the damaged bytes but failed: {got}"
                assert isinstance(got, errors.CorruptionError), f"{name!r}: {got!r}"
            else:
                assert same(got, p.values[name]), f"{name!r} returned changed data under verify=True"
            if m[0] == "flip" and name in touched and p.values[name].size:
                assert isinstance(got, BaseException), f"{name!r}: a flipped payload byte went unnoticed"
        if untouched:
            loaded = bundlefast.load(prefix, names=untouched, verify=True)
            assert all(same(loaded[n], p.values[n]) for n in untouched)
        # Without verify nothing is promised about the values, but nothing escapes either.
        read_everything(prefix, verify=False)


@pytest.mark.parametrize("case", CASES)
@SETTINGS
@given(data=st.data())
def test_every_changed_payload_byte_is_detected(case, data):
    p = pristine(case)
    candidates = sorted(n for n, rs in p.payloads.items() if any(r.size for r in rs))
    name = data.draw(st.sampled_from(candidates), label="tensor")
    r = data.draw(st.sampled_from([r for r in p.payloads[name] if r.size]), label="stored range")
    pos = r.offset + data.draw(st.integers(0, r.size - 1), label="byte")
    file_name = p.shard_names[r.shard]
    damaged = bytearray(p.files[file_name])
    damaged[pos] ^= data.draw(st.integers(1, 255), label="xor")
    with damaged_copy(p, file_name, bytes(damaged)) as prefix, bundlefast.open(prefix) as reader:
        with pytest.raises(errors.CorruptionError):
            reader.get_array(name, verify=True)
        with pytest.raises(errors.CorruptionError):
            reader.verify([name])
        with pytest.raises(errors.CorruptionError):
            bundlefast.load(prefix, names=[name], verify=True, copy=True)


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES)
def test_tf_digests_are_current(case):
    pytest.importorskip("tensorflow")
    assert tf_oracle.tf_checkpoint_digest(case_prefix(case)) == tf_oracle.reference_digests()[case], (
        f"{case}: TensorFlow reads the fixture differently from tests/tf_digests.json: "
        "regenerate it with python tests/tf_oracle.py"
    )


def test_cases_cover_every_fixture_kind():
    # The property tests run over all of these; a fixture added later joins automatically.
    assert {"strings", "all_dtypes", "many_keys", "sharded_tf1", "variant"} <= set(CASES)
