"""DT_VARIANT tensors (FORMAT.md 4.3) and dtypes that cannot be read at all.

A variant tensor comes back as an object array of ``bytes``, one serialized
``VariantTensorDataProto`` per element (TF's Python reader cannot return them at all).
With ``verify=True`` the running CRC is checked after every element and at the end; every
length is bounds-checked whether or not ``verify`` is set.
"""

from __future__ import annotations

import numpy as np
import pytest

import bundlefast
import bundle_surgery
import tf_oracle
from bundle_builder import BundleBuilder, DataType, encode_entry, encode_slice_key, encode_varint, variant_payload
from bundlefast import errors

TENSORLIST = "variant_tensorlist"
ITERATOR = "variant"
ITERATOR_KEY = "it/.ATTRIBUTES/ITERATOR_STATE"


# --------------------------------------------------------------------------------------
# A tiny protobuf reader, to look inside what bundlefast returns
# --------------------------------------------------------------------------------------


_varint = bundle_surgery.varint
fields = bundle_surgery.fields


def variant_type_name(element: bytes) -> str:
    """VariantTensorDataProto.type_name (field 1)."""
    return next(v for f, v in fields(element) if f == 1).decode()


def nested_tensor_values(element: bytes) -> list[np.ndarray]:
    """The TensorProtos (field 3) of a VariantTensorDataProto, as arrays: from
    tensor_content (field 4), packed float_val (field 5) or packed int64_val (field 10)."""
    out = []
    for f, t in fields(element):
        if f != 3:
            continue
        proto = dict(fields(t))
        dtype = proto[1]
        if 4 in proto:
            out.append(np.frombuffer(proto[4], {1: np.float32, 9: np.int64}[dtype]))
        elif 5 in proto:
            out.append(np.frombuffer(proto[5], np.float32))
        else:
            packed, pos, vals = proto[10], 0, []
            while pos < len(packed):
                v, pos = _varint(packed, pos)
                vals.append(v)
            out.append(np.array(vals, np.int64))
    return out


# --------------------------------------------------------------------------------------
# TF-written variants
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{}, {"verify": True}, {"copy": True}])
def test_tensorlists_come_back_as_serialized_protos(kwargs):
    prefix = tf_oracle.case_prefix(TENSORLIST)
    out = bundlefast.load(prefix, **kwargs)
    assert sorted(out) == ["list", "lists", "x"]
    assert out["list"].shape == () and out["list"].dtype == object
    assert out["lists"].shape == (2,) and out["lists"].dtype == object
    assert out["list"].flags.writeable == bool(kwargs.get("copy"))
    elements = [out["list"][()], *out["lists"].tolist()]
    assert all(type(e) is bytes for e in elements)
    assert {variant_type_name(e) for e in elements} == {"tensorflow::TensorList"}
    # make_fixtures: list = [[1, 2], [3, 4]] (float32), lists = [list, [7, 8, 9] (int64)].
    assert [v.tolist() for v in nested_tensor_values(out["list"][()])] == [[1.0, 2.0], [3.0, 4.0]]
    assert out["lists"][0] == out["list"][()]
    assert [v.tolist() for v in nested_tensor_values(out["lists"][1])] == [[7], [8], [9]]
    with bundlefast.open(prefix) as r:
        info = r.info("lists")
        assert (info.tf_dtype, info.dtype_enum, info.dtype) == ("variant", 21, None)
        r.verify()


def test_iterator_state_variant():
    prefix = tf_oracle.case_prefix(ITERATOR)
    with bundlefast.open(prefix) as r:
        state = r.get_array(ITERATOR_KEY, verify=True)
        assert state.shape == r.info(ITERATOR_KEY).shape == (4,)
        assert {variant_type_name(e) for e in state.tolist()} == {"tensorflow::Iterator"}
        # Partial reads work on variants too.
        assert r.get_slice(ITERATOR_KEY)[1:3].tolist() == state.tolist()[1:3]
        r.verify()
    assert sorted(bundlefast.load(prefix)) == sorted(["_CHECKPOINTABLE_OBJECT_GRAPH", ITERATOR_KEY,
                                                      "save_counter/.ATTRIBUTES/VARIABLE_VALUE"])


def _tf_variant_elements(tf, prefix, name: str) -> list[bytes]:
    """The elements TF itself restores for a variant tensor, re-serialized by TF:
    RestoreV2, then serialize_tensor, whose TensorProto.tensor_content for a variant is
    varint64 length per element, then the elements."""
    restored = tf.raw_ops.RestoreV2(prefix=str(prefix), tensor_names=[name], shape_and_slices=[""],
                                    dtypes=[tf.variant])[0]
    proto = dict(fields(tf.io.serialize_tensor(restored).numpy()))
    assert proto[1] == DataType.VARIANT
    content = proto[4]
    n = int(np.prod(restored.shape))
    lengths, pos = [], 0
    for _ in range(n):
        length, pos = _varint(content, pos)
        lengths.append(length)
    elements = []
    for length in lengths:
        elements.append(content[pos: pos + length])
        pos += length
    assert pos == len(content)
    return elements


@pytest.mark.tf
@pytest.mark.parametrize(("case", "name"), [(TENSORLIST, "list"), (TENSORLIST, "lists"), (ITERATOR, ITERATOR_KEY)])
def test_variant_elements_are_byte_identical_to_what_tf_restores(case, name):
    tf = pytest.importorskip("tensorflow")
    prefix = tf_oracle.case_prefix(case)
    ours = bundlefast.load(prefix, names=[name], verify=True)[name]
    assert ours.shape == tf_oracle.tf_snapshot(prefix)[name].shape
    assert ours.ravel().tolist() == _tf_variant_elements(tf, prefix, name)


@pytest.mark.tf
def test_tensorlist_values_agree_with_tf():
    tf = pytest.importorskip("tensorflow")
    prefix = tf_oracle.case_prefix(TENSORLIST)
    restored = tf.raw_ops.RestoreV2(prefix=str(prefix), tensor_names=["list"], shape_and_slices=[""],
                                    dtypes=[tf.variant])[0]
    stacked = tf.raw_ops.TensorListStack(input_handle=restored, element_dtype=tf.float32, element_shape=[-1])
    ours = nested_tensor_values(bundlefast.load(prefix, names=["list"])["list"][()])
    assert np.stack(ours).tobytes() == stacked.numpy().tobytes()


# --------------------------------------------------------------------------------------
# Hand-made variants: shapes, checksums, hostile lengths
# --------------------------------------------------------------------------------------


def _elements(rng: np.random.Generator, n: int) -> list[bytes]:
    sizes = rng.choice([0, 1, 5, 127, 128, 300, 20000], n)
    return [rng.integers(0, 256, int(s), dtype=np.uint8).tobytes() for s in sizes]


def test_variant_shapes_and_lengths(tmp_path, random_seed):
    rng = np.random.default_rng(random_seed)
    b = BundleBuilder()
    cases = {"scalar": (), "vector": (7,), "matrix": (3, 4), "empty": (0,), "empty2": (2, 0)}
    values = {}
    for name, shape in cases.items():
        values[name] = _elements(rng, int(np.prod(shape)))
        b.add_variant(name, values[name], shape=shape)
    b.add("after", np.float32(1.25))
    b.write(tmp_path / "m")
    for kwargs in ({}, {"verify": True}, {"copy": True}):
        out = bundlefast.load(tmp_path / "m", **kwargs)
        for name, shape in cases.items():
            assert out[name].shape == shape and out[name].dtype == object
            assert out[name].ravel().tolist() == values[name]
        assert out["after"] == np.float32(1.25)


def test_partitioned_variant(tmp_path):
    """TF cannot copy variant slices; bundlefast assembles them like strings."""
    elements = [f"element {i}".encode() for i in range(6)]
    b = BundleBuilder()
    specs = [[(0, 2)], [(2, 4)]]
    for spec, part in zip(specs, (elements[:2], elements[2:])):
        b.add_variant(encode_slice_key("v", spec), part)
    b.add_raw_entry("v", encode_entry(DataType.VARIANT, (6,), slices=specs))
    b.write(tmp_path / "m")
    with bundlefast.open(tmp_path / "m") as r:
        assert list(r) == ["v"]
        assert r.get_array("v", verify=True).tolist() == elements
        assert r.get_slice("v")[1:4].tolist() == elements[1:4]


def _raw_variant(tmp_path, payload: bytes, shape, masked_crc: int) -> None:
    b = BundleBuilder()
    b.add_raw_entry("v", encode_entry(DataType.VARIANT, shape, offset=b.tell(), size=len(payload),
                                      masked_crc=masked_crc), payload)
    b.add("ok", np.arange(2, dtype=np.int8))
    b.write(tmp_path / "m")


def test_each_element_checksum_is_verified(tmp_path):
    elements = [b"first", b"second element", b"third"]
    payload, crc = variant_payload(elements)
    bad = bytearray(payload)
    bad[1 + 5 + 4 + 1 + 3] ^= 0x20  # a byte of element 1
    _raw_variant(tmp_path, bytes(bad), (3,), crc)
    assert len(bundlefast.load(tmp_path / "m")["v"]) == 3  # not verified: not checked
    with pytest.raises(errors.ChecksumError,
                       match=r"variant tensor 'v' \(offset 0, 39 bytes\): checksum after variant element 1 "
                             r"\(offset 25 in the payload\) does not match: stored 0x[0-9a-f]{8}, computed"):
        bundlefast.load(tmp_path / "m", verify=True)
    bad = bytearray(payload)
    bad[-1] ^= 0x01  # the last element's stored checksum
    _raw_variant(tmp_path, bytes(bad), (3,), crc)
    with pytest.raises(errors.ChecksumError, match="checksum after variant element 2"):
        bundlefast.load(tmp_path / "m", verify=True)
    _raw_variant(tmp_path, payload, (3,), crc ^ 1)  # entry CRC wrong, elements fine
    with pytest.raises(errors.ChecksumError, match=r"variant tensor 'v' .*crc32c mismatch: stored"):
        bundlefast.load(tmp_path / "m", verify=True)
    assert bundlefast.load(tmp_path / "m", names=["ok"], verify=True)["ok"].tolist() == [0, 1]


@pytest.mark.parametrize(
    ("payload", "shape", "pattern"),
    [
        (encode_varint(100) + b"x" * 10, (1,), r"variant element 0 of 1 has length 100 at offset 1, but only 10 bytes"),
        (encode_varint(2**63) + b"x" * 10, (1,), r"has length 9223372036854775808"),
        (b"\xff" * 11, (1,), r"its length \(offset 0 in the payload\) runs past the end"),
        (b"", (1,), r"variant tensor of 1 elements cannot fit in 0 bytes"),
        (b"\x00" * 9, (2,), r"cannot fit in 9 bytes"),
        (variant_payload([b"a"])[0] + b"extra", (1,), r"variant elements end at byte 6, but the payload has 11"),
        (encode_varint(3) + b"abc" + b"\0" * 3, (1,), r"has length 3 at offset 1, but only 6 bytes are left"),
    ],
    ids=["past_end", "huge", "bad_varint", "empty", "too_many", "trailing", "no_checksum_room"],
)
def test_hostile_lengths_are_corruption(tmp_path, payload, shape, pattern):
    _raw_variant(tmp_path, payload, shape, 0)
    for verify in (False, True):
        with pytest.raises(errors.CorruptionError, match=pattern):
            bundlefast.load(tmp_path / "m", verify=verify)
    assert bundlefast.load(tmp_path / "m", names=["ok"])["ok"].tolist() == [0, 1]


def test_random_payloads_never_crash(tmp_path, random_seed):
    rng = np.random.default_rng(random_seed)
    good, crc = variant_payload(_elements(rng, 4))
    for i in range(200):
        data = bytearray(good)
        for _ in range(int(rng.integers(1, 4))):
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        data = bytes(data[: int(rng.integers(0, len(data) + 1))]) if i % 3 == 0 else bytes(data)
        shape = (int(rng.integers(0, 7)),)
        _raw_variant(tmp_path, data, shape, crc)
        for verify in (False, True):
            try:
                out = bundlefast.load(tmp_path / "m", names=["v"], verify=verify)["v"]
            except errors.BundleError:
                continue
            assert out.shape == shape and all(type(e) is bytes for e in out.tolist())


def test_big_endian_variants_are_unsupported(tmp_path):
    """TF refuses to byte-swap variants (their nested tensors have type-specific layouts);
    so does bundlefast, and the rest of the bundle still loads."""
    b = BundleBuilder(big_endian=True)
    b.add_variant("v", [b"a", b"b"])
    b.add("x", np.arange(3, dtype=np.int32))
    b.write(tmp_path / "m")
    with pytest.raises(errors.UnsupportedError, match=r"'v' is a DT_VARIANT tensor in a bundle of the other byte order"):
        bundlefast.load(tmp_path / "m")
    assert bundlefast.load(tmp_path / "m", names=["x"])["x"].tolist() == [0, 1, 2]


# --------------------------------------------------------------------------------------
# Dtypes that cannot be read at all
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("enum", "text"), [(DataType.RESOURCE, "DT_RESOURCE"), (DataType.INVALID, "DT_INVALID"),
                                            (34, "DT_34"), (101, "DT_101"), (-3, "DT_-3")])
def test_unreadable_dtypes_raise_unsupported_and_the_rest_loads(tmp_path, enum, text):
    b = BundleBuilder()
    b.add_raw_entry("odd", encode_entry(enum, (2,), size=8), b"\0" * 8)
    b.add_variant("v", [b"\x0a\x03abc"])
    b.add("x", np.arange(3, dtype=np.uint16))
    b.add("s", np.array([b"str"], dtype=object))
    b.write(tmp_path / "m")
    with bundlefast.open(tmp_path / "m") as r:
        assert "odd" in r and r.info("odd").dtype_enum == enum and r.info("odd").dtype is None
        with pytest.raises(errors.UnsupportedError, match=f"m\\.index: 'odd' has dtype {text}"):
            r["odd"]
        with pytest.raises(errors.UnsupportedError, match=f"'odd' has dtype {text}"):
            r.get_slice("odd")[:1]
    with pytest.raises(errors.UnsupportedError, match=f"'odd' has dtype {text}"):
        bundlefast.load(tmp_path / "m")
    out = bundlefast.load(tmp_path / "m", names=["v", "x", "s"], verify=True)
    assert out["v"].tolist() == [b"\x0a\x03abc"] and out["x"].tolist() == [0, 1, 2] and out["s"].tolist() == [b"str"]
