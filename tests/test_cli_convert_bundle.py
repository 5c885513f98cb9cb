"""``bundlefast convert`` with a TF bundle as destination, read back by TensorFlow.

These tests need ``bundlefast.Writer`` (the writer branch): until it is merged they fail
with AttributeError, by design. Every fixture goes bundle -> bundle and
bundle -> .safetensors/.npz/.pt -> bundle; TensorFlow must read each written bundle with
the same values, bit for bit (partitioned variables come back as whole tensors).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from cli_support import DATA_DIR, case_names, many_tensors
from tf_oracle import assert_same_array, case_prefix, tf_snapshot

import bundlefast
from bundlefast.cli import main
from bundlefast.convert import open_source

pytestmark = pytest.mark.tf

EXT = {"safetensors": ".safetensors", "npz": ".npz", "pt": ".pt"}


def _assert_tf_reads(prefix: Path, expected: dict[str, np.ndarray]) -> None:
    """TensorFlow lists exactly ``expected`` in ``prefix`` and reads the same bits
    (variant tensors, which TF cannot hand to NumPy, by their bytes through bundlefast)."""
    import tensorflow  # noqa: F401 - fail (not skip) without TensorFlow

    snap = tf_snapshot(prefix, cache=False)
    assert set(snap) == set(expected)
    for name, array in expected.items():
        if snap[name].dtype_name == "variant":
            got = bundlefast.load(prefix, names=[name])[name]
            assert got.ravel().tolist() == array.ravel().tolist(), name
        else:
            assert_same_array(array, snap[name].value, name)


def _non_variant(case: str) -> dict[str, np.ndarray]:
    with bundlefast.open(DATA_DIR / case) as reader:
        names = [n for n in reader if reader.info(n).dtype is not None]
        return reader.load(names)


@pytest.mark.parametrize("case", case_names())
def test_every_fixture_bundle_to_bundle(case: str, tmp_path: Path) -> None:
    """Every tensor, variants and quantized dtypes included, keeps its TF dtype."""
    out = tmp_path / "copy" / "ckpt"
    out.parent.mkdir()
    assert main(["convert", str(DATA_DIR / case), str(out)]) == 0
    _assert_tf_reads(out, bundlefast.load(DATA_DIR / case))
    original = tf_snapshot(case_prefix(case), cache=False)
    assert {n: t.dtype_name for n, t in tf_snapshot(out, cache=False).items()} == {
        n: t.dtype_name for n, t in original.items()
    }


@pytest.mark.parametrize("fmt", ["safetensors", "npz", "pt"])
@pytest.mark.parametrize("case", case_names())
def test_every_fixture_through_each_format_and_back_to_a_bundle(case: str, fmt: str, tmp_path: Path) -> None:
    middle = tmp_path / f"mid{EXT[fmt]}"
    back = tmp_path / "back"
    assert main(["convert", str(DATA_DIR / case), str(middle)]) == 0
    assert main(["convert", str(middle), str(back), "--to", "bundle"]) == 0
    with open_source(middle) as source:
        held = {t.name for t in source.tensors()}  # what the middle format could hold
    with bundlefast.open(back) as reader:
        assert set(reader) == held
    _assert_tf_reads(back, {n: a for n, a in _non_variant(case).items() if n in held})


def test_cast_to_bfloat16_in_a_bundle(tmp_path: Path) -> None:
    out = tmp_path / "half"
    assert main(["convert", "--dtype", "float32:bfloat16", str(DATA_DIR / "tf1_saver"), str(out)]) == 0
    expected = {n: (a.astype(ml_dtypes.bfloat16) if a.dtype == np.float32 else a)
                for n, a in _non_variant("tf1_saver").items()}  # fmt: skip
    _assert_tf_reads(out, expected)


def test_peak_memory_to_a_bundle_is_one_tensor(tmp_path: Path) -> None:
    """The Writer streams: with a cast, NumPy's peak allocation stays near one tensor
    (12 tensors of 1 MiB become 2 MiB each, 24 MiB in all)."""
    prefix = many_tensors(tmp_path, 12, 1 << 20)
    from bundlefast.convert import convert

    tracemalloc.start()
    try:
        convert(prefix, tmp_path / "out" / "ckpt", dtypes={"float32": "float64"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * (2 << 20) + (1 << 20), peak
    expected = {n: a.astype(np.float64) for n, a in bundlefast.load(prefix).items()}
    _assert_tf_reads(tmp_path / "out" / "ckpt", expected)
