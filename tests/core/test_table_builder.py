"""The index encoders one by one: block/table builder, header and entry protos, string and
variant payloads. Each is checked against FORMAT.md's test vectors and against the
independent pure-Python oracle (tests/bundle_builder.py, itself proven byte-identical to
SaveV2), and decoded back by the reader."""

from __future__ import annotations

import random

import bundle_builder as bb
import bundlefast
import numpy as np
import pytest
from bundlefast import _core

# ---------------------------------------------------------------- FORMAT.md vectors


def test_minimal_bundle_index_is_format_md_15_3():
    entry = _core._encode_bundle_entry(1, [], size=4, masked_crc32c=0x2BDAA581)
    assert entry == bytes.fromhex("08 01 12 00 28 04 35 81 a5 da 2b")
    table = _core._build_table([(b"", _core._encode_bundle_header(1)), (b"x", entry)])
    expected = bytes.fromhex(
        "00 00 06  08 01 1a 02 08 01"
        "00 01 0b 78  08 01 12 00 28 04 35 81 a5 da 2b"
        "00 00 00 00 01 00 00 00  00 38 5a df 39"
        "00 00 00 00 01 00 00 00  00 c0 f2 a1 b0"
        "00 01 02 79 00 20 00 00 00 00 01 00 00 00  00 c2 4c 06 42"
        "25 08 32 0e" + " 00" * 36 + " 57 fb 80 8b 24 75 47 db"
    )
    assert len(table) == 117
    assert table == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(b"abc", b"abz", b"abd"), (b"abcx", b"abd", b"abcx"), (b"ab", b"abc", b"ab"), (b"a", b"bbbb", b"a"),
     (b"\xff\x01", b"\xff\x05", b"\xff\x02"), (b"a\xff", b"b", b"a\xff")],
)
def test_shortest_separator(a, b, expected):
    assert _core._shortest_separator(a, b) == expected
    assert bb.shortest_separator(a, b) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [(b"scalar/x", b"t"), (b"\xff\xffa", b"\xff\xffb"), (b"\xff\xff", b"\xff\xff"), (b"", b""), (b"x", b"y")],
)
def test_short_successor(key, expected):
    assert _core._short_successor(key) == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [({"num_shards": 1}, "08 01 1a 02 08 01"), ({"num_shards": 3}, "08 03 1a 02 08 01"),
     ({"num_shards": 1, "endianness": 1}, "08 01 10 01 1a 02 08 01")],
)
def test_header_vectors(kwargs, expected):
    assert _core._encode_bundle_header(**kwargs) == bytes.fromhex(expected)


def test_entry_vectors():
    # string ["ab", "", "xyz"] at offset 0 (15.4)
    assert _core._encode_bundle_entry(7, [3], size=12, masked_crc32c=0x3FC4AD10) == bytes.fromhex(
        "08 07 12 04 12 02 08 03 28 0c 35 10 ad c4 3f"
    )
    # zero-element float [0,3] at offset 52: the size-0 dim is an empty Dim, Mask(0) is stored
    assert _core._encode_bundle_entry(1, [0, 3], offset=52, masked_crc32c=0xA282EAD8) == bytes.fromhex(
        "08 01 12 06 12 00 12 02 08 03 20 34 35 d8 ea 82 a2"
    )
    # partitioned full entry w [4,3], slices 0,2:- and 2,2:- (15.5): no shard/offset/size/crc
    full = _core._encode_bundle_entry(1, [4, 3], shard_id=5, size=9, masked_crc32c=7,
                                      slices=[[(0, 2), (0, -1)], [(2, 2), (0, -1)]])
    assert full == bytes.fromhex("08 01 12 08 12 02 08 04 12 02 08 03 3a 06 0a 02 10 02 0a 00 3a 08 0a 04 08 02 10 02 0a 00")


def test_string_payload_vector():
    payload, crc = _core._encode_string_tensor([b"ab", b"", b"xyz"])
    assert payload == bytes.fromhex("02 00 03 1b 42 8b ca 61 62 78 79 7a")
    assert crc == 0x3FC4AD10
    assert _core._encode_string_tensor([]) == (bytes.fromhex("d8 ea 82 a2"), 0x640CC1F6)


# ---------------------------------------------------------------- against the oracle


def _random_key(rng: random.Random) -> bytes:
    alphabet = b"ab/_\x00\xff\x7fz"
    return bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))


@pytest.mark.parametrize("block_size", [64, 4096, bb.TF_BLOCK_SIZE])
def test_table_matches_oracle(random_seed, block_size):
    rng = random.Random(random_seed)
    keys = sorted({_random_key(rng) for _ in range(rng.randint(0, 600))})
    items = [(b"", b"header")]
    for k in keys:
        # mostly small values; now and then one past 2 x block_size (a block of its own)
        n = rng.choice([0, 3, 40, 300]) if rng.random() > 0.01 else 2 * block_size + rng.randint(0, 9)
        items.append((k, rng.randbytes(n)))
    assert _core._build_table(items, block_size) == bb.build_table(items, block_size)


def test_table_refuses_unsorted_or_duplicate_keys():
    with pytest.raises(bundlefast.InvalidArgumentError, match="strictly increasing"):
        _core._build_table([(b"b", b""), (b"a", b"")])
    with pytest.raises(bundlefast.InvalidArgumentError, match="strictly increasing"):
        _core._build_table([(b"a", b""), (b"a", b"")])


def test_entries_match_oracle(random_seed):
    rng = random.Random(random_seed)
    for _ in range(300):
        dtype = rng.choice([1, 2, 7, 9, 14, 21, 29])
        shape = [rng.choice([0, 1, 3, 300, 2**40]) for _ in range(rng.randint(0, 4))]
        kwargs = {"shard_id": rng.choice([0, 1, 70000]), "offset": rng.choice([0, 5, 2**33]),
                  "size": rng.choice([0, 4, 2**35]), "masked_crc32c": rng.getrandbits(32)}
        assert _core._encode_bundle_entry(dtype, shape, **kwargs) == bb.encode_entry(
            dtype, shape, shard_id=kwargs["shard_id"], offset=kwargs["offset"], size=kwargs["size"],
            masked_crc=kwargs["masked_crc32c"]), (dtype, shape, kwargs)
        if shape:
            slices = [[(0, -1) if rng.random() < 0.4 else (rng.choice([0, 1, 2**33]), rng.choice([0, 1, 5]))
                       for _ in shape] for _ in range(rng.randint(1, 3))]
            assert _core._encode_bundle_entry(dtype, shape, slices=slices) == bb.encode_entry(
                dtype, shape, slices=slices)


def test_header_matches_oracle():
    for shards in (1, 2, 127, 128, 2**31 - 1):
        for big in (False, True):
            assert _core._encode_bundle_header(shards, int(big)) == bb.encode_header(shards, big_endian=big)
    assert _core._encode_bundle_header(1, 0, 1, 0, [1, 300]) == bb.encode_header(1, version=(1, 0, (1, 300)))


@pytest.mark.parametrize("big_endian", [False, True])
def test_string_payloads_match_oracle(random_seed, big_endian):
    rng = random.Random(random_seed)
    for _ in range(50):
        elements = [rng.randbytes(rng.choice([0, 1, 127, 128, 16384])) for _ in range(rng.randint(0, 20))]
        assert _core._encode_string_tensor(elements, big_endian) == bb.string_payload(elements, big_endian)


def test_variant_payloads_match_oracle(random_seed):
    rng = random.Random(random_seed)
    for _ in range(50):
        elements = [rng.randbytes(rng.choice([0, 1, 127, 128, 5000])) for _ in range(rng.randint(0, 8))]
        assert _core._encode_variant_tensor(elements) == bb.variant_payload(elements)


# ---------------------------------------------------------------- whole bundles, both ways


def _random_tensors(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for i in range(n):
        kind = rng.integers(0, 4)
        shape = tuple(int(d) for d in rng.integers(0, 5, size=rng.integers(0, 4)))
        name = f"t{rng.integers(0, 10**6)}/{i}"
        if kind == 0:
            out[name] = rng.standard_normal(shape).astype(np.float32)
        elif kind == 1:
            out[name] = rng.integers(-(2**62), 2**62, size=shape, dtype=np.int64)
        elif kind == 2:
            out[name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            flat = [rng.bytes(int(rng.integers(0, 200))) for _ in range(int(np.prod(shape)))]
            arr = np.empty(len(flat), dtype=object)
            arr[:] = flat
            out[name] = arr.reshape(shape)
    return out


@pytest.mark.parametrize("alignment", [1, 8, 64])
def test_bundles_match_oracle_and_read_back(tmp_path, random_seed, alignment):
    rng = np.random.default_rng(random_seed)
    tensors = _random_tensors(rng, int(rng.integers(1, 60)))
    oracle = bb.BundleBuilder(data_alignment=alignment)
    for name, value in tensors.items():
        oracle.add(name, value)
    oracle.write(tmp_path / "oracle")
    bundlefast.save(tmp_path / "ours", tensors, alignment=alignment)
    for suffix in (".index", ".data-00000-of-00001"):
        assert (tmp_path / f"ours{suffix}").read_bytes() == (tmp_path / f"oracle{suffix}").read_bytes(), suffix
    loaded = bundlefast.load(tmp_path / "ours", verify=True)
    assert loaded.keys() == tensors.keys()
    for name, value in tensors.items():
        assert loaded[name].shape == value.shape
        assert loaded[name].dtype == value.dtype
        if value.dtype == object:
            assert loaded[name].tolist() == value.tolist()
        else:
            assert loaded[name].tobytes() == value.tobytes()
        if alignment > 1:
            with bundlefast.open(tmp_path / "ours") as r:
                assert r.info(name).offset % alignment == 0


def test_sliced_bundle_matches_oracle(tmp_path):
    full = np.arange(4 * 3, dtype=np.float32).reshape(4, 3)
    oracle = bb.BundleBuilder()
    oracle.add("a", np.int32(7))
    oracle.add_slice("w", (4, 3), [(2, 2), (0, -1)], full[2:])
    oracle.add_slice("w", (4, 3), [(0, 2), (0, -1)], full[:2])
    oracle.add_slice("whole", (2, 2), [(0, 2), (0, 2)], full[:2, :2])
    oracle.write(tmp_path / "oracle")
    with bundlefast.Writer(tmp_path / "ours", alignment=1) as w:
        w.add("a", np.int32(7))
        w.add_slice("w", (4, 3), "2,2:-", full[2:])
        w.add_slice("w", (4, 3), "0,2:-", full[:2])
        w.add_slice("whole", (2, 2), "0,2:0,2", full[:2, :2])
    for suffix in (".index", ".data-00000-of-00001"):
        assert (tmp_path / f"ours{suffix}").read_bytes() == (tmp_path / f"oracle{suffix}").read_bytes(), suffix
    assert bundlefast.load(tmp_path / "ours", verify=True)["w"].tobytes() == full.tobytes()
