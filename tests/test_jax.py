"""JAX: ``bundlefast.jax.load`` equals ``bundlefast.load`` (dtype, shape, bytes) on
checkpoints TF wrote, 64-bit values included; unsupported tensors are left out or named."""

from __future__ import annotations

import numpy as np
import pytest
from restore_support import require
from tf_oracle import assert_same_array, case_prefix

import bundlefast

jax = require("jax")
import bundlefast.jax  # noqa: E402

SUB_BYTE = {"int2": 0x3, "uint2": 0x3, "int4": 0xF, "uint4": 0xF, "float4_e2m1fn": 0xF}  # -> value bits


@pytest.mark.parametrize("case", ["all_dtypes", "tf2_slots", "keras_restore", "partitioned_tf1"])
def test_load_equals_numpy_load(case):
    prefix = case_prefix(case)
    loaded = bundlefast.jax.load(prefix)
    numpy_loaded = bundlefast.load(prefix)
    holdable = {n for n, a in numpy_loaded.items() if a.dtype != object}
    assert set(loaded) == holdable
    for name in holdable:
        array, want = loaded[name], numpy_loaded[name]
        assert isinstance(array, jax.Array)
        if want.dtype.name in SUB_BYTE:
            # int2/int4/float4 hold one value per byte; JAX clears the unused high bits TF
            # leaves as they were, so compare values, not bytes.
            got = np.asarray(array)
            assert (got.dtype, got.shape) == (want.dtype, want.shape), name
            mask = SUB_BYTE[want.dtype.name]
            assert np.array_equal(got.view(np.uint8) & mask, want.view(np.uint8) & mask), name
        else:
            assert_same_array(np.asarray(array), want, name)


def test_names_and_device():
    key = "model/ffn/_kernel/.ATTRIBUTES/VARIABLE_VALUE"
    device = jax.devices("cpu")[0]
    loaded = bundlefast.jax.load(case_prefix("keras_restore"), names=[key], device=device)
    assert list(loaded) == [key] and loaded[key].devices() == {device}
    assert loaded[key].dtype == np.float32


def test_string_tensor_named_explicitly_raises():
    with pytest.raises(bundlefast.UnsupportedError, match="string tensor has no JAX equivalent"):
        bundlefast.jax.load(case_prefix("keras_restore"), names=["_CHECKPOINTABLE_OBJECT_GRAPH"])
    with pytest.raises(bundlefast.TensorNotFoundError):
        bundlefast.jax.load(case_prefix("keras_restore"), names=["nope"])
